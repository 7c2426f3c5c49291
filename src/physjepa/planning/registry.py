"""Planners by name: ``build_planner("cem", low, high, samples=128)``.

Each planner validates its own settings in ``__init__``; its keyword arguments and their
defaults are the settings, so :func:`default_settings` reads them from the signature and there
is no second list to keep in sync.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from torch import Tensor

from physjepa.planning.base import Planner, PlannerError
from physjepa.planning.cem import CEM
from physjepa.planning.gd import GradientPlanner
from physjepa.planning.mppi import MPPI

PLANNERS: dict[str, type[Planner]] = {"cem": CEM, "mppi": MPPI, "gd": GradientPlanner}


def names() -> list[str]:
    """Registered planner names, sorted."""
    return sorted(PLANNERS)


def planner_class(name: str) -> type[Planner]:
    if name not in PLANNERS:
        raise PlannerError(f"unknown planner {name!r}; known planners: {', '.join(names())}")
    return PLANNERS[name]


def default_settings(name: str) -> dict[str, Any]:
    """The settings of planner ``name`` and their defaults (everything but the bounds)."""
    params = inspect.signature(planner_class(name).__init__).parameters.values()
    return {p.name: p.default for p in params if p.name not in ("self", "low", "high")}


def build_planner(
    name: str, low: Tensor | Sequence[float], high: Tensor | Sequence[float], **settings: Any
) -> Planner:
    """Planner ``name`` with action bounds ``low``, ``high`` (A,); unset settings keep defaults.

    An unknown name or setting, or a value out of range, raises a one-line PlannerError.
    """
    valid = default_settings(name)
    unknown = sorted(set(settings) - set(valid))
    if unknown:
        raise PlannerError(
            f"unknown setting {unknown[0]!r} for planner {name!r}; "
            f"valid settings: {', '.join(valid)}"
        )
    return PLANNERS[name](low, high, **settings)
