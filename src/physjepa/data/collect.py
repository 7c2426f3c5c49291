"""Collect episodes in a world with a policy and write them to an episode file.

Every episode gets its own seed, spawned from the run's seed with ``numpy.random.SeedSequence``,
so the file is identical for the same seed whatever the number of worker processes.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from physjepa.data.episodes import DataError, EpisodeWriter
from physjepa.worlds import World, make

#: Collection policies by name: ``(world, rng) -> action``.
POLICIES: dict[str, Callable[[World, np.random.Generator], np.ndarray]] = {
    "random": lambda world, rng: world.random_action(rng),
    "zero": lambda world, rng: np.zeros(world.action_space.shape, np.float32),
    # a noisy expert that moves the objects (worlds with a task): better coverage for planning
    "scripted": lambda world, rng: world.scripted_action(rng),
}


def run_episode(
    world: World, policy: str, steps: int, seed_seq: np.random.SeedSequence
) -> dict[str, np.ndarray]:
    """Roll one episode: ``steps`` observations, states and the action taken after each."""
    reset_seed, policy_seed = seed_seq.generate_state(2)
    rng = np.random.default_rng(int(policy_seed))
    obs, _ = world.reset(seed=int(reset_seed))
    act_fn = POLICIES[policy]
    pixels, actions, states, sensors, proprio = [], [], [], [], []
    for t in range(steps):
        pixels.append(obs)
        states.append(world.state_vector())
        if world.sensor_names:
            sensors.append(world.sensors())
        if world.proprio_keys:
            proprio.append(world.proprio())
        a = np.asarray(act_fn(world, rng), np.float32)
        actions.append(a)
        if getattr(world, "done", False):  # a Gymnasium env that has ended: its last frame
            break  # is in; the action after it (never applied) pads the row, as at the end
        if t < steps - 1:
            obs, *_ = world.step(a)
    out = {"pixels": np.stack(pixels), "action": np.stack(actions), "state": np.stack(states)}
    if sensors:
        out["sensors"] = np.stack(sensors)
    if proprio:
        out["proprio"] = np.stack(proprio)
    return out


def _worker(
    args: tuple[str, dict[str, Any], int, str, int, list[np.random.SeedSequence]],
) -> list[dict[str, np.ndarray]]:
    world_name, params, image_size, policy, steps, seeds = args
    world = make(world_name, image_size=image_size, **params)
    return [run_episode(world, policy, steps, s) for s in seeds]


def collect(
    world: str,
    out: str | Path,
    episodes: int,
    steps: int | None = None,
    policy: str = "random",
    seed: int = 0,
    params: dict[str, Any] | None = None,
    image_size: int = 64,
    workers: int = 1,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write ``episodes`` episodes of ``steps`` steps in ``world`` to ``out``; returns the path."""
    params = dict(params or {})
    probe = make(world, image_size=image_size, **params)  # validates the world name and params
    if policy not in POLICIES:
        raise DataError(f"unknown policy {policy!r}; valid: {', '.join(POLICIES)}")
    if episodes < 1:
        raise DataError(f"--episodes must be at least 1, got {episodes}")
    steps = steps or probe.default_episode_steps
    if steps < 2:
        raise DataError(f"--steps must be at least 2, got {steps}")
    if workers < 1:
        raise DataError(f"--workers must be at least 1, got {workers}")
    probe.reset(seed=0)
    attrs = {
        "world": world,
        "params_json": json.dumps(probe.params, default=list),
        "fps": float(probe.metadata.get("render_fps", 0)),
        "image_size": image_size,
        "policy": policy,
        "seed": seed,
        "state_spec_json": json.dumps(probe.state_spec()),
    }
    if probe.provenance():
        attrs["provenance_json"] = json.dumps(probe.provenance())
    if probe.sensor_names:
        attrs["sensor_names_json"] = json.dumps(list(probe.sensor_names))
    if probe.proprio_keys:
        spec = dict(probe.state_spec())
        attrs["proprio_names_json"] = json.dumps(
            [f"{k}_{i}" for k in probe.proprio_keys for i in range(int(np.prod(spec[k])))]
        )
    seeds = np.random.SeedSequence(seed).spawn(episodes)
    chunk = max(1, min(16, episodes // (4 * workers) or 1))
    jobs = [
        (world, params, image_size, policy, steps, seeds[i : i + chunk])
        for i in range(0, episodes, chunk)
    ]
    with EpisodeWriter(out, attrs, overwrite=overwrite) as writer:
        for batch in _run_jobs(jobs, workers):
            for ep in batch:
                writer.append(ep)
                if progress:
                    progress(1)
        return writer.close()


def _run_jobs(jobs: list, workers: int) -> Iterator[list[dict[str, np.ndarray]]]:
    if workers == 1:
        yield from map(_worker, jobs)
        return
    # spawn, not fork: the parent may hold torch's thread pools, which fork can deadlock.
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        yield from pool.map(_worker, jobs)
