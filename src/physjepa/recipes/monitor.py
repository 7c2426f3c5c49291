"""``physjepa monitor``: calibrate a surprise threshold on normal data, then score a stream
(``data/streams.py`` reads it) and emit one alert per excursion, with the channels to blame."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from physjepa.data.episodes import DataError, EpisodeFile
from physjepa.data.streams import Chunk, open_source
from physjepa.errors import UserError
from physjepa.metrics.anomaly import Calibration, StreamingSurprise, attribute


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
    run_dir: str | Path,
    source: str,
    emit: Callable[[dict], None],
    bad: Callable[[dict], None],
    far: float = 0.01,
    threshold: float | None = None,
    calibrate_on: str | None = None,
    actions: str | None = None,
    follow: bool = False,
    idle_exit: float | None = None,
    cooldown: int = 10,
    device: str = "cpu",
) -> tuple[MonitorStats, Calibration]:
    """``physjepa monitor``: calibrate (on the run's validation episodes, or on the normal
    episodes of ``calibrate_on``), then stream ``source`` and emit alerts."""
    from physjepa.data.episodes import split_episodes
    from physjepa.metrics.anomaly import calibrate, check_far
    from physjepa.training.checkpoint import load_run

    if not isinstance(cooldown, int) or cooldown < 1:
        raise UserError(f"--cooldown={cooldown!r} must be an integer >= 1 (steps)")
    if threshold is not None and not np.isfinite(threshold):
        raise UserError(f"--threshold={threshold!r} must be a finite number")
    check_far(far)
    model, cfg, meta = load_run(run_dir, device)
    data = meta["data"]
    obs_key = data.get("obs_key", "pixels")
    k = cfg.data.frameskip
    names, action_names = run_channels(meta)
    with EpisodeFile(calibrate_on or data["path"]) as f:
        if not f.has(obs_key):
            raise DataError(f"{f.path} has no {obs_key!r} column to calibrate on")
        eps = (
            np.arange(f.n_episodes)
            if calibrate_on
            else split_episodes(f.n_episodes, cfg.data.val_fraction)[1]
        )
        normal = [(ep[obs_key], ep["action"]) for ep in map(f.episode, map(int, eps))]
    cal = calibrate(model, normal, far, k)
    if threshold is not None:
        cal.threshold = float(threshold)
    raw_dim = int(meta["spec"]["action_dim"]) // k
    skipped = []

    def skip(info: dict) -> None:
        skipped.append(info)
        bad(info)

    chunks = open_source(
        source, obs_key, tuple(meta["spec"]["obs_shape"]), names, action_names, raw_dim, skip,
        actions, follow, idle_exit,
    )  # fmt: skip

    def fresh() -> StreamingSurprise:
        return StreamingSurprise(model, k, device=device)

    stats = run_monitor(fresh(), chunks, cal, names, emit, cooldown, fresh)
    stats.skipped = len(skipped)
    return stats, cal


def run_channels(meta: dict) -> tuple[list[str], list[str]]:
    """The observation channels and action columns a run's streams carry: from its
    config.json, or (runs from before they were recorded) from its data file."""
    data = meta["data"]
    obs_key = data.get("obs_key", "pixels")
    names, actions = data.get("obs_names"), data.get("action_names")
    if (names is None and obs_key != "pixels") or actions is None:
        with EpisodeFile(data["path"]) as f:
            if names is None and obs_key != "pixels":
                names = f.channel_names(obs_key)
            if actions is None:
                actions = [] if f.attrs().get("no_actions") else f.channel_names("action")
    return names or [], actions
