"""``physjepa forecast``: fit the failure-warning head on a run's training episodes, score
held-out episodes, write ``forecast.json`` (the head and its metrics: ``heads/warning.py``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from physjepa.data.episodes import EpisodeFile, split_episodes
from physjepa.errors import UserError
from physjepa.fileio import atomic_write_text, sha256_file
from physjepa.heads.warning import (
    failed_column,
    fit_warning_head,
    warning_features,
    warning_labels,
    warning_metrics,
    warning_threshold,
)
from physjepa.metrics.anomaly import check_far
from physjepa.metrics.rollout import encode_episodes
from physjepa.training.checkpoint import load_run


def run_forecast(
    run_dir: str | Path,
    data_path: str | Path | None = None,
    horizon: int = 20,
    far: float = 0.01,
    device: str = "cpu",
) -> dict:
    """``physjepa forecast``: fit the failure head on the run's training episodes, score the
    held-out episodes (the run's validation split, or every episode of ``data_path``), and
    write ``forecast.json`` with the metrics and every episode's scores."""
    if not isinstance(horizon, int) or not 1 <= horizon <= 200:
        raise UserError(f"--horizon={horizon!r} must be an integer in [1, 200] (model steps)")
    check_far(far)
    t0 = time.time()
    run_dir = Path(run_dir)
    model, cfg, meta = load_run(run_dir, device)
    obs_key = meta["data"].get("obs_key", "pixels")
    k = cfg.data.frameskip
    with EpisodeFile(meta["data"]["path"]) as file:
        column = failed_column(file.state_spec)
        train_eps, val_eps = split_episodes(file.n_episodes, cfg.data.val_fraction)
        train = encode_episodes(model, file, train_eps, k, obs_key, device)
        if data_path is None:
            test = encode_episodes(model, file, val_eps, k, obs_key, device)
    if data_path is not None:
        with EpisodeFile(data_path) as file:
            if not file.has(obs_key) or failed_column(file.state_spec) != column:
                raise UserError(
                    f"{data_path} does not hold what the run was trained on ({obs_key!r} and the "
                    "same state layout); collect it in the same world"
                )
            test = encode_episodes(model, file, np.arange(file.n_episodes), k, obs_key, device)
    # the head learns on the first 80% of the training episodes; the threshold is set on
    # the rest, which the head never saw, so the held-out false-alarm rate is measured
    train = [e for e in train if e.state is not None]
    cut = max(1, int(0.8 * len(train)))
    if cut >= len(train):
        raise UserError("forecast needs at least 2 training episodes with state")
    feats = [warning_features(model, e, horizon) for e in train]
    labs = [warning_labels(e.state[:, column], horizon) for e in train]
    head = fit_warning_head(feats[:cut], labs[:cut])
    threshold = warning_threshold([head(f).numpy() for f in feats[cut:]], labs[cut:], far)
    scores = [head(warning_features(model, e, horizon)).numpy() for e in test]
    labels = [warning_labels(e.state[:, column], horizon) for e in test]
    metrics = warning_metrics(scores, labels, far, threshold)
    # for reference: the lead had the threshold been set on the held-out steps themselves
    oracle = warning_metrics(scores, labels, far)
    metrics["lead_steps_median_heldout_threshold"] = oracle["lead_steps_median"]
    result = {
        "horizon": horizon,
        "far": far,
        "data": str(data_path or meta["data"]["path"]),
        "heldout": "every episode" if data_path else "the run's validation episodes",
        "episodes": len(test),
        "checkpoint_sha256": sha256_file(run_dir / "model.safetensors"),
        "metrics": metrics,
        "scores": [np.round(s, 4).tolist() for s in scores],
        "failed_at": [int(np.argmax(lab == -1)) if (lab == -1).any() else None for lab in labels],
        "seconds": round(time.time() - t0, 2),
    }
    atomic_write_text(run_dir / "forecast.json", json.dumps(result))
    return result
