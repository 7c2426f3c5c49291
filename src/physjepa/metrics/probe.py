"""Linear probes from latents to ground-truth physical quantities, and collapse diagnostics.

Probe features at step t are the latents of the last ``window`` frames concatenated
(``window=2`` lets a linear map read velocities as differences of positions). Probes are fit
on training episodes and scored (R²) on held-out ones.
"""

from __future__ import annotations

import numpy as np
import torch

from physjepa.errors import UserError
from physjepa.metrics.rollout import EncodedEpisode


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
        raise UserError("no episode has ground-truth state and enough frames for the probe window")
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


RIDGE_GRID = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


def linear_probe(
    train: list[EncodedEpisode],
    test: list[EncodedEpisode],
    state_spec: list[tuple[str, tuple[int, ...]]],
    window: int = 3,
    ridges: tuple[float, ...] = RIDGE_GRID,
    max_train: int = 50000,
    seed: int = 0,
) -> dict:
    """R² of a linear probe for every named state quantity (averaged over its components).

    The ridge penalty is chosen per quantity on a validation split of the *training*
    episodes (their last fifth), then the probe is refit on all training episodes and scored
    once on ``test``: the held-out episodes never choose anything.
    """
    n_fit = max(1, int(len(train) * 0.8)) if len(train) > 1 else len(train)
    xfit, yfit = window_features(train[:n_fit], window)
    if n_fit < len(train):
        xval, yval = window_features(train[n_fit:], window)
        xtr, ytr = np.concatenate([xfit, xval]), np.concatenate([yfit, yval])  # all of train
    else:
        xval, yval = xtr, ytr = xfit, yfit
    xte, yte = window_features(test, window)
    rng = np.random.default_rng(seed)
    if len(xtr) > max_train:
        keep = rng.choice(len(xtr), max_train, replace=False)
        xtr, ytr = xtr[keep], ytr[keep]
    if len(xfit) > max_train:
        keep = rng.choice(len(xfit), max_train, replace=False)
        xfit, yfit = xfit[keep], yfit[keep]
    val_r2 = []
    for ridge in ridges:
        mu, sd, w, b = fit_ridge(xfit, yfit, ridge)
        val_r2.append(r2_per_column(yval, ((xval - mu) / sd) @ w + b))
    val_r2 = np.stack(val_r2)  # (n_ridges, S)
    fits = {}
    out, chosen, i = {}, {}, 0
    for name, shape in state_spec:
        n = int(np.prod(shape)) if shape else 1
        varying = yte[:, i : i + n].std(0) > 1e-6  # constant components carry no signal: skip
        if not varying.any():
            out[name], chosen[name] = float("nan"), None
            i += n
            continue
        best = float(ridges[int(np.argmax(np.nanmean(val_r2[:, i : i + n], axis=1)))])
        if best not in fits:
            fits[best] = fit_ridge(xtr, ytr, best)
        mu, sd, w, b = fits[best]
        r2 = r2_per_column(yte[:, i : i + n], ((xte - mu) / sd) @ w[:, i : i + n] + b[i : i + n])
        out[name], chosen[name] = float(r2[varying].mean()), best
        i += n
    return {
        "linear": out,
        "ridge": chosen,
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


class _MLPProbe(torch.nn.Module):
    """A linear map plus one hidden GELU layer: it can do whatever a linear probe does."""

    def __init__(self, d_in: int, hidden: int, d_out: int):
        super().__init__()
        self.linear = torch.nn.Linear(d_in, d_out)
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(d_in, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, d_out)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.mlp(x)


def mlp_probe(
    train: list[EncodedEpisode],
    test: list[EncodedEpisode],
    state_spec: list[tuple[str, tuple[int, ...]]],
    window: int = 3,
    hidden: int = 256,
    steps: int = 2000,
    max_train: int = 50000,
    seed: int = 0,
) -> dict:
    """R² of a small MLP probe (a linear map plus one hidden layer) for every named state
    quantity.

    Fit with AdamW on standardised features and targets; the step count is chosen on a
    validation split of the training episodes (their last fifth, checked every 100 steps and
    the best weights kept); ``test`` is scored once."""
    n_fit = max(1, int(len(train) * 0.8)) if len(train) > 1 else len(train)
    xfit, yfit = window_features(train[:n_fit], window)
    xval, yval = window_features(train[n_fit:], window) if n_fit < len(train) else (xfit, yfit)
    xte, yte = window_features(test, window)
    rng = np.random.default_rng(seed)
    if len(xfit) > max_train:
        keep = rng.choice(len(xfit), max_train, replace=False)
        xfit, yfit = xfit[keep], yfit[keep]
    mu, sd = xfit.mean(0), xfit.std(0) + 1e-8
    ym, ys = yfit.mean(0), yfit.std(0) + 1e-8

    def tensor(x, m, s):
        return torch.as_tensor((x - m) / s, dtype=torch.float32)

    xf, yf = tensor(xfit, mu, sd), tensor(yfit, ym, ys)
    xv, xt = tensor(xval, mu, sd), tensor(xte, mu, sd)
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = _MLPProbe(xf.shape[1], hidden, yf.shape[1])
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    best, best_state = -np.inf, {k: v.clone() for k, v in net.state_dict().items()}
    for step in range(1, steps + 1):
        i = torch.randint(len(xf), (256,), generator=gen)
        loss = (net(xf[i]) - yf[i]).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps:
            with torch.no_grad():
                pred = net(xv).double().numpy() * ys + ym
            score = float(np.nanmean(r2_per_column(yval, pred)[yval.std(0) > 1e-6]))
            if score > best:
                best, best_state = score, {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    with torch.no_grad():
        pred = net(xt).double().numpy() * ys + ym
    r2 = r2_per_column(yte, pred)
    out, i = {}, 0
    for name, shape in state_spec:
        n = int(np.prod(shape)) if shape else 1
        varying = yte[:, i : i + n].std(0) > 1e-6
        out[name] = float(r2[i : i + n][varying].mean()) if varying.any() else float("nan")
        i += n
    return {"mlp": out, "hidden": hidden, "n_train": len(xf), "n_test": len(xt)}
