"""Import a stable-worldmodel HDF5 dataset: it shares our column names (``pixels``,
``action``, ``state``, ``proprio``, ``ep_offset``, ``ep_len``) but not our attributes, dtypes
or guarantees. Episodes are copied one by one through ``EpisodeWriter``: cast (floats to
float32, frames to uint8; channels-first frames transposed), checked for NaN/inf, and written
back to back. Other datasets in the source are left out (the summary names them).

stable-worldmodel records the action of the reset step as NaN and moves it to the end of the
episode (``action[t]`` follows ``pixels[t]``, as here; nothing follows the last frame). An
episode's last action row that is all NaN is therefore written as zeros (``params_json``
counts them in ``final_nan_actions``); NaN anywhere else is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from physjepa.data.episodes import (
    FRAME_COLUMNS,
    VECTOR_OBS,
    DataError,
    EpisodeWriter,
    check_stored,
)
from physjepa.data.importers._common import as_fps, as_pixels, as_vectors, check_paths

#: What h5py raises on a damaged or unreadable file.
_H5_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError)


def _dataset(f: h5py.File, src: Path, name: str) -> h5py.Dataset:
    obj = f.get(name)
    if not isinstance(obj, h5py.Dataset):
        raise DataError(f"{src}: {name!r} is not a dataset; is it a stable-worldmodel file?")
    return obj


def episode_index(src: Path, lens: np.ndarray, offs: np.ndarray, rows: int) -> None:
    """Refuse an ``ep_len`` / ``ep_offset`` pair that does not describe ``rows`` rows sanely."""
    if lens.ndim != 1 or offs.ndim != 1 or lens.shape != offs.shape or len(lens) == 0:
        raise DataError(
            f"{src}: ep_len {lens.shape} and ep_offset {offs.shape} must be equal-length, "
            f"non-empty vectors"
        )
    if lens.dtype.kind not in "iu" or offs.dtype.kind not in "iu":
        raise DataError(
            f"{src}: ep_len ({lens.dtype}) and ep_offset ({offs.dtype}) must hold integers"
        )
    lens, offs = lens.astype(np.int64), offs.astype(np.int64)
    for e, (off, n) in enumerate(zip(offs, lens)):
        if n < 1:
            raise DataError(f"{src}: episode {e} has ep_len {int(n)}; every episode needs a step")
        if off < 0 or off + n > rows:
            raise DataError(
                f"{src}: episode {e} spans rows {int(off)}..{int(off + n - 1)} "
                f"(ep_offset {int(off)}, ep_len {int(n)}) but the columns have {rows} rows"
            )
    order = np.argsort(offs, kind="stable")
    ends = offs[order] + lens[order]
    overlap = np.flatnonzero(offs[order][1:] < ends[:-1])
    if len(overlap):
        a, b = int(order[overlap[0]]), int(order[overlap[0] + 1])
        raise DataError(
            f"{src}: episodes {a} and {b} overlap (episode {a}: rows {int(offs[a])}.."
            f"{int(offs[a] + lens[a] - 1)}, episode {b} starts at row {int(offs[b])}); "
            f"ep_offset or ep_len is wrong"
        )


def import_swm(src: str | os.PathLike, out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the stable-worldmodel HDF5 file ``src`` as an episode file at ``out``."""
    src, out = Path(src), Path(out)
    check_paths(src, out, overwrite, "a stable-worldmodel HDF5 file (.h5)")
    try:
        f = h5py.File(src, "r")
    except _H5_ERRORS as e:
        raise DataError(f"{src} is not a readable HDF5 file ({e})") from None
    try:
        with f:
            return _convert(f, src, out, overwrite)
    except DataError:
        raise
    except _H5_ERRORS as e:
        text = " ".join(str(e).split())[:200]
        raise DataError(f"{src}: cannot read it ({text}); the file is damaged") from None


def _convert(f: h5py.File, src: Path, out: Path, overwrite: bool) -> Path:
    for name in ("ep_offset", "ep_len"):
        if name not in f:
            raise DataError(
                f"{src} lacks {name!r}; a stable-worldmodel file has ep_offset and ep_len"
            )
    cols = [c for c in FRAME_COLUMNS if c in f]
    if "pixels" not in cols and not any(c in cols for c in VECTOR_OBS):
        raise DataError(
            f"{src} has none of 'pixels', 'state', 'proprio', 'sensors': nothing to observe"
        )
    ds = {c: _dataset(f, src, c) for c in cols}
    index = {c: _dataset(f, src, c) for c in ("ep_len", "ep_offset")}
    for name, d in (*ds.items(), *index.items()):  # declared sizes it does not hold: no reading
        check_stored(src, name, d, fix="write it again with stable-worldmodel")
    lens = index["ep_len"][()]
    offs = index["ep_offset"][()]
    rows = {c: d.shape[0] if d.shape else 0 for c, d in ds.items()}
    if len(set(rows.values())) != 1:
        raise DataError(
            f"{src}: the columns have different numbers of rows {rows}; every column needs one row "
            "per step"
        )
    (n_rows,) = set(rows.values())
    episode_index(src, np.asarray(lens), np.asarray(offs), n_rows)
    skipped = sorted(k for k in f if k not in (*cols, "ep_offset", "ep_len"))
    attrs = {k: _attr(v) for k, v in f.attrs.items()}
    fps = _fps(f, src)
    params = {"source": src.name, "importer": "swm", "skipped": skipped}
    params["source_attrs"] = {k: v for k, v in attrs.items() if _jsonable(v)}
    final_nan = 0
    with EpisodeWriter(out, {"world": "swm"}, overwrite=overwrite) as writer:
        for e, (off, n) in enumerate(zip(offs.astype(np.int64), lens.astype(np.int64))):
            where = f"{src}: episode {e} (rows {int(off)}..{int(off + n - 1)})"
            ep = {}
            for c, d in ds.items():
                block = d[int(off) : int(off + n)]
                if c == "action" and _final_nan(block):
                    block = np.array(block, copy=True)
                    block[-1] = 0
                    final_nan += 1
                ep[c] = as_pixels(where, c, block) if c == "pixels" else as_vectors(where, c, block)
            if "action" not in ep:
                ep["action"] = np.zeros((int(n), 1), np.float32)
            writer.append(ep)
        params["final_nan_actions"] = final_nan
        extra = {"params_json": json.dumps(params), "fps": fps, "policy": "recorded"}
        if "action" not in ds:
            extra["no_actions"] = 1
        writer.set_attrs(extra)
        return writer.close()


def _final_nan(block: np.ndarray) -> bool:
    """Whether the episode's last action row is all NaN: stable-worldmodel's mark of 'no action
    after the last frame'."""
    return (
        block.dtype.kind == "f"
        and block.ndim in (1, 2)
        and len(block) > 0
        and bool(np.isnan(block[-1]).all())
    )


def _fps(f: h5py.File, src: Path) -> float:
    """The file's ``fps`` attribute when it holds one usable rate, else 0 (unknown).

    stable-worldmodel's own writer stores no attributes (an env's rate is in its class's
    ``metadata['render_fps']``, and the file does not name the env), so this is for files that
    carry one: written by other tools, or with the attribute added by hand.
    """
    if "fps" not in f.attrs:
        return 0.0
    try:
        return as_fps(str(src), "fps", f.attrs["fps"])
    except (DataError, *_H5_ERRORS):
        return 0.0


def _attr(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _jsonable(v) -> bool:
    try:
        json.dumps(v)
    except (TypeError, ValueError):
        return False
    return True
