"""``physjepa forecast``: fit the failure-warning head on a run's training episodes, score
held-out episodes, write ``forecast.json`` (the head and its metrics: ``heads/warning.py``)."""

from __future__ import annotations

import time

import numpy as np
import torch

from physjepa.data.episodes import EpisodeFile, split_episodes
from physjepa.device import resolve_device
from physjepa.errors import DataError
from physjepa.heads.warning import (
    failed_column,
    fit_warning_head,
    warning_features,
    warning_labels,
    warning_metrics,
    warning_threshold,
)
from physjepa.metrics.rollout import encode_episodes
from physjepa.options import ForecastOptions
from physjepa.runs import Run


def run_forecast(opts: ForecastOptions, device: torch.device | None = None) -> dict:
    """``physjepa forecast``: fit the failure head on the run's training episodes, score the
    held-out episodes (the run's validation split, or every episode of ``opts.data``), and
    write ``forecast.json`` with the metrics and every episode's scores."""
    horizon, far, data_path = opts.horizon, opts.far, opts.data
    t0 = time.time()
    device = device or resolve_device(opts.device, "--device")
    run = Run.open(opts.run)
    cfg, obs_key, k = run.config, run.data.obs_key, run.frameskip
    model = run.load_model(device)
    with EpisodeFile(run.data.path) as file:
        column = failed_column(file.state_spec)
        train_eps, val_eps = split_episodes(file.n_episodes, cfg.data.val_fraction)
        train = encode_episodes(model, file, train_eps, k, obs_key, device)
        if data_path is None:
            test = encode_episodes(model, file, val_eps, k, obs_key, device)
    if data_path is not None:
        with EpisodeFile(data_path) as file:
            run.check_data(file)
            if failed_column(file.state_spec) != column:
                raise DataError(
                    f"{data_path} does not have the state layout the run was trained on; "
                    "collect it in the same world"
                )
            test = encode_episodes(model, file, np.arange(file.n_episodes), k, obs_key, device)
    # the head learns on the first 80% of the training episodes; the threshold is set on
    # the rest, which the head never saw, so the held-out false-alarm rate is measured
    train = [e for e in train if e.state is not None]
    cut = max(1, int(0.8 * len(train)))
    if cut >= len(train):
        raise DataError("forecast needs at least 2 training episodes with state")
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
        "data": str(data_path or run.data.path),
        "heldout": "every episode" if data_path else "the run's validation episodes",
        "episodes": len(test),
        "checkpoint_sha256": run.checkpoint_sha256(),
        "metrics": metrics,
        "scores": [np.round(s, 4).tolist() for s in scores],
        "failed_at": [int(np.argmax(lab == -1)) if (lab == -1).any() else None for lab in labels],
        "seconds": round(time.time() - t0, 2),
    }
    run.write_result("forecast.json", result, indent=None)
    return result
