"""The World contract, run over every registered world, plus physics checks per world."""

from __future__ import annotations

import numpy as np
import pytest

from physjepa.worlds import Goal, WorldError, make, names
from physjepa.worlds.registry import world_class

WORLDS = names()


def _actions(world, n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [world.random_action(rng) for _ in range(n)]


def _run(name: str, seed: int, actions, **params):
    """Observations (T+1, H, W, 3) and state vectors (T+1, S) of one seeded episode."""
    world = make(name, **params)
    obs, _ = world.reset(seed=seed)
    frames, states = [obs], [world.state_vector()]
    for a in actions:
        obs, *_ = world.step(a)
        frames.append(obs)
        states.append(world.state_vector())
    return np.stack(frames), np.stack(states)


# -- contract: every registered world ---------------------------------------------------------
@pytest.mark.parametrize("name", WORLDS)
def test_reset_step_render_shapes(name):
    world = make(name)
    assert world.render_mode == "rgb_array" and world.name == name
    assert world.action_space.dtype == np.float32 and world.action_space.shape
    obs, info = world.reset(seed=0)
    assert isinstance(info, dict)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert world.observation_space.contains(obs)
    a = world.random_action(np.random.default_rng(0))
    assert world.action_space.contains(a)
    obs2, reward, terminated, truncated, info = world.step(a)
    assert obs2.shape == (64, 64, 3) and obs2.dtype == np.uint8
    assert isinstance(reward, float) and terminated is False and truncated is False
    assert isinstance(info, dict)
    np.testing.assert_array_equal(world.render(), obs2)


@pytest.mark.parametrize("name", WORLDS)
def test_state_is_stable_float32_and_finite_over_random_steps(name):
    world = make(name)
    world.reset(seed=1)
    spec = world.state_spec()
    assert spec, "state() must expose at least one quantity"
    for a in _actions(world, 200, seed=1):
        obs, *_ = world.step(a)
        assert world.observation_space.contains(obs)
        state = world.state()
        assert [(k, v.shape) for k, v in state.items()] == spec
        for v in state.values():
            assert v.dtype == np.float32 and np.all(np.isfinite(v))
    assert world.state_vector().shape == (sum(int(np.prod(s)) for _, s in spec),)


@pytest.mark.parametrize("name", WORLDS)
def test_seeded_determinism(name):
    actions = _actions(make(name), 60, seed=2)
    frames_a, states_a = _run(name, 7, actions)
    frames_b, states_b = _run(name, 7, actions)
    np.testing.assert_array_equal(frames_a, frames_b)
    np.testing.assert_array_equal(states_a, states_b)
    frames_c, states_c = _run(name, 8, actions)
    assert not np.array_equal(states_a, states_c) and not np.array_equal(frames_a, frames_c)


@pytest.mark.parametrize("name", WORLDS)
def test_random_action_is_a_pure_function_of_the_rng(name):
    world = make(name)
    a = [world.random_action(np.random.default_rng(3)) for _ in range(2)]
    np.testing.assert_array_equal(a[0], a[1])
    assert all(world.action_space.contains(x) for x in _actions(world, 50))


@pytest.mark.parametrize("name", WORLDS)
def test_params_settable_and_unknown_param_refused(name):
    defaults = world_class(name).default_params
    for key, value in defaults.items():  # every param can be passed explicitly
        assert make(name, **{key: value}).params[key] == make(name).params[key]
    with pytest.raises(WorldError) as err:
        make(name, no_such_param=1.0)
    message = str(err.value)
    assert "no_such_param" in message and "\n" not in message
    assert all(key in message for key in defaults)


@pytest.mark.parametrize("name", WORLDS)
def test_bad_action_is_refused(name):
    world = make(name)
    world.reset(seed=0)
    with pytest.raises(WorldError):
        world.step(np.full(world.action_space.shape, np.nan, np.float32))


@pytest.mark.parametrize("name", WORLDS)
def test_image_size_32(name):
    world = make(name, image_size=32)
    obs, _ = world.reset(seed=0)
    assert obs.shape == (32, 32, 3) and world.observation_space.shape == (32, 32, 3)
    obs, *_ = world.step(world.random_action(np.random.default_rng(0)))
    assert obs.shape == (32, 32, 3) and obs.dtype == np.uint8


@pytest.mark.parametrize("name", WORLDS)
def test_goal_and_success(name):
    world = make(name)
    world.reset(seed=4)
    if not world.has_task:
        with pytest.raises(WorldError):
            world.goal()
        return
    before_state, before_obs = world.state_vector(), world.render()
    goal = world.goal()
    assert isinstance(goal, Goal)
    assert goal.obs.shape == before_obs.shape and goal.obs.dtype == np.uint8
    assert set(goal.state) <= set(world.state())
    np.testing.assert_array_equal(world.state_vector(), before_state)  # goal() leaves no trace
    np.testing.assert_array_equal(world.render(), before_obs)
    world.set_state(**goal.state)  # agent placed at the goal
    assert world.success(goal)
    np.testing.assert_array_equal(world.render(), goal.obs)


# -- ball-drop physics ------------------------------------------------------------------------
def _ball_track(steps: int, actions=None, seed: int = 0, **params):
    world = make("ball-drop", **params)
    world.reset(seed=seed)
    pos, vel = [world.state()["ball_pos"]], [world.state()["ball_vel"]]
    for t in range(steps):
        world.step(np.zeros(2, np.float32) if actions is None else actions[t])
        pos.append(world.state()["ball_pos"])
        vel.append(world.state()["ball_vel"])
    return world, np.stack(pos), np.stack(vel)  # (T+1, n_balls, 2) each


def test_ball_falls_bounces_and_stays_in_the_box():
    world, pos, vel = _ball_track(500, seed=1, init_speed=0.0, obstacle=False)
    y, vy = pos[:, 0, 1], vel[:, 0, 1]
    assert y[0] > 0.3  # released above the floor (this seed) ...
    assert y[10] < y[0] - 0.02 and vy[10] < 0  # ... falls ...
    bounce = np.flatnonzero((vy[:-1] < 0) & (vy[1:] > 0))
    assert bounce.size >= 2  # ... and bounces back up, more than once
    r = world.params["radius"]
    assert pos.min() >= r - 1e-3 and pos.max() <= 1 - r + 1e-3


def test_balls_never_leave_the_box_nor_enter_the_peg():
    world = make("ball-drop", n_balls=3)
    actions = _actions(world, 500, seed=5)
    world, pos, _ = _ball_track(500, actions, seed=5, n_balls=3)
    p = world.params
    r = p["radius"]
    # Contacts are found after each sub-step, so a shape may overlap by one sub-step's travel.
    tol = p["max_speed"] * p["dt"] / p["substeps"] + 1e-3
    assert pos.min() >= r - tol and pos.max() <= 1 - r + tol
    to_peg = np.linalg.norm(pos - np.array(p["obstacle_pos"]), axis=-1)
    assert to_peg.min() >= r + p["obstacle_radius"] - tol
    pairs = [(0, 1), (0, 2), (1, 2)]
    assert (
        min(np.linalg.norm(pos[:, i] - pos[:, j], axis=-1).min() for i, j in pairs) >= 2 * r - tol
    )


@pytest.mark.parametrize("push", [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)])
def test_push_changes_first_ball_velocity_in_its_direction(push):
    a = np.array(push, np.float32)
    _, _, vel_push = _ball_track(1, [a], seed=3, obstacle=False, n_balls=2)
    _, _, vel_free = _ball_track(1, None, seed=3, obstacle=False, n_balls=2)
    dv = vel_push[1, 0] - vel_free[1, 0]
    strength = make("ball-drop").params["push_strength"]  # mass 1: dv = push_strength * a
    np.testing.assert_allclose(dv, strength * a, atol=0.02)
    _, _, vel_heavy = _ball_track(1, [a], seed=3, obstacle=False, n_balls=2, mass=2.0)
    assert np.dot(vel_heavy[1, 0] - vel_free[1, 0], a) < 0.6 * np.dot(dv, a)


def test_higher_restitution_bounces_higher():
    def rebound_height(restitution: float) -> float:
        _, pos, vel = _ball_track(
            150, seed=1, init_speed=0.0, obstacle=False, restitution=restitution
        )
        first_bounce = np.flatnonzero((vel[:-1, 0, 1] < 0) & (vel[1:, 0, 1] > 0))[0]
        return float(pos[first_bounce:, 0, 1].max())

    assert rebound_height(0.9) > rebound_height(0.2) + 0.1


def test_stronger_gravity_falls_faster():
    def height_after(gravity: float) -> float:
        return float(
            _ball_track(8, seed=1, init_speed=0.0, obstacle=False, gravity=gravity)[1][-1, 0, 1]
        )

    assert height_after(3.0) < height_after(0.5) - 0.05


@pytest.mark.parametrize(
    "params",
    [
        {"n_balls": 4},
        {"restitution": 1.5},
        {"gravity": float("nan")},
        {"ball_colors": [(1, 2, 3)] * 2, "n_balls": 2},
        {"substeps": 1},
    ],
)
def test_ball_drop_bad_params_raise_one_line_error(params):
    with pytest.raises(WorldError) as err:
        make("ball-drop", **params)
    assert "\n" not in str(err.value) and next(iter(params)) in str(err.value)


# -- two-room physics -------------------------------------------------------------------------
def test_agent_crosses_the_wall_only_through_the_door():
    world = make("two-room")
    p = world.params
    door_lo, door_hi = p["door_y"] - p["door_width"] / 2, p["door_y"] + p["door_width"] / 2
    rng = np.random.default_rng(0)
    crossings = 0
    for seed in range(15):
        world.reset(seed=seed)
        prev = world.state()["agent_pos"]
        for _ in range(200):
            a = rng.uniform(-1, 1, 2)
            a[0] += 0.7 * np.sign(p["wall_x"] - prev[0])  # drift toward the wall
            world.step(np.clip(a, -1, 1).astype(np.float32))
            pos = world.state()["agent_pos"]
            if (prev[0] - p["wall_x"]) * (pos[0] - p["wall_x"]) < 0:
                crossings += 1
                assert door_lo <= prev[1] <= door_hi and door_lo <= pos[1] <= door_hi
            np.testing.assert_allclose(world.state()["agent_vel"], pos - prev, atol=1e-6)
            prev = pos
    assert crossings > 0


def test_agent_passes_the_door_when_driven_at_it_and_is_blocked_elsewhere():
    world = make("two-room")
    p = world.params
    world.reset(seed=0)
    world.set_state((0.2, p["door_y"]))
    for _ in range(20):
        world.step(np.array([1.0, 0.0], np.float32))
    x, y = world.state()["agent_pos"]
    assert x > p["wall_x"] + p["wall_thickness"] / 2 + p["agent_radius"] and y == pytest.approx(
        p["door_y"]
    )
    world.set_state((0.2, 0.15))  # below the door: the wall stops it
    for _ in range(20):
        world.step(np.array([1.0, 0.0], np.float32))
    stop = p["wall_x"] - p["wall_thickness"] / 2 - p["agent_radius"]
    assert world.state()["agent_pos"][0] == pytest.approx(stop, abs=1e-6)
    world.step(np.array([1.0, 1.0], np.float32))  # pressed against the wall it slides along it
    x, y = world.state()["agent_pos"]
    assert x == pytest.approx(stop, abs=1e-6) and y == pytest.approx(
        0.15 + p["max_speed"], abs=1e-6
    )


def test_two_room_step_scale_and_goal_far_away_is_not_success():
    world = make("two-room", max_speed=0.03)
    world.reset(seed=0)
    world.set_state((0.2, 0.5))
    world.step(np.array([0.0, -0.5], np.float32))
    np.testing.assert_allclose(world.state()["agent_vel"], [0.0, -0.015], atol=1e-6)
    goal = Goal(state={"agent_pos": np.array([0.9, 0.9], np.float32)}, obs=world.render())
    assert not world.success(goal)
    with pytest.raises(WorldError):
        world.set_state((0.5, 0.1))  # inside the wall
    with pytest.raises(WorldError):
        make("two-room", door_width=0.05)  # narrower than the agent
