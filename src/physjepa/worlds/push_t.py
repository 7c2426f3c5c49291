"""push-t: a round pusher pushes a T-shaped block on a table towards a target pose (Push-T).

Units: the table is ``[0, 512] x [0, 512]`` (table units, y up, origin bottom-left), walled at
its edges; the whole frame shows it (1 pixel = 8 units at 64 x 64). Time is counted in steps:
velocities are in table units (or radians) per step.

- action ``(2,)`` float32 in ``[-1, 1]``: the pusher's velocity, ``max_speed * action`` units
  per step, held through ``substeps`` physics sub-steps.
- ``state()``: ``agent_pos (2,)``, ``agent_vel (2,)`` (the displacement achieved in the last
  step), ``block_pos (2,)`` (the T's centre of mass), ``block_angle (1,)`` (radians, wrapped to
  ``(-pi, pi]``, 0 = bar on top), ``block_vel (2,)`` and ``block_ang_vel (1,)``, all float32.
- obs ``(image_size, image_size, 3)`` uint8: the block (a ``120 x 30`` bar on a ``30 x 90``
  stem, times ``block_scale``) and the pusher, a disc of ``agent_radius``; no target drawn.
- task: the goal is a block pose. ``goal_distance = pos_err + 20 * ang_err / (pi / 9)`` (units;
  both terms are 20 at the success threshold) and ``success`` is ``pos_err < 20`` and
  ``ang_err < pi / 9``, as in DINO-WM / LeWM (``ang_err`` the wrapped angle difference).

Physics is pymunk. The pusher is a heavy disc given the action's velocity at the start of each
step (contacts may slow it, so it cannot crush the block into a wall); the block has mass 1
and table friction (pymunk has none top-down): each sub-step its speed drops by
``friction`` units / step^2 and its spin by ``angular_friction`` rad / step^2, so it stops a
step or two after the pusher leaves it. Every step runs in a fresh pymunk space built from the
bodies whenever two shapes may touch during it (no contact cache nor collision order is carried
over; when none can touch the bodies just move), so a step depends on ``sim_state()`` alone and
``set_sim_state`` restores a trajectory bit for bit.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import pymunk

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

TABLE = 512.0
_WALL = 50.0  # thickness of the static walls outside the table
_AGENT_MASS = 20.0  # the block's mass is 1
_POS_TOL, _ANG_TOL = 20.0, math.pi / 9  # success thresholds (units, radians)
_SIM_KEYS = {"agent_pos": 2, "agent_vel": 2, "block_pos": 2, "block_angle": 1,
             "block_vel": 2, "block_ang_vel": 1}  # fmt: skip


class PushT(World):
    """Push a T-shaped block with a round pusher; the task is to bring it to a target pose."""

    name = "push-t"
    proprio_keys = ("agent_pos", "agent_vel")
    has_task = True
    default_episode_steps = 100
    default_params = {
        "block_scale": 1.0,  # size of the T relative to a 120 x 30 bar on a 30 x 90 stem
        "agent_radius": 15.0,
        "max_speed": 20.0,  # table units per step for a unit action component
        "friction": 15.0,  # block's linear deceleration while sliding, units / step^2
        "angular_friction": 0.3,  # block's angular deceleration while spinning, rad / step^2
        "substeps": 10,  # physics sub-steps per step
        "background": (255, 255, 255),
        "block_color": (119, 136, 153),
        "agent_color": (65, 105, 225),
    }

    def __init__(self, render_mode: str = "rgb_array", image_size: int = 64, **params: Any):
        super().__init__(render_mode, image_size, **params)
        self.params = p = self._validated(self.params)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        s, cog = p["block_scale"], 2850 / 70  # the centre of mass is 40.7 below the bar's top
        # The T's boxes (bar, stem) in the block frame, origin at the centre of mass: (x, y, half
        # width, half height); then the farthest point of the T from the origin.
        self._boxes = [(0.0, (cog - 15) * s, 60 * s, 15 * s), (0.0, (cog - 75) * s, 15 * s, 45 * s)]
        self._radius = math.hypot(15 * s, (120 - cog) * s)
        (_, yb, wb, hb), (x, y, w, h) = self._boxes
        self._outline = np.array([(-w, y - h), (w, y - h), (w, yb - hb), (wb, yb - hb),
                                  (wb, yb + hb), (-wb, yb + hb), (-wb, yb - hb),
                                  (-w, yb - hb)])  # fmt: skip
        quads = [_quad(*b) for b in self._boxes]
        self._draw_quads = [_quad(x, y + 15 * s, w, h + 15 * s), quads[0]]  # stem into the bar
        moment = sum(pymunk.moment_for_poly(m, q) for m, q in zip((4 / 7, 3 / 7), quads))
        self._block = pymunk.Body(1.0, moment)
        self._agent = pymunk.Body(_AGENT_MASS, math.inf)
        walls = pymunk.Body(body_type=pymunk.Body.STATIC)
        self._bodies = [walls, self._block, self._agent]
        self._shapes: list[pymunk.Shape] = []
        for a, b in [((0, 0), (1, 0)), ((1, 0), (1, 1)), ((1, 1), (0, 1)), ((0, 1), (0, 0))]:
            off = np.array([b[1] - a[1], a[0] - b[0]]) * _WALL  # outward, inner face on the edge
            ends = [tuple(np.array(e) * TABLE + off) for e in (a, b)]
            self._shapes.append(pymunk.Segment(walls, *ends, _WALL))
        self._shapes += [pymunk.Poly(self._block, q) for q in quads]
        self._shapes.append(pymunk.Circle(self._agent, p["agent_radius"]))
        for shape in self._shapes:
            shape.friction = 0.5
        self._static = Canvas(image_size, TABLE, p["background"])
        self._space: pymunk.Space | None = None
        self._agent_vel = (0.0, 0.0)
        self._plan: dict[str, Any] | None = None  # the scripted policy's current push

    @staticmethod
    def _validated(p: dict[str, Any]) -> dict[str, Any]:
        """Params normalised to plain Python values; a one-line WorldError on a bad one."""
        q = dict(p)
        q["substeps"] = check_number("substeps", p["substeps"], 1, 100, integer=True)
        for key, low, high in [
            ("block_scale", 0.5, 1.5),
            ("agent_radius", 5.0, 40.0),
            ("max_speed", 1.0, 60.0),
            ("friction", 0.5, 200.0),
            ("angular_friction", 0.01, 10.0),
        ]:
            q[key] = check_number(key, p[key], low, high)
        for key in ("background", "block_color", "agent_color"):
            q[key] = check_color(key, p[key])
        thinnest = min(q["agent_radius"], 15 * q["block_scale"])
        if q["max_speed"] / q["substeps"] > thinnest / 2:  # keeps the pusher from tunnelling
            raise WorldError(
                f"substeps={q['substeps']} is too few: max_speed/substeps must be <= "
                f"{thinnest / 2:.2f}, half the thinnest part of pusher or block"
            )
        return q

    # -- gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """New episode: the block at rest at a random pose in the central half of the table,
        the pusher at rest at a random position clear of it."""
        super().reset(seed=seed)
        self._fresh_space()
        self._plan, self._agent_vel = None, (0.0, 0.0)
        pos, angle = self._random_pose()
        r = self.params["agent_radius"]
        while True:  # terminates: the block covers a small part of the table
            agent = self.np_random.uniform(r, TABLE - r, 2)
            if self._block_distance(agent, pos, angle) > r + 5:
                break
        self._set_bodies(agent, pos, angle)
        return self.render(), {"state": self.state()}

    def step(self, action):
        """Move the pusher at ``max_speed * clip(action)`` for one step, pushing the block."""
        self.advance(action)
        return self.render(), 0.0, False, False, {"state": self.state()}

    def advance(self, action) -> None:
        """One physics step without rendering."""
        if self._space is None:
            raise WorldError("call reset() before step()")
        a = np.asarray(action, np.float64).reshape(-1)
        if a.shape != (2,) or not np.all(np.isfinite(a)):
            raise WorldError(f"action={action!r} must be 2 finite numbers in [-1, 1]")
        p, agent, block = self.params, self._agent, self._block
        vel = tuple(p["max_speed"] * min(max(c, -1.0), 1.0) for c in a.tolist())
        space = self._fresh_space() if self._may_touch(math.hypot(*vel)) else self._space
        h = 1.0 / p["substeps"]
        slow, spin_slow = p["friction"] * h, p["angular_friction"] * h
        x0, y0 = agent.position
        agent.velocity = vel
        for _ in range(p["substeps"]):
            vx, vy = block.velocity
            speed = math.hypot(vx, vy)
            if speed > 0.0:
                k = max(0.0, 1.0 - slow / speed)
                block.velocity = (vx * k, vy * k)
            w = block.angular_velocity
            if w != 0.0:
                block.angular_velocity = math.copysign(max(0.0, abs(w) - spin_slow), w)
            space.step(h)
        x1, y1 = agent.position
        self._agent_vel = (x1 - x0, y1 - y0)

    def render(self) -> np.ndarray:
        """The current frame, ``(image_size, image_size, 3)`` uint8."""
        if self._space is None:
            raise WorldError("call reset() before render()")
        return self._frame(self._block.position, self._block.angle, self._agent.position)

    # -- physics access and task ------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """Pusher and block, table units and radians (per step for velocities); float32."""
        s = self.sim_state()
        s["block_angle"] = [wrap(s["block_angle"][0])]
        return {k: np.array(v, np.float32) for k, v in s.items()}

    def sim_state(self) -> dict[str, list[float]]:
        """The full physical state (block angle unwrapped), plain floats: restorable exactly."""
        if self._space is None:
            raise WorldError("call reset() before state()")
        agent, block = self._agent, self._block
        return {
            "agent_pos": list(agent.position),
            "agent_vel": list(self._agent_vel),
            "block_pos": list(block.position),
            "block_angle": [block.angle],
            "block_vel": list(block.velocity),
            "block_ang_vel": [block.angular_velocity],
        }

    def set_sim_state(self, s: dict[str, Any]) -> None:
        """Restore a ``sim_state()``; the following steps are as if it had never been left."""
        if self._space is None:
            raise WorldError("call reset() before set_sim_state()")
        try:
            v = {k: [float(x) for x in s[k]] for k in _SIM_KEYS}
            valid = all(len(v[k]) == n and np.isfinite(v[k]).all() for k, n in _SIM_KEYS.items())
        except (KeyError, TypeError, ValueError):
            valid = False
        if not valid:
            raise WorldError(f"sim state must map {sorted(_SIM_KEYS)} to lists of finite floats")
        self._set_bodies(v["agent_pos"], v["block_pos"], v["block_angle"][0])
        self._block.velocity, self._block.angular_velocity = v["block_vel"], v["block_ang_vel"][0]
        self._agent_vel = tuple(v["agent_vel"])

    def set_state(self, block_pos: Any, block_angle: Any, agent_pos: Any = None) -> None:
        """Put the block at rest at a pose (and the pusher at ``agent_pos`` if given): the T
        must lie on the table, clear of the pusher."""
        pos = np.asarray(block_pos, np.float64).reshape(-1)
        angle = float(np.asarray(block_angle, np.float64).reshape(-1)[0])
        agent = np.asarray(self._agent.position if agent_pos is None else agent_pos, np.float64)
        corners = _to_table(self._outline, pos, angle)
        if (
            pos.shape != (2,)
            or not np.all((corners >= 0) & (corners <= TABLE))
            or self._block_distance(agent, pos, angle) < self.params["agent_radius"]
        ):
            raise WorldError(f"block pose {block_pos!r}, {block_angle!r} is off the table or "
                             "under the pusher")  # fmt: skip
        self._set_bodies(agent, pos, angle)

    def visibility_variables(self) -> dict[str, VisibleVariable]:
        """The pusher's position (the reference), the block's position (both over the
        512-unit table) and the block's angle (a full turn)."""
        return {
            "agent_pos": VisibleVariable("agent_pos", (0, 1), TABLE, reference=True),
            "block_pos": VisibleVariable("block_pos", (0, 1), TABLE),
            "block_angle": VisibleVariable("block_angle", (0,), 2 * math.pi),
        }

    def valid_sim_state(self, s: dict[str, Any]) -> bool:
        """The T on the table, the pusher on it too and clear of the T."""
        agent, pos = np.asarray(s["agent_pos"], float), np.asarray(s["block_pos"], float)
        angle, r = float(s["block_angle"][0]), self.params["agent_radius"]
        corners = _to_table(self._outline, pos, angle)
        return bool(
            np.all((corners >= 0) & (corners <= TABLE))
            and np.all((agent >= r) & (agent <= TABLE - r))
            and self._block_distance(agent, pos, angle) > r
        )

    def goal(self) -> Goal:
        """A random block pose like reset's, clear of the pusher; the state is left untouched."""
        agent = self._agent.position
        while True:
            pos, angle = self._random_pose()
            pos, angle = pos.astype(np.float32), np.float32(wrap(angle))  # as goal.state has it
            if self._block_distance(agent, pos, angle) > self.params["agent_radius"] + 5:
                break
        state = {"block_pos": pos, "block_angle": np.array([angle], np.float32)}
        return Goal(state=state, obs=self._frame(pos, float(angle), agent))

    def goal_here(self) -> Goal:
        """The block's current pose as a goal, with the current frame."""
        s = self.state()
        return Goal(state={k: s[k] for k in ("block_pos", "block_angle")}, obs=self.render())

    def goal_distance(self, goal: Goal) -> float:
        """``pos_err + 20 * ang_err / (pi / 9)``, table units: 20 + 20 at the success corner."""
        pos_err, ang_err = self._errors(goal)
        return pos_err + _POS_TOL * ang_err / _ANG_TOL

    def success(self, goal: Goal) -> bool:
        """Block within 20 units and pi / 9 radians of the goal pose."""
        pos_err, ang_err = self._errors(goal)
        return bool(pos_err < _POS_TOL and ang_err < _ANG_TOL)

    def scripted_action(self, rng: np.random.Generator) -> np.ndarray:
        """A noisy pusher: pick a point on the T's outline and a direction, go round the block
        to it (30 steps at most), push for 8 to 16 steps, pick again; Gaussian noise (std 0.3),
        clipped."""
        if self._space is None:
            raise WorldError("call reset() before scripted_action()")
        plan = self._plan = self._plan or self._new_plan(rng)
        centre, angle, agent = self._block.position, self._block.angle, self._agent.position
        start = _to_table([plan["start"]], centre, angle)[0]
        if plan["approach"] > 0 and math.dist(agent, start) > 6:
            plan["approach"] -= 1
            bearing = math.atan2(agent[1] - centre[1], agent[0] - centre[0])
            turn = wrap(math.atan2(start[1] - centre[1], start[0] - centre[0]) - bearing)
            if abs(turn) > 0.5:  # not in line yet: go round on a ring clear of the block
                ring = self._radius + self.params["agent_radius"] + 10
                start = _to_table([(ring, 0.0)], centre, bearing + np.clip(turn, -0.8, 0.8))[0]
            move = (start - agent) / self.params["max_speed"]
        else:
            plan["approach"], plan["steps"] = 0, plan["steps"] - 1
            move = _to_table([plan["push"]], (0.0, 0.0), angle)[0]
            if plan["steps"] == 0:
                self._plan = None
        move = move / max(1.0, float(np.hypot(*move)))
        return np.clip(move + rng.normal(0.0, 0.3, 2), -1.0, 1.0).astype(np.float32)

    # -- internals --------------------------------------------------------------------------
    def _fresh_space(self) -> pymunk.Space:
        """Move the bodies to a new pymunk space: no contact cache, canonical collision order."""
        if self._space is not None:
            self._space.remove(*self._shapes, *self._bodies)
        for body in self._bodies[1:]:  # drop the contact-correction velocity of the last step
            pymunk.Body.update_position(body, 0.0)
        self._space = space = pymunk.Space()
        space.iterations = 20
        space.add(*self._bodies, *self._shapes)
        return space

    def _may_touch(self, travel: float) -> bool:
        """Whether two shapes may touch in a step where the pusher moves ``travel`` units (a
        bound: the block stays within its bounding circle, moved by at most its speed)."""
        (ax, ay), (bx, by) = self._agent.position, self._block.position
        r = self.params["agent_radius"] + travel + 1.0
        reach = self._radius + self._block.velocity.length + 1.0
        return (
            math.hypot(ax - bx, ay - by) < r + reach
            or min(ax, ay, TABLE - ax, TABLE - ay) < r
            or min(bx, by, TABLE - bx, TABLE - by) < reach
        )

    def _new_plan(self, rng: np.random.Generator) -> dict[str, Any]:
        """A push in the block frame: where the pusher starts, its velocity, for how long."""
        r = self.params["agent_radius"]
        edges = np.roll(self._outline, -1, axis=0) - self._outline  # (8, 2), anticlockwise
        lengths = np.hypot(edges[:, 0], edges[:, 1])
        for _ in range(10):  # prefer a start point on the table
            k = rng.choice(len(edges), p=lengths / lengths.sum())
            normal = np.array([edges[k, 1], -edges[k, 0]]) / lengths[k]  # outward
            start = self._outline[k] + rng.uniform(0.1, 0.9) * edges[k] + (r + 8) * normal
            table = _to_table([start], self._block.position, self._block.angle)[0]
            if np.all((table > r) & (table < TABLE - r)):
                break
        push = _to_table([-rng.uniform(0.5, 1.0) * normal], (0, 0), rng.normal(0.0, 0.3))[0]
        return {"start": start, "push": push, "approach": 30, "steps": int(rng.integers(8, 17))}

    def _errors(self, goal: Goal) -> tuple[float, float]:
        """Position and absolute angle errors of the block to a goal pose."""
        if self._space is None:
            raise WorldError("call reset() before goal_distance() or success()")
        target = np.asarray(goal.state["block_pos"], np.float64).reshape(2)
        angle = float(np.asarray(goal.state["block_angle"], np.float64).reshape(-1)[0])
        return math.dist(self._block.position, target), abs(wrap(self._block.angle - angle))

    def _random_pose(self) -> tuple[np.ndarray, float]:
        """A block centre in the central half of the table and an angle, both uniform."""
        pos = self.np_random.uniform(TABLE / 4, 3 * TABLE / 4, 2)
        return pos, float(self.np_random.uniform(-math.pi, math.pi))

    def _block_distance(self, point: Any, pos: Any, angle: float) -> float:
        """Distance from ``point`` to the T at pose ``(pos, angle)``; 0 inside it."""
        dx, dy = point[0] - pos[0], point[1] - pos[1]
        c, s = math.cos(angle), math.sin(angle)
        x, y = c * dx + s * dy, c * dy - s * dx  # in the block frame
        return min(
            math.hypot(max(abs(x - bx) - w, 0.0), max(abs(y - by) - h, 0.0))
            for bx, by, w, h in self._boxes
        )

    def _set_bodies(self, agent: Any, pos: Any, angle: float) -> None:
        """Pusher and block at rest at the given places."""
        self._agent.position, self._agent.velocity = (float(agent[0]), float(agent[1])), (0, 0)
        self._block.position, self._block.velocity = (float(pos[0]), float(pos[1])), (0, 0)
        self._block.angle, self._block.angular_velocity = float(angle), 0.0

    def _frame(self, pos: Any, angle: float, agent: Any) -> np.ndarray:
        canvas = self._static.copy()
        pos, agent = (float(pos[0]), float(pos[1])), (float(agent[0]), float(agent[1]))
        c, s, color = math.cos(angle), math.sin(angle), self.params["block_color"]
        for quad in self._draw_quads:
            canvas.polygon(
                [(pos[0] + c * x - s * y, pos[1] + s * x + c * y) for x, y in quad], color
            )
        canvas.circle(agent, self.params["agent_radius"], self.params["agent_color"])
        return canvas.to_uint8()


def _quad(x: float, y: float, w: float, h: float) -> list[tuple[float, float]]:
    """The corners of the box centred on ``(x, y)`` with half sizes ``(w, h)``, anticlockwise."""
    return [(x - w, y - h), (x + w, y - h), (x + w, y + h), (x - w, y + h)]


def _to_table(points: Any, pos: Any, angle: float) -> np.ndarray:
    """``points (n, 2)`` from the frame at pose ``(pos, angle)`` to table coordinates."""
    c, s = math.cos(angle), math.sin(angle)
    return np.asarray(points, np.float64) @ np.array([[c, s], [-s, c]]) + np.asarray(pos, float)
