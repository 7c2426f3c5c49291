"""Anomaly detection from surprise: streaming scores, calibration, attribution, metrics.

- :class:`StreamingSurprise` turns a stream of raw rows (observation + action applied after
  it) into the per-step surprise of :func:`physjepa.metrics.surprise.surprise`, in micro-batches
  of whatever rows have arrived: the numbers are the same as offline, whatever the batching.
- :class:`ChannelCheck`: a per-channel predictive check for sensor rows (an observation head
  on the predicted embedding, each channel's error normalised on normal steps), so that one
  stuck or drifting channel among many is not diluted in the embedding.
- :func:`calibrate` sets the alarm threshold at a chosen false-alarm rate per step from the
  scores of normal episodes (the surprise, and with a check the worst channel's error).
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
from physjepa.metrics.surprise import auroc, model_steps, predict_next
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


def episode_surprise(
    model: WorldModel, obs: np.ndarray, actions: np.ndarray, frameskip: int = 1
) -> np.ndarray:
    """Offline per-step surprise of one raw episode; NaN at its first model step."""
    return episode_parts(model, obs, actions, frameskip)[0].astype(np.float32)


@dataclass
class ChannelCheck:
    """A per-channel predictive check for vector observations (sensor rows).

    One faulty channel among many (a stuck or drifting strain gauge) moves the embedding
    little, so the latent surprise dilutes it. An observation head, used only for scoring,
    reads every channel's expected value off the model's *predicted* next embedding (a ridge
    regression fitted on normal training episodes); each channel's error is then divided by
    its own ``1 - far`` quantile on normal steps, so 1.0 means "as far off as that channel is
    in one normal step of 1/far" whatever its units. It names the channel that is off; how
    much it adds to detection is measured in benchmarks/materials.py
    (``channel_check_auroc_*``): on the beam a drifting gauge a little; a stuck one not at
    all (its one-step error is the strain's change in one step, within normal noise).

    A stuck sensor is caught by its own signature instead: a frozen reading. With a
    :class:`FrozenRuns` passed to :meth:`errors`, each channel's error is the larger of the
    head's and its *frozen run* (steps the reading has repeated exactly, a reading at the
    channel's largest normal magnitude excepted: that is a saturated sensor, not a stuck one)
    over the ``1 - far`` quantile of such runs on normal steps (at least 1). A live gauge on a
    loaded structure never repeats a reading exactly; a channel that idles at one value in
    normal operation (an acoustic count at 0) has long normal runs and a scale to match.
    """

    weight: np.ndarray  # (D + 1, C): the head, last row the bias
    center: np.ndarray  # (C,) median normal error (the head's own bias on normal data)
    scale: np.ndarray  # (C,) the ``1 - far`` quantile of |error - center| on normal steps
    saturated: np.ndarray | None = None  # (C,) largest normal |reading| (not a frozen one)
    frozen_scale: np.ndarray | None = None  # (C,) ``1 - far`` quantile of normal runs, >= 1

    def errors(
        self,
        pred: torch.Tensor | np.ndarray,
        obs: np.ndarray,
        runs: FrozenRuns | None = None,
    ) -> np.ndarray:
        """Normalised per-channel error: predicted embeddings (n, D), observations (n, C)
        -> (n, C), NaN where the prediction is. ``runs`` (one per stream, fed every row in
        order) adds the frozen-reading part."""
        p = np.asarray(pred.cpu() if isinstance(pred, torch.Tensor) else pred, np.float64)
        est = p @ self.weight[:-1] + self.weight[-1]
        e = np.abs(np.asarray(obs, np.float64) - est - self.center) / self.scale
        if runs is None or self.frozen_scale is None:
            return e
        frozen = runs.update(obs, self.saturated) / self.frozen_scale
        return np.where(np.isnan(e), np.nan, np.fmax(e, frozen))

    def normalise(self, errors: np.ndarray, far: float) -> None:
        """Set ``center`` and ``scale`` from raw errors (obs - head) of normal steps."""
        e = errors[np.isfinite(errors).all(1)]
        self.center = np.median(e, axis=0)
        dev = np.abs(e - self.center)
        q = np.quantile(dev, 1.0 - far, axis=0)
        floor = 1e-6 * (np.abs(self.center) + dev.mean(0)) + 1e-12  # a channel that never moves
        self.scale = np.maximum(q, floor)


@torch.no_grad()
def predicted_steps(
    model: WorldModel, obs: np.ndarray, actions: np.ndarray, frameskip: int = 1
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """One raw episode -> (latent surprise (T,), the predicted embedding of every model step
    but the first (T-1, D), the observations of those steps (T-1, C))."""
    o, a = model_steps(obs, actions, frameskip)
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        z = model.encode(o.to(device)[None])[0]
        pred = predict_next(model, z, a.to(device=device, dtype=z.dtype), model.history)
    finally:
        model.train(was_training)
    err = (pred - z[1:]).pow(2).mean(-1).cpu()
    return torch.cat([err.new_zeros(1), err]), pred.cpu(), o[1:].numpy()


def fit_channel_check(
    model: WorldModel,
    episodes: Sequence[tuple[np.ndarray, np.ndarray]],
    frameskip: int = 1,
    far: float = 0.01,
    ridge: float = 1e-3,
) -> ChannelCheck:
    """Fit the observation head on normal ``(obs (N, C), actions (N, A))`` episodes and
    normalise each channel's error on the same steps (:class:`ChannelCheck`)."""
    preds, obs = [], []
    for o, a in episodes:
        if np.asarray(o).ndim != 2:
            raise UserError("a per-channel check needs vector observations (sensor rows)")
        _, p, nxt = predicted_steps(model, o, a, frameskip)
        preds.append(p.double().numpy())
        obs.append(nxt.astype(np.float64))
    x, y = np.concatenate(preds), np.concatenate(obs)
    mu, sd = x.mean(0), x.std(0) + 1e-8
    xs = (x - mu) / sd
    gram = xs.T @ xs + ridge * len(xs) * np.eye(xs.shape[1])
    w = np.linalg.solve(gram, xs.T @ (y - y.mean(0)))  # (D, C) on standardised inputs
    weight = np.vstack([w / sd[:, None], y.mean(0) - (mu / sd) @ w])
    check = ChannelCheck(weight, np.zeros(y.shape[1]), np.ones(y.shape[1]))
    check.normalise(y - (x @ weight[:-1] + weight[-1]), far)
    rows = [np.asarray(o)[::frameskip].astype(np.float64) for o, _ in episodes]
    check.saturated = np.abs(np.concatenate(rows)).max(0)
    normal = np.concatenate([FrozenRuns().update(r, check.saturated) for r in rows])
    check.frozen_scale = np.maximum(np.quantile(normal, 1.0 - far, axis=0), 1.0)
    return check


class FrozenRuns:
    """Per channel, for how many steps a stream's reading has repeated exactly (one per
    stream; rows fed in order, in batches of any size)."""

    def __init__(self) -> None:
        self.last: np.ndarray | None = None
        self.run: np.ndarray | None = None

    def update(self, obs: np.ndarray, saturated: np.ndarray | None = None) -> np.ndarray:
        """Rows (n, C) -> each row's run (n, C); a reading at ``saturated`` counts 0."""
        obs = np.asarray(obs, np.float64)
        out = np.zeros(obs.shape)
        for i, row in enumerate(obs):
            same = row == self.last if self.last is not None else np.zeros(row.shape, bool)
            if saturated is not None:
                same &= np.abs(row) < saturated
            run = self.run if self.run is not None else np.zeros(row.shape)
            self.run = np.where(same, run + 1, 0.0)
            out[i], self.last = self.run, row
        return out


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


@dataclass
class Calibration:
    """An alarm threshold at ``far`` false alarms per scored step of normal data.

    Without a per-channel ``check`` the step score is the latent surprise. With one (vector
    observations), it is the larger of the surprise and the worst channel's error, each in
    units of its own ``1 - far`` quantile on normal steps: an alarm is raised whether the
    scene as a whole or one channel alone is off (:meth:`score`)."""

    threshold: float
    far: float
    steps: int  # normal steps the threshold was set on
    obs_mean: np.ndarray  # mean normal observation (what attribution substitutes)
    scores: np.ndarray  # the normal per-step scores
    check: ChannelCheck | None = None
    surprise_scale: float = 1.0  # the normal 1 - far quantile of the surprise
    channel_scale: float = 1.0  # ... of the largest normalised channel error

    def score(self, surprise: np.ndarray, errors: np.ndarray | None = None) -> np.ndarray:
        """Step scores from surprises (n,) and, with a check, channel errors (n, C)."""
        s = np.asarray(surprise, np.float64)
        if self.check is None or errors is None:
            return s
        return np.fmax(s / self.surprise_scale, channel_part(errors) / self.channel_scale)

    def blame(self, surprise: float, errors: np.ndarray | None, names=None) -> str | None:
        """The channel a step's alarm is on when the per-channel check raised it (its score
        above the surprise's), else None."""
        if self.check is None or errors is None or not np.isfinite(errors).all():
            return None
        if channel_part(errors[None])[0] / self.channel_scale < surprise / self.surprise_scale:
            return None
        c = int(np.argmax(errors))
        return str(names[c]) if names else str(c)


def channel_part(errors: np.ndarray) -> np.ndarray:
    """The per-step largest normalised channel error (n, C) -> (n,), NaN where unknown."""
    e = np.asarray(errors, np.float64)
    out = np.full(len(e), np.nan)
    ok = np.isfinite(e).all(1)
    out[ok] = e[ok].max(1)
    return out


def episode_parts(
    model: WorldModel,
    obs: np.ndarray,
    actions: np.ndarray,
    frameskip: int = 1,
    check: ChannelCheck | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """One raw episode's surprise (T,) and, with a check, channel errors (T, C); both NaN
    at the first model step."""
    s, pred, nxt = predicted_steps(model, obs, actions, frameskip)
    s = s.numpy().astype(np.float64)
    s[0] = np.nan
    if check is None:
        return s, None
    e = np.full((len(s), nxt.shape[1]), np.nan)
    runs = FrozenRuns()
    runs.update(np.asarray(obs)[:1])  # the first model step's row: nothing repeats yet
    e[1:] = check.errors(pred, nxt, runs)
    return s, e


def calibrate(
    model: WorldModel,
    episodes: Sequence[tuple[np.ndarray, np.ndarray]],
    far: float = 0.01,
    frameskip: int = 1,
    check: ChannelCheck | None = None,
) -> Calibration:
    """Threshold from normal ``(obs (N, ...), actions (N, A))`` episodes at ``far`` (with a
    per-channel ``check``, on the combined score of :class:`Calibration`)."""
    parts = [episode_parts(model, o, a, frameskip, check) for o, a in episodes]
    mean = np.concatenate([o[::frameskip] for o, _ in episodes]).astype(np.float64).mean(0)
    cal = Calibration(0.0, far, 0, mean.astype(np.float32), np.zeros(0), check)
    surprise = np.concatenate([s for s, _ in parts])
    if check is not None:
        cal.surprise_scale = _positive(threshold_at(surprise, far))
        worst = np.concatenate([channel_part(e) for _, e in parts])
        cal.channel_scale = _positive(threshold_at(worst, far))
    cal.scores = np.concatenate([cal.score(s, e) for s, e in parts])
    cal.threshold = threshold_at(cal.scores, far)
    cal.steps = int(np.isfinite(cal.scores).sum())
    return cal


def _positive(x: float) -> float:
    return x if x > 0 else 1e-12


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
