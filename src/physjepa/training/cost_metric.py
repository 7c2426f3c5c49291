"""The planning cost's metric (``model.cost_metric='step'``): whitening by the latent's steps.

A latent distance to the goal weighs every direction of the latent alike. An encoder trained
on an agent's data spends most of its range on what the action moves fast (the agent's own
body), so a pushed object's pose, which moves rarely and slowly, barely moves the cost. The
step metric measures the distance in units of how far each direction moves over one action
block: ``|W (z - z_goal)|^2`` with ``W = (S + ridge * tr(S) / D * I)^(-1/2)``, ``S`` the
covariance of ``z[t + frameskip] - z[t]`` over the training episodes (eval mode, the
encoder's part). The ridge keeps directions that never move (noise) from dominating.

On push-t's seed-1 validation manifest (docs/issue15-variants.md) the ridge 0.1 took the true
simulator planning under the latent cost from 0.233 to 0.500 (the oracle 0.567) and the model
from 0.18 to 0.22 over 100 episodes; 0.001 broke it, 1.0 gave back most of the gain.

:func:`fit_cost_metric` runs at the end of training; :func:`add_cost_metric` gives a finished
run the metric without retraining (the encoder and predictor are untouched by it).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from physjepa.data.episodes import EpisodeFile, split_episodes
from physjepa.errors import UserError
from physjepa.models.world_model import ModelSpec, build_world_model
from physjepa.runs import Run
from physjepa.training import checkpoint as ckpt

#: The ridge, as a fraction of the mean step variance, chosen on push-t's validation manifest.
STEP_RIDGE = 0.1
#: Training episodes the covariance is measured on (evenly spaced over the training split).
FIT_EPISODES = 300


def whitener(samples: torch.Tensor, ridge: float = STEP_RIDGE) -> torch.Tensor:
    """Samples (N, D) -> the symmetric (D, D) ``(S + ridge tr(S)/D I)^-1/2`` of their
    covariance ``S``."""
    d = samples.double()
    if len(d) < 2 or not torch.isfinite(d).all():
        raise UserError("the latents' steps cannot give a covariance; use model.cost_metric='l2'")
    s = torch.cov(d.T).reshape(d.shape[1], d.shape[1])
    floor = max(float(s.trace()) / s.shape[0], 1e-12)
    s = s + ridge * floor * torch.eye(s.shape[0], dtype=s.dtype)
    ev, u = torch.linalg.eigh(s)
    return (u @ torch.diag(ev.clamp_min(1e-12).rsqrt()) @ u.T).float()


def step_whitener(latents: list[torch.Tensor], frameskip: int, ridge: float = STEP_RIDGE):
    """Per-episode latents [(T_i, D)] -> the :func:`whitener` of their changes over
    ``frameskip`` frames."""
    steps = [z[frameskip:] - z[:-frameskip] for z in latents if len(z) > frameskip]
    if not steps:
        raise UserError(
            f"no training episode is longer than data.frameskip={frameskip} frames; the step "
            "metric (model.cost_metric='step') needs longer episodes, or use 'l2'"
        )
    return whitener(torch.cat(steps), ridge)


@torch.no_grad()
def fit_cost_metric(model, data_path, obs_key: str, val_fraction: float, frameskip: int) -> None:
    """Measure the step covariance on (up to ``FIT_EPISODES``) training episodes of the run's
    data and store its whitener in ``model.cost_whitener`` (a model with the 'step' metric)."""
    if getattr(model, "cost_whitener", None) is None:
        raise UserError("this model has no cost metric to fit (model.cost_metric='l2')")
    was_training = model.training
    model.eval()
    device = model.cost_whitener.device
    try:
        with EpisodeFile(data_path) as f:
            train_eps, _ = split_episodes(f.n_episodes, val_fraction)
            pick = np.unique(np.linspace(0, len(train_eps) - 1, FIT_EPISODES).round().astype(int))
            latents = []
            for i in train_eps[pick]:
                x = torch.as_tensor(f.load(obs_key, [int(i)]), device=device)
                z = [model.encode_pixels(x[j : j + 256][None])[0] for j in range(0, len(x), 256)]
                latents.append(torch.cat(z).cpu())
    finally:
        model.train(was_training)
    model.cost_whitener.copy_(step_whitener(latents, frameskip).to(device))


def add_cost_metric(run_dir: str | Path) -> None:
    """Give a finished run trained with ``model.cost_metric='l2'`` the step metric: fit it on
    the run's own training data and rewrite its weights and config.json (atomically; the
    encoder and predictor weights are left as they are)."""
    run = Run.open(run_dir)
    if run.config.model.cost_metric == "step":
        return
    cfg = dataclasses.replace(
        run.config, model=dataclasses.replace(run.config.model, cost_metric="step")
    )
    s = run.shape
    model = build_world_model(
        cfg.model, ModelSpec(s.obs_shape, s.action_dim, s.history, s.proprio_dim)
    )
    old = run.load_model()
    model.load_state_dict({**old.state_dict(), "cost_whitener": model.cost_whitener})
    data = run.data
    if not Path(data.path).exists():
        raise UserError(
            f"{run.dir} was trained on {data.path}, which is not there: the step metric is "
            "fitted on the run's own training data; put the file back (or run from the "
            "directory the run was trained in)"
        )
    fit_cost_metric(model, data.path, data.obs_key, cfg.data.val_fraction, cfg.data.frameskip)
    # the weights before config.json (see restore_weights); a resume loads the train state's
    if (Path(run.dir) / "train_state.pt").exists():
        state = ckpt.load_train_state(Path(run.dir))
        state.pop("model", None)
        ckpt.save_checkpoint(Path(run.dir), model, state)
    else:
        ckpt.save_weights(Path(run.dir), model, run.step)
    ckpt.update_config(Path(run.dir), cfg)
