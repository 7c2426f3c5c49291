"""Loss maths: MSE by hand, SIGReg against Gaussian, collapsed and rescaled samples."""

from __future__ import annotations

import math

import pytest
import torch

from physjepa.config import load_preset
from physjepa.errors import ConfigError
from physjepa.models.losses import (
    compute_loss,
    prediction_loss,
    random_directions,
    sigreg,
    sigreg_over_time,
)
from physjepa.models.world_model import ModelSpec, build_world_model

N, DIM, M = 1024, 32, 256


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def dirs() -> torch.Tensor:
    return random_directions(DIM, M, _gen(0))


def _gauss(seed: int, n: int = N) -> torch.Tensor:
    return torch.randn(n, DIM, generator=_gen(100 + seed))


def _expected_gaussian_value(knots: int = 17, t_max: float = 3.0) -> float:
    """E[sigreg] for an exact N(0, 1) sample: N * E|phi_hat(t) - phi(t)|^2 = 1 - exp(-t^2),
    integrated against the same trapezoid weights (x2 for symmetry, Gaussian window)."""
    h = t_max / (knots - 1)
    total = 0.0
    for i in range(knots):
        t = i * h
        w = h / 2 if i in (0, knots - 1) else h
        total += 2 * w * math.exp(-t * t / 2) * (1 - math.exp(-t * t))
    return total


def test_prediction_loss_is_the_hand_computed_mse():
    pred = torch.tensor([[[1.0, 2.0], [0.0, -1.0]]])  # (1, 2, 2)
    target = torch.tensor([[[0.0, 4.0], [3.0, -1.0]]])
    assert prediction_loss(pred, target).item() == pytest.approx((1 + 4 + 9 + 0) / 4)
    x = torch.randn(3, 4, 5, generator=_gen(1))
    y = torch.randn(3, 4, 5, generator=_gen(2))
    manual = sum(float(a - b) ** 2 for a, b in zip(x.flatten(), y.flatten())) / x.numel()
    assert prediction_loss(x, y).item() == pytest.approx(manual, rel=1e-5)
    assert prediction_loss(x, x).item() == 0.0


def test_random_directions_are_unit_columns_and_seeded():
    d = random_directions(DIM, 64, _gen(5))
    assert d.shape == (DIM, 64)
    torch.testing.assert_close(d.norm(dim=0), torch.ones(64))
    torch.testing.assert_close(d, random_directions(DIM, 64, _gen(5)), rtol=0, atol=0)
    assert not torch.equal(d, random_directions(DIM, 64, _gen(6)))


def test_sigreg_is_small_on_a_gaussian_sample(dirs):
    values = [sigreg(_gauss(s), dirs).item() for s in range(4)]
    mean = sum(values) / len(values)
    expect = _expected_gaussian_value()  # ~1.06
    assert max(values) < 2.0, values
    assert mean < 1.5, values
    assert abs(mean - expect) < 0.35 * expect, (values, expect)


def test_sigreg_does_not_shrink_with_the_batch(dirs):
    """Scaled by N, the statistic of a Gaussian sample stays O(1) whatever the batch size."""
    small = sum(sigreg(_gauss(s, 256), dirs).item() for s in range(4)) / 4
    large = sum(sigreg(_gauss(s, 4096), dirs).item() for s in range(4)) / 4
    assert 0.5 < small / large < 2.0, (small, large)


def test_sigreg_is_large_on_collapse(dirs):
    gauss = sum(sigreg(_gauss(s), dirs).item() for s in range(4)) / 4
    one_point = _gauss(0)[:1].expand(N, DIM).contiguous()
    zeros = torch.zeros(N, DIM)
    rank1 = torch.randn(N, 1, generator=_gen(7)) * torch.randn(1, DIM, generator=_gen(8))
    for name, z in [("one point", one_point), ("zeros", zeros), ("rank 1", rank1)]:
        value = sigreg(z, dirs).item()
        assert value > 20 * gauss, (name, value, gauss)


def test_sigreg_is_scale_and_shift_sensitive(dirs):
    z = _gauss(0)
    base = sigreg(z, dirs).item()
    assert sigreg(3 * z, dirs).item() > 20 * base  # N(0, 9I)
    assert sigreg(0.3 * z, dirs).item() > 20 * base  # too narrow
    assert sigreg(z + 1, dirs).item() > 20 * base  # off-centre


def test_sigreg_gradients_flow_and_point_towards_gaussian(dirs):
    z = (3 * _gauss(1)).requires_grad_(True)
    loss = sigreg(z, dirs)
    loss.backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    with torch.no_grad():  # a small step down the gradient lowers the statistic
        assert sigreg(z - 1e-2 * z.grad / z.grad.norm() * z.norm(), dirs) < loss


def test_sigreg_over_time_is_the_mean_over_steps(dirs):
    z = torch.stack([_gauss(0, 128), 2 * _gauss(1, 128), _gauss(2, 128)], dim=1)  # (B, T, D)
    per_step = [sigreg(z[:, t], dirs).item() for t in range(3)]
    assert sigreg_over_time(z, dirs).item() == pytest.approx(sum(per_step) / 3, rel=1e-5)


def test_sigreg_knots_change_little_on_smooth_integrands(dirs):
    z = 2 * _gauss(0)
    coarse, fine = sigreg(z, dirs, knots=17).item(), sigreg(z, dirs, knots=65).item()
    assert coarse == pytest.approx(fine, rel=0.05)


def test_temporal_term_adds_its_weight_times_the_mean_squared_step():
    """loss.temporal_weight adds w * mean ||z[t+1] - z[t]||^2 / D to the objective, on the
    same embeddings the other terms use, and logs it; at 0 the objective is the old one."""
    base = load_preset("debug", ["model.pred_dropout=0", "model.encoder=mlp"])
    t = base.data.history + base.data.rollout
    gen = _gen(7)
    batch = {
        "obs": torch.rand(4, t, 4, generator=gen),
        "action": torch.randn(4, t, 2, generator=gen),
    }
    torch.manual_seed(0)
    model = build_world_model(base.model, ModelSpec((4,), 2, base.data.history)).eval()
    d = random_directions(base.model.dim, 16, _gen(1))
    loss0, stats0 = compute_loss(model, batch, base, d)
    assert "train/temporal" not in stats0
    with_t = load_preset(
        "debug", ["model.pred_dropout=0", "model.encoder=mlp", "loss.temporal_weight=0.5"]
    )
    loss1, stats1 = compute_loss(model, batch, with_t, d)
    with torch.no_grad():
        z = model.encode(batch["obs"])
    step = (z[:, 1:] - z[:, :-1]).pow(2).mean()
    assert stats1["train/temporal"].item() == pytest.approx(step.item(), rel=1e-5)
    assert step.item() > 0
    assert (loss1 - loss0).item() == pytest.approx(0.5 * step.item(), rel=1e-4)


def test_temporal_weight_must_not_be_negative():
    with pytest.raises(ConfigError, match="loss.temporal_weight"):
        load_preset("debug", ["loss.temporal_weight=-1"])
