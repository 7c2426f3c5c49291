"""Any Gymnasium env as a world: classic control end to end (collect -> train -> plan), a
discrete-action env, and a third-party env registered by a module given to --gym-import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from clitools import assert_one_line_error, cli, train_cli

from physjepa.data.episodes import EpisodeFile
from physjepa.worlds import WorldError, make

# a third-party env, registered when its module is imported (as real packages do)
THIRD_PARTY = """
import gymnasium as gym
import numpy as np


class Drift(gym.Env):
    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, render_mode=None):
        self.render_mode = render_mode
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.observation_space = gym.spaces.Box(-10.0, 10.0, (1,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.x = float(self.np_random.uniform(-1, 1))
        return np.array([self.x], np.float32), {}

    def step(self, a):
        self.x = float(np.clip(self.x + 0.1 * float(a[0]), -10, 10))
        return np.array([self.x], np.float32), 0.0, False, False, {"is_success": abs(self.x) < 0.05}

    def render(self):
        img = np.zeros((40, 60, 3), np.uint8)
        img[:, int(np.clip(30 + 10 * self.x, 0, 59))] = 255
        return img


gym.register("DriftEnv-v0", entry_point=Drift, max_episode_steps=30)
"""


def test_pendulum_collect_train_plan(tmp_path):
    proc = cli("collect", "--world", "gym:Pendulum-v1", "--episodes", "8", "--steps", "30",
               "--out", "pend.h5", "--image-size", "32", "--workers", "1",
               cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with EpisodeFile(tmp_path / "pend.h5") as f:
        assert f.world == "gym:Pendulum-v1" and f.columns["pixels"][0] == (240, 32, 32, 3)
        assert f.columns["sensors"][0] == (240, 3) and dict(f.state_spec)["obs"] == (3,)
    assert train_cli("pend.h5", "train.steps=10", cwd=tmp_path).returncode == 0
    proc = cli("plan", "r", "--episodes", "2", "--set", "samples=8", "--set", "iterations=1",
               "--horizon", "2", "--baselines", "random", "--gifs", "1", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    plan = json.loads((tmp_path / "r" / "plan.json").read_text())
    assert plan["world"] == "gym:Pendulum-v1" and set(plan["results"]) == {"model", "random"}
    assert len(plan["results"]["model"]["episodes"]) == 2
    assert (tmp_path / "r" / "plan_ep0.gif").exists()


def test_world_contract_and_replayed_sim_state():
    w = make("gym:Pendulum-v1", image_size=32)
    obs, _ = w.reset(seed=3)
    assert obs.shape == (32, 32, 3) and obs.dtype == np.uint8
    rng = np.random.default_rng(0)
    for _ in range(5):
        w.step(w.random_action(rng))
    saved, here = w.sim_state(), w.state()["obs"].copy()
    json.dumps(saved)  # plain JSON, as manifests store it
    w.step(w.random_action(rng))
    w.set_sim_state(saved)
    assert np.array_equal(w.state()["obs"], here)
    # a discrete env: one-hot actions, and the episode ends when the env does
    c = make("gym:CartPole-v1", image_size=32)
    c.reset(seed=0)
    assert c.action_space.shape == (2,)
    steps = 0
    while not c.done and steps < 600:
        c.step(np.array([1.0, 0.0], np.float32))  # always push left: falls soon
        steps += 1
    assert c.done and steps < 100


def test_third_party_env_through_gym_import(tmp_path, monkeypatch):
    (tmp_path / "my_envs.py").write_text(THIRD_PARTY)
    monkeypatch.syspath_prepend(str(tmp_path))  # where the user's module is importable
    w = make("gym:DriftEnv-v0", image_size=16, gym_import="my_envs")
    goal_w = make("gym:DriftEnv-v0", image_size=16, gym_import="my_envs")
    goal_w.reset(seed=0)
    goal = goal_w.goal_here()
    w.reset(seed=0)  # the very state of the goal: the distance rule says success
    w.step(np.zeros(1, np.float32))
    x = float(w.state()["obs"][0])
    assert abs(x) > 0.05 and w.goal_distance(goal) < w.params["success_radius"]
    # the env's own info["is_success"] (its fixed target, not our goal) does not count ...
    assert w.success(goal) is True and w.success_rule()["rule"] == "state_distance"
    # ... unless the user says the env's goal is ours
    env_says = make("gym:DriftEnv-v0", image_size=16, gym_import="my_envs", env_success=True)
    env_says.reset(seed=0)
    env_says.step(np.zeros(1, np.float32))
    assert env_says.success(goal) is False
    proc = cli("collect", "--world", "gym:DriftEnv-v0", "--gym-import", "my_envs",
               "--episodes", "3", "--steps", "50", "--workers", "1", "--out", "d.h5",
               cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with EpisodeFile(tmp_path / "d.h5") as f:
        assert f.params["gym_import"] == "my_envs"
        assert list(f.ep_len) == [31, 31, 31]  # 30 steps to the env's time limit, 31 frames
    assert_one_line_error(
        cli(
            "collect",
            "--world",
            "gym:NoSuchEnv-v9",
            "--episodes",
            "1",
            "--out",
            "x.h5",
            cwd=tmp_path,
        ),  # fmt: skip
        "collect",
        "NoSuchEnv-v9",
    )
    assert_one_line_error(
        cli(
            "collect",
            "--world",
            "gym:DriftEnv-v0",
            "--gym-import",
            "not_a_module",
            "--episodes",
            "1",
            "--out",
            "x.h5",
            cwd=tmp_path,
        ),  # fmt: skip
        "collect",
        "not_a_module",
    )


NAN_SUCCESS = """
import gymnasium as gym
import numpy as np


class NanSuccess(gym.Env):
    \"\"\"Reports info["success"] = nan, as stable-worldmodel's Reacher does.\"\"\"

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode=None):
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.observation_space = gym.spaces.Box(-10.0, 10.0, (1,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.x = float(self.np_random.uniform(-1, 1))
        return np.array([self.x], np.float32), {}

    def step(self, a):
        self.x = float(np.clip(self.x + 0.1 * float(a[0]), -10, 10))
        return np.array([self.x], np.float32), 0.0, False, False, {"success": float("nan")}

    def render(self):
        img = np.zeros((16, 16, 3), np.uint8)
        img[:, int(np.clip(8 + 4 * self.x, 0, 15))] = 255
        return img


def never(world, goal):
    return False


gym.register("NanSuccess-v0", entry_point=NanSuccess, max_episode_steps=100)
"""


def test_success_precedence_and_a_nan_success_is_absent(tmp_path, monkeypatch):
    (tmp_path / "nan_envs.py").write_text(NAN_SUCCESS)
    monkeypatch.syspath_prepend(str(tmp_path))
    kw = {"image_size": 16, "gym_import": "nan_envs"}
    w = make("gym:NanSuccess-v0", env_success=True, **kw)
    w.reset(seed=1)
    w.step(np.array([1.0], np.float32))
    far = w.goal_here()
    w.reset(seed=1)
    w.step(np.array([-1.0], np.float32))
    near = w.goal_here()  # here
    # bool(nan) is True; a NaN is no answer, so the state distance decides
    assert w.success(far) is False and w.success(near) is True
    fn = make("gym:NanSuccess-v0", success_fn="nan_envs:never", **kw)  # the user's rule first
    fn.reset(seed=1)
    fn.step(np.array([-1.0], np.float32))
    assert fn.success(near) is False and fn.success_rule()["rule"] == "success_fn"
    # relative radius: the same offset succeeds or not by the spread it is measured in
    d = w.goal_distance(far)
    wide = make("gym:NanSuccess-v0", state_std=[20 * d], **kw)  # 0.05 of its spread
    narrow = make("gym:NanSuccess-v0", state_std=[d], **kw)  # 1.0 of it
    for v in (wide, narrow):
        v.reset(seed=1)
        v.step(np.array([-1.0], np.float32))
    assert wide.success(far) is True and narrow.success(far) is False
    bad = [({"state_std": [1.0, 2.0]}, "state_std"), ({"success_dims": [5]}, "success_dims"),
           ({"success_radius": -1}, "success_radius"), ({"frame": "zoom"}, "frame")]  # fmt: skip
    for params, needle in bad:
        with pytest.raises(WorldError) as err:
            make("gym:NanSuccess-v0", **kw, **params)
        assert needle in str(err.value) and "\n" not in str(err.value)


def test_dict_observation_parts_and_whole_frames():
    import gymnasium_envs  # noqa: F401  (registers DictObs-v0)

    w = make("gym:DictObs-v0", image_size=32)
    w.reset(seed=0)
    assert [k for k, _ in w.state_spec()] == ["agent_pos", "extra.speed"]
    assert w.sensor_names == ("agent_pos_0", "agent_pos_1", "extra.speed")
    w.step(np.array([1.0, 1.0], np.float32))
    np.testing.assert_array_equal(w.sensors()[:2], w.env.unwrapped.pos.astype(np.float32))
    # the frame is the observation's image part, letterboxed: 80 x 48 -> the bars above and
    # below are the scene's own background, and the whole width is kept
    frame = w.render()
    assert frame.shape == (32, 32, 3)
    assert np.all(frame[:5] == 30) and np.all(frame[-5:] == 30)
    crop = make("gym:DictObs-v0", image_size=32, frame="crop")
    crop.reset(seed=0)
    assert not np.array_equal(crop.render(), w.reset(seed=0)[0])
    # success on the named vector parts only: the RMS over the dims it names
    goal = w.goal_here()
    only_speed = make("gym:DictObs-v0", image_size=32, success_dims=["extra.speed"])
    for v in (w, only_speed):
        v.reset(seed=0)
        v.step(np.array([1.0, 1.0], np.float32))
    diff = w.state_vector() - np.concatenate([goal.state["agent_pos"], goal.state["extra.speed"]])
    assert only_speed.success_rule()["dims"] == ["extra.speed"]
    assert only_speed.goal_distance(goal) == pytest.approx(abs(diff[2]), rel=1e-6)
    assert w.goal_distance(goal) == pytest.approx(np.sqrt(np.mean(diff**2)), rel=1e-6)


def _goal_env_cls():
    """Gymnasium-Robotics' goal convention: observation / achieved_goal / desired_goal,
    compute_reward and a distance_threshold."""
    import gymnasium as gym

    class PointGoal(gym.Env):
        metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
        distance_threshold = 0.05

        def __init__(self, render_mode=None):
            self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
            box = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
            self.observation_space = gym.spaces.Dict(
                {"observation": box, "achieved_goal": box, "desired_goal": box}
            )

        def _obs(self):
            p = self.pos.astype(np.float32)
            return {"observation": p, "achieved_goal": p, "desired_goal": self.target}

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            self.pos = self.np_random.uniform(-1, 1, 2)
            self.target = self.np_random.uniform(-1, 1, 2).astype(np.float32)
            return self._obs(), {}

        def step(self, a):
            self.pos = np.clip(self.pos + 0.1 * np.asarray(a), -2, 2)
            return self._obs(), 0.0, False, False, {"is_success": 1.0}

        def compute_reward(self, achieved, desired, info):
            d = np.linalg.norm(np.asarray(achieved) - np.asarray(desired), axis=-1)
            return -(d > self.distance_threshold).astype(np.float32)

        def render(self):
            return np.zeros((8, 8, 3), np.uint8)

    return PointGoal


def test_goal_conditioned_env_uses_its_own_threshold():
    import gymnasium as gym

    if "PointGoal-v0" not in gym.registry:
        gym.register("PointGoal-v0", entry_point=_goal_env_cls(), max_episode_steps=50)
    w = make("gym:PointGoal-v0", image_size=16, success_radius=100.0)  # radius ignored
    w.reset(seed=0)
    goal = w.goal_here()
    assert w.success_rule() == {"rule": "goal_env", "threshold": 0.05}
    w.step(np.array([0.3, 0.0], np.float32))  # 0.03 away: within the env's threshold
    assert w.success(goal) and abs(w.goal_distance(goal) - 0.03) < 1e-5
    w.step(np.array([0.3, 0.0], np.float32))  # 0.06 away: not
    assert not w.success(goal)


def test_plan_flags_a_task_random_actions_solve_and_takes_success_params(tmp_path):
    assert cli("collect", "--world", "gym:Pendulum-v1", "--episodes", "4", "--steps", "20",
               "--out", "p.h5", "--image-size", "32", "--workers", "1",
               cwd=tmp_path).returncode == 0  # fmt: skip
    assert train_cli("p.h5", "train.steps=4", cwd=tmp_path).returncode == 0
    args = ["plan", "r", "--episodes", "2", "--set", "samples=8", "--set", "iterations=1",
            "--horizon", "1", "--baselines", "random", "--gifs", "0"]  # fmt: skip
    easy = cli(*args, "--param", "success_radius=1000", cwd=tmp_path)
    # a radius this wide: the manifest cannot find a goal not already reached, and says so
    line = assert_one_line_error(easy, "plan", "success_radius")
    assert "already reached" in line
    proc = cli(*args, "--param", "success_radius=1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads((tmp_path / "r" / "plan.json").read_text())
    rule = plan["success"]
    assert rule["rule"] == "state_distance" and rule["radius"] == 1
    assert rule["state_std_from"] == "data" and len(rule["state_std"]) == 3
    with EpisodeFile(tmp_path / "p.h5") as f:
        std = f.load("state").std(axis=0)
    np.testing.assert_allclose(rule["state_std"], std, rtol=1e-5)
    random_rate = plan["results"]["random"]["success_rate"]
    assert plan["discriminating"] is (random_rate < 0.5)
    if random_rate >= 0.5:
        assert "does not tell a good model" in proc.stdout
    # the report shows the flag (it reads plan.json as written)
    from physjepa.report import write_report

    for flag in (False, True):
        plan["discriminating"] = flag
        (tmp_path / "r" / "plan.json").write_text(json.dumps(plan))
        html = write_report(tmp_path / "r").read_text()
        assert ("Not discriminating" in html) is (not flag)
    assert_one_line_error(
        cli(*args, "--param", "gravity=3", cwd=tmp_path), "plan", "gravity"
    )  # an unknown world param: one line


def test_mujoco_renders_headless_and_a_bad_gl_is_one_line(tmp_path):
    pytest.importorskip("mujoco", reason="pip install 'physjepa[mujoco]'")
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY")}
    args = ["collect", "--world", "gym:Reacher-v5", "--episodes", "1", "--steps", "3",
            "--workers", "1", "--image-size", "32"]  # fmt: skip
    run = lambda *a, **e: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "physjepa", *args, *a], cwd=tmp_path, env={**env, **e},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    ok = run("--out", "r.h5")
    assert ok.returncode == 0, ok.stderr
    with EpisodeFile(tmp_path / "r.h5") as f:
        assert json.loads(f.attrs()["provenance_json"])["mujoco_gl"] == "egl"
        assert f.load("pixels").std() > 0  # a real render, not a blank frame
    bad = run("--out", "b.h5", MUJOCO_GL="nosuchgl")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr
    lines = [
        x for x in bad.stderr.splitlines() if x.strip() and "it/s" not in x and "ep/s" not in x
    ]
    assert len(lines) == 1 and "MUJOCO_GL" in lines[0], bad.stderr
    assert not (tmp_path / "b.h5").exists()


def test_plan_a_model_trained_on_imported_data_in_its_env(tmp_path):
    # recorded elsewhere: Pendulum episodes as plain .npz files (frames, actions, state)
    assert cli("collect", "--world", "gym:Pendulum-v1", "--episodes", "4", "--steps", "20",
               "--out", "p.h5", "--image-size", "32", "--workers", "1",
               cwd=tmp_path).returncode == 0  # fmt: skip
    with EpisodeFile(tmp_path / "p.h5") as f:
        for i in range(f.n_episodes):
            ep = f.episode(i)
            for folder, fps in (("npz", 30.0), ("npz99", 99.0)):  # Pendulum steps at 30/s
                (tmp_path / folder).mkdir(exist_ok=True)
                np.savez(tmp_path / folder / f"ep{i}.npz", pixels=ep["pixels"],
                         action=ep["action"], state=ep["state"], fps=fps)  # fmt: skip
    assert cli("convert", "npz", "--to", "imp.h5", cwd=tmp_path).returncode == 0
    assert train_cli("imp.h5", "train.steps=4", cwd=tmp_path).returncode == 0
    args = ["plan", "r", "--episodes", "2", "--set", "samples=8", "--set", "iterations=1",
            "--horizon", "1", "--baselines", "random", "--gifs", "0"]  # fmt: skip
    # the data records no env: plan says how to name one
    assert_one_line_error(cli(*args, cwd=tmp_path), "plan", "gym:<env id>")
    proc = cli(*args, "--world", "gym:Pendulum-v1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads((tmp_path / "r" / "plan.json").read_text())
    assert plan["world"] == "gym:Pendulum-v1" and plan["success"]["rule"] == "state_distance"
    assert plan["success"]["state_std_from"] == "manifest rollouts"
    # an env whose actions are not the data's: one line, nothing written
    before = (tmp_path / "r" / "plan.json").read_bytes()
    line = assert_one_line_error(
        cli(*args, "--world", "gym:CartPole-v1", cwd=tmp_path), "plan", "CartPole"
    )
    assert "actions" in line and (tmp_path / "r" / "plan.json").read_bytes() == before
    # a built-in world is not an env to plan imported data in
    assert_one_line_error(cli(*args, "--world", "two-room", cwd=tmp_path), "plan", "two-room")
    # data recorded at another rate (another frameskip): refused, naming both rates
    assert cli("convert", "npz99", "--to", "imp99.h5", cwd=tmp_path).returncode == 0
    assert train_cli("imp99.h5", "train.steps=2", out="r99", cwd=tmp_path).returncode == 0
    line = assert_one_line_error(
        cli(*args[:1], "r99", *args[2:], "--world", "gym:Pendulum-v1", cwd=tmp_path), "plan", "99"
    )
    assert "30" in line and not (tmp_path / "r99" / "plan.json").exists()
