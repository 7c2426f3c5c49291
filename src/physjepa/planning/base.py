"""The planner contract: a cost function on action tensors in, a plan out.

A planner never sees a model or a world, only a :data:`CostFn` that maps candidate action
sequences ``(S, T, A)`` to costs ``(S,)`` (lower is better). ``plan(cost_fn, init_mean,
generator)`` returns a :class:`PlanResult`. There is no hidden state between calls: the warm
start is the ``init_mean`` argument (an MPC loop passes the previous plan shifted by one step),
and all randomness comes from ``generator``, so the same arguments give the same plan, bit for
bit.

Settings shared by the planners:

- ``init_std`` / ``min_std`` are fractions of the half-range ``(high - low) / 2`` of each
  action dimension, so the defaults suit any action scale.
- Early stop (:class:`EarlyStop`): an iteration *stalls* when the best cost seen improved by
  less than ``tol * max(1, |previous best|)`` (absolute for costs below 1 in magnitude,
  relative above); the planner stops after ``patience`` consecutive stalls. ``tol=0``
  disables it. The first iteration never stalls, so a plan takes at least
  ``min(iterations, patience + 1)`` iterations.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from physjepa.errors import PlannerError  # noqa: F401  (re-exported)

CostFn = Callable[[Tensor], Tensor]
"""Candidate action sequences (S, T, A) -> costs (S,), lower is better."""


@dataclass
class PlanResult:
    actions: Tensor
    """The best sequence seen, (T, A), within the bounds."""
    cost: float
    """Its cost (``inf`` if every candidate cost was NaN or inf)."""
    stats: dict[str, Any] = field(default_factory=dict)
    """At least ``iterations`` (int), ``evaluations`` (candidate sequences costed), ``ms``
    (wall time of ``plan``) and ``stop`` ('iterations', 'tol' or 'min_std')."""


def is_int(v: Any) -> bool:
    # bool is an int subclass, but True is no sample count
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v: Any) -> bool:
    # checked before comparing, so a wrong type is a PlannerError, not a TypeError
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check(cond: bool, key: str, value: Any, expect: str) -> None:
    if not cond:
        raise PlannerError(f"{key}={value!r} is invalid: expected {expect}")


class EarlyStop:
    """Counts consecutive stalled iterations (see the module docstring); one per ``plan`` call."""

    def __init__(self, tol: float, patience: int):
        self.tol, self.patience = tol, patience
        self.best, self.stalls = math.inf, 0

    def update(self, best: float) -> bool:
        """Record this iteration's best cost seen so far; True when the planner should stop."""
        gain, scale = self.best - best, max(1.0, abs(self.best))
        stalled = math.isfinite(self.best) and gain < self.tol * scale
        self.stalls = self.stalls + 1 if stalled else 0
        self.best = best
        return self.stalls >= self.patience


class Planner:
    """Base class: holds the action bounds, validates ``init_mean`` and times ``plan``.

    Subclasses validate their settings in ``__init__`` (as keyword arguments with defaults,
    which :func:`~physjepa.planning.registry.default_settings` reads) and implement
    :meth:`_plan`.
    """

    name: ClassVar[str] = "planner"

    def __init__(self, low: Tensor | Sequence[float], high: Tensor | Sequence[float]):
        low = torch.as_tensor(low, dtype=torch.float32)
        high = torch.as_tensor(high, dtype=torch.float32)
        ok = low.ndim == 1 and low.shape == high.shape and low.numel() > 0
        check(ok, "low/high shapes", (tuple(low.shape), tuple(high.shape)), "equal shapes (A,)")
        finite = bool(low.isfinite().all() and high.isfinite().all())
        check(finite, "low/high", (low.tolist(), high.tolist()), "finite bounds")
        check(bool((low < high).all()), "low/high", (low.tolist(), high.tolist()), "low < high")
        self.low, self.high = low, high  # (A,)

    def _check(self, cond: bool, key: str, value: Any, expect: str) -> None:
        check(cond, f"{self.name}.{key}", value, expect)

    def _check_stop(self, tol: Any, patience: Any) -> None:
        self._check(is_num(tol) and tol >= 0, "tol", tol, "a number >= 0 (0 disables early stop)")
        self._check(is_int(patience) and patience >= 1, "patience", patience, "an integer >= 1")

    def _set_sampling(
        self,
        samples: Any,
        iterations: Any,
        momentum: Any,
        init_std: Any,
        min_std: Any,
        tol: Any,
        patience: Any,
    ) -> None:
        """Validate and keep the settings the sampling planners (CEM, MPPI) share."""
        self._check(is_int(samples) and samples >= 2, "samples", samples, "an integer >= 2")
        self._check(
            is_int(iterations) and iterations >= 1, "iterations", iterations, "an integer >= 1"
        )
        ok = is_num(momentum) and 0 <= momentum < 1
        self._check(ok, "momentum", momentum, "a number in [0, 1)")
        self._check(is_num(init_std) and init_std > 0, "init_std", init_std, "a number > 0")
        self._check(is_num(min_std) and min_std >= 0, "min_std", min_std, "a number >= 0")
        self._check_stop(tol, patience)
        self.samples, self.iterations, self.momentum = samples, iterations, momentum
        self.init_std, self.min_std, self.tol, self.patience = init_std, min_std, tol, patience

    @property
    def action_dim(self) -> int:
        return self.low.numel()

    def plan(self, cost_fn: CostFn, init_mean: Tensor, generator: torch.Generator) -> PlanResult:
        """Search for the action sequence (T, A) of least cost, starting from ``init_mean``.

        ``init_mean (T, A)`` is clipped to the bounds; it is always one of the candidates, so
        the result never costs more than the warm start. Tensors are created on
        ``init_mean``'s device and dtype; ``generator`` must live on that device.
        """
        shape = tuple(init_mean.shape) if isinstance(init_mean, Tensor) else None
        ok = shape is not None and len(shape) == 2 and shape[0] >= 1
        expect = f"(T, {self.action_dim}) with T >= 1"
        check(ok and shape[1] == self.action_dim, "init_mean shape", shape, expect)
        check(bool(init_mean.isfinite().all()), "init_mean", "non-finite values", "finite values")
        start = time.perf_counter()
        low, high = self.low.to(init_mean), self.high.to(init_mean)
        result = self._plan(cost_fn, init_mean.detach().clamp(low, high), low, high, generator)
        result.stats["ms"] = (time.perf_counter() - start) * 1e3
        return result

    def _plan(
        self, cost_fn: CostFn, mean: Tensor, low: Tensor, high: Tensor, gen: torch.Generator
    ) -> PlanResult:
        raise NotImplementedError


def evaluate(cost_fn: CostFn, x: Tensor) -> Tensor:
    """Costs of candidates ``x (S, T, A)`` as ``(S,)``; NaN becomes inf so it never wins."""
    c = cost_fn(x)
    if not isinstance(c, Tensor) or c.shape != (x.shape[0],):
        got = tuple(c.shape) if isinstance(c, Tensor) else type(c).__name__
        raise PlannerError(
            f"cost_fn returned {got} for {x.shape[0]} candidates: expected ({x.shape[0]},)"
        )
    return torch.where(c.isnan(), math.inf, c)  # (S,)


def gaussian_candidates(
    mean: Tensor, std: Tensor, samples: int, low: Tensor, high: Tensor, gen: torch.Generator
) -> Tensor:
    """``samples`` sequences (S, T, A): ``mean`` itself, then ``S - 1`` draws from
    N(mean, std^2), all clipped to the bounds. Keeping the mean means a warm start that is
    already good is never lost to unlucky draws."""
    noise = torch.randn(
        (samples - 1, *mean.shape), generator=gen, dtype=mean.dtype, device=mean.device
    )
    return torch.cat([mean[None], mean + std * noise]).clamp(low, high)  # (S, T, A)
