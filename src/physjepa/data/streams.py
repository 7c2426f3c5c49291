"""``physjepa monitor``: streaming surprise over a recorded or live stream, with alerts.

Sources (what ``--source`` points at):

- a CSV file, or ``-`` for stdin: a header naming the run's observation channels and its
  action columns (``physjepa monitor RUN --columns`` lists them), then one row per time step;
  with ``follow`` the file is watched for new rows (a live log);
- a directory of frames (``*.png`` or ``*.npy``, in name order), with actions from an
  optional CSV / ``.npy`` file (zeros otherwise: the model is told nothing was done);
- a video (``.mp4``, ``.avi``, ``.mov``, ``.mkv``, ``.webm``, ``.m4v``), decoded as
  ``physjepa convert`` imports one (centre-cropped to a square, resized to the run's frame
  size), with actions as for a frame directory;
- an episode file (``.h5``): its episodes one after the other, each a fresh stream.

Rows are scored in micro-batches of whatever has arrived (at most ``batch``), so a fast
stream is scored at full speed and a slow one row by row. A malformed row (wrong field
count, a value that is not a finite number) is reported on the ``bad`` callback and skipped:
never fatal. Each alert is one JSON object: the step, the row, its surprise, the threshold,
and the channels (or image regions) that contributed most.
"""

from __future__ import annotations

import csv
import io
import os
import select
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from physjepa.data.episodes import DataError, EpisodeFile
from physjepa.data.importers._common import VIDEO_SUFFIXES

Chunk = tuple[np.ndarray, np.ndarray, list[int], object]  # obs, actions, line numbers, stream id


# -- sources ---------------------------------------------------------------------------------
def csv_chunks(
    source: str,
    obs_names: list[str],
    action_names: list[str],
    bad: Callable[[dict], None],
    batch: int = 256,
    follow: bool = False,
    idle_exit: float | None = None,
    action_dim: int = 1,
) -> Iterator[Chunk]:
    """Rows of a CSV file (or stdin for ``-``) as chunks of at most ``batch`` rows. With no
    ``action_names`` (a run trained without actions) every row gets ``action_dim`` zeros."""
    f = sys.stdin if source == "-" else open(source, newline="", encoding="utf-8")  # noqa: SIM115
    try:
        header_line = f.readline()
        if not header_line:
            raise DataError(f"{source} is empty: the first line must name the columns")
        header = [h.strip() for h in next(csv.reader([header_line]))]
        missing = [c for c in obs_names + action_names if c not in header]
        if missing:
            raise DataError(
                f"{source}: the header lacks column(s) {missing}; the run observes {obs_names} "
                f"and acts with {action_names} (see 'physjepa monitor RUN --columns')"
            )
        o_idx = [header.index(c) for c in obs_names]
        a_idx = [header.index(c) for c in action_names]
        width = len(header)
        line_no, obs, act, lines = 1, [], [], []
        idle_since = time.monotonic()
        while True:
            line = f.readline()
            idle = idle_exit is not None and time.monotonic() - idle_since > idle_exit
            partial = bool(line) and not line.endswith("\n") and follow and source != "-"
            if not line or (partial and not idle):
                if obs:  # score what has arrived before waiting
                    yield np.asarray(obs, np.float32), np.asarray(act, np.float32), lines, None
                    obs, act, lines = [], [], []
                if not follow or idle:
                    return
                if partial:  # a row still being written: read it again once it is whole
                    f.seek(f.tell() - len(line.encode("utf-8")))
                time.sleep(0.05)
                continue
            idle_since = time.monotonic()
            line_no += 1
            if not line.strip():
                continue
            # plain numbers need no CSV quoting rules: split is ~5x faster than csv.reader
            fields = line.rstrip("\r\n").split(",") if '"' not in line else next(csv.reader([line]))
            row = _parse(fields, width, o_idx, a_idx, action_dim)
            if isinstance(row, str):
                bad({"skipped_line": line_no, "reason": row})
            else:
                obs.append(row[0])
                act.append(row[1])
                lines.append(line_no)
            if len(obs) >= batch or (obs and not _more_ready(f)):
                yield np.asarray(obs, np.float32), np.asarray(act, np.float32), lines, None
                obs, act, lines = [], [], []
    finally:
        if f is not sys.stdin:
            f.close()


def _parse(fields: list[str], width: int, o_idx: list[int], a_idx: list[int], action_dim: int):
    """(obs, action) of one CSV row, or a string saying why the row is malformed. A run
    trained without actions gets ``action_dim`` zeros."""
    if len(fields) != width:
        return f"{len(fields)} fields, the header has {width}"
    try:
        o = [float(fields[i]) for i in o_idx]
        a = [float(fields[i]) for i in a_idx] if a_idx else [0.0] * action_dim
    except ValueError:
        return "a value is not a number"
    if not all(map(np.isfinite, o + a)):
        return "NaN or inf"
    return o, a


def _more_ready(f: io.TextIOBase) -> bool:
    """Whether more input can be read now without waiting (always for regular files)."""
    try:
        return bool(select.select([f], [], [], 0)[0])
    except (ValueError, OSError, io.UnsupportedOperation):
        return True


def frame_chunks(
    directory: Path,
    shape: tuple[int, ...],
    action_dim: int,
    actions: str | None,
    bad: Callable[[dict], None],
    batch: int = 256,
) -> Iterator[Chunk]:
    """Frames ``*.png`` / ``*.npy`` of a directory in name order, with their actions; a
    frame that cannot be read or has another shape than ``shape`` is reported and skipped.
    ``line`` in alerts is the frame's 1-based position in the directory."""
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in (".png", ".npy"))
    if not files:
        raise DataError(f"{directory} holds no .png or .npy frames")
    acts = _load_actions(actions, len(files), action_dim)
    for lo in range(0, len(files), batch):
        frames, keep = [], []
        for i, p in enumerate(files[lo : lo + batch], start=lo):
            x = _read_frame(p, shape)
            if isinstance(x, str):
                bad({"skipped_frame": p.name, "reason": x})
            else:
                frames.append(x)
                keep.append(i)
        if frames:
            yield np.stack(frames), acts[keep], [i + 1 for i in keep], None


def video_chunks(
    path: Path,
    shape: tuple[int, ...],
    action_dim: int,
    actions: str | None,
    batch: int = 256,
) -> Iterator[Chunk]:
    """The frames of a video with their actions, in chunks of at most ``batch``. Decoded by
    the video importer's ``decode`` (what ``physjepa convert`` does with a video): every frame
    centre-cropped to a square and resized to the run's ``shape[0]``, so a model trained on a
    converted video sees the same frames here. ``line`` in alerts is the frame's 1-based
    position. The whole video is decoded here, before the first chunk (a broken file is
    refused before anything is scored); it is held as ``T x size x size x 3`` bytes."""
    from physjepa.data.importers.video import decode

    try:
        frames, _ = decode(path, shape[0])
    except DataError as e:
        if "pip install" in str(e):  # PyAV is missing: decode already says how to fix it
            raise
        raise DataError(
            f"{e}; monitor needs a video that plays: re-encode it (e.g. ffmpeg -i {path.name} "
            "-c:v libx264 fixed.mp4) or pass a directory of its frames"
        ) from None
    acts = _load_actions(actions, len(frames), action_dim)
    return _chunks(frames, acts, batch)


def _chunks(frames: np.ndarray, acts: np.ndarray, batch: int) -> Iterator[Chunk]:
    for lo in range(0, len(frames), batch):
        hi = min(lo + batch, len(frames))
        yield frames[lo:hi], acts[lo:hi], list(range(lo + 1, hi + 1)), None


def _read_frame(path: Path, shape: tuple[int, ...]) -> np.ndarray | str:
    """The frame as uint8 (H, W, 3), or why it cannot be used."""
    try:
        if path.suffix.lower() == ".npy":
            x = np.load(path, allow_pickle=False)
        else:
            from PIL import Image

            with Image.open(path) as im:
                x = np.asarray(im.convert("RGB"))
    except Exception as e:  # noqa: BLE001 - any unreadable frame is skipped, not fatal
        return f"unreadable ({type(e).__name__})"
    if x.dtype != np.uint8:
        return f"dtype {x.dtype}, frames must be uint8"
    if tuple(x.shape) != tuple(shape):
        return f"shape {tuple(x.shape)}, the run observes {tuple(shape)}"
    return x


def _load_actions(path: str | None, n: int, dim: int) -> np.ndarray:
    if path is None:
        return np.zeros((n, dim), np.float32)
    if path.endswith(".npy"):
        a = np.load(path, allow_pickle=False)
    else:
        a = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float32)
    a = np.asarray(a, np.float32)
    if a.shape != (n, dim) or not np.isfinite(a).all():
        raise DataError(
            f"{path}: actions must be ({n}, {dim}) finite numbers, one row per frame; got {a.shape}"
        )
    return a


def episode_chunks(path: str, obs_key: str, batch: int = 256) -> Iterator[Chunk]:
    """Every episode of an episode file, each its own stream."""
    with EpisodeFile(path) as f:
        if not f.has(obs_key):
            raise DataError(f"{path} has no {obs_key!r} column, which the run observes")
        for e in range(f.n_episodes):
            ep = f.episode(e)
            for lo in range(0, len(ep["action"]), batch):
                o, a = ep[obs_key][lo : lo + batch], ep["action"][lo : lo + batch]
                yield o, a, list(range(lo, lo + len(o))), e


def open_source(
    source: str,
    obs_key: str,
    obs_shape: tuple[int, ...],
    obs_names: list[str],
    action_names: list[str],
    action_dim: int,
    bad: Callable[[dict], None],
    actions: str | None = None,
    follow: bool = False,
    idle_exit: float | None = None,
) -> Iterator[Chunk]:
    """The chunk iterator for ``source`` (see the module docstring)."""
    if source != "-" and not os.path.exists(source):
        raise FileNotFoundError(f"{source} does not exist")
    if source != "-" and Path(source).is_dir():
        if obs_key != "pixels":
            raise DataError(f"{source} is a directory of frames, but the run observes {obs_key}")
        return frame_chunks(Path(source), obs_shape, action_dim, actions, bad)
    if source.endswith((".h5", ".hdf5")):
        return episode_chunks(source, obs_key)
    if Path(source).suffix.lower() in VIDEO_SUFFIXES:
        if obs_key != "pixels":
            raise DataError(
                f"{source} is a video, but the run observes {obs_key} (vectors of "
                f"{obs_shape[0]} channels), not frames: pass a CSV of its channels ('physjepa "
                "monitor RUN --columns' lists them), or monitor with a run trained on pixels"
            )
        return video_chunks(Path(source), obs_shape, action_dim, actions)
    if obs_key == "pixels":
        raise DataError(
            f"{source}: a run on pixels reads frames from a directory, a video or an episode file"
        )
    return csv_chunks(
        source, obs_names, action_names, bad, follow=follow, idle_exit=idle_exit,
        action_dim=action_dim,
    )  # fmt: skip
