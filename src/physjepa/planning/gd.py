"""Gradient planner: Adam on the action sequences through a differentiable cost.

``starts`` sequences are optimised in parallel, batched as ``(starts, T, A)`` in one
``cost_fn`` call per iteration: the warm start ``init_mean`` plus ``starts - 1`` copies
perturbed with Gaussian noise from the generator (restarts against local minima). Adam works
on normalised actions ``u = (a - mid) / half`` in [-1, 1], so ``lr`` and ``init_std`` are
fractions of the half-range ``(high - low) / 2``; after each step ``u`` is projected back onto
the box. An iteration is one cost call (with gradient) followed by one Adam step, except the
last, whose step would never be evaluated. The best sequence seen across starts and iterations
is returned. Early stop: see :mod:`physjepa.planning.base`; Adam is not monotone (it overshoots
and comes back), so for long runs give it ``patience`` >= 3 or ``tol=0``.

Gradients are taken with ``torch.autograd.grad`` with respect to the actions only, so a cost
built on a model with trainable parameters leaves their ``.grad`` untouched.
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
    PlannerError,
    PlanResult,
    evaluate,
    is_int,
    is_num,
)

ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8


class GradientPlanner(Planner):
    """Projected Adam over sequences (T, A) within ``[low, high]``; needs a differentiable cost.

    Args:
        iterations: the most iterations (cost calls), >= 1.
        lr: Adam step size, as a fraction of the half-range, > 0.
        starts: sequences optimised in parallel (the warm start + ``starts - 1`` perturbed), >= 1.
        init_std: std of the perturbation, as a fraction of the half-range, > 0.
        tol, patience: early stop on a stalled best cost (see :class:`EarlyStop`).
    """

    name = "gd"

    def __init__(
        self,
        low: Tensor | Sequence[float],
        high: Tensor | Sequence[float],
        iterations: int = 5,
        lr: float = 0.1,
        starts: int = 4,
        init_std: float = 0.3,
        tol: float = 1e-3,
        patience: int = 1,
    ):
        super().__init__(low, high)
        self._check(
            is_int(iterations) and iterations >= 1, "iterations", iterations, "an integer >= 1"
        )
        self._check(is_num(lr) and lr > 0, "lr", lr, "a number > 0")
        self._check(is_int(starts) and starts >= 1, "starts", starts, "an integer >= 1")
        self._check(is_num(init_std) and init_std > 0, "init_std", init_std, "a number > 0")
        self._check_stop(tol, patience)
        self.iterations, self.lr, self.starts, self.init_std = iterations, lr, starts, init_std
        self.tol, self.patience = tol, patience

    def _plan(
        self, cost_fn: CostFn, mean: Tensor, low: Tensor, high: Tensor, gen: torch.Generator
    ) -> PlanResult:
        mid, half = (high + low) / 2, (high - low) / 2  # (A,)
        u0 = (mean - mid) / half  # (T, A)
        shape, kw = (self.starts - 1, *u0.shape), {"dtype": u0.dtype, "device": u0.device}
        noise = torch.randn(shape, generator=gen, **kw)  # (P-1, T, A)
        u = torch.cat([u0[None], u0 + self.init_std * noise]).clamp(-1, 1)  # (P, T, A)
        u.requires_grad_(True)
        # Adam by hand: torch.optim's first use imports torch._dynamo (~2 s), and the state
        # lives for one call only. Elementwise, so the starts never interact.
        m1, m2, (b1, b2) = torch.zeros_like(u), torch.zeros_like(u), ADAM_BETAS
        stop = EarlyStop(self.tol, self.patience)
        best_x, best_c, reason = mean, math.inf, "iterations"
        with torch.enable_grad():  # the caller may plan under no_grad
            for it in range(1, self.iterations + 1):
                x = mid + half * u  # (P, T, A)
                c = evaluate(cost_fn, x)  # (P,)
                c_min, i = c.detach().min(0)
                if c_min.item() < best_c:  # clamp: mid + half * u may round 1 ulp outside
                    best_x, best_c = x[i].detach().clamp(low, high), c_min.item()
                if stop.update(best_c):
                    reason = "tol"
                    break
                if it == self.iterations:
                    break
                if not c.requires_grad:
                    raise PlannerError(
                        "gd needs a differentiable cost_fn: its costs do not require grad"
                    )
                # summing is exact: each start's cost depends on its own actions only
                (g,) = torch.autograd.grad(c.sum(), u)  # (P, T, A)
                with torch.no_grad():
                    m1.lerp_(g, 1 - b1)
                    m2.mul_(b2).addcmul_(g, g, value=1 - b2)
                    step = (m1 / (1 - b1**it)) / ((m2 / (1 - b2**it)).sqrt() + ADAM_EPS)
                    u.sub_(self.lr * step).clamp_(-1, 1)  # projection onto the box
        stats = {"iterations": it, "evaluations": it * self.starts, "stop": reason}
        return PlanResult(best_x, best_c, stats)
