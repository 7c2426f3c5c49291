"""Core benchmark: the whole `make demo` pipeline on ball-drop, timed, and its held-out numbers.

Runs the demo recipe (``physjepa.recipes.demo.demo``, what ``physjepa demo`` calls) from
scratch: collect 300 episodes, train the laptop preset, evaluate, report; then reads the run's
eval.json and metrics.jsonl. Writes benchmarks/results/core.json with: probe_r2_position,
probe_r2_velocity, rollout_error_ratio_h10, train_frames_per_s, demo_seconds.

    python benchmarks/core.py            # ~10 minutes on 2 CPU cores
    python benchmarks/core.py --smoke    # the same path: debug preset, 8 episodes (seconds)
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_smoke_args, out_dir, write_result  # noqa: E402

WORK = Path(__file__).resolve().parent / "work"
#: (preset, episodes): the benchmark, and --smoke
FULL, SMOKE = ("laptop", 300), ("debug", 8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_smoke_args(ap)
    a = ap.parse_args()
    results = out_dir(a)
    work = results / "work" if a.smoke else WORK
    preset, episodes = SMOKE if a.smoke else FULL

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    data, run = work / "ball.h5", work / "demo"
    t0 = time.time()  # imports included, as a fresh 'physjepa demo' pays them
    from physjepa.options import DemoOptions
    from physjepa.recipes.demo import demo

    res = demo(DemoOptions(out=str(run), data=str(data), episodes=episodes, preset=preset))
    demo_seconds = time.time() - t0  # collect + train + evaluate + report

    ev = res.eval
    recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    fps = [r["train/frames_per_s"] for r in recs if "train/frames_per_s" in r]
    fps = fps[1:] or fps  # the first window includes warm-up
    train_time = max(r.get("time_s", 0.0) for r in recs)
    ratio = ev["rollout"]["ratio"]
    metrics = {
        "probe_r2_position": ev["probe"]["linear"]["ball_pos"],
        "probe_r2_velocity": ev["probe"]["linear"]["ball_vel"],
        "rollout_error_ratio_h10": ratio[min(9, len(ratio) - 1)],
        "train_frames_per_s": statistics.median(fps),
        "demo_seconds": demo_seconds,
        "train_seconds": train_time,
        "effective_rank": ev["collapse"]["effective_rank"],
    }
    cfg = json.loads((run / "config.json").read_text())
    notes = (
        f"ball-drop, {episodes} random-policy episodes x 100 steps (seed 0), {preset} preset, "
        "train seed 0; probes and rollout error on the held-out last 20% of episodes; probe "
        "features are the latents of the last 3 frames (ridge chosen on training episodes); "
        "frames/s = frames encoded per second in training (median of log windows); "
        "demo_seconds: the demo recipe (what 'physjepa demo' runs) in this process, from before "
        "its imports to the written report."
    )
    if a.smoke:
        notes = "SMOKE RUN (tiny sizes; not a result). " + notes
    write_result(
        "core",
        metrics,
        notes,
        {
            "checkpoint_sha256": ev["checkpoint_sha256"],
            "config": cfg["config"],
            "n_params": cfg.get("n_params"),
        },
        out=results,
    )


if __name__ == "__main__":
    main()
