"""Losses as pure functions of tensors.

- :func:`prediction_loss`: MSE between predicted and actual next embeddings.
- :func:`sigreg`: the sketched isotropic Gaussian regulariser of LeJEPA (Epps–Pulley
  statistic on random 1-D projections); near 0 for N(0, I) embeddings, large on collapse.
- :func:`compute_loss`: the JEPA objective on a batch of windows (teacher-forced and
  rolled-out prediction MSE + λ·SIGReg, optionally + a temporal-smoothness term), the one
  loss training minimises; with an augmented view of each window (``batch["obs_view"]``,
  ``loss.invariance_weight``) it adds the view's squared distance to the plain embeddings.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from physjepa.config import Config
    from physjepa.models.world_model import WorldModel


def prediction_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over all elements. pred, target (..., D) -> scalar."""
    return (pred - target).pow(2).mean()


def random_directions(
    dim: int, num: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """``num`` random unit vectors in R^dim as columns: (dim, num)."""
    d = torch.randn(dim, num, generator=generator, device=device)
    return d / d.norm(dim=0, keepdim=True)


def sigreg(
    z: torch.Tensor, directions: torch.Tensor, knots: int = 17, t_max: float = 3.0
) -> torch.Tensor:
    """Epps–Pulley test statistic of ``z (N, D)`` against N(0, I), averaged over directions.

    For each projection ``x = z @ u`` it integrates ``|φ̂(t) − exp(−t²/2)|²`` with a Gaussian
    window over t in [−t_max, t_max] (using symmetry: twice [0, t_max], trapezoid rule), and
    scales by N so the statistic does not shrink with the batch. ``directions (D, M)``.
    ``z (G, N, D)`` holds G batches (token positions): the statistic averaged over them, with
    the same directions for all, or each its own with ``directions (G, D, M)``.
    The batch is the *global* batch: with several processes, gather ``z`` first.
    """
    n = z.shape[-2]
    t = torch.linspace(0.0, t_max, knots, device=z.device, dtype=z.dtype)  # (K,)
    phi = torch.exp(-0.5 * t * t)  # (K,) characteristic function of N(0, 1)
    w = torch.full_like(t, t_max / (knots - 1))  # trapezoid weights
    w[0] = w[-1] = w[0] / 2
    weights = 2.0 * w * phi  # symmetry x2, Gaussian window
    xt = (z @ directions.to(z.dtype)).unsqueeze(-1) * t  # (..., N, M, K)
    err = (xt.cos().mean(-3) - phi).square() + xt.sin().mean(-3).square()  # (..., M, K)
    return (err @ weights).mean() * n


def sigreg_over_time(z: torch.Tensor, directions: torch.Tensor, knots: int = 17) -> torch.Tensor:
    """SIGReg of each time step's batch of embeddings, averaged: z (B, T, D) -> scalar (LeWM).

    A token latent (D = G * d: G tokens of the directions' size d) is regularised per token: the
    statistic of each (time step, token position)'s batch of d-vectors, averaged. The M
    directions are dealt out among the G tokens (M // G each, when M >= G), so the cost stays
    that of one vector per frame; they are redrawn every step, so every token meets them all."""
    d, m = directions.shape
    if z.shape[-1] == d:
        return torch.stack([sigreg(z[:, i], directions, knots) for i in range(z.shape[1])]).mean()
    if z.shape[-1] % d:
        raise ValueError(f"embeddings of size {z.shape[-1]} are no tokens of size {d}")
    zt = z.reshape(*z.shape[:2], -1, d).permute(1, 2, 0, 3)  # (T, G, B, d)
    g = zt.shape[1]
    if m >= g:  # (G, d, M // G): each token its own share of the directions
        directions = directions[:, : m // g * g].reshape(d, g, m // g).permute(1, 0, 2)
    return torch.stack([sigreg(zt[i], directions, knots) for i in range(zt.shape[0])]).mean()


def compute_loss(
    model: WorldModel,
    batch: dict[str, torch.Tensor],
    cfg: Config,
    directions: torch.Tensor,
    amp_dtype: torch.dtype | None = None,
    gather: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """JEPA objective on a batch of windows: teacher-forced + rollout MSE + λ·SIGReg.

    ``amp_dtype`` (e.g. ``torch.bfloat16``) autocasts the encoder and predictor; the losses
    are computed in fp32. ``gather`` collects the embeddings of every process before SIGReg
    (``training.distributed.gather_batch`` under torchrun; ``None``: this process alone).
    """
    h, r = cfg.data.history, cfg.data.rollout
    obs, act = batch["obs"], batch["action"]  # (b, T, ...), (b, T, A); T = h + r
    dev = obs.device.type
    amp = (
        torch.autocast(dev, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext()
    )

    def f32(t: torch.Tensor) -> torch.Tensor:
        # losses in fp32 under autocast; in fp32 mode no op is added, so the autograd graph
        # (and its floating-point summation order) is exactly the single-precision one
        return t.float() if amp_dtype is not None else t

    with amp:
        z = model.encode(obs, batch.get("proprio"))  # (b, T, D)
        pred = model.predict_all(z[:, :h], act[:, :h])  # (b, h, D): predictions of frames 1..h
        loss_pred = prediction_loss(f32(pred), f32(z[:, 1 : h + 1]))
        loss_roll = torch.zeros((), device=z.device)
        if r > 1:
            ctx = torch.cat([z[:, 1:h], pred[:, -1:]], dim=1)  # frames 1..h, the last predicted
            outs = []
            for k in range(1, r):
                nxt = model.predict(ctx, act[:, k : k + h])  # (b, D): frame h+k
                outs.append(nxt)
                ctx = torch.cat([ctx[:, 1:], nxt[:, None]], dim=1)
            loss_roll = prediction_loss(f32(torch.stack(outs, dim=1)), f32(z[:, h + 1 : h + r]))
    zf = f32(model.cost_part(z))  # the encoder's part: appended proprio is data, not learned
    zs = zf if gather is None else gather(zf)
    sig = sigreg_over_time(zs, directions, cfg.loss.sigreg_knots)  # (B,T,D)
    loss = loss_pred + cfg.loss.rollout_weight * loss_roll + cfg.loss.sigreg_weight * sig
    if cfg.loss.temporal_weight > 0:  # a term of this process's windows: no gather needed
        temporal = (zf[:, 1:] - zf[:, :-1]).pow(2).mean()
        loss = loss + cfg.loss.temporal_weight * temporal
    stats = {  # detached tensors: read (and synchronised) only on log steps
        "train/loss": loss.detach(),
        "train/loss_pred": loss_pred.detach(),
        "train/loss_rollout": loss_roll.detach(),
        "train/sigreg": sig.detach(),
    }
    if cfg.loss.temporal_weight > 0:
        stats["train/temporal"] = temporal.detach()
    if "obs_view" in batch:  # an augmented view of the same windows, tied to the plain one
        with amp:
            zv = model.encode(batch["obs_view"], batch.get("proprio"))
        invariance = prediction_loss(f32(model.cost_part(zv)), zf.detach())
        loss = loss + cfg.loss.invariance_weight * invariance
        stats["train/invariance"] = invariance.detach()
    return loss, stats
