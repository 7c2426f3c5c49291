"""Plan a run on a *validation* manifest (seed 1, not the shipped test manifest, seed 0) at
the default budget: [OBJECTIVE=last] python valplan.py RUN N [oracle] [random]. Writes
RUN/plan-val.json (plan-val-last.json with OBJECTIVE=last).

Variants are chosen on these episodes; the test manifest is left to the benchmark."""

import json
import os
import sys
from pathlib import Path

from physjepa.metrics.closed_loop import evaluate_planning
from physjepa.planning.manifest import build_manifest, load_manifest
from physjepa.training.checkpoint import load_run

if __name__ == "__main__":
    run, n, base = Path(sys.argv[1]), int(sys.argv[2]), tuple(sys.argv[3:])
    model, cfg, info = load_run(run)
    world = info.data.world
    shipped = load_manifest(world)
    manifest = build_manifest(
        world,
        n,
        seed=1,
        goal_steps=shipped["goal_steps"],
        budget=shipped["budget"],
        warmup=shipped["warmup"],
        image_size=shipped["image_size"],
        params=shipped["params"],
    )
    res, _ = evaluate_planning(
        model,
        world,
        info.data.params,
        cfg.data.frameskip,
        episodes=n,
        seed=0,
        baselines=base,
        record=0,
        manifest=manifest,
        objective=os.environ.get("OBJECTIVE", "sum"),
    )
    rows = {
        k: {kk: v[kk] for kk in ("success_rate", "final_distance_mean", "ms_per_plan")}
        for k, v in res["results"].items()
    }
    obj = os.environ.get("OBJECTIVE", "sum")
    name = "plan-val.json" if obj == "sum" else f"plan-val-{obj}.json"
    (run / name).write_text(json.dumps(rows, indent=2) + "\n")
    print(run, json.dumps(rows), flush=True)
