"""The reaction world: Gray-Scott budgets, Pearson's regimes, sensors, fault injection."""

from __future__ import annotations

import numpy as np
import pytest

from physjepa.worlds import WorldError, make

ZERO = np.zeros(2, np.float32)


def _run(steps: int, seed: int = 0, actions=None, **params):
    """States, sensors and frames after reset and after each of ``steps`` steps."""
    world = make("reaction", **params)
    obs, _ = world.reset(seed=seed)
    states, sensors, frames = [world.state_vector()], [world.sensors()], [obs]
    for t in range(steps):
        obs, *_ = world.step(ZERO if actions is None else actions[t])
        states.append(world.state_vector())
        sensors.append(world.sensors())
        frames.append(obs)
    return np.stack(states), np.stack(sensors), np.stack(frames)


# -- budgets ------------------------------------------------------------------------------------
def test_without_feed_and_kill_the_reaction_conserves_u_plus_v():
    world = make("reaction", feed=0.0, kill=0.0)
    world.reset(seed=0)
    u0, v0 = world.fields()
    for _ in range(200):
        world.step(ZERO)
    u, v = world.fields()
    assert u.sum() < u0.sum() - 100  # U really turned into V ...
    assert (u + v).sum() == pytest.approx((u0 + v0).sum(), rel=1e-10)  # ... one for one


def test_diffusion_alone_conserves_each_species_and_smooths_it():
    world = make("reaction", feed=0.0, kill=0.0, rate=0.0)
    world.reset(seed=1)
    u0, v0 = world.fields()
    for _ in range(200):
        world.step(ZERO)
    u, v = world.fields()
    assert u.sum() == pytest.approx(u0.sum(), rel=1e-10)
    assert v.sum() == pytest.approx(v0.sum(), rel=1e-10)
    assert v.max() < 0.5 * v0.max() and u.min() > u0.min() + 0.1


def test_feed_and_kill_balance_of_one_sub_step_follows_the_action():
    # d(mean U + mean V) = dt * (F (1 - mean U) - (F + k) mean V), F and k set by the action
    world = make("reaction", substeps=1, dt=2.0, du=0.1, dv=0.05, rate=0.5)  # no split
    world.reset(seed=2)
    for _ in range(30):
        world.step(ZERO)
    for a in ([1.0, -1.0], [-0.5, 0.7], [3.0, -2.0]):  # the last is clipped to [1, -1]
        u, v = (x.mean() for x in world.fields())
        world.step(np.array(a, np.float32))
        feed = 0.037 + 0.01 * float(np.clip(a[0], -1, 1))
        kill = 0.06 + 0.005 * float(np.clip(a[1], -1, 1))
        u1, v1 = (x.mean() for x in world.fields())
        assert u1 + v1 - u - v == pytest.approx(2.0 * (feed * (1 - u) - (feed + kill) * v), 1e-9)
        s = world.state()
        assert s["feed"][0] == pytest.approx(feed) and s["kill"][0] == pytest.approx(kill)


def test_feed_and_kill_are_clipped_at_zero():
    world = make("reaction", feed=0.004, kill=0.001)
    world.reset(seed=0)
    assert world.state()["feed"][0] == pytest.approx(0.004)  # the base values after reset
    world.step(np.array([-1.0, -1.0], np.float32))
    assert world.state()["feed"][0] == 0.0 and world.state()["kill"][0] == 0.0


# -- Pearson's regimes --------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_pattern_regime_grows_from_the_seeds_and_persists(seed):
    # F = 0.037, k = 0.06 (the defaults): seeds covering 4.7% of a 48 grid become a labyrinth
    # covering about 45% by step 200 and stay so (measured: 0.45 to 0.47 up to step 3000).
    states, _, _ = _run(400, seed=seed, grid=48)
    area = states[:, 2]  # v_area
    assert area[0] == pytest.approx(3 * 36 / 48**2)
    assert area[50] > 0.25 and area[200:].min() > 0.35
    assert states[-1, 1] > 0.12  # v_total
    assert 0.3 < states[-1, 3] < 0.45  # front: V spread over the whole grid


@pytest.mark.parametrize(
    "feed, kill",
    [
        (0.02, 0.075),  # k beyond the pattern region: no non-trivial state exists
        (0.09, 0.059),  # small seeds fall back to the trivial state
    ],
)
def test_dying_regime_returns_to_the_trivial_state(feed, kill):
    states, sensors, _ = _run(150, grid=48, feed=feed, kill=kill)
    assert states[-1, 1] < 1e-6 and states[-1, 2] == 0.0 and states[-1, 3] == 0.0
    assert states[-1, 0] == pytest.approx(1.0, abs=1e-5)  # u_total back at U = 1
    assert np.all(sensors[-1, :6] < 1e-6)


# -- determinism, params, sensors, rendering ----------------------------------------------------
def test_seeded_determinism_with_the_scripted_policy():
    def episode(seed: int):
        world = make("reaction", grid=32)
        world.reset(seed=seed)
        rng = np.random.default_rng(5)
        actions = [world.scripted_action(rng) for _ in range(40)]
        return _run(40, seed, actions, grid=32), np.stack(actions)

    (a, a_actions), (b, b_actions), (c, _) = episode(3), episode(3), episode(4)
    np.testing.assert_array_equal(a_actions, b_actions)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[2], c[2])


def test_scripted_action_is_a_slow_random_walk_restarted_by_reset():
    world = make("reaction")
    world.reset(seed=0)
    rng = np.random.default_rng(0)
    walk = np.stack([world.scripted_action(rng) for _ in range(500)])
    assert walk.dtype == np.float32 and walk.shape == (500, 2)
    assert np.all(np.abs(walk) <= 1.0)
    steps = np.abs(np.diff(walk, axis=0))
    assert steps.mean() < 0.12 and walk.std(axis=0).min() > 0.25  # smooth, yet it roams
    world.reset(seed=0)  # the walk starts afresh
    np.testing.assert_array_equal(world.scripted_action(np.random.default_rng(0)), walk[0])


@pytest.mark.parametrize(
    "params, name",
    [
        ({"grid": 4}, "grid"),
        ({"du": float("nan")}, "du"),
        ({"feed": -0.1}, "feed"),
        ({"kill": "0.06"}, "kill"),
        ({"rate": 11.0}, "rate"),
        ({"dt": 2.0}, "dt"),  # 2 * 4 * 0.16 > 1: unstable diffusion
        ({"substeps": 0}, "substeps"),
        ({"seeds": 1.5}, "seeds"),
        ({"seed_size": 100}, "seed_size"),
        ({"noise": 1.0}, "noise"),
        ({"rate_change": (0, 2.0)}, "rate_change step"),
        ({"rate_change": (5, 20.0)}, "rate_change factor"),
        ({"rate_change": 5}, "rate_change"),
        ({"rate_change": (1, 2.0, 3)}, "rate_change"),
        ({"high_color": (1, 2)}, "high_color"),
    ],
)
def test_bad_params_raise_one_line_error(params, name):
    with pytest.raises(WorldError, match=name) as err:
        make("reaction", **params)
    assert "\n" not in str(err.value)


def test_rate_change_from_json_is_normalised():
    assert make("reaction", rate_change=[10, 2]).params["rate_change"] == (10, 2.0)


def test_sensors_names_shape_and_probe_cells():
    world = make("reaction")
    with pytest.raises(WorldError):
        world.sensors()
    assert world.sensor_names == (*(f"probe_{i}" for i in range(6)), "u_mean", "v_mean")
    world.reset(seed=0)
    for _ in range(60):
        world.step(ZERO)
    reading = world.sensors()
    assert reading.shape == (8,) and reading.dtype == np.float32
    u, v = world.fields()
    cells = [(16, 10), (16, 32), (16, 53), (48, 10), (48, 32), (48, 53)]  # at grid 64
    np.testing.assert_array_equal(reading[:6], np.array([v[c] for c in cells], np.float32))
    state = world.state()
    assert reading[6] == state["u_total"][0] and reading[7] == state["v_total"][0]


def test_state_spec():
    world = make("reaction")
    world.reset(seed=0)
    names = ["u_total", "v_total", "v_area", "front", "feed", "kill"]
    assert world.state_spec() == [(k, (1,)) for k in names]


@pytest.mark.parametrize("step, factor", [(20, 3.0), (1, 0.2)])
def test_rate_change_acts_only_from_its_step_on(step, factor):
    base = _run(step + 10, seed=6, grid=32)
    faulty = _run(step + 10, seed=6, grid=32, rate_change=(step, factor))
    for x, y in zip(base, faulty):  # states, sensors, frames; index t is after t steps
        np.testing.assert_array_equal(x[:step], y[:step])
        assert not np.array_equal(x[step], y[step])


def test_rate_change_at_step_one_is_a_different_rate_throughout():
    faulty = _run(15, seed=6, grid=32, rate=2.0, rate_change=(1, 0.5))
    for x, y in zip(_run(15, seed=6, grid=32, rate=1.0), faulty):
        np.testing.assert_array_equal(x, y)


def test_a_stiff_sub_step_is_split_into_stable_ones():
    # dt * rate = 2: each sub-step of 2 becomes two of 1, exactly as if asked for
    split = _run(10, seed=0, grid=32, dt=2.0, substeps=5, du=0.1, dv=0.05)
    plain = _run(10, seed=0, grid=32, dt=1.0, substeps=10, du=0.1, dv=0.05)
    for x, y in zip(split, plain):
        np.testing.assert_array_equal(x, y)


def test_a_tenfold_rate_stays_finite_and_bounded():
    world = make("reaction", grid=32, rate_change=(5, 10.0))
    world.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(40):
        world.step(world.random_action(rng))
    u, v = world.fields()
    assert np.isfinite(u).all() and np.isfinite(v).all()
    assert u.min() > -1e-9 and v.min() > -1e-9 and (u + v).max() < 1.2


def _colour(level: np.ndarray, low=(10, 20, 70), high=(250, 220, 40)) -> np.ndarray:
    """The documented colormap: linear from ``low`` to ``high`` over 256 levels of V."""
    t = level[..., None] / 255.0
    return np.rint(np.array(low) + t * (np.array(high) - np.array(low))).astype(np.uint8)


def test_colormap_and_nearest_resize():
    world = make("reaction", seeds=0, noise=0.0, low_color=(1, 2, 3))
    obs, _ = world.reset(seed=0)
    assert np.all(obs == np.array([1, 2, 3], np.uint8))  # V = 0 everywhere: low colour
    for image_size, pick in [(128, np.arange(128) // 2), (32, np.arange(0, 64, 2)), (64, None)]:
        world = make("reaction", image_size=image_size)
        world.reset(seed=0)
        for _ in range(30):
            obs, *_ = world.step(ZERO)
        v = world.fields()[1]
        v = v if pick is None else v[np.ix_(pick, pick)]
        level = np.clip(np.floor(v * 510 + 0.5), 0, 255)  # v_max = 0.5
        np.testing.assert_array_equal(obs, _colour(level))
        assert len({tuple(c) for c in obs.reshape(-1, 3)}) > 20
