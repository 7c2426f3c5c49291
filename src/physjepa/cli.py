"""Command line: parse, resolve the device once, call library functions; errors become one line.

Every command is an options dataclass (:mod:`physjepa.options`: the flags, defaults and
rules, written once) and a handler here that calls the library with those options and
prints. No handler calls another, and nothing here builds an ``argparse.Namespace``: recipes
such as the demo are library functions (:mod:`physjepa.recipes`). Heavy modules (torch,
h5py, the simulators) are imported inside the handlers, so ``--help``, ``worlds`` and every
one-line error return at once.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from physjepa import options as O
from physjepa.errors import USER_ERRORS

EXAMPLES = """examples:
  physjepa collect --world ball-drop --episodes 300 --policy random --seed 0 --out data/ball.h5
  physjepa inspect data/ball.h5
  physjepa import-table log.csv --out data/log.h5 --obs x,v --action force --episode ep --time t
  physjepa convert recordings/ --to data/rec.h5
  physjepa validate data/rec.h5
  physjepa train --data data/ball.h5 --preset laptop --out runs/ball model.dim=256
  physjepa eval runs/ball
  physjepa report runs/ball
  physjepa plan runs/two-room --episodes 50 --seed 0 --planner cem --set samples=64
  physjepa demo
"""


def _device(name: str) -> Any:
    """The one place the CLI chooses a device (``--device``)."""
    from physjepa.device import resolve_device

    return resolve_device(name, "--device")


# -- handlers: options in, library call, print -------------------------------------------------
def collect(o: O.CollectOptions) -> None:
    from tqdm import tqdm

    from physjepa.data.collect import collect as collect_episodes

    params = O.params(o.param)
    if o.gym_import:
        params["gym_import"] = o.gym_import  # recorded with the data: plan imports it too
    if o.frame:
        params["frame"] = o.frame
    with tqdm(total=o.episodes, unit="ep", desc=f"collect {o.world}") as bar:
        path = collect_episodes(
            world=o.world,
            out=o.out,
            episodes=o.episodes,
            steps=o.steps,
            policy=o.policy,
            seed=o.seed,
            params=params,
            image_size=o.image_size,
            workers=o.workers,
            overwrite=o.overwrite,
            progress=bar.update,
        )
    print(f"wrote {path}")


def import_table(o: O.ImportTableOptions) -> None:
    from physjepa.data.episodes import EpisodeFile
    from physjepa.data.tables import import_table as import_rows

    actions = O.names(o.action)
    path = import_rows(
        src=o.src,
        out=o.out,
        obs=O.names(o.obs),
        action=actions,
        episode=o.episode,
        time=o.time,
        state=O.names(o.state),
        overwrite=o.overwrite,
        fps=o.fps,
    )
    with EpisodeFile(path) as f:
        n_eps, n_rows, channels, fps = f.n_episodes, f.n_steps, len(f.sensor_names), f.fps
    acts = f"{len(actions)} action(s)" if actions else "no actions (a zero action column)"
    print(
        f"wrote {path}: {n_eps} episode(s), {n_rows} rows, {channels} sensor channel(s), "
        f"{acts}, fps {fps:g}"
    )
    if n_eps < 2:
        print(
            "note: training holds out the last episodes for evaluation and needs at least 2; "
            "split the rows with --episode COLUMN"
        )
    print(f"train on it: physjepa train --data {path} --out runs/{path.stem} model.encoder=mlp")


def _columns_text(columns: dict) -> str:
    return ", ".join(
        f"{name} {tuple(shape[1:])} {dtype}" for name, (shape, dtype) in columns.items()
    )


def convert(o: O.ConvertOptions) -> None:
    from physjepa.data.importers import DESCRIPTIONS, detect
    from physjepa.data.importers import convert as convert_source
    from physjepa.data.validate import validate

    kind = detect(o.src)
    print(f"{o.src}: {DESCRIPTIONS[kind]}; importer '{kind}'")
    path = convert_source(
        o.src,
        o.to,
        overwrite=o.overwrite,
        importer=kind,
        camera=o.camera,
        state=O.names(o.state) if o.state is not None else None,
        action=O.names(o.action) if o.action is not None else None,
        size=o.size,
        actions_dir=o.actions_dir,
    )
    info = validate(path)
    fps = f", fps {info['fps']:g}" if info["fps"] else ""
    print(
        f"wrote {path}: {info['episodes']} episode(s), {info['steps']} steps{fps}; "
        f"columns {_columns_text(info['columns'])}"
    )
    if info["episodes"] < 2:
        print("note: training holds out the last episodes for evaluation and needs at least 2")
    mlp = "" if "pixels" in info["columns"] else " model.encoder=mlp"
    print(f"train on it: physjepa train --data {path} --out runs/{path.stem}{mlp}")


def validate(o: O.PathOptions) -> None:
    from physjepa.data.validate import validate as validate_file

    info = validate_file(o.path)
    print(
        f"ok: {info['episodes']} episodes, {info['steps']} steps, "
        f"columns {_columns_text(info['columns'])}"
    )


def inspect(o: O.PathOptions) -> None:
    from physjepa.data.episodes import EpisodeFile

    with EpisodeFile(o.path) as f:
        lens = f.ep_len
        print(
            f"{f.path}: world {f.world!r}, {f.n_episodes} episodes, {f.n_steps} steps "
            f"(length min {lens.min()} / mean {lens.mean():.1f} / max {lens.max()})"
        )
        print("columns:")
        for name, (shape, dtype) in f.columns.items():
            print(f"  {name:<10} {str(shape):<22} {dtype}")
        if f.state_spec:
            print("state: " + ", ".join(f"{n} {tuple(s)}" for n, s in f.state_spec))
        attrs = {k: v for k, v in f.attrs().items() if k not in ("params_json", "state_spec_json")}
        shown = {k: (v if len(str(v)) <= 100 else f"{str(v)[:97]}...") for k, v in attrs.items()}
        print("attributes: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
        if "voe_json" in attrs:
            from physjepa.data.voe_pairs import read_pairs

            pairs_file, records = read_pairs(o.path)
            pairs_file.close()
            count = collections.Counter((r["property"], r["split"]) for r in records)
            print("voe pairs: " + ", ".join(f"{p} {s} {n}" for (p, s), n in count.items()))
        print("params: " + json.dumps(f.params))


def worlds(o: O.NoOptions) -> None:
    from physjepa.worlds.registry import names, world_class

    for n in names():
        cls = world_class(n)
        print(f"{n}: {(cls.__doc__ or '').strip().splitlines()[0]}")
        print("  params: " + ", ".join(f"{k}={v!r}" for k, v in cls.default_params.items()))


def train(o: O.TrainOptions) -> None:
    from physjepa.config import apply_overrides, load_preset
    from physjepa.runs import Run

    if o.resume:
        cfg = apply_overrides(Run.open(o.out).config, list(o.overrides))
    else:
        cfg = load_preset(o.preset, list(o.overrides))  # config errors before torch loads
    from physjepa.training.distributed import from_env
    from physjepa.training.loop import train as train_model

    main_rank = from_env().is_main  # under torchrun only rank 0 speaks
    if not o.quiet and main_rank:
        print("config:\n" + cfg.to_json())
    train_model(cfg, o.data, o.out, resume=o.resume, overwrite=o.overwrite, progress=not o.quiet)
    if main_rank:
        print(f"run saved in {o.out}")


def eval_(o: O.EvalOptions) -> None:
    from physjepa.recipes.evaluate import evaluate, format_table

    res = evaluate(o, device=_device(o.device))
    print(format_table(res))
    print(f"wrote {Path(o.run) / 'eval.json'}")


def plan(o: O.PlanOptions) -> None:
    from tqdm import tqdm

    from physjepa.recipes.plan import plan_run

    bars: dict[str, Any] = {}

    def progress(name: str, done: int) -> None:
        if name not in bars:
            bars[name] = tqdm(total=o.episodes, unit="ep", desc=f"plan {name}")
        bars[name].update(done - bars[name].n)

    res = plan_run(o, device=_device(o.device), progress=progress)
    for bar in bars.values():
        bar.close()
    for name, r in res["results"].items():
        ms = r["ms_per_plan"]
        ms_txt = f"{ms:7.1f} ms/plan" if ms is not None else ""
        print(
            f"{name:>7}: success {r['success_rate']:6.1%}  "
            f"final distance {r['final_distance_mean']:.4f}  {ms_txt}"
        )
    if res.get("discriminating") is False:
        print(
            f"warning: random actions succeed in {res['results']['random']['success_rate']:.0%} "
            "of episodes, so this task does not tell a good model from none; make success "
            "stricter (--param success_radius=..., success_dims=... for gym worlds)"
        )
    print(f"wrote {Path(o.run) / 'plan.json'}")


def forecast(o: O.ForecastOptions) -> None:
    from physjepa.recipes.forecast import run_forecast

    res = run_forecast(o, device=_device(o.device))
    m = res["metrics"]
    print(
        f"failure within {o.horizon} steps, {res['episodes']} held-out episodes "
        f"({m['failures']} fail): AUROC {m['auroc']:.3f}; at {o.far:.0%} false alarms "
        f"(threshold {m['threshold']:.3f}) median lead {m['lead_steps_median']:.0f} steps, "
        f"warned {m['warned']:.0%} of failures"
    )
    print(f"wrote {Path(o.run) / 'forecast.json'}")


def monitor(o: O.MonitorOptions) -> None:
    if o.columns:
        from physjepa.recipes.monitor import run_channels
        from physjepa.runs import Run

        names, actions = run_channels(Run.open(o.run))
        print(",".join((names or ["(frames: a directory of .png/.npy, or a video)"]) + actions))
        return
    import torch

    from physjepa.recipes.monitor import monitor as run_monitor

    torch.set_num_threads(o.threads)
    device = _device(o.device)
    out = open(o.out, "a", encoding="utf-8") if o.out else sys.stdout  # noqa: SIM115

    def emit(alert: dict) -> None:
        out.write(json.dumps(alert) + "\n")
        out.flush()

    def bad(info: dict) -> None:
        print(json.dumps(info), file=sys.stderr, flush=True)

    try:
        stats, cal = run_monitor(o, emit, bad, device=device)
    finally:
        if out is not sys.stdout:
            out.close()
    summary = {
        "summary": True,
        "rows": stats.rows,
        "scored_steps": stats.scored,
        "alerts": stats.alerts,
        "skipped_rows": stats.skipped,
        "threshold": round(cal.threshold, 6),
        "far": cal.far,
        "calibration_steps": cal.steps,
        "channel_check": cal.check is not None,
        "rows_per_s": round(stats.rows_per_s, 1),
    }
    if o.save:
        summary["wrote"] = str(Path(o.run) / "monitor.json")
    print(json.dumps(summary), file=sys.stderr)


def compare(o: O.CompareOptions) -> None:
    from physjepa.report.compare import write_compare

    print(f"compare: {write_compare(list(o.runs), o.out).resolve()}")


def report(o: O.RunOptions) -> None:
    from physjepa.report.html import write_report

    print(f"report: {write_report(o.run).resolve()}")


def voe(o: O.VoeOptions) -> None:
    from physjepa.recipes.voe import format_table, run_voe

    res = run_voe(o, device=_device(o.device))
    print(format_table(res))
    print(f"wrote {Path(o.run) / 'voe.json'} in {res['seconds']:.0f} s")


def voe_generate(o: O.VoeGenerateOptions) -> None:
    from tqdm import tqdm

    from physjepa.data.voe_pairs import VOE_PARAMS, WORLD, generate
    from physjepa.errors import WorldError

    if o.world != WORLD:
        raise WorldError(f"VoE events exist for {WORLD!r} only, not {o.world!r}")
    props, splits = tuple(O.names(o.properties)), tuple(O.names(o.splits))
    params = {**VOE_PARAMS, **O.params(o.param)}
    total = o.pairs * len(props) * len(splits)
    with tqdm(total=total, unit="pair", desc="voe pairs") as bar:
        path = generate(
            o.out,
            params,
            pairs=o.pairs,
            steps=o.steps,
            seed=o.seed,
            properties=props,
            splits=splits,
            image_size=o.image_size,
            overwrite=o.overwrite,
            progress=bar.update,
        )
    print(f"wrote {path}: {total} groups of matched videos (a pair each; 2 for permanence)")


def demo(o: O.DemoOptions) -> None:
    from physjepa.recipes.demo import demo as run_demo

    run_demo(o)


def precheck(o: Any) -> None:
    """The cheap checks, before torch loads: a command's run directory parses, and an episode
    file it is given opens and (with a run) is data for that run. Bad input then costs a
    fraction of a second, not the seconds of a torch import."""
    from physjepa.data.episodes import EpisodeFile
    from physjepa.runs import Run

    fields = dataclasses.fields(o)
    runs = [getattr(o, f.name) for f in fields if f.metadata.get("rule") is O.run_dir]
    run = Run.open(runs[0]) if runs else None
    for f in fields:  # the input episode files (a resumed run reads its own data)
        path = getattr(o, f.name)
        if f.metadata.get("rule") is O.data_file and path and not getattr(o, "resume", False):
            with EpisodeFile(path) as file:
                if run is not None:
                    run.check_data(file)


@dataclass(frozen=True)
class Command:
    options: type
    handler: Callable[[Any], None]
    help: str


COMMANDS: dict[str, Command] = {
    "collect": Command(
        O.CollectOptions, collect, "collect episodes in a built-in world into an episode file"
    ),
    "import-table": Command(
        O.ImportTableOptions,
        import_table,
        "turn a CSV or Parquet table of sensor time series into an episode file",
    ),
    "convert": Command(
        O.ConvertOptions,
        convert,
        "import a LeRobot dataset, a folder of videos, .npz episodes or a stable-worldmodel "
        "HDF5 file as an episode file (the importer is picked by looking at SRC)",
    ),
    "validate": Command(
        O.PathOptions,
        validate,
        "check an episode file: shapes, dtypes, lengths, offsets, NaN/inf, damaged bytes",
    ),
    "inspect": Command(O.PathOptions, inspect, "summarise an episode file"),
    "worlds": Command(O.NoOptions, worlds, "list built-in worlds and their params"),
    "train": Command(O.TrainOptions, train, "train a world model"),
    "eval": Command(
        O.EvalOptions, eval_, "evaluate a run: rollout error, probes, collapse; writes eval.json"
    ),
    "forecast": Command(
        O.ForecastOptions,
        forecast,
        "failure early warning: will it fail within K steps under the planned load? "
        "writes forecast.json",
    ),
    "monitor": Command(
        O.MonitorOptions,
        monitor,
        "streaming surprise over a CSV / stdin / frame directory / video / episode file; "
        "one JSON line per alert (--save: also RUN/monitor.json, for the report)",
    ),
    "plan": Command(
        O.PlanOptions,
        plan,
        "closed-loop planning toward goals of the run's world; writes plan.json",
    ),
    "report": Command(O.RunOptions, report, "write runs/<name>/report.html"),
    "compare": Command(
        O.CompareOptions, compare, "several runs side by side on one offline HTML page"
    ),
    "voe": Command(
        O.VoeOptions,
        voe,
        "intuitive physics: surprise on possible/impossible video pairs, probes, baselines "
        "(also: 'physjepa voe generate ...')",
    ),
    "voe-generate": Command(
        O.VoeGenerateOptions,
        voe_generate,
        "write matched possible/impossible video pairs ('voe generate')",
    ),
    "demo": Command(
        O.DemoOptions, demo, "collect ball-drop data, train (laptop preset), evaluate, report"
    ),
}


class _Parser(argparse.ArgumentParser):
    """argparse, with its refusals (a missing value, a bad type, an unknown choice) as one
    line that names the command and where to read its flags."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


def parser() -> argparse.ArgumentParser:
    """The whole command line, built from the options dataclasses."""
    p = _Parser(
        prog="physjepa",
        description="JEPA world models of the physical world.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    for name, cmd in COMMANDS.items():
        O.add_arguments(sub.add_parser(name, help=cmd.help), cmd.options)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["voe", "generate"]:  # 'physjepa voe generate' is its own command
        argv = ["voe-generate"] + argv[2:]
    args, unknown = parser().parse_known_args(argv)
    cmd = COMMANDS[args.command]
    name = "voe generate" if args.command == "voe-generate" else args.command
    if unknown:
        print(
            f"physjepa {name}: error: unrecognized arguments: {' '.join(unknown)}; "
            f"see 'physjepa {name} --help'",
            file=sys.stderr,
        )
        return 2
    try:
        opts = cmd.options.from_args(args)
        precheck(opts)
        cmd.handler(opts)
    except USER_ERRORS as e:
        print(f"physjepa {name}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"physjepa {name}: interrupted; files already written are intact",
            file=sys.stderr,
        )
        return 130
    return 0


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        return f"{e.filename}: {e.strerror.lower()}"
    return " ".join(str(e).split())
