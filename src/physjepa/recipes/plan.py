"""``physjepa plan``: closed-loop planning of a run on its world's manifest; writes
``plan.json`` and episode GIFs (the protocol itself: ``metrics/closed_loop.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from physjepa.device import resolve_device
from physjepa.errors import PlannerError, WorldError
from physjepa.metrics.closed_loop import evaluate_planning
from physjepa.options import PlanOptions, names, params
from physjepa.report.video import write_episode_gif
from physjepa.runs import Run


def plan_run(
    opts: PlanOptions,
    device: torch.device | None = None,
    progress: Callable[[str, int], None] | None = None,
    manifest: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``physjepa plan``: evaluate a run's planning, write ``plan.json`` and episode GIFs.

    ``opts.compile`` wraps the model's latent rollout in ``torch.compile`` (planning shapes
    are fixed, so it compiles once per context length, at the first episode's start).
    ``manifest`` replaces the world's shipped manifest (tests and benchmarks)."""
    run = Run.open(opts.run)
    if opts.world and opts.world != run.data.world:
        raise WorldError(f"{opts.run} was trained on world {run.data.world!r}, not {opts.world!r}")
    device = device or resolve_device(opts.device, "--device")
    model = run.load_model(device)
    if opts.compile:
        model.rollout = torch.compile(model.rollout, dynamic=False)
    try:
        payload, recorded = evaluate_planning(
            model,
            run.data.world,
            run.data.params,
            run.frameskip,
            episodes=opts.episodes,
            seed=opts.seed,
            planner=opts.planner,
            settings=params(opts.set),
            horizon=opts.horizon,
            execute=opts.execute,
            objective=opts.objective,
            baselines=tuple(names(opts.baselines)),
            record=opts.gifs,
            manifest=manifest,
            progress=progress,
        )
    except Exception as e:
        if opts.compile and type(e).__module__.startswith("torch._"):  # dynamo / inductor
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise PlannerError(f"torch.compile failed ({first}); plan without --compile") from None
        raise
    payload = {
        "device": str(device),
        "compiled": opts.compile,
        "checkpoint_sha256": run.checkpoint_sha256(),
        "checkpoint_step": run.step,
        **payload,
    }
    payload["gifs"] = [f"plan_ep{r['index']}.gif" for r in recorded]
    # the results first: a failing GIF write must not lose an evaluation
    run.write_result("plan.json", payload)
    for name, r in zip(payload["gifs"], recorded):
        write_episode_gif(run.dir / name, r["frames"], r["goal_obs"], r["success"])
    for old in run.dir.glob("plan_ep*.gif"):
        if old.name not in payload["gifs"]:
            old.unlink()
    return payload
