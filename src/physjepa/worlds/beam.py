"""beam: a cantilever of brittle elastic material that bends under a load and cracks.

The beam is a 2-D mass–spring lattice of ``nx x ny`` nodes, one lattice unit apart (x along
the beam, y up); every cell has horizontal, vertical and both diagonal springs. Column 0 is
clamped. Each spring is linear elastic in the small-strain sense: its strain is the change of
its rest length along its rest direction, ``eps = n . (u_b - u_a) / L0``, and it pulls back
with ``stiffness * eps * L0`` (lattice units of force). A spring breaks for good when its
tensile strain exceeds its strength: ``strength`` times ``1 + disorder * N(0, 1)`` (drawn per
spring at reset; quasi-brittle materials crackle before they fail). A *flaw* is a notch of
``flaw_depth`` broken rows cut down from the top surface at ``flaw_x`` (fraction of the length
from the clamp); cracks start there or anywhere the disorder makes weak.

Motion: ``M u'' + C u' + K u = f`` with lumped node masses ``density``, mass-proportional
damping ``damping`` (1 / time) and the stiffness matrix ``K`` of the intact springs, integrated
by backward Euler (unconditionally stable; ``substeps`` sub-steps of ``step_time /
substeps`` per env step). ``K`` is re-assembled when springs break. At the defaults the first
bending mode is close to critically damped, so the beam follows a slow load in a step or two.

- action ``(2,)`` float32 in ``[-1, 1]``: ``a[0]`` the load, ``a[0] * max_load`` downwards on
  the top surface (negative pulls up); ``a[1]`` where: from the middle (-1) to the tip (+1),
  shared linearly between the two nearest columns.
- ``state()``: ``displacement (2 * nx * ny,)`` node displacements (x, y interleaved, lattice
  units), ``tip_deflection (1,)`` (mean y displacement of the tip column; negative = down),
  ``max_strain (1,)`` (largest tensile strain of an intact spring over its own strength: 1 =
  about to break), ``broken (1,)`` broken springs (notch included), ``failed (1,)`` 1.0 once
  the beam has collapsed (the tip deflects more than ``fail_deflection``: cracks have turned
  the section into a hinge) or broken off (no intact path joins the tip to the clamp),
  ``fail_step (1,)`` the env step it failed at (-1 before), ``load (1,)`` the applied force,
  ``load_pos (1,)`` its x, ``flaw_x (1,)``, ``flaw_depth (1,)``.
- ``sensors()`` (``sensor_names``): six strain gauges (horizontal springs on the top and bottom
  surfaces at 1/8, 3/8 and 5/8 of the length; a broken gauge reads its saturation value
  ``gauge_range``), the load cell (the applied force) and the clamp's vertical reaction force,
  plus an acoustic-emission count (springs broken during the step).
- obs ``(image_size, image_size, 3)`` uint8: the deformed lattice (displacements drawn
  ``display_gain`` times) with every intact spring coloured by ``max(eps, 0) / strength``
  (grey → yellow → red), the clamp, and the load as a bar on its column.

Faults for anomaly benchmarks (``fault`` param; the beam behaves normally before ``step``):
``["stiffness", step, factor]`` (every spring's stiffness times ``factor``: lost rigidity),
``["crack", step, x, rows]`` (``rows`` interior springs crossing ``x`` break, hidden from the
surface), ``["stuck", step, channel]`` (that sensor repeats its reading), ``["drift", step,
channel, rate]`` (that sensor drifts by ``rate`` per step).

A world is deterministic given its seed: ``reset(seed)`` draws the spring strengths and (where
``flaw_x`` / ``flaw_depth`` are None) the flaw.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from physjepa.worlds.base import World, WorldError, check_color, check_number

_FAULTS = {"stiffness": 3, "crack": 4, "stuck": 3, "drift": 4}  # kind -> list length
_SENSORS = (
    "gauge_top_1",
    "gauge_top_2",
    "gauge_top_3",
    "gauge_bot_1",
    "gauge_bot_2",
    "gauge_bot_3",
    "load_cell",
    "clamp_force",
    "acoustic",
)
_GAUGE_AT = (0.125, 0.375, 0.625)  # fraction of the length


class Beam(World):
    """A clamped lattice beam under a controllable load; springs break past their strength."""

    name = "beam"
    default_episode_steps = 100
    sensor_names = _SENSORS
    default_params = {
        "nx": 16,  # nodes along the beam
        "ny": 4,  # nodes across it
        "stiffness": 1.0,  # spring constant
        "density": 1.0,  # mass per node
        "damping": 0.03,  # mass-proportional damping, 1 / time
        "step_time": 90.0,  # time per env step
        "substeps": 6,
        "strength": 0.05,  # mean tensile strain at which a spring breaks
        "disorder": 0.15,  # relative spread of spring strengths
        "flaw_x": None,  # notch position, fraction of the length (None: drawn in [0.05, 0.5])
        "flaw_depth": None,  # notch depth in rows (None: drawn from 0, 1, 2)
        "max_load": 0.04,  # force at |action| = 1
        "gauge_range": 0.25,  # gauge saturation (strain)
        "fail_deflection": 6.0,  # tip deflection (lattice units) that counts as collapse
        "display_gain": 1.0,
        "fault": None,
        "background": (16, 18, 28),
        "clamp_color": (110, 110, 120),
        "load_color": (90, 200, 255),
    }

    def __init__(self, render_mode: str = "rgb_array", image_size: int = 64, **params: Any):
        super().__init__(render_mode, image_size, **params)
        self.params = p = self._validated(self.params)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        nx, ny = p["nx"], p["ny"]
        self._rest = np.array([(i, j) for i in range(nx) for j in range(ny)], np.float64)
        self._springs, self._free = _lattice(nx, ny)
        a, b = self._springs[:, 0], self._springs[:, 1]
        d = self._rest[b] - self._rest[a]
        self._len0 = np.linalg.norm(d, axis=1)  # (E,)
        n = d / self._len0[:, None]
        # strain operator: eps = S @ u, u the (2 * nodes,) displacement vector
        e = len(a)
        self._S = np.zeros((e, 2 * nx * ny))
        rows = np.arange(e)
        for k in range(2):
            self._S[rows, 2 * a + k] -= n[:, k] / self._len0
            self._S[rows, 2 * b + k] += n[:, k] / self._len0
        self._Sf = self._S[:, self._free]  # (E, F) on the free degrees of freedom
        # the horizontal springs under the gauges (top and bottom surfaces)
        cols = [min(nx - 2, int(round(f * (nx - 1)))) for f in _GAUGE_AT]
        self._gauges = np.array(
            [self._spring_between((c, j), (c + 1, j)) for j in (ny - 1, 0) for c in cols]
        )
        self._clamp_springs = np.flatnonzero((self._rest[a, 0] == 0) | (self._rest[b, 0] == 0))
        self._t: int | None = None

    @staticmethod
    def _validated(p: dict[str, Any]) -> dict[str, Any]:
        q = dict(p)
        q["nx"] = check_number("nx", p["nx"], 4, 64, integer=True)
        q["ny"] = check_number("ny", p["ny"], 2, 16, integer=True)
        q["substeps"] = check_number("substeps", p["substeps"], 1, 100, integer=True)
        for key, low, high in [
            ("stiffness", 1e-3, 1e3),
            ("density", 1e-3, 1e3),
            ("damping", 0.0, 100.0),
            ("step_time", 1e-3, 1e3),
            ("strength", 1e-4, 1.0),
            ("disorder", 0.0, 0.5),
            ("max_load", 0.0, 1e3),
            ("gauge_range", 1e-3, 10.0),
            ("fail_deflection", 1e-3, 1e3),
            ("display_gain", 0.0, 100.0),
        ]:
            q[key] = check_number(key, p[key], low, high)
        if p["flaw_x"] is not None:
            q["flaw_x"] = check_number("flaw_x", p["flaw_x"], 0.0, 1.0)
        if p["flaw_depth"] is not None:
            q["flaw_depth"] = check_number("flaw_depth", p["flaw_depth"], 0, q["ny"] - 1, True)
        for key in ("background", "clamp_color", "load_color"):
            q[key] = check_color(key, p[key])
        q["fault"] = _check_fault(p["fault"])
        return q

    def _spring_between(self, na: tuple[int, int], nb: tuple[int, int]) -> int:
        ny = self.params["ny"]
        ia, ib = na[0] * ny + na[1], nb[0] * ny + nb[1]
        hit = np.flatnonzero((self._springs[:, 0] == ia) & (self._springs[:, 1] == ib))
        return int(hit[0])

    # -- gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """New episode: the beam at rest and unloaded, fresh spring strengths and flaw."""
        super().reset(seed=seed)
        p, rng = self.params, self.np_random
        e = len(self._springs)
        spread = 1.0 + p["disorder"] * rng.standard_normal(e)
        self._strength = p["strength"] * np.clip(spread, 0.3, None)  # (E,)
        self._flaw_x = float(rng.uniform(0.05, 0.5)) if p["flaw_x"] is None else p["flaw_x"]
        depth = p["flaw_depth"]
        self._flaw_depth = int(rng.integers(0, 3)) if depth is None else depth
        self._k = np.full(e, p["stiffness"])
        self._intact = np.ones(e, bool)
        self._cut(self._flaw_x, p["ny"] - self._flaw_depth, p["ny"] - 1)  # a notch from the top
        self._u = np.zeros(2 * p["nx"] * p["ny"])
        self._v = np.zeros_like(self._u)
        self._load, self._load_pos, self._force = 0.0, p["nx"] - 1.0, np.zeros_like(self._u)
        self._t, self._fail_step, self._emitted = 0, -1, 0
        self._stuck: np.ndarray | None = None
        self._ramp: tuple[float, ...] | None = None  # the scripted policy's loading plan
        self._assemble()
        return self.render(), {"state": self.state()}

    def step(self, action):
        """Apply the load ``action`` for one step."""
        self.advance(action)
        return self.render(), 0.0, False, False, {"state": self.state()}

    def advance(self, action) -> None:
        """One env step of physics (``substeps`` backward-Euler steps) without rendering."""
        if self._t is None:
            raise WorldError("call reset() before step()")
        a = np.asarray(action, np.float64).reshape(-1)
        if a.shape != (2,) or not np.all(np.isfinite(a)):
            raise WorldError(f"action={action!r} must be 2 finite numbers in [-1, 1]")
        a = np.clip(a, -1.0, 1.0)
        p = self.params
        self._t += 1
        self._inject_structural_fault()
        self._set_load(float(a[0]) * p["max_load"], float(a[1]))
        dt = p["step_time"] / p["substeps"]
        f = self._force[self._free]
        emitted = 0
        for _ in range(p["substeps"]):
            uf, vf = self._u[self._free], self._v[self._free]
            vf = self._Ainv @ (p["density"] * vf + dt * f) - dt * (self._AinvK @ uf)
            self._u[self._free] = uf + dt * vf
            self._v[self._free] = vf
            over = self._intact & (self._Sf @ self._u[self._free] > self._strength)
            if over.any():
                self._intact &= ~over
                emitted += int(over.sum())
                self._assemble()
        self._emitted = emitted
        if self._fail_step < 0 and (
            abs(self._tip_y()) > p["fail_deflection"] or (emitted and not self._tip_connected())
        ):
            self._fail_step = self._t

    # -- physics ----------------------------------------------------------------------------
    def _cut(self, x_frac: float, ylo: int, yhi: int) -> None:
        """Break the springs crossing ``x = x_frac * (nx - 1)`` between node rows ``ylo..yhi``:
        the horizontal springs on those rows and the diagonals of the cells next to them."""
        if yhi < ylo:
            return
        x = x_frac * (self.params["nx"] - 1)
        cell = min(int(x), self.params["nx"] - 2)  # the column of cells the line lies in
        a, b = self._springs[:, 0], self._springs[:, 1]
        xa, xb = self._rest[a, 0], self._rest[b, 0]
        ymid = 0.5 * (self._rest[a, 1] + self._rest[b, 1])
        hit = (np.minimum(xa, xb) == cell) & (np.maximum(xa, xb) == cell + 1)
        hit &= (ymid >= ylo - 0.5) & (ymid <= yhi + 0.5)
        self._intact &= ~hit

    def _assemble(self) -> None:
        """Stiffness matrix of the intact springs and the backward-Euler operators."""
        p = self.params
        dt = p["step_time"] / p["substeps"]
        k = np.where(self._intact, self._k * self._len0**2, 0.0)  # force = k eps L0 along n
        K = (self._Sf.T * k) @ self._Sf  # (F, F)
        m = p["density"]
        A = (m * (1.0 + dt * p["damping"])) * np.eye(len(self._free)) + dt * dt * K
        self._K = K
        self._Ainv = np.linalg.inv(A)
        self._AinvK = self._Ainv @ K

    def _set_load(self, force: float, where: float) -> None:
        nx, ny = self.params["nx"], self.params["ny"]
        x = (nx - 1) * (0.75 + 0.25 * where)  # where in [-1, 1] -> middle .. tip
        lo = min(int(x), nx - 2)
        w = x - lo
        self._force[:] = 0.0
        for col, share in ((lo, 1.0 - w), (lo + 1, w)):
            self._force[2 * (col * ny + ny - 1) + 1] -= force * share
        self._load, self._load_pos = force, x

    def _inject_structural_fault(self) -> None:
        fault = self.params["fault"]
        if fault is None or self._t != fault[1]:
            return
        if fault[0] == "stiffness":
            self._k = self._k * fault[2]
            self._assemble()
        elif fault[0] == "crack":
            ny = self.params["ny"]  # interior rows only: both surfaces stay whole
            self._cut(fault[2], max(1, ny - 1 - fault[3]), ny - 2)
            self._assemble()

    def _tip_connected(self) -> bool:
        """Whether intact springs still join a tip-column node to the clamp."""
        nx, ny = self.params["nx"], self.params["ny"]
        reach = np.zeros(nx * ny, bool)
        reach[:ny] = True  # the clamped column
        a, b = self._springs[self._intact, 0], self._springs[self._intact, 1]
        while True:
            grow = reach.copy()
            grow[b[reach[a]]] = True
            grow[a[reach[b]]] = True
            if (grow == reach).all():
                break
            reach = grow
        return bool(reach[(nx - 1) * ny :].any())

    def _tip_y(self) -> float:
        """Mean vertical displacement of the tip column (lattice units; negative = down)."""
        nx, ny = self.params["nx"], self.params["ny"]
        return float(self._u[2 * (nx - 1) * ny + 1 :: 2].mean())

    def strains(self) -> np.ndarray:
        """Tensile-positive strain of every spring ``(E,)`` (broken ones included)."""
        return self._S @ self._u

    def static_deflection(self, force: float, where: float = 1.0) -> np.ndarray:
        """The lattice's exact static displacement ``K^-1 f`` under a load (no breaking); the
        world's own load is left as it was."""
        saved = self._force.copy(), self._load, self._load_pos
        self._set_load(force, where)
        u = np.zeros_like(self._u)
        u[self._free] = np.linalg.solve(self._K, self._force[self._free])
        self._force, self._load, self._load_pos = saved
        return u

    # -- observation ------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        if self._t is None:
            raise WorldError("call reset() before state()")
        eps = self.strains()
        ratio = np.where(self._intact, eps / self._strength, -np.inf)
        one = lambda v: np.array([v], np.float32)  # noqa: E731
        return {
            "displacement": self._u.astype(np.float32),
            "tip_deflection": one(self._tip_y()),
            "max_strain": one(max(0.0, float(ratio.max(initial=0.0)))),
            "broken": one((~self._intact).sum()),
            "failed": one(self._fail_step >= 0),
            "fail_step": one(self._fail_step),
            "load": one(self._load),
            "load_pos": one(self._load_pos),
            "flaw_x": one(self._flaw_x),
            "flaw_depth": one(self._flaw_depth),
        }

    def sensors(self) -> np.ndarray:
        """Gauges (strain), load cell, clamp reaction and acoustic emission, ``(9,)`` float32."""
        if self._t is None:
            raise WorldError("call reset() before sensors()")
        p = self.params
        eps = self.strains()
        g = self._gauges
        gauge = np.where(
            self._intact[g], np.clip(eps[g], -p["gauge_range"], p["gauge_range"]), p["gauge_range"]
        )
        # the clamp's vertical reaction: what the springs touching it pull with
        cs = self._clamp_springs
        tension = np.where(self._intact[cs], self._k[cs] * eps[cs] * self._len0[cs], 0.0)
        a, b = self._springs[cs, 0], self._springs[cs, 1]
        ny_dir = (self._rest[b, 1] - self._rest[a, 1]) / self._len0[cs]
        clamp = float((tension * ny_dir).sum())
        out = np.concatenate([gauge, [-self._load, clamp, self._emitted]]).astype(np.float32)
        return self._sensor_fault(out)

    def _sensor_fault(self, out: np.ndarray) -> np.ndarray:
        fault = self.params["fault"]
        if fault is None or fault[0] not in ("stuck", "drift") or self._t < fault[1]:
            return out
        ch = fault[2]
        if fault[0] == "stuck":
            if self._stuck is None or self._t == fault[1]:
                self._stuck = out[ch].copy()
            out[ch] = self._stuck
        else:
            out[ch] += fault[3] * (self._t - fault[1] + 1)
        return out

    def render(self) -> np.ndarray:
        if self._t is None:
            raise WorldError("call reset() before render()")
        p = self.params
        nx, ny, size = p["nx"], p["ny"], self.image_size
        img = np.empty((size, size, 3), np.float32)
        img[:] = p["background"]
        extent = nx + 1.0  # world x in [-1, nx], y centred on the beam
        scale = size / extent
        y0 = (ny - 1) / 2.0
        pos = self._rest + p["display_gain"] * self._u.reshape(-1, 2)

        def to_px(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            col = np.floor((xy[..., 0] + 1.0) * scale).astype(np.int64)
            row = np.floor((extent / 2 - (xy[..., 1] - y0)) * scale).astype(np.int64)
            return row, col

        # clamp block
        c0 = int((0.4) * scale)
        r0, r1 = int((extent / 2 - y0 - 1.0) * scale), int((extent / 2 + y0 + 1.0) * scale)
        img[max(0, r0) : r1, 0:c0] = p["clamp_color"]
        # springs, coloured by tension over strength
        keep = np.flatnonzero(self._intact)
        if len(keep):
            a, b = self._springs[keep, 0], self._springs[keep, 1]
            t = np.linspace(0.0, 1.0, 7)[None, :, None]  # (1, 7, 1)
            pts = pos[a][:, None] + t * (pos[b] - pos[a])[:, None]  # (E, 7, 2)
            ratio = np.clip(self.strains()[keep] / self._strength[keep], 0.0, 1.0)
            color = _strain_colors(ratio)  # (E, 3)
            row, col = to_px(pts)
            ok = (row >= 0) & (row < size) & (col >= 0) & (col < size)
            img[row[ok], col[ok]] = np.broadcast_to(color[:, None], (*row.shape, 3))[ok]
        # the load: a bar above its column, as long as the force
        if p["max_load"] > 0 and self._load != 0:
            length = 3.0 * self._load / p["max_load"]
            top = np.array([self._load_pos, ny - 1.0]) + p["display_gain"] * self._tip_of_load()
            t = np.linspace(0.3, 0.3 + abs(length), 12)[:, None]
            pts = top[None] + t * np.array([0.0, 1.0 if length > 0 else -1.0])[None]
            row, col = to_px(pts)
            ok = (row >= 0) & (row < size) & (col >= 0) & (col < size)
            img[row[ok], col[ok]] = p["load_color"]
        return np.clip(img + 0.5, 0, 255).astype(np.uint8)

    def _tip_of_load(self) -> np.ndarray:
        ny = self.params["ny"]
        col = int(round(self._load_pos))
        i = col * ny + ny - 1
        return self._u[2 * i : 2 * i + 2]

    # -- policies ---------------------------------------------------------------------------
    def random_action(self, rng: np.random.Generator) -> np.ndarray:
        """Uniform load and position (a shaking beam: mostly elastic, sometimes cracking)."""
        return rng.uniform(-1.0, 1.0, 2).astype(np.float32)

    def scripted_action(self, rng: np.random.Generator) -> np.ndarray:
        """A loading history: a ramp from zero at a random rate (0.006 to 0.03 of ``max_load``
        per step) up to a random peak (0.15 to 1), then cycled between 70% and 100% of the
        peak with a random period (10 to 30 steps), as a machine under a working load; the
        position drifts slowly; 1% noise. About half the beams fail."""
        if self._t is None:
            raise WorldError("call reset() before scripted_action()")
        if self._ramp is None or self._t == 0:
            rate, peak = float(rng.uniform(0.006, 0.03)), float(rng.uniform(0.15, 1.0))
            period = float(rng.uniform(10.0, 30.0))
            self._ramp = (0.0, rate, peak, period, -1.0, float(rng.uniform(-1.0, 1.0)))
        level, rate, peak, period, since, where = self._ramp
        if since < 0:  # ramping up
            level = min(peak, level + rate)
            since = 0.0 if level >= peak else -1.0
        else:  # cycling under the working load
            since += 1.0
            level = peak * (0.85 + 0.15 * math.cos(2.0 * math.pi * since / period))
        where = min(1.0, max(-1.0, where + 0.02 * rng.standard_normal()))
        self._ramp = (level, rate, peak, period, since, where)
        load = min(1.0, max(-1.0, level + 0.01 * rng.standard_normal()))
        return np.array([load, where], np.float32)


def _lattice(nx: int, ny: int) -> tuple[np.ndarray, np.ndarray]:
    """Springs ``(E, 2)`` (node indices, ``i * ny + j``) and the free degrees of freedom."""
    idx = lambda i, j: i * ny + j  # noqa: E731
    springs = []
    for i in range(nx):
        for j in range(ny):
            if i + 1 < nx:
                springs.append((idx(i, j), idx(i + 1, j)))
            if j + 1 < ny:
                springs.append((idx(i, j), idx(i, j + 1)))
            if i + 1 < nx and j + 1 < ny:
                springs.append((idx(i, j), idx(i + 1, j + 1)))
                springs.append((idx(i, j + 1), idx(i + 1, j)))
    free = np.arange(2 * ny, 2 * nx * ny)  # column 0 (nodes 0..ny-1) is clamped
    return np.array(springs, np.int64), free


def _strain_colors(ratio: np.ndarray) -> np.ndarray:
    """Grey (unstrained) -> yellow (half) -> red (about to break), ``(E, 3)`` float32."""
    grey, yellow, red = (
        np.array([150, 155, 165.0]),
        np.array([250, 220, 60.0]),
        np.array([240, 40, 30.0]),
    )
    lo = np.clip(ratio * 2.0, 0.0, 1.0)[:, None]
    hi = np.clip(ratio * 2.0 - 1.0, 0.0, 1.0)[:, None]
    return (grey + lo * (yellow - grey) + hi * (red - yellow)).astype(np.float32)


def _check_fault(fault: Any) -> list | None:
    """``fault`` as a plain list ``[kind, step, ...]``; a WorldError names what is wrong."""
    if fault is None:
        return None
    usage = (
        "fault must be None or one of ['stiffness', step, factor], ['crack', step, x, rows], "
        "['stuck', step, channel], ['drift', step, channel, rate]"
    )
    if not isinstance(fault, list | tuple) or not fault or fault[0] not in _FAULTS:
        raise WorldError(f"fault={fault!r}: {usage}")
    kind = fault[0]
    if len(fault) != _FAULTS[kind]:
        raise WorldError(f"fault={fault!r}: {usage}")
    out: list = [kind, check_number("fault step", fault[1], 1, 100_000, integer=True)]
    if kind == "stiffness":
        out.append(check_number("fault factor", fault[2], 0.01, 10.0))
    elif kind == "crack":
        out += [
            check_number("fault x", fault[2], 0.0, 1.0),
            check_number("fault rows", fault[3], 1, 15, True),
        ]
    else:
        out.append(check_number("fault channel", fault[2], 0, len(_SENSORS) - 1, integer=True))
        if kind == "drift":
            out.append(check_number("fault rate", fault[3], -10.0, 10.0))
    return out
