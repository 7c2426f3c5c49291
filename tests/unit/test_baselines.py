"""The VoE baselines (pixel predictor, state oracle) and the MLP probe learn, and their surprise
has the shape and padding the suite relies on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physjepa.data.episodes import EpisodeFile
from physjepa.data.windows import WindowDataset
from physjepa.metrics.probe import linear_probe, mlp_probe
from physjepa.metrics.rollout import EncodedEpisode
from physjepa.models.baselines import (
    PixelPredictor,
    StatePredictor,
    fit_next_step,
    next_step_surprise,
)


def test_state_oracle_learns_ball_physics(ball_file):
    with EpisodeFile(ball_file) as f:
        states = f.load("state")
        eps = np.arange(f.n_episodes)
        windows = WindowDataset(f, eps, 3, 1, "pixels")
    torch.manual_seed(0)
    model = StatePredictor(states.shape[1], 2, 2, states.mean(0), states.std(0), hidden=64)

    def sample(b, g):
        w = windows.sample(b, g)
        return {"obs": w["state"], "action": w["action"]}

    losses = fit_next_step(model, sample, 1000, batch_size=64, lr=3e-3)
    assert np.mean(losses[-20:]) < 0.3 * np.mean(losses[:5])  # pushes and gravity learned
    ep = EpisodeFile(ball_file).episode(0)
    s = next_step_surprise(model, torch.as_tensor(ep["state"]), torch.as_tensor(ep["action"]))
    assert s.shape == (len(ep["state"]),) and s[0] == 0 and torch.isfinite(s).all()
    # a teleported ball is far more surprising than the real next state
    jumped = ep["state"].copy()
    jumped[10:, 0:2] += 0.3
    s2 = next_step_surprise(model, torch.as_tensor(jumped), torch.as_tensor(ep["action"]))
    assert s2[10] > 20 * s[1:].median()


def test_pixel_predictor_learns_and_pads(ball_file):
    with EpisodeFile(ball_file) as f:
        windows = WindowDataset(f, np.arange(f.n_episodes), 3, 1, "pixels")
        ep = f.episode(0)
    torch.manual_seed(0)
    model = PixelPredictor(64, 2, 2, widths=(8, 16, 32))
    losses = fit_next_step(model, windows.sample, 60, batch_size=16, lr=3e-3)
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:3])
    obs, act = torch.as_tensor(ep["pixels"][:12]), torch.as_tensor(ep["action"][:12])
    s = next_step_surprise(model, obs, act)
    assert s.shape == (12,) and s[0] == 0
    # step 1 is predicted from frame 0 repeated (padding, zero action): an explicit window
    pred = model(obs[[0, 0]][None], torch.stack([torch.zeros(2), act[0]])[None])
    assert s[1].item() == pytest.approx(model.error(pred, model.target(obs[1:2])).item(), rel=1e-5)
    with pytest.raises(ValueError, match="T >= 2"):
        next_step_surprise(model, obs[:1], act[:1])


def test_mlp_probe_reads_a_nonlinear_quantity():
    rng = np.random.default_rng(0)

    def episodes(n):
        out = []
        for _ in range(n):
            z = rng.normal(size=(50, 6)).astype(np.float32)
            y = np.stack([np.sin(2 * z[:, 0]) + z[:, 1] ** 2, z[:, 2]], 1)  # (50, 2)
            out.append(EncodedEpisode(torch.from_numpy(z), torch.zeros(50, 1), y, None))
        return out

    train, test = episodes(40), episodes(10)
    spec = [("curved", (1,)), ("straight", (1,))]
    lin = linear_probe(train, test, spec, window=1)["linear"]
    mlp = mlp_probe(train, test, spec, window=1, steps=1500)["mlp"]
    assert mlp["curved"] > 0.9 and lin["curved"] < 0.3
    assert mlp["straight"] > 0.95 and lin["straight"] > 0.99


def test_baseline_surprise_at_a_horizon_feeds_predictions_back(ball_file):
    with EpisodeFile(ball_file) as f:
        ep = f.episode(1)
        states = f.load("state")
    torch.manual_seed(0)
    model = StatePredictor(states.shape[1], 2, 2, states.mean(0), states.std(0), hidden=16)
    s, a = torch.as_tensor(ep["state"]), torch.as_tensor(ep["action"])
    s3 = next_step_surprise(model, s, a, horizon=3)
    with torch.no_grad():
        for t in (1, 2, 7):
            e = max(t - 3, 0)
            ctx = torch.stack([s[max(e - 1, 0)], s[e]])[None]
            act = torch.stack([a[e - 1] if e else torch.zeros(2), a[e]])[None]
            for j in range(t - e):
                pred = model(ctx, act)
                ctx = torch.cat([ctx[:, 1:], model.as_obs(pred)[:, None]], 1)
                act = torch.cat([act[:, 1:], a[e + 1 + j][None, None]], 1)
            want = model.error(pred, model.target(s[t][None])).item()
            assert s3[t].item() == pytest.approx(want, rel=1e-5)
