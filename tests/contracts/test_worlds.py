"""The World contract, run over every registered world, plus physics checks per world."""

from __future__ import annotations

import json

import gymnasium_envs  # noqa: F401  (registers DictObs-v0)
import numpy as np
import pytest

from physjepa.worlds import Goal, WorldError, make, names
from physjepa.worlds.registry import world_class

#: Gymnasium envs through the adapter: classic control (continuous, discrete, one that ends
#: early) and the Dict-observation env above.
GYM_WORLDS = [
    "gym:Pendulum-v1",
    "gym:CartPole-v1",
    "gym:MountainCarContinuous-v0",
    "gym:Acrobot-v1",
    "gym:DictObs-v0",
]
WORLDS = names() + GYM_WORLDS


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
    if hasattr(world, "set_state"):
        world.set_state(**goal.state)  # agent placed at the goal
    assert world.success(goal)  # (a gym world's goal() is where it is)
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


# -- task contract: every world with a task ---------------------------------------------------
TASK_WORLDS = [name for name in WORLDS if world_class(name).has_task]


def _scripted(world, n: int, seed: int) -> list[np.ndarray]:
    """Step ``world`` ``n`` times with its scripted policy; the actions taken."""
    rng, actions = np.random.default_rng(seed), []
    for _ in range(n):
        actions.append(world.scripted_action(rng))
        world.step(actions[-1])
    return actions


def _replay(world, actions) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, H, W, 3) and state vectors (T, S) after each of ``actions``."""
    frames, states = [], []
    for a in actions:
        frames.append(world.step(a)[0])
        states.append(world.state_vector())
    return np.stack(frames), np.stack(states)


@pytest.mark.parametrize("name", TASK_WORLDS)
def test_sim_state_restores_exactly(name):
    world, twin = make(name), make(name)
    for w in (world, twin):
        w.reset(seed=5)
        _scripted(w, 8 if name.startswith("gym:") else 40, seed=6)  # before CartPole falls
    saved = world.sim_state()
    assert json.loads(json.dumps(saved)) == saved  # plain JSON values, as manifests store
    actions = [world.random_action(np.random.default_rng(t)) for t in range(40)]
    world.set_sim_state(world.sim_state())  # a no-op: the same future as the twin's
    frames, states = _replay(world, actions)
    twin_frames, twin_states = _replay(twin, actions)
    np.testing.assert_array_equal(frames, twin_frames)
    np.testing.assert_array_equal(states, twin_states)
    assert not np.array_equal(states[0], states[-1])
    other = make(name)  # another history, restored from JSON: still the same future
    other.reset(seed=99)
    _scripted(other, 10, seed=1)
    other.set_sim_state(json.loads(json.dumps(saved)))
    np.testing.assert_array_equal(_replay(other, actions)[1], states)
    world.set_sim_state(saved)  # back in time in the same world
    np.testing.assert_array_equal(_replay(world, actions)[0], frames)


@pytest.mark.parametrize("name", TASK_WORLDS)
def test_set_sim_state_refuses_a_bad_state(name):
    world = make(name)
    world.reset(seed=0)
    saved = world.sim_state()
    key = next(iter(saved))
    wrong = {**saved, key: saved[key] + [0.0]} if isinstance(saved[key], list) else None
    for bad in [{k: v for k, v in saved.items() if k != key}, {**saved, key: "x"}, wrong]:
        if bad is None:
            continue
        with pytest.raises(WorldError) as err:
            world.set_sim_state(bad)
        assert "\n" not in str(err.value)
    assert world.sim_state() == saved


@pytest.mark.parametrize("name", TASK_WORLDS)
def test_goal_here_is_reached_here_and_not_after_moving_away(name):
    # a gym world's radius is relative to the data's spread, which this test has not got
    world = make(name, **({"success_radius": 1e-3} if name.startswith("gym:") else {}))
    world.reset(seed=6)
    _scripted(world, 5, seed=6)
    goal = world.goal_here()
    assert isinstance(goal, Goal) and set(goal.state) <= set(world.state())
    np.testing.assert_array_equal(goal.obs, world.render())
    assert world.success(goal) and world.goal_distance(goal) < 1e-3
    rng = np.random.default_rng(6)
    for _ in range(world.default_episode_steps):
        world.step(world.scripted_action(rng))
        if not world.success(goal):
            break
    assert not world.success(goal) and world.goal_distance(goal) > 0


@pytest.mark.parametrize("name", TASK_WORLDS)
def test_scripted_action_is_deterministic_and_in_bounds(name):
    runs = []
    for _ in range(2):
        world = make(name)
        world.reset(seed=8)
        runs.append(np.stack(_scripted(world, 60, seed=9)))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert runs[0].dtype == np.float32 and all(world.action_space.contains(a) for a in runs[0])
    assert runs[0].std(axis=0).min() > 0.1  # it does act


@pytest.mark.parametrize("name", TASK_WORLDS)
def test_advance_then_render_is_step(name):
    stepped, advanced = make(name), make(name)
    stepped.reset(seed=3)
    advanced.reset(seed=3)
    for a in _actions(stepped, 30, seed=3):
        obs, *_ = stepped.step(a)
        advanced.advance(a)
        np.testing.assert_array_equal(advanced.render(), obs)
        np.testing.assert_array_equal(advanced.state_vector(), stepped.state_vector())


# -- push-t physics ---------------------------------------------------------------------------
def _push_t(block=(256.0, 256.0), angle=0.0, agent=(60.0, 60.0), **params):
    world = make("push-t", **params)
    world.reset(seed=0)
    world.set_state(block, (angle,), agent_pos=agent)
    return world


def _drive(world, action, steps: int) -> None:
    for _ in range(steps):
        world.step(np.asarray(action, np.float32))


def test_push_t_block_stays_put_while_the_pusher_is_away():
    world = _push_t()
    before = world.state()
    rng = np.random.default_rng(0)
    for _ in range(40):  # wander in the bottom-left corner
        a = rng.uniform(-1, 1, 2) - 0.5 * (world.state()["agent_pos"] > 100)
        world.step(np.clip(a, -1, 1).astype(np.float32))
    after = world.state()
    for key in ("block_pos", "block_angle", "block_vel", "block_ang_vel"):
        np.testing.assert_array_equal(after[key], before[key])
    assert not np.array_equal(after["agent_pos"], before["agent_pos"])


def test_push_t_pusher_moves_the_block_which_stops_after_contact():
    world = _push_t(agent=(150.0, 256.0))  # level with the stem, left of it
    np.testing.assert_allclose(world.state()["block_pos"], [256, 256])
    _drive(world, (1.0, 0.0), 1)
    np.testing.assert_allclose(world.state()["agent_vel"], [20.0, 0.0], atol=1e-9)
    _drive(world, (1.0, 0.0), 10)
    s = world.state()
    assert s["block_pos"][0] > 256 + 60 and abs(s["block_pos"][1] - 256) < 10
    assert s["block_vel"][0] > 10
    _drive(world, (-1.0, 0.0), 3)  # the pusher backs off: friction stops the block
    s = world.state()
    np.testing.assert_array_equal(s["block_vel"], [0.0, 0.0])
    np.testing.assert_array_equal(s["block_ang_vel"], [0.0])
    _drive(world, (-1.0, 0.0), 3)
    np.testing.assert_array_equal(world.state()["block_pos"], s["block_pos"])


def test_push_t_off_centre_push_rotates_the_block():
    world = _push_t(agent=(150.0, 256.0 + 35.0))  # level with the bar: above the centre
    _drive(world, (1.0, 0.0), 10)
    assert world.state()["block_angle"][0] < -0.3  # clockwise


def test_push_t_restores_exactly_in_the_middle_of_a_contact():
    world = _push_t(block=(440.0, 256.0), agent=(340.0, 240.0))
    _drive(world, (1.0, 0.0), 6)  # pressing the block against the right wall
    saved = world.sim_state()
    actions = [np.array([1.0, 0.2], np.float32)] * 10 + _actions(world, 20, seed=0)
    states = _replay(world, actions)[1]
    other = _push_t(agent=(100.0, 100.0))  # another history: pymunk's caches must not matter
    _drive(other, (0.5, 0.5), 5)
    other.set_sim_state(json.loads(json.dumps(saved)))
    np.testing.assert_array_equal(_replay(other, actions)[1], states)


def test_push_t_pusher_and_block_stay_on_the_table():
    from physjepa.worlds.push_t import _to_table

    world = _push_t(block=(400.0, 400.0), angle=0.7, agent=(300.0, 300.0))
    actions = [np.array([1.0, 1.0], np.float32)] * 60 + _actions(world, 200, seed=4)
    p = world.params
    r, tol = p["agent_radius"], p["max_speed"] / p["substeps"] + 1  # a sub-step's overlap
    for a in actions:
        world.step(a)
        s = world.state()
        corners = _to_table(world._outline, s["block_pos"], float(s["block_angle"][0]))
        assert corners.min() > -tol and corners.max() < 512 + tol
        assert s["agent_pos"].min() > r - tol and s["agent_pos"].max() < 512 - r + tol
        angle = float(s["block_angle"][0])
        assert world._block_distance(s["agent_pos"], s["block_pos"], angle) > r - tol


def test_push_t_success_thresholds():
    world = _push_t(block=(256.0, 256.0), angle=0.5)

    def goal(dx: float, dangle: float) -> Goal:
        pos, angle = np.array([256 + dx, 256], np.float32), np.array([0.5 + dangle], np.float32)
        return Goal(state={"block_pos": pos, "block_angle": angle}, obs=world.render())

    assert world.success(goal(19, 0)) and not world.success(goal(21, 0))
    assert world.success(goal(0, -np.pi / 10)) and not world.success(goal(0, np.pi / 8))
    assert world.success(goal(-19, np.pi / 10)) and not world.success(goal(19, 2 * np.pi / 8))
    assert world.goal_distance(goal(19, 0)) == pytest.approx(19, abs=1e-4)
    assert world.goal_distance(goal(0, np.pi / 9)) == pytest.approx(20, abs=1e-4)
    assert world.success(goal(0, 2 * np.pi))  # angles compare modulo a turn


@pytest.mark.parametrize(
    "params",
    [{"substeps": 1}, {"block_scale": 3.0}, {"block_color": (1, 2)}, {"friction": -1.0}],
)
def test_push_t_bad_params_raise_one_line_error(params):
    with pytest.raises(WorldError) as err:
        make("push-t", **params)
    assert "\n" not in str(err.value) and next(iter(params)) in str(err.value)


# -- reacher physics --------------------------------------------------------------------------
def _reacher(angle=(0.3, -1.2), **params):
    world = make("reacher", **params)
    world.reset(seed=0)
    world.set_state(angle)
    return world


def test_reacher_zero_torque_at_rest_stays_at_rest():
    world = _reacher()
    before = world.state_vector()
    _drive(world, (0.0, 0.0), 20)
    np.testing.assert_array_equal(world.state_vector(), before)


def test_reacher_torque_turns_its_joint_and_damping_stops_it():
    world = _reacher()
    _drive(world, (1.0, 0.0), 5)
    s = world.state()
    assert s["joint_angle"][0] > 0.3 + 0.3 and s["joint_angle"][1] == pytest.approx(-1.2)
    assert s["joint_vel"][0] > 0.1 and s["joint_vel"][1] == 0
    _drive(world, (0.0, 0.0), 4)
    assert abs(world.state()["joint_vel"][0]) < 0.01
    _drive(world, (0.0, -1.0), 5)
    assert world.state()["joint_angle"][1] < -1.2 - 0.3


def test_reacher_fingertip_is_forward_kinematics_and_angles_wrap():
    world = make("reacher")
    world.reset(seed=2)
    l1, l2 = world.params["link1_length"], world.params["link2_length"]
    for a in [np.ones(2, np.float32)] * 60 + _actions(world, 100, seed=2):
        world.step(a)
        s = world.state()
        a1, a2 = s["joint_angle"].astype(np.float64)
        tip = 0.5 + l1 * np.array([np.cos(a1), np.sin(a1)])
        tip += l2 * np.array([np.cos(a1 + a2), np.sin(a1 + a2)])
        np.testing.assert_allclose(s["fingertip"], tip, atol=1e-5)
        assert np.all(np.abs(s["joint_angle"]) <= np.pi + 1e-6)
    assert max(np.abs(world.sim_state()["joint_angle"])) > np.pi  # unwrapped inside


def test_reacher_success_radius():
    world = _reacher(success_radius=0.05)
    tip = world.state()["fingertip"]

    def goal(dx: float) -> Goal:
        state = {"fingertip": tip + np.array([dx, 0], np.float32)}
        return Goal(state=state, obs=world.render())

    assert world.success(goal(0.049)) and not world.success(goal(0.051))
    assert world.goal_distance(goal(-0.03)) == pytest.approx(0.03, abs=1e-6)


def test_reacher_set_state_checks_the_fingertip():
    world = _reacher()
    with pytest.raises(WorldError):
        world.set_state((0.3, -1.2), fingertip=(0.9, 0.9))
    world.set_state((0.3, -1.2), fingertip=world.state()["fingertip"])


@pytest.mark.parametrize(
    "params",
    [{"substeps": 1}, {"link1_length": 0.5}, {"arm_color": "red"}, {"success_radius": 0.0}],
)
def test_reacher_bad_params_raise_one_line_error(params):
    with pytest.raises(WorldError) as err:
        make("reacher", **params)
    assert "\n" not in str(err.value) and next(iter(params)) in str(err.value)
