"""Import a folder of videos: each video file is one episode, decoded once here with PyAV so
that training never decodes video.

Frames are centre-cropped to a square and resized to ``size`` x ``size``. Actions come from an
optional CSV per video, ``<video stem>.csv`` beside the video or in ``actions_dir``: a header
row of action names, then one row of numbers per frame. Either every video has one or none
does; with none, the file holds one zero action column and the attribute ``no_actions=1``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import numpy as np

from physjepa.data.episodes import DataError, EpisodeWriter
from physjepa.data.importers._common import VIDEO_SUFFIXES, check_paths, natural_key, prefixed
from physjepa.worlds.render import square_resize


def video_files(src: Path) -> list[Path]:
    """The videos at ``src``: the file itself, or a directory's video files in name order."""
    if src.is_dir():
        files = sorted(
            (p for p in src.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()),
            key=natural_key,
        )
        if not files:
            raise DataError(
                f"{src} holds no videos ({', '.join(VIDEO_SUFFIXES)}); pass a folder of videos"
            )
        return files
    return [src]


def decode(path: Path, size: int) -> tuple[np.ndarray, float]:
    """Every frame of the first video stream of ``path`` as (T, size, size, 3) uint8, and fps."""
    try:
        import av
    except ImportError:
        raise DataError(f"reading {path} needs PyAV: pip install av") from None

    frames = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"{path} has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else 0.0
            for frame in container.decode(stream):
                frames.append(square_resize(frame.to_image(), size))
    except DataError:
        raise
    except (av.error.FFmpegError, OSError, ValueError, EOFError) as e:
        text = " ".join(str(e).split())[:200]
        raise DataError(f"{path} is not a readable video ({text})") from None
    if not frames:
        raise DataError(f"{path} holds no decodable frames")
    if not (math.isfinite(fps) and fps >= 0):
        fps = 0.0
    return np.stack(frames), fps


def read_actions(path: Path, frames: int, video: Path) -> tuple[list[str], np.ndarray]:
    """Action names and a (frames, A) float32 array from the CSV at ``path``."""
    rows: list[list[float]] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            if not header or not any(header):
                raise DataError(f"{path} is empty; it needs a header row of action names")
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                line = reader.line_num
                if len(row) != len(header):
                    raise DataError(
                        f"{path}: line {line} has {len(row)} field(s) but the header has "
                        f"{len(header)}"
                    )
                values = []
                for name, cell in zip(header, row):
                    try:
                        v = float(cell)
                    except ValueError:
                        raise DataError(
                            f"{path}: line {line}, column {name!r}: {cell.strip()[:40]!r} is not a "
                            "number"
                        ) from None
                    if not math.isfinite(v) or abs(v) > float(np.finfo(np.float32).max):
                        raise DataError(
                            f"{path}: line {line}, column {name!r}: {cell.strip()[:40]!r} is NaN, "
                            f"infinite or too large; actions must be finite numbers"
                        )
                    values.append(v)
                rows.append(values)
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason}); save it as UTF-8 CSV") from None
    except csv.Error as e:
        raise DataError(f"{path}: unreadable CSV ({e})") from None
    except OSError as e:
        raise DataError(f"cannot read {path} ({e.strerror or e})") from None
    if len(rows) != frames:
        raise DataError(
            f"{path} has {len(rows)} action row(s) but {video.name} has {frames} frames; "
            f"give one row per frame"
        )
    return header, np.asarray(rows, np.float32).reshape(frames, len(header))


def import_videos(
    src: str | os.PathLike,
    out: str | os.PathLike,
    overwrite: bool = False,
    size: int = 64,
    actions_dir: str | os.PathLike | None = None,
) -> Path:
    """Write the videos at ``src`` (a folder, or one video) as an episode file at ``out``."""
    src, out = Path(src), Path(out)
    check_paths(src, out, overwrite, "a folder of videos")
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or not 8 <= size <= 4096:
        raise DataError(f"--size must be an integer from 8 to 4096 pixels, got {size!r}")
    size = int(size)
    if actions_dir is not None and not Path(actions_dir).is_dir():
        raise DataError(f"actions directory {actions_dir} not found")
    files = video_files(src)

    def csv_for(video: Path) -> Path | None:
        for folder in ([Path(actions_dir)] if actions_dir is not None else []) + [video.parent]:
            p = folder / f"{video.stem}.csv"
            if p.is_file():
                return p
        return None

    csvs = [csv_for(v) for v in files]
    if any(csvs) and not all(csvs):
        have = next(v for v, c in zip(files, csvs) if c)
        lack = next(v for v, c in zip(files, csvs) if not c)
        raise DataError(
            f"{lack.name} has no action file {lack.stem}.csv but {have.name} has one; "
            f"give every video an action CSV, or none"
        )
    names: list[str] | None = None
    rates = []
    with EpisodeWriter(out, {"world": "video"}, overwrite=overwrite) as writer:
        for video, actions_csv in zip(files, csvs):
            pixels, fps = decode(video, size)
            rates.append(fps)
            if actions_csv is not None:
                header, action = read_actions(actions_csv, len(pixels), video)
                if names is None:
                    names = header
                elif header != names:
                    raise DataError(
                        f"{actions_csv}: action columns {header} differ from the first video's "
                        f"{names}"
                    )
            else:
                action = np.zeros((len(pixels), 1), np.float32)
            try:
                writer.append({"pixels": pixels, "action": action})
            except DataError as e:
                raise prefixed(str(video), e) from None
        fps = rates[0] if all(abs(r - rates[0]) < 1e-6 for r in rates) else 0.0
        attrs = {
            "params_json": json.dumps(
                {
                    "source": src.name,
                    "importer": "video",
                    "size": size,
                    "videos": [v.name for v in files][:1000],
                    "fps": rates[:1000],
                }
            ),
            "fps": float(fps),
            "policy": "recorded",
        }
        if names is None:
            attrs["no_actions"] = 1
        else:
            attrs["action_names_json"] = json.dumps(names)
        writer.set_attrs(attrs)
        return writer.close()
