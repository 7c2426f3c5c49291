"""``physjepa plan``: closed-loop planning of a run on its world's manifest; writes
``plan.json`` and episode GIFs (the protocol itself: ``metrics/closed_loop.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physjepa.device import resolve_device
from physjepa.errors import PlannerError, WorldError
from physjepa.metrics.closed_loop import evaluate_planning
from physjepa.options import PlanOptions, names, params
from physjepa.report.video import write_episode_gif
from physjepa.runs import Run
from physjepa.worlds import make
from physjepa.worlds import names as world_names
from physjepa.worlds.gym_adapter import is_gym, state_std


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
    world_name, world_params, std_from = planning_world(
        run, opts.world, params(opts.param), opts.gym_import
    )
    device = device or resolve_device(opts.device, "--device")
    model = run.load_model(device)
    if opts.compile:
        model.rollout = torch.compile(model.rollout, dynamic=False)
    try:
        payload, recorded = evaluate_planning(
            model,
            world_name,
            world_params,
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
    if std_from:
        payload["success"]["state_std_from"] = std_from
    payload["gifs"] = [f"plan_ep{r['index']}.gif" for r in recorded]
    # the results first: a failing GIF write must not lose an evaluation
    run.write_result("plan.json", payload)
    for name, r in zip(payload["gifs"], recorded):
        write_episode_gif(run.dir / name, r["frames"], r["goal_obs"], r["success"])
    for old in run.dir.glob("plan_ep*.gif"):
        if old.name not in payload["gifs"]:
            old.unlink()
    return payload


def planning_world(
    run: Run, world: str | None, extra: dict[str, Any], gym_import: str | None
) -> tuple[str | None, dict[str, Any], str | None]:
    """(world name, params, where ``state_std`` came from) for planning ``run``.

    The run's own world, or ``world`` = ``gym:<id>`` for a model trained on imported data (the
    env's frames, action width and fps must match the data's); ``--param`` and
    ``--gym-import`` on top. A gym world's success radius is relative to the per-dimension
    spread of the states: the run's data gives it when the run was trained in that env."""
    trained = run.data.world
    name, base = trained, dict(run.data.params or {})
    imported = False
    if world and world != trained:
        if not is_gym(world) or is_gym(trained or "") or trained in world_names():
            raise WorldError(
                f"{run.dir} was trained on world {trained!r}, not {world!r} "
                "(--world gym:<id> plans a model trained on imported data in that env)"
            )
        name, base, imported = world, {}, True
    extra = dict(extra)
    if gym_import:
        if not is_gym(name or ""):
            raise WorldError(f"--gym-import applies to gym:<env id> worlds, not {name!r}")
        extra["gym_import"] = gym_import
    out = {**base, **extra}
    if name and not is_gym(name) and name not in world_names():
        raise WorldError(
            f"{run.dir} was trained on imported data ({name!r}), which names no environment "
            "to plan in: pass --world gym:<env id> (and --gym-import MODULE for a third-party "
            "env)"
        )
    if not is_gym(name or ""):
        return name, out, None
    world = make(name, image_size=int(run.shape.obs_shape[0]), **out)
    if imported:
        _check_env_matches_data(run, world, name)
    if out.get("state_std") is not None:
        return name, out, "--param"
    if not imported and world.sensor_names and Path(run.data.path).is_file():
        from physjepa.data.episodes import EpisodeFile

        with EpisodeFile(run.data.path) as f:
            states = f.load("state") if "state" in f.columns else None
        if states is not None and states.shape[1] == len(world.sensor_names):
            return name, {**out, "state_std": state_std(states)}, "data"
    return name, out, "manifest rollouts" if world.sensor_names else None


def _check_env_matches_data(run: Run, world, name: str) -> None:
    """An env must give the frames, action width and step rate the model was trained on."""
    if run.data.obs_key != "pixels":
        raise WorldError(
            f"{run.dir} observes {run.data.obs_key!r}; planning in {name} needs a model "
            "trained on pixels (train with data.obs=pixels)"
        )
    raw = int(np.prod(world.action_space.shape))
    if run.shape.action_dim != raw * run.frameskip:
        raise WorldError(
            f"{name} takes {raw}-d actions, the data's are {run.shape.action_dim // run.frameskip}"
            "-d: convert data recorded in this env, or pass its env_kwargs with --param"
        )
    env_fps, data_fps = float(world.metadata.get("render_fps") or 0), float(run.data.fps or 0)
    if env_fps > 0 and data_fps > 0 and abs(env_fps / data_fps - 1) > 0.01:
        raise WorldError(
            f"the data was recorded at {data_fps:g} steps/s, {name} steps at {env_fps:g} (another "
            "frameskip?): make the env match with --param env_kwargs='{...}' or convert data "
            "recorded at its rate"
        )
