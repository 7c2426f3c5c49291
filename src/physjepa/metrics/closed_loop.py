"""Closed-loop planning success: the protocol as code.

An episode (from a manifest, ``planning/manifest.py``): restore the goal state and render the
goal frame, restore the start, then let the policy act for at most ``budget`` raw steps; it
succeeds as soon as the world's ``success(goal)`` holds. ``evaluate_planning`` runs the
trained model's policy and, in the same table, the same planner on the ground-truth simulator
with the world's task-space distance as cost (the ``oracle`` reference) and a random policy
(the floor); ``recipes/plan.py`` writes the result as ``plan.json``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from physjepa.planning.manifest import build_manifest, load_manifest
from physjepa.planning.mpc import RandomPolicy, SimulatorPolicy
from physjepa.planning.policy import WorldModelPolicy
from physjepa.planning.registry import build_planner, default_settings
from physjepa.worlds import World, WorldError, make


def run_episode(
    world: World, policy, entry: dict[str, Any], budget: int, record: bool = False
) -> dict[str, Any]:
    """One closed-loop episode from a manifest entry; ``policy.act(obs, goal_obs)`` acts."""
    goal = _goal_of(world, entry)
    world.set_sim_state(entry["start"])
    obs = world.render()
    policy.reset()
    frames = [obs] if record else []
    success, steps = world.success(goal), 0
    while not success and steps < budget:
        obs, *_ = world.step(policy.act(obs, goal.obs))
        steps += 1
        success = world.success(goal)
        if record:
            frames.append(obs)
    return {
        "index": entry["index"],
        "success": bool(success),
        "steps": steps,
        "final_distance": world.goal_distance(goal),
        "plans": len(policy.plan_ms),
        "ms_per_plan": float(np.mean(policy.plan_ms)) if policy.plan_ms else 0.0,
        "frames": frames,
        "goal_obs": goal.obs,
    }


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    plans = sum(r["plans"] for r in results)
    return {
        "success_rate": float(np.mean([r["success"] for r in results])),
        "final_distance_mean": float(np.mean([r["final_distance"] for r in results])),
        "final_distance_median": float(np.median([r["final_distance"] for r in results])),
        # a mean over every plan made, not over episodes (long episodes plan more often)
        "ms_per_plan": sum(r["ms_per_plan"] * r["plans"] for r in results) / plans
        if plans
        else None,
        "episodes": [
            {k: v for k, v in r.items() if k not in ("frames", "goal_obs")} for r in results
        ],
    }


#: Random actions succeeding in at least this share of episodes: the task does not discriminate.
NON_DISCRIMINATING = 0.5


def evaluate_planning(
    model,
    world_name: str,
    trained_params: dict[str, Any],
    frameskip: int,
    episodes: int = 50,
    seed: int = 0,
    planner: str = "cem",
    settings: dict[str, Any] | None = None,
    horizon: int = 5,
    execute: int = 1,
    objective: str = "sum",
    baselines: tuple[str, ...] = ("oracle", "random"),
    record: int = 3,
    manifest: dict[str, Any] | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Plan through the manifest's first ``episodes`` episodes with the model and baselines
    (``model=None``: the baselines alone, e.g. to check a planner budget on the oracle).

    ``world_name`` and ``trained_params``: the world the model was trained on and the params
    its data was collected with (checked against the manifest's). Returns (the plan.json
    payload, the first ``record`` model episodes with their frames).
    """
    if not world_name:
        raise WorldError(
            "the run records no world (imported data?); plan needs a run trained on a world "
            "with a task: two-room, reacher, push-t or gym:<env id>"
        )
    if manifest is None and world_name.startswith("gym:"):  # no shipped manifest: build one
        manifest = build_manifest(
            world_name,
            episodes,
            seed=seed,
            image_size=int(model.spec.obs_shape[0]),
            params=trained_params,
        )
    m = manifest or load_manifest(world_name)
    m.setdefault("sha256", hashlib.sha256(json.dumps(m, sort_keys=True).encode()).hexdigest())
    if episodes > len(m["episodes"]):
        raise WorldError(f"--episodes {episodes}: the manifest holds {len(m['episodes'])}")
    world = make(world_name, image_size=m["image_size"], **m["params"])
    world.reset(seed=0)  # every episode then sets its own start state
    _check_same_world(world, trained_params or {})
    obs_shape = tuple(model.spec.obs_shape) if model is not None else None
    if model is not None and obs_shape != world.observation_space.shape:
        raise WorldError(
            f"the checkpoint was trained on observations of shape {obs_shape}, the manifest's "
            f"{world_name!r} renders {world.observation_space.shape}"
        )
    raw = int(np.prod(world.action_space.shape))
    low = torch.as_tensor(np.tile(world.action_space.low, frameskip), dtype=torch.float32)
    high = torch.as_tensor(np.tile(world.action_space.high, frameskip), dtype=torch.float32)
    if model is not None and model.spec.action_dim != raw * frameskip:
        raise WorldError(
            f"the checkpoint's action block is {model.spec.action_dim}, but {world_name!r} has "
            f"{raw}-d actions x frameskip {frameskip}; was it trained on another world?"
        )
    settings = dict(settings or {})
    make_planner = lambda: build_planner(planner, low, high, **settings)  # noqa: E731
    make_planner()  # a bad setting fails here, before any episode runs
    entries = m["episodes"][:episodes]
    budget = m["budget"]
    rows: dict[str, Any] = {}
    recorded: list[dict[str, Any]] = []
    policies = {}
    if model is not None:  # None: the baselines alone (a planner budget checked on the oracle)
        reads = world.proprio if model.spec.proprio_dim else None  # the agent's own reading
        policies["model"] = lambda e: WorldModelPolicy(
            model, make_planner(), frameskip, horizon, execute, objective, seed=seed, proprio=reads
        )
    # the simulator gives no gradient: a gradient planner's oracle samples with CEM instead
    oracle_planner = planner if planner != "gd" else "cem"
    if "oracle" in baselines:
        oracle_settings = settings if oracle_planner == planner else {}
        policies["oracle"] = lambda e: SimulatorPolicy(
            world,
            _goal_of(world, e),
            build_planner(oracle_planner, low, high, **oracle_settings),
            frameskip,
            horizon,
            execute,
            objective,
            seed,
        )
    if "random" in baselines:
        policies["random"] = lambda e: RandomPolicy(world, seed=seed * 100_003 + e["index"])
    for name, factory in policies.items():
        start, results = time.perf_counter(), []
        for i, e in enumerate(entries):
            r = run_episode(world, factory(e), e, budget, record=name == "model" and i < record)
            if r["frames"]:
                recorded.append(r)
            results.append(r)
            if progress:
                progress(name, i + 1)
        rows[name] = {**summarise(results), "seconds": time.perf_counter() - start}
    payload = {
        "world": world_name,
        "manifest": {"version": m["version"], "sha256": m["sha256"], "seed": m["seed"]},
        "episodes": episodes,
        "budget": budget,
        "seed": seed,
        "planner": {"name": planner, **default_settings(planner), **settings},
        "horizon": horizon,
        "execute": execute,
        "objective": objective,
        "frameskip": frameskip,
        "world_params": world.params,
        "success": world.success_rule(),
        "results": rows,
    }
    if "random" in rows:  # a task random actions solve says nothing about a model
        payload["discriminating"] = rows["random"]["success_rate"] < NON_DISCRIMINATING
    if "oracle" in rows:
        rows["oracle"]["planner"] = oracle_planner
    return payload, recorded


def _check_same_world(world: World, trained: dict[str, Any]) -> None:
    """The run's world params must match the manifest's (scripted-policy knobs aside)."""
    ref = make(world.name, image_size=world.image_size, **trained).params if trained else {}
    skip = set(world.policy_params) | set(world.task_params)
    diff = sorted(k for k in ref if k not in skip and ref[k] != world.params.get(k))
    if diff:
        shown = ", ".join(f"{k}={ref[k]!r} (manifest: {world.params.get(k)!r})" for k in diff[:3])
        raise WorldError(
            f"the run was trained on {world.name!r} with {shown}; planning is evaluated on "
            "the manifest's world, so train on data collected with its params"
        )


def _goal_of(world: World, entry: dict[str, Any]):
    """The goal of a manifest entry (leaves the world in its goal state; episodes reset it)."""
    world.set_sim_state(entry["goal"])
    return world.goal_here()
