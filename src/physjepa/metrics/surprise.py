"""Surprise: the per-step prediction error of a world model in latent space.

``surprise(model, obs, actions)`` encodes every frame, predicts each next embedding from a
fixed context of past frames (and the action blocks applied after them) with the model's own
predictor, and returns the squared error per step (mean over the embedding dimensions). Every
violation-of-expectation and anomaly metric is computed from it:

- :func:`relative_surprise`: the error as a share of how far the latent moved (VoE's score);
- :func:`pairwise_accuracy`: the share of matched (possible, impossible) pairs in which the
  possible video has the lower mean surprise after the breaking point (Garrido et al. 2025);
- :func:`auroc`: how well a per-video score (e.g. the maximum surprise) separates two sets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from physjepa.errors import UserError
from physjepa.models.world_model import WorldModel


def model_steps(
    obs: np.ndarray | torch.Tensor, actions: np.ndarray | torch.Tensor, frameskip: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw episode rows -> what the model sees: every ``frameskip``-th frame and, after each,
    the block of ``frameskip`` raw actions applied, concatenated (as in training windows).

    obs (N, ...), actions (N, A) -> obs (T, ...), blocks (T, frameskip*A), T = N // frameskip.
    """
    obs, actions = torch.as_tensor(obs), torch.as_tensor(actions, dtype=torch.float32)
    if len(obs) != len(actions):
        raise UserError(f"{len(obs)} frames but {len(actions)} actions; they must pair up")
    if not isinstance(frameskip, int) or frameskip < 1:
        raise UserError(f"frameskip={frameskip!r} must be an integer >= 1")
    t = len(obs) // frameskip
    if t < 2:
        raise UserError(
            f"an episode of {len(obs)} frames gives {t} model step(s) at frameskip {frameskip}; "
            "surprise needs at least 2"
        )
    blocks = actions[: t * frameskip].reshape(t, frameskip * actions.shape[1])
    return obs[: t * frameskip : frameskip], blocks


@torch.no_grad()
def surprise(
    model: WorldModel,
    obs: torch.Tensor,
    actions: torch.Tensor,
    context: int | None = None,
) -> torch.Tensor:
    """Per-step surprise of one episode: obs (T, ...), actions (T, A) blocks -> (T,).

    ``surprise[t]`` is the mean squared difference between the embedding of frame ``t`` and
    the model's prediction of it from the ``context`` frames before it (fewer at the start of
    the episode, where there are fewer); ``surprise[0] = 0``. ``context`` defaults to the
    model's history and is a fixed setting, never tuned on the test videos.
    """
    h = model.history if context is None else context
    if not isinstance(h, int) or not 1 <= h <= model.history:
        raise UserError(f"context={context!r} must be an integer in [1, {model.history}]")
    if len(obs) != len(actions) or len(obs) < 2:
        raise UserError(
            f"need T >= 2 frames and T action blocks, got {len(obs)} and {len(actions)}"
        )
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        z = model.encode(obs.to(device)[None])[0]  # (T, D)
        return latent_surprise(model, z, actions.to(device=device, dtype=z.dtype), h)
    finally:
        model.train(was_training)


@torch.no_grad()
def latent_surprise(
    model: WorldModel, z: torch.Tensor, a: torch.Tensor, h: int, horizon: int = 1
) -> torch.Tensor:
    """:func:`surprise` from embeddings already computed: z (T, D), a (T, A) -> (T,) on the
    CPU. (Sweeping the context length needs the encoder only once.) The model must be in
    eval mode."""
    err = (latent_predictions(model, z, a, h, horizon) - z[1:]).pow(2).mean(dim=-1)  # (T-1,)
    return torch.cat([err.new_zeros(1), err]).cpu()


@torch.no_grad()
def latent_predictions(
    model: WorldModel, z: torch.Tensor, a: torch.Tensor, h: int, horizon: int = 1
) -> torch.Tensor:
    """The predictions :func:`latent_surprise` scores: frame t (t >= 1) predicted
    ``horizon`` steps ahead from the ``h`` frames ending at frame ``t - horizon`` (from frame
    0, fewer steps, where t < horizon). z (T, D), a (T, A) -> (T-1, D)."""
    if horizon > 1:
        return _rollout_predictions(model, z, a, h, horizon)
    return predict_next(model, z, a, h)


@torch.no_grad()
def predict_next(model: WorldModel, z: torch.Tensor, a: torch.Tensor, h: int) -> torch.Tensor:
    """Prediction of every frame but the first from the ``h`` frames before it (fewer at the
    start): z (T, D), a (T, A) -> (T-1, D). The model must be in eval mode."""
    t = len(z)
    head = min(h, t - 1)
    # the predictor is frame-causal: its output at position i predicts frame i+1 from 0..i
    pred = [model.predict_all(z[None, :head], a[None, :head])[0]]  # (head, D)
    if t - 1 > head:  # then a sliding window of h frames ending at i = h, ..., T-2
        idx = torch.arange(h, t - 1)[:, None] + torch.arange(-h + 1, 1)[None, :]  # (W, h)
        pred.append(model.predict_all(z[idx], a[idx])[:, -1])  # (W, D)
    return torch.cat(pred)


def latent_move(z: torch.Tensor, k: int) -> torch.Tensor:
    """How far the latent moved over ``k`` steps: z (T, D) -> (T,) on the CPU, the mean
    squared change from frame ``t - k`` (frame 0 where t < k) to frame ``t``. It is the error
    of the prediction "nothing changes" at the horizon :func:`latent_surprise` uses."""
    zp = torch.cat([z[:1].expand(k, -1), z])  # frame j at row j + k
    return (zp[k:] - zp[: len(z)]).pow(2).mean(dim=-1).cpu()


def relative_surprise(
    surprise: torch.Tensor, z: torch.Tensor, k: int, floor: float, power: float = 1.0
) -> torch.Tensor:
    """Surprise as a share of how far the latent moved over the same ``k`` steps:
    ``surprise / (latent_move + floor) ** power``, (T,). The model's error on a scene it reads
    less well (an object larger than any it trained on) grows with the motion it predicts; a
    violation is an error *for the motion seen*. ``floor`` (> 0) keeps a still scene from
    dividing by zero: VoE uses a fixed share of the training episodes' median move.
    ``power`` in (0, 1] goes from the error alone (towards 0) to the error per unit of move
    (1): below 1 a violation that is itself a big latent jump (a ball turning square) is not
    divided by its whole jump."""
    if not floor > 0:
        raise UserError(f"floor={floor!r} must be > 0")
    if not 0 < power <= 1:
        raise UserError(f"power={power!r} must be in (0, 1]")
    return surprise / (latent_move(z, k) + floor) ** power


def pad_history(z: torch.Tensor, a: torch.Tensor, h: int) -> tuple[torch.Tensor, torch.Tensor]:
    """z (T, D), a (T, A) with the first frame repeated ``h - 1`` times in front (zero
    actions after the copies): frame j sits at row j + h - 1, so every frame has a full
    context of ``h`` rows ending at it."""
    zp = torch.cat([z[:1].expand(h - 1, -1), z])
    ap = torch.cat([a.new_zeros(h - 1, a.shape[1]), a])
    return zp, ap


def _rollout_predictions(
    model: WorldModel, z: torch.Tensor, a: torch.Tensor, h: int, k: int
) -> torch.Tensor:
    """Predictions at a horizon of ``k`` steps: frame t predicted by rolling the model forward
    from the ``h`` frames ending at frame ``t - k`` (from frame 0, fewer steps, for t < k).
    Where fewer than ``h`` frames precede, the first frame stands in for the missing ones
    (with zero actions), as in the pixel and state baselines: two batched rollouts in all."""
    t = len(z)
    zp, ap = pad_history(z, a, h)  # frame j at row j + h - 1
    preds = []
    if min(k, t) > 1:  # frames 1..k-1 from the context ending at frame 0
        preds.append(
            model.rollout(zp[None, :h], a[None, None, : min(k, t) - 1], ap[None, : h - 1])[0, 0]
        )
    if t > k:  # frames k..T-1, each from the context ending k frames before it
        ends = torch.arange(t - k)  # last context frame e = target - k
        rows = ends[:, None] + torch.arange(h)[None, :]  # padded rows of frames e-h+1..e
        acts = torch.stack([a[e : e + k] for e in range(t - k)])[:, None]  # (W, 1, k, A)
        preds.append(model.rollout(zp[rows], acts, ap[rows[:, :-1]])[:, 0, -1])
    return torch.cat(preds)


def pairwise_accuracy(
    possible: Sequence[torch.Tensor],
    impossible: Sequence[torch.Tensor],
    breaks: Sequence[int],
    window: int | None = None,
    groups: Sequence[int] | None = None,
) -> float:
    """Share of matched pairs whose possible video has the lower mean surprise from the
    breaking point on (ties count half). Each surprise is (T,); ``breaks[i]`` the first step
    at which the i-th pair differs.

    ``window``: average over at most this many steps from the breaking point (None: to the
    end). ``groups``: pairs with the same group id are compared as one (IntPhys's
    quadruplets): the sum of their possible videos' scores against the sum of their
    impossible ones; the result is the share of groups."""
    if not (len(possible) == len(impossible) == len(breaks)) or not len(breaks):
        raise UserError(
            f"need as many possible ({len(possible)}) and impossible ({len(impossible)}) videos "
            f"as breaking points ({len(breaks)}), at least one"
        )
    if window is not None and (not isinstance(window, int) or window < 1):
        raise UserError(f"window={window!r} must be an integer >= 1 or None")
    groups = list(range(len(breaks))) if groups is None else list(groups)
    if len(groups) != len(breaks):
        raise UserError(f"{len(groups)} group ids for {len(breaks)} pairs")
    end = (lambda b: b + window) if window else (lambda b: None)
    sums: dict[int, list[float]] = {}
    for p, q, b, g in zip(possible, impossible, breaks, groups):
        acc = sums.setdefault(g, [0.0, 0.0])
        acc[0] += float(p[b : end(b)].mean())
        acc[1] += float(q[b : end(b)].mean())
    wins = [1.0 if sp < sq else 0.5 if sp == sq else 0.0 for sp, sq in sums.values()]
    return float(np.mean(wins))


def auroc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Area under the ROC curve of scores that should be higher for ``positive``: the chance
    that a random positive outscores a random negative (ties count half)."""
    pos = np.asarray(positive, np.float64).reshape(-1)
    neg = np.asarray(negative, np.float64).reshape(-1)
    if not len(pos) or not len(neg):
        raise UserError("AUROC needs at least one positive and one negative score")
    if not (np.isfinite(pos).all() and np.isfinite(neg).all()):
        raise UserError("AUROC scores must be finite")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))
