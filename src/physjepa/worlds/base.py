"""The World contract: a seeded ``gymnasium.Env`` that renders pixels and exposes physics.

Every built-in world subclasses :class:`World`. Beyond Gymnasium's API a world offers:

- ``state() -> dict[str, np.ndarray]``: ground-truth physical quantities (float32) used by
  probes. Keys and shapes are fixed for a given set of params (``state_spec()`` lists them).
- ``params``: the factors of variation (gravity, restitution, colours, ...), settable at
  creation through ``make(name, **params)``; unknown names are refused.
- ``goal()`` / ``success(goal)`` where the world has a task (``has_task`` is True).
- ``random_action(rng)``: the action the ``random`` collection policy takes.
- ``sensor_names`` / ``sensors()``: worlds with instruments (strain gauges, load cells,
  probes) name their channels and return one float32 reading per channel; ``collect`` stores
  them in the ``sensors`` column, which an MLP-encoder model can observe instead of pixels.

Worlds with a task (``has_task``) also offer what planning and its evaluation need:

- ``scripted_action(rng)``: a noisy scripted policy that actually moves the objects (the
  ``scripted`` collection policy; it may keep private state, cleared by ``reset``);
- ``sim_state() -> dict[str, list[float]]`` / ``set_sim_state(s)``: the full restorable
  physical state as plain JSON values (manifests store start and goal states this way);
- ``advance(action)``: one physics step without rendering (what a ground-truth planner
  calls thousands of times); ``step`` is ``advance`` followed by ``render``;
- ``goal_here() -> Goal``: the current configuration as a goal (task state + frame);
- ``goal_distance(goal) -> float``: the task-space distance to a goal, in the units the
  world documents; ``success(goal)`` is a threshold on it.
- ``visibility_variables() -> dict[str, VisibleVariable]``: the state variables that can be
  moved alone through ``set_sim_state`` (the agent, each joint, each object's position and
  angle), one of them the reference (the agent, or the controlled joint) that latent
  visibility is measured against; ``valid_sim_state(s)`` says whether a moved state is one
  the world could be in (nothing inside a wall or another body).

A world is deterministic given its seed: ``reset(seed=s)`` followed by the same actions gives
the same observations and states, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from physjepa.errors import WorldError  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class VisibleVariable:
    """A state variable that can be moved alone: ``sim_state()[key][i] for i in index``.

    ``span`` is its declared range in the key's units (the table width, a full turn): a
    visibility move is a fixed fraction of it. ``reference`` marks the agent (or the
    controlled joint): every variable's latent distance is divided by this one's."""

    key: str
    index: tuple[int, ...]
    span: float
    reference: bool = False


@dataclass(frozen=True)
class Goal:
    """A task target: ``state`` holds the target quantities, ``obs`` the rendered goal frame."""

    state: dict[str, np.ndarray]
    obs: np.ndarray  # (H, W, 3) uint8


class World(gym.Env):
    """Base class. Subclasses set ``name``, ``default_params`` and implement the hooks."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 20}
    name: ClassVar[str] = "world"
    #: Factors of variation and their defaults; ``make`` accepts exactly these names.
    default_params: ClassVar[dict[str, Any]] = {}
    #: Steps per episode when collecting, unless the caller says otherwise.
    default_episode_steps: ClassVar[int] = 100
    has_task: ClassVar[bool] = False
    #: Params that only shape the scripted policy, not the physics or the pixels.
    policy_params: ClassVar[tuple[str, ...]] = ()
    #: Params that only say what counts as success (a radius, a rule), not the physics.
    task_params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, render_mode: str = "rgb_array", image_size: int = 64, **params: Any):
        if render_mode != "rgb_array":
            raise WorldError(f"render_mode={render_mode!r} is not supported; use 'rgb_array'")
        if not isinstance(image_size, int) or not 16 <= image_size <= 512:
            raise WorldError(f"image_size={image_size!r} must be an integer in [16, 512]")
        unknown = sorted(set(params) - set(self.default_params))
        if unknown:
            raise WorldError(
                f"unknown param(s) {unknown} for world {self.name!r}; "
                f"valid: {sorted(self.default_params)}"
            )
        self.render_mode = render_mode
        self.image_size = image_size
        self.params: dict[str, Any] = {**self.default_params, **params}
        self.observation_space = gym.spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)

    # -- hooks every world implements -------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def render(self) -> np.ndarray:
        raise NotImplementedError

    #: Names of the channels ``sensors()`` returns; empty for a world without instruments.
    sensor_names: ClassVar[tuple[str, ...]] = ()
    #: Keys of ``state()`` that the agent senses of its own body (an effector's position and
    #: velocity, joint angles): ``proprio()`` concatenates them. Empty: no proprioception.
    proprio_keys: ClassVar[tuple[str, ...]] = ()

    def sensors(self) -> np.ndarray:
        """One float32 reading per channel of ``sensor_names``: what instruments would record."""
        raise WorldError(f"world {self.name!r} has no sensors")

    def proprio(self) -> np.ndarray:
        """The agent's own body as a robot's encoders read it: ``state()[k]`` for k in
        ``proprio_keys``, flattened and concatenated, float32."""
        if not self.proprio_keys:
            raise WorldError(f"world {self.name!r} has no proprioception (no agent body)")
        s = self.state()
        return np.concatenate([np.asarray(s[k], np.float32).reshape(-1) for k in self.proprio_keys])

    def provenance(self) -> dict[str, Any]:
        """How the frames were made beyond the params (a GL backend...), for the data file."""
        return {}

    # -- shared helpers ---------------------------------------------------------------------
    def state_spec(self) -> list[tuple[str, tuple[int, ...]]]:
        """Names and shapes of ``state()``, in the order they are flattened into a vector."""
        return [(k, tuple(np.shape(v))) for k, v in self.state().items()]

    def state_vector(self) -> np.ndarray:
        """``state()`` flattened into one float32 vector, in ``state_spec()`` order."""
        parts = [np.asarray(v, np.float32).reshape(-1) for v in self.state().values()]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def random_action(self, rng: np.random.Generator) -> np.ndarray:
        """The ``random`` policy's action: uniform within the action bounds."""
        low, high = self.action_space.low, self.action_space.high
        return rng.uniform(low, high).astype(np.float32)

    def goal(self) -> Goal:
        raise self._no_task("goal")

    def _no_task(self, what: str) -> WorldError:
        return WorldError(f"world {self.name!r} has no task, so it has no {what}")

    def scripted_action(self, rng: np.random.Generator) -> np.ndarray:
        raise WorldError(f"world {self.name!r} has no scripted policy; use policy 'random'")

    def sim_state(self) -> dict[str, list[float]]:
        raise self._no_task("restorable sim state")

    def set_sim_state(self, s: dict[str, Any]) -> None:
        raise self._no_task("restorable sim state")

    def advance(self, action: Any) -> None:
        """One physics step without rendering; worlds with a cheaper path override it."""
        self.step(action)

    def goal_here(self) -> Goal:
        raise self._no_task("goal")

    def visibility_variables(self) -> dict[str, VisibleVariable]:
        """The variables latent visibility moves one at a time (exactly one is the reference)."""
        raise WorldError(
            f"world {self.name!r} lists no state variables to move; report the probe R² alone"
        )

    def valid_sim_state(self, s: dict[str, Any]) -> bool:
        """Whether ``s`` (a moved ``sim_state()``) is a state the world could be in."""
        return True

    def goal_distance(self, goal: Goal) -> float:
        raise self._no_task("goal distance")

    def success(self, goal: Goal) -> bool:
        raise WorldError(f"world {self.name!r} has no task, so success is undefined")

    def success_rule(self) -> dict[str, Any]:
        """What decides ``success(goal)``, with its settings (plan.json records it)."""
        return {"rule": "world", "doc": f"the {self.name} world's own threshold (its docstring)"}


def wrap(angle: float) -> float:
    """``angle`` (radians) wrapped to ``(-pi, pi]``."""
    return math.pi - (math.pi - angle) % math.tau


# -- param validation shared by the built-in worlds -----------------------------------------
def check_number(name: str, value: Any, low: float, high: float, integer: bool = False) -> Any:
    """``value`` as a Python float (or int) if it lies in ``[low, high]``; else a WorldError."""
    kind = "an integer" if integer else "a number"
    numeric = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if (
        isinstance(value, bool)
        or not isinstance(value, numeric)
        or not np.isfinite(value)
        or not low <= value <= high
    ):
        raise WorldError(f"{name}={value!r} must be {kind} in [{low}, {high}]")
    return int(value) if integer else float(value)


def check_color(name: str, value: Any) -> tuple[int, int, int]:
    """``value`` as an ``(r, g, b)`` tuple of ints in [0, 255]; else a WorldError."""
    try:
        rgb = tuple(int(c) for c in value)
        valid = len(rgb) == 3 and all(0 <= c <= 255 and c == v for c, v in zip(rgb, value))
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise WorldError(f"{name}={value!r} must be an (r, g, b) colour with ints in [0, 255]")
    return rgb
