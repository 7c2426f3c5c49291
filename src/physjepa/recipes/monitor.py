"""``physjepa monitor``: calibrate a surprise threshold on normal data, then score a stream
(``data/streams.py`` reads it) and emit one alert per excursion, with the channels to blame."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from physjepa.data.episodes import EpisodeFile, split_episodes
from physjepa.data.streams import Chunk, open_source
from physjepa.device import resolve_device
from physjepa.errors import UserError
from physjepa.metrics.anomaly import Calibration, StreamingSurprise, attribute, calibrate
from physjepa.options import MonitorOptions
from physjepa.runs import Run


@dataclass
class MonitorStats:
    rows: int = 0
    scored: int = 0
    alerts: int = 0
    skipped: int = 0
    seconds: float = 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def run_monitor(
    stream: StreamingSurprise,
    chunks: Iterator[Chunk],
    calibration: Calibration,
    names: list[str] | None,
    emit: Callable[[dict], None],
    cooldown: int = 10,
    make_stream: Callable[[], StreamingSurprise] | None = None,
) -> MonitorStats:
    """Score ``chunks`` and ``emit`` an alert for each step above the threshold (at most one
    per ``cooldown`` steps while the surprise stays high)."""
    stats = MonitorStats()
    t0 = time.perf_counter()
    current, quiet_until = None, -1
    for obs, act, lines, sid in chunks:
        if sid != current:  # a new stream (episode): fresh context
            if current is not None and make_stream is not None:
                stream = make_stream()
            current, quiet_until = sid, -1
        rows, scores = stream.push(obs, act)
        stats.rows += len(obs)
        stats.scored += int(np.isfinite(scores).sum())
        over = np.flatnonzero(np.nan_to_num(scores, nan=-np.inf) > calibration.threshold)
        for i in over:
            step = int(rows[i]) // stream.k
            if step < quiet_until:
                continue
            quiet_until = step + cooldown
            top = attribute(stream, int(i), calibration.obs_mean, names)
            alert = {
                "step": step,
                "row": int(rows[i]),
                "line": lines[int(rows[i]) - (stream.rows - len(obs))],
                "surprise": round(float(scores[i]), 6),
                "threshold": round(calibration.threshold, 6),
                "top": top,
            }
            if sid is not None:
                alert["stream"] = sid
            stats.alerts += 1
            emit(alert)
    stats.seconds = time.perf_counter() - t0
    return stats


def monitor(
    opts: MonitorOptions,
    emit: Callable[[dict], None],
    bad: Callable[[dict], None],
    device: torch.device | None = None,
) -> tuple[MonitorStats, Calibration]:
    """``physjepa monitor``: calibrate (on the run's validation episodes, or on the normal
    episodes of ``opts.calibrate``), then stream ``opts.source`` and emit alerts."""
    if opts.source is None:
        raise UserError(
            "--source is required: a CSV file, '-' for stdin, a frame directory or an .h5 file"
        )
    device = device or resolve_device(opts.device, "--device")
    run = Run.open(opts.run)
    model = run.load_model(device)
    obs_key, k = run.data.obs_key, run.frameskip
    names, action_names = run_channels(run)
    with EpisodeFile(opts.calibrate or run.data.path) as f:
        run.check_data(f)
        eps = (
            np.arange(f.n_episodes)
            if opts.calibrate
            else split_episodes(f.n_episodes, run.config.data.val_fraction)[1]
        )
        normal = [(ep[obs_key], ep["action"]) for ep in map(f.episode, map(int, eps))]
    cal = calibrate(model, normal, opts.far, k)
    if opts.threshold is not None:
        cal.threshold = float(opts.threshold)
    skipped = []

    def skip(info: dict) -> None:
        skipped.append(info)
        bad(info)

    chunks = open_source(
        opts.source, obs_key, run.shape.obs_shape, names, action_names, run.raw_action_dim,
        skip, opts.actions, opts.follow, opts.idle_exit,
    )  # fmt: skip

    def fresh() -> StreamingSurprise:
        return StreamingSurprise(model, k, device=device)

    stats = run_monitor(fresh(), chunks, cal, names, emit, opts.cooldown, fresh)
    stats.skipped = len(skipped)
    return stats, cal


def run_channels(run: Run) -> tuple[list[str], list[str]]:
    """The observation channels and action columns a run's streams carry: from its
    config.json, or (runs from before they were recorded) from its data file."""
    obs_key = run.data.obs_key
    names, actions = run.data.obs_names, run.data.action_names
    if (names is None and obs_key != "pixels") or actions is None:
        with EpisodeFile(run.data.path) as f:
            if names is None and obs_key != "pixels":
                names = f.channel_names(obs_key)
            if actions is None:
                actions = [] if f.attrs().get("no_actions") else f.channel_names("action")
    return names or [], actions
