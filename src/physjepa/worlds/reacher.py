"""reacher: a two-link planar arm; the task is to bring its fingertip to a goal position.

Units: the arena is ``[0, 1] x [0, 1]`` (arena units, y up, origin bottom-left) and the whole
frame shows it; the arm's base is pinned at its centre. Angles are in radians, anticlockwise,
joint 1 from the x axis and joint 2 relative to link 1 (unbounded; wrapped in ``state()``).
Time is counted in steps: velocities are in radians per step.

- action ``(2,)`` float32 in ``[-1, 1]``: the joint torques. Each joint follows
  ``theta'' = torque_gain * action - damping * theta'`` (no coupling, no gravity), integrated
  by semi-implicit Euler over ``substeps`` sub-steps, with ``|theta'| <= max_joint_vel``.
- ``state()``: ``joint_angle (2,)`` wrapped to ``(-pi, pi]``, ``joint_vel (2,)`` and
  ``fingertip (2,)`` in arena units, all float32.
- obs ``(image_size, image_size, 3)`` uint8: the links (capsules of width ``link_width``) and
  the fingertip (a disc of ``fingertip_radius``); no target is drawn (goals are images).
- task: ``goal_distance`` is the fingertip distance to the goal's, arena units; ``success``
  when it is below ``success_radius``.

At the defaults a full torque turns a joint at up to 0.15 rad per step, so the fingertip
crosses half the arena in about ten steps, and with zero torque the speed falls by a factor 3
per step. Motion is deterministic and exact given ``sim_state()`` (raw angles, velocities).
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from physjepa.worlds.base import (
    Goal,
    VisibleVariable,
    World,
    WorldError,
    check_color,
    check_number,
    wrap,
)
from physjepa.worlds.render import Canvas

_BASE = (0.5, 0.5)


class Reacher(World):
    """A torque-driven two-link arm; the task is to reach a fingertip position."""

    name = "reacher"
    proprio_keys = ("joint_angle", "joint_vel")
    has_task = True
    default_episode_steps = 100
    default_params = {
        "link1_length": 0.2,  # base to elbow, arena units
        "link2_length": 0.2,  # elbow to fingertip
        "torque_gain": 0.15,  # joint acceleration for a unit action, rad / step^2
        "damping": 1.0,  # joint velocity damping, 1 / step
        "max_joint_vel": 0.25,  # rad / step
        "substeps": 4,
        "link_width": 0.04,
        "fingertip_radius": 0.03,
        "arm_color": (200, 200, 210),
        "fingertip_color": (240, 90, 60),
        "background": (20, 20, 30),
        "success_radius": 0.04,
    }

    def __init__(self, render_mode: str = "rgb_array", image_size: int = 64, **params: Any):
        super().__init__(render_mode, image_size, **params)
        self.params = self._validated(self.params)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._static = Canvas(image_size, 1.0, self.params["background"])
        self._angle: list[float] | None = None  # raw joint angles
        self._vel = [0.0, 0.0]
        self._plan: tuple[np.ndarray, int] | None = None  # scripted target angles, steps left

    @staticmethod
    def _validated(p: dict[str, Any]) -> dict[str, Any]:
        """Params normalised to plain Python values; a one-line WorldError on a bad one."""
        q = dict(p)
        q["substeps"] = check_number("substeps", p["substeps"], 1, 100, integer=True)
        for key, low, high in [
            ("link1_length", 0.05, 0.3),
            ("link2_length", 0.05, 0.3),
            ("torque_gain", 0.001, 2.0),
            ("damping", 0.0, 10.0),
            ("max_joint_vel", 0.001, 2.0),
            ("link_width", 0.005, 0.1),
            ("fingertip_radius", 0.005, 0.1),
            ("success_radius", 0.001, 0.5),
        ]:
            q[key] = check_number(key, p[key], low, high)
        if q["damping"] / q["substeps"] >= 1:
            raise WorldError(
                f"substeps={q['substeps']} is too few: damping/substeps must be below 1"
            )
        for key in ("arm_color", "fingertip_color", "background"):
            q[key] = check_color(key, p[key])
        return q

    # -- gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """New episode: uniformly random joint angles, at rest."""
        super().reset(seed=seed)
        self._angle = [float(x) for x in self.np_random.uniform(-math.pi, math.pi, 2)]
        self._vel, self._plan = [0.0, 0.0], None
        return self.render(), {"state": self.state()}

    def step(self, action):
        """Apply the torques ``clip(action)`` for one step."""
        self.advance(action)
        return self.render(), 0.0, False, False, {"state": self.state()}

    def advance(self, action) -> None:
        """One physics step without rendering."""
        if self._angle is None:
            raise WorldError("call reset() before step()")
        a = np.asarray(action, np.float64).reshape(-1)
        if a.shape != (2,) or not np.all(np.isfinite(a)):
            raise WorldError(f"action={action!r} must be 2 finite numbers in [-1, 1]")
        p = self.params
        h, cap, damping = 1.0 / p["substeps"], p["max_joint_vel"], p["damping"]
        for j, torque in enumerate(a.tolist()):
            acc = p["torque_gain"] * min(max(torque, -1.0), 1.0)
            theta, vel = self._angle[j], self._vel[j]
            for _ in range(p["substeps"]):
                vel = min(max(vel + h * (acc - damping * vel), -cap), cap)
                theta += h * vel
            self._angle[j], self._vel[j] = theta, vel

    def render(self) -> np.ndarray:
        """The current frame, ``(image_size, image_size, 3)`` uint8."""
        if self._angle is None:
            raise WorldError("call reset() before render()")
        return self._frame(self._angle)

    # -- physics access and task ------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """``joint_angle (2,)`` rad, ``joint_vel (2,)`` rad / step, ``fingertip (2,)`` units."""
        if self._angle is None:
            raise WorldError("call reset() before state()")
        return {
            "joint_angle": np.array([wrap(x) for x in self._angle], np.float32),
            "joint_vel": np.array(self._vel, np.float32),
            "fingertip": np.array(self.forward(self._angle)[1], np.float32),
        }

    def forward(self, angle: Any) -> tuple[tuple[float, float], tuple[float, float]]:
        """Elbow and fingertip positions (arena units) for joint angles ``angle (2,)``."""
        l1, l2 = self.params["link1_length"], self.params["link2_length"]
        a1, a12 = float(angle[0]), float(angle[0]) + float(angle[1])
        elbow = (_BASE[0] + l1 * math.cos(a1), _BASE[1] + l1 * math.sin(a1))
        return elbow, (elbow[0] + l2 * math.cos(a12), elbow[1] + l2 * math.sin(a12))

    def sim_state(self) -> dict[str, list[float]]:
        """Raw joint angles and velocities, plain floats: restorable exactly."""
        if self._angle is None:
            raise WorldError("call reset() before sim_state()")
        return {"joint_angle": list(self._angle), "joint_vel": list(self._vel)}

    def set_sim_state(self, s: dict[str, Any]) -> None:
        """Restore a ``sim_state()``; the following steps are as if it had never been left."""
        try:
            angle, vel = [float(x) for x in s["joint_angle"]], [float(x) for x in s["joint_vel"]]
            valid = len(angle) == len(vel) == 2 and all(map(math.isfinite, angle + vel))
        except (KeyError, TypeError, ValueError):
            valid = False
        if not valid:
            raise WorldError("sim state must map 'joint_angle' and 'joint_vel' to 2 finite floats")
        self._angle, self._vel = angle, vel

    def visibility_variables(self) -> dict[str, VisibleVariable]:
        """The two joint angles (a full turn each). The shoulder is the reference: both joints
        take a torque, but the shoulder carries the whole arm (the fingertip moves most per
        radian of it), so "as visible as the shoulder" is the bar the elbow must meet."""
        return {
            "shoulder": VisibleVariable("joint_angle", (0,), 2 * math.pi, reference=True),
            "elbow": VisibleVariable("joint_angle", (1,), 2 * math.pi),
        }

    def set_state(
        self, joint_angle: Any, joint_vel: Any = (0.0, 0.0), fingertip: Any = None
    ) -> None:
        """Put the arm at ``joint_angle (2,)``; ``fingertip``, if given, must match it."""
        angle = np.asarray(joint_angle, np.float64).reshape(-1)
        vel = np.asarray(joint_vel, np.float64).reshape(-1)
        if angle.shape != (2,) or vel.shape != (2,) or not np.all(np.isfinite([*angle, *vel])):
            raise WorldError(f"joint_angle={joint_angle!r} and joint_vel must be 2 finite numbers")
        tip = self.forward(angle)[1]
        if fingertip is not None and math.dist(tip, np.asarray(fingertip, np.float64)) > 1e-4:
            raise WorldError(f"fingertip={fingertip!r} does not match joint_angle={joint_angle!r}")
        self._angle, self._vel = angle.tolist(), vel.tolist()

    def goal(self) -> Goal:
        """Uniformly random joint angles as a goal; the current state is left untouched."""
        angle = self.np_random.uniform(-math.pi, math.pi, 2).astype(np.float32)  # as stored
        state = {"joint_angle": angle, "fingertip": np.array(self.forward(angle)[1], np.float32)}
        return Goal(state=state, obs=self._frame(angle))

    def goal_here(self) -> Goal:
        """The current configuration as a goal, with the current frame."""
        s = self.state()
        return Goal(state={k: s[k] for k in ("joint_angle", "fingertip")}, obs=self.render())

    def goal_distance(self, goal: Goal) -> float:
        """Fingertip distance to the goal's fingertip, arena units."""
        if self._angle is None:
            raise WorldError("call reset() before goal_distance()")
        target = np.asarray(goal.state["fingertip"], np.float64).reshape(2)
        return math.dist(self.forward(self._angle)[1], target)

    def success(self, goal: Goal) -> bool:
        """True when the fingertip is within ``success_radius`` of the goal's."""
        return self.goal_distance(goal) < self.params["success_radius"]

    def scripted_action(self, rng: np.random.Generator) -> np.ndarray:
        """A noisy PD controller towards random joint angles, re-drawn every 15 to 25 steps;
        Gaussian noise (std 0.3), clipped."""
        if self._angle is None:
            raise WorldError("call reset() before scripted_action()")
        if self._plan is None or self._plan[1] <= 0:
            self._plan = (rng.uniform(-math.pi, math.pi, 2), int(rng.integers(15, 26)))
        target, left = self._plan
        self._plan = (target, left - 1)
        error = np.array([wrap(t - x) for t, x in zip(target, self._angle)])
        torque = 3.0 * error - 6.0 * np.array(self._vel) + rng.normal(0.0, 0.3, 2)
        return np.clip(torque, -1.0, 1.0).astype(np.float32)

    # -- internals --------------------------------------------------------------------------
    def _frame(self, angle: Any) -> np.ndarray:
        p = self.params
        elbow, tip = self.forward(angle)
        canvas = self._static.copy()
        canvas.capsule(_BASE, elbow, p["link_width"] / 2, p["arm_color"])
        canvas.capsule(elbow, tip, p["link_width"] / 2, p["arm_color"])
        canvas.circle(tip, p["fingertip_radius"], p["fingertip_color"])
        return canvas.to_uint8()
