"""Planning manifests: the fixed, versioned start and goal states every planning evaluation runs.

A *manifest* fixes the episodes: for each, a start state and a goal state of the world (as
``sim_state`` dicts), made by running the world's noisy scripted policy ``goal_steps`` steps
from a start, so every goal is reachable in about that many steps. Manifest seeds come from
their own ``SeedSequence`` (tag ``PLAN``), never from the training collection's, and starts
that already satisfy the goal are skipped. Manifests are versioned JSON files shipped in
``physjepa/planning/manifests/`` (``<world>-v<N>.json``), so every run plans the same episodes.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from physjepa.worlds import WorldError, make
from physjepa.worlds.gym_adapter import state_std

MANIFEST_FORMAT = "physjepa-plan-manifest"
MANIFEST_VERSION = 1
_PLAN_TAG = 0x504C414E  # "PLAN": keeps manifest seeds apart from collection seeds


def build_manifest(
    world_name: str,
    episodes: int,
    seed: int = 0,
    goal_steps: int = 25,
    budget: int = 50,
    warmup: int = 0,
    image_size: int = 64,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A manifest of ``episodes`` start/goal pairs (see the module docstring)."""
    world = make(world_name, image_size=image_size, **(params or {}))
    if not world.has_task:
        raise WorldError(f"world {world_name!r} has no task to plan for")
    if world.params.get("state_std", False) is None and world.sensor_names:
        # a gym env's success radius is relative to the states' spread: without the data's,
        # the spread of the states the manifest's own kind of rollouts visit
        spread_seeds = np.random.SeedSequence([_PLAN_TAG, seed, 1])
        spread = _rollout_std(world, spread_seeds, warmup + goal_steps)
        world = make(world_name, image_size=image_size, **{**world.params, "state_std": spread})
    ss = np.random.SeedSequence([_PLAN_TAG, seed])
    out, tried = [], 0
    while len(out) < episodes:
        child = ss.spawn(1)[0]
        reset_seed, policy_seed = child.generate_state(2)
        rng = np.random.default_rng(int(policy_seed))
        world.reset(seed=int(reset_seed))
        for _ in range(warmup):
            world.advance(world.scripted_action(rng))
        start = world.sim_state()
        for _ in range(goal_steps):
            world.advance(world.scripted_action(rng))
        goal_state = world.sim_state()
        goal = world.goal_here()
        world.set_sim_state(start)
        tried += 1
        if not world.success(goal):
            out.append({"index": len(out), "start": start, "goal": goal_state})
        if tried > 20 * episodes:
            raise WorldError(
                f"{world_name}: the goals {goal_steps} scripted steps away are almost always "
                "already reached at the start; make success stricter, e.g. --param "
                f"success_radius=<below {world.params.get('success_radius', '?')}> (gym "
                "worlds), or --param success_fn=module:function"
            )
    return {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "world": world_name,
        "image_size": image_size,
        "params": world.params,
        "seed": seed,
        "goal_steps": goal_steps,
        "warmup": warmup,
        "budget": budget,
        "episodes": out,
    }


def _rollout_std(world, ss: np.random.SeedSequence, steps: int, episodes: int = 20) -> list:
    """Per-dimension spread of the states ``episodes`` scripted rollouts visit."""
    states = []
    for child in ss.spawn(episodes):
        reset_seed, policy_seed = child.generate_state(2)
        rng = np.random.default_rng(int(policy_seed))
        world.reset(seed=int(reset_seed))
        states.append(world.state_vector())
        for _ in range(steps):
            world.advance(world.scripted_action(rng))
            states.append(world.state_vector())
    return state_std(np.stack(states))


def manifest_path(world_name: str) -> Path:
    return Path(str(resources.files("physjepa.planning") / "manifests")) / (
        f"{world_name}-v{MANIFEST_VERSION}.json"
    )


def load_manifest(world_name: str, path: str | Path | None = None) -> dict[str, Any]:
    """The shipped manifest of ``world_name`` (or the one at ``path``), validated."""
    p = Path(path) if path else manifest_path(world_name)
    if not p.exists():
        raise WorldError(
            f"no planning manifest for world {world_name!r} ({p} is missing); "
            "planning is evaluated on two-room, reacher and push-t"
        )
    keys = ("version", "world", "image_size", "params", "seed", "budget", "episodes")
    try:
        m = json.loads(p.read_text())
        ok = m["format"] == MANIFEST_FORMAT and all(k in m for k in keys)
        ok = ok and all({"index", "start", "goal"} <= set(e) for e in m["episodes"])
    except (json.JSONDecodeError, KeyError, TypeError):
        ok = False
    if not ok:
        raise WorldError(f"{p} is not a physjepa planning manifest; restore it from the package")
    if m["version"] != MANIFEST_VERSION or m["world"] != world_name:
        raise WorldError(
            f"{p} is manifest v{m['version']} of {m['world']!r}; "
            f"expected v{MANIFEST_VERSION} of {world_name!r}"
        )
    m["sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
    return m
