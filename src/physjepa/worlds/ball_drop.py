"""ball-drop: one to three balls fall, bounce and collide in a closed box with a fixed peg.

Units: the arena is the square ``[0, 1] x [0, 1]`` (arena units, y up, origin bottom-left);
time is in seconds, one ``step`` lasts ``dt`` seconds. The whole frame shows the arena.

- action ``(2,)`` float32 in ``[-1, 1]``: an impulse ``push_strength * action`` given to the
  first ball at the start of each step, so its velocity changes by
  ``push_strength * action / mass``. A zero action gives a passive video.
- ``state()``: ``ball_pos (n_balls, 2)`` in arena units and ``ball_vel (n_balls, 2)`` in
  arena units per second, both float32, in that order.
- obs ``(image_size, image_size, 3)`` uint8: the balls (anti-aliased), the peg and, when
  ``occluder`` is set, an opaque screen drawn in front of the balls.

Params for intuitive-physics tests (violation of expectation, ``physjepa voe``):

- ``occluder``: ``None`` or a rectangle ``(x0, y0, x1, y1)`` drawn in front of the balls; it
  hides them but does not touch the physics.
- ``vary``: ``{param: (low, high)}``: ``gravity``, ``restitution``, ``mass``, ``radius`` or
  ``friction`` drawn uniformly at every ``reset``; each varied value is added to ``state()``
  as a ``(1,)`` array under its name, so probes can read physical params.
- ``event``: ``None`` or one scripted event at frame ``step`` (frames before it are exactly
  those of the same episode without it): ``{"kind": "vanish"}`` (ball 0 is no longer drawn;
  step 0: never), ``{"kind": "appear"}`` (ball 0 is drawn only from then on),
  ``{"kind": "teleport", "position": (x, y)}``, ``{"kind": "velocity", "velocity": (vx, vy)}``,
  ``{"kind": "gravity", "gravity": g, "stop": bool}`` (g < 0 pulls up; ``stop`` zeroes the
  velocities), ``{"kind": "pass_through"}`` (ball 0 stops colliding with walls and peg),
  ``{"kind": "shape", "shape": "square"}`` or ``{"kind": "colour", "color": (r, g, b)}``.
  Physics events act on the step that produces frame ``step``; drawing events from that
  frame on.

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
_STATIC = 0b10  # collision category of walls and peg (a pass_through event masks it out)
VARIABLE = ("gravity", "restitution", "mass", "radius", "friction")  # what ``vary`` may draw
_LIMITS = {  # valid range of every numeric param
    "gravity": (0.0, 20.0),
    "restitution": (0.0, 1.0),
    "mass": (0.01, 100.0),
    "radius": (0.02, 0.2),
    "friction": (0.0, 2.0),
    "obstacle_radius": (0.02, 0.3),
    "push_strength": (0.0, 20.0),
    "max_speed": (0.1, 20.0),
    "dt": (0.001, 0.5),
}
EVENTS = (
    "vanish",
    "appear",
    "teleport",
    "velocity",
    "gravity",
    "pass_through",
    "shape",
    "colour",
)
_DRAWING = ("vanish", "appear", "shape", "colour")  # events that change only the drawing


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
        "occluder": None,  # (x0, y0, x1, y1): an opaque screen in front of the balls
        "occluder_color": (200, 170, 100),
        "vary": {},  # {param: (low, high)} drawn at every reset, e.g. {"gravity": (0.5, 1.5)}
        "event": None,  # one scripted violation of physics (see the module docstring)
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
        self._ep = dict(p)  # this episode's params (``vary`` draws replace the fixed ones)
        self._t = 0  # index of the frame last produced

    @staticmethod
    def _validated(p: dict[str, Any]) -> dict[str, Any]:
        """Params normalised to plain Python values; a one-line WorldError on a bad one."""
        q = dict(p)
        q["n_balls"] = check_number("n_balls", p["n_balls"], 1, 3, integer=True)
        q["substeps"] = check_number("substeps", p["substeps"], 1, 200, integer=True)
        for key, (low, high) in _LIMITS.items():
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
        q["occluder_color"] = check_color("occluder_color", p["occluder_color"])
        if p["occluder"] is not None:
            box = np.asarray(p["occluder"], dtype=object).reshape(-1)
            if box.shape != (4,):
                raise WorldError(f"occluder={p['occluder']!r} must be (x0, y0, x1, y1) or null")
            box = tuple(check_number("occluder", c, 0.0, 1.0) for c in box)
            if not (box[0] < box[2] and box[1] < box[3]):
                raise WorldError(f"occluder={p['occluder']!r} needs x0 < x1 and y0 < y1")
            q["occluder"] = box
        q["vary"] = _validated_vary(p["vary"])
        q["event"] = _validated_event(p["event"])
        smallest = min([q["radius"]] + [lo for k, (lo, _) in q["vary"].items() if k == "radius"])
        per_substep = q["max_speed"] * q["dt"] / q["substeps"]
        if per_substep > 0.5 * smallest:  # keeps balls from tunnelling
            raise WorldError(
                f"substeps={q['substeps']} is too few: max_speed*dt/substeps={per_substep:.4f} "
                f"must be <= radius/2={smallest / 2:.4f}"
            )
        return q

    # -- gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """New episode: balls at random free positions with random velocities."""
        super().reset(seed=seed)
        self._ep = p = dict(self.params)
        for key, (low, high) in self.params["vary"].items():  # drawn first, in sorted order
            p[key] = float(self.np_random.uniform(low, high))
        self._t = 0
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
            seg.filter = pymunk.ShapeFilter(categories=_STATIC)
            space.add(seg)
        if p["obstacle"]:
            peg = pymunk.Circle(space.static_body, p["obstacle_radius"], p["obstacle_pos"])
            peg.elasticity, peg.friction = 1.0, 1.0
            peg.filter = pymunk.ShapeFilter(categories=_STATIC)
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
        self.advance(action)
        return self.render(), 0.0, False, False, {"state": self.state()}

    def advance(self, action) -> None:
        """``step`` without drawing the frame (what a search over episodes needs)."""
        if self._space is None:
            raise WorldError("call reset() before step()")
        a = np.asarray(action, np.float64).reshape(-1)
        if a.shape != (2,) or not np.all(np.isfinite(a)):
            raise WorldError(f"action={action!r} must be 2 finite numbers in [-1, 1]")
        a = np.clip(a, -1.0, 1.0)
        p = self._ep
        if p["event"] is not None and self._t + 1 == p["event"]["step"]:
            self._physics_event(p["event"])
        self._balls[0].apply_impulse_at_local_point(tuple(p["push_strength"] * a), (0.0, 0.0))
        h = p["dt"] / p["substeps"]
        for _ in range(p["substeps"]):
            for body in self._balls:  # terminal speed: also what makes tunnelling impossible
                speed = body.velocity.length
                if speed > p["max_speed"]:
                    body.velocity = body.velocity * (p["max_speed"] / speed)
            self._space.step(h)
        self._t += 1

    def _physics_event(self, event: dict[str, Any]) -> None:
        """Apply a scripted violation right before the step that produces its frame."""
        ball, kind = self._balls[0], event["kind"]
        if kind == "teleport":
            ball.position = tuple(event["position"])
        elif kind == "velocity":
            ball.velocity = tuple(event["velocity"])
        elif kind == "gravity":
            self._space.gravity = (0.0, -event["gravity"])
            if event["stop"]:
                for body in self._balls:
                    body.velocity = (0.0, 0.0)
        elif kind == "pass_through":
            for shape in ball.shapes:
                shape.filter = pymunk.ShapeFilter(mask=pymunk.ShapeFilter.ALL_MASKS() ^ _STATIC)

    def render(self) -> np.ndarray:
        """The current frame, ``(image_size, image_size, 3)`` uint8."""
        canvas = self._static.copy()
        r, event = self._ep["radius"], self._ep["event"]
        drawing = event["kind"] if event is not None and self._t >= event["step"] else None
        if event is not None and event["kind"] == "appear":  # hidden before, drawn after
            drawing = None if self._t >= event["step"] else "vanish"
        for i, (body, color) in enumerate(zip(self._balls, self._colors)):
            xy = (body.position.x, body.position.y)
            if i > 0 or drawing not in _DRAWING:
                canvas.circle(xy, r, color)
            elif drawing == "shape":  # a square of the ball's width
                canvas.rect((xy[0] - r, xy[1] - r), (xy[0] + r, xy[1] + r), color)
            elif drawing == "colour":
                canvas.circle(xy, r, event["color"])
        if self._ep["occluder"] is not None:
            x0, y0, x1, y1 = self._ep["occluder"]
            canvas.rect((x0, y0), (x1, y1), self._ep["occluder_color"])
        return canvas.to_uint8()

    # -- physics access ---------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """``ball_pos (n_balls, 2)`` arena units, ``ball_vel (n_balls, 2)`` arena units / s."""
        if not self._balls:
            raise WorldError("call reset() before state()")
        pos = [(b.position.x, b.position.y) for b in self._balls]
        vel = [(b.velocity.x, b.velocity.y) for b in self._balls]
        out = {"ball_pos": np.array(pos, np.float32), "ball_vel": np.array(vel, np.float32)}
        for key in self.params["vary"]:
            out[key] = np.array([self._ep[key]], np.float32)
        return out

    def episode_params(self) -> dict[str, Any]:
        """The params of the current episode (``vary`` draws included)."""
        return dict(self._ep)

    def random_action(self, rng: np.random.Generator) -> np.ndarray:
        """Sparse kicks: a uniform push on 1 step in 4, else nothing, so gravity stays visible."""
        kick = rng.uniform(-1.0, 1.0, 2)
        return (kick * (rng.random() < 0.25)).astype(np.float32)

    def _free_positions(self) -> np.ndarray:
        """``(n_balls, 2)`` centres inside the box, apart from each other and from the peg."""
        p, r = self._ep, self._ep["radius"]
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


def _validated_vary(vary: Any) -> dict[str, tuple[float, float]]:
    """``{param: (low, high)}`` in sorted key order, each bound within the param's limits."""
    if not isinstance(vary, dict):
        raise WorldError(
            f"vary={vary!r} must map params to (low, high), e.g. {{'gravity': [0.5, 1.5]}}"
        )
    out = {}
    for key in sorted(vary):
        if key not in VARIABLE:
            raise WorldError(f"vary: {key!r} cannot vary; valid: {', '.join(VARIABLE)}")
        bounds = vary[key]
        if not isinstance(bounds, list | tuple) or len(bounds) != 2:
            raise WorldError(f"vary[{key!r}]={bounds!r} must be (low, high)")
        low, high = (check_number(f"vary[{key!r}]", b, *_LIMITS[key]) for b in bounds)
        if low > high:
            raise WorldError(f"vary[{key!r}]={bounds!r} needs low <= high")
        out[key] = (low, high)
    return out


def _validated_event(event: Any) -> dict[str, Any] | None:
    """A scripted event with its fields checked and normalised, or None."""
    if event is None:
        return None
    if not isinstance(event, dict) or event.get("kind") not in EVENTS:
        raise WorldError(f"event={event!r} must be null or a dict with 'kind' in {EVENTS}")
    kind = event["kind"]
    fields = {
        "teleport": {"position"},
        "velocity": {"velocity"},
        "gravity": {"gravity", "stop"},
        "shape": {"shape"},
        "colour": {"color"},
    }.get(kind, set())
    given = set(event) - {"kind", "step"}
    if given != fields:
        raise WorldError(f"event {kind!r} takes 'step' and {sorted(fields)}, got {sorted(given)}")
    q: dict[str, Any] = {
        "kind": kind,
        # a drawing event may hold from frame 0; a physics one acts on a step, so from frame 1
        "step": check_number(
            "event step", event.get("step"), int(kind not in _DRAWING), 10**9, integer=True
        ),
    }
    for key in ("position", "velocity"):
        if key in fields:
            v = np.asarray(event[key], dtype=object).reshape(-1)
            if v.shape != (2,):
                raise WorldError(f"event {key}={event[key]!r} must be 2 numbers")
            limit = (0.0, 1.0) if key == "position" else (-100.0, 100.0)
            q[key] = tuple(check_number(f"event {key}", c, *limit) for c in v)
    if kind == "gravity":
        q["gravity"] = check_number("event gravity", event["gravity"], -20.0, 20.0)
        if not isinstance(event["stop"], bool):
            raise WorldError(f"event stop={event['stop']!r} must be true or false")
        q["stop"] = event["stop"]
    if kind == "shape":
        if event["shape"] != "square":
            raise WorldError(f"event shape={event['shape']!r} must be 'square'")
        q["shape"] = "square"
    if kind == "colour":
        q["color"] = check_color("event color", event["color"])
    return q
