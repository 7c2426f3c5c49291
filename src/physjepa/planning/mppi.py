"""Model-predictive path integral (MPPI): a cost-weighted average of sampled sequences.

Each iteration draws ``samples`` candidate sequences around the current mean (the mean itself
is one of them) and costs them in one ``cost_fn`` call under ``torch.no_grad()``. Every
candidate gets the weight ``softmax(-(cost - min cost) / temperature)``; the new mean is the
weighted average and the new std the square root of the weighted variance (adaptive noise,
unlike MPPI's classic fixed noise: it lets the search narrow, and lets ``min_std`` stop it),
both smoothed by ``momentum``. Small ``temperature`` → nearly the best sample, large → nearly
the plain average. With ``normalize`` (the default) the cost gaps ``cost - min cost`` are first
divided by their mean over the finite costs, so ``temperature`` is scale-free (a latent cost in
the hundreds and a distance below 1 share one default); with ``normalize=False`` it is in cost
units, as in classic MPPI. The best sequence seen is returned. Early stop: see
:mod:`physjepa.planning.base`, plus when the std fell below ``min_std`` in every entry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from physjepa.planning.base import (
    CostFn,
    EarlyStop,
    Planner,
    PlanResult,
    evaluate,
    gaussian_candidates,
    is_num,
)


class MPPI(Planner):
    """MPPI over sequences (T, A) within ``[low, high]``.

    Args:
        samples: candidate sequences per iteration (one ``cost_fn`` call each), >= 2.
        iterations: the most iterations (cost calls), >= 1.
        temperature: softmax temperature of the weights, > 0; in units of the mean cost gap
            to the best candidate if ``normalize``, else in cost units.
        momentum: share of the previous mean/std kept at each update, in [0, 1).
        init_std: initial std, as a fraction of the half-range ``(high - low) / 2``, > 0.
        min_std: stop once every std entry is below this fraction of the half-range, >= 0.
        tol, patience: early stop on a stalled best cost (see :class:`EarlyStop`).
        normalize: divide the cost gaps by their mean before the softmax (scale-free).

    The defaults (32 samples x 2 iterations) fit a plan in about 50 ms on 2 CPU cores with
    the laptop model; in MPC the warm start carries the search on from plan to plan.
    """

    name = "mppi"

    def __init__(
        self,
        low: Tensor | Sequence[float],
        high: Tensor | Sequence[float],
        samples: int = 32,
        iterations: int = 2,
        temperature: float = 0.2,
        momentum: float = 0.1,
        init_std: float = 0.3,
        min_std: float = 0.02,
        tol: float = 1e-3,
        patience: int = 1,
        normalize: bool = True,
    ):
        super().__init__(low, high)
        self._set_sampling(samples, iterations, momentum, init_std, min_std, tol, patience)
        ok = is_num(temperature) and temperature > 0
        self._check(ok, "temperature", temperature, "a number > 0")
        self._check(isinstance(normalize, bool), "normalize", normalize, "True or False")
        self.temperature, self.normalize = temperature, normalize

    def _plan(
        self, cost_fn: CostFn, mean: Tensor, low: Tensor, high: Tensor, gen: torch.Generator
    ) -> PlanResult:
        half = (high - low) / 2  # (A,)
        std = (self.init_std * half).expand_as(mean)  # (T, A)
        min_std, m = self.min_std * half, self.momentum
        stop = EarlyStop(self.tol, self.patience)
        best_x, best_c, reason = mean, math.inf, "iterations"
        for it in range(1, self.iterations + 1):  # noqa: B007 (read after the loop)
            x = gaussian_candidates(mean, std, self.samples, low, high, gen)  # (S, T, A)
            with torch.no_grad():
                c = evaluate(cost_fn, x)  # (S,)
            c_min, i = c.min(0)
            if c_min.item() < best_c:
                best_x, best_c = x[i], c_min.item()
            # inf costs get weight 0; if all are inf, (inf - inf) = NaN -> 0 gives uniform weights
            gap = (c - c_min).nan_to_num(nan=0.0)  # (S,) >= 0
            if self.normalize:  # in units of the mean gap of the finite costs: scale-free
                finite = gap.isfinite()
                gap = gap / (gap.where(finite, 0.0).sum() / finite.sum()).clamp_min(1e-12)
            w = torch.softmax(-gap / self.temperature, 0)  # (S,)
            new_mean = (w @ x.flatten(1)).view_as(mean)  # (T, A) weighted average
            var = (w @ (x - new_mean).square().flatten(1)).view_as(mean)  # (T, A)
            mean = m * mean + (1 - m) * new_mean
            std = m * std + (1 - m) * var.sqrt()
            if stop.update(best_c):
                reason = "tol"
                break
            if bool((std < min_std).all()):
                reason = "min_std"
                break
        stats = {"iterations": it, "evaluations": it * self.samples, "stop": reason}
        return PlanResult(best_x, best_c, stats)
