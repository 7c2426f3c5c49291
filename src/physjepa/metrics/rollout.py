"""Encode whole episodes and measure latent rollout error against horizon.

The error at horizon h is the squared distance between the embedding predicted h steps ahead
(from a context of real frames and the true actions) and the embedding of the real frame,
normalised by the total variance of the embeddings. The baseline is "the latent stays the
same": the last context embedding used as the prediction for every horizon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from physjepa.data.episodes import DataError, EpisodeFile
from physjepa.errors import UserError
from physjepa.models.world_model import WorldModel


@dataclass
class EncodedEpisode:
    """One episode at model rate: z (L, D) latents, action (L, A) blocks, state (L, S) or None."""

    z: torch.Tensor
    action: torch.Tensor
    state: np.ndarray | None
    obs: np.ndarray


def episode_blocks(
    obs: np.ndarray, action: np.ndarray, frameskip: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Subsample an episode to model steps: (rows kept (L,), obs (L, ...), action blocks
    (L, k*A))."""
    n = len(obs) // frameskip
    rows = np.arange(n) * frameskip
    return rows, obs[rows], action[: n * frameskip].reshape(n, frameskip * action.shape[1])


@torch.no_grad()
def encode_episodes(
    model: WorldModel,
    file: EpisodeFile,
    episodes: np.ndarray,
    frameskip: int,
    obs_key: str,
    device: torch.device | str = "cpu",
    batch: int = 256,
) -> list[EncodedEpisode]:
    model.eval()
    out = []
    for e in episodes:
        ep = file.episode(int(e))
        rows, obs, act = episode_blocks(ep[obs_key], ep["action"], frameskip)
        if len(rows) == 0:
            continue
        x = torch.from_numpy(obs)
        p = None
        if model.spec.proprio_dim:  # the run reads proprioception beside every frame
            if "proprio" not in ep:
                raise DataError(
                    f"{file.path} has no 'proprio' column, which this run (model.proprio=true) "
                    "reads beside every frame; use the run's own data or collect it again"
                )
            p = torch.from_numpy(ep["proprio"][rows].astype(np.float32))
        z = torch.cat(
            [
                model.encode(
                    x[i : i + batch][None].to(device),
                    None if p is None else p[i : i + batch][None].to(device),
                )[0]
                for i in range(0, len(x), batch)
            ]
        )  # (L, D)
        state = ep["state"][rows] if "state" in ep else None
        out.append(EncodedEpisode(z.cpu(), torch.from_numpy(act.astype(np.float32)), state, obs))
    return out


@torch.no_grad()
def rollout_error(
    model: WorldModel,
    episodes: list[EncodedEpisode],
    horizon: int,
    max_windows: int = 2000,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> dict:
    """Normalised latent error of model rollouts vs the "stays the same" baseline, per horizon."""
    h = model.history
    ctx, past, fut_a, fut_z = [], [], [], []
    for ep in episodes:
        n = len(ep.z)
        for s in range(h - 1, n - horizon):
            ctx.append(ep.z[s - h + 1 : s + 1])
            past.append(ep.action[s - h + 1 : s])
            fut_a.append(ep.action[s : s + horizon])
            fut_z.append(ep.z[s + 1 : s + 1 + horizon])
    if not ctx:
        raise UserError(
            f"no held-out episode is longer than history + horizon = {h + horizon} steps"
        )
    idx = np.random.default_rng(seed).permutation(len(ctx))[:max_windows]
    c = torch.stack([ctx[i] for i in idx])  # (N, h, D)
    p = torch.stack([past[i] for i in idx])  # (N, h-1, A)
    fa = torch.stack([fut_a[i] for i in idx])  # (N, horizon, A)
    fz = torch.stack([fut_z[i] for i in idx])  # (N, horizon, D)
    preds = []
    for i in range(0, len(c), 512):
        r = model.rollout(
            c[i : i + 512].to(device), fa[i : i + 512, None].to(device), p[i : i + 512].to(device)
        )
        preds.append(r[:, 0].cpu())  # (n, horizon, D)
    pred = torch.cat(preds)
    all_z = torch.cat([ep.z for ep in episodes])
    var = all_z.var(dim=0).sum().clamp_min(1e-12)  # total variance of the embeddings
    err_model = ((pred - fz) ** 2).sum(-1).mean(0) / var  # (horizon,)
    err_base = ((c[:, -1:] - fz) ** 2).sum(-1).mean(0) / var  # (horizon,)
    ratio = err_model / err_base.clamp_min(1e-12)
    return {
        "horizon": list(range(1, horizon + 1)),
        "model": err_model.tolist(),
        "baseline": err_base.tolist(),
        "ratio": ratio.tolist(),
        "n_windows": len(c),
    }
