"""Receding-horizon control (MPC): plan a horizon of action blocks, execute the first few,
re-plan from the new observation with the shifted previous plan as the warm start.

:class:`BlockPolicy` is the loop every planning policy shares: ``act(obs, goal_obs)`` is
called once per raw environment step and returns one raw action; at each block boundary
the policy observes the frame, and when its queue of planned actions is empty it plans.
Subclasses say only how to build the cost function for "now" (:meth:`BlockPolicy.cost_now`):
the learned model (``WorldModelPolicy``) or the simulator (:class:`SimulatorPolicy`).
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import torch

from physjepa.planning.base import Planner, PlannerError, PlanResult
from physjepa.planning.cost import CostFn, simulator_cost
from physjepa.worlds import Goal, World, make


class RecedingHorizon:
    """Warm-started planning over ``horizon`` blocks; no state but the previous plan."""

    def __init__(
        self,
        planner: Planner,
        horizon: int,
        execute: int = 1,
        seed: int = 0,
        device: torch.device | str = "cpu",
    ):
        if not isinstance(horizon, int) or horizon < 1:
            raise PlannerError(f"horizon={horizon!r} must be an integer >= 1 (action blocks)")
        if not isinstance(execute, int) or not 1 <= execute <= horizon:
            raise PlannerError(f"execute={execute!r} must be an integer in [1, horizon={horizon}]")
        self.planner, self.horizon, self.execute, self.seed = planner, horizon, execute, seed
        self.device = torch.device(device)  # where plans live: the cost function's device
        self.generator = torch.Generator(self.device).manual_seed(seed)
        self._prev: torch.Tensor | None = None  # (T, A) the last plan

    def reset(self) -> None:
        self.generator.manual_seed(self.seed)
        self._prev = None

    def plan(self, cost_fn: CostFn) -> PlanResult:
        mid = ((self.planner.low + self.planner.high) / 2).to(self.device)  # (A,)
        if self._prev is None:
            init = mid.expand(self.horizon, -1).clone()  # (T, A)
        else:  # drop the executed blocks, pad with the middle of the action box
            init = torch.cat([self._prev[self.execute :], mid.expand(self.execute, -1)])
        result = self.planner.plan(cost_fn, init, self.generator)
        self._prev = result.actions.detach()
        return result


class BlockPolicy:
    """Act one raw step at a time; plan at block boundaries when the queue runs dry."""

    def __init__(self, mpc: RecedingHorizon, frameskip: int, raw_action_dim: int):
        self.mpc, self.frameskip, self.raw_action_dim = mpc, frameskip, raw_action_dim
        self.plan_ms: list[float] = []
        self.last_plan: PlanResult | None = None
        self.reset()

    def reset(self) -> None:
        """Forget the episode: history, queue and warm start."""
        self.mpc.reset()
        self._queue: deque[np.ndarray] = deque()
        self._t = 0
        self.plan_ms = []

    def observe(self, obs: np.ndarray) -> None:
        """Hook: a frame at a block boundary (the learned model keeps a latent history)."""

    def executed(self, block: torch.Tensor) -> None:
        """Hook: the block (A,) about to be executed after the last observed frame."""

    def cost_now(self, obs: np.ndarray, goal_obs: np.ndarray) -> CostFn:
        raise NotImplementedError

    def act(self, obs: np.ndarray, goal_obs: np.ndarray) -> np.ndarray:
        """The raw action (raw_action_dim,) float32 to apply after ``obs``."""
        if self._t % self.frameskip == 0:
            self.observe(obs)
            if not self._queue:
                start = time.perf_counter()
                result = self.mpc.plan(self.cost_now(obs, goal_obs))
                self.plan_ms.append(1000 * (time.perf_counter() - start))
                self.last_plan = result
                for block in result.actions[: self.mpc.execute]:
                    self._queue.append(block)
            block = self._queue.popleft()
            self.executed(block)
            self._raw = block.reshape(self.frameskip, self.raw_action_dim).cpu().numpy()
        a = self._raw[self._t % self.frameskip]
        self._t += 1
        return a.astype(np.float32)


def _copy_world(world: World) -> World:
    sim = make(world.name, image_size=world.image_size, **world.params)
    sim.reset(seed=0)  # some worlds build their physics on reset; the state is set per plan
    return sim


class SimulatorPolicy(BlockPolicy):
    """The same MPC with the ground-truth simulator as its model (the ``oracle`` reference).

    It reads the real world's sim state at every plan and rolls the candidates out in a
    private copy of the world; its cost is the world's task-space ``goal_distance``, which
    knows nothing of walls or contacts, so a learned latent cost can beat it.
    """

    def __init__(
        self,
        world: World,
        goal: Goal,
        planner: Planner,
        frameskip: int,
        horizon: int = 5,
        execute: int = 1,
        objective: str = "sum",
        seed: int = 0,
    ):
        raw = int(np.prod(world.action_space.shape))
        super().__init__(RecedingHorizon(planner, horizon, execute, seed), frameskip, raw)
        self.world, self.goal, self.objective = world, goal, objective
        self.sim = _copy_world(world)

    def cost_now(self, obs: np.ndarray, goal_obs: np.ndarray) -> CostFn:
        return simulator_cost(
            self.sim, self.world.sim_state(), self.goal, self.frameskip, self.objective
        )


class RandomPolicy:
    """The floor: uniform random actions, seeded."""

    def __init__(self, world: World, seed: int = 0):
        self.world, self.rng = world, np.random.default_rng(seed)
        self.plan_ms: list[float] = []

    def reset(self) -> None:
        pass

    def act(self, obs: np.ndarray, goal_obs: np.ndarray) -> np.ndarray:
        return self.world.random_action(self.rng)
