"""Cost functions for planners: a learned model's latent distance, or the simulator itself.

A cost function maps candidate action sequences ``(S, T, A)`` to costs ``(S,)``, where ``A``
is the action *block* (``frameskip`` raw actions concatenated, as the model was trained).

- :func:`latent_cost`: roll the candidates through the world model from the current latent
  history and compare the predicted embeddings with the goal embedding (squared L2, or
  whitened by the latent's per-step change: ``model.cost_metric='step'``), at the
  last step (LeWM) or summed over every step (EB-JEPA reports +8 points for summing).
- :func:`simulator_cost`: the same objective with the ground-truth simulator as the model,
  the world's ``goal_distance`` in place of the latent distance: the upper bound of a planner.

Both add ``action_weight * mean(a^2)`` per sequence when asked, to prefer gentle actions.
"""

from __future__ import annotations

import numpy as np
import torch

from physjepa.errors import UserError
from physjepa.models.world_model import WorldModel
from physjepa.planning.base import CostFn
from physjepa.worlds import Goal, World

OBJECTIVES = ("last", "sum")


def _reduce(
    dist: torch.Tensor, actions: torch.Tensor, objective: str, action_weight: float
) -> torch.Tensor:
    """dist (S, T) -> (S,): the last step, or the sum over steps; plus the action penalty."""
    out = dist[:, -1] if objective == "last" else dist.sum(dim=1)
    if action_weight:
        out = out + action_weight * actions.pow(2).mean(dim=(1, 2))
    return out


def _check_objective(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise UserError(f"objective={objective!r} is unknown; valid: {', '.join(OBJECTIVES)}")


def latent_cost(
    model: WorldModel,
    z_hist: torch.Tensor,
    past_actions: torch.Tensor,
    z_goal: torch.Tensor,
    objective: str = "sum",
    action_weight: float = 0.0,
) -> CostFn:
    """Cost of action blocks under ``model``.

    z_hist (H, D) latents of the last H frames (oldest first); past_actions (H-1, A) the blocks
    applied between them; z_goal the goal frame's latent, (D,) or, for a model that reads
    proprioception, its encoder part ``encode_pixels`` (dim,): the distance is taken over
    ``model.cost_part`` (the goal frame shows the scene; where the agent's body should be is
    not the task). Differentiable (gradient planners use it); sampling planners call it under
    ``torch.no_grad``.
    """
    _check_objective(objective)
    goal = model.cost_embed(z_goal)

    def cost(actions: torch.Tensor) -> torch.Tensor:
        z = model.rollout(z_hist[None], actions[None], past_actions[None])[0]  # (S, T, D)
        dist = (model.cost_embed(model.cost_part(z)) - goal).pow(2).sum(dim=-1)  # (S, T)
        return _reduce(dist, actions, objective, action_weight)

    return cost


def simulator_cost(
    sim: World,
    start: dict,
    goal: Goal,
    frameskip: int,
    objective: str = "sum",
    action_weight: float = 0.0,
) -> CostFn:
    """Cost of action blocks when ``sim`` (a private copy of the world) plays them out.

    Every candidate starts from the sim state ``start``; after each block the world's
    ``goal_distance(goal)`` is recorded. Slow (S x T x frameskip physics steps): it is the
    ground-truth upper bound, not a controller for production.
    """
    _check_objective(objective)

    def cost(actions: torch.Tensor) -> torch.Tensor:
        s, t, a = actions.shape
        raw = actions.detach().cpu().double().numpy().reshape(s, t, frameskip, a // frameskip)
        dist = np.empty((s, t))
        for i in range(s):
            sim.set_sim_state(start)
            for j in range(t):
                for k in range(frameskip):
                    sim.advance(raw[i, j, k])
                dist[i, j] = sim.goal_distance(goal)
        return _reduce(torch.from_numpy(dist).to(actions), actions, objective, action_weight)

    return cost
