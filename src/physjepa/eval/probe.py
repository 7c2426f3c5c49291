"""Linear probes from latents to ground-truth physical quantities, and collapse diagnostics.

Probe features at step t are the latents of the last ``window`` frames concatenated
(``window=2`` lets a linear map read velocities as differences of positions). Probes are fit
on training episodes and scored (R²) on held-out ones.
"""

from __future__ import annotations

import numpy as np
import torch

from physjepa.eval.rollout import EncodedEpisode


def window_features(episodes: list[EncodedEpisode], window: int) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, window*D), states (N, S)) for every step with a full window of latents."""
    xs, ys = [], []
    for ep in episodes:
        if ep.state is None or len(ep.z) < window:
            continue
        z = ep.z.numpy()
        n = len(z)
        feats = np.concatenate(
            [z[window - 1 - j : n - j] for j in range(window)], axis=1
        )  # (n-w+1, w*D)
        xs.append(feats)
        ys.append(ep.state[window - 1 :])
    if not xs:
        raise ValueError("no episode has ground-truth state and enough frames for the probe window")
    return np.concatenate(xs).astype(np.float64), np.concatenate(ys).astype(np.float64)


def fit_ridge(
    x: np.ndarray, y: np.ndarray, ridge: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Closed-form ridge on standardised features; returns (mean, std, W, b)."""
    mu, sd = x.mean(0), x.std(0) + 1e-8
    xn = (x - mu) / sd
    ym = y.mean(0)
    a = xn.T @ xn + ridge * len(xn) * np.eye(xn.shape[1])
    w = np.linalg.solve(a, xn.T @ (y - ym))
    return mu, sd, w, ym


def r2_per_column(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    ss_res = ((y - pred) ** 2).sum(0)
    ss_tot = ((y - y.mean(0)) ** 2).sum(0)
    return 1.0 - ss_res / np.maximum(ss_tot, 1e-12)


def linear_probe(
    train: list[EncodedEpisode],
    test: list[EncodedEpisode],
    state_spec: list[tuple[str, tuple[int, ...]]],
    window: int = 2,
    ridge: float = 1e-3,
    max_train: int = 50000,
    seed: int = 0,
) -> dict:
    """R² of a linear probe for every named state quantity (averaged over its components)."""
    xtr, ytr = window_features(train, window)
    xte, yte = window_features(test, window)
    if len(xtr) > max_train:
        keep = np.random.default_rng(seed).choice(len(xtr), max_train, replace=False)
        xtr, ytr = xtr[keep], ytr[keep]
    mu, sd, w, b = fit_ridge(xtr, ytr, ridge)
    pred = ((xte - mu) / sd) @ w + b
    r2 = r2_per_column(yte, pred)
    out, i = {}, 0
    for name, shape in state_spec:
        n = int(np.prod(shape)) if shape else 1
        cols = r2[i : i + n]
        # constant components (e.g. a ball that never moves in x) carry no signal: skip them
        varying = yte[:, i : i + n].std(0) > 1e-6
        out[name] = float(cols[varying].mean()) if varying.any() else float("nan")
        i += n
    return {
        "linear": out,
        "n_train": len(xtr),
        "n_test": len(xte),
        "features": f"latents of the last {window} frames, concatenated",
    }


def collapse_stats(z: torch.Tensor) -> dict:
    """Per-dimension std and effective rank (exp of the entropy of normalised singular values)."""
    z = z.double()
    std = z.std(0)
    s = torch.linalg.svdvals(z - z.mean(0))
    p = s / s.sum().clamp_min(1e-12)
    erank = torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())
    return {
        "std_min": float(std.min()),
        "std_mean": float(std.mean()),
        "std_max": float(std.max()),
        "effective_rank": float(erank),
        "dim": int(z.shape[1]),
    }
