"""``physjepa convert`` and ``physjepa validate`` end to end (through ``main``, in process): a
folder of .npz episodes becomes an episode file that the debug preset trains on; validate says
ok on good files and names what is wrong, and where, in deliberately broken ones (one line
each)."""

from __future__ import annotations

import re
import shlex
import shutil

import h5py
import numpy as np
import pytest
from clitools import assert_one_line_error, cli, train_cli

from physjepa.data.episodes import FORMAT, EpisodeWriter

LENS = (10, 10, 10)


def square_episode(rng, t: int = 20, size: int = 32) -> dict[str, np.ndarray]:
    """A square pushed around by random actions (what it sees follows what it does)."""
    pos = rng.uniform(8, size - 8, 2)
    frames, actions = [], rng.uniform(-1, 1, (t, 2))
    for a in actions:
        img = np.zeros((size, size, 3), np.uint8)
        x, y = pos.astype(int)
        img[y - 3 : y + 3, x - 3 : x + 3] = (255, 200, 50)
        frames.append(img)
        pos = np.clip(pos + 2 * a, 4, size - 4)
    return {"pixels": np.stack(frames), "action": actions}


def test_convert_npz_then_train(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "eps").mkdir()
    for i in range(6):
        np.savez(tmp_path / "eps" / f"ep{i}.npz", **square_episode(rng))
    proc = cli("convert", "eps", "--to", "d/sq.h5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "importer 'npz'" in out, out
    assert "wrote d/sq.h5: 6 episode(s), 120 steps" in out, out
    assert "pixels (32, 32, 3) uint8" in out and "action (2,) float32" in out, out
    assert "physjepa train --data d/sq.h5" in out

    proc = cli("validate", "d/sq.h5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok: 6 episodes, 120 steps, columns pixels (32, 32, 3) uint8")

    proc = train_cli("d/sq.h5", "train.steps=4", "train.device=cpu", out="runs/sq", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "runs" / "sq" / "model.safetensors").is_file()

    # one-line errors: the file exists, an option for another importer, nothing to import
    proc = cli("convert", "eps", "--to", "d/sq.h5", cwd=tmp_path)
    assert_one_line_error(proc, "convert", "d/sq.h5", "already exists", "--overwrite")
    proc = cli("convert", "eps", "--to", "d/x.h5", "--camera", "top", cwd=tmp_path)
    assert_one_line_error(proc, "convert", "--camera applies to a LeRobot dataset")
    proc = cli("convert", "nothing-here", "--to", "d/x.h5", cwd=tmp_path)
    assert_one_line_error(proc, "convert", "nothing-here", "not found")
    assert not (tmp_path / "d" / "x.h5").exists()


# -- validate: deliberately broken files ------------------------------------------------------
def write_raw(path, drop=(), **override) -> None:
    """A three-episode file written column by column with h5py (no checks), with overrides."""
    rng = np.random.default_rng(0)
    n = sum(LENS)
    cols = {
        "pixels": rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8),
        "action": rng.normal(size=(n, 2)).astype(np.float32),
        "state": rng.normal(size=(n, 4)).astype(np.float32),
        "ep_len": np.asarray(LENS, np.int32),
        "ep_offset": np.asarray([0, 10, 20], np.int64),
    }
    cols.update(override)
    with h5py.File(path, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = 1
        f.attrs["world"] = "test"
        for k, v in cols.items():
            if k not in drop:
                f.create_dataset(k, data=v)


def nan_at(row: int, width: int):
    a = np.random.default_rng(0).normal(size=(sum(LENS), width)).astype(np.float32)
    a[row, 1] = np.nan
    return a


BROKEN = {
    "nan-action": (
        {"action": nan_at(13, 2)},
        ["column 'action'", "NaN or inf", "row 13", "episode 1, step 3"],
    ),
    "inf-state": (
        {"state": np.where(np.arange(30)[:, None] == 25, np.inf, np.zeros((30, 4), np.float32))},
        ["column 'state'", "row 25", "episode 2, step 5"],
    ),
    "float-pixels": (
        {"pixels": np.zeros((30, 8, 8, 3), np.float32)},
        ["pixels must be (N, H, W, 3) uint8", "float32"],
    ),
    "pixels-rank": (
        {"pixels": np.zeros((30, 8, 8), np.uint8)},
        ["pixels must be (N, H, W, 3) uint8", "(30, 8, 8)"],
    ),
    "ep-len-sum": (
        {"ep_len": np.asarray([10, 10, 9], np.int32)},
        ["has 30 rows but the episodes sum to 29"],
    ),
    "ep-len-too-long": (
        {"ep_len": np.asarray([10, 10, 12], np.int32)},
        ["'action' has 30 rows but the episodes sum to 32"],
    ),
    "ep-offset": (
        {"ep_offset": np.asarray([0, 10, 21], np.int64)},
        ["ep_offset[2]=21", "put it at 20"],
    ),
    "action-rows": (
        {"action": np.zeros((29, 2), np.float32)},
        ["column 'action' has 29 rows", "episodes sum to 30"],
    ),
    "no-action": ({"drop": ("action",)}, ["lacks the required column 'action'"]),
    "no-ep-len": ({"drop": ("ep_len",)}, ["lacks the required column 'ep_len'"]),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_validate_catches_damage(tmp_path, name):
    override, needles = BROKEN[name]
    write_raw(tmp_path / "bad.h5", **override)
    proc = cli("validate", tmp_path / "bad.h5", cwd=tmp_path)
    assert_one_line_error(proc, "validate", "bad.h5", *needles)


def good_file(path) -> None:
    rng = np.random.default_rng(0)
    with EpisodeWriter(path, {"world": "test"}) as w:
        for t in LENS:
            w.append(
                {
                    "pixels": rng.integers(0, 256, (t, 32, 32, 3), dtype=np.uint8),
                    "action": rng.normal(size=(t, 2)),
                }
            )


def test_validate_ok_truncated_and_corrupt(tmp_path):
    good_file(tmp_path / "good.h5")
    proc = cli("validate", "good.h5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        "ok: 3 episodes, 30 steps, columns pixels (32, 32, 3) uint8, action (2,) float32"
    )
    raw = (tmp_path / "good.h5").read_bytes()

    # truncated: the second half of the file is gone
    (tmp_path / "cut.h5").write_bytes(raw[: len(raw) // 2])
    proc = cli("validate", "cut.h5", cwd=tmp_path)
    assert_one_line_error(proc, "validate", "cut.h5", "not a readable HDF5 file")

    # damaged bytes inside one stored chunk of pixels: found by its checksum, and located
    shutil.copyfile(tmp_path / "good.h5", tmp_path / "flip.h5")
    with h5py.File(tmp_path / "flip.h5", "r") as f:
        ds = f["pixels"]
        rows = ds.chunks[0]
        k = 14 // rows  # the chunk holding row 14 (episode 1)
        info = ds.id.get_chunk_info(k)
    data = bytearray(raw)
    mid = info.byte_offset + info.size // 2
    data[mid : mid + 8] = bytes(255 - b for b in data[mid : mid + 8])
    (tmp_path / "flip.h5").write_bytes(bytes(data))
    proc = cli("validate", "flip.h5", cwd=tmp_path)
    line = assert_one_line_error(proc, "validate", "flip.h5", "column 'pixels'", "corrupt")
    a = k * rows
    assert f"rows {a}..{a + rows - 1} (episode {a // 10}, step {a % 10})" in line, line

    # not an HDF5 file at all, and no file
    (tmp_path / "junk.h5").write_bytes(b"junk" * 100)
    assert_one_line_error(cli("validate", "junk.h5", cwd=tmp_path), "validate", "junk.h5")
    proc = cli("validate", "missing.h5", cwd=tmp_path)
    assert_one_line_error(proc, "validate", "missing.h5", "not found")
    assert re.search(r"^ok:", cli("validate", "good.h5", cwd=tmp_path).stdout)


def test_convert_videos_flags(tmp_path):
    """--size and --actions-dir reach the video importer."""
    av = pytest.importorskip("av")
    rng = np.random.default_rng(1)
    (tmp_path / "vids").mkdir()
    (tmp_path / "acts").mkdir()
    for name, t in [("a", 12), ("b", 9)]:
        ep = square_episode(rng, t=t, size=48)
        with av.open(str(tmp_path / "vids" / f"{name}.mp4"), "w") as c:
            s = c.add_stream("mpeg4", rate=25)
            s.width = s.height = 48
            s.pix_fmt = "yuv420p"
            for img in ep["pixels"]:
                for packet in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    c.mux(packet)
            for packet in s.encode():
                c.mux(packet)
        rows = "".join(f"{x:.4f},{y:.4f}\n" for x, y in ep["action"])
        (tmp_path / "acts" / f"{name}.csv").write_text("push_x,push_y\n" + rows)
    args = ["convert", "vids", "--to", "v.h5", "--size", "24", "--actions-dir", "acts"]
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "videos; importer 'video'" in out, out
    assert "2 episode(s), 21 steps, fps 25" in out and "pixels (24, 24, 3) uint8" in out, out
    proc = cli("validate", "v.h5", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("ok: 2 episodes, 21 steps"), proc


def test_validate_on_a_recording_names_the_command_that_converts_it(tmp_path):
    """``validate`` (and every command reading an episode file) given a recording that an
    importer reads says which command turns it into an episode file, not 'physjepa collect';
    the command it names works as given."""
    import av

    rng = np.random.default_rng(2)
    np.savez(tmp_path / "rec one.npz", **square_episode(rng, t=6, size=16))
    with av.open(str(tmp_path / "clip.mp4"), "w") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width = s.height = 16
        s.pix_fmt = "yuv420p"
        for img in square_episode(rng, t=3, size=16)["pixels"]:
            for packet in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    (tmp_path / "log.csv").write_text("t,x\n0,1\n1,2\n")
    (tmp_path / "lr" / "meta").mkdir(parents=True)
    (tmp_path / "lr" / "meta" / "info.json").write_text("{}")
    with h5py.File(tmp_path / "swm.h5", "w") as f:  # stable-worldmodel's columns, no format
        for k, v in square_episode(rng, t=4, size=16).items():
            f[k] = v
        f["ep_len"], f["ep_offset"] = np.array([4]), np.array([0])
    expect = {
        "rec one.npz": 'convert .npz episodes with \'physjepa convert "rec one.npz" --to '
        '"rec one.h5"\'',
        "clip.mp4": "convert videos with 'physjepa convert clip.mp4 --to clip.h5'",
        "log.csv": "import a table with 'physjepa import-table log.csv --out log.h5 --obs",
        "lr": "convert a LeRobot dataset with 'physjepa convert lr --to lr.h5'",
        "swm.h5": "convert a stable-worldmodel HDF5 file with 'physjepa convert swm.h5 --to "
        "swm_episodes.h5'",
    }
    for name, needle in expect.items():
        line = assert_one_line_error(cli("validate", name, cwd=tmp_path), "validate", needle)
        assert "collect" not in line, line
    line = assert_one_line_error(cli("inspect", "clip.mp4", cwd=tmp_path), "inspect", "convert")
    # a missing recording is not something to collect under that name either
    line = assert_one_line_error(cli("validate", "gone.npz", cwd=tmp_path), "validate")
    assert "not found" in line and "'physjepa convert'" in line and "--out gone.npz" not in line
    # where nothing imports, the message stays as it was (junk named .h5: re-create it)
    (tmp_path / "junk.h5").write_bytes(b"junk" * 100)
    proc = cli("validate", "junk.h5", cwd=tmp_path)
    assert_one_line_error(proc, "validate", "not a readable HDF5 file", "physjepa collect")

    # the suggested commands run as given
    for name in ("rec one.npz", "swm.h5"):
        line = assert_one_line_error(cli("validate", name, cwd=tmp_path), "validate")
        args = shlex.split(re.search(r"'physjepa (convert [^']+)'", line).group(1))
        assert cli(*args, cwd=tmp_path).returncode == 0
        assert cli("validate", args[-1], cwd=tmp_path).stdout.startswith("ok: 1 episodes")
