"""``WorldModelPolicy``: a trained world model and a planner as a controller for a robot loop.

    policy = WorldModelPolicy(model, build_planner("cem", low, high), frameskip=5)
    policy.reset()
    for t in range(budget):
        obs, *_ = env.step(policy.act(obs, goal_obs))

``act`` takes the current frame and the goal frame (both ``(H, W, 3)`` uint8, as the model
was trained) and returns one raw action. Every ``frameskip`` raw steps it encodes the frame
into its latent history (the last ``history`` latents and the action blocks between them);
when its plan is used up it re-plans with the latent cost from that history to the goal.

A model trained with ``model.proprio`` also needs the robot's own reading at each of those
frames: pass ``proprio``, a function that returns it now (``world.proprio`` for a built-in
world, the joint encoders on a robot).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable

import numpy as np
import torch

from physjepa.models.world_model import WorldModel
from physjepa.planning.base import Planner, PlannerError
from physjepa.planning.cost import CostFn, latent_cost
from physjepa.planning.mpc import BlockPolicy, RecedingHorizon


class WorldModelPolicy(BlockPolicy):
    def __init__(
        self,
        model: WorldModel,
        planner: Planner,
        frameskip: int,
        horizon: int = 5,
        execute: int = 1,
        objective: str = "sum",
        action_weight: float = 0.0,
        seed: int = 0,
        proprio: Callable[[], np.ndarray] | None = None,
    ):
        block = model.spec.action_dim
        if model.spec.proprio_dim and proprio is None:
            raise PlannerError(
                "this run reads proprioception beside every frame (model.proprio=true); pass "
                "proprio=, a function that returns the robot's reading now"
            )
        self.proprio = proprio
        if not isinstance(frameskip, int) or frameskip < 1 or block % frameskip:
            raise PlannerError(
                f"frameskip={frameskip!r} does not divide the model's action block of {block}"
            )
        if tuple(planner.low.shape) != (block,):
            raise PlannerError(
                f"the planner's action bounds have shape {tuple(planner.low.shape)}, the model's "
                f"action block is ({block},); build the planner with bounds repeated per frame"
            )
        self.model = model.eval()
        self.objective, self.action_weight = objective, action_weight
        self.device = next(model.parameters()).device
        super().__init__(
            RecedingHorizon(planner, horizon, execute, seed, device=self.device),
            frameskip,
            block // frameskip,
        )

    def reset(self) -> None:
        super().reset()
        self._z: deque[torch.Tensor] = deque(maxlen=self.model.history)  # each (D,)
        self._blocks: deque[torch.Tensor] = deque(maxlen=self.model.history - 1)  # each (A,)
        self._goal_key: bytes | None = None
        self._z_goal: torch.Tensor | None = None

    @torch.no_grad()
    def encode(self, obs: np.ndarray, goal: bool = False) -> torch.Tensor:
        """One frame (H, W, 3) uint8 -> its latent (D,), with the proprio reading of now when
        the model takes one; a goal frame (``goal``) -> the encoder's part alone (dim,)."""
        shape = tuple(self.model.spec.obs_shape)
        if tuple(np.shape(obs)) != shape:
            raise PlannerError(
                f"an observation of shape {tuple(np.shape(obs))} does not match the model, which "
                f"was trained on {shape}; render the world at the training image size"
            )
        x = torch.as_tensor(np.array(obs), device=self.device)[None, None]  # a writable copy
        if goal:
            return self.model.encode_pixels(x)[0, 0]
        p = None
        if self.proprio is not None:
            p = torch.as_tensor(np.asarray(self.proprio(), np.float32), device=self.device)
            p = p.reshape(1, 1, -1)
        return self.model.encode(x, p)[0, 0]

    def observe(self, obs: np.ndarray) -> None:
        # the maxlens keep the two aligned: _blocks[i] was applied after _z[i]
        self._z.append(self.encode(obs))

    def executed(self, block: torch.Tensor) -> None:
        self._blocks.append(block.to(self.device))

    def cost_now(self, obs: np.ndarray, goal_obs: np.ndarray) -> CostFn:
        key = hashlib.blake2b(np.ascontiguousarray(goal_obs).tobytes(), digest_size=16).digest()
        if key != self._goal_key:
            self._z_goal, self._goal_key = self.encode(goal_obs, goal=True), key
        z_hist = torch.stack(list(self._z))  # (h, D)
        past = (
            torch.stack(list(self._blocks))
            if self._blocks
            else torch.zeros(0, self.model.spec.action_dim, device=self.device)
        )  # (h-1, A): the blocks applied between the history frames
        return latent_cost(
            self.model, z_hist, past, self._z_goal, self.objective, self.action_weight
        )
