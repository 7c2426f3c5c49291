"""Import a LeRobot dataset (format v3) as an episode file, with pyarrow and PyAV only.

A LeRobot v3 dataset is a folder:

- ``meta/info.json``: ``codebase_version`` ("v3.0"), ``fps``, ``features`` (``{name: {dtype,
  shape, names}}``; cameras have dtype ``video``), and the ``data_path`` / ``video_path``
  templates (``data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet``, ...);
- ``meta/episodes/chunk-*/file-*.parquet``: one row per episode (``episode_index``, ``length``,
  ``data/chunk_index``, ``data/file_index``, and per camera ``videos/<key>/chunk_index``,
  ``.../file_index``, ``.../from_timestamp``, ``.../to_timestamp``);
- data Parquet files holding many episodes' rows (``episode_index``, ``frame_index``,
  ``timestamp``, ``observation.state``, ``action``, ...);
- one MP4 per camera and file, the episodes' frames back to back: row ``frame_index`` of an
  episode shows at ``from_timestamp + timestamp`` seconds.

The user picks one camera (``pixels``), the state columns (``state``) and the action columns
(``action``). Every video file is decoded once, here, and each frame is center-cropped and
resized to ``size`` x ``size``: training never decodes video. The source is only read. Every
problem with it is one ``DataError`` naming the file, the episode, the column and the fix.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from physjepa.data.episodes import DataError, EpisodeWriter
from physjepa.data.importers._common import check_paths
from physjepa.worlds.render import square_resize

DEFAULT_DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
DEFAULT_VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
#: Columns LeRobot adds to every row: bookkeeping, never state or action.
BOOKKEEPING = ("timestamp", "frame_index", "episode_index", "index", "task_index")
_CONVERT = (
    "convert it to v3.0 with lerobot's converter "
    "(python -m lerobot.datasets.v30.convert_dataset_v21_to_v30 --repo-id=<id>)"
)


def import_lerobot(
    src: str | os.PathLike,
    out: str | os.PathLike,
    overwrite: bool = False,
    camera: str | None = None,
    state: str | list[str] | None = None,
    action: str | list[str] | None = None,
    size: int = 64,
    episodes: list[int] | None = None,
) -> Path:
    """Write the LeRobot v3 dataset in folder ``src`` as an episode file at ``out``.

    ``camera``: a video feature (``observation.images.top`` or just ``top``;
    ``observation.image`` or just ``image``; default: the first in ``info.json``).
    ``state`` / ``action``: feature names, a list or comma-separated (default
    ``observation.state`` when present / ``action``). ``episodes``: the LeRobot episode
    indices to import (default all), written in that order.
    """
    src, out = Path(src), Path(out)
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or not 8 <= size <= 4096:
        raise DataError(f"--size must be an integer from 8 to 4096 pixels, got {size!r}")
    size = int(size)
    _check_source(src, out, overwrite)
    info = _read_info(src)
    fps = _fps(src, info)
    features = _features(src, info)
    cams = [k for k, f in features.items() if f.get("dtype") == "video"]
    cam = _pick_camera(src, camera, cams, features)
    numeric = [k for k, f in features.items() if _is_numeric(f) and k not in BOOKKEEPING]
    state_cols = _pick_columns(src, "--state", state, "observation.state", numeric, features)
    action_cols = _pick_columns(src, "--action", action, "action", numeric, features)
    if not action_cols:
        raise DataError(
            f"{src / 'meta/info.json'} has no 'action' feature; choose the action columns with "
            f"--action, one or more of {numeric}"
        )
    overlap = sorted(set(state_cols) & set(action_cols))
    if overlap:
        raise DataError(f"column(s) {overlap} are in both --state and --action; give each one role")
    data_tpl = _template(src, info, "data_path", DEFAULT_DATA_PATH)
    video_tpl = _template(src, info, "video_path", DEFAULT_VIDEO_PATH)

    eps = _read_episodes(src, cam)
    eps = _select(src, eps, episodes)
    for e in eps:
        e["data_file"] = _fill(src, "data_path", data_tpl, e["data_chunk"], e["data_file_index"])
        e["video_file"] = _fill(
            src, "video_path", video_tpl, e["video_chunk"], e["video_file_index"], cam
        )
    for key in ("data_file", "video_file"):
        for path in dict.fromkeys(e[key] for e in eps):
            if not path.is_file():
                what = "data" if key == "data_file" else f"video ({cam})"
                raise DataError(
                    f"{path}: {what} file not found, but meta/episodes lists episodes in it; the "
                    "dataset is incomplete: download it again"
                )

    # Each file is read (decoded) once and dropped after its last episode.
    last_use = {e[key]: i for i, e in enumerate(eps) for key in ("data_file", "video_file")}
    data_cache: dict[Path, _DataFile] = {}
    video_cache: dict[Path, _Video] = {}
    spec, action_names = _names(state_cols, features), _flat_names(action_cols, features)
    attrs: dict[str, Any] = {
        "world": "lerobot",
        "params_json": json.dumps(
            {
                "source": str(src),
                "codebase_version": str(info.get("codebase_version")),
                "robot_type": info.get("robot_type"),
                "camera": cam,
                "cameras": cams,
                "state": state_cols,
                "action": action_cols,
                "fps": fps,
                "size": size,
            }
        ),
        "fps": float(fps),
        "policy": "recorded",
        "seed": 0,
        "camera": cam,
        "action_names_json": json.dumps(action_names),
        "episode_ids_json": json.dumps([e["episode_index"] for e in eps]),
    }
    if state_cols:
        attrs["state_spec_json"] = json.dumps(spec)
    with EpisodeWriter(out, attrs, overwrite=overwrite) as writer:
        for i, e in enumerate(eps):
            dpath, vpath = e["data_file"], e["video_file"]
            if dpath not in data_cache:
                data_cache[dpath] = _DataFile(dpath, [*state_cols, *action_cols], fps)
            rows = data_cache[dpath].episode(e)
            for c in (*state_cols, *action_cols):
                declared = _width(features[c])
                if declared and rows[c].shape[1] != declared:
                    raise DataError(
                        f"{dpath}: column {c!r} holds {rows[c].shape[1]} values per row but "
                        f"meta/info.json declares shape {features[c].get('shape')}; the dataset "
                        "is inconsistent: download it again"
                    )
            if vpath not in video_cache:
                users = [x for x in eps if x["video_file"] == vpath]
                t0 = min(x["from_ts"] for x in users)
                t1 = max(x["to_ts"] for x in users)
                video_cache[vpath] = _Video(vpath, t0, t1, size, fps)
            pixels = video_cache[vpath].frames(e, rows["time"])
            episode = {"pixels": pixels, "action": _stack(rows, action_cols)}
            if state_cols:
                episode["state"] = _stack(rows, state_cols)
            writer.append(episode)
            for path, cache in ((dpath, data_cache), (vpath, video_cache)):
                if last_use[path] == i:
                    del cache[path]
        return writer.close()


# -- metadata ----------------------------------------------------------------------------------
def _check_source(src: Path, out: Path, overwrite: bool) -> None:
    try:
        exists, is_dir = src.exists(), src.is_dir()
    except (OSError, ValueError) as e:
        raise DataError(
            f"cannot use {src} as a LeRobot dataset ({e}); pass the dataset folder"
        ) from None
    if not exists:
        raise DataError(
            f"LeRobot dataset {src} not found; pass the dataset folder (the one holding "
            "meta/info.json)"
        )
    if not is_dir:
        raise DataError(
            f"{src} is not a folder; pass the LeRobot dataset folder (the one holding "
            "meta/info.json)"
        )
    check_paths(src, out, overwrite, "a LeRobot dataset")
    try:
        inside = out.resolve().is_relative_to(src.resolve())
    except (OSError, ValueError):
        inside = False
    if inside:
        raise DataError(
            f"--to {out} is inside the source dataset {src}, which is only read; choose a --to "
            "outside it"
        )


def _read_info(src: Path) -> dict[str, Any]:
    path = src / "meta" / "info.json"
    if not path.is_file():
        hint = ""
        if (src / "meta" / "episodes.jsonl").is_file():
            hint = f" (it has meta/episodes.jsonl: a LeRobot v2 dataset? {_CONVERT})"
        raise DataError(
            f"{path} not found: {src} is not a LeRobot dataset{hint}; pass the folder holding "
            "meta/info.json"
        )
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        text = " ".join(str(e).split())[:200]
        raise DataError(
            f"{path} is not readable JSON ({text}); download the dataset again"
        ) from None
    if not isinstance(info, dict):
        raise DataError(f"{path} must hold a JSON object; download the dataset again")
    version = info.get("codebase_version")
    if not isinstance(version, str) or not version.startswith("v3."):
        if isinstance(version, str) and version.startswith(("v1.", "v2.")):
            raise DataError(
                f"{path}: codebase_version {version!r} is a LeRobot {version[:2]}.x dataset; "
                f"physjepa reads format v3.x: {_CONVERT}"
            )
        raise DataError(
            f"{path}: codebase_version {version!r} is not a LeRobot format physjepa reads (v3.x); "
            "use a v3.0 dataset"
        )
    return info


def _fps(src: Path, info: dict[str, Any]) -> float:
    fps = info.get("fps")
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 < fps < math.inf:
        raise DataError(
            f"{src / 'meta/info.json'}: 'fps' must be a positive number, got {fps!r}; fix info.json"
        )
    return float(fps)


def _features(src: Path, info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    feats = info.get("features")
    if not isinstance(feats, dict) or not all(isinstance(v, dict) for v in feats.values()):
        raise DataError(
            f"{src / 'meta/info.json'}: 'features' must be an object of {{name: {{dtype, shape, "
            "names}}; fix info.json"
        )
    return feats


def _is_numeric(feature: dict[str, Any]) -> bool:
    dtype = str(feature.get("dtype", ""))
    return dtype.startswith(("float", "int", "uint", "bool"))


def _pick_camera(
    src: Path, camera: str | None, cams: list[str], features: dict[str, dict[str, Any]]
) -> str:
    if not cams:
        images = [k for k, f in features.items() if f.get("dtype") == "image"]
        extra = (
            f" (its cameras {images} are stored as images in Parquet, which physjepa does not "
            "import)"
            if images
            else ""
        )
        raise DataError(
            f"{src / 'meta/info.json'} has no video feature (dtype 'video'){extra}; import a "
            "dataset recorded with video"
        )
    if camera is None:
        return cams[0]
    if camera in cams:
        return camera
    # a short name: ``top`` for observation.images.top, ``image`` for observation.image
    found = [k for k in (f"observation.{camera}", f"observation.images.{camera}") if k in cams]
    if len(found) > 1:
        raise DataError(
            f"{src}: --camera {camera!r} could mean {found[0]!r} or {found[1]!r}; pass the full "
            "name"
        )
    if found:
        return found[0]
    raise DataError(f"{src}: no camera {camera!r}; choose --camera from {cams}")


def _pick_columns(
    src: Path,
    flag: str,
    wanted: str | list[str] | None,
    default: str,
    numeric: list[str],
    features: dict[str, dict[str, Any]],
) -> list[str]:
    if wanted is None:
        return [default] if default in numeric else []
    cols = [c.strip() for c in wanted.split(",")] if isinstance(wanted, str) else list(wanted)
    if not cols or any(not isinstance(c, str) or not c for c in cols):
        raise DataError(f"{flag} needs column names, e.g. {flag} {default}; got {wanted!r}")
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise DataError(f"{flag} names column(s) {dup} more than once")
    for c in cols:
        if c not in numeric:
            why = (
                f"it is a {features[c].get('dtype')!r} feature, not numbers"
                if c in features
                else "no such feature"
            )
            raise DataError(f"{src}: {flag} {c!r}: {why}; choose from {numeric}")
    return cols


def _template(src: Path, info: dict[str, Any], key: str, default: str) -> str:
    tpl = info.get(key, default)
    if not isinstance(tpl, str) or not tpl:
        raise DataError(
            f"{src / 'meta/info.json'}: {key!r} must be a path template like {default!r}"
        )
    return tpl


def _fill(src: Path, key: str, tpl: str, chunk: int, file: int, video_key: str = "") -> Path:
    try:
        rel = tpl.format(chunk_index=chunk, file_index=file, video_key=video_key)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as e:
        raise DataError(
            f"{src / 'meta/info.json'}: cannot fill the {key!r} template {tpl!r} ({e!r}); a v3 "
            "template uses {chunk_index}, {file_index} (and {video_key})"
        ) from None
    return src / rel


def _read_episodes(src: Path, cam: str) -> list[dict[str, Any]]:
    """The rows of meta/episodes, sorted by episode_index, with the camera's video columns."""
    pa, pq = _pyarrow(src)
    folder = src / "meta" / "episodes"
    files = sorted(folder.glob("chunk-*/*.parquet"))
    if not files:
        raise DataError(
            f"{folder}: no episode metadata (chunk-*/file-*.parquet); the dataset is incomplete or "
            "not v3: download it again"
        )
    v = f"videos/{cam}/"
    cols = {
        "episode_index": "episode_index",
        "length": "length",
        "data/chunk_index": "data_chunk",
        "data/file_index": "data_file_index",
        v + "chunk_index": "video_chunk",
        v + "file_index": "video_file_index",
        v + "from_timestamp": "from_ts",
        v + "to_timestamp": "to_ts",
    }
    out: list[dict[str, Any]] = []
    for path in files:
        try:
            names = pq.read_schema(path).names
            missing = [c for c in cols if c not in names]
            if missing:
                raise DataError(
                    f"{path}: no column(s) {missing}; LeRobot v3 episode metadata has them for "
                    "every camera: download the dataset again"
                )
            table = pq.read_table(path, columns=list(cols))
        except DataError:
            raise
        except (pa.ArrowException, OSError, ValueError) as e:
            raise DataError(f"{path} is not a readable Parquet file ({_short(e)})") from None
        values = {}
        for c, name in cols.items():
            arr = table.column(c)
            if arr.null_count:
                raise DataError(f"{path}: column {c!r} has empty cells; download the dataset again")
            values[name] = arr.to_pylist()
        for i in range(table.num_rows):
            row = {name: values[name][i] for name in cols.values()}
            for k in ("episode_index", "length", "data_chunk", "data_file_index"):
                row[k] = _int(path, k, row[k])
            for k in ("video_chunk", "video_file_index"):
                row[k] = _int(path, k, row[k])
            for k in ("from_ts", "to_ts"):
                if not isinstance(row[k], int | float) or not math.isfinite(row[k]):
                    raise DataError(
                        f"{path}: episode {row['episode_index']}: {v + k[:-3]}_timestamp is "
                        f"{row[k]!r}, not a time"
                    )
                row[k] = float(row[k])
            if row["length"] < 1:
                raise DataError(
                    f"{path}: episode {row['episode_index']} has length {row['length']}"
                )
            row["meta_file"] = path
            out.append(row)
    counts = Counter(r["episode_index"] for r in out)
    dup = sorted(k for k, n in counts.items() if n > 1)
    if dup:
        raise DataError(
            f"{folder}: episode(s) {dup[:10]} are listed more than once; download the dataset again"
        )
    return sorted(out, key=lambda r: r["episode_index"])


def _int(path: Path, col: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise DataError(f"{path}: column {col!r} holds {value!r}, not an integer")
    return int(value)


def _select(src: Path, eps: list[dict[str, Any]], wanted: list[int] | None) -> list[dict[str, Any]]:
    if wanted is None:
        return eps
    by_index = {e["episode_index"]: e for e in eps}
    wanted = list(wanted)
    if not wanted:
        raise DataError("--episodes is empty; name at least one episode, or leave it out for all")
    dup = sorted({w for w in wanted if wanted.count(w) > 1})
    if dup:
        raise DataError(f"--episodes names episode(s) {dup} more than once")
    for w in wanted:
        if w not in by_index:
            have = sorted(by_index)
            shown = f"{have[0]}..{have[-1]}" if len(have) > 10 else str(have)
            raise DataError(f"{src} has no episode {w!r}; its episodes are {shown}")
    return [by_index[w] for w in wanted]


def _names(cols: list[str], features: dict[str, dict[str, Any]]) -> list[list[Any]]:
    """``state_spec_json``: one ``[name, [1]]`` per value when the features name every value
    (uniquely), else ``[column, [width]]`` per column (``state`` for a single column)."""
    named = [_value_names(features[c]) for c in cols]
    flat = [n for names in named if names for n in names]
    if all(named) and len(set(flat)) == len(flat):
        return [[n, [1]] for n in flat]
    return [["state" if len(cols) == 1 else c, [_width(features[c])]] for c in cols]


def _flat_names(cols: list[str], features: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for c in cols:
        names = _value_names(features[c])
        width = _width(features[c])
        out += names if names else [c if width == 1 else f"{c}_{i}" for i in range(width)]
    return out


def _value_names(feature: dict[str, Any]) -> list[str] | None:
    """The per-value names of a feature: ``names`` as a list, or a dict holding one list."""
    names = feature.get("names")
    if isinstance(names, dict) and len(names) == 1:
        names = next(iter(names.values()))
    width = _width(feature)
    if (
        isinstance(names, list)
        and len(names) == width
        and all(isinstance(n, str) and n for n in names)
    ):
        return list(names)
    return None


def _width(feature: dict[str, Any]) -> int:
    shape = feature.get("shape")
    if isinstance(shape, list) and all(isinstance(d, int) and d >= 1 for d in shape):
        return math.prod(shape)
    return 0  # unknown: the data tells


# -- data --------------------------------------------------------------------------------------
class _DataFile:
    """One data Parquet file: the wanted columns, grouped by episode."""

    def __init__(self, path: Path, cols: list[str], fps: float):
        pa, pq = _pyarrow(path)
        self.path, self.fps = path, fps
        try:
            names = pq.read_schema(path).names
            need = ["episode_index", "frame_index", *cols]
            missing = [c for c in need if c not in names]
            if missing:
                raise DataError(
                    f"{path}: no column(s) {missing}; the file has {names[:30]}: info.json and the "
                    "data disagree, download the dataset again"
                )
            extra = ["timestamp"] if "timestamp" in names else []
            table = pq.read_table(path, columns=[*need, *extra])
        except DataError:
            raise
        except (pa.ArrowException, OSError, ValueError) as e:
            raise DataError(f"{path} is not a readable Parquet file ({_short(e)})") from None
        self.episode_index = _ints(path, "episode_index", table.column("episode_index"))
        self.frame_index = _ints(path, "frame_index", table.column("frame_index"))
        self.time = (
            _matrix(path, "timestamp", table.column("timestamp"), pa)[:, 0]
            if extra
            else self.frame_index / fps
        )
        self.values = {c: _matrix(path, c, table.column(c), pa) for c in cols}
        self.order = np.lexsort((self.frame_index, self.episode_index))
        self.sorted_eps = self.episode_index[self.order]

    def episode(self, e: dict[str, Any]) -> dict[str, np.ndarray]:
        ep, length = e["episode_index"], e["length"]
        a, b = np.searchsorted(self.sorted_eps, [ep, ep + 1])
        rows = self.order[a:b]
        if len(rows) != length:
            raise DataError(
                f"{self.path}: episode {ep} has {len(rows)} rows but {e['meta_file']} gives it "
                f"length {length}; frame counts disagree: download the dataset again"
            )
        frames = self.frame_index[rows]
        if not np.array_equal(frames, np.arange(length)):
            bad = int(np.argmax(frames != np.arange(length)))
            raise DataError(
                f"{self.path}: episode {ep}: frame_index runs "
                f"{frames[max(0, bad - 1) : bad + 2].tolist()} near step {bad}; expected "
                f"0..{length - 1} without gaps or repeats"
            )
        out = {"time": self.time[rows]}
        bad = ~np.isfinite(out["time"])
        if bad.any():
            step = int(np.argmax(bad))
            value = float(out["time"][step])
            raise DataError(
                f"{self.path}: episode {ep}, frame {step}: timestamp {value!r} is not a time; "
                "the data is damaged: download the dataset again"
            )
        for c, v in self.values.items():
            vals = v[rows]
            with np.errstate(over="ignore"):  # too large for float32: refused just below
                bad = ~np.isfinite(vals.astype(np.float32))
            if bad.any():
                step = int(np.argmax(bad.any(axis=1)))
                value = float(vals[bad][0])
                raise DataError(
                    f"{self.path}: episode {ep}, frame {step}, column {c!r}: {value!r} is "
                    "NaN, infinite or too large for float32; drop the episode with --episodes or "
                    "fix the data"
                )
            out[c] = vals
        return out


def _stack(rows: dict[str, np.ndarray], cols: list[str]) -> np.ndarray:
    return np.concatenate([rows[c] for c in cols], axis=1).astype(np.float32)


def _ints(path: Path, col: str, column: Any) -> np.ndarray:
    arr = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    if arr.null_count:
        raise DataError(f"{path}: column {col!r} has empty cells; download the dataset again")
    v = np.asarray(arr.to_numpy(zero_copy_only=False))
    if v.dtype.kind not in "iu":
        raise DataError(f"{path}: column {col!r} holds {arr.type}, not integers")
    return v.astype(np.int64)


def _matrix(path: Path, col: str, column: Any, pa: Any) -> np.ndarray:
    """A numeric Parquet column (scalars or fixed-length lists) as an (N, K) float64 array."""
    arr = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    typ, n = arr.type, len(arr)
    if arr.null_count:
        i = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataError(f"{path}: row {i + 1}, column {col!r}: empty cell (null); fix the data")
    if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
        import pyarrow.compute as pc

        lens = np.asarray(pc.list_value_length(arr).to_numpy(zero_copy_only=False))
        k = int(lens[0]) if n else 0
        if n and (lens != k).any():
            i = int(np.argmax(lens != k))
            raise DataError(
                f"{path}: row {i + 1}, column {col!r} holds {int(lens[i])} values but row 1 holds "
                f"{k}; every row needs the same number"
            )
        values = arr.flatten()
        typ = values.type
        if values.null_count:
            raise DataError(f"{path}: column {col!r} has empty values (null) in its lists")
    elif pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ):
        values, k = arr, 1
    else:
        raise DataError(f"{path}: column {col!r} holds {typ}, not numbers; choose another column")
    if not (pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ)):
        raise DataError(f"{path}: column {col!r} holds lists of {typ}, not numbers")
    v = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    if k < 1:
        raise DataError(f"{path}: column {col!r} holds empty lists; choose another column")
    return np.asarray(v, np.float64).reshape(n, k)


# -- video -------------------------------------------------------------------------------------
class _Video:
    """The frames of one MP4 between ``t0`` and ``t1`` seconds, cropped and resized."""

    def __init__(self, path: Path, t0: float, t1: float, size: int, fps: float):
        self.path, self.fps = path, fps
        self.tol = 0.5 / fps  # a row's frame is the nearest one within half a frame period
        times, frames = _decode(path, t0 - self.tol, t1 + self.tol, size, self.tol)
        if not frames:
            raise DataError(
                f"{path}: no video frames between {t0:.3f} s and {t1:.3f} s; the video is shorter "
                "than meta/episodes says: download the dataset again"
            )
        order = np.argsort(times, kind="stable")
        self.times = np.asarray(times)[order]
        self.images = np.stack(frames)[order]

    def frames_near(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        j = np.clip(np.searchsorted(self.times, query), 1, max(1, len(self.times) - 1))
        if len(self.times) == 1:
            j = np.zeros_like(j)
        else:
            left = self.times[j - 1]
            j = np.where(np.abs(query - left) <= np.abs(self.times[j] - query), j - 1, j)
        return j, np.abs(self.times[j] - query)

    def frames(self, e: dict[str, Any], time: np.ndarray) -> np.ndarray:
        query = e["from_ts"] + np.asarray(time, np.float64)
        idx, dist = self.frames_near(query)
        bad = dist > self.tol
        if bad.any():
            step = int(np.argmax(bad))
            span = (self.times >= e["from_ts"] - self.tol) & (self.times < e["to_ts"] - self.tol)
            raise DataError(
                f"{self.path}: episode {e['episode_index']}, frame {step}: no video frame near "
                f"{query[step]:.3f} s "
                f"(nearest {self.times[idx[step]]:.3f} s); the video holds {int(span.sum())} "
                "frame(s) in the episode's span "
                f"{e['from_ts']:.3f}-{e['to_ts']:.3f} s but the episode has {len(time)} rows: "
                "frame counts disagree, download the dataset again"
            )
        d = np.diff(idx)
        if (d <= 0).any():
            step = int(np.argmax(d <= 0)) + 1
            raise DataError(
                f"{self.path}: episode {e['episode_index']}: frames {step - 1} and {step} map to "
                "the same or an earlier video frame; "
                "the timestamps do not increase or the video has fewer frames than the data (fps "
                f"{self.fps:g} in info.json): download the dataset again"
            )
        return self.images[idx]


def _decode(
    path: Path, t0: float, t1: float, size: int, tol: float
) -> tuple[list[float], list[np.ndarray]]:
    """Decode the frames shown from ``t0`` to ``t1`` seconds (each once), crop and resize them."""
    try:
        import av
    except ImportError:
        raise DataError(
            f"reading {path} needs PyAV, which is not installed: pip install av"
        ) from None
    try:
        # Seek near t0 when the span starts late in the file; a seek that lands after t0 (some
        # files index few keyframes) falls back to decoding from the start.
        got = _decode_span(av, path, t0, t1, size, tol, seek=t0 > 1.0)
        if got is None:
            got = _decode_span(av, path, t0, t1, size, tol, seek=False)
    except DataError:
        raise
    except (av.FFmpegError, OSError, ValueError) as e:
        raise DataError(
            f"{path} cannot be decoded ({_short(e)}); check the file (ffprobe {path.name}) or "
            "download it again"
        ) from None
    assert got is not None
    return got


def _decode_span(
    av: Any, path: Path, t0: float, t1: float, size: int, tol: float, seek: bool
) -> tuple[list[float], list[np.ndarray]] | None:
    times: list[float] = []
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise DataError(f"{path} holds no video stream; download the dataset again")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if seek:
            container.seek(int(t0 / stream.time_base), stream=stream, backward=True)
        first = True
        for frame in container.decode(stream):
            t = frame.time
            if t is None:
                raise DataError(
                    f"{path}: a video frame has no timestamp; re-encode the video (ffmpeg -i IN "
                    "-c:v libx264 OUT)"
                )
            if first and seek and t > t0 + tol:
                return None
            first = False
            if t < t0:
                continue
            if t > t1:
                break
            frames.append(square_resize(frame.to_image(), size))
            times.append(float(t))
    if seek and first:
        return None
    return times, frames


def _pyarrow(path: Path) -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            f"reading {path} needs pyarrow, which is not installed: pip install pyarrow"
        ) from None
    return pa, pq


def _short(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text[:200] if text else type(e).__name__
