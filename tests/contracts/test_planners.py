"""The Planner contract, run over every registered planner (analytic costs, no model)."""

from __future__ import annotations

import pytest
import torch

from physjepa.planning.base import PlannerError, PlanResult
from physjepa.planning.registry import PLANNERS, build_planner, default_settings, names

NAMES = names()
SAMPLING = {"cem", "mppi"}  # their plan depends on every draw; gd's restarts may all converge
T, A = 5, 3
LOW, HIGH = -torch.ones(A), torch.ones(A)
TARGET = torch.tensor([0.3, -0.5, 0.1]).expand(T, A)  # (T, A) inside the box


def quadratic(x: torch.Tensor) -> torch.Tensor:
    return (x - TARGET).square().sum(dim=(1, 2))  # (S, T, A) -> (S,)


def _plan(name: str, seed: int = 0, cost=quadratic, init=None, **settings) -> PlanResult:
    planner = build_planner(name, LOW, HIGH, **settings)
    init = torch.zeros(T, A) if init is None else init
    return planner.plan(cost, init, torch.Generator().manual_seed(seed))


def test_registry_lists_every_planner():
    assert set(NAMES) == {"cem", "mppi", "gd"} == set(PLANNERS)


@pytest.mark.parametrize("name", NAMES)
def test_result_shape_bounds_and_stats(name):
    far = torch.tensor([5.0, -5.0, 5.0]).expand(T, A)  # optimum outside the box
    r = _plan(name, cost=lambda x: (x - far).square().sum(dim=(1, 2)))
    assert isinstance(r, PlanResult) and r.actions.shape == (T, A)
    assert r.actions.isfinite().all() and isinstance(r.cost, float)
    assert (r.actions >= LOW).all() and (r.actions <= HIGH).all()
    assert isinstance(r.stats["iterations"], int) and r.stats["iterations"] >= 1
    assert r.stats["evaluations"] >= r.stats["iterations"] and r.stats["ms"] >= 0
    assert r.cost == pytest.approx((r.actions - far).square().sum().item(), rel=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_converges_on_a_quadratic(name):
    # default settings but a longer run; at least 4x below the start on 100 of 100 seeds
    r = _plan(name, iterations=30, patience=3)
    assert r.cost < 0.25 * quadratic(torch.zeros(1, T, A)).item()


@pytest.mark.parametrize("name", NAMES)
def test_never_worse_than_the_warm_start(name):
    init = TARGET + 0.01  # (T, A) already good: no candidate may replace it with a worse one
    r = _plan(name, init=init)
    assert r.cost <= quadratic(init[None]).item()


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_plan_and_no_hidden_state(name):
    planner = build_planner(name, LOW, HIGH)
    a = planner.plan(quadratic, torch.zeros(T, A), torch.Generator().manual_seed(7))
    b = planner.plan(quadratic, torch.zeros(T, A), torch.Generator().manual_seed(7))
    assert torch.equal(a.actions, b.actions) and a.cost == b.cost
    assert a.stats["iterations"] == b.stats["iterations"]


@pytest.mark.parametrize("name", sorted(SAMPLING))
def test_different_seed_different_plan(name):
    assert not torch.equal(_plan(name, seed=1).actions, _plan(name, seed=2).actions)


@pytest.mark.parametrize("name", NAMES)
def test_plans_under_no_grad(name):
    with torch.no_grad():  # an MPC loop may plan inside no_grad; gd must still get gradients
        r = _plan(name, iterations=10)
    assert r.cost < quadratic(torch.zeros(1, T, A)).item()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(T,), (T, A + 1), (1, T, A), (0, A)])
def test_wrong_init_mean_shape_is_refused(name, shape):
    with pytest.raises(PlannerError, match="init_mean shape"):
        _plan(name, init=torch.zeros(shape))


@pytest.mark.parametrize("name", NAMES)
def test_non_finite_init_mean_is_refused(name):
    init = torch.zeros(T, A)
    init[1, 2] = float("nan")
    with pytest.raises(PlannerError, match="init_mean"):
        _plan(name, init=init)


@pytest.mark.parametrize("name", NAMES)
def test_wrong_cost_shape_is_refused(name):
    with pytest.raises(PlannerError, match="cost_fn returned"):
        _plan(name, cost=lambda x: x.sum(dim=2))  # (S, T) instead of (S,)


BAD_SETTINGS = {
    "cem": [("samples", 1), ("elites", 0), ("elites", 65), ("iterations", 0), ("momentum", 1.0)],
    "mppi": [("temperature", 0.0), ("samples", 2.5), ("init_std", -1.0), ("min_std", -0.1)],
    "gd": [("lr", 0.0), ("starts", 0), ("iterations", True), ("init_std", float("nan"))],
}


@pytest.mark.parametrize("name", NAMES)
def test_bad_settings_are_refused_by_name(name):
    cases = BAD_SETTINGS[name] + [("tol", -1.0), ("patience", 0), ("nonsense", 1)]
    for key, value in cases:
        with pytest.raises(PlannerError, match=key) as err:
            build_planner(name, LOW, HIGH, **{key: value})
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_build_and_every_default_is_a_setting(name):
    settings = default_settings(name)
    assert settings and "low" not in settings
    planner = build_planner(name, LOW, HIGH, **settings)
    assert all(getattr(planner, k) == v for k, v in settings.items())


@pytest.mark.parametrize(
    "low, high", [([0.0, 0.0], [1.0, 0.0]), ([0.0], [1.0, 2.0]), ([0.0, float("inf")], [1.0, 1.0])]
)
def test_bad_bounds_are_refused(low, high):
    with pytest.raises(PlannerError, match="low/high"):
        build_planner("cem", low, high)


def test_unknown_planner_lists_the_valid_names():
    with pytest.raises(PlannerError, match="unknown planner 'nope'; known planners: cem, gd, mppi"):
        build_planner("nope", LOW, HIGH)
    with pytest.raises(PlannerError, match="known planners"):
        default_settings("nope")
