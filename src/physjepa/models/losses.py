"""Losses as pure functions of tensors.

- :func:`prediction_loss`: MSE between predicted and actual next embeddings.
- :func:`sigreg`: the sketched isotropic Gaussian regulariser of LeJEPA (Epps–Pulley
  statistic on random 1-D projections); near 0 for N(0, I) embeddings, large on collapse.
"""

from __future__ import annotations

import torch


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
