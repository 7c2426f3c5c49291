"""Checks shared by the importers: the source and output paths, frame and vector arrays."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from physjepa.data.episodes import DataError

_F32_MAX = float(np.finfo(np.float32).max)
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def natural_key(path: Path) -> list:
    """Sort key for file names with numbers compared as numbers: ep2 before ep10."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def check_paths(src: Path, out: Path, overwrite: bool, what: str) -> None:
    """``src`` exists; ``out`` is not ``src`` (nor inside it) and is free unless ``overwrite``."""
    try:
        exists = src.exists()
    except (OSError, ValueError) as e:
        raise DataError(f"cannot use {src} as {what} ({e})") from None
    if not exists:
        raise DataError(f"{src} not found; pass {what}")
    if not (src.is_dir() or src.is_file()):  # opening a pipe would wait for a writer
        raise DataError(f"{src} is not a regular file (a pipe, device or socket); pass {what}")
    if out.exists() and os.path.samefile(out, src):
        raise DataError(f"--to {out} is the source itself; choose another output file (.h5)")
    if out.exists() and out.is_dir():
        raise DataError(f"--to {out} is a directory; pass an episode file to write (.h5)")
    if out.exists() and not overwrite:
        raise DataError(f"{out} already exists; choose another output file or pass --overwrite")


def as_pixels(where: str, name: str, arr: np.ndarray) -> np.ndarray:
    """``arr`` as (T, H, W, 3) uint8; (T, 3, H, W) is transposed; integers in 0..255 are cast."""
    arr = np.asarray(arr)
    if arr.ndim == 4 and arr.shape[-1] != 3 and arr.shape[1] == 3:
        arr = arr.transpose(0, 2, 3, 1)  # channels first
    if arr.ndim != 4 or arr.shape[-1] != 3 or min(arr.shape[1:3], default=0) < 1:
        raise DataError(
            f"{where}: {name!r} must be frames shaped (T, H, W, 3), got shape {arr.shape}"
        )
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind in "iub" and arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise DataError(
                f"{where}: {name!r} holds values {lo}..{hi}; frames must be 0..255 (uint8)"
            )
        return arr.astype(np.uint8)
    if arr.dtype.kind in "iub":
        return arr.astype(np.uint8)
    raise DataError(
        f"{where}: {name!r} has dtype {arr.dtype}; frames must be uint8 0..255 "
        f"(scale floats in 0..1 by 255 and cast to uint8)"
    )


def as_vectors(where: str, name: str, arr: np.ndarray, rows: int | None = None) -> np.ndarray:
    """``arr`` as (T, K) float32, K >= 1 (a vector (T,) becomes (T, 1)); finite values only."""
    arr = np.asarray(arr)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise DataError(f"{where}: {name!r} must be shaped (T, K), got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{where}: {name!r} has dtype {arr.dtype}; it must hold numbers")
    if rows is not None and arr.shape[0] != rows:
        raise DataError(
            f"{where}: {name!r} has {arr.shape[0]} rows but the episode has {rows} steps; "
            f"every array needs one row per step"
        )
    values = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(values) | (np.abs(values) > _F32_MAX)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{where}: {name!r} holds {float(values[row, col])!r} at row {row}, column {col} "
            f"(NaN, inf or too large for float32); fix or drop that step"
        )
    return arr.astype(np.float32)


def prefixed(where: str, e: DataError) -> DataError:
    """``e`` with ``where`` in front, unless its message already names it."""
    text = str(e)
    return e if text.startswith(where) else DataError(f"{where}: {text}")


def as_fps(where: str, name: str, value) -> float:
    """A recording's frame rate from ``value``: one positive finite number (a scalar, or an
    array holding the same number throughout, e.g. one per step); 0 means unknown."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf" or arr.size == 0:
        raise DataError(
            f"{where}: {name!r} must be a number (frames per second), got {arr.dtype} "
            f"shape {arr.shape}"
        )
    values = np.unique(arr.astype(np.float64))
    if len(values) != 1 or not (np.isfinite(values[0]) and values[0] >= 0):
        shown = ", ".join(f"{v:g}" for v in values[:3])
        raise DataError(
            f"{where}: {name!r} must be one finite number >= 0 (frames per second), got "
            f"{shown}{', ...' if len(values) > 3 else ''}; store a single rate"
        )
    return float(values[0])
