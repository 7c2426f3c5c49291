"""two-room: a point agent in a square arena split by a wall with one door (PLDM's navigation).

Units: the arena is ``[0, 1] x [0, 1]`` (arena units, y up, origin bottom-left); the whole
frame shows it. A vertical wall of thickness ``wall_thickness`` centred on ``x = wall_x``
splits it in two rooms, except for a door of width ``door_width`` centred on ``y = door_y``.

- action ``(2,)`` float32 in ``[-1, 1]``: the wanted displacement this step is
  ``max_speed * action`` (arena units per step).
- ``state()``: ``agent_pos (2,)`` in arena units and ``agent_vel (2,)``, the displacement
  actually achieved in the last step (arena units per step), both float32.
- obs ``(image_size, image_size, 3)`` uint8: walls and the agent, a disc of ``agent_radius``.
- task: ``goal()`` samples a free position; ``goal_distance(goal)`` is the agent's distance
  to it (arena units); ``success(goal)`` when that is below ``success_radius``.
- ``scripted_action``: head for a random waypoint (through the door when it lies in the other
  room) at full speed with Gaussian noise (std ``script_noise``), a new waypoint when reached.

Motion is exact and deterministic: the agent's centre sweeps the straight segment of its
displacement against the walls grown by ``agent_radius`` (axis-aligned boxes, so the corners
are square), stops at the first face it meets and slides along it with the rest of the
displacement. It can cross the wall only through the door, however fast it moves.
"""

from __future__ import annotations

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
)
from physjepa.worlds.render import Canvas

_FAR = 10.0  # "infinity" for the boxes that stand for the outer walls


class TwoRoom(World):
    """Navigate a disc between two rooms joined by a door; the task is to reach a goal."""

    name = "two-room"
    proprio_keys = ("agent_pos", "agent_vel")
    has_task = True
    policy_params = ("script_noise",)
    default_episode_steps = 100
    default_params = {
        "wall_x": 0.5,  # centre of the inner wall
        "wall_thickness": 0.04,
        "door_y": 0.5,  # centre of the door
        "door_width": 0.2,
        "agent_radius": 0.035,
        "max_speed": 0.05,  # arena units per step for a unit action component
        "agent_color": (240, 90, 60),
        "wall_color": (200, 200, 200),
        "background": (20, 20, 30),
        "success_radius": 0.05,
        "script_noise": 0.3,  # std of the scripted policy's Gaussian action noise
    }

    def __init__(self, render_mode: str = "rgb_array", image_size: int = 64, **params: Any):
        super().__init__(render_mode, image_size, **params)
        self.params = p = self._validated(self.params)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        half, r = p["wall_thickness"] / 2, p["agent_radius"]
        lo, hi = p["door_y"] - p["door_width"] / 2, p["door_y"] + p["door_width"] / 2
        self._wall_rects = [  # (lower-left, upper-right) corners of the two wall halves
            ((p["wall_x"] - half, 0.0), (p["wall_x"] + half, lo)),
            ((p["wall_x"] - half, hi), (p["wall_x"] + half, 1.0)),
        ]
        # Obstacles for the agent's centre, as boxes (x0, y0, x1, y1): the wall halves grown
        # by the radius (first two), then the outer walls.
        x0, x1 = p["wall_x"] - half - r, p["wall_x"] + half + r
        self._boxes = np.array(
            [
                (x0, -_FAR, x1, lo + r),
                (x0, hi - r, x1, _FAR),
                (-_FAR, -_FAR, r, _FAR),
                (1 - r, -_FAR, _FAR, _FAR),
                (-_FAR, -_FAR, _FAR, r),
                (-_FAR, 1 - r, _FAR, _FAR),
            ]
        )
        self._static = Canvas(image_size, 1.0, p["background"])  # background + walls
        for a, b in self._wall_rects:
            self._static.rect(a, b, p["wall_color"])
        self._pos: np.ndarray | None = None  # (2,) float64
        self._vel = np.zeros(2)
        self._waypoint: np.ndarray | None = None  # the scripted policy's current target
        self._direct, self._wp_age = False, 0  # head straight at it (into walls); its age

    @staticmethod
    def _validated(p: dict[str, Any]) -> dict[str, Any]:
        """Params normalised to plain Python values; a one-line WorldError on a bad one."""
        q = dict(p)
        for key, low, high in [
            ("wall_x", 0.2, 0.8),
            ("wall_thickness", 0.005, 0.2),
            ("agent_radius", 0.005, 0.1),
            ("max_speed", 0.001, 0.2),
            ("success_radius", 0.001, 0.5),
            ("door_width", 0.0, 0.8),
            ("script_noise", 0.0, 2.0),
        ]:
            q[key] = check_number(key, p[key], low, high)
        min_door = 2 * q["agent_radius"] + 0.005
        if q["door_width"] < min_door:
            raise WorldError(f"door_width={p['door_width']!r} must be in [{min_door}, 0.8]")
        half_door = q["door_width"] / 2
        q["door_y"] = check_number("door_y", p["door_y"], half_door, 1 - half_door)
        room = min(q["wall_x"], 1 - q["wall_x"]) - q["wall_thickness"] / 2
        if room < 2 * q["agent_radius"] + 0.01:
            raise WorldError(
                f"wall_x={q['wall_x']} leaves a room of width {room:.3f}, too narrow for "
                f"agent_radius={q['agent_radius']}"
            )
        for key in ("agent_color", "wall_color", "background"):
            q[key] = check_color(key, p[key])
        return q

    # -- gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """New episode: the agent at a random free position, at rest."""
        super().reset(seed=seed)
        self._pos, self._vel = self._free_position(), np.zeros(2)
        self._waypoint, self._wp_age = None, 0
        return self.render(), {"state": self.state()}

    def step(self, action):
        """Move by ``max_speed * clip(action)``, stopping at and sliding along walls."""
        self.advance(action)
        return self.render(), 0.0, False, False, {"state": self.state()}

    def advance(self, action) -> None:
        """``step`` without rendering."""
        if self._pos is None:
            raise WorldError("call reset() before step()")
        a = np.asarray(action, np.float64).reshape(-1)
        if a.shape != (2,) or not np.all(np.isfinite(a)):
            raise WorldError(f"action={action!r} must be 2 finite numbers in [-1, 1]")
        old = self._pos
        self._pos = self._move(old, self.params["max_speed"] * np.clip(a, -1.0, 1.0))
        self._vel = self._pos - old

    def render(self) -> np.ndarray:
        """The current frame, ``(image_size, image_size, 3)`` uint8."""
        if self._pos is None:
            raise WorldError("call reset() before render()")
        return self._frame(self._pos)

    # -- physics access and task ------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """``agent_pos (2,)`` arena units, ``agent_vel (2,)`` arena units per step."""
        if self._pos is None:
            raise WorldError("call reset() before state()")
        return {
            "agent_pos": self._pos.astype(np.float32),
            "agent_vel": self._vel.astype(np.float32),
        }

    def set_state(self, agent_pos: Any, agent_vel: Any = (0.0, 0.0)) -> None:
        """Put the agent at ``agent_pos (2,)``, which must be free (not in a wall)."""
        try:
            pos = np.asarray(agent_pos, np.float64).reshape(-1)
            vel = np.asarray(agent_vel, np.float64).reshape(-1)
        except (TypeError, ValueError):
            pos = vel = np.zeros(0)
        if pos.shape != (2,) or not np.all(np.isfinite(pos)) or not self._is_free(pos):
            raise WorldError(f"agent_pos={agent_pos!r} is not a free position in the arena")
        if vel.shape != (2,) or not np.all(np.isfinite(vel)):
            raise WorldError(f"agent_vel={agent_vel!r} must be 2 finite numbers")
        self._pos, self._vel = pos.copy(), vel.copy()

    def sim_state(self) -> dict[str, list[float]]:
        """The full restorable state: ``agent_pos`` and ``agent_vel`` as plain floats."""
        self.state()  # raises before reset
        return {"agent_pos": self._pos.tolist(), "agent_vel": self._vel.tolist()}

    def set_sim_state(self, s: dict[str, Any]) -> None:
        """Restore a ``sim_state()``; a missing key or a position inside a wall is refused."""
        missing = {"agent_pos", "agent_vel"} - set(s)
        if missing:
            raise WorldError(f"sim state lacks {sorted(missing)}; it needs agent_pos, agent_vel")
        self.set_state(s["agent_pos"], s["agent_vel"])

    def visibility_variables(self) -> dict[str, VisibleVariable]:
        """The agent's position (the arena is 1 unit wide); it is the reference."""
        return {"agent_pos": VisibleVariable("agent_pos", (0, 1), 1.0, reference=True)}

    def valid_sim_state(self, s: dict[str, Any]) -> bool:
        """The agent must be at a free position (not in a wall, inside the arena)."""
        pos = np.asarray(s["agent_pos"], np.float64).reshape(-1)
        return pos.shape == (2,) and bool(self._is_free(pos))

    def scripted_action(self, rng: np.random.Generator) -> np.ndarray:
        """Full speed towards a waypoint, plus Gaussian noise. A third of the waypoints are
        approached in a straight line, into and along the walls (so a model sees walls block);
        the others through the door. A new waypoint when reached or after 20 steps."""
        if self._pos is None:
            raise WorldError("call reset() before scripted_action()")
        p = self.params
        self._wp_age += 1
        if (
            self._waypoint is None
            or self._wp_age > 20
            or np.hypot(*(self._waypoint - self._pos)) < p["max_speed"]
        ):
            r = p["agent_radius"]
            while True:
                self._waypoint = rng.uniform(r, 1 - r, 2)
                if self._is_free(self._waypoint):
                    break
            self._direct, self._wp_age = bool(rng.random() < 1 / 3), 0
        target = self._waypoint
        crossing = (self._pos[0] - p["wall_x"]) * (target[0] - p["wall_x"]) < 0
        if crossing and not self._direct:
            side = np.sign(self._pos[0] - p["wall_x"])
            door = np.array(
                [p["wall_x"] + side * (p["wall_thickness"] + p["agent_radius"]), p["door_y"]]
            )
            in_door = abs(self._pos[1] - p["door_y"]) < p["door_width"] / 2 - p["agent_radius"]
            target = (
                door
                if not in_door or abs(self._pos[0] - door[0]) > p["max_speed"]
                else (np.array([p["wall_x"] - side * 2 * p["wall_thickness"], p["door_y"]]))
            )
        d = (target - self._pos) / p["max_speed"]
        a = d / max(1.0, float(np.abs(d).max())) + rng.normal(0.0, p["script_noise"], 2)
        return np.clip(a, -1.0, 1.0).astype(np.float32)

    def goal_here(self) -> Goal:
        """The agent's current position as a goal."""
        st = self.state()
        return Goal(state={"agent_pos": st["agent_pos"]}, obs=self.render())

    def goal_distance(self, goal: Goal) -> float:
        """Distance from the agent to the goal position, arena units."""
        if self._pos is None:
            raise WorldError("call reset() before goal_distance()")
        return float(np.hypot(*(self._pos - np.asarray(goal.state["agent_pos"], np.float64))))

    def goal(self) -> Goal:
        """A random free target in either room; the current state is left untouched."""
        pos = self._free_position().astype(np.float32).astype(np.float64)  # as goal.state has it
        if not self._is_free(pos):  # float32 rounding put it a hair inside a wall: try again
            return self.goal()
        return Goal(state={"agent_pos": pos.astype(np.float32)}, obs=self._frame(pos))

    def success(self, goal: Goal) -> bool:
        """True when the agent is closer than ``success_radius`` to the goal position."""
        return self.goal_distance(goal) < self.params["success_radius"]

    # -- internals --------------------------------------------------------------------------
    def _frame(self, pos: np.ndarray) -> np.ndarray:
        canvas = self._static.copy()
        canvas.circle(pos, self.params["agent_radius"], self.params["agent_color"])
        return canvas.to_uint8()

    def _is_free(self, pos: np.ndarray) -> bool:
        """Whether the centre ``pos`` is outside every box (touching a face is allowed)."""
        b = self._boxes
        inside = (b[:, 0] < pos[0]) & (pos[0] < b[:, 2]) & (b[:, 1] < pos[1]) & (pos[1] < b[:, 3])
        return not inside.any()

    def _free_position(self) -> np.ndarray:
        r = self.params["agent_radius"]
        while True:  # terminates: the free area is a large fraction of the arena
            pos = self.np_random.uniform(r, 1 - r, 2)
            if self._is_free(pos):
                return pos

    def _move(self, pos: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Sweep ``pos`` along ``d``; at each face hit, keep the tangential rest (slide)."""
        p, d = pos.copy(), d.copy()
        for _ in range(3):  # each hit zeroes one axis of d, so two hits at most
            t_hit, axis, face = 1.0, -1, 0.0
            for box in self._boxes:
                enter, exit_, k, f = _sweep(p, d, box)
                if 0.0 <= enter < exit_ and exit_ > 0.0 and enter < t_hit:
                    t_hit, axis, face = enter, k, f
            p = p + d * t_hit
            if axis < 0:
                break
            p[axis] = face  # exactly on the face, never a rounding error inside the box
            d = d * (1.0 - t_hit)
            d[axis] = 0.0
        r = self.params["agent_radius"]
        p = np.clip(p, r, 1 - r)
        return p if self._is_free(p) else pos  # a guard against rounding at exact corners


def _sweep(p: np.ndarray, d: np.ndarray, box: np.ndarray) -> tuple[float, float, int, float]:
    """When ``p + t d`` is strictly inside ``box``: ``(enter, exit, axis, face)``, where ``axis``
    and ``face`` name the face crossed on entry; ``enter = exit = inf`` if never."""
    enter, exit_, axis, face = -np.inf, np.inf, -1, 0.0
    for k in range(2):
        lo, hi = box[k], box[k + 2]
        if d[k] == 0.0:
            if not lo < p[k] < hi:
                return np.inf, np.inf, -1, 0.0
            continue
        near, far = (lo, hi) if d[k] > 0 else (hi, lo)
        t0, t1 = (near - p[k]) / d[k], (far - p[k]) / d[k]
        if t0 > enter:
            enter, axis, face = t0, k, near
        exit_ = min(exit_, t1)
    return enter, exit_, axis, face
