"""Import a table of sensor time series (CSV or Parquet) as an episode file.

One row is one time step. Named columns become the episode file's columns:

- ``obs``    -> ``sensors`` (N, C) float32, channel names in the ``sensor_names_json`` attribute
- ``action`` -> ``action`` (N, A) float32; with none, one zero column and ``no_actions=1``
  (the model always takes an action input)
- ``state``  -> ``state`` (N, S) float32, one named quantity per column (``state_spec_json``):
  what ``physjepa eval`` probes the latents for. State columns may repeat ``obs`` columns.
- ``episode`` splits the rows into episodes (each episode's rows contiguous, in file order)
- ``time`` (seconds) must increase within an episode; it sets ``fps`` unless ``fps`` is given

The source file is only read. Every problem with it is one ``DataError`` naming the file, the
line (CSV, 1-based, the header is line 1) or row (Parquet, 1-based), the column and the fix.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from physjepa.data.episodes import DataError, EpisodeWriter
from physjepa.fileio import sha256_file

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
_F32_MAX = float(np.finfo(np.float32).max)


def import_table(
    src: str | os.PathLike,
    out: str | os.PathLike,
    obs: list[str],
    action: list[str],
    episode: str | None = None,
    time: str | None = None,
    state: list[str] | None = None,
    overwrite: bool = False,
    fps: float | None = None,
) -> Path:
    """Write the table at ``src`` (.csv, .parquet or .pq) as an episode file at ``out``."""
    src, out = Path(src), Path(out)
    obs, action, state = list(obs or []), list(action or []), list(state or [])
    _check_source(src, out, overwrite)
    if not obs:
        raise DataError("--obs needs at least one column name, e.g. --obs x,v")
    if fps is not None and (
        isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 < fps < math.inf
    ):
        raise DataError(f"--fps must be a positive number, got {fps!r}")
    roles = {"obs": obs, "action": action, "state": state}
    if episode is not None:
        roles["episode"] = [episode]
    if time is not None:
        roles["time"] = [time]
    _check_roles(roles)
    numeric = list(dict.fromkeys([*obs, *action, *state, *([time] if time else [])]))

    suffix = src.suffix.lower()
    if suffix in CSV_SUFFIXES:
        values, ids, where = _read_csv(src, numeric, episode)
    elif suffix in PARQUET_SUFFIXES:
        values, ids, where = _read_parquet(src, numeric, episode)
    else:
        raise DataError(
            f"{src}: unknown table format {src.suffix!r}; pass a .csv, .parquet or .pq file"
        )
    n = len(next(iter(values.values())))
    if n == 0:
        raise DataError(f"{src} has a header but no data rows")
    for col in [*obs, *action, *state]:
        _check_f32(src, col, values[col], where)

    spans = _episode_spans(src, ids, episode, n, where)
    if time is not None:
        dts = _check_time(src, values[time], time, spans, where)
        # 9 significant digits: times written with a few decimals give 20, not 19.999999999999982
        rate = fps if fps is not None else float(f"{1.0 / float(np.median(dts)):.9g}")
    else:
        rate = fps if fps is not None else 0.0

    def stack(cols: list[str]) -> np.ndarray:
        return np.stack([values[c] for c in cols], axis=1).astype(np.float32)

    sensors = stack(obs)
    actions = stack(action) if action else np.zeros((n, 1), np.float32)
    states = stack(state) if state else None
    attrs: dict[str, Any] = {
        "world": "table",
        "params_json": json.dumps({"source": src.name, "obs": obs, "action": action}),
        "fps": float(rate),
        "policy": "recorded",
        "seed": 0,
        "sensor_names_json": json.dumps(obs),
        "source_sha256": sha256_file(src),
    }
    if action:
        attrs["action_names_json"] = json.dumps(action)
    else:
        attrs["no_actions"] = 1
    if state:
        attrs["state_spec_json"] = json.dumps([[c, [1]] for c in state])
    if episode is not None:
        attrs["episode_ids_json"] = json.dumps([eid for eid, _, _ in spans])
    with EpisodeWriter(out, attrs, overwrite=overwrite) as writer:
        for _, a, b in spans:
            ep = {"sensors": sensors[a:b], "action": actions[a:b]}
            if states is not None:
                ep["state"] = states[a:b]
            writer.append(ep)
        return writer.close()


# -- checks ----------------------------------------------------------------------------------
def _check_source(src: Path, out: Path, overwrite: bool) -> None:
    try:
        exists, is_dir, is_file = src.exists(), src.is_dir(), src.is_file()
    except (OSError, ValueError) as e:
        raise DataError(
            f"cannot use {src} as a table ({e}); pass a .csv or .parquet file"
        ) from None
    if not exists:
        raise DataError(f"table {src} not found; pass the path of a .csv or .parquet file")
    if is_dir:
        raise DataError(f"{src} is a directory; pass a .csv or .parquet file")
    if not is_file:
        raise DataError(f"{src} is not a regular file; pass a .csv or .parquet file")
    if out.exists() and os.path.samefile(out, src):
        raise DataError(f"--out {out} is the source table itself; choose another --out (.h5)")
    if out.exists() and not overwrite:
        raise DataError(f"{out} already exists; choose another --out or pass --overwrite")


def _check_roles(roles: dict[str, list[str]]) -> None:
    """Each column has one role; ``state`` may repeat ``obs`` and ``time`` columns (probes)."""
    flag = {"obs": "--obs", "action": "--action", "state": "--state", "episode": "--episode"}
    flag["time"] = "--time"
    for role, cols in roles.items():
        for c in cols:
            if not c:
                raise DataError(f"{flag[role]}: empty column name")
        dup = sorted({c for c in cols if cols.count(c) > 1})
        if dup:
            raise DataError(f"{flag[role]} names column(s) {dup} more than once")
    exclusive = ("obs", "action", "episode", "time")
    seen: dict[str, str] = {}
    for role in exclusive:
        for c in roles.get(role, []):
            if c in seen:
                raise DataError(
                    f"column {c!r} is used twice, in {flag[seen[c]]} and {flag[role]}; give each "
                    "column one role"
                )
            seen[c] = role
    for c in roles.get("state", []):
        if seen.get(c) in ("action", "episode"):
            raise DataError(
                f"column {c!r} is used twice, in {flag[seen[c]]} and --state; state columns may "
                "repeat --obs or --time columns only"
            )


def _check_columns(src: Path, header: list[str], wanted: list[str]) -> None:
    missing = [c for c in wanted if c not in header]
    if missing:
        shown = ", ".join(repr(h) for h in header[:50]) + (", ..." if len(header) > 50 else "")
        hint = ""
        if len(header) == 1 and any(s in header[0] for s in ";\t|"):
            hint = (
                " (the header is one column: is the file separated by ';' or tabs? physjepa "
                "reads comma-separated files)"
            )
        raise DataError(
            f"{src}: no column(s) {', '.join(repr(c) for c in missing)}; the file has {shown}{hint}"
        )
    dup = sorted({c for c in wanted if header.count(c) > 1})
    if dup:
        raise DataError(
            f"{src}: the header names column(s) {dup} more than once; rename them so each is unique"
        )


def _check_f32(src: Path, col: str, v: np.ndarray, where: Callable[[int], str]) -> None:
    big = np.abs(v) > _F32_MAX
    if big.any():
        i = int(np.argmax(big))
        raise DataError(
            f"{src}: {where(i)}, column {col!r}: {float(v[i])!r} is too large for float32 (max "
            f"{_F32_MAX:.3g}); rescale the column"
        )


def _episode_spans(
    src: Path, ids: list[str] | None, col: str | None, n: int, where: Callable[[int], str]
) -> list[tuple[str, int, int]]:
    """``(id, first row, end row)`` of each episode, in file order."""
    if ids is None:
        spans = [("0", 0, n)]
    else:
        spans, ended, start = [], {}, 0
        for i in range(1, n + 1):
            if i < n and ids[i] == ids[start]:
                continue
            spans.append((ids[start], start, i))
            ended[ids[start]] = i - 1
            if i < n and ids[i] in ended:
                raise DataError(
                    f"{src}: episode {ids[i]!r} of column {col!r} reappears at {where(i)} after "
                    f"episode {ids[start]!r} (its earlier rows end at {where(ended[ids[i]])}); "
                    f"rows must be grouped by episode: sort the table by {col!r} (a stable sort "
                    "keeps the time order)"
                )
            start = i
    for eid, a, b in spans:
        if b - a < 2:
            what = f"episode {eid!r} ({where(a)})" if ids is not None else "the table"
            raise DataError(
                f"{src}: {what} has {b - a} row(s); an episode needs at least 2: drop it or merge "
                "it with its neighbours"
            )
    return spans


def _check_time(
    src: Path,
    t: np.ndarray,
    col: str,
    spans: list[tuple[str, int, int]],
    where: Callable[[int], str],
) -> np.ndarray:
    """The time steps within episodes; each must be > 0."""
    dts = []
    for eid, a, b in spans:
        dt = np.diff(t[a:b])
        bad = dt <= 0
        if bad.any():
            k = a + int(np.argmax(bad)) + 1
            raise DataError(
                f"{src}: {where(k)}, column {col!r}: time {float(t[k])!r} does not increase (it "
                "follows "
                f"{float(t[k - 1])!r} at {where(k - 1)}, episode {eid!r}); each episode's rows "
                "must be in "
                f"time order without repeats: sort the table by episode, then {col!r}"
            )
        dts.append(dt)
    return np.concatenate(dts)


# -- CSV ---------------------------------------------------------------------------------------
def _parse_number(src: Path, text: str, col: str, where: str) -> float:
    if not text.strip():
        raise DataError(
            f"{src}: {where}, column {col!r}: empty cell; fill it with a number or drop the row"
        )
    try:
        v = float(text)
    except ValueError:
        raise DataError(
            f"{src}: {where}, column {col!r}: {text.strip()[:40]!r} is not a number; fix the cell "
            "or drop the row"
        ) from None
    if not math.isfinite(v):
        raise DataError(
            f"{src}: {where}, column {col!r}: {text.strip()[:40]!r} is NaN or infinite, which an "
            "episode file cannot hold; fill the cell with a number or drop the row"
        )
    return v


def _read_csv(
    src: Path, numeric: list[str], episode: str | None
) -> tuple[dict[str, np.ndarray], list[str] | None, Callable[[int], str]]:
    lines: list[int] = []
    cols: dict[str, list[float]] = {c: [] for c in numeric}
    ids: list[str] | None = [] if episode is not None else None
    line = 0
    try:
        with open(src, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{src} is empty; a CSV table needs a header row of column names")
            header = [h.strip() for h in header]
            _check_columns(src, header, [*numeric, *([episode] if episode else [])])
            index = {c: header.index(c) for c in numeric}
            ep_index = header.index(episode) if episode is not None else -1
            width = len(header)
            for row in reader:
                line = reader.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line
                if len(row) != width:
                    raise DataError(
                        f"{src}: line {line} has {len(row)} field(s) but the header has {width}; "
                        "fix the row (a missing or extra comma?) or drop it"
                    )
                at = f"line {line}"
                for c, j in index.items():
                    cols[c].append(_parse_number(src, row[j], c, at))
                if ids is not None:
                    eid = row[ep_index].strip()
                    if not eid:
                        raise DataError(
                            f"{src}: {at}, column {episode!r}: empty episode id; fill it or drop "
                            "the row"
                        )
                    ids.append(eid)
                lines.append(line)
    except UnicodeDecodeError as e:
        raise DataError(
            f"{src}: not UTF-8 text after line {line} ({e.reason}); save the table as UTF-8 CSV"
        ) from None
    except csv.Error as e:
        raise DataError(
            f"{src}: line {line + 1}: unreadable CSV ({e}); fix the row or drop it"
        ) from None
    except OSError as e:
        raise DataError(f"cannot read {src} ({e.strerror or e})") from None
    values = {c: np.asarray(v, np.float64) for c, v in cols.items()}
    return values, ids, lambda i: f"line {lines[i]}"


# -- Parquet -----------------------------------------------------------------------------------
def _read_parquet(
    src: Path, numeric: list[str], episode: str | None
) -> tuple[dict[str, np.ndarray], list[str] | None, Callable[[int], str]]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            f"reading {src} needs pyarrow, which is not installed: pip install pyarrow"
        ) from None

    def where(i: int) -> str:
        return f"row {i + 1}"

    try:
        header = list(pq.read_schema(src).names)
        _check_columns(src, header, [*numeric, *([episode] if episode else [])])
        table = pq.read_table(
            src, columns=list(dict.fromkeys([*numeric, *([episode] if episode else [])]))
        )
    except DataError:
        raise
    except (pa.ArrowException, OSError, ValueError) as e:
        text = " ".join(str(e).split())[:200]
        raise DataError(f"{src} is not a readable Parquet file ({text})") from None
    values = {c: _parquet_numbers(src, c, table.column(c), where, pa) for c in numeric}
    ids = None
    if episode is not None:
        ids = []
        for i, v in enumerate(table.column(episode).to_pylist()):
            if v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == "":
                raise DataError(
                    f"{src}: {where(i)}, column {episode!r}: empty episode id; fill it or drop the "
                    "row"
                )
            ids.append(str(v))
    return values, ids, where


def _parquet_numbers(src: Path, col: str, column: Any, where: Callable[[int], str], pa: Any):
    """A Parquet column as float64 numbers: checked for nulls, non-numbers and NaN/inf."""
    arr = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    typ = arr.type
    if arr.null_count:
        i = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataError(
            f"{src}: {where(i)}, column {col!r}: empty cell (null); fill it with a number or drop "
            "the row"
        )
    if pa.types.is_timestamp(typ) or pa.types.is_duration(typ):
        per_s = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[typ.unit]
        v = arr.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64) / per_s
    elif pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        v = arr.cast(pa.float64()).to_numpy(zero_copy_only=False)
    elif pa.types.is_string(typ) or pa.types.is_large_string(typ):
        v = np.asarray(
            [_parse_number(src, s, col, where(i)) for i, s in enumerate(arr.to_pylist())],
            np.float64,
        )
    else:
        raise DataError(
            f"{src}: column {col!r} holds {typ} values, not numbers; convert it to numbers or "
            "leave it out"
        )
    bad = ~np.isfinite(v)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"{src}: {where(i)}, column {col!r}: {float(v[i])!r} is NaN or infinite, which an "
            "episode file cannot hold; fill the cell with a number or drop the row"
        )
    return v
