"""Frames decoded from predicted latents, beside the real ones, for the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from physjepa.metrics.rollout import EncodedEpisode
from physjepa.models.decoder import Decoder
from physjepa.models.world_model import WorldModel


def train_decoder(
    episodes: list[EncodedEpisode], steps: int = 400, batch: int = 64, seed: int = 0
) -> Decoder:
    """Fit a decoder from frozen latents to frames of ``episodes`` (pixels only)."""
    z = torch.cat([ep.z for ep in episodes])  # (N, D)
    x = (
        torch.from_numpy(np.concatenate([ep.obs for ep in episodes])).float() / 255.0
    )  # (N, H, W, 3)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    dec = Decoder(z.shape[1], x.shape[1])
    opt = torch.optim.Adam(dec.parameters(), lr=2e-3)
    for _ in range(steps):
        i = torch.randint(len(z), (batch,), generator=g)
        loss = (dec(z[i]) - x[i]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return dec.eval()


@torch.no_grad()
def rollout_strip(
    model: WorldModel,
    decoder: Decoder,
    ep: EncodedEpisode,
    horizon: int,
    path: Path,
    start: int | None = None,
) -> Path:
    """Save a PNG: real future frames (top), decoded real latents (middle), decoded
    predictions (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = model.history
    horizon = min(horizon, len(ep.z) - h)
    s = h - 1 if start is None else start
    z_pred = model.rollout(
        ep.z[None, s - h + 1 : s + 1],
        ep.action[None, None, s : s + horizon],
        ep.action[None, s - h + 1 : s],
    )[0, 0]  # (horizon, D)
    real = ep.obs[s + 1 : s + 1 + horizon]
    recon = decoder(ep.z[s + 1 : s + 1 + horizon]).numpy()
    pred = decoder(z_pred).numpy()
    rows = [("real", real / 255.0), ("decoded real latent", recon), ("decoded prediction", pred)]
    fig, axes = plt.subplots(3, horizon, figsize=(1.1 * horizon, 3.6), squeeze=False)
    for r, (label, frames) in enumerate(rows):
        for c in range(horizon):
            ax = axes[r, c]
            ax.imshow(np.clip(frames[c], 0, 1), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t+{c + 1}", fontsize=8)
            if c == 0:
                ax.set_ylabel(label, fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return path
