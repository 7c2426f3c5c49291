"""``physjepa plan``: closed-loop planning of a run on its world's manifest; writes
``plan.json`` and episode GIFs (the protocol itself: ``metrics/closed_loop.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from physjepa.fileio import atomic_write_text
from physjepa.metrics.closed_loop import evaluate_planning
from physjepa.planning.base import PlannerError


def plan_run(
    run_dir: str | Path,
    device: str | torch.device = "cpu",
    gifs: int = 3,
    compile: bool = False,
    **kwargs: Any,
) -> dict[str, Any]:
    """``physjepa plan``: evaluate a run's planning, write ``plan.json`` and episode GIFs.

    ``compile`` wraps the model's latent rollout in ``torch.compile`` (planning shapes are
    fixed, so it compiles once per context length, at the first episode's start)."""
    from physjepa.fileio import sha256_file
    from physjepa.report.video import write_episode_gif
    from physjepa.training.checkpoint import load_run

    run_dir = Path(run_dir)
    model, cfg, meta = load_run(run_dir, device)
    if compile:
        model.rollout = torch.compile(model.rollout, dynamic=False)
    try:
        payload, recorded = evaluate_planning(
            model, meta, cfg.data.frameskip, record=gifs, **kwargs
        )
    except Exception as e:
        if compile and type(e).__module__.startswith("torch._"):  # dynamo / inductor failures
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise PlannerError(f"torch.compile failed ({first}); plan without --compile") from None
        raise
    payload = {
        "device": str(device),
        "compiled": compile,
        "checkpoint_sha256": sha256_file(run_dir / "model.safetensors"),
        "checkpoint_step": meta["step"],
        **payload,
    }
    payload["gifs"] = [f"plan_ep{r['index']}.gif" for r in recorded]
    # the results first: a failing GIF write must not lose an evaluation
    atomic_write_text(run_dir / "plan.json", json.dumps(payload, indent=2) + "\n")
    for name, r in zip(payload["gifs"], recorded):
        write_episode_gif(run_dir / name, r["frames"], r["goal_obs"], r["success"])
    for old in run_dir.glob("plan_ep*.gif"):
        if old.name not in payload["gifs"]:
            old.unlink()
    return payload
