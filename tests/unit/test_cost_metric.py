"""``model.cost_metric='step'``: the planning cost whitened by how the latent moves per block."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import DEBUG_OVERRIDES

from physjepa.config import load_preset
from physjepa.errors import ConfigError, UserError
from physjepa.fileio import sha256_file
from physjepa.metrics.visibility import _encode
from physjepa.planning.cost import latent_cost
from physjepa.training.checkpoint import load_run, load_train_state
from physjepa.training.cost_metric import add_cost_metric, fit_cost_metric, step_whitener
from physjepa.training.loop import train


def test_the_step_whitener_evens_out_how_far_each_direction_moves():
    g = torch.Generator().manual_seed(0)
    mix = torch.linalg.qr(torch.randn(3, 3, generator=g))[0]  # three orthogonal directions
    steps = (torch.randn(4000, 3, generator=g) * torch.tensor([10.0, 0.1, 1.0])) @ mix.T
    walk = torch.cumsum(steps, 0)  # one episode whose frame-to-frame steps are ``steps``
    w = step_whitener([walk], 1, ridge=0.0)
    torch.testing.assert_close(w, w.T)
    torch.testing.assert_close(torch.cov((steps @ w).T), torch.eye(3), atol=0.08, rtol=0)
    fast, slow = mix[:, 0], mix[:, 1]
    assert 85 < float((slow @ w).norm() / (fast @ w).norm()) < 115  # 10 / 0.1 per step
    # steps over ``frameskip`` frames: a random walk's step variance grows with it
    w5 = step_whitener([walk], 5, ridge=0.0)
    assert 0.38 < float((fast @ w5).norm() / (fast @ w).norm()) < 0.52  # 1 / sqrt(5)
    # the ridge keeps a direction that never moves finite, and no more than 1/sqrt(ridge)
    # times the weight of an average one
    still = torch.cat([walk[:, :2], torch.zeros(len(walk), 1)], 1)
    w_r = step_whitener([still], 1)
    assert torch.isfinite(w_r).all() and float(w_r[2, 2]) > 0
    with pytest.raises(UserError, match="longer than data.frameskip=5"):
        step_whitener([walk[:5]], 5)


@pytest.fixture(scope="module")
def step_run(tmp_path_factory, ball_file):
    cfg = load_preset("debug", [*DEBUG_OVERRIDES, "model.cost_metric=step"])
    return train(cfg, ball_file, tmp_path_factory.mktemp("runs") / "step", progress=False)


def test_training_fits_the_metric_on_its_final_weights_and_planning_uses_it(step_run):
    model, cfg, info = load_run(step_run)
    assert cfg.model.cost_metric == "step"
    w = model.cost_whitener.clone()
    assert not torch.allclose(w, torch.eye(len(w)), atol=1e-3)
    # the whitener saved is the one the saved weights give on the run's training episodes
    fit_cost_metric(
        model, info.data.path, info.data.obs_key, cfg.data.val_fraction, cfg.data.frameskip
    )
    torch.testing.assert_close(model.cost_whitener, w)
    # the planning cost measures |W (z - goal)|^2, summed over the steps
    g = torch.Generator().manual_seed(1)
    d, a, h = cfg.model.dim, model.spec.action_dim, model.history
    z_hist, past = torch.randn(h, d, generator=g), torch.randn(h - 1, a, generator=g)
    goal, actions = torch.randn(d, generator=g), torch.randn(4, 3, a, generator=g)
    with torch.no_grad():
        cost = latent_cost(model, z_hist, past, goal)(actions)
        z = model.cost_part(model.rollout(z_hist[None], actions[None], past[None])[0])
    torch.testing.assert_close(cost, ((z - goal) @ w).pow(2).sum(-1).sum(1))
    assert not torch.allclose(cost, (z - goal).pow(2).sum(-1).sum(1))
    # latent visibility measures distances in the same metric
    frames = np.random.default_rng(0).integers(0, 255, (3, *model.spec.obs_shape), np.uint8)
    with torch.no_grad():
        plain = model.encode_pixels(torch.as_tensor(frames)[:, None])[:, 0]
    torch.testing.assert_close(_encode(model, frames, 2), plain @ w)


def test_a_finished_run_gains_the_metric_without_retraining(copy_run, ball_file):
    run = copy_run()
    before, _, _ = load_run(run)
    meta_before = json.loads((run / "config.json").read_text())
    old_config = json.loads(json.dumps(meta_before["config"]))
    add_cost_metric(run)
    after, cfg, info = load_run(run)
    assert cfg.model.cost_metric == "step" and info.step == 20
    sb, sa = before.state_dict(), after.state_dict()
    assert set(sa) - set(sb) == {"cost_whitener"}
    assert all(torch.equal(sb[k], sa[k]) for k in sb)  # the trained weights are untouched
    assert not torch.allclose(after.cost_whitener, torch.eye(cfg.model.dim), atol=1e-3)
    meta = json.loads((run / "config.json").read_text())
    meta_before["config"]["model"]["cost_metric"] = "step"
    assert meta == meta_before  # config.json changes in that one field
    # the train state carries it, so a resumed run keeps it and refits at its new end
    state = load_train_state(run)["model"]["cost_whitener"]
    assert torch.equal(state, after.cost_whitener)
    sha = sha256_file(run / "model.safetensors")
    add_cost_metric(run)  # a second call leaves the run as it is
    assert sha256_file(run / "model.safetensors") == sha
    # stopped between the weights and config.json, the run loads as the plain one it was
    (run / "config.json").write_text(json.dumps(meta_before | {"config": old_config}))
    plain, pcfg, _ = load_run(run)
    assert pcfg.model.cost_metric == "l2" and not hasattr(plain, "cost_whitener")
    assert all(torch.equal(sb[k], plain.state_dict()[k]) for k in sb)
    (run / "config.json").write_text(json.dumps(meta))
    more = load_preset("debug", ["train.steps=24", "train.device=cpu", "model.cost_metric=step"])
    train(more, None, run, resume=True, progress=False)
    resumed, _, rinfo = load_run(run)
    assert rinfo.step == 24 and not torch.equal(resumed.cost_whitener, after.cost_whitener)


def test_bad_cost_metrics_are_refused_in_one_line():
    with pytest.raises(ConfigError, match="model.cost_metric='cosine'.*'l2' or 'step'"):
        load_preset("debug", ["model.cost_metric=cosine"])
    with pytest.raises(ConfigError, match="model.cost_metric='step'.*model.latent='tokens'"):
        load_preset("debug", ["model.latent=tokens", "model.cost_metric=step"])
    assert load_preset("debug").model.cost_metric == "l2"
