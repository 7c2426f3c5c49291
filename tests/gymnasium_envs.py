"""Gymnasium envs written for the tests, registered on import (as third-party packages do)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class DictObsEnv(gym.Env):
    """A Dict-observation env (as swm PushT and gym-pusht ``pixels_agent_pos``): an image part
    and named vector parts, one of them nested."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode=None):
        self.render_mode = render_mode
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = gym.spaces.Dict(
            {
                "pixels": gym.spaces.Box(0, 255, (48, 80, 3), np.uint8),
                "agent_pos": gym.spaces.Box(-5.0, 5.0, (2,), np.float32),
                "extra": gym.spaces.Dict({"speed": gym.spaces.Box(0.0, 9.0, (1,), np.float32)}),
            }
        )

    def _obs(self):
        img = np.full((48, 80, 3), 30, np.uint8)
        col, row = (np.clip((self.pos + 5) / 10 * [79, 47], 0, [79, 47])).astype(int)
        img[row, col] = 255
        speed = np.array([np.linalg.norm(self.vel)], np.float32)
        return {"pixels": img, "agent_pos": self.pos.astype(np.float32), "extra": {"speed": speed}}

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.pos, self.vel = self.np_random.uniform(-4, 4, 2), np.zeros(2)
        return self._obs(), {}

    def step(self, a):
        self.vel = 0.5 * self.vel + 0.3 * np.asarray(a, float)
        self.pos = np.clip(self.pos + self.vel, -5, 5)
        return self._obs(), 0.0, False, False, {"success": float("nan")}

    def render(self):
        return self._obs()["pixels"]


if "DictObs-v0" not in gym.registry:
    gym.register("DictObs-v0", entry_point=DictObsEnv, max_episode_steps=300)
