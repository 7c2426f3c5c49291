"""Baselines that predict the next observation directly (no latent space), and their surprise.

- :class:`PixelPredictor`: a conv encoder-decoder that predicts the next frame from the last
  ``history`` frames and action blocks (a pixel-space predictive model; surprise is pixel
  error);
- :class:`StatePredictor`: an MLP that predicts the next ground-truth simulator state (the
  state oracle; surprise is error in standardised state units).

Both share ``forward(obs (B, h, ...), action (B, h, A)) -> prediction of obs h`` and
``error(pred, target) -> (B,)``, so one training function (:func:`fit_next_step`) and one
surprise function (:func:`next_step_surprise`) serve both.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from physjepa.models.encoders import pixels_to_float


class PixelPredictor(nn.Module):
    """Next frame = last frame + a conv encoder-decoder's correction (64x64 -> 4x4 and back)."""

    def __init__(
        self,
        image_size: int,
        action_dim: int,
        history: int,
        widths: tuple[int, int, int] = (32, 64, 128),
    ):
        super().__init__()
        if image_size % 16:
            raise ValueError(
                f"the pixel baseline needs an image size divisible by 16, got {image_size}"
            )
        w0, w1, w2 = widths
        self.history = history
        self.encoder = nn.Sequential(
            nn.Conv2d(3 * history, w0, 4, stride=4),
            nn.GELU(),
            nn.Conv2d(w0, w1, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(w1, w2, 3, stride=2, padding=1),
            nn.GELU(),
        )
        self.action = nn.Linear(history * action_dim, w2)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(w2, w1, 4, stride=2, padding=1),
            nn.GELU(),
            nn.ConvTranspose2d(w1, w0, 4, stride=2, padding=1),
            nn.GELU(),
            nn.ConvTranspose2d(w0, 3, 4, stride=4),
        )

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """obs (B, h, H, W, 3) uint8, action (B, h, A) -> next frame (B, 3, H, W) in [-0.5, 0.5]."""
        b, h = obs.shape[:2]
        x = pixels_to_float(obs.reshape(b * h, *obs.shape[2:]))  # (B*h, 3, H, W)
        x = x.reshape(b, h * 3, *x.shape[2:])
        feat = self.encoder(x) + self.action(action.reshape(b, -1))[:, :, None, None]
        return x[:, -3:] + self.decoder(feat)

    @staticmethod
    def target(obs: torch.Tensor) -> torch.Tensor:
        """The frame to predict, (B, H, W, 3) uint8 -> (B, 3, H, W) in [-0.5, 0.5]."""
        return pixels_to_float(obs)

    @staticmethod
    def as_obs(pred: torch.Tensor) -> torch.Tensor:
        """A prediction as an observation to feed back: (B, H, W, 3) float in [0, 255]."""
        return ((pred.permute(0, 2, 3, 1) + 0.5) * 255.0).clamp(0.0, 255.0)

    @staticmethod
    def error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (pred - target).pow(2).flatten(1).mean(1)


class StatePredictor(nn.Module):
    """Next standardised state = last + an MLP's correction, from ``history`` states and
    action blocks. ``mean`` / ``std`` standardise the states (fixed from the training data)."""

    def __init__(
        self,
        state_dim: int,
        action_dim: int,
        history: int,
        mean: np.ndarray,
        std: np.ndarray,
        hidden: int = 256,
    ):
        super().__init__()
        self.history = history
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-3))
        self.net = nn.Sequential(
            nn.Linear(history * (state_dim + action_dim), hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, state_dim),
        )

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """obs (B, h, S), action (B, h, A) -> next standardised state (B, S)."""
        s = (obs - self.mean) / self.std
        x = torch.cat([s.flatten(1), action.flatten(1)], dim=1)
        return s[:, -1] + self.net(x)

    def target(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs - self.mean) / self.std

    def as_obs(self, pred: torch.Tensor) -> torch.Tensor:
        """A prediction as a state to feed back (un-standardised)."""
        return pred * self.std + self.mean

    @staticmethod
    def error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (pred - target).pow(2).mean(1)


Predictor = PixelPredictor | StatePredictor


def fit_next_step(
    model: Predictor,
    sample: Callable[[int, torch.Generator], dict[str, torch.Tensor]],
    steps: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
) -> list[float]:
    """Train ``model`` to predict frame ``h`` of windows of ``h + 1`` frames drawn by
    ``sample(batch_size, generator)`` (``{"obs", "action"}``); AdamW with cosine decay.
    Returns the loss of every step."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    h = model.history
    losses = []
    model.train()
    for _ in range(steps):
        batch = sample(batch_size, gen)
        pred = model(batch["obs"][:, :h], batch["action"][:, :h])
        loss = model.error(pred, model.target(batch["obs"][:, h])).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def next_step_surprise(
    model: Predictor, obs: torch.Tensor, action: torch.Tensor, horizon: int = 1
) -> torch.Tensor:
    """Per-step surprise of one episode, obs (T, ...), action (T, A) -> (T,): the error of
    predicting frame t by rolling the model forward (feeding back its own predictions) from
    the ``history`` frames ending at frame ``t - horizon`` (from frame 0, fewer steps, for
    t < horizon). Where the episode has fewer frames before, the first frame is repeated
    with zero actions. ``surprise[0] = 0``."""
    h, t = model.history, len(obs)
    if t < 2 or len(action) != t:
        raise ValueError(f"need T >= 2 frames and T action blocks, got {t} and {len(action)}")
    model.eval()
    obs_f = obs.float()
    pad_obs = torch.cat([obs_f[:1].expand(h - 1, *obs.shape[1:]), obs_f])  # frame j at j+h-1
    pad_act = torch.cat([action.new_zeros(h - 1, action.shape[1]), action.float()])
    err = torch.zeros(t)
    k = min(horizon, t - 1)
    groups = [(list(range(k, t)), k)] + [([n], n) for n in range(1, k)]  # (targets, steps)
    for targets, n in groups:
        ends = torch.tensor(targets) - n  # last context frame of each rollout
        idx = ends[:, None] + torch.arange(h)[None, :]  # padded rows of frames e-h+1..e
        ctx, act = pad_obs[idx], pad_act[idx]
        for j in range(n):
            pred = model(ctx, act)
            if j < n - 1:  # feed the prediction back as the newest frame
                ctx = torch.cat([ctx[:, 1:], model.as_obs(pred)[:, None]], dim=1)
                act = torch.cat([act[:, 1:], pad_act[ends + h + j][:, None]], dim=1)
        err[targets] = model.error(pred, model.target(obs[targets]))
    return err


# -- per-step anomaly baselines (no dynamics): how unusual is this one reading? -------------
def safe_std(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``std`` with channels that barely vary (below 1e-6 of their size) set to 1 (as the
    MLP encoder does), so float noise is not blown up into huge scores."""
    return np.where(std > 1e-6 * (np.abs(mean) + 1), std, 1.0)


class ZScoreDetector:
    """Per-channel z-score: score = the largest ``|x_c - mean_c| / std_c`` over channels."""

    def __init__(self, x: np.ndarray):
        x = np.asarray(x, np.float64)
        self.mean = x.mean(0)
        self.std = safe_std(self.mean, x.std(0))

    def score(self, x: np.ndarray) -> np.ndarray:
        """x (T, C) -> (T,)"""
        return np.abs((np.asarray(x, np.float64) - self.mean) / self.std).max(1)


class VectorAutoencoder(nn.Module):
    """A reconstruction autoencoder for sensor vectors: standardised input -> MLP -> a
    narrow code -> MLP -> input; score = mean squared reconstruction error (standard units).
    ``hidden=256`` matches the width of the world model's MLP encoder."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, hidden: int = 256, code: int = 0):
        super().__init__()
        c = len(mean)
        code = code or max(2, c // 2)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(safe_std(mean, std), dtype=torch.float32))
        self.net = nn.Sequential(
            nn.Linear(c, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, code), nn.GELU(),
            nn.Linear(code, hidden), nn.GELU(), nn.Linear(hidden, c),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, C) -> per-row reconstruction error (N,)."""
        xn = (x.float() - self.mean) / self.std
        return (self.net(xn) - xn).pow(2).mean(1)

    @torch.no_grad()
    def score(self, x: np.ndarray) -> np.ndarray:
        self.eval()
        return self(torch.from_numpy(np.asarray(x, np.float32))).numpy()


def fit_autoencoder(
    x: np.ndarray, steps: int = 2000, batch_size: int = 256, lr: float = 1e-3, seed: int = 0
) -> tuple[VectorAutoencoder, list[float]]:
    """Train a :class:`VectorAutoencoder` on normal rows ``x (N, C)``; returns it and the
    loss of every step."""
    x = np.asarray(x, np.float32)
    torch.manual_seed(seed)
    model = VectorAutoencoder(x.mean(0), x.std(0))
    data = torch.from_numpy(x)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    losses = []
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(data), (batch_size,), generator=gen)
        loss = model(data[idx]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    model.eval()
    return model, losses
