"""Any Gymnasium environment that renders ``rgb_array`` as a physjepa world: ``gym:<env id>``.

``make("gym:Pendulum-v1")`` wraps ``gymnasium.make("Pendulum-v1", render_mode="rgb_array")``:

- obs: the rendered frame, centre-cropped to a square and resized to ``image_size``;
- action: a ``Box`` space as is (flattened, float32, clipped); a ``Discrete(n)`` space as a
  one-hot vector of n (the largest entry is the action taken);
- ``state()``: the env's observation when it is a vector (``obs``), for probes; it is also
  the world's ``sensors()`` (``obs_0``...), so an MLP model can observe it instead of pixels;
- an episode ends when the env terminates or truncates (``done``; ``collect`` stops there);
- ``sim_state()``: the reset seed and the actions taken since, so any env is restored exactly
  by replaying them (deterministic envs);
- task: the goal is the observation rendered at a goal state; ``goal_distance`` is the
  distance between the env's vector observations; ``success`` is the env's own
  ``info["is_success"]`` / ``info["success"]`` when it reports one, else a user function
  ``success_fn="module:function"`` called as ``function(world, goal) -> bool``, else
  ``goal_distance < success_radius``.

Params: ``env_kwargs`` (dict for ``gymnasium.make``), ``gym_import`` (module(s) to import
first, comma-separated: where third-party envs register themselves), ``success_fn``,
``success_radius``. Planning builds its start/goal manifest on the fly from random actions.
"""

from __future__ import annotations

import importlib
from typing import Any

import gymnasium as gym
import numpy as np

from physjepa.worlds.base import Goal, World, WorldError
from physjepa.worlds.render import square_resize

PREFIX = "gym:"


class GymWorld(World):
    """A Gymnasium env behind the World contract (see the module docstring)."""

    has_task = True
    default_episode_steps = 100
    default_params = {
        "env_kwargs": None,
        "gym_import": None,
        "success_fn": None,
        "success_radius": 0.1,
    }

    def __init__(
        self, env_id: str, render_mode: str = "rgb_array", image_size: int = 64, **params: Any
    ):
        self.name = PREFIX + env_id
        super().__init__(render_mode, image_size, **params)
        p = self.params
        for module in (p["gym_import"] or "").split(","):
            if module.strip():
                try:
                    importlib.import_module(module.strip())
                except ImportError as e:
                    raise WorldError(f"--gym-import {module.strip()!r} failed: {e}") from None
        kwargs = p["env_kwargs"] or {}
        if not isinstance(kwargs, dict):
            raise WorldError(
                f"env_kwargs={kwargs!r} must be a JSON object of gymnasium.make kwargs"
            )
        try:
            self.env = gym.make(env_id, render_mode="rgb_array", **kwargs)
        except Exception as e:  # noqa: BLE001 - gymnasium raises many kinds for a bad id
            raise WorldError(
                f"gymnasium cannot make {env_id!r} "
                f"({type(e).__name__}: {str(e).splitlines()[0][:160]}); "
                "check the id, or pass --gym-import for an env registered by another package"
            ) from None
        fps = (self.env.metadata or {}).get("render_fps") or World.metadata["render_fps"]
        self.metadata = {**World.metadata, "render_fps": fps}
        space = self.env.action_space
        if isinstance(space, gym.spaces.Discrete):
            self._discrete = int(space.n)
            self.action_space = gym.spaces.Box(0.0, 1.0, (self._discrete,), np.float32)
        elif isinstance(space, gym.spaces.Box):
            self._discrete = 0
            low = np.asarray(space.low, np.float32).reshape(-1)
            high = np.asarray(space.high, np.float32).reshape(-1)
            self.action_space = gym.spaces.Box(low, high, low.shape, np.float32)
        else:
            raise WorldError(f"{env_id}: action space {space} is neither Box nor Discrete")
        ospace = self.env.observation_space
        self._vector = isinstance(ospace, gym.spaces.Box) and len(ospace.shape) == 1
        self.sensor_names = (
            tuple(f"obs_{i}" for i in range(ospace.shape[0])) if self._vector else ()
        )
        self._success_fn = _load_fn(p["success_fn"]) if p["success_fn"] else None
        self._seed: int | None = None
        self._log: list[list[float]] = []
        self._obs: np.ndarray | None = None
        self.done = False
        self._info: dict = {}

    # -- gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._seed = int(seed) if seed is not None else int(self.np_random.integers(2**31))
        self._obs, self._info = self.env.reset(seed=self._seed)
        self._log, self.done = [], False
        return self.render(), {"state": self.state()}

    def step(self, action):
        self.advance(action)
        return self.render(), 0.0, self.done, False, {"state": self.state()}

    def advance(self, action) -> None:
        if self._obs is None:
            raise WorldError("call reset() before step()")
        a = np.asarray(action, np.float32).reshape(-1)
        if a.shape != self.action_space.shape or not np.all(np.isfinite(a)):
            raise WorldError(
                f"action={action!r} must be {self.action_space.shape[0]} finite numbers"
            )
        if self.done:  # the env has ended: the world holds still
            return
        self._log.append(a.tolist())
        self._obs, _, terminated, truncated, self._info = self.env.step(self._env_action(a))
        self.done = bool(terminated or truncated)

    def _env_action(self, a: np.ndarray):
        if self._discrete:
            return int(np.argmax(a))
        return np.clip(a, self.action_space.low, self.action_space.high).reshape(
            self.env.action_space.shape
        )

    def render(self) -> np.ndarray:
        if self._obs is None:
            raise WorldError("call reset() before render()")
        try:
            frame = self.env.render()
        except gym.error.DependencyNotInstalled as e:
            raise WorldError(
                f"{self.name} cannot render ({str(e).splitlines()[0][:120]}); "
                "pip install 'physjepa[gym]'"
            ) from None
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[-1] < 3:
            raise WorldError(f"{self.name} did not render an rgb_array frame")
        return square_resize(frame, self.image_size)

    # -- physics access ---------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        if self._obs is None:
            raise WorldError("call reset() before state()")
        if self._vector:
            return {"obs": np.asarray(self._obs, np.float32).reshape(-1)}
        return {"step": np.array([len(self._log)], np.float32)}

    def sensors(self) -> np.ndarray:
        if not self._vector:
            raise WorldError(f"{self.name} has no vector observation to use as sensors")
        return self.state()["obs"]

    def random_action(self, rng: np.random.Generator) -> np.ndarray:
        if self._discrete:
            out = np.zeros(self._discrete, np.float32)
            out[int(rng.integers(self._discrete))] = 1.0
            return out
        return rng.uniform(self.action_space.low, self.action_space.high).astype(np.float32)

    def scripted_action(self, rng: np.random.Generator) -> np.ndarray:
        """No expert is known for an arbitrary env: random actions."""
        return self.random_action(rng)

    def sim_state(self) -> dict[str, Any]:
        if self._obs is None:
            raise WorldError("call reset() before sim_state()")
        return {"seed": self._seed, "actions": [list(a) for a in self._log]}

    def set_sim_state(self, s: dict[str, Any]) -> None:
        try:
            seed, actions = int(s["seed"]), [list(map(float, a)) for a in s["actions"]]
        except (KeyError, TypeError, ValueError):
            raise WorldError(
                "a gym sim state maps 'seed' to an int and 'actions' to lists"
            ) from None
        self._seed = seed
        self._obs, self._info = self.env.reset(seed=seed)
        self._log, self.done = [], False
        for a in actions:
            self.advance(a)

    # -- task -------------------------------------------------------------------------------
    def goal_here(self) -> Goal:
        return Goal(state={k: v.copy() for k, v in self.state().items()}, obs=self.render())

    def goal(self) -> Goal:
        return self.goal_here()

    def goal_distance(self, goal: Goal) -> float:
        here, there = self.state(), goal.state
        if "obs" in here and "obs" in there:
            return float(np.linalg.norm(here["obs"] - np.asarray(there["obs"], np.float32)))
        diff = self.render().astype(np.float32) - goal.obs.astype(np.float32)
        return float(np.sqrt((diff**2).mean()) / 255.0)

    def success(self, goal: Goal) -> bool:
        for key in ("is_success", "success"):
            if key in self._info:
                return bool(self._info[key])
        if self._success_fn is not None:
            return bool(self._success_fn(self, goal))
        return self.goal_distance(goal) < float(self.params["success_radius"])


def _load_fn(spec: str):
    """``module:function`` -> the function; a WorldError says what is wrong."""
    module, _, name = str(spec).partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as e:
        raise WorldError(f"success_fn={spec!r} must be 'module:function' ({e})") from None
    if not callable(fn):
        raise WorldError(f"success_fn={spec!r} is not callable")
    return fn


def is_gym(name: str) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX) and len(name) > len(PREFIX)
