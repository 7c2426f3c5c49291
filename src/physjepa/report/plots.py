"""Small matplotlib figures for the run report, returned as PNG bytes.

matplotlib is imported inside each function and switched to the non-interactive ``Agg``
backend there, so importing this module has no side effects and needs no display.
Every function returns ``None`` when there is nothing to plot instead of raising.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

FIGSIZE = (6.0, 3.5)  # inches
DPI = 100

# Train curves drawn on the loss plot, in this order; eval curves are found by prefix.
TRAIN_KEYS = (
    "train/loss",
    "train/loss_pred",
    "train/loss_rollout",
    "train/sigreg",
    "train/temporal",
)
EVAL_LOSS_PREFIX = "eval/loss"


def png_data_uri(png: bytes) -> str:
    """Return ``png`` as a ``data:image/png;base64,...`` URI for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finite(x) -> float | None:
    """``x`` as a float when it is a finite real number, else ``None``."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _series(records: Sequence[dict], key: str, positive: bool) -> tuple[list, list]:
    """(steps, values) for ``key``, skipping records without a usable step or value."""
    steps, values = [], []
    for r in records:
        s, v = _finite(r.get("step")), _finite(r.get(key))
        if s is None or v is None or (positive and v <= 0):
            continue
        steps.append(s)
        values.append(v)
    return steps, values


def _to_png(fig, plt) -> bytes:
    try:
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=DPI)
        return buf.getvalue()
    finally:
        plt.close(fig)


def loss_curves_png(records: list[dict]) -> bytes | None:
    """Train losses (and ``eval/loss*`` curves, dashed) against step on a log-y axis.

    ``records`` are parsed ``metrics.jsonl`` lines; any may lack any key. Non-positive
    and non-finite values are dropped (log scale). Returns ``None`` if no curve has a point.
    """
    eval_keys = sorted(
        {k for r in records for k in r if isinstance(k, str) and k.startswith(EVAL_LOSS_PREFIX)}
    )
    curves = []
    for key in (*TRAIN_KEYS, *eval_keys):
        steps, values = _series(records, key, positive=True)
        if steps:
            curves.append((key, steps, values))
    if not curves:
        return None

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=FIGSIZE)
    for key, steps, values in curves:
        is_eval = key.startswith("eval/")
        ax.plot(
            steps,
            values,
            label=key,
            linestyle="--" if is_eval else "-",
            marker="o" if is_eval or len(steps) == 1 else None,
            markersize=3,
            linewidth=1.2,
        )
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return _to_png(fig, plt)


def rollout_error_png(rollout: dict) -> bytes | None:
    """Normalised latent rollout error against horizon: model vs copy-last-latent baseline.

    ``rollout`` is ``eval.json["rollout"]`` with equal-length lists ``horizon``, ``model``,
    ``baseline`` and optionally ``ratio`` (model / baseline, drawn on a second axis).
    Returns ``None`` if the lists are missing or empty.
    """
    if not isinstance(rollout, dict):
        return None
    horizon = rollout.get("horizon")
    if not isinstance(horizon, list) or not horizon:
        return None

    def points(key: str) -> tuple[list, list]:
        ys = rollout.get(key)
        if not isinstance(ys, list):
            return [], []
        pairs = [(_finite(h), _finite(y)) for h, y in zip(horizon, ys)]
        pairs = [(h, y) for h, y in pairs if h is not None and y is not None]
        return [h for h, _ in pairs], [y for _, y in pairs]

    model, baseline, ratio = points("model"), points("baseline"), points("ratio")
    if not model[0] and not baseline[0]:
        return None

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=FIGSIZE)
    if model[0]:
        ax.plot(*model, marker="o", markersize=3, label="model")
    if baseline[0]:
        ax.plot(*baseline, marker="s", markersize=3, color="gray", label="baseline (latent stays)")
    ax.set_xlabel("horizon (steps)")
    ax.set_ylabel("normalised latent error")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if ratio[0]:
        ax2 = ax.twinx()
        (line,) = ax2.plot(*ratio, linestyle=":", color="tab:red", label="ratio model/baseline")
        ax2.axhline(1.0, color="tab:red", linewidth=0.6, alpha=0.4)
        ax2.set_ylabel("ratio", color="tab:red")
        ax2.set_ylim(bottom=0)
        handles.append(line)
        labels.append(line.get_label())
    ax.legend(handles, labels, fontsize=7, loc="best")
    return _to_png(fig, plt)


def voe_curves_png(examples: dict) -> bytes | None:
    """Surprise over time of one possible / impossible pair per property (``voe.json``'s
    ``examples``), the breaking point marked. ``None`` when there is nothing to draw."""
    if not isinstance(examples, dict):
        return None
    items = []
    for prop, ex in examples.items():
        if not isinstance(ex, dict):
            continue
        poss = [_finite(v) for v in ex.get("possible") or []]
        imp = [_finite(v) for v in ex.get("impossible") or []]
        if poss and imp and None not in poss + imp:
            items.append((str(prop), poss, imp, _finite(ex.get("break"))))
    if not items:
        return None
    plt = _pyplot()
    cols = min(4, len(items))
    rows = (len(items) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.0 * rows), squeeze=False)
    for ax in axes.flat[len(items) :]:
        ax.axis("off")
    for ax, (prop, poss, imp, brk) in zip(axes.flat, items):
        ax.plot(range(len(poss)), poss, color="tab:blue", label="possible")
        ax.plot(range(len(imp)), imp, color="tab:red", label="impossible")
        if brk is not None:
            ax.axvline(brk, color="black", linestyle="--", linewidth=0.8)
        ax.set_title(prop, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_ylim(bottom=0)
    axes.flat[0].legend(fontsize=7, loc="upper left")
    fig.supxlabel("model step (dashed: breaking point)", fontsize=8)
    fig.supylabel("surprise", fontsize=8)
    return _to_png(fig, plt)


def forecast_scores_png(
    scores: list, failed_at: list, threshold, horizon, limit: int = 4
) -> bytes | None:
    """The warning score over time of a few held-out episodes (``forecast.json``): the first
    ``limit - 1`` that fail and the first that does not, the alarm threshold dashed, the
    failure a red line and the K steps before it (where an alarm is a warning) shaded.
    ``None`` when there is nothing to draw."""
    if not isinstance(scores, list) or not isinstance(failed_at, list):
        return None
    items = []
    for i, (sc, fail) in enumerate(zip(scores, failed_at)):
        ys = [_finite(v) for v in sc] if isinstance(sc, list) else []
        if ys and None not in ys:
            items.append((i, ys, _finite(fail)))
    failing = [it for it in items if it[2] is not None][: limit - 1]
    items = failing + [it for it in items if it[2] is None][: limit - len(failing)]
    if not items:
        return None
    thr, k = _finite(threshold), _finite(horizon)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(items), figsize=(2.6 * len(items), 2.4), squeeze=False)
    for ax, (i, ys, fail) in zip(axes.flat, items):
        ax.plot(range(len(ys)), ys, color="tab:blue", linewidth=1.0)
        if thr is not None:
            ax.axhline(thr, color="gray", linestyle="--", linewidth=0.8)
        if fail is not None:
            ax.axvline(fail, color="tab:red", linewidth=1.0)
            if k is not None:
                ax.axvspan(max(0.0, fail - k), fail, color="tab:red", alpha=0.12)
        title = f"fails at step {fail:.0f}" if fail is not None else "no failure"
        ax.set_title(f"episode {i}: {title}", fontsize=8)
        ax.set_ylim(-0.02, 1.02)
        ax.tick_params(labelsize=7)
    fig.supxlabel(
        "model step (red: failure; shaded: the K steps before it; dashed: threshold)", fontsize=8
    )
    fig.supylabel("warning score", fontsize=8)
    return _to_png(fig, plt)


def monitor_trace_png(trace: dict, threshold, alerts: list) -> bytes | None:
    """The alarm score over a monitored source (``monitor.json``'s ``trace``: the maximum of each
    bin of ``every`` model steps), the threshold dashed and the alerts as red dots at their
    position. ``None`` when there is nothing to draw."""
    if not isinstance(trace, dict) or not isinstance(trace.get("max"), list):
        return None
    every = _finite(trace.get("every")) or 1.0
    pts = [(j * every, _finite(v)) for j, v in enumerate(trace["max"])]
    pts = [(x, y) for x, y in pts if y is not None]
    if not pts:
        return None
    marks = [
        (_finite(a.get("position")), _finite(a.get("score", a.get("surprise"))))
        for a in (alerts if isinstance(alerts, list) else [])
        if isinstance(a, dict)
    ]
    marks = [(x, y) for x, y in marks if x is not None and y is not None]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(FIGSIZE[0] * 1.3, FIGSIZE[1]))
    label = "score" if every == 1 else f"score (max over {every:.0f} steps)"
    ax.plot(*zip(*pts), color="tab:blue", linewidth=0.9, drawstyle="steps-post", label=label)
    thr = _finite(threshold)
    if thr is not None:
        ax.axhline(thr, color="gray", linestyle="--", linewidth=0.8, label="threshold")
    if marks:
        ax.scatter(*zip(*marks), color="tab:red", s=12, zorder=3, label="alert")
    ax.set_xlabel("position in the source (model steps; streams back to back)")
    ax.set_ylabel("score")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    return _to_png(fig, plt)
