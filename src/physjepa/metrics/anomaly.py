"""Anomaly detection from surprise: streaming scores, calibration, attribution, metrics.

- :class:`StreamingSurprise` turns a stream of raw rows (observation + action applied after
  it) into the per-step surprise of :func:`physjepa.metrics.surprise.surprise`, in micro-batches
  of whatever rows have arrived: the numbers are the same as offline, whatever the batching.
- :class:`ChannelCheck`: a per-channel check for sensor rows (each channel against what the
  other channels of its row imply, and its frozen-reading run, each normalised on normal
  steps), so that one stuck or drifting channel among many is not diluted in the embedding.
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


class CrossChannelHead(torch.nn.Module):
    """Each channel read off the *other* channels of the same row: a small MLP given the
    standardised row with one channel blanked and a one-hot of which one (fitted on normal
    rows by :func:`fit_cross_channel`). It never sees the channel it estimates, nor that
    channel's past, so a channel that drifts away from what the rest of the structure
    implies cannot be followed (a predictor over the stream's history extrapolates a drift
    as if it were motion)."""

    def __init__(self, channels: int, hidden: int = 256):
        super().__init__()
        self.channels = channels
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))
        self.net = torch.nn.Sequential(
            torch.nn.Linear(2 * channels, hidden),
            torch.nn.SiLU(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.SiLU(),
            torch.nn.Linear(hidden, channels),
        )

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Standardised rows (n, C) and the channel to blank in each (n,) -> its estimate (n,)."""
        m = torch.nn.functional.one_hot(c, self.channels).to(x)
        return (self.net(torch.cat([x * (1 - m), m], 1)) * m).sum(1)

    @torch.no_grad()
    def residuals(self, obs: np.ndarray) -> np.ndarray:
        """Rows (n, C) -> each reading minus its estimate from the other channels (n, C)."""
        x = (torch.as_tensor(np.asarray(obs), dtype=torch.float32) - self.mean) / self.std
        n, c = x.shape
        est = self(x[:, None].expand(n, c, c).reshape(n * c, c), torch.arange(c).repeat(n))
        return ((x - est.view(n, c)) * self.std).double().numpy()


def fit_cross_channel(
    rows: np.ndarray, steps: int = 3000, batch: int = 512, lr: float = 1e-3, seed: int = 0
) -> CrossChannelHead:
    """Fit a :class:`CrossChannelHead` on normal rows (n, C), on the CPU, deterministically
    (``seed``), whatever the global random state."""
    x = torch.as_tensor(np.asarray(rows), dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = CrossChannelHead(x.shape[1])
        sd = x.std(0)
        head.mean.copy_(x.mean(0))
        head.std.copy_(torch.where(sd > 0, sd, torch.ones_like(sd)))
        xs = (x - head.mean) / head.std
        opt = torch.optim.AdamW(head.parameters(), lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
        for _ in range(steps):
            i = torch.randint(len(xs), (batch,))
            c = torch.randint(x.shape[1], (batch,))
            loss = torch.nn.functional.smooth_l1_loss(head(xs[i], c), xs[i, c], beta=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return head.eval()


@dataclass
class ChannelCheck:
    """A per-channel check for vector observations (sensor rows).

    One faulty channel among many (a stuck or drifting strain gauge) moves the embedding
    little, so the latent surprise dilutes it; and the world model's own prediction, made
    from the stream's recent history, follows a slow drift as if it were motion. So each
    channel is checked against the *other* channels of its row instead: a
    :class:`CrossChannelHead` (used only for scoring, fitted on normal training episodes)
    estimates it, and the check watches how the residual (reading minus estimate, in units
    of its normal median absolute deviation) has *changed* over the last ``lag`` model
    steps. A structure's own persistent offsets (its notches, its stiffnesses) cancel in the
    change; a channel walking away from the rest does not. The change is divided by its own
    ``1 - far`` quantile on normal steps *where the other channels implied a like change*
    (the estimate's own change over the lag, in quartiles of normal steps: the residual
    moves more when the structure does), so 1.0 means "as far off as that channel gets in
    one normal step of 1/far" whatever its units and however fast the load moves. Steps
    where the reading sits at the channel's largest normal magnitude (a saturated or broken
    gauge) count 0.

    A stuck sensor is caught by its own signature as well: a frozen reading (the number of
    steps the reading has repeated exactly, a reading at the channel's largest normal
    magnitude excepted) over the ``1 - far`` quantile of such runs on normal steps (at least
    1). Both parts cover only *live* channels, those whose reading changes on at least half
    of normal steps: a channel that idles at one value (an acoustic count at 0) is an event
    channel, checked by the surprise alone. How much each part adds is measured in
    benchmarks/materials.py (``anomaly_auroc_*`` against ``surprise_auroc_*``).
    """

    head: CrossChannelHead
    center: np.ndarray  # (C,) median normal residual
    unit: np.ndarray  # (C,) its median absolute deviation
    scale: np.ndarray  # (C, B) the ``1 - far`` quantile of the residual's lagged change ...
    edges: np.ndarray  # (C, B - 1) ... in bins of the estimate's lagged change (their edges)
    live: np.ndarray  # (C,) bool: channels checked
    saturated: np.ndarray  # (C,) largest normal |reading|
    frozen_scale: np.ndarray  # (C,) ``1 - far`` quantile of normal runs, >= 1
    lag: int = 20  # model steps the residual's change is taken over

    def stream(self) -> ChannelStream:
        """Fresh per-stream state (feed it every model step's row, in order)."""
        return ChannelStream(self.lag)

    def changes(self, obs: np.ndarray, state: ChannelStream) -> tuple[np.ndarray, np.ndarray]:
        """Rows (n, C) -> the residual's change over ``lag`` steps, in MAD units (0 until the
        stream has ``lag`` steps, and where either end is saturated), and the size of the
        estimate's change over the same steps."""
        obs = np.asarray(obs, np.float64)
        res = self.head.residuals(obs)
        sat = np.isclose(np.abs(obs), self.saturated, rtol=1e-6, atol=0.0)
        return state.change((res - self.center) / self.unit, sat, obs - res)

    def bins(self, moved: np.ndarray) -> np.ndarray:
        """The estimate's lagged change (n, C) -> each channel's scale bin (n, C)."""
        return np.stack([np.searchsorted(e, m, "right") for e, m in zip(self.edges, moved.T)], 1)

    def errors(self, obs: np.ndarray, state: ChannelStream | None = None) -> np.ndarray:
        """Normalised per-channel error of model-step rows (n, C) -> (n, C), 0 on channels
        that are not live. ``state``: the stream's (from :meth:`stream`), fed every row in
        order; None means these rows start a stream."""
        state = state if state is not None else self.stream()
        obs = np.asarray(obs, np.float64)
        change, moved = self.changes(obs, state)
        drift = np.abs(change) / np.take_along_axis(self.scale.T, self.bins(moved), 0)
        frozen = state.runs.update(obs, self.saturated) / self.frozen_scale
        return np.where(self.live, np.fmax(drift, frozen), 0.0)


class ChannelStream:
    """One stream's state for a :class:`ChannelCheck`: its frozen-reading runs and the last
    ``lag`` residuals and estimates (rows fed in order, in batches of any size)."""

    def __init__(self, lag: int) -> None:
        self.lag = lag
        self.runs = FrozenRuns()
        self._r: np.ndarray | None = None  # (<= lag, C) the last residuals
        self._sat: np.ndarray | None = None
        self._est: np.ndarray | None = None

    def change(
        self, r: np.ndarray, sat: np.ndarray, est: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Residuals (n, C), saturation flags and estimates -> each row's residual change
        over ``lag`` rows, and the size of the estimate's change (both 0 without a row
        ``lag`` before)."""
        old = len(self._r) if self._r is not None else 0
        rr = np.concatenate([self._r, r]) if old else r
        ss = np.concatenate([self._sat, sat]) if old else sat
        ee = np.concatenate([self._est, est]) if old else est
        now = old + np.arange(len(r))
        ok = now >= self.lag  # rows with one ``lag`` steps before them
        i, j = now[ok], now[ok] - self.lag
        out, moved = np.zeros(r.shape), np.zeros(r.shape)
        out[ok] = np.where(ss[i] | ss[j], 0.0, rr[i] - rr[j])
        moved[ok] = np.abs(ee[i] - ee[j])
        self._r, self._sat, self._est = rr[-self.lag :], ss[-self.lag :], ee[-self.lag :]
        return out, moved


def _quantile_per_bin(x: np.ndarray, which: np.ndarray, bins: int, q: float) -> np.ndarray:
    """Per column k and bin b, the ``q`` quantile of ``x[:, k]`` over the rows in bin b (over
    the whole column where the bin is empty): (n, C), bins (n, C) -> (C, bins)."""
    out = np.empty((x.shape[1], bins))
    for k in range(x.shape[1]):
        for b in range(bins):
            xs = x[which[:, k] == b, k]
            out[k, b] = np.quantile(xs if len(xs) else x[:, k], q)
    return out


def fit_channel_check(
    episodes: Sequence[tuple[np.ndarray, np.ndarray]],
    frameskip: int = 1,
    far: float = 0.01,
    lag: int = 20,
    steps: int = 3000,
    seed: int = 0,
    bins: int = 4,
) -> ChannelCheck:
    """Fit the cross-channel head on the model-step rows of normal ``(obs (N, C), actions)``
    episodes and normalise each channel's lagged change (in ``bins`` bins of the estimate's
    change) and frozen run on the same steps (:class:`ChannelCheck`). ``lag`` is cut to half
    the longest episode where they are shorter."""
    rows = []
    for o, _ in episodes:
        if np.asarray(o).ndim != 2:
            raise UserError("a per-channel check needs vector observations (sensor rows)")
        rows.append(np.asarray(o)[::frameskip].astype(np.float64))
    if not rows or max(map(len, rows)) < 2:
        raise UserError("a per-channel check needs normal episodes of at least 2 model steps")
    lag = int(min(lag, max(map(len, rows)) // 2))
    allrows = np.concatenate(rows)
    saturated = np.abs(allrows).max(0)
    at_sat = np.isclose(np.abs(allrows), saturated, rtol=1e-6, atol=0.0)
    clear = allrows[~at_sat.any(1)]  # rows with no saturated channel, where there are enough
    normal = clear if len(clear) >= 2 * allrows.shape[1] else allrows
    head = fit_cross_channel(normal, steps, seed=seed)
    res = head.residuals(normal)
    center = np.median(res, 0)
    unit = np.median(np.abs(res - center), 0)
    unit = np.maximum(unit, 1e-6 * (np.abs(res).mean(0) + np.abs(allrows).mean(0)) + 1e-12)
    moves = np.concatenate([np.diff(r, axis=0) != 0 for r in rows if len(r) > 1])
    c = len(center)
    check = ChannelCheck(head, center, unit, np.ones((c, 1)), np.zeros((c, 0)),
                         moves.mean(0) >= 0.5, saturated, np.ones(c), lag)  # fmt: skip
    change, moved, runs = [], [], []
    for r in rows:
        state = check.stream()
        d, m = check.changes(r, state)
        change.append(np.abs(d)[lag:])
        moved.append(m[lag:])
        runs.append(state.runs.update(r, saturated))
    change = np.concatenate(change)  # the longest episode holds 2 * lag steps or more
    moved = np.concatenate(moved)
    check.edges = np.quantile(moved, np.linspace(0, 1, bins + 1)[1:-1], axis=0).T  # (C, B-1)
    which = check.bins(moved)
    floor = 1e-6 * change.mean(0) + 1e-12
    check.scale = np.maximum(_quantile_per_bin(change, which, bins, 1.0 - far), floor[:, None])
    check.frozen_scale = np.maximum(np.quantile(np.concatenate(runs), 1.0 - far, axis=0), 1.0)
    return check


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
        out = np.fmax(s / self.surprise_scale, channel_part(errors) / self.channel_scale)
        return np.where(np.isnan(s), np.nan, out)  # a step with nothing predicted: unscored

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
    s, _, _ = predicted_steps(model, obs, actions, frameskip)
    s = s.numpy().astype(np.float64)
    s[0] = np.nan
    if check is None:
        return s, None
    e = check.errors(model_steps(obs, actions, frameskip)[0].numpy())
    e[0] = np.nan  # nothing predicted yet: the step is not scored
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
