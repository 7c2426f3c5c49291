"""``physjepa monitor``: calibrate an alarm threshold on normal data, then score a stream
(``data/streams.py`` reads it) and emit one alert per excursion, with the channels to blame.
On sensor rows the score is the larger of the latent surprise and a per-channel check
(``metrics/anomaly.ChannelCheck``, which names the one channel off; ``--no-channel-check``
leaves the surprise alone); on frames it is the latent surprise.
With ``--save`` the alerts and the score trace also go to ``RUN/monitor.json`` (bounded in
size, see :class:`MonitorRecord`), which ``physjepa report`` shows."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from physjepa.data.episodes import EpisodeFile, split_episodes
from physjepa.data.streams import Chunk, open_source
from physjepa.device import resolve_device
from physjepa.errors import UserError
from physjepa.metrics.anomaly import (
    Calibration,
    StreamingSurprise,
    attribute,
    calibrate,
    fit_channel_check,
)
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


class MonitorRecord:
    """What ``--save`` keeps of a stream, bounded whatever its length: the first
    ``max_alerts`` alerts, each with its ``position`` (model steps from the start of the
    source, streams back to back), and the surprise trace max-pooled into at most ``points``
    bins. Bin ``j`` holds the largest surprise of positions ``[j * width, (j + 1) * width)``
    (NaN where none was scored); ``width`` doubles whenever the bins fill, so a spike is
    never pooled away."""

    def __init__(self, points: int = 1000, max_alerts: int = 500):
        self.points, self.max_alerts = points, max_alerts
        self.width = 1
        self.bins: list[float] = []  # the full bins
        self.part, self.part_n = float("nan"), 0  # the bin being filled: its max and its count
        self.steps = 0
        self.alerts: list[dict] = []

    def scores(self, s: np.ndarray) -> int:
        """Record the next model steps' surprises; returns the position of ``s[0]``."""
        base, s = self.steps, np.asarray(s, np.float64)
        if not len(s):
            return base
        self.steps += len(s)
        fill = min(self.width - self.part_n, len(s))
        self.part = float(np.fmax(self.part, np.fmax.reduce(s[:fill])))
        self.part_n += fill
        if self.part_n == self.width:
            self.bins.append(self.part)
            self.part, self.part_n = float("nan"), 0
        rest = s[fill:]
        full = len(rest) // self.width * self.width
        if full:
            self.bins += np.fmax.reduce(rest[:full].reshape(-1, self.width), axis=1).tolist()
        if len(rest) > full:
            self.part, self.part_n = float(np.fmax.reduce(rest[full:])), len(rest) - full
        while len(self.bins) + bool(self.part_n) > self.points:
            b = np.asarray(self.bins)
            if len(b) % 2:  # the odd last bin joins the one being filled
                self.part, self.part_n = float(np.fmax(b[-1], self.part)), self.part_n + self.width
                b = b[:-1]
            self.bins, self.width = np.fmax(b[0::2], b[1::2]).tolist(), self.width * 2
        return base

    def alert(self, position: int, alert: dict) -> None:
        if len(self.alerts) < self.max_alerts:
            self.alerts.append({**alert, "position": position})

    def trace(self) -> dict:
        """``{"every": width, "max": [bin maxima, null where none was scored], "steps": n}``."""
        values = self.bins + ([self.part] if self.part_n else [])
        return {
            "every": self.width,
            "max": [float(f"{v:.6g}") if np.isfinite(v) else None for v in values],
            "steps": self.steps,
        }


def run_monitor(
    stream: StreamingSurprise,
    chunks: Iterator[Chunk],
    calibration: Calibration,
    names: list[str] | None,
    emit: Callable[[dict], None],
    cooldown: int = 10,
    make_stream: Callable[[], StreamingSurprise] | None = None,
    record: MonitorRecord | None = None,
) -> MonitorStats:
    """Score ``chunks`` and ``emit`` an alert for each step above the threshold (at most one
    per ``cooldown`` steps while the surprise stays high); ``record`` keeps them and the
    surprise trace."""
    stats = MonitorStats()
    t0 = time.perf_counter()
    check = calibration.check
    current, quiet_until, state = None, -1, check.stream() if check is not None else None
    for obs, act, lines, sid in chunks:
        if sid != current:  # a new stream (episode): fresh context
            if current is not None and make_stream is not None:
                stream = make_stream()
            current, quiet_until = sid, -1
            state = check.stream() if check is not None else None
        rows, surprise = stream.push(obs, act)
        errors = None
        if check is not None and len(rows):
            errors = check.errors(np.stack(stream.batch_obs), state)
        scores = calibration.score(surprise, errors)
        stats.rows += len(obs)
        stats.scored += int(np.isfinite(scores).sum())
        base = record.scores(scores) if record is not None else 0
        over = np.flatnonzero(np.nan_to_num(scores, nan=-np.inf) > calibration.threshold)
        for i in over:
            step = int(rows[i]) // stream.k
            if step < quiet_until:
                continue
            quiet_until = step + cooldown
            top = attribute(stream, int(i), calibration.obs_mean, names)
            err = None if errors is None else errors[i]
            alert = {
                "step": step,
                "row": int(rows[i]),
                "line": lines[int(rows[i]) - (stream.rows - len(obs))],
                "score": round(float(scores[i]), 6),
                "surprise": round(float(surprise[i]), 6),
                "threshold": round(calibration.threshold, 6),
                "raised_by": "surprise",
                "channel": top[0].get("channel") if top else None,
                "top": top,
            }
            blamed = calibration.blame(float(surprise[i]), err, names)
            if blamed is not None:  # one channel off on its own, beyond the scene's surprise
                alert["raised_by"], alert["channel"] = "channel check", blamed
            if err is not None:
                alert["channel_errors"] = {
                    str(names[c]) if names else str(c): round(float(err[c]), 3)
                    for c in np.argsort(-err)[:3]
                }
            if sid is not None:
                alert["stream"] = sid
            stats.alerts += 1
            emit(alert)
            if record is not None:
                record.alert(base + int(i), alert)
    stats.seconds = time.perf_counter() - t0
    return stats


def use_channel_check(force: bool, off: bool, run: Run, note: Callable[[dict], None]) -> bool:
    """Whether this monitor adds the per-channel check: by default on a run on sensor rows
    of two channels or more whose training episodes are at hand (the check's head is
    fitted on them), with a note on stderr when they are not; ``force``
    (``--channel-check``) makes it an error not to; ``off`` (``--no-channel-check``)
    leaves the surprise alone."""
    if force and off:
        raise UserError("--channel-check and --no-channel-check contradict each other; give one")
    if force and run.data.obs_key == "pixels":
        raise UserError(
            "--channel-check needs a run on sensor rows (data.obs sensors, state or proprio); "
            "this run observes pixels"
        )
    if off or run.data.obs_key == "pixels":
        return False
    missing = not Path(run.data.path).is_file()
    if force and missing:
        raise UserError(
            f"--channel-check fits its head on the run's training episodes, and "
            f"{run.data.path} is missing; restore it, or drop --channel-check"
        )
    if missing:
        note(
            {
                "note": f"no per-channel check: the run's training data {run.data.path} is "
                "missing (the check's head is fitted on it); scoring the latent surprise alone"
            }
        )
        return False
    return force or int(np.prod(run.shape.obs_shape)) >= 2


def monitor(
    opts: MonitorOptions,
    emit: Callable[[dict], None],
    bad: Callable[[dict], None],
    device: torch.device | None = None,
) -> tuple[MonitorStats, Calibration]:
    """``physjepa monitor``: calibrate (on the run's validation episodes, or on the normal
    episodes of ``opts.calibrate``), then stream ``opts.source`` and emit alerts; with
    ``opts.save``, write ``monitor.json`` into the run when the stream ends."""
    if opts.source is None:
        raise UserError(
            "--source is required: a CSV file, '-' for stdin, a frame directory, a video or "
            "an .h5 file"
        )
    t0 = time.perf_counter()
    device = device or resolve_device(opts.device, "--device")
    run = Run.open(opts.run)
    obs_key, k = run.data.obs_key, run.frameskip
    names, action_names = run_channels(run)
    with_check = use_channel_check(opts.channel_check, opts.no_channel_check, run, bad)
    skipped = []

    def skip(info: dict) -> None:
        skipped.append(info)
        bad(info)

    # opened first: a source that cannot be opened is refused before the model loads and
    # calibrates (CSV and frame sources are read lazily, as they arrive)
    chunks = open_source(
        opts.source, obs_key, run.shape.obs_shape, names, action_names, run.raw_action_dim,
        skip, opts.actions, opts.follow, opts.idle_exit,
    )  # fmt: skip
    model = run.load_model(device)
    check = None
    if with_check:  # sensor rows: a per-channel check beside the latent surprise
        with EpisodeFile(run.data.path) as f:
            train = split_episodes(f.n_episodes, run.config.data.val_fraction)[0]
            seen = [(ep[obs_key], ep["action"]) for ep in map(f.episode, map(int, train))]
        check = fit_channel_check(seen, k, opts.far)
    with EpisodeFile(opts.calibrate or run.data.path) as f:
        run.check_data(f)
        eps = (
            np.arange(f.n_episodes)
            if opts.calibrate
            else split_episodes(f.n_episodes, run.config.data.val_fraction)[1]
        )
        normal = [(ep[obs_key], ep["action"]) for ep in map(f.episode, map(int, eps))]
    cal = calibrate(model, normal, opts.far, k, check)
    if opts.threshold is not None:
        cal.threshold = float(opts.threshold)

    def fresh() -> StreamingSurprise:
        return StreamingSurprise(model, k, device=device)

    record = MonitorRecord() if opts.save else None
    stats = run_monitor(fresh(), chunks, cal, names, emit, opts.cooldown, fresh, record)
    stats.skipped = len(skipped)
    if record is not None:
        fps = run.data.fps or None
        result = {
            "source": opts.source,
            "threshold": cal.threshold,
            "threshold_from": "--threshold" if opts.threshold is not None else "calibration",
            "channel_check": check is not None,
            "far": cal.far,
            "calibration": opts.calibrate or "the run's validation episodes",
            "calibration_steps": cal.steps,
            "frameskip": k,
            "fps": fps,
            "rows": stats.rows,
            "scored_steps": stats.scored,
            "skipped_rows": stats.skipped,
            "alerts_total": stats.alerts,
            "alerts": [
                {**a, "time_s": round(a["row"] / fps, 3)} if fps else a for a in record.alerts
            ],
            "trace": record.trace(),
            "checkpoint_sha256": run.checkpoint_sha256(),
            "seconds": round(time.perf_counter() - t0, 2),
        }
        run.write_result("monitor.json", result, indent=None)
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
