"""Model success at the quality budget on the first N manifest episodes (model only)."""

import json
import sys
import time

from physjepa.metrics.closed_loop import evaluate_planning
from physjepa.training.checkpoint import load_run

run, n = sys.argv[1], int(sys.argv[2])
model, cfg, trained = load_run(run)
t = time.time()
res, _ = evaluate_planning(
    model,
    trained.data.world,
    trained.data.params,
    cfg.data.frameskip,
    episodes=n,
    seed=0,
    planner="cem",
    settings={"samples": 300, "iterations": 30, "elites": 30, "tol": 0.0, "init_std": 1.0},
    baselines=(),
    record=0,
    progress=lambda name, i: print(name, i, f"{time.time() - t:.0f}s", flush=True),
)
r = res["results"]["model"]
print(
    run,
    "quality",
    json.dumps({k: r[k] for k in ("success_rate", "final_distance_mean", "ms_per_plan")}),
    f"{(time.time() - t) / n:.0f} s/episode",
)
