"""Beam physics: linear elastic and reversible under small loads, brittle past its strength."""

from __future__ import annotations

import numpy as np
import pytest

from physjepa.worlds import WorldError, make

INTACT = dict(flaw_depth=0, disorder=0.0)


def _settle(world, action, steps=12):
    for _ in range(steps):
        world.step(action)
    return world.state()


def test_small_loads_match_the_lattice_stiffness_and_scale_linearly():
    tips = []
    for load in (0.1, 0.2, 0.3):
        w = make("beam", **INTACT)
        w.reset(seed=0)
        s = _settle(w, [load, 1.0])
        exact = w.static_deflection(load * w.params["max_load"], 1.0)  # K^-1 f
        assert np.allclose(s["displacement"], exact, rtol=0, atol=1e-3 * np.abs(exact).max())
        assert s["broken"][0] == 0 and s["failed"][0] == 0
        tips.append(s["tip_deflection"][0])
    tips = np.array(tips)
    assert tips[0] < 0  # a downward load bends the beam down
    assert np.allclose(tips / tips[0], [1.0, 2.0, 3.0], rtol=1e-3)  # linear in the load


def test_elastic_deflection_is_reversible():
    w = make("beam", **INTACT)
    w.reset(seed=0)
    loaded = _settle(w, [0.3, 0.0])
    assert loaded["tip_deflection"][0] < -0.5
    unloaded = _settle(w, [0.0, 0.0], steps=15)
    assert abs(unloaded["tip_deflection"][0]) < 1e-3
    assert unloaded["broken"][0] == 0


def test_loads_past_the_strength_break_the_beam():
    w = make("beam", **INTACT)
    w.reset(seed=0)
    limit = None
    for load in np.linspace(0.05, 1.0, 40):
        s = _settle(w, [load, 1.0], steps=3)
        if s["broken"][0] > 0 and limit is None:
            limit = load
    assert limit is not None and 0.2 < limit < 0.9  # elastic first, then it cracks
    assert s["failed"][0] == 1 and 1 <= s["fail_step"][0] <= 120
    # the elastic prediction at the first break exceeds the strength, just below it does not
    probe = make("beam", **INTACT)
    probe.reset(seed=0)
    ratio = lambda load: (  # noqa: E731
        probe._S @ probe.static_deflection(load * probe.params["max_load"]) / probe._strength
    ).max()
    assert ratio(limit) > 1.0 > ratio(limit - 0.1)


def test_a_notch_weakens_the_beam():
    def first_break(depth):
        w = make("beam", flaw_depth=depth, flaw_x=0.1, disorder=0.0)
        w.reset(seed=0)
        start = w.state()["broken"][0]
        for load in np.linspace(0.02, 1.0, 50):
            if _settle(w, [load, 1.0], steps=2)["broken"][0] > start:
                return load
        return 2.0

    assert first_break(2) < first_break(1) < first_break(0)


def test_sensors_and_faults():
    w = make("beam")
    w.reset(seed=3)
    assert len(w.sensor_names) == w.sensors().shape[0] == 9
    assert w.sensors().dtype == np.float32

    def run(**params):
        world = make("beam", **params)
        world.reset(seed=3)
        rows = []
        for t in range(30):
            world.step([0.2 + 0.005 * t, 0.5])
            rows.append(world.sensors())
        return np.stack(rows)

    normal = run()
    stuck = run(fault=["stuck", 10, 0])
    drift = run(fault=["drift", 10, 1, 0.01])
    soft = run(fault=["stiffness", 10, 0.5])
    crack = run(fault=["crack", 10, 0.2, 2])
    for faulted in (stuck, drift, soft, crack):
        assert np.array_equal(faulted[:9], normal[:9])  # identical before the fault's step
        assert not np.allclose(faulted[10:], normal[10:])
    assert np.all(stuck[9:, 0] == stuck[9, 0])
    assert np.allclose(drift[20, 1] - normal[20, 1], 0.01 * 12, atol=1e-6)  # row 20 = step 21
    assert np.abs(soft[15:, 0]).mean() > 1.3 * np.abs(normal[15:, 0]).mean()  # softer: bends more


def test_bad_params_are_refused():
    for params in (
        {"fault": ["melt", 3]},
        {"fault": ["stuck", 0, 1]},
        {"fault": ["stuck", 3, 99]},
        {"flaw_depth": 9},
        {"strength": -1},
    ):
        with pytest.raises(WorldError) as e:
            make("beam", **params)
        assert "\n" not in str(e.value)


def test_stiffness_matrix_matches_spring_forces_computed_one_by_one():
    """K u against the forces of every spring summed by hand: each pulls its two nodes along
    its rest direction with k * (n . (u_b - u_a)) (k = stiffness, unit rest lengths scaled)."""
    w = make("beam", nx=5, ny=3, **INTACT)
    w.reset(seed=0)
    rng = np.random.default_rng(1)
    u = np.zeros(2 * 5 * 3)
    u[w._free] = rng.normal(size=len(w._free))
    force = np.zeros_like(u)
    rest = [(i, j) for i in range(5) for j in range(3)]
    for a, b in w._springs:
        d = np.subtract(rest[b], rest[a]).astype(float)
        length = np.hypot(*d)
        n = d / length
        stretch = n @ (u[2 * b : 2 * b + 2] - u[2 * a : 2 * a + 2])  # elongation
        f = w.params["stiffness"] * stretch * n  # tension pulls b back, a forward
        force[2 * a : 2 * a + 2] += f
        force[2 * b : 2 * b + 2] -= f
    assert np.allclose(-w._K @ u[w._free], force[w._free])
    state = w.state()
    w.static_deflection(0.01)
    assert w.state()["load"][0] == state["load"][0]  # probing the stiffness moves no load
