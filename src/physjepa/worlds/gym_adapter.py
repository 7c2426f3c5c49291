"""Any Gymnasium environment as a physjepa world: ``gym:<env id>``.

``make("gym:Pendulum-v1")`` wraps ``gymnasium.make("Pendulum-v1", render_mode="rgb_array")``:

- frame: the image part of a Dict observation when it has one (``pixels``, or the first
  image), else the env's ``render()``; made square and resized to ``image_size``. ``frame=
  "pad"`` (the default) keeps the whole scene, letterboxed; ``"crop"`` keeps the centre
  square. MuJoCo envs render headless: with no display and no ``MUJOCO_GL`` set, ``egl`` is
  chosen before mujoco is imported (``provenance()`` records the choice; set ``MUJOCO_GL``
  yourself to override it), and a failed render names ``MUJOCO_GL`` in one line;
- action: a ``Box`` space as is (flattened, float32, clipped); a ``Discrete(n)`` space as a
  one-hot vector of n (the largest entry is the action taken);
- ``state()``: the vector parts of the observation, for probes: a vector observation is
  ``obs``; a Dict observation gives one entry per vector part, by its key (nested keys
  joined by ``.``: ``agent_pos``, ``observation``, ``achieved_goal``...). Flattened, they are
  also the world's ``sensors()`` (``obs_0``..., ``agent_pos_0``...), so an MLP model can
  observe them instead of pixels;
- an episode ends when the env terminates or truncates (``done``; ``collect`` stops there);
- ``sim_state()``: the reset seed and the actions taken since, so any env is restored exactly
  by replaying them (deterministic envs);
- task: the goal is the observation at a goal state. Success, in this order:

  1. ``success_fn="module:function"``, called as ``function(world, goal) -> bool``;
  2. the env's own goal interface (Gymnasium-Robotics: ``achieved_goal`` / ``desired_goal``
     and ``compute_reward``): our ``achieved_goal`` against the goal's, within the env's
     ``distance_threshold`` (or, without one, where its sparse reward says reached);
  3. with ``env_success=true`` (the user says the env's goal is ours), the env's
     ``info["is_success"]`` / ``info["success"]``, when it is a real boolean (NaN or any
     other value counts as absent);
  4. the state distance: the RMS over the vector dims ``success_dims`` (default all; ints,
     channel names or part names) of (state - goal state) / ``state_std``, below
     ``success_radius``. ``state_std`` is the per-dimension spread in the data (``plan``
     sets it from the run's data, a manifest from its own rollouts); without it the raw
     difference counts. Without any vector part: the frames' RMS difference / 255.

Params: ``env_kwargs`` (dict for ``gymnasium.make``), ``gym_import`` (module(s) to import
first, comma-separated: where third-party envs register themselves), ``frame``, and the task
settings ``success_fn``, ``env_success``, ``success_dims``, ``success_radius``,
``state_std`` (``task_params``: they change what success means, not the physics).
Planning builds its start/goal manifest on the fly from random actions.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from physjepa.worlds.base import Goal, World, WorldError
from physjepa.worlds.render import square_resize

PREFIX = "gym:"
GOAL_KEYS = ("achieved_goal", "desired_goal")


def headless_gl() -> str | None:
    """Choose ``MUJOCO_GL=egl`` when nothing is displayed and the user chose nothing; the
    value in force (None where unset and a display exists)."""
    displayed = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if "MUJOCO_GL" not in os.environ and not displayed:
        os.environ["MUJOCO_GL"] = "egl"
    return os.environ.get("MUJOCO_GL")


@dataclass(frozen=True)
class _Part:
    """One part of an observation: ``path`` into nested Dicts (``()`` = the whole obs)."""

    name: str
    path: tuple[str, ...]
    size: int
    image: bool


def _parts(space: gym.Space, path: tuple[str, ...] = ()) -> list[_Part]:
    name = ".".join(path) or "obs"
    if isinstance(space, gym.spaces.Dict):
        return [p for k, sub in space.spaces.items() for p in _parts(sub, (*path, str(k)))]
    if isinstance(space, gym.spaces.Box):
        shape = tuple(space.shape)
        if len(shape) == 3 and shape[-1] in (3, 4):
            return [_Part(name, path, 0, True)]
        return [_Part(name, path, int(np.prod(shape)), False)]
    if isinstance(space, gym.spaces.Discrete):
        return [_Part(name, path, 1, False)]
    if isinstance(space, gym.spaces.MultiDiscrete | gym.spaces.MultiBinary):
        return [_Part(name, path, int(np.prod(space.shape)), False)]
    return []  # a part we cannot read as numbers (Text, Graph...): left out


def _get(obs: Any, path: tuple[str, ...]) -> Any:
    for k in path:
        obs = obs[k]
    return obs


class GymWorld(World):
    """A Gymnasium env behind the World contract (see the module docstring)."""

    has_task = True
    default_episode_steps = 100
    default_params = {
        "env_kwargs": None,
        "gym_import": None,
        "frame": "pad",
        "success_fn": None,
        "env_success": False,
        "success_dims": None,
        "success_radius": 0.1,
        "state_std": None,
    }
    task_params = ("success_fn", "env_success", "success_dims", "success_radius", "state_std")

    def __init__(
        self, env_id: str, render_mode: str = "rgb_array", image_size: int = 64, **params: Any
    ):
        self.name = PREFIX + env_id
        super().__init__(render_mode, image_size, **params)
        self._gl = headless_gl()  # before any module that may import mujoco
        p = self.params
        if p["frame"] not in ("pad", "crop"):
            raise WorldError(f"frame={p['frame']!r} must be 'pad' (whole scene) or 'crop'")
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
                f"gymnasium cannot make {env_id!r} ({type(e).__name__}: {_first_line(e)})"
                + (
                    self._gl_hint(e)
                    or "; check the id, or pass --gym-import for an env registered by another "
                    "package"
                )
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
        parts = _parts(self.env.observation_space)
        self._vectors = [q for q in parts if not q.image]
        images = [q for q in parts if q.image]
        self._image = next((q for q in images if q.name == "pixels"), images[0] if images else None)
        plain = len(self._vectors) == 1 and self._vectors[0].path == ()
        self.sensor_names = tuple(
            f"{q.name}_{i}" if q.size > 1 or plain else q.name
            for q in self._vectors
            for i in range(q.size)
        )
        names = {q.name for q in self._vectors}
        self._goal_env = set(GOAL_KEYS) <= names and hasattr(self.env.unwrapped, "compute_reward")
        self._success_fn = _load_fn(p["success_fn"]) if p["success_fn"] else None
        self._dims = self._success_dims(p["success_dims"])
        self._std = self._state_std(p["state_std"])
        radius = p["success_radius"]
        if isinstance(radius, bool) or not isinstance(radius, int | float) or not radius > 0:
            raise WorldError(f"success_radius={radius!r} must be a positive number")
        self._seed: int | None = None
        self._log: list[list[float]] = []
        self._obs: Any = None
        self.done = False
        self._info: dict = {}

    # -- params -----------------------------------------------------------------------------
    def _success_dims(self, spec: Any) -> np.ndarray:
        """Indices into the state vector from ints, channel names or part names."""
        n = len(self.sensor_names)
        if spec is None:
            return np.arange(n)
        items = spec.split(",") if isinstance(spec, str) else spec
        if not isinstance(items, list | tuple) or not items:
            raise WorldError(f"success_dims={spec!r} must be a list of dims or names")
        starts = np.cumsum([0] + [q.size for q in self._vectors])
        out: list[int] = []
        for item in items:
            item = item.strip() if isinstance(item, str) else item
            part = next((i for i, q in enumerate(self._vectors) if q.name == item), None)
            if part is not None:
                out += range(starts[part], starts[part + 1])
            elif item in self.sensor_names:
                out.append(self.sensor_names.index(item))
            elif isinstance(item, int) and not isinstance(item, bool) and 0 <= item < n:
                out.append(item)
            else:
                raise WorldError(
                    f"success_dims: {item!r} is not a dim in [0, {n}) nor a name among "
                    f"{[q.name for q in self._vectors] + list(self.sensor_names)[:12]}"
                )
        return np.asarray(sorted(set(out)), int)

    def _state_std(self, std: Any) -> np.ndarray | None:
        if std is None:
            return None
        try:
            arr = np.asarray(std, np.float64).reshape(-1)
        except (TypeError, ValueError):
            arr = np.zeros(0)
        if arr.shape != (len(self.sensor_names),) or not np.all(np.isfinite(arr) & (arr >= 0)):
            raise WorldError(
                f"state_std must be {len(self.sensor_names)} finite numbers >= 0 (one per "
                "state dim); leave it unset and plan takes it from the run's data"
            )
        return np.where(arr > 1e-8, arr, 1.0)  # a dim that never moved counts in raw units

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
        if self._image is not None:
            frame = np.asarray(_get(self._obs, self._image.path))
        else:
            try:
                frame = self.env.render()
            except gym.error.DependencyNotInstalled as e:
                raise WorldError(
                    f"{self.name} cannot render ({_first_line(e)}); pip install 'physjepa[gym]'"
                ) from None
            except Exception as e:  # noqa: BLE001 - OpenGL and friends fail in many ways
                raise WorldError(
                    f"{self.name} cannot render ({type(e).__name__}: {_first_line(e)})"
                    + self._gl_hint(e, always=True)
                ) from None
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[-1] < 3:
            raise WorldError(f"{self.name} did not render an rgb_array frame")
        if frame.dtype != np.uint8:
            frame = np.clip(frame, 0, 255).astype(np.uint8)
        return square_resize(frame, self.image_size, self.params["frame"])

    def _gl_hint(self, e: BaseException, always: bool = False) -> str:
        text = f"{type(e).__module__} {e}".lower()
        if not always and not any(w in text for w in ("opengl", "mujoco", "egl", "glfw")):
            return ""
        return (
            f"; MUJOCO_GL is {self._gl!r}: set MUJOCO_GL=egl (GPU or Mesa EGL) or osmesa "
            "(software) before starting, and install that library"
        )

    def provenance(self) -> dict[str, Any]:
        """How this env was rendered, for the data file's record (``mujoco_gl`` where the env
        loaded mujoco)."""
        gl = {"mujoco_gl": self._gl} if "mujoco" in sys.modules else {}
        return {**gl, "frame": self.params["frame"]}

    # -- physics access ---------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        if self._obs is None:
            raise WorldError("call reset() before state()")
        if not self._vectors:
            return {"step": np.array([len(self._log)], np.float32)}
        return {
            q.name: np.asarray(_get(self._obs, q.path), np.float32).reshape(-1)
            for q in self._vectors
        }

    def sensors(self) -> np.ndarray:
        if not self._vectors:
            raise WorldError(f"{self.name} has no vector observation to use as sensors")
        return self.state_vector()

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

    def success_rule(self) -> dict[str, Any]:
        """Which rule decides success, with its settings (plan.json records it)."""
        if self._success_fn is not None:
            return {"rule": "success_fn", "success_fn": self.params["success_fn"]}
        if self._goal_env:
            return {"rule": "goal_env", "threshold": self._goal_threshold()}
        rule = {"rule": "state_distance", "radius": float(self.params["success_radius"])}
        if self.params["env_success"]:
            rule = {"rule": "env_success", "else": rule}
        if not self._vectors:
            return {**rule, "distance": "frame RMS / 255"}
        rule["dims"] = [self.sensor_names[i] for i in self._dims]
        rule["state_std"] = None if self._std is None else self._std.tolist()
        return rule

    def _goal_threshold(self) -> float | None:
        t = getattr(self.env.unwrapped, "distance_threshold", None)
        return float(t) if isinstance(t, int | float) and not isinstance(t, bool) else None

    def goal_distance(self, goal: Goal) -> float:
        here, there = self.state(), goal.state
        if self._goal_env:
            diff = here["achieved_goal"] - np.asarray(there["achieved_goal"], np.float32)
            return float(np.linalg.norm(diff))
        if self._vectors and set(there) >= set(here):
            diff = self.state_vector() - np.concatenate(
                [np.asarray(there[k], np.float32).reshape(-1) for k in here]
            )
            diff = diff.astype(np.float64)[self._dims]
            if self._std is not None:
                diff = diff / self._std[self._dims]
            return float(np.sqrt(np.mean(diff**2))) if diff.size else 0.0
        diff = self.render().astype(np.float32) - goal.obs.astype(np.float32)
        return float(np.sqrt((diff**2).mean()) / 255.0)

    def success(self, goal: Goal) -> bool:
        if self._success_fn is not None:
            return bool(self._success_fn(self, goal))
        if self._goal_env:
            threshold = self._goal_threshold()
            if threshold is not None:
                return self.goal_distance(goal) < threshold
            reward = self.env.unwrapped.compute_reward(
                self.state()["achieved_goal"], goal.state["achieved_goal"], {}
            )
            return bool(np.all(np.asarray(reward) >= 0))  # sparse: 0 reached, -1 not
        if self.params["env_success"]:
            for key in ("is_success", "success"):
                v = self._info.get(key)
                if isinstance(v, bool | np.bool_):
                    return bool(v)
        return self.goal_distance(goal) < float(self.params["success_radius"])


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [""])[0][:160]


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


def state_std(states: np.ndarray) -> list[float]:
    """Per-dimension spread of ``(N, S)`` state vectors (the ``state_std`` param)."""
    std = np.asarray(states, np.float64).std(axis=0)
    return [float(x) if math.isfinite(x) else 1.0 for x in std]
