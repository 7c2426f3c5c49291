"""Failure early warning: will the beam fail within the next K steps under the planned load?

From a run trained on a world whose state has a ``failed`` flag (the ``beam``):

1. at every step t, the model rolls the latents of the last ``history`` frames forward under
   the planned actions ``a[t..t+K-1]`` (the load the operator intends; at the end of a
   recording the last action is held); the features are the current embedding and the
   predicted ones halfway and at the end of the plan;
2. a *warning head* (logistic regression on those features, class-balanced) learns "fails
   within (t, t+K]" on the run's training episodes; the alarm threshold is a split-conformal
   quantile, at a fixed false-alarm rate, of the steps not followed by a failure within K of
   episodes the model never trained on: cross-fitted over the held-out episodes (each judged
   by the threshold of the others, :func:`crossfit_thresholds`), or set on a calibration file
   of its own;
3. metrics on held-out episodes: AUROC of the score over every step before failure, the
   lead time (steps from the first alarm in the K steps before a failure to the failure),
   the share of failures warned and the false-alarm rate actually measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from physjepa.errors import UserError
from physjepa.metrics.anomaly import check_far, threshold_at
from physjepa.metrics.rollout import EncodedEpisode
from physjepa.metrics.surprise import auroc, pad_history
from physjepa.models.world_model import WorldModel


@dataclass
class WarningHead:
    """Logistic regression on standardised features: (N, F) -> P(fails within K) (N,)."""

    mean: torch.Tensor
    std: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(((x - self.mean) / self.std) @ self.weight + self.bias)


def failed_column(state_spec: list[tuple[str, tuple[int, ...]]]) -> int:
    """Index of the ``failed`` flag in the flattened state vector."""
    i = 0
    for name, shape in state_spec:
        if name == "failed":
            return i
        i += int(np.prod(shape))
    raise UserError(
        "the run's data has no 'failed' state to learn failure from; train on 'beam' episodes "
        "(physjepa collect --world beam --policy scripted)"
    )


def fit_warning_head(
    features: list[torch.Tensor],
    labels: list[np.ndarray],
    steps: int = 500,
    l2: float = 1e-3,
) -> WarningHead:
    """Fit P(fails within K | features) on every labelled step (full-batch Adam, classes
    balanced); steps after a failure (label -1) are left out."""
    x = torch.cat(features).float()  # (N, F)
    y = torch.from_numpy(np.concatenate(labels)).float()
    keep = y >= 0
    x, y = x[keep], y[keep]
    if not len(y) or y.min() == y.max():
        raise UserError(
            "the training episodes never fail (or always do): collect loading histories that "
            "break some beams, e.g. --policy scripted"
        )
    mean, std = x.mean(0), x.std(0) + 1e-6
    xn = (x - mean) / std
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros((), requires_grad=True)
    pos = y.mean()
    weight = torch.where(y > 0.5, 0.5 / pos, 0.5 / (1 - pos))  # balanced classes
    opt = torch.optim.Adam([w, b], lr=0.05)
    for _ in range(steps):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(xn @ w + b, y, weight)
        loss = loss + l2 * w.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return WarningHead(mean, std, w.detach(), b.detach())


@torch.no_grad()
def warning_features(model: WorldModel, ep: EncodedEpisode, horizon: int) -> torch.Tensor:
    """Features of every step of one episode (T, 3D): the embedding and the ones predicted
    ``horizon // 2`` and ``horizon`` steps ahead under the planned actions. Steps before a
    full history use the first frame repeated (zero actions), as surprise does."""
    model.eval()
    device = next(model.parameters()).device
    z, a = ep.z.to(device), ep.action.to(device)
    t, h = len(z), model.history
    zp, ap = pad_history(z, a, h)  # frame j at row j + h - 1
    a_pad = torch.cat([a, a[-1:].expand(horizon, -1)])  # the last action held after the end
    rows = torch.arange(t)[:, None] + torch.arange(h)[None, :]  # (T, h) padded context rows
    plan = torch.stack([a_pad[i : i + horizon] for i in range(t)])[:, None]  # (T, 1, K, A)
    out = []
    for lo in range(0, t, 256):
        sl = slice(lo, lo + 256)
        zr = model.rollout(zp[rows[sl]], plan[sl], ap[rows[sl, :-1]])[:, 0]  # (b, K, D)
        out.append(torch.cat([z[sl], zr[:, max(horizon // 2 - 1, 0)], zr[:, -1]], 1))
    return torch.cat(out).float().cpu()


def warning_labels(failed: np.ndarray, horizon: int) -> np.ndarray:
    """Per step: 1 if the first failure comes within (t, t+K], 0 if not, -1 once failed."""
    failed = np.asarray(failed) > 0.5
    t = len(failed)
    first = int(np.argmax(failed)) if failed.any() else None
    y = np.zeros(t, np.int8)
    if first is not None:
        y[first:] = -1
        y[max(0, first - horizon) : first] = 1
    return y


def warning_threshold(scores: list[np.ndarray], labels: list[np.ndarray], far: float) -> float:
    """The score exceeded by ``far`` of the steps not followed by a failure within K."""
    neg = np.concatenate(scores)[np.concatenate(labels) == 0]
    if not len(neg):
        raise UserError(
            "every step is followed by a failure within the horizon: use a shorter --horizon"
        )
    return threshold_at(neg, far)


def conformal_threshold(neg: np.ndarray, far: float) -> float:
    """The split-conformal alarm threshold from ``n`` calibration negatives: their
    ``ceil((n + 1)(1 - far))``-th smallest, so a new negative exchangeable with them exceeds
    it with probability at most ``far`` (the plain ``1 - far`` quantile falls just short)."""
    s = np.sort(np.asarray(neg, np.float64)[np.isfinite(neg)])
    if not len(s):
        raise UserError(
            "every step is followed by a failure within the horizon: use a shorter --horizon"
        )
    rank = int(np.ceil((len(s) + 1) * (1.0 - check_far(far))))
    if rank > len(s):  # too few negatives for this rate: none of them may alarm
        return float(np.nextafter(s[-1], np.inf))
    return float(s[rank - 1])


def crossfit_thresholds(
    scores: list[np.ndarray], labels: list[np.ndarray], far: float, folds: int = 5
) -> list[float]:
    """One threshold per episode, set (:func:`conformal_threshold`) on the negative steps of
    the *other* folds of these episodes (episode ``i`` is in fold ``i % folds``): every
    episode is judged by a threshold that never saw it, yet drawn from episodes like it.
    (Setting it on episodes the model trained on, as the first version did, let held-out
    false alarms run at 3.2% against 1%: a model scores its own training data lower.)"""
    if len(scores) < 2:
        raise UserError(
            f"cross-fitting the alarm threshold needs at least 2 held-out episodes, got "
            f"{len(scores)}; give --calibrate FILE (episodes of the same world, not trained on)"
        )
    folds = max(2, min(folds, len(scores)))
    fold_of = np.arange(len(scores)) % folds
    out = []
    for f in range(folds):
        others = [s[lab == 0] for s, lab, g in zip(scores, labels, fold_of) if g != f]
        thr = conformal_threshold(np.concatenate(others) if others else np.zeros(0), far)
        out.append(thr)
    return [out[g] for g in fold_of]


def warning_metrics(
    scores: list[np.ndarray],
    labels: list[np.ndarray],
    far: float = 0.01,
    threshold: float | list[float] | None = None,
) -> dict[str, float]:
    """AUROC over steps, and lead times at ``threshold`` (default: the one exceeded by
    ``far`` of these negative steps; pass one set on other episodes, or one per episode from
    :func:`crossfit_thresholds`, for an honest false-alarm rate). Lead = failure step minus
    the first alarm within the K steps before it (0 if none came): an alarm earlier than that
    is a false alarm, not an early warning."""
    s, y = np.concatenate(scores), np.concatenate(labels)
    pos, neg = s[y == 1], s[y == 0]
    if not len(pos):
        raise UserError(
            "no held-out episode fails: early warning needs loading histories that break some "
            "beams (collect with --policy scripted) or a longer --horizon"
        )
    if threshold is None:
        threshold = warning_threshold(scores, labels, far)
    per_ep = np.broadcast_to(np.asarray(threshold, np.float64), (len(scores),))
    leads, false_alarms = [], 0
    for sc, lab, thr in zip(scores, labels, per_ep):
        false_alarms += int((sc[lab == 0] > thr).sum())
        if not (lab == -1).any():
            continue
        first = int(np.argmax(lab == -1))
        alarms = np.flatnonzero((sc > thr) & (lab == 1))
        leads.append(first - int(alarms[0]) if len(alarms) else 0)
    return {
        "auroc": auroc(pos, neg),
        "threshold": float(np.median(per_ep)),
        "far": far,
        "lead_steps_median": float(np.median(leads)) if leads else float("nan"),
        "warned": float(np.mean([x > 0 for x in leads])) if leads else float("nan"),
        "failures": len(leads),
        "steps_positive": int(len(pos)),
        "steps_negative": int(len(neg)),
        "false_alarm_rate": false_alarms / len(neg),
    }
