"""Any Gymnasium env as a world: classic control end to end (collect -> train -> plan), a
discrete-action env, and a third-party env registered by a module given to --gym-import."""

from __future__ import annotations

import json

import numpy as np
from clitools import assert_one_line_error, cli, train_cli

from physjepa.data.episodes import EpisodeFile
from physjepa.worlds import make

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
    w.reset(seed=0)  # the very state of the goal: the distance rule would say success
    w.step(np.zeros(1, np.float32))
    x = float(w.state()["obs"][0])
    assert abs(x) > 0.05 and w.goal_distance(goal) < w.params["success_radius"]
    assert w.success(goal) is False  # the env's own info["is_success"] decides
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
