"""Core benchmark: the whole `make demo` pipeline on ball-drop, timed, and its held-out numbers.

Runs `physjepa demo` from scratch (collect 300 episodes, train the laptop preset, evaluate,
report) in a subprocess, then reads the run's eval.json and metrics.jsonl. Writes
benchmarks/results/core.json with: probe_r2_position, probe_r2_velocity,
rollout_error_ratio_h10, train_frames_per_s, demo_seconds.

    python benchmarks/core.py            # ~10 minutes on 2 CPU cores
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402

WORK = Path(__file__).resolve().parent / "work"


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    data, run = WORK / "ball.h5", WORK / "demo"
    t0 = time.time()
    subprocess.run(
        [sys.executable, "-m", "physjepa", "demo", "--out", str(run), "--data", str(data)],
        check=True,
    )
    demo_seconds = time.time() - t0

    ev = json.loads((run / "eval.json").read_text())
    recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    fps = [r["train/frames_per_s"] for r in recs if "train/frames_per_s" in r][
        1:
    ]  # first window includes warm-up
    train_time = max(r.get("time_s", 0.0) for r in recs)
    metrics = {
        "probe_r2_position": ev["probe"]["linear"]["ball_pos"],
        "probe_r2_velocity": ev["probe"]["linear"]["ball_vel"],
        "rollout_error_ratio_h10": ev["rollout"]["ratio"][9],
        "train_frames_per_s": statistics.median(fps),
        "demo_seconds": demo_seconds,
        "train_seconds": train_time,
        "effective_rank": ev["collapse"]["effective_rank"],
    }
    cfg = json.loads((run / "config.json").read_text())
    write_result(
        "core",
        metrics,
        "ball-drop, 300 random-policy episodes x 100 steps (seed 0), laptop preset, train seed 0; "
        "probes and rollout error on the held-out last 20% of episodes; probe features are the "
        "latents of the last 3 frames (ridge chosen on training episodes); frames/s = frames encoded per second in training (median of log windows).",
        {
            "checkpoint_sha256": ev["checkpoint_sha256"],
            "config": cfg["config"],
            "n_params": cfg.get("n_params"),
        },
    )


if __name__ == "__main__":
    main()
