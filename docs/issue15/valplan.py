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


def validation_manifest(world: str, n: int, image_size: int | None = None) -> dict:
    """``n`` episodes of a seed-1 manifest, built as the shipped (test) one of ``world``
    (rendered at ``image_size`` pixels where given: the same episodes, other frames)."""
    shipped = load_manifest(world)
    keys = ("goal_steps", "budget", "warmup", "image_size", "params")
    kw = {k: shipped[k] for k in keys}
    if image_size is not None:
        kw["image_size"] = image_size
    return build_manifest(world, n, seed=1, **kw)


def plan_validation(model, cfg, info, n: int, baselines=(), objective="sum") -> dict:
    """Plan ``n`` episodes of the validation manifest -> {row: success, distance, ms}."""
    world = info.data.world
    manifest = validation_manifest(world, n, int(model.spec.obs_shape[0]))
    res, _ = evaluate_planning(
        model,
        world,
        info.data.params,
        cfg.data.frameskip,
        episodes=n,
        seed=0,
        baselines=baselines,
        record=0,
        manifest=manifest,
        objective=objective,
    )
    return {
        k: {kk: v[kk] for kk in ("success_rate", "final_distance_mean", "ms_per_plan")}
        for k, v in res["results"].items()
    }


if __name__ == "__main__":
    run, n, base = Path(sys.argv[1]), int(sys.argv[2]), tuple(sys.argv[3:])
    obj = os.environ.get("OBJECTIVE", "sum")
    model, cfg, info = load_run(run)
    rows = plan_validation(model, cfg, info, n, base, obj)
    name = "plan-val.json" if obj == "sum" else f"plan-val-{obj}.json"
    (run / name).write_text(json.dumps(rows, indent=2) + "\n")
    print(run, json.dumps(rows), flush=True)
