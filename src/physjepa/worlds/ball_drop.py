"""ball-drop: one to three balls fall, bounce and collide in a closed box with a fixed peg.

Units: the arena is the square ``[0, 1] x [0, 1]`` (arena units, y up, origin bottom-left);
time is in seconds, one ``step`` lasts ``dt`` seconds. The whole frame shows the arena.

- action ``(2,)`` float32 in ``[-1, 1]``: an impulse ``push_strength * action`` given to the
  first ball at the start of each step, so its velocity changes by
  ``push_strength * action / mass``. A zero action gives a passive video.
- ``state()``: ``ball_pos (n_balls, 2)`` in arena units and ``ball_vel (n_balls, 2)`` in
  arena units per second, both float32, in that order.
- obs ``(image_size, image_size, 3)`` uint8: the balls (anti-aliased) and the peg.

Physics is pymunk with ``substeps`` sub-steps per step; ball speed is capped at ``max_speed``
and the params are checked so that a ball moves at most half its radius per sub-step, so it
can never tunnel through a wall, the peg or another ball (contacts are resolved after each
sub-step, so shapes may overlap by up to one sub-step's travel, ``max_speed * dt / substeps``,
0.0075 arena units or half a pixel at the defaults). Walls and peg have elasticity and
friction 1, so a ball bounces off them with exactly ``restitution`` and ``friction`` (pymunk
multiplies the two shapes' coefficients; two balls meet with ``restitution ** 2``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pymunk

from physjepa.worlds.base import World, WorldError, check_color, check_number
from physjepa.worlds.render import Canvas

_WALL = 0.5  # thickness of the static walls outside the arena (arena units)


class BallDrop(World):
    """Balls under gravity in a closed box with an optional round obstacle (the "peg")."""

    name = "ball-drop"
    default_episode_steps = 100
    default_params = {
        "n_balls": 1,  # 1 to 3
        "gravity": 1.0,  # arena units / s^2, pointing down
        "restitution": 0.8,  # bounce coefficient against walls and peg
        "mass": 1.0,  # of each ball; only pushes and ball-ball collisions reveal it
        "radius": 1 / 14,  # of each ball, arena units
        "friction": 0.3,  # Coulomb friction against walls and peg
        "ball_colors": [(230, 70, 60), (70, 130, 240), (90, 200, 90)],  # one per ball
        "background": (25, 25, 35),
        "obstacle": True,  # whether the peg exists
        "obstacle_pos": (0.5, 0.35),  # peg centre, arena units
        "obstacle_radius": 0.09,
        "obstacle_color": (150, 150, 160),
        "push_strength": 0.4,  # impulse per unit of action (mass * arena units / s)
        "init_speed": 0.5,  # initial velocity components are uniform in [-init_speed, init_speed]
        "max_speed": 1.5,  # ball speed cap, arena units / s
        "dt": 0.05,  # seconds per step
        "substeps": 10,  # physics sub-steps per step
    }

    def __init__(self, render_mode: str = "rgb_array", image_size: int = 64, **params: Any):
        super().__init__(render_mode, image_size, **params)
        self.params = p = self._validated(self.params)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._colors = p["ball_colors"][: p["n_balls"]]
        self._static = Canvas(image_size, 1.0, p["background"])  # background + peg, drawn once
        if p["obstacle"]:
            self._static.circle(p["obstacle_pos"], p["obstacle_radius"], p["obstacle_color"])
        self._space: pymunk.Space | None = None
        self._balls: list[pymunk.Body] = []

    @staticmethod
    def _validated(p: dict[str, Any]) -> dict[str, Any]:
        """Params normalised to plain Python values; a one-line WorldError on a bad one."""
        q = dict(p)
        q["n_balls"] = check_number("n_balls", p["n_balls"], 1, 3, integer=True)
        q["substeps"] = check_number("substeps", p["substeps"], 1, 200, integer=True)
        for key, low, high in [
            ("gravity", 0.0, 20.0),
            ("restitution", 0.0, 1.0),
            ("mass", 0.01, 100.0),
            ("radius", 0.02, 0.2),
            ("friction", 0.0, 2.0),
            ("obstacle_radius", 0.02, 0.3),
            ("push_strength", 0.0, 20.0),
            ("max_speed", 0.1, 20.0),
            ("dt", 0.001, 0.5),
        ]:
            q[key] = check_number(key, p[key], low, high)
        q["init_speed"] = check_number("init_speed", p["init_speed"], 0.0, q["max_speed"])
        if not isinstance(p["obstacle"], bool | np.bool_):
            raise WorldError(f"obstacle={p['obstacle']!r} must be True or False")
        q["obstacle"] = bool(p["obstacle"])
        pos = np.asarray(p["obstacle_pos"], dtype=object).reshape(-1)
        if pos.shape != (2,):
            raise WorldError(f"obstacle_pos={p['obstacle_pos']!r} must be (x, y) in [0, 1]^2")
        q["obstacle_pos"] = tuple(check_number("obstacle_pos", c, 0.0, 1.0) for c in pos)
        for key in ("background", "obstacle_color"):
            q[key] = check_color(key, p[key])
        colors = [check_color("ball_colors", c) for c in p["ball_colors"]]
        if len(colors) < q["n_balls"] or len(set(colors[: q["n_balls"]])) < q["n_balls"]:
            raise WorldError(
                f"ball_colors={p['ball_colors']!r} must hold {q['n_balls']} distinct colours"
            )
        q["ball_colors"] = colors
        per_substep = q["max_speed"] * q["dt"] / q["substeps"]
        if per_substep > 0.5 * q["radius"]:  # keeps balls from tunnelling
            raise WorldError(
                f"substeps={q['substeps']} is too few: max_speed*dt/substeps={per_substep:.4f} "
                f"must be <= radius/2={q['radius'] / 2:.4f}"
            )
        return q

    # -- gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """New episode: balls at random free positions with random velocities."""
        super().reset(seed=seed)
        p = self.params
        self._space = space = pymunk.Space()  # fresh space: no contact cache between episodes
        space.gravity = (0.0, -p["gravity"])
        space.iterations = 20
        space.collision_slop = 1e-4  # pymunk's default 0.1 is tuned for pixel units
        for a, b in [((0, 0), (1, 0)), ((1, 0), (1, 1)), ((1, 1), (0, 1)), ((0, 1), (0, 0))]:
            # A thick segment whose inner surface lies exactly on the arena border.
            normal = np.array([b[1] - a[1], a[0] - b[0]], float)  # outward for this winding
            off = normal * _WALL
            seg = pymunk.Segment(space.static_body, tuple(a + off), tuple(b + off), _WALL)
            seg.elasticity, seg.friction = 1.0, 1.0
            space.add(seg)
        if p["obstacle"]:
            peg = pymunk.Circle(space.static_body, p["obstacle_radius"], p["obstacle_pos"])
            peg.elasticity, peg.friction = 1.0, 1.0
            space.add(peg)
        self._balls = []
        for pos in self._free_positions():
            body = pymunk.Body(p["mass"], pymunk.moment_for_circle(p["mass"], 0, p["radius"]))
            body.position = tuple(pos)
            body.velocity = tuple(self.np_random.uniform(-p["init_speed"], p["init_speed"], 2))
            shape = pymunk.Circle(body, p["radius"])
            shape.elasticity, shape.friction = p["restitution"], p["friction"]
            space.add(body, shape)
            self._balls.append(body)
        return self.render(), {"state": self.state()}

    def step(self, action):
        """Push the first ball by ``action`` (impulse), then advance ``dt`` seconds."""
        if self._space is None:
            raise WorldError("call reset() before step()")
        a = np.asarray(action, np.float64).reshape(-1)
        if a.shape != (2,) or not np.all(np.isfinite(a)):
            raise WorldError(f"action={action!r} must be 2 finite numbers in [-1, 1]")
        a = np.clip(a, -1.0, 1.0)
        p = self.params
        self._balls[0].apply_impulse_at_local_point(tuple(p["push_strength"] * a), (0.0, 0.0))
        h = p["dt"] / p["substeps"]
        for _ in range(p["substeps"]):
            for body in self._balls:  # terminal speed: also what makes tunnelling impossible
                speed = body.velocity.length
                if speed > p["max_speed"]:
                    body.velocity = body.velocity * (p["max_speed"] / speed)
            self._space.step(h)
        return self.render(), 0.0, False, False, {"state": self.state()}

    def render(self) -> np.ndarray:
        """The current frame, ``(image_size, image_size, 3)`` uint8."""
        canvas = self._static.copy()
        for body, color in zip(self._balls, self._colors):
            canvas.circle((body.position.x, body.position.y), self.params["radius"], color)
        return canvas.to_uint8()

    # -- physics access ---------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """``ball_pos (n_balls, 2)`` arena units, ``ball_vel (n_balls, 2)`` arena units / s."""
        if not self._balls:
            raise WorldError("call reset() before state()")
        pos = [(b.position.x, b.position.y) for b in self._balls]
        vel = [(b.velocity.x, b.velocity.y) for b in self._balls]
        return {"ball_pos": np.array(pos, np.float32), "ball_vel": np.array(vel, np.float32)}

    def random_action(self, rng: np.random.Generator) -> np.ndarray:
        """Sparse kicks: a uniform push on 1 step in 4, else nothing, so gravity stays visible."""
        kick = rng.uniform(-1.0, 1.0, 2)
        return (kick * (rng.random() < 0.25)).astype(np.float32)

    def _free_positions(self) -> np.ndarray:
        """``(n_balls, 2)`` centres inside the box, apart from each other and from the peg."""
        p, r = self.params, self.params["radius"]
        gap = 0.01  # start clear of every contact
        placed: list[np.ndarray] = []
        for _ in range(10_000):
            xy = self.np_random.uniform(r + gap, 1 - r - gap, 2)
            clear_peg = not p["obstacle"] or (
                np.hypot(*(xy - p["obstacle_pos"])) > r + p["obstacle_radius"] + gap
            )
            if clear_peg and all(np.hypot(*(xy - q)) > 2 * r + gap for q in placed):
                placed.append(xy)
                if len(placed) == p["n_balls"]:
                    return np.array(placed)
        raise WorldError(
            f"could not place {p['n_balls']} balls of radius {r} in the box; lower radius"
        )
