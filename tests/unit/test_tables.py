"""``import_table``: CSV and Parquet tables of sensor time series become episode files.

Round trips read the values back equal to the source; every bad input is one DataError that
names the problem (with the line or row and the column where there is one), and neither the
source nor an existing output is ever changed.
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import pytest

from physjepa.data.episodes import DataError, EpisodeFile
from physjepa.data.tables import import_table

HEADER = ["t", "ep", "x", "v", "force", "note"]
#: three episodes of 4, 3 and 5 rows; "note" is a text column that is never used
ROWS = [
    [0.0, "a", 1.0, 0.5, 0.1, "start"],
    [0.1, "a", 1.05, 0.4, -0.2, ""],
    [0.2, "a", 1.09, 0.3, 0.3, "x"],
    [0.3, "a", 1.12, 0.2, 0.0, ""],
    [0.0, "b", -2.0, 1.5, 1.0, ""],
    [0.1, "b", -1.85, 1.25, 0.5, ""],
    [0.2, "b", -1.725, 1.0, -1.0, ""],
    [5.0, "c", 3.5e3, -7.25, 2.0, ""],
    [5.1, "c", 3.4e3, -7.0, 2.5, ""],
    [5.2, "c", 3.3e3, -6.75, 3.0, ""],
    [5.3, "c", 3.2e3, -6.5, 3.5, ""],
    [5.4, "c", 3.1e3, -6.25, 4.0, ""],
]
LENS = [4, 3, 5]


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _csv(path, rows=ROWS, header=HEADER) -> str:
    """Write ``rows`` as CSV (values as given, str() of each) and return the path."""
    text = ",".join(header) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    path.write_text(text)
    return path


def _col(name: str, rows=ROWS) -> np.ndarray:
    j = HEADER.index(name)
    return np.array([r[j] for r in rows], np.float32)


def _import(src, out, **kw):
    args = {"obs": ["x", "v"], "action": ["force"], "episode": "ep", "time": "t"}
    args.update(kw)
    return import_table(src, out, **args)


# -- round trips -------------------------------------------------------------------------------
def _check_round_trip(out, src, fps=10.0) -> None:
    with EpisodeFile(out) as f:
        assert f.n_episodes == 3 and list(f.ep_len) == LENS and f.n_steps == len(ROWS)
        np.testing.assert_array_equal(f.load("sensors"), np.column_stack([_col("x"), _col("v")]))
        np.testing.assert_array_equal(f.load("action"), _col("force")[:, None])
        np.testing.assert_array_equal(f.episode(1)["sensors"][:, 0], _col("x")[4:7])
        assert not f.has("pixels") and not f.has("state")
        assert f.sensor_names == ["x", "v"]
        assert f.world == "table"
        assert f.params == {"source": src.name, "obs": ["x", "v"], "action": ["force"]}
        assert f.fps == pytest.approx(fps)
        attrs = f.attrs()
        assert attrs["policy"] == "recorded" and attrs["seed"] == 0
        assert attrs["source_sha256"] == _sha(src)
        assert json.loads(attrs["episode_ids_json"]) == ["a", "b", "c"]
        assert "image_size" not in attrs and "no_actions" not in attrs


def test_csv_round_trip(tmp_path):
    src = _csv(tmp_path / "log.csv")
    before = _sha(src)
    out = _import(src, tmp_path / "d" / "log.h5")
    assert out == tmp_path / "d" / "log.h5"
    _check_round_trip(out, src)
    assert _sha(src) == before  # the source is only read
    assert not list(tmp_path.rglob("*.partial"))


def test_parquet_round_trip(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    cols = {h: [r[j] for r in ROWS] for j, h in enumerate(HEADER)}
    table = pa.table({**cols, "force": pa.array(cols["force"], pa.float32())})
    for name in ("log.parquet", "log.pq"):
        src = tmp_path / name
        pq.write_table(table, src)
        before = _sha(src)
        out = _import(src, tmp_path / f"{name}.h5")
        _check_round_trip(out, src)
        assert _sha(src) == before


def test_parquet_integer_ids_and_timestamps(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    n = 6
    table = pa.table(
        {
            "when": pa.array(np.arange(n, dtype=np.int64) * 250, pa.timestamp("ms")),
            "run": pa.array([7, 7, 7, 3, 3, 3], pa.int32()),
            "gauge": pa.array(np.arange(n), pa.int64()),
            "text_number": pa.array(["1.5", "2", "-3e2", "4", "5", "6"]),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    out = import_table(
        tmp_path / "t.parquet",
        tmp_path / "t.h5",
        obs=["gauge", "text_number"],
        action=[],
        episode="run",
        time="when",
    )
    with EpisodeFile(out) as f:
        assert list(f.ep_len) == [3, 3] and f.fps == pytest.approx(4.0)
        np.testing.assert_array_equal(f.load("sensors")[:, 1], [1.5, 2, -300, 4, 5, 6])
        assert json.loads(f.attrs()["episode_ids_json"]) == ["7", "3"]


def test_state_no_actions_one_episode_and_fps(tmp_path):
    src = _csv(tmp_path / "log.csv")
    out = import_table(src, tmp_path / "a.h5", obs=["x"], action=[], state=["x", "v"])
    with EpisodeFile(out) as f:
        assert f.n_episodes == 1 and f.n_steps == len(ROWS)  # no episode column: one episode
        assert f.fps == 0.0  # no time column, no fps
        np.testing.assert_array_equal(f.load("action"), np.zeros((len(ROWS), 1), np.float32))
        assert f.attrs()["no_actions"] == 1
        assert f.state_spec == [("x", (1,)), ("v", (1,))]  # state may repeat an obs column
        np.testing.assert_array_equal(f.load("state")[:, 1], _col("v"))
        assert f.params["action"] == [] and "episode_ids_json" not in f.attrs()
    out = _import(src, tmp_path / "b.h5", fps=50)
    with EpisodeFile(out) as f:
        assert f.fps == 50.0  # given fps wins over the time column


def test_csv_details(tmp_path):
    """A byte-order mark, spaces around header names and blank lines are accepted; unused
    columns may hold anything (text, empty cells)."""
    text = "\ufeff t , ep,x,v ,force,note\n" + "".join(
        ",".join(map(str, r)) + "\n" + ("\n" if i == 2 else "") for i, r in enumerate(ROWS)
    )
    (tmp_path / "bom.csv").write_text(text, encoding="utf-8")
    out = _import(tmp_path / "bom.csv", tmp_path / "bom.h5")
    with EpisodeFile(out) as f:
        assert list(f.ep_len) == LENS


# -- the source and an existing output are never changed -----------------------------------------
def test_existing_output_refused_unless_overwrite(tmp_path):
    src = _csv(tmp_path / "log.csv")
    out = tmp_path / "log.h5"
    out.write_bytes(b"precious")
    with pytest.raises(DataError, match="already exists.*--overwrite"):
        _import(src, out)
    assert out.read_bytes() == b"precious"
    _import(src, out, overwrite=True)
    _check_round_trip(out, src)


def test_out_is_the_source(tmp_path):
    src = _csv(tmp_path / "log.csv")
    before = _sha(src)
    with pytest.raises(DataError, match="source table itself"):
        _import(src, src, overwrite=True)
    assert _sha(src) == before


def test_failed_import_leaves_nothing(tmp_path):
    rows = [list(r) for r in ROWS]
    rows[5][2] = "oops"
    src = _csv(tmp_path / "bad.csv", rows)
    before = _sha(src)
    with pytest.raises(DataError):
        _import(src, tmp_path / "bad.h5")
    assert _sha(src) == before
    assert not (tmp_path / "bad.h5").exists() and not list(tmp_path.glob("*.partial"))


# -- bad input: one DataError naming the problem --------------------------------------------------
def _bad(tmp_path, change, **kw) -> str:
    """Import ROWS with ``change(rows)`` applied; return the DataError's message."""
    rows = [list(r) for r in ROWS]
    change(rows)
    src = _csv(tmp_path / "bad.csv", rows)
    with pytest.raises(DataError) as e:
        _import(src, tmp_path / "bad.h5", **kw)
    msg = str(e.value)
    assert "bad.csv" in msg and "\n" not in msg, msg
    assert not (tmp_path / "bad.h5").exists()
    return msg


@pytest.mark.parametrize(
    "row, col, value, needles",
    [
        (3, "x", "", ["line 5", "'x'", "empty cell", "fill it"]),
        (3, "x", "  ", ["line 5", "'x'", "empty cell"]),
        (6, "v", "1.2.3", ["line 8", "'v'", "'1.2.3'", "not a number"]),
        (0, "force", "high", ["line 2", "'force'", "'high'", "not a number"]),
        (9, "x", "nan", ["line 11", "'x'", "NaN or infinite"]),
        (10, "force", "-inf", ["line 12", "'force'", "NaN or infinite"]),
        (1, "t", "NaN", ["line 3", "'t'", "NaN or infinite"]),
        (2, "v", "1e39", ["line 4", "'v'", "too large for float32"]),
        (4, "ep", "", ["line 6", "'ep'", "empty episode id"]),
    ],
)
def test_bad_cells(tmp_path, row, col, value, needles):
    def change(rows):
        rows[row][HEADER.index(col)] = value

    msg = _bad(tmp_path, change)
    for needle in needles:
        assert needle in msg, (needle, msg)


def test_unused_bad_cells_are_fine(tmp_path):
    rows = [list(r) for r in ROWS]
    for r in rows:
        r[HEADER.index("v")] = "n/a"
    out = import_table(_csv(tmp_path / "ok.csv", rows), tmp_path / "ok.h5", ["x"], [])
    with EpisodeFile(out) as f:
        assert f.sensor_names == ["x"]


def test_unknown_column_lists_available(tmp_path):
    msg = _bad(tmp_path, lambda rows: None, obs=["x", "speed"])
    assert "'speed'" in msg
    for col in HEADER:
        assert repr(col) in msg, msg
    msg = _bad(tmp_path, lambda rows: None, episode="episode")
    assert "'episode'" in msg and "'ep'" in msg


def test_semicolon_separated_hint(tmp_path):
    (tmp_path / "semi.csv").write_text("t;x\n0;1\n1;2\n")
    with pytest.raises(DataError, match="separated by ';'"):
        import_table(tmp_path / "semi.csv", tmp_path / "o.h5", ["x"], [])


@pytest.mark.parametrize(
    "kw, needles",
    [
        ({"obs": ["x", "v"], "action": ["v"]}, ["'v'", "used twice", "--obs", "--action"]),
        ({"obs": ["x", "t"]}, ["'t'", "used twice", "--time"]),
        ({"obs": ["x", "ep"]}, ["'ep'", "used twice", "--episode"]),
        ({"obs": ["x", "x"]}, ["'x'", "more than once"]),
        ({"state": ["force"]}, ["'force'", "used twice", "--state"]),
        ({"obs": []}, ["--obs", "at least one"]),
        ({"fps": 0}, ["--fps", "positive"]),
        ({"fps": float("nan")}, ["--fps", "positive"]),
    ],
)
def test_bad_arguments(tmp_path, kw, needles):
    src = _csv(tmp_path / "log.csv")
    with pytest.raises(DataError) as e:
        _import(src, tmp_path / "o.h5", **kw)
    for needle in needles:
        assert needle in str(e.value), (needle, str(e.value))
    assert not (tmp_path / "o.h5").exists()


def test_episode_rows_not_grouped(tmp_path):
    def change(rows):
        rows[8][1] = "a"  # an 'a' row inside episode 'c'

    msg = _bad(tmp_path, change)
    for needle in ["episode 'a'", "line 10", "grouped by episode", "sort"]:
        assert needle in msg, (needle, msg)


def test_time_not_increasing(tmp_path):
    def change(rows):
        rows[5][0] = 0.0  # episode 'b': 0.0, 0.0, 0.2

    msg = _bad(tmp_path, change)
    for needle in ["line 7", "'t'", "does not increase", "line 6", "episode 'b'", "sort"]:
        assert needle in msg, (needle, msg)
    # a new episode may start its clock again (ROWS already does); decreasing is refused
    msg = _bad(tmp_path, lambda rows: rows[11].__setitem__(0, 5.0))
    assert "line 13" in msg and "does not increase" in msg


def test_short_episode(tmp_path):
    def change(rows):
        rows[4][1] = "lonely"  # 'b' keeps 2 rows, 'lonely' has 1

    msg = _bad(tmp_path, change)
    assert "episode 'lonely'" in msg and "line 6" in msg and "at least 2" in msg, msg
    src = _csv(tmp_path / "one.csv", ROWS[:1])
    with pytest.raises(DataError, match="at least 2"):
        import_table(src, tmp_path / "one.h5", ["x"], [])


def test_ragged_row(tmp_path):
    src = tmp_path / "ragged.csv"
    src.write_text("t,x\n0,1\n1,2,3\n")
    with pytest.raises(DataError, match=r"line 3 has 3 field\(s\) but the header has 2"):
        import_table(src, tmp_path / "o.h5", ["x"], [])


def test_empty_and_header_only(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty.*header row"):
        import_table(tmp_path / "empty.csv", tmp_path / "o.h5", ["x"], [])
    (tmp_path / "head.csv").write_text("t,x\n")
    with pytest.raises(DataError, match="no data rows"):
        import_table(tmp_path / "head.csv", tmp_path / "o.h5", ["x"], [])


def test_bad_source_paths(tmp_path):
    with pytest.raises(DataError, match="not found"):
        import_table(tmp_path / "nope.csv", tmp_path / "o.h5", ["x"], [])
    with pytest.raises(DataError, match="directory"):
        import_table(tmp_path, tmp_path / "o.h5", ["x"], [])
    (tmp_path / "log.xlsx").write_bytes(b"PK")
    with pytest.raises(DataError, match=r"unknown table format '\.xlsx'.*\.csv"):
        import_table(tmp_path / "log.xlsx", tmp_path / "o.h5", ["x"], [])
    (tmp_path / "latin.csv").write_bytes("t,x\n0,1\n1,2\n2,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="UTF-8"):
        import_table(tmp_path / "latin.csv", tmp_path / "o.h5", ["x"], [])


def test_bad_parquet_inputs(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    def bad(table, match, **kw):
        pq.write_table(table, tmp_path / "b.parquet")
        with pytest.raises(DataError, match=match):
            import_table(
                tmp_path / "b.parquet", tmp_path / "o.h5", **{"obs": ["x"], "action": [], **kw}
            )
        assert not (tmp_path / "o.h5").exists()

    bad(pa.table({"x": [1.0, None, 3.0]}), r"row 2, column 'x': empty cell")
    bad(pa.table({"x": [1.0, 2.0, float("nan")]}), r"row 3, column 'x'.*NaN or infinite")
    bad(pa.table({"x": ["1", "two", "3"]}), r"row 2, column 'x': 'two' is not a number")
    bad(pa.table({"x": [True, False, True]}), r"column 'x' holds bool values, not numbers")
    bad(pa.table({"y": [1.0, 2.0]}), r"no column\(s\) 'x'; the file has 'y'")
    bad(
        pa.table({"x": [1.0, 2.0, 3.0], "e": ["a", None, "a"]}),
        r"row 2.*empty episode id",
        episode="e",
    )
    bad(
        pa.table({"x": [1.0, 2.0, 3.0], "t": [0.0, 1.0, 1.0]}),
        r"row 3, column 't'.*does not increase",
        time="t",
    )
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all" * 10)
    with pytest.raises(DataError, match="not a readable Parquet file"):
        import_table(tmp_path / "junk.parquet", tmp_path / "o.h5", ["x"], [])


def test_parquet_without_pyarrow(tmp_path, monkeypatch):
    (tmp_path / "t.parquet").write_bytes(b"PAR1")
    for mod in ("pyarrow", "pyarrow.parquet"):
        monkeypatch.setitem(sys.modules, mod, None)  # import raises ImportError
    with pytest.raises(DataError, match="pip install pyarrow") as e:
        import_table(tmp_path / "t.parquet", tmp_path / "o.h5", ["x"], [])
    assert "\n" not in str(e.value)
