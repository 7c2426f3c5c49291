"""reaction: Gray-Scott reaction-diffusion of two species on a periodic square grid.

Units: space is in grid cells (spacing 1) on an ``grid x grid`` torus; concentrations are
dimensionless (``U = 1, V = 0`` is the trivial steady state); time is in the model's units,
one ``step`` lasting ``substeps * dt``. Rows index from the top of the frame, columns from
the left, and the whole grid fills the frame.

The species follow, with the 5-point Laplacian ``lap`` and explicit Euler sub-steps of ``dt``:

    dU/dt = du lap(U) - r U V^2 + F (1 - U)
    dV/dt = dv lap(V) + r U V^2 - (F + k) V

where ``r`` is the reaction rate multiplier ``rate`` (times ``rate_change``'s factor from its
step on), and ``F``, ``k`` the feed and kill rates set by the action. Params are checked so that
the diffusion is stable, ``dt * 4 * max(du, dv) < 1``, and each sub-step is split into
``ceil(dt * max(r, F + k))`` equal Euler steps when that exceeds 1, so that the reaction stays
stable too (no split at the defaults; a ``rate_change`` factor of 10 there makes the steps
after it 10 times slower). With ``F = k = 0`` the scheme conserves the sum of U + V exactly
(up to rounding), and with ``r = 0`` too each species' sum; V below 1e-30 is set to 0 after
each step. At the defaults (Pearson's ``F = 0.037, k = 0.06``) three seeds covering 3% of the
grid grow into a labyrinth of V stripes covering about 30% (``V > 0.2``) after 50 steps and
45% from 200 steps on; with a large kill rate (``F = 0.02, k = 0.075``) V dies out within 50
steps.

- action ``(2,)`` float32 in ``[-1, 1]`` (clipped): deltas on the base rates for this step,
  ``F = max(feed + 0.01 * a[0], 0)`` and ``k = max(kill + 0.005 * a[1], 0)``.
- ``state()``, all ``(1,)`` float32: ``u_total`` and ``v_total`` (the grid means of U and V),
  ``v_area`` (the fraction of cells with ``V > 0.2``), ``front`` (the mean distance of those
  cells' centres from the grid centre, in units of ``grid``; 0 when there are none), and
  ``feed`` and ``kill`` (the effective F and k of the last step; the base values after reset).
- ``sensors()`` ``(8,)`` float32, channels ``sensor_names``: ``probe_0`` ... ``probe_5`` read V
  at the fixed cells ``(row, col) = (grid * i // 4, grid * j // 6)`` for ``i`` in (1, 3) and
  ``j`` in (1, 3, 5) (row-major: probe_0 is top-left, probe_5 bottom-right), then ``u_mean``
  and ``v_mean``.
- obs ``(image_size, image_size, 3)`` uint8: V through a linear colormap from ``low_color``
  (V = 0) to ``high_color`` (V >= ``v_max``), resized from the grid by nearest neighbour.

Initial conditions (all from the reset seed): ``U = 1, V = 0`` plus ``seeds`` squares of
``seed_size`` cells at uniform positions (wrapping around) where ``U = 0.5, V = 0.25``, plus
uniform noise in ``[0, noise)`` added to V and subtracted from U.

Fault injection: ``rate_change = (step, factor)`` multiplies the reaction rate by ``factor``
from the ``step``-th step after reset (1-based) on; the frames and states before it are
exactly those of the same episode without it.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from physjepa.worlds.base import World, WorldError, check_color, check_number

_PROBES = [(i, j) for i in (1, 3) for j in (1, 3, 5)]  # (row quarter, col sixth)
_THRESHOLD = 0.2  # V level counted as pattern by v_area and front


class Reaction(World):
    """Gray-Scott reaction-diffusion on a periodic grid; the action nudges feed and kill."""

    name = "reaction"
    default_episode_steps = 100
    default_params = {
        "grid": 64,  # cells per side
        "du": 0.16,  # diffusion of U, cells^2 / time
        "dv": 0.08,  # diffusion of V
        "feed": 0.037,  # base feed rate F, 1 / time
        "kill": 0.06,  # base kill rate k, 1 / time
        "rate": 1.0,  # multiplier on the reaction term U V^2
        "dt": 1.0,  # Euler sub-step
        "substeps": 10,  # sub-steps per env step
        "seeds": 3,  # initial squares of V
        "seed_size": 6,  # their side, cells
        "noise": 0.02,  # initial noise amplitude
        "rate_change": None,  # None or (step, factor): fault injection
        "v_max": 0.5,  # V shown at full high_color
        "low_color": (10, 20, 70),
        "high_color": (250, 220, 40),
    }
    sensor_names = (*(f"probe_{i}" for i in range(len(_PROBES))), "u_mean", "v_mean")

    def __init__(self, render_mode: str = "rgb_array", image_size: int = 64, **params: Any):
        super().__init__(render_mode, image_size, **params)
        self.params = self._validated(self.params)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        p, n = self.params, self.params["grid"]
        self._diff = np.array([[p["du"]], [p["dv"]]])
        self._probe_rc = (
            np.array([n * i // 4 for i, _ in _PROBES]),
            np.array([n * j // 6 for _, j in _PROBES]),
        )
        centre = (np.arange(n) + 0.5 - n / 2) / n
        self._radius = np.hypot(centre[:, None], centre[None, :])  # (n, n), units of grid
        self._pick = (np.arange(image_size) * n) // image_size  # nearest-neighbour resize
        t = np.linspace(0.0, 1.0, 256)[:, None]
        low, high = np.array(p["low_color"], float), np.array(p["high_color"], float)
        self._lut = np.rint(low + t * (high - low)).astype(np.uint8)  # (256, 3)
        # U and V with a one-cell periodic halo: _field[:, 1:-1, 1:-1] is the grid.
        self._field: np.ndarray | None = None
        self._views: tuple[np.ndarray, ...] = ()
        self._work: tuple[np.ndarray, ...] = ()
        self._steps = 0
        self._fk = (p["feed"], p["kill"])
        self._walk: np.ndarray | None = None  # scripted random walk position

    @staticmethod
    def _validated(p: dict[str, Any]) -> dict[str, Any]:
        """Params normalised to plain Python values; a one-line WorldError on a bad one."""
        q = dict(p)
        for key, low, high in [
            ("grid", 8, 512),
            ("substeps", 1, 1000),
            ("seeds", 0, 100),
            ("seed_size", 1, 512),
        ]:
            q[key] = check_number(key, p[key], low, high, integer=True)
        for key, low, high in [
            ("du", 0.0, 1.0),
            ("dv", 0.0, 1.0),
            ("feed", 0.0, 0.2),
            ("kill", 0.0, 0.2),
            ("rate", 0.0, 10.0),
            ("dt", 1e-3, 10.0),
            ("noise", 0.0, 0.5),
            ("v_max", 0.01, 2.0),
        ]:
            q[key] = check_number(key, p[key], low, high)
        if q["seed_size"] > q["grid"]:
            raise WorldError(f"seed_size={q['seed_size']} must not exceed grid={q['grid']}")
        if q["dt"] * 4 * max(q["du"], q["dv"]) >= 1:
            raise WorldError(
                f"dt={q['dt']} is unstable: dt * 4 * max(du, dv) must be below 1, "
                f"got {q['dt'] * 4 * max(q['du'], q['dv']):g}"
            )
        change = p["rate_change"]
        if change is not None:
            try:
                step, factor = change
            except (TypeError, ValueError):
                raise WorldError(f"rate_change={change!r} must be None or (step, factor)") from None
            q["rate_change"] = (
                check_number("rate_change step", step, 1, 10**9, integer=True),
                check_number("rate_change factor", factor, 0.1, 10.0),
            )
        for key in ("low_color", "high_color"):
            q[key] = check_color(key, p[key])
        return q

    # -- gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """New episode: U = 1, V = 0 with random seed squares and noise."""
        super().reset(seed=seed)
        p, rng = self.params, self.np_random
        n, side = p["grid"], p["seed_size"]
        u, v = np.ones((n, n)), np.zeros((n, n))
        for r, c in rng.integers(0, n, (p["seeds"], 2)):
            rows, cols = np.arange(r, r + side) % n, np.arange(c, c + side) % n
            u[np.ix_(rows, cols)], v[np.ix_(rows, cols)] = 0.5, 0.25
        jitter = p["noise"] * rng.random((n, n))
        w = n + 2
        self._field = np.zeros((2, w, w))
        self._field[0, 1:-1, 1:-1], self._field[1, 1:-1, 1:-1] = u - jitter, v + jitter
        # Rows 1..n of the padded grid, flattened, and their four neighbours, as contiguous
        # views: the update also runs over the halo columns, which the next refresh overwrites.
        flat, size = self._field.reshape(2, -1), n * w
        self._views = tuple(flat[:, s : s + size] for s in (w, 0, 2 * w, w - 1, w + 1))
        self._work = np.empty((2, size)), np.empty((2, size))
        self._steps, self._fk, self._walk = 0, (p["feed"], p["kill"]), None
        return self.render(), {}

    def step(self, action):
        """Integrate ``substeps`` Euler sub-steps with the feed and kill set by ``action``."""
        self.advance(action)
        return self.render(), 0.0, False, False, {}

    def advance(self, action) -> None:
        """One physics step without rendering."""
        if self._field is None:
            raise WorldError("call reset() before step()")
        a = np.asarray(action, np.float64).reshape(-1)
        if a.shape != (2,) or not np.all(np.isfinite(a)):
            raise WorldError(f"action={action!r} must be 2 finite numbers in [-1, 1]")
        p = self.params
        a = np.clip(a, -1.0, 1.0)
        feed = max(p["feed"] + 0.01 * float(a[0]), 0.0)
        kill = max(p["kill"] + 0.005 * float(a[1]), 0.0)
        self._steps += 1
        rate = p["rate"]
        if p["rate_change"] is not None and self._steps >= p["rate_change"][0]:
            rate *= p["rate_change"][1]
        self._fk = (feed, kill)
        # Split each sub-step so that dt * rate <= 1 and dt * (F + k) <= 1 (1 at the defaults).
        split = max(1, math.ceil(p["dt"] * max(rate, feed + kill) - 1e-9))
        dt, d, f = p["dt"] / split, self._diff, self._field
        mid, up, down, left, right = self._views
        lap, tmp = self._work
        u, v, react, scratch = mid[0], mid[1], tmp[0], tmp[1]
        for _ in range(p["substeps"] * split):
            f[:, 1:-1, 0], f[:, 1:-1, -1] = f[:, 1:-1, -2], f[:, 1:-1, 1]  # periodic halo
            f[:, 0], f[:, -1] = f[:, -2], f[:, 1]
            np.add(up, down, out=lap)
            lap += left
            lap += right
            np.multiply(mid, 4.0, out=tmp)
            lap -= tmp
            lap *= d  # diffusion
            np.multiply(v, v, out=react)
            react *= u
            react *= rate  # U V^2, moved from U to V
            lap[0] -= react
            lap[1] += react
            np.subtract(1.0, u, out=scratch)
            scratch *= feed
            lap[0] += scratch
            np.multiply(v, feed + kill, out=scratch)
            lap[1] -= scratch
            lap *= dt
            mid += lap
        v[np.abs(v) < 1e-30] = 0.0  # a dying pattern would otherwise decay into slow subnormals

    def render(self) -> np.ndarray:
        """The current frame, ``(image_size, image_size, 3)`` uint8."""
        if self._field is None:
            raise WorldError("call reset() before render()")
        v = self._field[1, 1:-1, 1:-1]
        if self.image_size != self.params["grid"]:
            v = v[np.ix_(self._pick, self._pick)]
        level = v * (255.0 / self.params["v_max"])
        level += 0.5
        np.clip(level, 0.0, 255.0, out=level)
        return np.take(self._lut, level.astype(np.intp), axis=0)

    # -- physics access ---------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """Means of U and V, pattern area and front, effective feed and kill; ``(1,)`` each."""
        if self._field is None:
            raise WorldError("call reset() before state()")
        u, v = self._field[0, 1:-1, 1:-1], self._field[1, 1:-1, 1:-1]
        on = v > _THRESHOLD
        count = int(on.sum())
        front = float(self._radius[on].mean()) if count else 0.0
        values = {
            "u_total": u.mean(),
            "v_total": v.mean(),
            "v_area": count / on.size,
            "front": front,
            "feed": self._fk[0],
            "kill": self._fk[1],
        }
        return {k: np.array([x], np.float32) for k, x in values.items()}

    def sensors(self) -> np.ndarray:
        """V at the six probe cells, then the means of U and V: ``(8,)`` float32."""
        if self._field is None:
            raise WorldError("call reset() before sensors()")
        u, v = self._field[0, 1:-1, 1:-1], self._field[1, 1:-1, 1:-1]
        return np.concatenate([v[self._probe_rc], [u.mean(), v.mean()]]).astype(np.float32)

    def fields(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the U and V grids, ``(grid, grid)`` float64 each."""
        if self._field is None:
            raise WorldError("call reset() before fields()")
        return self._field[0, 1:-1, 1:-1].copy(), self._field[1, 1:-1, 1:-1].copy()

    def scripted_action(self, rng: np.random.Generator) -> np.ndarray:
        """A slow random walk in ``[-1, 1]^2``: each step moves by Gaussian noise (std 0.1)
        with a weak pull towards 0 (factor 0.98), so controls persist for tens of steps; it
        starts uniform in ``[-1, 1]^2`` after each reset."""
        if self._field is None:
            raise WorldError("call reset() before scripted_action()")
        if self._walk is None:
            self._walk = rng.uniform(-1.0, 1.0, 2)
        else:
            self._walk = np.clip(0.98 * self._walk + rng.normal(0.0, 0.1, 2), -1.0, 1.0)
        return self._walk.astype(np.float32)
