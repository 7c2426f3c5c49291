"""Anomaly detection from surprise: streaming scores, calibration, attribution, metrics.

- :class:`StreamingSurprise` turns a stream of raw rows (observation + action applied after
  it) into the per-step surprise of :func:`physjepa.metrics.surprise.surprise`, in micro-batches
  of whatever rows have arrived: the numbers are the same as offline, whatever the batching.
- :func:`calibrate` sets the alarm threshold at a chosen false-alarm rate per step from the
  surprise of normal episodes.
- :func:`attribute` says which sensor channels (or which image regions) made a step
  surprising: each is replaced by its normal mean and the drop in surprise is its share.
- :func:`fault_metrics`: AUROC, detection delay and false alarms per hour of stream for
  faulted runs against matched normal ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from physjepa.errors import UserError
from physjepa.metrics.surprise import auroc, model_steps, predict_next, surprise
from physjepa.models.world_model import WorldModel


class StreamingSurprise:
    """Per-step surprise over a stream of raw rows, pushed in batches of any size.

    ``push(obs (n, ...), actions (n, A))`` returns ``(rows, scores)``: the raw row index of
    every model step that began in this batch and its surprise (NaN for the stream's first
    step, which has nothing to be predicted from). With ``frameskip`` k a model step is every
    k-th row, its action block the k raw actions after it (as in training). Only the last
    ``context`` steps are kept: memory does not grow with the stream.
    """

    def __init__(
        self,
        model: WorldModel,
        frameskip: int = 1,
        context: int | None = None,
        device: str | torch.device = "cpu",
    ):
        self.model = model.eval()
        self.k = frameskip
        self.h = model.history if context is None else context
        if not 1 <= self.h <= model.history:
            raise UserError(f"context={context!r} must be an integer in [1, {model.history}]")
        self.device = torch.device(device)
        self.rows = 0  # raw rows seen
        self._z = torch.zeros(0, 0)  # (m, D) the last m <= h step embeddings
        self._blocks: list[list[np.ndarray]] = []  # raw actions after each kept step
        # the last push's new steps: observations and predicted embeddings (for attribution)
        self.batch_obs: list[np.ndarray] = []
        self.batch_pred: torch.Tensor | None = None  # (n, D); row i predicts new step i

    @torch.no_grad()
    def push(self, obs: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        obs, actions = np.asarray(obs), np.asarray(actions, np.float32)
        if len(obs) != len(actions):
            raise UserError(f"{len(obs)} observations but {len(actions)} actions")
        new_obs, new_rows = [], []
        for i in range(len(obs)):
            r = self.rows + i
            if r % self.k == 0:
                new_obs.append(obs[i])
                new_rows.append(r)
                self._blocks.append([])
            self._blocks[-1].append(actions[i])
        self.rows += len(obs)
        if not new_obs:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        x = torch.from_numpy(np.stack(new_obs)).to(self.device)
        z_new = self.model.encode(x[None])[0]  # (n, D)
        kept = len(self._z)
        z = torch.cat([self._z.to(z_new), z_new]) if kept else z_new  # (kept + n, D)
        a = torch.from_numpy(np.stack([self._block(b) for b in self._blocks])).to(z)
        scores = np.full(len(new_obs), np.nan, np.float32)
        self.batch_obs, self.batch_pred = new_obs, torch.full_like(z_new, float("nan"))
        if len(z) >= 2:
            pred = predict_next(self.model, z, a, self.h)  # (kept + n - 1, D)
            err = (pred - z[1:]).pow(2).mean(-1).cpu().numpy()
            first = 0 if kept else 1  # the stream's first step is not predicted
            scores[first:] = err[max(kept - 1, 0) :]
            self.batch_pred[first:] = pred[max(kept - 1, 0) :]
        self._z = z[-self.h :]
        self._blocks = self._blocks[-self.h :]
        return np.asarray(new_rows, np.int64), scores

    def _block(self, raw: list[np.ndarray]) -> np.ndarray:
        """A step's action block; the last step's may still be filling (zeros stand in: it
        is only used to predict a step that has not arrived)."""
        full = np.zeros((self.k, len(raw[0])), np.float32)
        full[: len(raw)] = raw
        return full.reshape(-1)


@dataclass
class Calibration:
    """An alarm threshold at ``far`` false alarms per scored step of normal data."""

    threshold: float
    far: float
    steps: int  # normal steps the threshold was set on
    obs_mean: np.ndarray  # mean normal observation (what attribution substitutes)
    scores: np.ndarray  # the normal per-step surprises


@torch.no_grad()
def episode_surprise(
    model: WorldModel, obs: np.ndarray, actions: np.ndarray, frameskip: int = 1
) -> np.ndarray:
    """Offline per-step surprise of one raw episode; NaN at its first model step."""
    o, a = model_steps(obs, actions, frameskip)
    s = surprise(model, o, a).numpy().astype(np.float32)
    s[0] = np.nan
    return s


def check_far(far: float) -> float:
    """A false-alarm rate in (0, 1), else a one-line ValueError."""
    if not isinstance(far, int | float) or not 0.0 < far < 1.0:
        raise UserError(f"--far={far!r} must be a rate in (0, 1), e.g. 0.01")
    return float(far)


def threshold_at(scores: np.ndarray, far: float) -> float:
    """The score that ``far`` of ``scores`` exceed (their ``1 - far`` quantile)."""
    check_far(far)
    s = np.asarray(scores, np.float64)
    s = s[np.isfinite(s)]
    if not len(s):
        raise UserError("no finite normal scores to calibrate a threshold on")
    return float(np.quantile(s, 1.0 - far, method="higher"))


def calibrate(
    model: WorldModel,
    episodes: Sequence[tuple[np.ndarray, np.ndarray]],
    far: float = 0.01,
    frameskip: int = 1,
) -> Calibration:
    """Threshold from normal ``(obs (N, ...), actions (N, A))`` episodes at ``far``."""
    scores = np.concatenate([episode_surprise(model, o, a, frameskip) for o, a in episodes])
    mean = np.concatenate([o[::frameskip] for o, _ in episodes]).astype(np.float64).mean(0)
    finite = int(np.isfinite(scores).sum())
    return Calibration(threshold_at(scores, far), far, finite, mean.astype(np.float32), scores)


@torch.no_grad()
def attribute(
    stream: StreamingSurprise,
    i: int,
    obs_mean: np.ndarray,
    names: Sequence[str] | None = None,
    top: int = 3,
) -> list[dict]:
    """Which parts of step ``i`` of the stream's last push made it surprising: each sensor
    channel (or each of 4 x 4 image regions) in turn takes its normal mean; its share is the
    drop in surprise, over the sum of drops. Returns the ``top`` parts, largest first."""
    pred = None if stream.batch_pred is None else stream.batch_pred[i]
    if pred is None or not torch.isfinite(pred).all():
        return []
    obs = np.asarray(stream.batch_obs[i])
    variants, labels = [], []
    if obs.ndim == 1:
        for c in range(obs.shape[0]):
            v = obs.copy()
            v[c] = obs_mean[c]
            variants.append(v)
            labels.append({"channel": names[c] if names else c})
    else:
        hgt, wid = obs.shape[:2]
        for i in range(4):
            for j in range(4):
                r0, r1, c0, c1 = i * hgt // 4, (i + 1) * hgt // 4, j * wid // 4, (j + 1) * wid // 4
                v = obs.copy()
                v[r0:r1, c0:c1] = obs_mean[r0:r1, c0:c1].round().astype(obs.dtype)
                variants.append(v)
                labels.append({"region": [r0, c0, r1, c1]})
    x = torch.from_numpy(np.stack([obs, *variants])).to(stream.device)
    z = stream.model.encode(x[None])[0]  # (1 + P, D)
    err = (z - pred).pow(2).mean(-1).cpu().numpy()
    drop = np.maximum(err[0] - err[1:], 0.0)
    total = drop.sum()
    order = np.argsort(-drop)[:top]
    return [
        {**labels[i], "share": round(float(drop[i] / total), 3) if total > 0 else 0.0}
        for i in order
    ]


def fault_metrics(
    normal: Sequence[np.ndarray],
    faulted: Sequence[np.ndarray],
    onsets: Sequence[int],
    threshold: float,
    window: int = 20,
    fps: float = 1.0,
) -> dict[str, float]:
    """Detection of faults that start at ``onsets[i]`` (model steps) in ``faulted[i]``, each
    matched with the normal run ``normal[i]`` of the same seed and loads.

    - ``auroc``: the maximum score over ``[onset, onset + window)`` of faulted runs against
      the same steps of the normal runs;
    - ``delay_median``: steps from the onset to the first score above ``threshold`` (runs
      never detected within the window count as ``window``), ``detected``: the share found;
    - ``false_alarms_per_hour``: rising edges above ``threshold`` in the normal runs per hour
      of stream at ``fps`` model steps per second.
    """
    pos, neg, delays, found = [], [], [], 0
    for n, f, t0 in zip(normal, faulted, onsets):
        sl = slice(t0, t0 + window)
        pos.append(np.nanmax(f[sl]))
        neg.append(np.nanmax(n[sl]))
        above = np.flatnonzero(np.nan_to_num(f[sl], nan=-np.inf) > threshold)
        delays.append(int(above[0]) if len(above) else window)
        found += bool(len(above))
    edges, steps = 0, 0
    for n in normal:
        hit = np.nan_to_num(n, nan=-np.inf) > threshold
        edges += int(hit[0]) + int((hit[1:] & ~hit[:-1]).sum())
        steps += int(np.isfinite(n).sum())
    hours = steps / max(fps, 1e-9) / 3600.0
    return {
        "auroc": auroc(pos, neg),
        "delay_median": float(np.median(delays)),
        "detected": found / max(len(onsets), 1),
        "false_alarms_per_hour": edges / hours if hours > 0 else 0.0,
    }
