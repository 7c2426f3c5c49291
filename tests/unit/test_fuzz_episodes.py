"""Fuzzing the episode reader: every hostile file ends in one clear DataError, or reads as valid
data; never another exception, a crash, a hang, or a changed file.

A small valid file is written with ``EpisodeWriter``, then damaged in many seeded ways:
truncation, flipped and overwritten bytes (anywhere, in the superblock, in the metadata), wrong
dtypes and shapes, unwritten (fill-value) datasets with absurd declared sizes, NaN/inf, broken
episode index vectors, corrupt attributes, groups and links where columns should be, and things
that are not HDF5 at all. Each file is read in a separate worker process (with a memory limit)
that opens it with ``EpisodeFile`` and calls every read method; a crash or a hang of that
worker, like any exception other than ``DataError``, fails the test with the case named.

The importers get the same treatment (``physjepa convert``'s library call, in the same worker):
damaged ``.npz`` files and folders (bytes, dtypes, shapes, NaN, missing keys, header bombs), a
file laid out as stable-worldmodel writes it put through the episode file's own mutation
families, and a LeRobot v3 dataset with each of its files damaged (info.json, the episode and
data Parquet files, the MP4). Each conversion ends in one DataError naming the source with no
output left behind, or in an output that reads back as valid data; the source never changes.

Run this file as a script with ``--worker`` to get the worker (the tests start it themselves).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import time
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

from physjepa.data.episodes import FRAME_COLUMNS, DataError, EpisodeFile, EpisodeWriter

SEED = 20240611
LENS = (5, 9, 3, 7)
N = sum(LENS)
STATE_SPEC = [["pos", [2]], ["speed", [1]]]
CASE_TIMEOUT = 10.0  # seconds a worker may take for one file before the case counts as a hang
WORKER_MEMORY = 3 << 30  # address-space limit of the worker: a memory bomb fails, not the box


# -- the valid file and its damaged copies ---------------------------------------------------------
@dataclass
class Case:
    name: str
    path: Path
    # "any": a DataError or valid data; "error": some DataError; "ok": reads cleanly
    expect: str = "any"
    match: str | None = None  # a regex the first DataError must match
    # False: pixels may read back differently each time. h5py's lzf filter accepts a damaged
    # chunk that decodes short and leaves the rest of the buffer uninitialised; only a checksum
    # (which EpisodeWriter writes) catches that, so files without one cannot be exact.
    exact: bool = True


def _write_base(path: Path) -> Path:
    rng = np.random.default_rng(SEED)
    attrs = {
        "world": "toy",
        "params_json": json.dumps({"gravity": 9.8, "mass": [1, 2]}),
        "fps": 10.0,
        "state_spec_json": json.dumps(STATE_SPEC),
        "seed": 7,
    }
    with EpisodeWriter(path, attrs) as w:
        for t in LENS:
            w.append(
                {
                    # few distinct values: lzf compresses them, so the metadata is a fair share
                    "pixels": (rng.integers(0, 4, (t, 16, 16, 3)) * 60).astype(np.uint8),
                    "action": rng.uniform(-1, 1, (t, 2)),
                    "state": rng.standard_normal((t, 3)),
                }
            )
    return path


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    path = _write_base(tmp_path_factory.mktemp("fuzz") / "base.h5")
    with EpisodeFile(path) as f:  # the starting point is valid
        assert f.n_episodes == len(LENS) and f.n_steps == N
    return path


def _raw_ranges(path: Path, names=None) -> list[tuple[int, int]]:
    """Byte ranges of the raw data (chunks or contiguous storage) of the file's datasets."""
    out = []
    with h5py.File(path, "r") as f:
        for name, ds in f.items():
            if names is not None and name not in names:
                continue
            if ds.chunks:
                for i in range(ds.id.get_num_chunks()):
                    info = ds.id.get_chunk_info(i)
                    out.append((info.byte_offset, info.byte_offset + info.size))
            else:
                off = ds.id.get_offset()
                if off is not None:
                    out.append((off, off + ds.id.get_storage_size()))
    return sorted(out)


def _bytes_case(dirpath: Path, name: str, data: bytes | bytearray, **kw) -> Case:
    path = dirpath / (re.sub(r"[^\w.-]+", "_", name)[:120] + ".h5")
    path.write_bytes(bytes(data))
    return Case(name, path, **kw)


def _h5_case(dirpath: Path, base: Path, name: str, edit, **kw) -> Case:
    """A copy of ``base`` changed with h5py by ``edit(f)``."""
    path = dirpath / (re.sub(r"[^\w.-]+", "_", name)[:120] + ".h5")
    shutil.copyfile(base, path)
    with h5py.File(path, "r+") as f:
        edit(f)
    return Case(name, path, **kw)


def _put(name: str, data=None, **create):
    """An edit that replaces (or adds) dataset ``name``."""

    def edit(f):
        if name in f:
            del f[name]
        f.create_dataset(name, data=data, **create)

    return edit


def _put_many(**datasets):
    def edit(f):
        for name, data in datasets.items():
            if data is None:
                del f[name]
            else:
                _put(name, data)(f)

    return edit


def _attr(name: str, value):
    def edit(f):
        if value is None:
            del f.attrs[name]
        else:
            f.attrs[name] = value

    return edit


def _read(base: Path, name: str) -> np.ndarray:
    with h5py.File(base, "r") as f:
        return f[name][()]


# -- the mutation families -------------------------------------------------------------------------
def truncations(d, base, rng):
    data = base.read_bytes()
    cuts = [0, 8, 100, 512, len(data) // 2, len(data) - 1] + sorted(
        int(x) for x in rng.integers(1, len(data), 16)
    )
    return [
        _bytes_case(d, f"truncated at byte {c} of {len(data)}", data[:c], expect="error")
        for c in cuts
    ]


def _flip(data: bytes, positions, rng) -> bytearray:
    out = bytearray(data)
    for p in positions:
        out[int(p)] ^= int(rng.integers(1, 256))
    return out


def byte_flips(d, base, rng):
    data = base.read_bytes()
    raw = np.zeros(len(data), bool)
    for a, b in _raw_ranges(base):
        raw[a:b] = True
    meta = np.flatnonzero(~raw)
    cases = []
    for i in range(20):
        pos = [int(p) for p in rng.integers(0, len(data), int(rng.integers(1, 9)))]
        cases.append(
            _bytes_case(d, f"flip {len(pos)} bytes anywhere #{i} at {pos}", _flip(data, pos, rng))
        )
    for i in range(20):
        pos = [int(p) for p in rng.choice(meta, int(rng.integers(1, 5)))]
        cases.append(
            _bytes_case(d, f"flip {len(pos)} metadata bytes #{i} at {pos}", _flip(data, pos, rng))
        )
    for i in range(8):  # the superblock (version 0: 96 bytes)
        pos = [int(p) for p in rng.integers(0, 96, int(rng.integers(1, 3)))]
        cases.append(_bytes_case(d, f"flip superblock bytes #{i} at {pos}", _flip(data, pos, rng)))
    for i in range(8):  # the root group's symbol table and object header after it
        pos = [int(p) for p in rng.integers(96, 1024, int(rng.integers(1, 4)))]
        cases.append(_bytes_case(d, f"flip header bytes #{i} at {pos}", _flip(data, pos, rng)))
    return cases


def overwrites(d, base, rng):
    data = base.read_bytes()
    cases = []
    for i in range(15):
        length = int(rng.integers(16, 513))
        start = int(rng.integers(0, len(data) - length)) if i % 3 else int(rng.integers(0, 1024))
        fill = [
            lambda n: rng.integers(0, 256, n, dtype=np.uint8).tobytes(),
            lambda n: b"\x00" * n,
            lambda n: b"\xff" * n,
        ][i % 3](length)
        out = bytearray(data)
        out[start : start + length] = fill
        cases.append(_bytes_case(d, f"overwrite bytes {start}..{start + length} #{i}", out))
    # inside the lzf-compressed pixel chunks, with and without (older files) checksums
    pixels = _read(base, "pixels")
    old = _h5_case(
        d, base, "no checksums", _put("pixels", pixels, chunks=(5, 16, 16, 3), compression="lzf")
    )
    for i in range(8):
        src = old.path if i % 2 else base
        px = _raw_ranges(src, ["pixels"])
        a, b = px[int(rng.integers(0, len(px)))]
        if i < 4:
            pos = [a, a + 1, a + 2]
        else:
            pos = [int(p) for p in rng.integers(a, b, int(rng.integers(1, 6)))]
        what = "unchecked" if i % 2 else "checksummed"
        data_i = _flip(src.read_bytes(), pos, rng)
        kw = {"expect": "any", "exact": False} if i % 2 else {"expect": "error"}
        cases.append(_bytes_case(d, f"corrupt {what} lzf pixel chunk #{i} at {pos}", data_i, **kw))
    return cases


def checksummed_chunk(d, base, rng):
    """``action`` stored with a Fletcher-32 checksum, then one of its bytes flipped."""
    act = _read(base, "action")
    good = _h5_case(
        d,
        base,
        "action with fletcher32",
        _put("action", act, chunks=(4, 2), fletcher32=True),
        expect="ok",
    )
    (a, b), *_ = _raw_ranges(good.path, ["action"])
    bad = bytearray(good.path.read_bytes())
    bad[a + 3] ^= 0x40
    return [
        good,
        _bytes_case(d, "fletcher32 action chunk with a flipped byte", bad, expect="error"),
    ]


def wrong_dtypes(d, base, rng):
    px, act, st = (_read(base, k) for k in ("pixels", "action", "state"))
    lens, offs = _read(base, "ep_len"), _read(base, "ep_offset")
    strs = np.array([[str(v) for v in row] for row in act], dtype=h5py.string_dtype())
    compound = np.zeros(N, dtype=[("x", "f4"), ("y", "f4")])
    E = "error"
    spec = [
        ("pixels float32", _put("pixels", px.astype(np.float32)), E),
        ("pixels int16", _put("pixels", px.astype(np.int16)), E),
        ("pixels bool", _put("pixels", px > 100), E),
        ("action int32", _put("action", (act * 10).astype(np.int32)), E),
        ("action int64", _put("action", act.astype(np.int64)), E),
        ("action fixed strings", _put("action", act.astype("S12")), E),
        ("action variable-length strings", _put("action", strs), E),
        ("action complex64", _put("action", act.astype(np.complex64)), E),
        ("action compound", _put("action", compound), E),
        ("action bool", _put("action", act > 0), E),
        ("action object references", _put("action", shape=(N, 2), dtype=h5py.ref_dtype), E),
        ("action float16", _put("action", act.astype(np.float16)), "ok"),
        ("action float64", _put("action", act.astype(np.float64)), "ok"),
        ("state int64", _put("state", st.astype(np.int64)), E),
        ("state fixed strings", _put("state", st.astype("S8")), E),
        ("ep_len float64", _put("ep_len", lens.astype(np.float64)), E),
        ("ep_offset float32", _put("ep_offset", offs.astype(np.float32)), E),
        ("ep_len strings", _put("ep_len", lens.astype("S4")), E),
        ("ep_offset strings", _put("ep_offset", offs.astype("S4")), E),
        ("ep_len bool", _put("ep_len", lens > 0), E),
        ("ep_len complex", _put("ep_len", lens.astype(np.complex128)), E),
        ("ep_len uint16", _put("ep_len", lens.astype(np.uint16)), "ok"),
        ("ep_offset int32", _put("ep_offset", offs.astype(np.int32)), "ok"),
        ("ep_len int8", _put("ep_len", lens.astype(np.int8)), "ok"),
    ]
    return [_h5_case(d, base, n, e, expect=x) for n, e, x in spec]


def _unwritten(**shapes):
    """Replace datasets by chunked ones of the given (shape, chunks, dtype) that hold no data."""

    def edit(f):
        for name, (shape, chunks, dtype) in shapes.items():
            _put(name, shape=shape, chunks=chunks, dtype=dtype, maxshape=(None,) * len(shape))(f)

    return edit


def _partly_written(f):
    act = f["action"][()]
    del f["action"]
    ds = f.create_dataset("action", shape=(N, 2), chunks=(4, 2), dtype=np.float32, fillvalue=np.nan)
    ds[:8] = act[:8]


def absurd_shapes(d, base, rng):
    px, act, st = (_read(base, k) for k in ("pixels", "action", "state"))
    big = 1 << 40
    E = "error"
    spec = [
        ("action with 0 rows", _put("action", np.zeros((0, 2), np.float32)), E),
        ("action 1-D", _put("action", act[:, 0]), E),
        ("action 3-D", _put("action", act[:, :, None]), E),
        ("action (N, 0)", _put("action", np.zeros((N, 0), np.float32)), E),
        ("action scalar", _put("action", np.float32(1.0)), E),
        ("action null dataspace", _put("action", h5py.Empty("f4")), E),
        ("action one row short", _put("action", act[:-1]), E),
        ("pixels 3-D", _put("pixels", px[..., 0]), E),
        ("pixels with 4 channels", _put("pixels", np.concatenate([px, px[..., :1]], -1)), E),
        ("pixels (N, 0, 16, 3)", _put("pixels", np.zeros((N, 0, 16, 3), np.uint8)), E),
        ("state (N, 0)", _put("state", np.zeros((N, 0), np.float32)), E),
        ("state one row long", _put("state", np.concatenate([st, st[:1]])), E),
        (
            "pixels of 2^20 x 2^20 declared, never written",
            _unwritten(pixels=((N, 1 << 20, 1 << 20, 3), (1, 16, 16, 3), np.uint8)),
            E,
        ),
        (
            "action 2^40 wide, never written",
            _unwritten(action=((N, big), (1, 1024), np.float32)),
            E,
        ),
        (
            "one episode of 2^40 steps, never written",
            lambda f: (
                _put_many(ep_len=np.array([big], np.int64), ep_offset=np.array([0], np.int64))(f),
                _unwritten(
                    pixels=((big, 16, 16, 3), (64, 16, 16, 3), np.uint8),
                    action=((big, 2), (64, 2), np.float32),
                    state=((big, 3), (64, 3), np.float32),
                )(f),
            ),
            E,
        ),
        (
            "2^31 episodes declared, never written",
            _unwritten(
                ep_len=((1 << 31,), (1024,), np.int32), ep_offset=((1 << 31,), (1024,), np.int64)
            ),
            E,
        ),
        ("action only partly written (NaN fill)", _partly_written, E),
        ("action maxshape (None, None)", _put("action", act, maxshape=(None, None)), "ok"),
        (
            "action gzip+shuffle in (1, 1) chunks",
            _put("action", act, chunks=(1, 1), compression="gzip", shuffle=True),
            "ok",
        ),
    ]
    return [_h5_case(d, base, n, e, expect=x) for n, e, x in spec]


def non_finite(d, base, rng):
    offs = _read(base, "ep_offset")
    cases = []
    for i in range(12):
        col = ("action", "state")[i % 2]
        value = (np.nan, np.inf, -np.inf)[i % 3]
        data = _read(base, col)
        if i == 11:
            data = data.astype(np.float64)
        row, k = int(rng.integers(0, N)), int(rng.integers(0, data.shape[1]))
        data[row, k] = value
        ep = int(np.searchsorted(offs, row, side="right") - 1)
        cases.append(
            _h5_case(
                d,
                base,
                f"{value} in {col}[{row}, {k}] ({data.dtype})",
                _put(col, data),
                expect="error",
                match=rf"'{col}' holds NaN or inf at row {row} "
                rf"\(episode {ep}, step {row - offs[ep]}\)",
            )
        )
    return cases


def bad_episode_index(d, base, rng):
    lens = np.array(LENS, np.int64)
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]])

    def idx(ep_len, ep_offset, **frames):
        return _put_many(ep_len=np.asarray(ep_len), ep_offset=np.asarray(ep_offset), **frames)

    huge = np.full(4, 1 << 62, np.int64)  # sums to 2^64: wraps to 0 in int64 arithmetic
    wrapped = np.array([0, 1 << 62, -(1 << 63), -(1 << 62)], np.int64)
    empty = {
        k: np.zeros((0,) + s, t)
        for k, s, t in [
            ("pixels", (16, 16, 3), np.uint8),
            ("action", (2,), np.float32),
            ("state", (3,), np.float32),
        ]
    }
    E = "error"
    spec = [
        ("ep_len sums to one more than the rows", idx(lens + [0, 0, 0, 1], offs), E),
        ("ep_len one short, offsets consistent", idx(lens - [1, 0, 0, 0], offs - [0, 1, 1, 1]), E),
        ("ep_offset shifted by one", idx(lens, offs + 1), E),
        ("negative ep_len", idx([-5, 15, 7, 7], [0, -5, 10, 17]), E),
        ("negative ep_offset", idx(lens, offs - 3), E),
        ("zero-length episode", idx([5, 0, 12, 7], [0, 5, 5, 17]), E),
        ("ep_offset out of order", idx(lens, offs[[0, 2, 1, 3]]), E),
        ("ep_len longer than ep_offset", idx(np.append(lens, 1), offs), E),
        ("no episodes at all", idx(np.zeros(0, np.int32), np.zeros(0, np.int64)), E),
        ("ep_len 2-D", idx(lens[:, None], offs), E),
        ("ep_len and ep_offset 2-D", idx(lens[:, None], offs[:, None]), E),
        ("ep_len scalar", idx(np.int32(N), offs[:1]), E),
        ("ep_len 2^62 each, sum wraps to 0, empty columns", idx(huge, wrapped, **empty), E),
        ("ep_len uint64 max", idx(np.array([2**64 - 1], np.uint64), [0]), E),
    ]
    return [_h5_case(d, base, n, e, expect=x) for n, e, x in spec]


def bad_attributes(d, base, rng):
    deep = "[" * 100_000 + "]" * 100_000
    E = "error"
    spec = [
        ("params_json not JSON", _attr("params_json", "{gravity"), E),
        ("params_json a list", _attr("params_json", "[1, 2]"), E),
        ("params_json null", _attr("params_json", "null"), E),
        ("params_json empty string", _attr("params_json", ""), E),
        ("params_json an integer", _attr("params_json", 5), E),
        ("params_json an array of strings", _attr("params_json", np.array([b"{}", b"{}"])), E),
        (
            "params_json fixed-length bytes",
            _attr("params_json", np.bytes_(b'{"gravity": 1}')),
            "ok",
        ),
        ("params_json invalid UTF-8", _attr("params_json", np.bytes_(b"\xff\xfe{")), E),
        ("params_json nested 100000 deep", _attr("params_json", deep), E),
        ("params_json empty dataspace", _attr("params_json", h5py.Empty("S1")), E),
        ("state_spec_json not JSON", _attr("state_spec_json", "[[pos"), E),
        ("state_spec_json an object", _attr("state_spec_json", "{}"), E),
        ("state_spec_json an integer", _attr("state_spec_json", 7), E),
        ("state_spec_json pair without shape", _attr("state_spec_json", '[["pos"]]'), E),
        (
            "state_spec_json wider than state",
            _attr("state_spec_json", '[["pos", [2]], ["vel", [5]]]'),
            E,
        ),
        (
            "state_spec_json shape a string",
            _attr("state_spec_json", '[["pos", "ab"], ["s", [1]]]'),
            E,
        ),
        ("state_spec_json shape an integer", _attr("state_spec_json", '[["pos", 3]]'), E),
        ("state_spec_json name a number", _attr("state_spec_json", "[[1, [3]]]"), E),
        (
            "state_spec_json negative dim",
            _attr("state_spec_json", '[["pos", [-1]], ["s", [4]]]'),
            E,
        ),
        (
            "state_spec_json fractional dim",
            _attr("state_spec_json", '[["pos", [1.5]], ["s", [1.5]]]'),
            E,
        ),
        ("state_spec_json nested 100000 deep", _attr("state_spec_json", deep), E),
        ("state_spec_json (1, 3)", _attr("state_spec_json", '[["pos", [1, 3]]]'), "ok"),
        ("format_version the string '1'", _attr("format_version", "1"), "any"),
        ("format_version the string 'abc'", _attr("format_version", "abc"), E),
        ("format_version an array", _attr("format_version", np.array([1, 2])), E),
        ("format_version 2.5", _attr("format_version", 2.5), E),
        ("format_version 99", _attr("format_version", 99), E),
        ("format fixed-length bytes", _attr("format", np.bytes_(b"physjepa-episodes")), "any"),
        ("format an array", _attr("format", np.array([b"physjepa-episodes"] * 2)), E),
        ("format an integer", _attr("format", 5), E),
        ("format missing", _attr("format", None), E),
        ("fps the string 'abc'", _attr("fps", "abc"), E),
        ("fps the string '20'", _attr("fps", "20"), "any"),
        ("fps an array", _attr("fps", np.array([1.0, 2.0])), E),
        ("fps NaN", _attr("fps", np.nan), E),
        ("fps negative", _attr("fps", -5.0), E),
        ("fps empty dataspace", _attr("fps", h5py.Empty("f4")), E),
        ("world a 2-D array", _attr("world", np.arange(4).reshape(2, 2)), "any"),
        ("an array-valued extra attribute", _attr("seed", np.arange(3)), "ok"),
        ("an empty-dataspace extra attribute", _attr("notes", h5py.Empty("f8")), "ok"),
    ]
    return [_h5_case(d, base, n, e, expect=x) for n, e, x in spec]


def odd_structure(d, base, rng):
    def group_for(name):
        def edit(f):
            del f[name]
            f.create_group(name).create_dataset("x", data=np.zeros(3))

        return edit

    def link(name, target):
        def edit(f):
            if name in f:
                del f[name]
            f[name] = target

        return edit

    def hard_link_state_to_action(f):
        del f["state"]
        f["state"] = f["action"]

    def extras(f):
        f.create_dataset("junk", data=np.ones((N, 5)))
        f.create_dataset("notes", data=np.array(["a", "b"], dtype=h5py.string_dtype()))
        f.create_group("meta").create_dataset("x", data=np.arange(3))

    E = "error"
    spec = [
        ("extra datasets and a group", extras, "ok"),
        (
            "extra 2^40-row dataset, never written",
            _unwritten(junk=((1 << 40,), (1024,), np.float32)),
            "ok",
        ),
        *[
            (f"{c} is a group", group_for(c), E)
            for c in ("pixels", "action", "state", "ep_len", "ep_offset")
        ],
        ("state a dangling soft link", link("state", h5py.SoftLink("/nowhere")), E),
        ("extra dangling soft link", link("ghost", h5py.SoftLink("/nowhere")), "ok"),
        (
            "state an external link to a missing file",
            link("state", h5py.ExternalLink("missing.h5", "/x")),
            E,
        ),
        ("state hard-linked to action", hard_link_state_to_action, E),
        ("no pixels and no state", _put_many(pixels=None, state=None), E),
        ("state only", _put_many(pixels=None), "ok"),
        ("pixels only", _put_many(state=None), "ok"),
        ("valid proprio", _put("proprio", np.ones((N, 4), np.float32)), "ok"),
        ("proprio int", _put("proprio", np.ones((N, 4), np.int32)), E),
    ]
    return [_h5_case(d, base, n, e, expect=x) for n, e, x in spec]


def not_episode_files(d, base, rng):
    cases = [
        _bytes_case(d, "empty file", b"", expect="error"),
        _bytes_case(d, "text file", b"hello, world\n" * 100, expect="error"),
        _bytes_case(d, "random bytes", rng.bytes(8192), expect="error"),
        _bytes_case(
            d, "HDF5 signature then garbage", b"\x89HDF\r\n\x1a\n" + rng.bytes(4096), expect="error"
        ),
        _bytes_case(d, "HDF5 signature only", b"\x89HDF\r\n\x1a\n", expect="error"),
    ]
    sparse = d / "sparse.h5"
    with open(sparse, "wb") as fh:
        fh.truncate(64 << 20)  # 64 MiB of holes, no signature anywhere
    cases.append(Case("64 MiB sparse file of zeros", sparse, expect="error"))
    (d / "dir.h5").mkdir()
    cases.append(Case("a directory", d / "dir.h5", expect="error"))
    os.mkfifo(d / "fifo.h5")
    cases.append(Case("a FIFO (opening it would block)", d / "fifo.h5", expect="error"))
    (d / "dangling.h5").symlink_to(d / "nowhere.h5")
    cases.append(Case("a dangling symlink", d / "dangling.h5", expect="error", match="not found"))
    shutil.copyfile(base, d / "target.h5")
    (d / "link.h5").symlink_to(d / "target.h5")
    cases.append(Case("a symlink to a valid file", d / "link.h5", expect="ok"))
    locked = shutil.copyfile(base, d / "unreadable.h5")
    locked.chmod(0)
    cases.append(Case("a file without read permission", locked))  # root can still read it
    return cases


FAMILIES = [
    truncations,
    byte_flips,
    overwrites,
    checksummed_chunk,
    wrong_dtypes,
    absurd_shapes,
    non_finite,
    bad_episode_index,
    bad_attributes,
    odd_structure,
    not_episode_files,
]


# -- the importers: `physjepa convert` on damaged sources ------------------------------------------
# Each case is converted in the worker (the importer picked by `detect`, as the CLI does): it must
# end in one DataError naming the source, or write an output that reads back as valid data, and
# never change the source nor leave an output behind when it fails.
def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)[:120]


NPZ_T = 6


def _npz_arrays(rng) -> dict[str, np.ndarray]:
    return {
        "pixels": (rng.integers(0, 4, (NPZ_T, 8, 8, 3)) * 60).astype(np.uint8),
        "action": rng.uniform(-1, 1, (NPZ_T, 2)).astype(np.float32),
        "state": rng.standard_normal((NPZ_T, 3)).astype(np.float32),
        "fps": np.float64(10),
    }


def _npz_case(d: Path, name: str, arrays: dict, compressed: bool = False, **kw) -> Case:
    path = d / (_safe(name) + ".npz")
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return Case(name, path, **kw)


def npz_bytes(d, sources, rng):
    """Truncated, flipped and overwritten bytes of a plain and a compressed .npz."""
    arrays = _npz_arrays(rng)
    cases = []
    for compressed in (False, True):
        kind = "compressed" if compressed else "plain"
        good = _npz_case(d, f"{kind} valid", arrays, compressed, expect="ok")
        data = good.path.read_bytes()
        cases.append(good)
        for c in [0, 4, 30, len(data) // 2, len(data) - 22, len(data) - 1]:
            cases.append(
                _bytes_case(d, f"{kind} truncated at {c} of {len(data)}", data[:c], expect="error")
            )
        for i in range(10):
            pos = [int(p) for p in rng.integers(0, len(data), int(rng.integers(1, 6)))]
            cases.append(_bytes_case(d, f"{kind} flip #{i} at {pos}", _flip(data, pos, rng)))
        for _ in range(4):
            n = int(rng.integers(8, 200))
            a = int(rng.integers(0, len(data) - n))
            out = bytearray(data)
            out[a : a + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
            cases.append(_bytes_case(d, f"{kind} overwrite {a}..{a + n}", out))
    for c in cases:  # _bytes_case names them .h5: an .npz must be called .npz
        if c.path.suffix != ".npz":
            c.path = c.path.rename(c.path.with_suffix(".npz"))
    return cases


def npz_contents(d, sources, rng):
    """Valid .npz files holding wrong dtypes, shapes, values or keys."""
    base = _npz_arrays(rng)
    px, act, st = base["pixels"], base["action"], base["state"]
    E = "error"

    def w(**kw):
        return {**base, **kw}

    def without(*names):
        return {k: v for k, v in base.items() if k not in names}

    header_bomb = d / "header bomb.npz"  # declares 2^40 float64 rows, holds 16 bytes
    with zipfile.ZipFile(header_bomb, "w") as z:
        for k, v in base.items():
            if k != "action":
                z.writestr(f"{k}.npy", _npy_bytes(v))
        z.writestr("action.npy", _npy_bytes(np.zeros((2, 2)), shape=(1 << 40, 2)))
    short = d / "short member.npz"  # the action member holds fewer bytes than its header says
    with zipfile.ZipFile(short, "w") as z:
        for k, v in base.items():
            z.writestr(f"{k}.npy", _npy_bytes(v)[:-8] if k == "action" else _npy_bytes(v))
    spec = [
        ("pixels float32 0..1", w(pixels=px / 255.0), E),
        ("pixels int16 out of range", w(pixels=px.astype(np.int16) * 10), E),
        ("pixels int64 in range", w(pixels=px.astype(np.int64)), "ok"),
        ("pixels bool", w(pixels=px > 100), "ok"),
        ("pixels channels first", w(pixels=px.transpose(0, 3, 1, 2)), "ok"),
        ("pixels 4 channels", w(pixels=np.concatenate([px, px[..., :1]], -1)), E),
        ("pixels (T, 0, 8, 3)", w(pixels=np.zeros((NPZ_T, 0, 8, 3), np.uint8)), E),
        ("pixels 3-D", w(pixels=px[..., 0]), E),
        ("pixels a scalar", w(pixels=np.uint8(3)), E),
        ("pixels big-endian uint16", w(pixels=px.astype(">u2")), "ok"),
        ("action strings", w(action=act.astype("U8")), E),
        ("action bytes", w(action=act.astype("S8")), E),
        ("action complex", w(action=act.astype(np.complex64)), E),
        ("action bool", w(action=act > 0), "ok"),
        ("action structured", w(action=np.zeros(NPZ_T, [("x", "f4"), ("y", "f4")])), E),
        ("action datetime", w(action=np.zeros((NPZ_T, 2), "M8[s]")), E),
        ("action big-endian float64", w(action=act.astype(">f8")), "ok"),
        ("action float16", w(action=act.astype(np.float16)), "ok"),
        ("action 3-D", w(action=act[:, :, None]), E),
        ("action (T, 0)", w(action=np.zeros((NPZ_T, 0))), E),
        ("action a scalar", w(action=np.float32(1)), E),
        ("action one row short", w(action=act[:-1]), E),
        ("action NaN", w(action=np.where(np.arange(NPZ_T)[:, None] == 3, np.nan, act)), E),
        ("action inf", w(action=np.where(np.arange(NPZ_T)[:, None] == 0, -np.inf, act)), E),
        ("action 1e39 (beyond float32)", w(action=act.astype(np.float64) * 1e39), E),
        ("state NaN", w(state=np.full((NPZ_T, 3), np.nan)), E),
        ("state strings", w(state=st.astype("U5")), E),
        ("state one row long", w(state=np.concatenate([st, st[:1]])), E),
        ("no frames and no state", without("pixels", "state"), E),
        ("state only, no actions", without("pixels", "action"), "ok"),
        ("no arrays at all", {}, E),
        ("zero steps", w(**{k: v[:0] for k, v in base.items() if k != "fps"}), E),
        ("fps NaN", w(fps=np.float64(np.nan)), E),
        ("fps strings", w(fps=np.array(["10"])), E),
        ("fps two rates", w(fps=np.array([10.0, 20.0])), E),
        ("fps an empty array", w(fps=np.zeros(0)), E),
        ("fps one per step", w(fps=np.full(NPZ_T, 10.0)), "ok"),
    ]
    cases = [_npz_case(d, n, arrays, expect=x) for n, arrays, x in spec]
    obj = d / "pickled objects.npz"
    np.savez(obj, pixels=px, action=np.array([None] * NPZ_T, dtype=object))
    cases += [
        Case("pickled objects", obj, expect=E),
        Case("a header declaring 2^40 rows", header_bomb, expect=E),
        Case("a member shorter than its header says", short, expect=E),
    ]
    return cases


def _npy_bytes(arr: np.ndarray, shape: tuple | None = None) -> bytes:
    """``arr`` as .npy bytes; ``shape``: the header claims this shape instead."""
    import io

    buf = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(arr.dtype), "fortran_order": False}
    header["shape"] = shape if shape is not None else arr.shape
    np.lib.format.write_array_header_1_0(buf, header)
    buf.write(arr.tobytes())
    return buf.getvalue()


def npz_folders(d, sources, rng):
    """Folders of .npz episodes with one bad, odd or unreadable member."""
    base = _npz_arrays(rng)

    def folder(name: str, files: dict) -> Path:
        path = d / _safe(name)
        path.mkdir()
        for fname, content in files.items():
            if isinstance(content, bytes):
                (path / fname).write_bytes(content)
            elif content == "dir":
                (path / fname).mkdir()
            else:
                np.savez(path / fname, **content)
        return path

    def pair(**b):
        return {"a.npz": base, "b.npz": b}

    spec = [
        ("two good episodes", pair(**base), "ok"),
        ("one episode not a zip", {"a.npz": base, "b.npz": b"junk" * 10}, "error"),
        ("one episode empty", {"a.npz": base, "b.npz": b""}, "error"),
        ("actions in one only", pair(pixels=base["pixels"]), "error"),
        ("frame sizes differ", pair(**{**base, "pixels": np.zeros((NPZ_T, 4, 4, 3), np.uint8)}),
         "error"),
        ("action widths differ", pair(**{**base, "action": np.zeros((NPZ_T, 3))}), "error"),
        ("frames in one, state only in the other", pair(state=base["state"],
         action=base["action"]), "error"),
        ("fps differ", pair(**{**base, "fps": np.float64(25)}), "ok"),
        ("a folder named x.npz", {"a.npz": base, "x.npz": "dir"}, "ok"),
        ("no .npz at all", {"a.txt": b"hello"}, "error"),
    ]  # fmt: skip
    cases = [Case(name, folder(name, files), expect=x) for name, files, x in spec]
    dangling = folder("dangling symlink", {"a.npz": base})
    (dangling / "b.npz").symlink_to(d / "nowhere.npz")
    cases.append(Case("a dangling symlink among the episodes", dangling))
    locked = folder("unreadable episode", {"a.npz": base, "b.npz": base})
    (locked / "b.npz").chmod(0)
    cases.append(Case("an episode without read permission", locked))  # root can still read it
    return cases


def _swm_base(path: Path) -> Path:
    """A file as stable-worldmodel's HDF5Writer lays it out (resizable datasets in one-row
    chunks, latest file format, no attributes, text columns, a NaN action ending each
    episode), with the columns and episodes of the episode-file base, so the episode file's
    mutation families apply to it too."""
    rng = np.random.default_rng(SEED)
    cols = {
        "pixels": (rng.integers(0, 4, (N, 16, 16, 3)) * 60).astype(np.uint8),
        "action": rng.uniform(-1, 1, (N, 2)).astype(np.float32),
        "state": rng.standard_normal((N, 3)).astype(np.float32),
        "reward": rng.standard_normal(N),
        "terminated": np.zeros(N, bool),
        "step_idx": np.concatenate([np.arange(t) for t in LENS]),
    }
    ends = np.cumsum(LENS) - 1
    cols["action"][ends] = np.nan
    with h5py.File(path, "w", libver="latest") as f:
        for k, v in cols.items():
            f.create_dataset(k, data=v, maxshape=(None, *v.shape[1:]), chunks=(1, *v.shape[1:]))
        f.create_dataset("task", data=["push"] * N, dtype=h5py.string_dtype(), chunks=(1,))
        f.create_dataset("ep_len", data=np.array(LENS, np.int32), maxshape=(None,))
        f.create_dataset("ep_offset", data=np.cumsum((0, *LENS[:-1])), maxshape=(None,))
    return path


#: The episode file's families that apply to a stable-worldmodel file (its attributes have no
#: meaning there). Their expectations are about our reader; the importer casts what the reader
#: refuses (integer actions, ...), so only "it is damaged beyond reading" must stay an error.
SWM_FAMILIES = [
    truncations,
    byte_flips,
    overwrites,
    wrong_dtypes,
    absurd_shapes,
    non_finite,
    bad_episode_index,
    odd_structure,
    not_episode_files,
]


def swm_files(d, sources, rng):
    cases = [Case("as stable-worldmodel writes it", sources["swm"], expect="ok")]
    for family in SWM_FAMILIES:
        sub = d / family.__name__
        sub.mkdir()
        with np.errstate(invalid="ignore"):  # casting its NaN actions to integers
            made = family(sub, sources["swm"], rng)
        for case in made:
            if case.expect != "error" or family not in (truncations, not_episode_files):
                case.expect = "any"
            case.match = None
            cases.append(case)
    return cases


def _lerobot_case(d: Path, base: Path, name: str, edit, expect: str = "error") -> Case:
    """A copy of the LeRobot dataset ``base`` changed by ``edit(root)``."""
    root = d / _safe(name)
    shutil.copytree(base, root)
    edit(root)
    return Case(name, root, expect=expect)


LR_INFO = "meta/info.json"
LR_EPISODES = "meta/episodes/chunk-000/file-000.parquet"
LR_DATA = "data/chunk-000/file-000.parquet"
LR_VIDEO = "videos/observation.images.top/chunk-000/file-000.mp4"
FROM_TS = "videos/observation.images.top/from_timestamp"


def _info(**changes):
    """An edit of meta/info.json: top-level keys set (None deletes them)."""

    def edit(root):
        path = root / LR_INFO
        info = json.loads(path.read_text())
        for key, value in changes.items():
            if value is None:
                del info[key]
            else:
                info[key] = value
        path.write_text(json.dumps(info))

    return edit


def _feature(name: str, **changes):
    """An edit of one feature in meta/info.json."""

    def edit(root):
        path = root / LR_INFO
        info = json.loads(path.read_text())
        info["features"][name].update(changes)
        path.write_text(json.dumps(info))

    return edit


def _raw(rel: str, data=None, cut: float | None = None, flips: int = 0, seed: int = 0):
    """An edit of the file ``rel``: replaced by ``data`` bytes, cut to a fraction, or with
    ``flips`` random bytes flipped past its first 8."""

    def edit(root):
        path = root / rel
        raw = path.read_bytes()
        if data is not None:
            raw = data
        if cut is not None:
            raw = raw[: int(len(raw) * cut)]
        if flips:
            rng = np.random.default_rng(seed)
            raw = bytes(_flip(raw, rng.integers(8, len(raw), flips), rng))
        path.write_bytes(raw)

    return edit


def _table(rel: str, columns: dict):
    """An edit of the Parquet file ``rel``: columns replaced (by a list of values, or by
    ``f(column)``) or dropped (None)."""

    def edit(root):
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = root / rel
        table = pq.read_table(path)
        for name, value in columns.items():
            i = table.schema.get_field_index(name)
            if value is None:
                table = table.remove_column(i)
                continue
            new = value(table.column(name)) if callable(value) else value
            table = table.set_column(i, name, new if isinstance(new, pa.Array) else pa.array(new))
        pq.write_table(table, path)

    return edit


def _replace_by_dir(rel: str):
    def edit(root):
        (root / rel).unlink()
        (root / rel).mkdir()

    return edit


def lerobot_datasets(d, sources, rng):
    import pyarrow as pa

    base = sources["lerobot"]
    n_rows = sum(int(x) for x in sources["lerobot_lengths"])
    n_eps = len(sources["lerobot_lengths"])

    def action_with(row, value):
        def change(col):
            rows = col.to_pylist()
            rows[row] = [value, rows[row][1]]
            return pa.array(rows, pa.list_(pa.float64()))

        return change

    def timestamps_with(row, value):
        def change(col):
            rows = col.to_pylist()
            rows[row] = value
            return pa.array(rows, pa.float32())

        return change

    E, A = "error", "any"
    deep = "[" * 100_000 + "]" * 100_000
    spec = [
        ("valid", lambda root: None, "ok"),
        # meta/info.json
        ("info.json cut in half", _raw(LR_INFO, cut=0.5), E),
        ("info.json empty", _raw(LR_INFO, data=b""), E),
        ("info.json random bytes", _raw(LR_INFO, data=rng.bytes(300)), E),
        ("info.json invalid UTF-8", _raw(LR_INFO, data=b'{"fps": "\xff\xfe"}'), E),
        ("info.json a list", _raw(LR_INFO, data=b"[1, 2]"), E),
        ("info.json nested 100000 deep", _raw(LR_INFO, data=deep.encode()), E),
        ("info.json a directory", _replace_by_dir(LR_INFO), E),
        ("codebase_version missing", _info(codebase_version=None), E),
        ("codebase_version a number", _info(codebase_version=3), E),
        ("fps 0", _info(fps=0), E),
        ("fps a string", _info(fps="10"), E),
        ("fps NaN", _info(fps=float("nan")), E),
        ("fps Infinity", _info(fps=float("inf")), E),
        ("fps 1e-300", _info(fps=1e-300), A),
        ("fps 1e300", _info(fps=1e300), A),
        ("features missing", _info(features=None), E),
        ("features a list", _info(features=[1, 2]), E),
        ("features entries strings", _info(features={"action": "float32"}), E),
        ("no video feature", _info(features={"action": {"dtype": "float32", "shape": [2]}}), E),
        ("action dtype string", _feature("action", dtype="string"), E),
        ("action shape a string", _feature("action", shape="two"), "ok"),
        ("action shape [3]", _feature("action", shape=[3]), E),
        ("action names a number", _feature("action", names=5), "ok"),
        ("data_path unknown key", _info(data_path="data/{nope}.parquet"), E),
        ("data_path subscripted", _info(data_path="data/{chunk_index[0]}.parquet"), E),
        ("data_path attribute", _info(data_path="data/{chunk_index.nope}.parquet"), E),
        ("data_path positional", _info(data_path="data/{0}.parquet"), E),
        ("data_path bad format spec", _info(data_path="data/{chunk_index:s}.parquet"), E),
        ("data_path unbalanced", _info(data_path="data/{chunk_index.parquet"), E),
        ("data_path a number", _info(data_path=7), E),
        ("data_path empty", _info(data_path=""), E),
        ("data_path the info file", _info(data_path="meta/info.json"), E),
        ("video_path a directory", _info(video_path="videos"), E),
        # meta/episodes
        ("episodes parquet cut in half", _raw(LR_EPISODES, cut=0.5), E),
        ("episodes parquet random bytes", _raw(LR_EPISODES, data=rng.bytes(2000)), E),
        ("episodes parquet 8 flipped bytes", _raw(LR_EPISODES, flips=8, seed=1), A),
        ("episodes parquet 64 flipped bytes", _raw(LR_EPISODES, flips=64, seed=2), A),
        ("episodes parquet a directory", _replace_by_dir(LR_EPISODES), E),
        ("episodes parquet missing", lambda root: (root / LR_EPISODES).unlink(), E),
        ("no length column", _table(LR_EPISODES, {"length": None}), E),
        ("lengths strings", _table(LR_EPISODES, {"length": ["5"] * n_eps}), E),
        ("lengths floats 2.5", _table(LR_EPISODES, {"length": [2.5] * n_eps}), E),
        ("lengths 0", _table(LR_EPISODES, {"length": [0] * n_eps}), E),
        ("lengths negative", _table(LR_EPISODES, {"length": [-3] * n_eps}), E),
        ("lengths null", _table(LR_EPISODES, {"length": pa.array([None] * n_eps, pa.int64())}), E),
        ("lengths 2^62", _table(LR_EPISODES, {"length": [1 << 62] * n_eps}), E),
        ("episode_index repeated", _table(LR_EPISODES, {"episode_index": [0] * n_eps}), E),
        ("episode_index 2^62", _table(LR_EPISODES, {"episode_index": [1 << 62] * n_eps}), E),
        ("data chunk 10^12", _table(LR_EPISODES, {"data/chunk_index": [10**12] * n_eps}), E),
        ("data chunk -1", _table(LR_EPISODES, {"data/chunk_index": [-1] * n_eps}), E),
        ("data chunk bool", _table(LR_EPISODES, {"data/chunk_index": [True] * n_eps}), E),
        ("from_timestamp NaN", _table(LR_EPISODES, {FROM_TS: [float("nan")] * n_eps}), E),
        ("from_timestamp strings", _table(LR_EPISODES, {FROM_TS: ["0"] * n_eps}), E),
        ("from_timestamp past the video", _table(LR_EPISODES, {FROM_TS: [1e6] * n_eps}), E),
        ("from_timestamp -1e300", _table(LR_EPISODES, {FROM_TS: [-1e300] * n_eps}), E),
        # data
        ("data parquet cut in half", _raw(LR_DATA, cut=0.5), E),
        ("data parquet random bytes", _raw(LR_DATA, data=rng.bytes(3000)), E),
        ("data parquet 8 flipped bytes", _raw(LR_DATA, flips=8, seed=3), A),
        ("data parquet 64 flipped bytes", _raw(LR_DATA, flips=64, seed=4), A),
        ("data parquet missing", lambda root: (root / LR_DATA).unlink(), E),
        ("no action column", _table(LR_DATA, {"action": None}), E),
        ("no frame_index column", _table(LR_DATA, {"frame_index": None}), E),
        ("action NaN", _table(LR_DATA, {"action": action_with(7, float("nan"))}), E),
        ("action inf", _table(LR_DATA, {"action": action_with(0, float("-inf"))}), E),
        ("action 1e39", _table(LR_DATA, {"action": action_with(n_rows - 1, 1e39)}), E),
        ("action strings", _table(LR_DATA, {"action": [["a", "b"]] * n_rows}), E),
        ("action scalars", _table(LR_DATA, {"action": [0.5] * n_rows}), E),
        ("action ragged", _table(LR_DATA, {"action": [[0.0, 1.0]] * (n_rows - 1) + [[0.0]]}), E),
        ("action null cell", _table(LR_DATA, {"action": [[0.0, 1.0]] * (n_rows - 1) + [None]}), E),
        (
            "action null value",
            _table(LR_DATA, {"action": [[0.0, None]] + [[0.0, 1.0]] * (n_rows - 1)}),
            E,
        ),
        ("action empty lists", _table(LR_DATA, {"action": [[]] * n_rows}), E),
        ("action nested lists", _table(LR_DATA, {"action": [[[0.0], [1.0]]] * n_rows}), E),
        ("timestamp NaN", _table(LR_DATA, {"timestamp": timestamps_with(3, float("nan"))}), E),
        (
            "timestamp NaN at the end",
            _table(LR_DATA, {"timestamp": timestamps_with(n_rows - 1, float("nan"))}),
            E,
        ),
        ("timestamp inf", _table(LR_DATA, {"timestamp": timestamps_with(3, float("inf"))}), E),
        ("timestamps all 0", _table(LR_DATA, {"timestamp": [0.0] * n_rows}), E),
        ("timestamps strings", _table(LR_DATA, {"timestamp": ["0"] * n_rows}), E),
        ("episode_index strings", _table(LR_DATA, {"episode_index": ["0"] * n_rows}), E),
        ("frame_index all 0", _table(LR_DATA, {"frame_index": [0] * n_rows}), E),
        ("frame_index floats", _table(LR_DATA, {"frame_index": [0.5] * n_rows}), E),
        # video
        ("video cut in half", _raw(LR_VIDEO, cut=0.5), E),
        ("video cut at 90%", _raw(LR_VIDEO, cut=0.9), E),
        ("video empty", _raw(LR_VIDEO, data=b""), E),
        ("video text", _raw(LR_VIDEO, data=b"not a video\n" * 50), E),
        ("video 16 flipped bytes", _raw(LR_VIDEO, flips=16, seed=5), A),
        ("video 256 flipped bytes", _raw(LR_VIDEO, flips=256, seed=6), A),
        ("video missing", lambda root: (root / LR_VIDEO).unlink(), E),
        ("video a directory", _replace_by_dir(LR_VIDEO), E),
    ]
    return [_lerobot_case(d, base, n, edit, x) for n, edit, x in spec]


IMPORT_FAMILIES = [npz_bytes, npz_contents, npz_folders, swm_files, lerobot_datasets]


# -- the worker: opens one file and calls every read method ---------------------------------
_FAILED = object()
_STEP = ["start"]


def _exercise(path: str, exact: bool = True) -> dict:
    """Open ``path`` and call every read method. ``errors``: DataErrors as (step, message);
    ``problems``: returned data that is not valid. Any other exception propagates. ``exact``:
    reads of the same pixels must agree."""
    errors: list[list[str]] = []
    problems: list[str] = []
    result = {"errors": errors, "problems": problems}

    def call(step, fn):
        _STEP[0] = step
        try:
            return fn()
        except DataError as e:
            errors.append([step, str(e)])
            return _FAILED

    def check(ok, what):
        if not ok:
            problems.append(f"{_STEP[0]}: {what}")

    def same(x, y, column):
        """Two reads of the same rows agree (only in shape for inexact pixels)."""
        if not exact and column == "pixels":
            return x.shape == y.shape and x.dtype == y.dtype
        return np.array_equal(x, y)

    f = call("open", lambda: EpisodeFile(path))
    if f is _FAILED:
        return result
    with f:
        _STEP[0] = "metadata"
        lens, offs, n = f.ep_len, f.ep_offset, f.n_steps
        check(
            lens.ndim == 1 and lens.dtype.kind in "iu" and len(lens) == f.n_episodes >= 1, "ep_len"
        )
        total = sum(int(x) for x in lens)  # Python ints: no wrap-around
        check(bool((lens >= 1).all()) and n == total, f"ep_len {lens} vs n_steps {n}")
        check(np.array_equal(offs, np.concatenate([[0], np.cumsum(lens)[:-1]])), "ep_offset")
        cols = call("columns", lambda: f.columns)
        if cols is not _FAILED:
            check(
                isinstance(cols, dict)
                and all(
                    isinstance(k, str)
                    and isinstance(s, tuple)
                    and all(isinstance(x, int) for x in s)
                    and isinstance(t, str)
                    for k, (s, t) in cols.items()
                ),
                f"columns {cols!r}",
            )
        world = call("world", lambda: f.world)
        check(world is _FAILED or isinstance(world, str), f"world {world!r}")
        fps = call("fps", lambda: f.fps)
        check(
            fps is _FAILED or (isinstance(fps, float) and np.isfinite(fps) and fps >= 0),
            f"fps {fps!r}",
        )
        params = call("params", lambda: f.params)
        check(params is _FAILED or isinstance(params, dict), f"params {params!r}")
        attrs = call("attrs", lambda: f.attrs())
        check(
            attrs is _FAILED
            or (isinstance(attrs, dict) and all(isinstance(k, str) for k in attrs)),
            "attrs",
        )
        present = [c for c in FRAME_COLUMNS if call(f"has({c})", lambda c=c: f.has(c)) is True]
        check("action" in present and ("pixels" in present or "state" in present), f"has {present}")
        spec = call("state_spec", lambda: f.state_spec)
        if spec is not _FAILED:
            ok = isinstance(spec, list) and all(
                isinstance(name, str)
                and isinstance(shape, tuple)
                and all(isinstance(x, int) and x >= 0 for x in shape)
                for name, shape in spec
            )
            check(ok, f"state_spec {spec!r}")
            if ok and "state" in present and cols is not _FAILED:
                width = cols["state"][0][1]
                check(
                    sum(int(np.prod(s)) for _, s in spec) == width,
                    f"state_spec {spec} vs width {width}",
                )
            elif ok:
                check(spec == [], f"state_spec {spec} without a state column")
        rows = call("rows()", lambda: f.rows())
        check(rows is _FAILED or np.array_equal(rows, np.arange(n)), "rows()")
        whole = {}
        some = list(range(min(f.n_episodes, 50)))
        for c in present:
            arr = call(f"load({c!r})", lambda c=c: f.load(c))
            if arr is _FAILED:
                continue
            whole[c] = arr
            check(
                isinstance(arr, np.ndarray) and len(arr) == n, f"{c} has {len(arr)} rows, not {n}"
            )
            if c == "pixels":
                check(
                    arr.dtype == np.uint8 and arr.ndim == 4 and arr.shape[-1] == 3,
                    f"pixels {arr.shape} {arr.dtype}",
                )
            else:
                check(arr.dtype.kind == "f" and arr.ndim == 2, f"{c} {arr.shape} {arr.dtype}")
                check(bool(np.isfinite(arr).all()), f"{c} holds NaN or inf")
            for i in some:
                part = call(f"load({c!r}, [{i}])", lambda c=c, i=i: f.load(c, [i]))
                if part is not _FAILED:
                    check(same(part, arr[offs[i] : offs[i] + lens[i]], c), f"{c} episode {i}")
            back = call(f"load({c!r}, reversed)", lambda c=c: f.load(c, some[::-1]))
            if back is not _FAILED:
                want = np.concatenate([arr[offs[i] : offs[i] + lens[i]] for i in some[::-1]])
                check(same(back, want, c), f"{c} reversed")
        for i in some:
            r = call(f"rows([{i}])", lambda i=i: f.rows([i]))
            check(r is _FAILED or np.array_equal(r, np.arange(offs[i], offs[i] + lens[i])), "rows")
            ep = call(f"episode({i})", lambda i=i: f.episode(i))
            if ep is _FAILED:
                continue
            check(
                isinstance(ep, dict) and sorted(ep) == sorted(present),
                f"episode {i} keys {list(ep)}",
            )
            for c, v in ep.items():
                check(len(v) == lens[i], f"episode {i} {c} has {len(v)} rows, not {lens[i]}")
                if c in whole:
                    check(same(v, whole[c][offs[i] : offs[i] + lens[i]], c), f"episode {i} {c}")
        # datasets that are not frame columns: DataError or an array, nothing else
        for name in cols if cols is not _FAILED else []:
            if name not in FRAME_COLUMNS:
                got = call(f"extra load({name!r})", lambda name=name: f.load(name))
                check(
                    got is _FAILED or isinstance(got, np.ndarray), f"load({name!r}) -> {type(got)}"
                )
    return result


def _convert(src: str, out: str) -> dict:
    """Convert ``src`` to ``out`` as ``physjepa convert`` does (the importer picked by looking
    at it). ``errors``: the conversion's DataError; ``problems``: an output that does not read
    back as valid data or fails ``validate``. Any other exception propagates."""
    from physjepa.data.importers import convert
    from physjepa.data.validate import validate

    _STEP[0] = "convert"
    try:
        convert(src, out)
    except DataError as e:
        return {"errors": [["convert", str(e)]], "problems": []}
    res = _exercise(out)
    problems = [f"the output: {p}" for p in res["problems"]]
    problems += [
        f"the output: {step}: {msg}" for step, msg in res["errors"] if not step.startswith("extra ")
    ]
    _STEP[0] = "validate the output"
    try:
        validate(out)
    except DataError as e:
        problems.append(f"the output fails validate: {e}")
    return {"errors": [], "problems": problems}


def _worker() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file behind
    print("ready", flush=True)
    for line in sys.stdin:
        _STEP[0] = "start"
        req = json.loads(line)
        if req.get("simulate") == "hang":  # for the harness's own test
            time.sleep(3600)
        elif req.get("simulate") == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        try:
            if req.get("out"):
                out = _convert(req["path"], req["out"])
            else:
                out = _exercise(req["path"], req.get("exact", True))
        except Exception as e:  # the bug being looked for: report it with the step it came from
            out = {
                "exception": f"{type(e).__name__} in {_STEP[0]}: {str(e)[:300]}",
                "traceback": traceback.format_exc()[-3000:],
            }
        print(json.dumps(out), flush=True)


class Reader:
    """A worker process reading one file per request; a crash or a hang is an answer too, and
    the next request starts a fresh worker."""

    def __init__(self, log: Path):
        self.log = log
        self.log_file = open(log, "ab")  # noqa: SIM115 - closed in close()
        self.proc: subprocess.Popen | None = None
        self.buf = b""

    def _start(self) -> None:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log_file,
            env=env,
        )
        self.buf = b""
        assert self._line(60.0) == b"ready", "the fuzz worker did not start"

    def _line(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                return None
            chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
            if not chunk:
                return b""
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def _stop(self) -> int:
        self.proc.kill()
        rc = self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.proc = None
        return rc

    def read(
        self,
        path: Path,
        exact: bool = True,
        timeout: float = CASE_TIMEOUT,
        simulate: str = "",
        out: Path | None = None,
    ) -> dict:
        """Read the episode file ``path``; with ``out``, convert the source ``path`` to ``out``
        (``physjepa convert``'s library call) and read the result."""
        if self.proc is None:
            self._start()
        try:
            req = {"path": str(path), "exact": exact, "simulate": simulate}
            if out is not None:
                req["out"] = str(out)
            self.proc.stdin.write(json.dumps(req).encode() + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # it died; _line sees the end of its output
        line = self._line(timeout)
        if line is None:
            self._stop()
            return {"hang": f"no answer within {timeout:.0f} s"}
        if line == b"":
            rc = self._stop()
            tail = self.log.read_text(errors="replace")[-500:]
            return {"crash": f"the reader process died (exit {rc}): {tail}"}
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
            self.proc.stdout.close()
            self.proc = None
        self.log_file.close()


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    r = Reader(tmp_path_factory.mktemp("fuzz-worker") / "stderr.log")
    yield r
    r.close()


def _sha(path: Path) -> str | None:
    return (
        hashlib.sha256(path.read_bytes()).hexdigest()
        if path.is_file() and os.access(path, os.R_OK)
        else None
    )


def _judge(case: Case, res: dict) -> str | None:
    """What is wrong with the outcome of ``case``, or None."""
    for bad in ("hang", "crash", "exception"):
        if bad in res:
            return f"{bad}: {res[bad]}" + (f"\n{res['traceback']}" if "traceback" in res else "")
    if res["problems"]:
        return f"returned invalid data: {res['problems'][:3]}"
    for step, msg in res["errors"]:
        if "\n" in msg or str(case.path) not in msg:
            return f"{step}: the DataError is not one line naming the file: {msg!r}"
    errors = [e for e in res["errors"] if not e[0].startswith("extra ")]
    if case.expect == "error" and not errors:
        return "read cleanly; expected a DataError"
    if case.expect == "ok" and errors:
        return f"expected to read cleanly, got {errors[0]}"
    if case.match and not (errors and re.search(case.match, errors[0][1])):
        return f"expected a DataError matching {case.match!r}, got {errors[:1]}"
    return None


def _stat_mode(path: Path) -> int | None:
    try:
        return path.lstat().st_mode
    except OSError:
        return None


@pytest.mark.parametrize("family", FAMILIES, ids=lambda fn: fn.__name__)
def test_hostile_files_end_in_one_clear_data_error(family, base, reader, tmp_path):
    rng = np.random.default_rng([SEED, FAMILIES.index(family)])
    cases = family(tmp_path, base, rng)
    assert cases
    failures = []
    for case in cases:
        before = _sha(case.path), _stat_mode(case.path)
        res = reader.read(case.path, case.exact)
        problem = _judge(case, res)
        if problem is None and (_sha(case.path), _stat_mode(case.path)) != before:
            problem = "reading it changed the file"
        if problem:
            failures.append(f"[{case.name}] {problem}")
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n" + "\n".join(failures)


def _tree(path: Path) -> list:
    """What is at ``path`` (a file, or a folder and everything under it): names, kinds and the
    sha256 of every regular file, to tell whether a conversion touched the source."""
    out = []
    top = os.path.lexists(path) and path.is_dir() and not path.is_symlink()
    for p in sorted(path.rglob("*")) if top else [path]:
        mode = _stat_mode(p)
        regular = mode is not None and stat.S_ISREG(mode)
        out.append((str(p), mode, _sha(p) if regular else None))
    return out


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict:
    """Valid sources for the importers: a stable-worldmodel file and a LeRobot v3 dataset."""
    from test_lerobot import LENGTHS, build_dataset  # the LeRobot tests' dataset, built here

    d = tmp_path_factory.mktemp("sources")
    build_dataset(d / "lerobot")
    return {"swm": _swm_base(d / "swm.h5"), "lerobot": d / "lerobot", "lerobot_lengths": LENGTHS}


@pytest.mark.parametrize("family", IMPORT_FAMILIES, ids=lambda fn: fn.__name__)
def test_damaged_sources_convert_or_end_in_one_clear_data_error(family, sources, reader, tmp_path):
    """``physjepa convert`` on each damaged source: one DataError naming it (and no output left
    behind), or an output that reads back as valid data; the source is never changed."""
    rng = np.random.default_rng([SEED, 100 + IMPORT_FAMILIES.index(family)])
    (tmp_path / "src").mkdir()
    cases = family(tmp_path / "src", sources, rng)
    assert cases
    failures = []
    for i, case in enumerate(cases):
        out = tmp_path / "out" / f"{i}.h5"
        before = _tree(case.path)
        res = reader.read(case.path, out=out)
        problem = _judge(case, res)
        if problem is None and _tree(case.path) != before:
            problem = "converting it changed the source"
        if problem is None and res["errors"] and out.exists():
            problem = f"the conversion failed but left {out.name}"
        if problem is None and not res["errors"] and not out.is_file():
            problem = "the conversion succeeded but wrote no output"
        if problem is None and out.with_name(out.name + ".partial").exists():
            problem = "a .partial output was left behind"
        if problem:
            failures.append(f"[{case.name}] {problem}")
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n" + "\n".join(failures)


# -- misuse of a valid file ---------------------------------------------------------------------
def test_bad_episode_indices_are_data_errors(base):
    with EpisodeFile(base) as f:
        for call in (
            lambda: f.episode(len(LENS)),
            lambda: f.episode(-1),
            lambda: f.episode(1.5),
            lambda: f.rows([0, len(LENS)]),
            lambda: f.rows([-1]),
            lambda: f.load("action", [7]),
            lambda: f.load("action", [[0, 1]]),
            lambda: f.load("nope"),
        ):
            with pytest.raises(DataError) as e:
                call()
            assert "\n" not in str(e.value) and str(base) in str(e.value)
        assert f.rows([]).shape == (0,)
        assert f.load("action", []).shape == (0, 2)
    with pytest.raises(DataError, match="closed"):
        f.load("action")


def test_odd_paths_are_data_errors(tmp_path):
    for path in (tmp_path / ("x" * 5000), tmp_path / "a\0b.h5", tmp_path / "no" / "such.h5"):
        with pytest.raises(DataError) as e:
            EpisodeFile(path)
        assert "\n" not in str(e.value)


# -- the CLI: exit 2 and one line, no traceback ----------------------------------------------
def _cli_cases(d: Path, base: Path) -> dict[str, tuple[Path, str]]:
    """Two damaged files, one failing on open and one in a read after it (tests/smoke/test_cli.py
    already covers a file that is not HDF5 at all)."""
    bad_params = _h5_case(d, base, "bad params", _attr("params_json", "{gravity"))
    group = _h5_case(
        d, base, "state group", lambda f: (f.__delitem__("state"), f.create_group("state"))
    )
    return {
        "params_json not JSON": (bad_params.path, "'params_json' is not valid JSON"),
        "state is a group": (group.path, "'state' is a group"),
    }


def test_cli_inspect_reports_a_corrupt_file_in_one_line(base, tmp_path):
    """``physjepa inspect`` (through ``main``): exit 2, one ``error:`` line, no traceback."""
    from clitools import assert_one_line_error, cli  # not at the top: the worker runs this file

    for name, (path, needle) in _cli_cases(tmp_path, base).items():
        before = _sha(path)
        proc = cli("inspect", path, cwd=tmp_path)
        line = assert_one_line_error(proc, "inspect", str(path), needle)
        assert line.startswith("physjepa inspect: error: "), (name, line)
        assert _sha(path) == before


def test_the_harness_sees_success_errors_hangs_and_crashes(tmp_path, reader, base):
    assert _judge(Case("base", base, expect="ok"), reader.read(base)) is None
    missing = reader.read(tmp_path / "missing.h5")
    assert missing["errors"][0][0] == "open" and "not found" in missing["errors"][0][1]
    assert "hang" in reader.read(base, timeout=1.0, simulate="hang")
    assert "crash" in reader.read(base, simulate="crash")
    assert _judge(Case("base", base, expect="ok"), reader.read(base)) is None  # a fresh worker


if __name__ == "__main__" and sys.argv[1:] == ["--worker"]:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _worker()
