"""The token latent (model.latent=tokens): a grid of patch tokens per frame behind the same
WorldModel contract; causal by frame, local in the image, SIGReg per token."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import DEBUG_OVERRIDES

from physjepa.config import ConfigError, load_preset
from physjepa.data.collect import collect
from physjepa.metrics.visibility import visibility_of_run
from physjepa.models.losses import random_directions, sigreg, sigreg_over_time
from physjepa.models.world_model import ModelSpec, build_world_model
from physjepa.training.loop import train

B, T, A, H, IMG, DIM, GRID = 3, 4, 2, 3, 32, 8, 4
D = GRID * GRID * DIM


def _model(seed: int = 0, history: int = H):
    cfg = load_preset(
        "debug",
        [
            "model.latent=tokens",
            f"model.token_grid={GRID}",
            f"model.dim={DIM}",
            "model.conv_widths=4,8",  # 32 px -> a 4x4 feature map
            "model.projector_hidden=16",
            "model.pred_depth=2",
            "model.pred_heads=2",
        ],
    )
    torch.manual_seed(seed)
    return build_world_model(cfg.model, ModelSpec((IMG, IMG, 3), A, history))


def _scrambled(seed: int = 1):
    model = _model()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # the zero-initialised gates would hide everything the tests check
        for p in model.predictor.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return model.eval()


def _obs(b: int = B, t: int = T, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, t, IMG, IMG, 3), generator=g, dtype=torch.uint8)


def test_shapes_follow_the_world_model_contract():
    model = _model().eval()
    z = model.encode(_obs())
    assert z.shape == (B, T, D)
    a = torch.randn(B, T, A)
    assert model.predict_all(z[:, :H], a[:, :H]).shape == (B, H, D)
    assert model.predict(z, a).shape == (B, D)
    assert model.rollout(z[:, :H], torch.randn(B, 5, 2, A)).shape == (B, 5, 2, D)


def test_untrained_predictor_returns_its_input():
    model = _model().eval()
    z = torch.randn(B, H, D)
    assert torch.equal(model.predict_all(z, torch.randn(B, H, A)), z)


def test_predictions_are_causal_by_frame():
    model = _scrambled()
    z, a = torch.randn(B, H, D), torch.randn(B, H, A)
    base = model.predict_all(z, a)
    z2, a2 = z.clone(), a.clone()
    z2[:, 2] += torch.randn(B, D)  # not a constant: LayerNorm would not see that
    a2[:, 2] += 1.0
    out = model.predict_all(z2, a2)
    assert torch.allclose(out[:, :2], base[:, :2], atol=1e-6)  # frames 0, 1 never see frame 2
    assert not torch.allclose(out[:, 2], base[:, 2], atol=1e-3)
    z3 = z.clone()
    z3[:, 0, :DIM] += torch.randn(B, DIM)  # one token of the first frame reaches every later
    out3 = model.predict_all(z3, a)  # prediction, on every token
    assert not torch.allclose(out3[:, 2, -DIM:], base[:, 2, -DIM:], atol=1e-4)


def test_rollout_equals_stepwise_predict():
    model = _scrambled()
    z_hist, actions = torch.randn(2, H, D), torch.randn(2, 4, 3, A)
    past = torch.randn(2, H - 1, A)
    with torch.no_grad():
        fast = model.rollout(z_hist, actions, past)
        for s in range(4):
            zs, acts = z_hist, past
            for i in range(3):
                acts_i = torch.cat([acts, actions[:, s, i : i + 1]], dim=1)
                nxt = model.predict(zs, acts_i)
                assert torch.allclose(fast[:, s, i], nxt, atol=1e-5)
                zs, acts = torch.cat([zs, nxt[:, None]], 1)[:, -H:], acts_i[:, -(H - 1) :]


def test_tokens_are_local_in_the_image():
    model = _model().eval()
    x = _obs(1, 1)
    y = x.clone()
    y[..., :6, :6, :] = 255 - y[..., :6, :6, :]  # change the top-left corner only
    zx, zy = model.encode(x).view(GRID, GRID, DIM), model.encode(y).view(GRID, GRID, DIM)
    assert not torch.allclose(zx[0, 0], zy[0, 0])
    assert torch.equal(zx[-1, -1], zy[-1, -1])  # the bottom-right token cannot see it


def test_sigreg_is_per_token_and_the_vector_case_is_unchanged():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(64, 2, 3 * 5, generator=g)  # 3 tokens of 5
    dirs = random_directions(5, 16, g)  # dealt out: 5 per token, the 16th unused
    by_hand = torch.stack(
        [
            sigreg(z[:, t, k * 5 : (k + 1) * 5], dirs[:, k * 5 : (k + 1) * 5])
            for t in range(2)
            for k in range(3)
        ]
    ).mean()
    assert torch.allclose(sigreg_over_time(z, dirs), by_hand, rtol=1e-5)
    # a collapsed token shows even when the other tokens are Gaussian
    z_bad = z.clone()
    z_bad[:, :, :5] = 0.0
    assert sigreg_over_time(z_bad, dirs) > 3 * sigreg_over_time(z, dirs)
    with pytest.raises(ValueError, match="no tokens"):
        sigreg_over_time(torch.randn(8, 2, 7), dirs)


def test_bad_token_configs_are_refused():
    with pytest.raises(ConfigError, match="model.latent"):
        load_preset("debug", ["model.latent=tokens", "model.encoder=vit"])
    with pytest.raises(ConfigError, match="model.latent"):
        load_preset("debug", ["model.latent=patches"])
    with pytest.raises(ConfigError, match="model.token_grid"):
        load_preset("debug", ["model.token_grid=0"])
    cfg = load_preset("debug", ["model.latent=tokens", "model.token_grid=3"])
    with pytest.raises(ValueError, match="token grid"):
        build_world_model(cfg.model, ModelSpec((32, 32, 3), A, H))  # 8x8 features, no 3x3


def test_a_token_model_trains_and_its_visibility_is_measured(tmp_path):
    data = tmp_path / "push-t.h5"
    collect("push-t", data, episodes=6, steps=30, policy="scripted", seed=0, image_size=IMG)
    cfg = load_preset("debug", [*DEBUG_OVERRIDES, "data.frameskip=2", "model.latent=tokens"])
    run = train(cfg, data, tmp_path / "run", progress=False)
    vis = visibility_of_run(run, starts=4)
    assert vis["agent_pos"]["visibility"] == 1.0
    assert all(math.isfinite(v["visibility"]) and v["visibility"] > 0 for v in vis.values())
