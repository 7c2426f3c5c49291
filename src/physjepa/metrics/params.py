"""Hidden physical params inferred from motion: linear probes on the predictor's context.

ball-drop can draw gravity, restitution, friction and mass per episode (``vary``). No single
frame shows them; motion does, at particular moments, found here in the ground-truth state
(ball 0, the one the action pushes; at model rate, ``frameskip`` frames a step). A step is
*free* when gravity and the action explain its velocity change (anything more is a contact,
or the speed cap; the true mass and gravity only tell a clean step from another):

=========== ======= =======================================================================
param       event   frames of the event (its *span*)
=========== ======= =======================================================================
gravity     flight  8 frames, 7 free steps with no action, clear of every surface
restitution bounce  the velocity normal to the floor, a wall, the ceiling or the peg flips
                    sign within one step's travel of it, on a step that is not free and has
                    no action: the frames before and after the flip and one more each side
mass        push    an action of at least ``MIN_PUSH`` on a free step (the velocity answers
                    ``push_strength * action / mass``), free steps without action before
                    and after it, clear of every surface: the push's frame, the one before,
                    two after
friction    slide   3 frames touching the floor, moving sideways, no action
=========== ======= =======================================================================

Every frame of a span shows the ball wholly (not behind the occluder). For each event a
window of 8 and of 16 frames is placed with the span's centre at the window's (events too
near an end of the episode for that are left out, so an event always sits at the same frames
of its windows); at most ``max_per_episode`` windows per event and length per episode.

**Context representation** (``context``). The predictor's state at every frame of the window
(:meth:`WorldModel.context_states`: the last block's output, the residual stream the
prediction of the next frame is read from), concatenated in order: the last-layer tokens of
the window. Each frame's state has the context the model was trained on, the
``data.history`` frames ending there and their actions: the predictor's positions are
learned and stop at ``data.history``, so a window longer than that is covered by sliding the
trained context along it, never by positions it has not seen (a run trained with
``data.history >= 16`` takes every window whole). Concatenated, not averaged: a linear probe
reads gravity from the curvature of a path, restitution from a before / after pair, which
need weights that differ from frame to frame; averaging over the window gives every frame the
same weight and keeps only what one frame's state already says. The average is reported too
(``context_mean``), and the per-frame latents of the same windows, concatenated (``latents``),
as the control that tells the representation from the choice of windows.

**Ceiling** (``true_state``). The same probe on the ball's true position and velocity at every
frame of the window, concatenated: what a perfect encoder of the ball's motion would offer a
linear probe. Gravity reads off it at R² 1 (a flight's velocity falls by g dt each step);
restitution and mass do not (each is a ratio of velocities, not a sum of them), nor friction
(a rolling ball's slide barely slows with it), so a representation reaches those only by
holding the param itself, not the motion.

**Probe.** Ridge on standardised features to the episode's true value, fit on windows of
training episodes (the penalty chosen by cross-validation over folds of whole training
episodes), R² on windows of held-out episodes: no episode is on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from physjepa.data.voe_pairs import occluder_gap
from physjepa.errors import UserError
from physjepa.metrics.probe import RIDGE_GRID
from physjepa.metrics.rollout import EncodedEpisode

#: The hidden params and the event that shows each.
HIDDEN = {"gravity": "flight", "restitution": "bounce", "friction": "slide", "mass": "push"}
CONTEXTS = (8, 16)  # window lengths, model steps
REPRESENTATIONS = ("context", "context_mean", "latents")  # see window_features
TRUE_STATE = "true_state"  # the probe's ceiling: the ball's true motion (module docstring)
WORLD = "ball-drop"
MIN_PUSH = 0.2  # smallest action component that counts as a push (a fifth of the range)
MIN_SPEED = 0.1  # arena units / s: slower approaches are resting jitter, not bounces
FREE = 0.02  # arena units / s: a velocity change this far from gravity's is a contact
CLEAR = 0.005  # arena units between the ball's surface and any other in free motion
#: Ridge penalties tried: the probes' grid and heavier ones, so that features that do not
#: carry a param end near R² 0 (the mean) rather than below it.
RIDGES = (*RIDGE_GRID, 1.0, 10.0, 100.0, 1000.0)
TOUCH = 0.01  # arena units: a ball this close to the floor touches it
FLIGHT = 8  # frames of a flight: gravity moves a ball 0.5 g (7 dt)^2, ~0.06, across them


def hidden_params(world: str | None, spec: list[tuple[str, tuple[int, ...]]]) -> list[str]:
    """The hidden params a file's state holds (in :data:`HIDDEN` order), or one
    :class:`UserError` saying why there are none."""
    if world != WORLD:
        raise UserError(
            f"the hidden-param probe needs a {WORLD} run; this one's world is {world!r}, "
            "which has no gravity, restitution, friction or mass to infer"
        )
    names = {n for n, _ in spec}
    if "ball_pos" not in names or "ball_vel" not in names:
        raise UserError("the hidden-param probe needs the ball's state (ball_pos, ball_vel)")
    found = [p for p in HIDDEN if p in names]
    if not found:
        raise UserError(
            "the hidden-param probe needs params drawn per episode, and this data varies none "
            "of gravity, restitution, friction, mass: collect with e.g. "
            "--param 'vary={\"gravity\": [0.6, 1.4]}'"
        )
    return found


def _columns(spec: list[tuple[str, tuple[int, ...]]]) -> dict[str, slice]:
    out, i = {}, 0
    for name, shape in spec:
        n = int(np.prod(shape)) if shape else 1
        out[name] = slice(i, i + n)
        i += n
    return out


@dataclass(frozen=True)
class Motion:
    """What the events need of one episode, at model rate (L frames)."""

    pos: np.ndarray  # (L, 2) ball 0's centre
    vel: np.ndarray  # (L, 2) ball 0's velocity
    pushed: np.ndarray  # (L,) bool: a push (>= MIN_PUSH) in the block applied after frame t
    still: np.ndarray  # (L,) bool: no action at all in the block applied after frame t
    margins: dict[str, np.ndarray]  # surface -> (L,) gap from ball 0's surface to it
    normals: dict[str, np.ndarray]  # surface -> (L, 2) unit normal pointing to the ball
    free: np.ndarray  # (L,) bool: from frame t-1 to t only gravity and the action acted
    visible: np.ndarray  # (L,) bool: ball 0 wholly in view
    dt: float  # seconds per model step


def motion(
    state: np.ndarray,
    action: np.ndarray,
    spec: list[tuple[str, tuple[int, ...]]],
    params: dict[str, Any],
    frameskip: int = 1,
) -> Motion:
    """Ball 0's motion in one episode: state (L, S) and action blocks (L, frameskip * 2) at
    model rate, the file's state spec and world params (``params_json``)."""
    col = _columns(spec)
    s = np.asarray(state, np.float64)
    pos, vel = s[:, col["ball_pos"]][:, :2], s[:, col["ball_vel"]][:, :2]
    others = s[:, col["ball_pos"]][:, 2:].reshape(len(s), -1, 2)  # (L, n-1, 2)
    r = s[:, col["radius"]][:, 0] if "radius" in col else np.full(len(s), params["radius"])
    g = s[:, col["gravity"]][:, 0] if "gravity" in col else np.full(len(s), params["gravity"])
    mass = s[:, col["mass"]][:, 0] if "mass" in col else np.full(len(s), params["mass"])
    dt = float(params["dt"]) * frameskip
    x, y = pos[:, 0], pos[:, 1]
    one = np.ones(len(s))
    margins = {"floor": y - r, "ceiling": 1 - y - r, "left": x - r, "right": 1 - x - r}
    normals = {
        "floor": np.stack([0 * one, one], 1),
        "ceiling": np.stack([0 * one, -one], 1),
        "left": np.stack([one, 0 * one], 1),
        "right": np.stack([-one, 0 * one], 1),
    }
    if params.get("obstacle", True):
        d = pos - np.asarray(params["obstacle_pos"], np.float64)
        dist = np.linalg.norm(d, axis=1)
        margins["peg"] = dist - r - params["obstacle_radius"]
        normals["peg"] = d / np.maximum(dist, 1e-9)[:, None]
    for j in range(others.shape[1]):  # other balls: surfaces too (radius shared)
        d = pos - others[:, j]
        dist = np.linalg.norm(d, axis=1)
        margins[f"ball{j + 1}"] = dist - 2 * r
        normals[f"ball{j + 1}"] = d / np.maximum(dist, 1e-9)[:, None]
    act = np.asarray(action, np.float64)
    impulse = params["push_strength"] * act.reshape(len(act), -1, 2).sum(1)  # (L, 2) per block
    # the velocity change that gravity and the push explain; anything more is a contact (or
    # the speed cap): the true mass only tells a clean step from another, never picks a value
    explained = np.stack([0 * g, -g * dt], 1)[1:] + impulse[:-1] / mass[:-1, None]
    free = np.zeros(len(s), bool)
    free[1:] = np.linalg.norm(vel[1:] - vel[:-1] - explained, axis=1) < FREE
    pushed = np.abs(act).max(axis=1) >= MIN_PUSH
    still = ~np.abs(act).any(axis=1)
    visible = occluder_gap(pos, params.get("occluder")) > r
    return Motion(pos, vel, pushed, still, margins, normals, free, visible, dt)


def find_events(m: Motion) -> dict[str, list[tuple[int, int]]]:
    """The spans ``(first, last)`` (frames, inclusive) of every event in one episode."""
    n = len(m.pos)
    clear = np.min(np.stack(list(m.margins.values())), axis=0) > CLEAR  # (L,)
    out: dict[str, list[tuple[int, int]]] = {e: [] for e in HIDDEN.values()}

    def seen(a: int, b: int) -> bool:
        return 0 <= a and b < n and bool(m.visible[a : b + 1].all())

    t, k = 0, FLIGHT
    while t + k <= n:  # flight: k frames, k-1 steps of gravity alone, never near a surface
        steps = slice(t, t + k - 1)
        if (
            m.free[t + 1 : t + k].all()
            and m.still[steps].all()
            and clear[t : t + k].all()
            and seen(t, t + k - 1)
        ):
            out["flight"].append((t, t + k - 1))
            t += k
        else:
            t += 1
    for t in range(1, n):  # bounce between frames t-1 and t
        if m.free[t] or not m.still[t - 1] or not seen(t - 2, t + 1):  # free: no contact
            continue
        for surface, gap in m.margins.items():
            nv = m.normals[surface]
            v_in = float(m.vel[t - 1] @ nv[t - 1])  # < 0: moving towards the surface
            v_out = float(m.vel[t] @ nv[t])
            near = min(gap[t - 1], gap[t]) < -v_in * m.dt + TOUCH
            if v_in < -MIN_SPEED and v_out > 0 and near:
                out["bounce"].append((t - 2, t + 1))
                break
    for t in range(1, n - 2):  # push after frame t, seen from t-1 to t+2
        if (
            m.pushed[t]
            and m.free[t : t + 3].all()  # before, during and after the push: no contact
            and m.still[t - 1]
            and m.still[t + 1]
            and clear[t - 1 : t + 3].all()
            and seen(t - 1, t + 2)
        ):
            out["push"].append((t - 1, t + 2))
    t = 0
    floor = m.margins["floor"]
    while t + 2 < n:  # slide: 3 frames on the floor, moving sideways, no push
        sl = slice(t, t + 3)
        if (
            (floor[sl] < TOUCH).all()
            and (np.abs(m.vel[sl, 0]) > MIN_SPEED / 2).all()
            and m.still[t : t + 2].all()
            and seen(t, t + 2)
        ):
            out["slide"].append((t, t + 2))
            t += 3
        else:
            t += 1
    return out


@dataclass(frozen=True)
class EventWindow:
    episode: int  # index into the list of episodes the windows were found in
    start: int  # first frame of the window (model steps)
    length: int
    event: str  # flight, bounce, push or slide
    span: tuple[int, int]  # the event's first and last frame, inside the window


def event_windows(
    episodes: list[EncodedEpisode],
    spec: list[tuple[str, tuple[int, ...]]],
    params: dict[str, Any],
    frameskip: int = 1,
    lengths: tuple[int, ...] = CONTEXTS,
    max_per_episode: int = 8,
) -> list[EventWindow]:
    """For every episode, event and window length: windows of ``length`` frames centred on
    the event's span (at most ``max_per_episode``, spread over the episode, no two with the
    same start)."""
    out = []
    for i, ep in enumerate(episodes):
        if ep.state is None:
            continue
        events = find_events(motion(ep.state, ep.action.numpy(), spec, params, frameskip))
        n = len(ep.state)
        for length in lengths:
            if n < length:
                continue
            for event, spans in events.items():
                starts: dict[int, tuple[int, int]] = {}
                for a, b in spans:
                    s = (a + b + 1) // 2 - length // 2  # the span's centre at the window's
                    if 0 <= s <= n - length:  # an edge would move the event in the window
                        starts.setdefault(s, (a, b))
                keys = sorted(starts)
                if len(keys) > max_per_episode:
                    pick = np.linspace(0, len(keys) - 1, max_per_episode).round().astype(int)
                    keys = [keys[j] for j in pick]
                out += [EventWindow(i, s, length, event, starts[s]) for s in keys]
    return out


@torch.no_grad()
def window_features(
    model,
    episodes: list[EncodedEpisode],
    windows: list[EventWindow],
    device: torch.device | str = "cpu",
    batch: int = 256,
) -> dict[str, np.ndarray]:
    """The representations of each window (all of one length W), by name:

    - ``context`` (N, W*F): the predictor's state at every frame of the window
      (:meth:`WorldModel.context_states`), concatenated in order;
    - ``context_mean`` (N, F): the same states averaged over the window;
    - ``latents`` (N, W*D): the window's per-frame latents, concatenated (the control).
    """
    if not windows:
        return {k: np.zeros((0, 0)) for k in REPRESENTATIONS}
    (length,) = {w.length for w in windows}
    model.eval()
    out: dict[str, list[np.ndarray]] = {k: [] for k in REPRESENTATIONS}
    for i in range(0, len(windows), batch):
        chunk = windows[i : i + batch]
        z = torch.stack([episodes[w.episode].z[w.start : w.start + length] for w in chunk])
        a = torch.stack([episodes[w.episode].action[w.start : w.start + length] for w in chunk])
        states = model.context_states(z.to(device), a.to(device)).double().cpu()  # (n, W, F)
        out["context"].append(states.flatten(1).numpy())
        out["context_mean"].append(states.mean(1).numpy())
        out["latents"].append(z.flatten(1).double().numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def episode_probe(
    x: np.ndarray,
    y: np.ndarray,
    episode: np.ndarray,
    test: np.ndarray,
    ridges: tuple[float, ...] = RIDGES,
    folds: int = 5,
) -> dict:
    """Ridge from features x (N, F) to targets y (N,), split by episode: rows whose
    ``episode`` id is in ``test`` are scored, the others fit. The penalty is chosen by
    ``folds``-fold cross-validation over the training episodes (fewer with fewer episodes;
    each fold a set of whole episodes: one held-out fifth is too noisy to choose on with tens
    of episodes), then the probe is refit on all of them. Returns R² on the test rows, the
    ridge, and the counts."""
    is_test = np.isin(episode, test)
    train_eps = np.unique(episode[~is_test])
    test_eps = np.unique(episode[is_test])
    if len(train_eps) < 2 or len(test_eps) < 2:  # one episode's target is one value: no R²
        raise UserError(
            "the hidden-param probe needs windows in at least 2 training and 2 held-out "
            f"episodes; found {len(train_eps)} and {len(test_eps)}"
        )
    folds = min(folds, len(train_eps))
    fold_of = dict(zip(train_eps, np.arange(len(train_eps)) % folds))
    fold = np.array([fold_of.get(e, -1) for e in episode])
    sse = np.zeros(len(ridges))
    for k in range(folds):
        fit, val = ~is_test & (fold != k), fold == k
        for j, pred in enumerate(_ridge_path(x[fit], y[fit], x[val], ridges)):
            sse[j] += ((y[val] - pred) ** 2).sum()
    best = float(ridges[int(np.argmin(sse))])
    (pred,) = _ridge_path(x[~is_test], y[~is_test], x[is_test], (best,))
    return {
        "r2": _r2(y[is_test], pred),
        "ridge": best,
        "n_train": int((~is_test).sum()),
        "n_test": int(is_test.sum()),
        "episodes_train": int(len(train_eps)),
        "episodes_test": int(len(test_eps)),
    }


def _ridge_path(
    x: np.ndarray, y: np.ndarray, x_new: np.ndarray, ridges: tuple[float, ...]
) -> list[np.ndarray]:
    """Predictions on ``x_new`` of :func:`physjepa.metrics.probe.fit_ridge` at every penalty,
    from one SVD of the standardised features (the same solution: w = V (S² + r n)⁻¹ S Uᵀ y)
    instead of one solve per penalty."""
    mu, sd = x.mean(0), x.std(0) + 1e-8
    u, sv, vt = np.linalg.svd((x - mu) / sd, full_matrices=False)
    uty, xv = u.T @ (y - y.mean()), ((x_new - mu) / sd) @ vt.T  # (k,), (M, k)
    return [xv @ (sv / (sv**2 + r * len(x)) * uty) + y.mean() for r in ridges]


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return float("nan") if ss_tot < 1e-12 else 1.0 - float(((y - pred) ** 2).sum()) / ss_tot


def param_probe(
    model,
    train: list[EncodedEpisode],
    test: list[EncodedEpisode],
    spec: list[tuple[str, tuple[int, ...]]],
    params: dict[str, Any],
    world: str | None = WORLD,
    frameskip: int = 1,
    lengths: tuple[int, ...] = CONTEXTS,
    max_per_episode: int = 8,
    device: torch.device | str = "cpu",
) -> dict:
    """R² of a linear probe for every hidden param from the predictor's context over event
    windows of each length in ``lengths``, fit on ``train`` episodes and scored on ``test``
    ones (see the module docstring). Also the per-frame latents of the same windows."""
    names = hidden_params(world, spec)
    col = _columns(spec)
    ball = [i for k in ("ball_pos", "ball_vel") for i in range(col[k].start, col[k].start + 2)]
    episodes = list(train) + list(test)
    test_ids = np.arange(len(train), len(episodes))
    windows = event_windows(episodes, spec, params, frameskip, lengths, max_per_episode)
    out: dict[str, Any] = {k: {} for k in (*REPRESENTATIONS, TRUE_STATE, "windows")}
    out.update(
        {
            "episodes_train": len(train),
            "episodes_test": len(test),
            "history": model.history,
            "representations": {
                "context": "the predictor's last-block state at every frame of the window "
                f"(each from the {model.history} frames ending there, its trained history), "
                "concatenated in order",
                "context_mean": "the same states averaged over the window",
                "latents": "the window's per-frame latents, concatenated (the control)",
                TRUE_STATE: "the ball's true position and velocity at every frame of the "
                "window, concatenated (the linear probe's ceiling)",
            },
            "events": dict(HIDDEN),
        }
    )
    for length in lengths:
        key = str(length)
        for kind in (*REPRESENTATIONS, TRUE_STATE, "windows"):
            out[kind][key] = {}
        for name in names:
            ws = [w for w in windows if w.length == length and w.event == HIDDEN[name]]
            ep = np.array([w.episode for w in ws], dtype=int)
            out["windows"][key][name] = {
                "train": int((~np.isin(ep, test_ids)).sum()),
                "test": int(np.isin(ep, test_ids).sum()),
            }
            feats = window_features(model, episodes, ws, device)
            feats[TRUE_STATE] = np.zeros((len(ws), length * len(ball)))
            for j, w in enumerate(ws):  # ball 0's (x, y, vx, vy) at each frame, in order
                feats[TRUE_STATE][j] = (
                    episodes[w.episode].state[w.start : w.start + length, ball].ravel()
                )
            y = np.array([float(episodes[w.episode].state[w.start, col[name]][0]) for w in ws])
            for kind, x in feats.items():
                try:
                    out[kind][key][name] = episode_probe(x, y, ep, test_ids)
                except UserError as e:  # too few windows of this event: say so, keep the rest
                    out[kind][key][name] = {"r2": float("nan"), "why": str(e)}
    return out


def param_metrics(result: dict, prefix: str) -> dict[str, float]:
    """The headline numbers of a :func:`param_probe` result: ``<prefix><param>`` (R² from the
    predictor's context over the longest windows), ``<prefix><param>_ctx<L>`` (shorter
    windows), ``<prefix><param>_event_latents`` (the per-frame latents of the longest
    windows, the control) and ``<prefix><param>_true_state`` (the ball's true motion over the
    longest windows, the ceiling)."""
    longest = max(result["context"], key=int)
    out = {}
    for length, row in result["context"].items():
        suffix = "" if length == longest else f"_ctx{length}"
        out.update({f"{prefix}{p}{suffix}": v["r2"] for p, v in row.items()})
    for p, v in result["latents"][longest].items():
        out[f"{prefix}{p}_event_latents"] = v["r2"]
    for p, v in result.get(TRUE_STATE, {}).get(longest, {}).items():
        out[f"{prefix}{p}_true_state"] = v["r2"]
    return out
