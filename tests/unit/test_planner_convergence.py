"""Planners converge on analytic costs: a shifted quadratic, a double well, a box constraint.

Settings are the tests' own (more samples and iterations than the MPC defaults) and stated
here; with them each case passed on 100 of 100 seeds when they were chosen, so the fixed seeds
below are no lucky draw. Tolerances: max |a - a*| < 0.05 for the sampling planners, < 1e-2 for
gradient descent.
"""

from __future__ import annotations

import pytest
import torch

from physjepa.planning.registry import build_planner

T, A = 5, 2
LOW, HIGH = -torch.ones(A), torch.ones(A)
# Early stop off (tol=0) where the test is about where the search ends, not when.
CONVERGE = {
    "cem": dict(samples=256, elites=16, momentum=0.5, init_std=1.0, min_std=1e-3, iterations=60),
    "mppi": dict(
        samples=256, temperature=0.2, momentum=0.3, init_std=1.0, min_std=1e-3, iterations=60
    ),
    "gd": dict(iterations=100, lr=0.1, starts=4),
}
TOL = {"cem": 0.05, "mppi": 0.05, "gd": 1e-2}


def _plan(name: str, cost, init: torch.Tensor, seed: int = 0, **overrides):
    planner = build_planner(name, LOW, HIGH, **{**CONVERGE[name], "tol": 0.0, **overrides})
    return planner.plan(cost, init, torch.Generator().manual_seed(seed))


def _quadratic(target: torch.Tensor):
    return lambda x: (x - target).square().sum(dim=(1, 2))  # (S, T, A) -> (S,)


def _double_well(x: torch.Tensor) -> torch.Tensor:
    """Per entry (x^2 - 0.5)^2 + 0.2 x: global minimum near -0.75, local near +0.65."""
    return ((x.square() - 0.5).square() + 0.2 * x).sum(dim=(1, 2))


def _double_well_minima() -> tuple[float, float]:
    """(global, local) minimiser of the 1-D double well, on a 1e-5 grid over [-1, 1]."""
    x = torch.linspace(-1, 1, 200_001, dtype=torch.float64)
    f = (x.square() - 0.5).square() + 0.2 * x
    right = x > 0
    return x[f.argmin()].item(), x[right][f[right].argmin()].item()


@pytest.mark.parametrize("name", sorted(CONVERGE))
def test_quadratic_with_a_shifted_optimum(name):
    gen = torch.Generator().manual_seed(3)
    target = torch.rand(T, A, generator=gen) * 1.2 - 0.6  # (T, A) in [-0.6, 0.6]
    r = _plan(name, _quadratic(target), torch.zeros(T, A))
    assert (r.actions - target).abs().max() < TOL[name]
    assert r.cost == pytest.approx(_quadratic(target)(r.actions[None]).item())


@pytest.mark.parametrize("name", ["cem", "mppi"])
def test_sampling_escapes_the_local_basin(name):
    glob, local = _double_well_minima()
    assert glob < -0.7 and 0.6 < local  # the warm start below sits in the wrong basin
    r = _plan(name, _double_well, torch.full((T, A), local))
    assert (r.actions - glob).abs().max() < TOL[name]


def test_gradient_descends_into_the_global_minimum_from_its_basin():
    glob, _ = _double_well_minima()
    r = _plan("gd", _double_well, torch.full((T, A), -0.2))
    assert (r.actions - glob).abs().max() < TOL["gd"]


def test_gradient_stays_in_the_local_basin_it_starts_in():
    # the contrast that makes the sampling test meaningful: one start, no restarts
    _, local = _double_well_minima()
    r = _plan("gd", _double_well, torch.full((T, A), 0.3), starts=1)
    assert (r.actions - local).abs().max() < TOL["gd"]


@pytest.mark.parametrize("name", sorted(CONVERGE))
def test_warm_start_needs_fewer_iterations(name):
    target = torch.tensor([[0.4, -0.3]]).repeat(T, 1)  # (T, A)
    cost, stop = _quadratic(target), dict(tol=1e-6, patience=3)
    cold = _plan(name, cost, torch.zeros(T, A), **stop)
    warm = _plan(name, cost, target + 1e-4, **stop)
    assert warm.stats["iterations"] < cold.stats["iterations"]
    assert warm.stats["iterations"] <= 1 + 3 + 1  # stalls from the start (patience 3)
    assert warm.cost <= cold.cost


@pytest.mark.parametrize("name", sorted(CONVERGE))
def test_optimum_outside_the_box_lands_on_the_boundary(name):
    target = torch.tensor([[1.5, -0.3]]).repeat(T, 1)  # (T, A): action 0 wants to exceed high
    target[2:, 1] = -2.0  # and action 1 below low in the last steps
    r = _plan(name, _quadratic(target), torch.zeros(T, A))
    assert (r.actions >= LOW).all() and (r.actions <= HIGH).all()
    assert (r.actions - target.clamp(LOW, HIGH)).abs().max() < TOL[name]
    on_edge = torch.cat([HIGH[0] - r.actions[:, 0], r.actions[2:, 1] - LOW[1]])  # >= 0
    assert on_edge.max() < 1e-3  # closer than TOL: clipped samples sit exactly on the edge
    if name == "gd":
        assert (on_edge == 0).all()  # projected after every step
