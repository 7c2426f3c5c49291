"""``physjepa demo`` (what ``make demo`` runs): collect ball-drop data, train, evaluate, report.

The whole main job as one library function, called by the CLI and by ``benchmarks/core.py``
alike, so the two can never drift apart. It never overwrites data or runs that are not its
own: an existing ``--data`` file is reused only when it is a ball-drop file of the asked
size, and ``--out`` is replaced only when it holds a demo run on that file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from physjepa.config import load_preset
from physjepa.errors import DataError, UserError
from physjepa.options import DemoOptions, EvalOptions

#: The demo's data: ball-drop, random policy, seed 0, 64x64 frames, the world's own length.
WORLD, POLICY, SEED, IMAGE_SIZE = "ball-drop", "random", 0, 64


@dataclass(frozen=True)
class DemoResult:
    run: Path
    data: Path
    report: Path
    eval: dict
    seconds: float
    collected: bool


def demo(opts: DemoOptions, log: Callable[[str], None] = print) -> DemoResult:
    """Collect (or reuse) ``opts.episodes`` ball-drop episodes into ``opts.data``, train the
    ``opts.preset`` preset (plus ``opts.overrides``) into ``opts.out``, evaluate it on the
    held-out episodes and write ``report.html``."""
    from tqdm import tqdm

    from physjepa.data.collect import collect
    from physjepa.data.episodes import EpisodeFile
    from physjepa.recipes.evaluate import evaluate, format_table
    from physjepa.report.html import write_report
    from physjepa.runs import Run
    from physjepa.training.loop import train

    t0 = time.time()
    cfg = load_preset(opts.preset, list(opts.overrides))  # checked before minutes of work
    data, out = Path(opts.data), Path(opts.out)
    reuse = False
    if data.exists():
        try:
            with EpisodeFile(data) as f:
                reuse = f.world == WORLD and f.n_episodes == opts.episodes
        except DataError:
            reuse = False
        if not reuse:
            raise DataError(
                f"{data} exists and is not a {opts.episodes}-episode {WORLD} file; delete it or "
                "pass --data elsewhere (the demo never overwrites other data)"
            )
    if (out / "config.json").exists():
        if Run.open(out).data.path != str(data.resolve()):
            raise UserError(
                f"{out} holds a run that is not a demo on {data}; pass --out elsewhere (the demo "
                "only replaces its own runs)"
            )
    if reuse:
        log(f"[1/4] reusing {data} (delete it to collect again)")
    else:
        log(f"[1/4] collecting {opts.episodes} {WORLD} episodes into {data}")
        with tqdm(total=opts.episodes, unit="ep", desc=f"collect {WORLD}") as bar:
            collect(
                WORLD,
                data,
                opts.episodes,
                policy=POLICY,
                seed=SEED,
                image_size=IMAGE_SIZE,
                workers=min(2, os.cpu_count() or 1),
                progress=bar.update,
            )
    log(f"[2/4] training ({opts.preset} preset) into {out}")
    # the data path is recorded resolved, so a later demo recognises its own run
    train(cfg, data.resolve(), out, overwrite=True)
    log("[3/4] evaluating on held-out episodes")
    res = evaluate(EvalOptions(run=str(out), device=cfg.train.device))
    log(format_table(res))
    log(f"wrote {out / 'eval.json'}")
    log("[4/4] writing the report")
    report = write_report(out).resolve()
    seconds = time.time() - t0
    log(f"demo finished in {seconds:.0f} s")
    log(f"report: {report}")
    return DemoResult(out, data, report, res, seconds, not reuse)
