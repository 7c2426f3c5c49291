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
    conformal_threshold,
    crossfit_thresholds,
    failed_column,
    fit_warning_head,
    warning_features,
    warning_labels,
    warning_metrics,
)
from physjepa.metrics.rollout import encode_episodes
from physjepa.options import ForecastOptions
from physjepa.runs import Run


def run_forecast(opts: ForecastOptions, device: torch.device | None = None) -> dict:
    """``physjepa forecast``: fit the failure head on the run's training episodes, score the
    held-out episodes (the run's validation split, or every episode of ``opts.data``), set
    the alarm threshold on episodes the model never trained on (``opts.calibrate``, or
    cross-fitted over the held-out ones), and write ``forecast.json`` with the metrics and
    every episode's scores."""
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
        test = _episodes_of(run, data_path, column, model, device)
    calib = None
    if opts.calibrate is not None:
        calib = [
            e
            for e in _episodes_of(run, opts.calibrate, column, model, device)
            if e.state is not None
        ]
    train = [e for e in train if e.state is not None]
    if not train:
        raise DataError("forecast needs training episodes with state")
    head = fit_warning_head(
        [warning_features(model, e, horizon) for e in train],
        [warning_labels(e.state[:, column], horizon) for e in train],
    )
    scores = [head(warning_features(model, e, horizon)).numpy() for e in test]
    labels = [warning_labels(e.state[:, column], horizon) for e in test]
    # the threshold: a conformal quantile of negative steps of episodes the model never
    # trained on (a model scores its own training episodes lower, so a threshold set there
    # lets held-out false alarms run at three times the setting): of the calibration file,
    # or cross-fitted over the held-out episodes (each judged by the others' threshold)
    if calib is not None:
        cal_scores = [head(warning_features(model, e, horizon)).numpy() for e in calib]
        cal_labels = [warning_labels(e.state[:, column], horizon) for e in calib]
        cal_neg = np.concatenate([s[lab == 0] for s, lab in zip(cal_scores, cal_labels)])
        threshold = conformal_threshold(cal_neg, far)
        per_episode: float | list[float] = threshold
        how = f"conformal on the {len(calib)} episodes of {opts.calibrate}"
    else:
        per_episode = crossfit_thresholds(scores, labels, far)
        neg = np.concatenate([s[lab == 0] for s, lab in zip(scores, labels)])
        threshold = conformal_threshold(neg, far)  # for use on new data: every fold pooled
        how = f"conformal, cross-fitted over {min(5, len(scores))} folds of the held-out episodes"
    metrics = warning_metrics(scores, labels, far, per_episode)
    metrics["threshold"] = threshold
    # for reference: the lead had the threshold been set on the held-out steps themselves
    oracle = warning_metrics(scores, labels, far)
    metrics["lead_steps_median_heldout_threshold"] = oracle["lead_steps_median"]
    result = {
        "horizon": horizon,
        "far": far,
        "data": str(data_path or run.data.path),
        "heldout": "every episode" if data_path else "the run's validation episodes",
        "threshold_from": how,
        "episodes": len(test),
        "checkpoint_sha256": run.checkpoint_sha256(),
        "metrics": metrics,
        "scores": [np.round(s, 4).tolist() for s in scores],
        "episode_thresholds": np.broadcast_to(per_episode, (len(scores),)).tolist(),
        "failed_at": [int(np.argmax(lab == -1)) if (lab == -1).any() else None for lab in labels],
        "seconds": round(time.time() - t0, 2),
    }
    run.write_result("forecast.json", result, indent=None)
    return result


def _episodes_of(run: Run, path: str, column: int, model, device) -> list:
    """Every episode of another file of the run's world, encoded; refused in one line when
    its data or state layout differs from the run's."""
    with EpisodeFile(path) as file:
        run.check_data(file)
        if failed_column(file.state_spec) != column:
            raise DataError(
                f"{path} does not have the state layout the run was trained on; "
                "collect it in the same world"
            )
        eps = np.arange(file.n_episodes)
        return encode_episodes(model, file, eps, run.frameskip, run.data.obs_key, device)
