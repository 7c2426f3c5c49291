"""The episode file: one HDF5 file, one dataset per column, all episodes back to back.

Columns (rows are time steps of every episode, concatenated):

- ``pixels``  (N, H, W, 3) uint8      observation frames (optional when ``state`` is the observation)
- ``action``  (N, A) float32          ``action[t]`` is applied after ``obs[t]``
- ``state``   (N, S) float32          ground-truth physical quantities (optional)
- ``proprio`` (N, P) float32          proprioception (optional)
- ``ep_offset`` (E,) int64, ``ep_len`` (E,) int32

File attributes: ``format`` ("physjepa-episodes"), ``format_version``, ``world``,
``params_json``, ``fps``, and ``state_spec_json`` (``[[name, shape], ...]``: how the ``state``
vector splits into named quantities). The column names match stable-worldmodel's.

Writes go to ``<out>.partial`` and are renamed when complete, so an interrupted write never
leaves a half file (and never touches a file already at ``out``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

FORMAT = "physjepa-episodes"
FORMAT_VERSION = 1
FRAME_COLUMNS = ("pixels", "action", "state", "proprio")
FLOAT_COLUMNS = ("action", "state", "proprio")


class DataError(ValueError):
    """An episode file is missing, corrupt or inconsistent; the message says how to fix it."""


class EpisodeWriter:
    """Append episodes to a new episode file; ``close()`` publishes it atomically.

    Use as a context manager: on an exception the partial file is removed and ``path`` is
    left as it was.
    """

    def __init__(self, path: str | os.PathLike, attrs: dict[str, Any], overwrite: bool = False):
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise DataError(f"{self.path} already exists; choose another --out or pass --overwrite")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(self.path.name + ".partial")
        self._f = h5py.File(self.tmp, "w")
        self._n = 0
        self._lens: list[int] = []
        self._done = False  # closed (published) or aborted
        try:
            self._f.attrs["format"] = FORMAT
            self._f.attrs["format_version"] = FORMAT_VERSION
            for k, v in attrs.items():
                self._f.attrs[k] = v
        except Exception:
            self.abort()  # e.g. an attribute h5py cannot store: leave no .partial behind
            raise

    def append(self, episode: dict[str, np.ndarray]) -> None:
        """Add one episode: ``{column: (T, ...) array}`` with the same T for every column."""
        lens = {k: len(v) for k, v in episode.items()}
        if len(set(lens.values())) != 1:
            raise DataError(f"episode columns have different lengths: {lens}")
        (t,) = set(lens.values())
        if t < 1:
            raise DataError("an episode needs at least one step")
        # Check every column before writing any, so a rejected episode leaves the file as it was.
        arrays = {}
        for name, arr in episode.items():
            if name not in FRAME_COLUMNS:
                raise DataError(f"unknown column {name!r}; valid: {FRAME_COLUMNS}")
            arr = np.asarray(arr, np.uint8 if name == "pixels" else np.float32)
            if name in FLOAT_COLUMNS and not np.isfinite(arr).all():
                raise DataError(f"column {name!r} of episode {len(self._lens)} holds NaN or inf")
            if name not in self._f and self._lens:
                raise DataError(f"column {name!r} is missing from earlier episodes")
            if name in self._f and self._f[name].shape[1:] != arr.shape[1:]:
                raise DataError(
                    f"column {name!r}: episode shape {arr.shape[1:]} != file shape {self._f[name].shape[1:]}"
                )
            arrays[name] = arr
        missing = [k for k in self._f if k in FRAME_COLUMNS and k not in episode]
        if missing:
            raise DataError(f"episode lacks column(s) {missing} that earlier episodes have")
        for name, arr in arrays.items():
            if name not in self._f:
                chunk = (min(64, max(1, t)),) + arr.shape[1:]
                self._f.create_dataset(
                    name,
                    shape=(0,) + arr.shape[1:],
                    maxshape=(None,) + arr.shape[1:],
                    dtype=arr.dtype,
                    chunks=chunk,
                    compression="lzf" if name == "pixels" else None,
                )
            ds = self._f[name]
            ds.resize(self._n + t, axis=0)
            ds[self._n : self._n + t] = arr
        self._n += t
        self._lens.append(t)

    def close(self) -> Path:
        """Publish the file at ``path`` (atomically); calling it again is a no-op."""
        if self._done:
            return self.path
        if not self._lens:
            self.abort()
            raise DataError("no episodes were written")
        lens = np.asarray(self._lens, np.int64)
        self._f.create_dataset("ep_len", data=lens.astype(np.int32))
        self._f.create_dataset(
            "ep_offset", data=np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
        )
        self._f.close()
        os.replace(self.tmp, self.path)
        self._done = True
        return self.path

    def abort(self) -> None:
        self._done = True
        try:
            self._f.close()
        finally:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # An exception discards the partial file; a clean exit publishes it (a no-op after close()).
        if exc_type is not None:
            self.abort()
        elif not self._done:
            self.close()


class EpisodeFile:
    """Read-only, validated view of an episode file. Opening checks structure and lengths."""

    def __init__(self, path: str | os.PathLike, check_values: bool = True):
        self.path = Path(path)
        if not self.path.exists():
            raise DataError(
                f"data file {self.path} not found; create one with 'physjepa collect --out {self.path} ...'"
            )
        if self.path.is_dir():
            raise DataError(f"{self.path} is a directory; pass an episode file (.h5)")
        try:
            self._f = h5py.File(self.path, "r")
        except OSError as e:
            raise DataError(
                f"{self.path} is not a readable HDF5 file ({_short(e)}); re-create it with 'physjepa collect'"
            ) from None
        try:
            self._validate(check_values)
        except DataError:
            self._f.close()
            raise
        except (OSError, KeyError, ValueError, TypeError) as e:
            self._f.close()
            raise DataError(
                f"{self.path} is corrupt ({_short(e)}); re-create it with 'physjepa collect'"
            ) from None

    def _validate(self, check_values: bool) -> None:
        f, p = self._f, self.path
        if f.attrs.get("format") != FORMAT:
            raise DataError(
                f"{p} is not a physjepa episode file (format attribute {f.attrs.get('format')!r}); convert it or re-create it with 'physjepa collect'"
            )
        version = int(f.attrs.get("format_version", -1))
        if version > FORMAT_VERSION:
            raise DataError(
                f"{p} has format_version {version}, newer than this physjepa reads ({FORMAT_VERSION}); upgrade physjepa"
            )
        for col in ("action", "ep_offset", "ep_len"):
            if col not in f:
                raise DataError(f"{p} lacks the required column {col!r}")
        if "pixels" not in f and "state" not in f:
            raise DataError(f"{p} has neither 'pixels' nor 'state': nothing to observe")
        lens = f["ep_len"][()].astype(np.int64)
        offs = f["ep_offset"][()].astype(np.int64)
        if lens.ndim != 1 or lens.shape != offs.shape or len(lens) == 0:
            raise DataError(
                f"{p}: ep_len {lens.shape} and ep_offset {offs.shape} must be equal-length, non-empty vectors"
            )
        if (lens < 1).any():
            raise DataError(
                f"{p}: episode {int(np.argmax(lens < 1))} has length {int(lens.min())} (< 1)"
            )
        expect = np.concatenate([[0], np.cumsum(lens)[:-1]])
        if not np.array_equal(offs, expect):
            bad = int(np.argmax(offs != expect))
            raise DataError(
                f"{p}: ep_offset[{bad}]={int(offs[bad])} but the episode lengths put it at {int(expect[bad])}"
            )
        n = int(lens.sum())
        for col in FRAME_COLUMNS:
            if col in f and f[col].shape[0] != n:
                raise DataError(
                    f"{p}: column {col!r} has {f[col].shape[0]} rows but the episodes sum to {n}"
                )
        if "pixels" in f:
            px = f["pixels"]
            if px.dtype != np.uint8 or px.ndim != 4 or px.shape[-1] != 3:
                raise DataError(
                    f"{p}: pixels must be (N, H, W, 3) uint8, got {px.shape} {px.dtype}"
                )
        for col in FLOAT_COLUMNS:
            if col in f:
                ds = f[col]
                if ds.ndim != 2 or ds.dtype.kind != "f":
                    raise DataError(
                        f"{p}: column {col!r} must be (N, K) float, got {ds.shape} {ds.dtype}"
                    )
                if check_values:
                    for start in range(0, n, 1 << 16):
                        block = ds[start : start + (1 << 16)]
                        if not np.isfinite(block).all():
                            row = start + int(np.argmax(~np.isfinite(block).all(axis=1)))
                            ep = int(np.searchsorted(offs, row, side="right") - 1)
                            raise DataError(
                                f"{p}: column {col!r} holds NaN or inf at row {row} (episode {ep}, step {row - offs[ep]}); fix or drop that episode"
                            )
        self.ep_len = lens
        self.ep_offset = offs
        self.n_steps = n

    # -- metadata ---------------------------------------------------------------------------
    @property
    def n_episodes(self) -> int:
        return len(self.ep_len)

    @property
    def columns(self) -> dict[str, tuple[tuple[int, ...], str]]:
        """``{name: (shape, dtype)}`` of every dataset in the file."""
        return {k: (tuple(self._f[k].shape), str(self._f[k].dtype)) for k in self._f}

    @property
    def world(self) -> str:
        return str(self._f.attrs.get("world", "unknown"))

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self._f.attrs.get("params_json", "{}"))

    @property
    def fps(self) -> float:
        return float(self._f.attrs.get("fps", 0.0))

    @property
    def state_spec(self) -> list[tuple[str, tuple[int, ...]]]:
        """Named quantities packed in the ``state`` column, in order."""
        if "state" not in self._f:
            return []
        raw = self._f.attrs.get("state_spec_json")
        if raw is None:
            return [("state", (self._f["state"].shape[1],))]
        return [(name, tuple(shape)) for name, shape in json.loads(raw)]

    def attrs(self) -> dict[str, Any]:
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in self._f.attrs.items()}

    def has(self, column: str) -> bool:
        return column in self._f

    # -- data -------------------------------------------------------------------------------
    def rows(self, episodes: np.ndarray | list[int] | None = None) -> np.ndarray:
        """Row indices of the given episodes, in order."""
        eps = np.arange(self.n_episodes) if episodes is None else np.asarray(episodes, np.int64)
        return np.concatenate(
            [np.arange(self.ep_offset[e], self.ep_offset[e] + self.ep_len[e]) for e in eps]
        )

    def load(self, column: str, episodes: np.ndarray | list[int] | None = None) -> np.ndarray:
        """Column ``column`` for the given episodes (all by default), concatenated in order."""
        if column not in self._f:
            raise DataError(f"{self.path} has no column {column!r}; it has {sorted(self.columns)}")
        ds = self._f[column]
        if episodes is None:
            return ds[()]
        parts = [
            ds[self.ep_offset[e] : self.ep_offset[e] + self.ep_len[e]]
            for e in np.asarray(episodes, np.int64)
        ]
        return np.concatenate(parts) if parts else np.zeros((0,) + ds.shape[1:], ds.dtype)

    def episode(self, i: int) -> dict[str, np.ndarray]:
        """All frame columns of episode ``i``."""
        if not 0 <= i < self.n_episodes:
            raise DataError(f"episode {i} out of range: the file has {self.n_episodes}")
        a, b = self.ep_offset[i], self.ep_offset[i] + self.ep_len[i]
        return {k: self._f[k][a:b] for k in FRAME_COLUMNS if k in self._f}

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> EpisodeFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def split_episodes(n_episodes: int, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) episode indices: the last ``val_fraction`` of episodes are held out."""
    n_val = max(1, int(round(n_episodes * val_fraction)))
    if n_episodes - n_val < 1:
        raise DataError(
            f"{n_episodes} episode(s) cannot be split into train and held-out sets; collect at least 2"
        )
    idx = np.arange(n_episodes)
    return idx[: n_episodes - n_val], idx[n_episodes - n_val :]


def _short(e: Exception) -> str:
    return str(e).splitlines()[0][:200] if str(e) else type(e).__name__
