"""The episode file: one HDF5 file, one dataset per column, all episodes back to back.

Columns (rows are time steps of every episode, concatenated):

- ``pixels``  (N, H, W, 3) uint8      observation frames (optional when ``state`` is observed)
- ``action``  (N, A) float32          ``action[t]`` is applied after ``obs[t]``
- ``state``   (N, S) float32          ground-truth physical quantities (optional)
- ``proprio`` (N, P) float32          proprioception (optional)
- ``sensors`` (N, C) float32          sensor readings (gauges, load cells...) (optional); the
  ``sensor_names_json`` attribute names the channels
- ``ep_offset`` (E,) int64, ``ep_len`` (E,) int32

File attributes: ``format`` ("physjepa-episodes"), ``format_version``, ``world``,
``params_json``, ``fps``, and ``state_spec_json`` (``[[name, shape], ...]``: how the ``state``
vector splits into named quantities). The column names match stable-worldmodel's.

Writes go to ``<out>.partial`` and are renamed when complete, so an interrupted write never
leaves a half file (and never touches a file already at ``out``). Frame columns are written with
a Fletcher-32 checksum per chunk, so damaged data fails to read rather than reading back wrong.

Reading never raises anything but ``DataError`` for a bad file: ``EpisodeFile`` checks the
structure on open, and turns what h5py raises in later reads into a ``DataError`` too.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from physjepa.errors import DataError  # noqa: F401  (re-exported)
from physjepa.fileio import cannot_write, make_parent

FORMAT = "physjepa-episodes"
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
FORMAT_VERSION = 1
FRAME_COLUMNS = ("pixels", "action", "state", "proprio", "sensors")
FLOAT_COLUMNS = ("action", "state", "proprio", "sensors")
#: Columns a model can observe, in the order ``data.obs=auto`` prefers them for vectors.
VECTOR_OBS = ("sensors", "state", "proprio")
#: What h5py (and numpy, on what h5py returns) raise while reading a damaged file. Each becomes
#: a DataError; MemoryError and KeyboardInterrupt are deliberately not among them.
_READ_ERRORS = (
    OSError,
    KeyError,
    ValueError,
    TypeError,
    RuntimeError,  # also RecursionError, NotImplementedError
    IndexError,
    AttributeError,
    OverflowError,
)
#: Bytes of a float column checked for NaN/inf at a time.
_CHECK_BLOCK_BYTES = 1 << 24
_MISSING = object()


#: Bytes of one stored chunk to aim for: training streams random windows from the file, and
#: every read decompresses whole chunks, so chunks of a few frames keep random reads cheap
#: (64x64 pixels: 4 rows per chunk; 64-row chunks made a streamed batch ~5x slower).
CHUNK_BYTES = 48 * 1024


def _chunk_rows(arr: np.ndarray) -> int:
    """Rows per chunk for a column like ``arr (T, ...)``: about CHUNK_BYTES, at most 64."""
    row = max(1, arr[0].nbytes if len(arr) else arr.itemsize)
    return int(min(64, max(1, CHUNK_BYTES // row)))


class EpisodeWriter:
    """Append episodes to a new episode file; ``close()`` publishes it atomically.

    Use as a context manager: on an exception the partial file is removed and ``path`` is
    left as it was.
    """

    def __init__(self, path: str | os.PathLike, attrs: dict[str, Any], overwrite: bool = False):
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise DataError(f"{self.path} already exists; choose another --out or pass --overwrite")
        make_parent(self.path)
        self.tmp = self.path.with_name(self.path.name + ".partial")
        try:
            self._f = h5py.File(self.tmp, "w")
        except OSError as e:
            raise cannot_write(self.path, e) from None
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
                    f"column {name!r}: episode shape {arr.shape[1:]} != file shape "
                    f"{self._f[name].shape[1:]}"
                )
            arrays[name] = arr
        missing = [k for k in self._f if k in FRAME_COLUMNS and k not in episode]
        if missing:
            raise DataError(f"episode lacks column(s) {missing} that earlier episodes have")
        for name, arr in arrays.items():
            if name not in self._f:
                chunk = (_chunk_rows(arr),) + arr.shape[1:]
                self._f.create_dataset(
                    name,
                    shape=(0,) + arr.shape[1:],
                    maxshape=(None,) + arr.shape[1:],
                    dtype=arr.dtype,
                    chunks=chunk,
                    compression="lzf" if name == "pixels" else None,
                    # a checksum per chunk: damaged bytes fail the read instead of decoding
                    # (lzf) or reading back as silently different data
                    fletcher32=True,
                )
            ds = self._f[name]
            ds.resize(self._n + t, axis=0)
            ds[self._n : self._n + t] = arr
        self._n += t
        self._lens.append(t)

    def set_attrs(self, attrs: dict[str, Any]) -> None:
        """Add or replace file attributes before ``close`` (e.g. a summary of the episodes)."""
        for k, v in attrs.items():
            self._f.attrs[k] = v

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


def _import_hint(path: Path) -> str | None:
    """For a recording physjepa imports (an .npz, a video, a LeRobot dataset, a table...) met
    where an episode file belongs: what it is and the command that converts it; else None."""
    from physjepa.data.importers import import_hint  # not at the top: importers build on this

    return import_hint(path)


class EpisodeFile:
    """Read-only, validated view of an episode file. Opening checks structure and lengths.

    Every failure, on open or in a later read, is one ``DataError`` naming the file: damaged
    bytes, wrong dtypes or shapes, unwritten data, NaN/inf (with ``check_values``), and
    malformed attributes (``params_json``, ``state_spec_json``, ``fps``, checked when read).
    """

    def __init__(self, path: str | os.PathLike, check_values: bool = True):
        self.path = Path(path)
        try:
            exists, is_dir, is_file = (
                self.path.exists(),
                self.path.is_dir(),
                self.path.is_file(),
            )
        except (OSError, ValueError) as e:  # a name too long, a NUL byte in it, ...
            raise DataError(
                f"cannot use {self.path} as a data file ({_short(e)}); pass the path of an episode "
                "file (.h5)"
            ) from None
        if not exists:
            if self.path.suffix.lower() not in ("", *HDF5_SUFFIXES):
                raise DataError(
                    f"data file {self.path} not found; pass an episode file (.h5): 'physjepa "
                    "convert' makes one of a recording, 'physjepa collect' in a built-in world"
                )
            raise DataError(
                f"data file {self.path} not found; create one with 'physjepa collect --out "
                f"{self.path} ...'"
            )
        if is_dir:
            hint = _import_hint(self.path)
            raise DataError(
                f"{self.path} is a directory, not an episode file; {hint}"
                if hint
                else f"{self.path} is a directory; pass an episode file (.h5)"
            )
        if not is_file:  # opening a pipe would block until something writes to it
            raise DataError(
                f"{self.path} is not a regular file (a pipe, device or socket); pass an episode "
                "file (.h5)"
            )
        try:
            self._f = h5py.File(self.path, "r")
        except _READ_ERRORS as e:
            hint = _import_hint(self.path)
            raise DataError(
                f"{self.path} is not an episode file (HDF5); {hint}"
                if hint
                else f"{self.path} is not a readable HDF5 file ({_short(e)}); re-create it with "
                "'physjepa collect'"
            ) from None
        try:
            self._validate(check_values)
        except DataError:
            self._f.close()
            raise
        except _READ_ERRORS as e:
            self._f.close()
            raise DataError(
                f"{self.path} is corrupt ({_short(e)}); re-create it with 'physjepa collect'"
            ) from None

    def _validate(self, check_values: bool) -> None:
        f, p = self._f, self.path
        fmt = _plain(f.attrs.get("format"))
        if isinstance(fmt, bytes):
            fmt = fmt.decode("utf-8", "replace")
        if fmt != FORMAT:
            hint = _import_hint(p)
            raise DataError(
                f"{p} is not a physjepa episode file (format attribute {_clip(fmt)}); "
                + (hint or "convert it or re-create it with 'physjepa collect'")
            )
        raw_version = _plain(f.attrs.get("format_version", -1))
        version = _as_int(raw_version)
        if version is None:
            raise DataError(
                f"{p}: attribute 'format_version' must be an integer, got {_clip(raw_version)}; "
                "re-create the file with 'physjepa collect'"
            )
        if version > FORMAT_VERSION:
            raise DataError(
                f"{p} has format_version {version}, newer than this physjepa reads "
                f"({FORMAT_VERSION}); upgrade physjepa"
            )
        for col in ("action", "ep_offset", "ep_len"):
            if col not in f:
                raise DataError(
                    f"{p} lacks the required column {col!r}; re-create the file with 'physjepa "
                    "collect'"
                )
        if not any(c in f for c in ("pixels", *VECTOR_OBS)):
            raise DataError(
                f"{p} has none of 'pixels', 'sensors', 'state', 'proprio': nothing to observe; "
                "re-create the file with 'physjepa collect'"
            )
        # Shapes and dtypes first, from the metadata alone: nothing is read before they pass.
        ds = {k: self._dataset(k) for k in (*FRAME_COLUMNS, "ep_len", "ep_offset") if k in f}
        for name in ("ep_len", "ep_offset"):
            d = ds[name]
            if d.shape is None or len(d.shape) != 1 or d.dtype.kind not in "iu":
                raise DataError(
                    f"{p}: {name} must be a vector of integers, got {_desc(d)}; re-create the file "
                    "with 'physjepa collect'"
                )
        if "pixels" in ds:
            px = ds["pixels"]
            if (
                px.shape is None
                or px.dtype != np.uint8
                or len(px.shape) != 4
                or px.shape[-1] != 3
                or min(px.shape[1:3]) < 1
            ):
                raise DataError(
                    f"{p}: pixels must be (N, H, W, 3) uint8, got {_desc(px)}; re-create the file "
                    "with 'physjepa collect'"
                )
        for col in FLOAT_COLUMNS:
            if col in ds:
                d = ds[col]
                if d.shape is None or len(d.shape) != 2 or d.dtype.kind != "f" or d.shape[1] < 1:
                    raise DataError(
                        f"{p}: column {col!r} must be (N, K) float with K >= 1, got {_desc(d)}; "
                        "re-create the file with 'physjepa collect'"
                    )
        for name, d in ds.items():
            check_stored(p, name, d)
        # The episode index: every episode at least one step, back to back, covering every row.
        rows = ds["action"].shape[0]
        if ds["ep_len"].shape != ds["ep_offset"].shape or ds["ep_len"].shape[0] == 0:
            raise DataError(
                f"{p}: ep_len {ds['ep_len'].shape} and ep_offset {ds['ep_offset'].shape} must be "
                "equal-length, non-empty vectors; re-create the file with 'physjepa collect'"
            )
        if ds["ep_len"].shape[0] > rows:
            raise DataError(
                f"{p}: ep_len lists {ds['ep_len'].shape[0]} episodes but column 'action' has only "
                f"{rows} rows; re-create the file with 'physjepa collect'"
            )
        lens = ds["ep_len"][()]
        offs = ds["ep_offset"][()]
        if (lens < 1).any():
            raise DataError(
                f"{p}: episode {int(np.argmax(lens < 1))} has length {int(lens.min())} (< 1); "
                "re-create the file with 'physjepa collect'"
            )
        if (lens > rows).any():
            bad = int(np.argmax(lens > rows))
            raise DataError(
                f"{p}: episode {bad} has length {int(lens[bad])} but column 'action' has only "
                f"{rows} rows; re-create the file with 'physjepa collect'"
            )
        lens = lens.astype(np.int64)  # each in [1, rows]: no wrap-around below
        if float(lens.sum(dtype=np.float64)) > rows:
            raise DataError(
                f"{p}: column 'action' has {rows} rows but the episodes sum to "
                f"{float(lens.sum(dtype=np.float64)):.0f}; re-create the file with 'physjepa "
                "collect'"
            )
        expect = np.concatenate([[0], np.cumsum(lens)[:-1]])
        if not np.array_equal(offs, expect):
            bad = int(np.argmax(offs != expect))
            raise DataError(
                f"{p}: ep_offset[{bad}]={int(offs[bad])} but the episode lengths put it at "
                f"{int(expect[bad])}; re-create the file with 'physjepa collect'"
            )
        n = int(lens.sum())
        for col in FRAME_COLUMNS:
            if col in ds and ds[col].shape[0] != n:
                raise DataError(
                    f"{p}: column {col!r} has {ds[col].shape[0]} rows but the episodes sum to {n}; "
                    "re-create the file with 'physjepa collect'"
                )
        if check_values:
            for col in FLOAT_COLUMNS:
                if col not in ds:
                    continue
                d = ds[col]
                step = max(1, _CHECK_BLOCK_BYTES // (d.shape[1] * d.dtype.itemsize))
                for start in range(0, n, step):
                    block = d[start : start + step]
                    if not np.isfinite(block).all():
                        row = start + int(np.argmax(~np.isfinite(block).all(axis=1)))
                        ep = int(np.searchsorted(expect, row, side="right") - 1)
                        raise DataError(
                            f"{p}: column {col!r} holds NaN or inf at row {row} (episode {ep}, "
                            f"step {row - expect[ep]}); fix or drop that episode"
                        )
        self.ep_len = lens
        self.ep_offset = expect
        self.n_steps = n

    def _dataset(self, name: str) -> h5py.Dataset:
        try:
            obj = self._f[name]
        except KeyError as e:  # a soft or external link to nothing
            raise DataError(
                f"{self.path}: {name!r} cannot be opened ({_short(e)}); re-create the file with "
                "'physjepa collect'"
            ) from None
        if not isinstance(obj, h5py.Dataset):
            kind = "group" if isinstance(obj, h5py.Group) else type(obj).__name__
            raise DataError(
                f"{self.path}: {name!r} is a {kind}, not a dataset; re-create the file with "
                "'physjepa collect'"
            )
        return obj

    @contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        """Turn what h5py raises on a damaged file, while reading ``what``, into a DataError."""
        if not self._f:
            raise DataError(f"{self.path} was closed; open it again with EpisodeFile")
        try:
            yield
        except DataError:
            raise
        except _READ_ERRORS as e:
            raise DataError(
                f"{self.path}: cannot read {what} ({_short(e)}); the file is corrupt; re-create it "
                "with 'physjepa collect'"
            ) from None

    def _attr(self, name: str, default: Any = None) -> Any:
        """File attribute ``name`` as a plain Python value, ``default`` when absent."""
        with self._reading(f"attribute {name!r}"):
            if name not in self._f.attrs:
                return default
            return _plain(self._f.attrs[name])

    def _json_attr(self, name: str) -> Any:
        """The JSON value of attribute ``name``; ``_MISSING`` when the file has none."""
        raw = self._attr(name, _MISSING)
        if raw is _MISSING:
            return raw
        fix = "fix it or re-create the file with 'physjepa collect'"
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(
                    f"{self.path}: attribute {name!r} is not UTF-8 text; {fix}"
                ) from None
        if not isinstance(raw, str):
            raise DataError(
                f"{self.path}: attribute {name!r} must be a JSON string, got {_clip(raw)}; {fix}"
            )
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as e:
            raise DataError(
                f"{self.path}: attribute {name!r} is not valid JSON ({_short(e)}); {fix}"
            ) from None

    # -- metadata ---------------------------------------------------------------------------
    @property
    def n_episodes(self) -> int:
        return len(self.ep_len)

    @property
    def columns(self) -> dict[str, tuple[tuple[int, ...], str]]:
        """``{name: (shape, dtype)}`` of every dataset in the file."""
        out = {}
        with self._reading("the list of columns"):
            for k in self._f:
                try:
                    obj = self._f[k]
                except KeyError:  # a link to nothing: not a dataset
                    continue
                if isinstance(obj, h5py.Dataset):
                    out[k] = (tuple(obj.shape or ()), str(obj.dtype))
        return out

    @property
    def world(self) -> str:
        raw = self._attr("world", "unknown")
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "replace")
        if not isinstance(raw, str | int | float):
            raise DataError(
                f"{self.path}: attribute 'world' must be a string, got {_clip(raw)}; fix it or "
                "re-create the file with 'physjepa collect'"
            )
        return str(raw)

    @property
    def params(self) -> dict[str, Any]:
        params = self._json_attr("params_json")
        if params is _MISSING:
            return {}
        if not isinstance(params, dict):
            raise DataError(
                f"{self.path}: attribute 'params_json' must hold a JSON object, got "
                f"{_clip(params)}; fix it or re-create the file with 'physjepa collect'"
            )
        return params

    @property
    def fps(self) -> float:
        raw = self._attr("fps", 0.0)
        value = raw
        if isinstance(value, str | bytes):
            try:
                value = float(value)
            except ValueError:
                value = None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < np.inf:
            raise DataError(
                f"{self.path}: attribute 'fps' must be a non-negative number, got {_clip(raw)}; "
                "fix it or re-create the file with 'physjepa collect'"
            )
        return float(value)

    @property
    def state_spec(self) -> list[tuple[str, tuple[int, ...]]]:
        """Named quantities packed in the ``state`` column, in order; they fill it exactly."""
        if not self.has("state"):
            return []
        with self._reading("column 'state'"):
            width = self._f["state"].shape[1]
        spec = self._json_attr("state_spec_json")
        if spec is _MISSING:
            return [("state", (width,))]
        fix = "fix it or re-create the file with 'physjepa collect'"
        if not (
            isinstance(spec, list)
            and all(
                isinstance(item, list)
                and len(item) == 2
                and isinstance(item[0], str)
                and isinstance(item[1], list)
                and all(type(d) is int and d >= 1 for d in item[1])
                for item in spec
            )
        ):
            raise DataError(
                f"{self.path}: attribute 'state_spec_json' must be a JSON list of [name, shape] "
                f'pairs like [["pos", [2]]], got {_clip(spec)}; {fix}'
            )
        out = [(name, tuple(shape)) for name, shape in spec]
        total = sum(math.prod(shape) for _, shape in out)
        if total != width:
            raise DataError(
                f"{self.path}: attribute 'state_spec_json' describes {total} values per step but "
                f"column 'state' has {width}; {fix}"
            )
        return out

    @property
    def sensor_names(self) -> list[str]:
        """Channel names of the ``sensors`` column (``sensor_0``... when the file names none)."""
        if not self.has("sensors"):
            return []
        with self._reading("column 'sensors'"):
            width = self._f["sensors"].shape[1]
        names = self._json_attr("sensor_names_json")
        if names is _MISSING:
            return [f"sensor_{i}" for i in range(width)]
        if not (
            isinstance(names, list)
            and len(names) == width
            and all(isinstance(n, str) for n in names)
        ):
            raise DataError(
                f"{self.path}: attribute 'sensor_names_json' must be a JSON list of {width} "
                f"channel names, got {_clip(names)}; fix it or re-create the file"
            )
        return names

    def channel_names(self, column: str) -> list[str]:
        """One name per value of a vector column: the sensor names, the state quantities
        (``name`` or ``name_i``), the action names (``action_names_json``) or ``column_i``."""
        if column == "sensors":
            return self.sensor_names
        if column == "state":
            return [
                n if math.prod(shape) == 1 else f"{n}_{i}"
                for n, shape in self.state_spec
                for i in range(math.prod(shape))
            ]
        with self._reading(f"column {column!r}"):
            width = self._f[column].shape[1]
        names = self._json_attr(f"{column}_names_json")
        if (
            isinstance(names, list)
            and len(names) == width
            and all(isinstance(n, str) for n in names)
        ):
            return names
        return [f"{column}_{i}" for i in range(width)]

    def attrs(self) -> dict[str, Any]:
        """Every file attribute as a plain Python value (arrays as lists, empty ones as None)."""
        out = {}
        with self._reading("the attributes"):
            for k in self._f.attrs:
                # a damaged name can come back as bytes that are not UTF-8
                name = k if isinstance(k, str) else bytes(k).decode("utf-8", "replace")
                out[name] = self._attr(k)
        return out

    def has(self, column: str) -> bool:
        """Whether dataset ``column`` is in the file."""
        with self._reading(f"column {column!r}"):
            try:
                return isinstance(self._f.get(column), h5py.Dataset)
            except KeyError:  # a link to nothing
                return False

    # -- data -------------------------------------------------------------------------------
    def _episode_index(self, episodes: Any) -> np.ndarray:
        """``episodes`` as a checked vector of episode indices."""
        try:
            eps = np.asarray(episodes)
        except (ValueError, TypeError):
            eps = None
        if eps is not None and eps.size == 0:
            return np.zeros(0, np.int64)
        if eps is None or eps.ndim != 1 or eps.dtype.kind not in "iu":
            raise DataError(
                f"{self.path}: episodes must be a list of episode numbers, got {_clip(episodes)}"
            )
        out = (eps < 0) | (eps >= self.n_episodes)
        if out.any():
            raise DataError(
                f"{self.path}: episode {int(eps[out][0])} out of range: the file has "
                f"{self.n_episodes}"
            )
        return eps.astype(np.int64)

    def rows(self, episodes: np.ndarray | list[int] | None = None) -> np.ndarray:
        """Row indices of the given episodes, in order."""
        eps = np.arange(self.n_episodes) if episodes is None else self._episode_index(episodes)
        if len(eps) == 0:
            return np.zeros(0, np.int64)
        return np.concatenate(
            [np.arange(self.ep_offset[e], self.ep_offset[e] + self.ep_len[e]) for e in eps]
        )

    def load(self, column: str, episodes: np.ndarray | list[int] | None = None) -> np.ndarray:
        """Frame column ``column`` for the given episodes (all by default), concatenated in
        order."""
        if column not in FRAME_COLUMNS:
            raise DataError(
                f"{self.path}: {column!r} is not a frame column; load one of "
                f"{[c for c in FRAME_COLUMNS if self.has(c)]}"
            )
        if not self.has(column):
            raise DataError(f"{self.path} has no column {column!r}; it has {sorted(self.columns)}")
        eps = None if episodes is None else self._episode_index(episodes)
        with self._reading(f"column {column!r}"):
            ds = self._f[column]
            if eps is None:
                return ds[()]
            parts = [ds[self.ep_offset[e] : self.ep_offset[e] + self.ep_len[e]] for e in eps]
            return np.concatenate(parts) if parts else np.zeros((0,) + ds.shape[1:], ds.dtype)

    def episode(self, i: int) -> dict[str, np.ndarray]:
        """All frame columns of episode ``i``."""
        if isinstance(i, bool) or not isinstance(i, int | np.integer):
            raise DataError(f"{self.path}: an episode number must be an integer, got {_clip(i)}")
        (i,) = self._episode_index([i])
        a, b = self.ep_offset[i], self.ep_offset[i] + self.ep_len[i]
        present = [k for k in FRAME_COLUMNS if self.has(k)]
        with self._reading(f"episode {i}"):
            return {k: self._f[k][a:b] for k in present}

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
            f"{n_episodes} episode(s) cannot be split into train and held-out sets; collect at "
            "least 2"
        )
    idx = np.arange(n_episodes)
    return idx[: n_episodes - n_val], idx[n_episodes - n_val :]


def _short(e: BaseException) -> str:
    """The first line of ``e``'s message (a KeyError's without the quotes repr adds)."""
    text = str(e.args[0] if isinstance(e, KeyError) and e.args else e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


def _clip(value: Any, n: int = 80) -> str:
    """``repr(value)`` on one line, at most ``n`` characters."""
    text = " ".join(repr(value).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _plain(value: Any) -> Any:
    """An attribute value as plain Python: numpy scalars and 1-element arrays as scalars,
    other arrays as lists, an empty dataspace as None. Bytes stay bytes."""
    if isinstance(value, h5py.Empty):
        return None
    if isinstance(value, np.ndarray):
        return _plain(value.reshape(-1)[0]) if value.size == 1 else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _as_int(value: Any) -> int | None:
    """``value`` as an int when it is one (a number or numeric text), else None."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _desc(d: h5py.Dataset) -> str:
    return f"{d.shape} {d.dtype}"


def check_stored(
    path: Path, name: str, d: h5py.Dataset, fix: str = "re-create it with 'physjepa collect'"
) -> None:
    """Every element of ``d`` was written to the file. Unwritten parts read as fill values: a
    file whose writer stopped midway, or one declaring sizes it does not hold (reading those
    would allocate the declared size). ``fix``: what the message tells the user to do."""
    if d.shape is None or d.size == 0:
        return
    layout = d.id.get_create_plist().get_layout()
    if layout == h5py.h5d.CHUNKED:
        need = math.prod(-(-s // c) for s, c in zip(d.shape, d.chunks))
        have = d.id.get_num_chunks()
        unit = "chunks"
    elif layout == h5py.h5d.CONTIGUOUS:
        need = d.size * d.dtype.itemsize
        have = d.id.get_storage_size()
        unit = "bytes"
    elif layout == h5py.h5d.COMPACT:
        return
    else:
        raise DataError(
            f"{path}: column {name!r} is a virtual dataset, not stored in the file; {fix}"
        )
    if have < need:
        raise DataError(
            f"{path}: column {name!r} declares shape {d.shape} but holds only {have} of its {need} "
            f"{unit}; the file is incomplete or corrupt; {fix}"
        )
