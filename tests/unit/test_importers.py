"""Importers (npz, stable-worldmodel HDF5, folders of videos): round trips through real files
written here (MP4s encoded with PyAV), ``detect`` picking each importer, and one-line
``DataError`` messages naming the file and the array for bad sources."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from videos import write_video

from physjepa.data.episodes import DataError, EpisodeFile, EpisodeWriter
from physjepa.data.importers import convert, detect
from physjepa.data.importers.npz import import_npz
from physjepa.data.importers.swm import import_swm
from physjepa.data.importers.video import import_videos


def moving_square(n: int, h: int, w: int, speed: int = 2) -> np.ndarray:
    """(n, h, w, 3) uint8: a white square moving right on black."""
    frames = np.zeros((n, h, w, 3), np.uint8)
    for t in range(n):
        x = (speed * t) % (w - 10)
        frames[t, h // 2 - 6 : h // 2 + 6, x : x + 10] = 255
    return frames


def write_csv(path, rows: np.ndarray, names=("fx", "fy")) -> None:
    lines = [",".join(names)] + [",".join(f"{v:.6f}" for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")


def one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text and text, text
    return text


# -- npz ---------------------------------------------------------------------------------------
def test_npz_directory_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "eps"
    src.mkdir()
    eps = {}
    for i, t in [(1, 8), (2, 5), (10, 7)]:  # name order with numbers: ep1, ep2, ep10
        ep = {
            "obs": rng.integers(0, 256, (t, 12, 16, 3), dtype=np.uint8),  # an alias of pixels
            "actions": rng.normal(size=(t, 2)),  # float64 and an alias of action
            "state": rng.normal(size=(t, 3)).astype(np.float32),
            "ignored": np.arange(3),
        }
        np.savez(src / f"ep{i}.npz", **ep)
        eps[i] = ep
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    out = import_npz(src, tmp_path / "out.h5")
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before  # the source is only read
    with EpisodeFile(out) as f:
        assert f.n_episodes == 3 and list(f.ep_len) == [8, 5, 7]
        assert f.world == "npz" and "no_actions" not in f.attrs()
        for k, i in enumerate([1, 2, 10]):
            got = f.episode(k)
            assert np.array_equal(got["pixels"], eps[i]["obs"])
            assert got["action"].dtype == np.float32
            np.testing.assert_allclose(got["action"], eps[i]["actions"], rtol=1e-6)
            np.testing.assert_array_equal(got["state"], eps[i]["state"])
            assert set(got) == {"pixels", "action", "state"}


def test_npz_single_file_without_actions(tmp_path):
    np.savez(tmp_path / "one.npz", pixels=moving_square(6, 8, 8))
    out = convert(tmp_path / "one.npz", tmp_path / "o.h5")
    with EpisodeFile(out) as f:
        assert f.attrs()["no_actions"] == 1
        assert f.load("action").shape == (6, 1) and not f.load("action").any()


@pytest.mark.parametrize(
    "arrays, needles",
    [
        (
            {"pixels": moving_square(4, 8, 8), "action": np.array([[0.0], [np.nan], [0], [0]])},
            ["'action'", "nan", "row 1"],
        ),
        (
            {"pixels": moving_square(4, 8, 8) / 255.0, "action": np.zeros((4, 1))},
            ["'pixels'", "float64", "uint8"],
        ),
        ({"pixels": np.zeros((4, 8, 8), np.uint8), "action": np.zeros((4, 1))}, ["(T, H, W, 3)"]),
        ({"pixels": moving_square(4, 8, 8), "action": np.zeros((3, 1))}, ["'action'", "3 rows"]),
        ({"pixels": moving_square(4, 8, 8), "action": np.zeros((4, 1), "U3")}, ["numbers"]),
        ({"action": np.zeros((4, 1))}, ["no frames or state", "'pixels'"]),
    ],
)
def test_npz_bad_arrays(tmp_path, arrays, needles):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as e:
        import_npz(tmp_path / "bad.npz", tmp_path / "o.h5")
    text = one_line(e)
    assert "bad.npz" in text
    for needle in needles:
        assert needle in text, (needle, text)
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "o.h5.partial").exists()


def test_npz_bad_files(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip file" * 10)
    with pytest.raises(DataError) as e:
        import_npz(tmp_path / "junk.npz", tmp_path / "o.h5")
    assert "junk.npz" in one_line(e) and "not a readable .npz" in one_line(e)

    np.savez(tmp_path / "obj.npz", pixels=np.array([None, 1], dtype=object))
    with pytest.raises(DataError) as e:
        import_npz(tmp_path / "obj.npz", tmp_path / "o.h5")
    assert "obj.npz" in one_line(e) and "pickled" in one_line(e)

    # episodes that disagree: frame size, and actions in one but not the other
    d = tmp_path / "mixed"
    d.mkdir()
    np.savez(d / "a.npz", pixels=moving_square(4, 8, 8), action=np.zeros((4, 2)))
    np.savez(d / "b.npz", pixels=moving_square(4, 16, 8), action=np.zeros((4, 2)))
    with pytest.raises(DataError) as e:
        import_npz(d, tmp_path / "o.h5")
    assert "b.npz" in one_line(e) and "'pixels'" in one_line(e)
    np.savez(d / "b.npz", pixels=moving_square(4, 8, 8))
    with pytest.raises(DataError) as e:
        import_npz(d, tmp_path / "o.h5")
    assert "b.npz" in one_line(e) and "every episode actions, or none" in one_line(e)
    assert not (tmp_path / "o.h5").exists()


def test_npz_keeps_the_recorded_fps(tmp_path):
    """An ``fps`` array (a scalar or one per step) sets the file's fps when the files agree."""
    d = tmp_path / "eps"
    d.mkdir()
    np.savez(d / "a.npz", pixels=moving_square(4, 8, 8), fps=np.float64(20))
    np.savez(d / "b.npz", pixels=moving_square(5, 8, 8), fps=np.full(5, 20, np.int32))
    with EpisodeFile(convert(d, tmp_path / "o.h5")) as f:
        assert f.fps == 20.0 and f.params["fps"] == [20.0, 20.0]
    np.savez(d / "b.npz", pixels=moving_square(5, 8, 8), fps=np.float32(30))
    with EpisodeFile(convert(d, tmp_path / "disagree.h5")) as f:
        assert f.fps == 0.0 and f.params["fps"] == [20.0, 30.0]  # which one? unknown
    np.savez(tmp_path / "none.npz", pixels=moving_square(4, 8, 8))
    with EpisodeFile(convert(tmp_path / "none.npz", tmp_path / "none.h5")) as f:
        assert f.fps == 0.0
    for name, fps, needle in [
        ("nan", np.float64(np.nan), "finite number"),
        ("neg", np.float64(-5), "finite number"),
        ("two", np.array([10.0, 20.0]), "one finite number"),
        ("text", np.array("fast"), "must be a number"),
        ("empty", np.zeros(0), "must be a number"),
    ]:
        np.savez(tmp_path / f"{name}.npz", pixels=moving_square(4, 8, 8), fps=fps)
        with pytest.raises(DataError) as e:
            convert(tmp_path / f"{name}.npz", tmp_path / "bad.h5")
        text = one_line(e)
        assert f"{name}.npz" in text and "'fps'" in text and needle in text, text
        assert not (tmp_path / "bad.h5").exists()


# -- stable-worldmodel HDF5 ----------------------------------------------------------------------
def write_swm(path, lens=(6, 4, 5), offsets=None, rows=None, **override) -> dict:
    rng = np.random.default_rng(1)
    n = rows or sum(lens)
    cols = {
        "pixels": rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8),
        "action": rng.normal(size=(n, 2)),  # float64 in the source
        "state": rng.normal(size=(n, 4)).astype(np.float32),
        "proprio": rng.normal(size=(n, 2)).astype(np.float32),
        "goal": np.zeros((n, 3)),  # not a physjepa column: left out
        "ep_len": np.asarray(lens, np.int64),
        "ep_offset": np.asarray(
            offsets if offsets is not None else np.concatenate([[0], np.cumsum(lens)[:-1]]),
            np.int64,
        ),
    }
    cols.update(override)
    with h5py.File(path, "w") as f:
        for k, v in cols.items():
            if v is not None:
                f.create_dataset(k, data=v)
        f.attrs["fps"] = 15.0
        f.attrs["env_name"] = "swm/PushT"
    return cols


def test_swm_round_trip(tmp_path):
    src = tmp_path / "swm.h5"
    cols = write_swm(src)
    assert detect(src) == "swm"
    out = convert(src, tmp_path / "out.h5")
    with EpisodeFile(out) as f:
        assert f.world == "swm" and f.fps == 15.0 and list(f.ep_len) == [6, 4, 5]
        assert set(f.columns) == {"pixels", "action", "state", "proprio", "ep_len", "ep_offset"}
        assert f.columns["action"][1] == "float32"
        assert f.params["skipped"] == ["goal"]
        assert f.params["source_attrs"]["env_name"] == "swm/PushT"
        for name in ("pixels", "action", "state", "proprio"):
            np.testing.assert_allclose(f.load(name), cols[name].astype(f.load(name).dtype))
    assert detect(out) == "physjepa"


def write_swm_as_swm_does(path, lens=(5, 3, 4)) -> list[dict]:
    """A file laid out as stable-worldmodel's ``HDF5Writer`` writes ``World.collect``'s
    episodes: one resizable dataset per info key in (1, ...) chunks, text as variable-length
    strings, no attributes, and the reset step's NaN action moved to the end of each episode."""
    rng = np.random.default_rng(3)
    eps = []
    for t in lens:
        action = rng.uniform(-1, 1, (t, 2)).astype(np.float32)
        action[-1] = np.nan
        eps.append(
            {
                "pixels": rng.integers(0, 256, (t, 8, 8, 3), dtype=np.uint8),
                "action": action,
                "proprio": rng.normal(size=(t, 2)).astype(np.float32),
                "reward": np.r_[np.nan, rng.normal(size=t - 1)],
                "terminated": np.zeros(t, bool),
                "step_idx": np.arange(t),
                "id": np.full(t, rng.integers(0, 2**62)),
                "task": np.array(["push the T"] * t, dtype=object),
            }
        )
    with h5py.File(path, "w", libver="latest") as f:
        for col, v in eps[0].items():
            dt = h5py.string_dtype() if v.dtype == object else v.dtype
            f.create_dataset(
                col, shape=(0, *v.shape[1:]), maxshape=(None, *v.shape[1:]), dtype=dt,
                chunks=(1, *v.shape[1:]),
            )  # fmt: skip
        f.create_dataset("ep_len", shape=(0,), maxshape=(None,), dtype=np.int32)
        f.create_dataset("ep_offset", shape=(0,), maxshape=(None,), dtype=np.int64)
        ptr = 0
        for i, ep in enumerate(eps):
            t = len(ep["action"])
            for col, v in ep.items():
                f[col].resize(ptr + t, axis=0)
                f[col][ptr : ptr + t] = v
            for name, value in (("ep_len", t), ("ep_offset", ptr)):
                f[name].resize(i + 1, axis=0)
                f[name][i] = value
            ptr += t
    return eps


def test_swm_reads_what_stable_worldmodel_writes(tmp_path):
    """Its files end every episode with a NaN action (nothing follows the last frame): written
    as zeros. NaN anywhere else in an action is still refused."""
    eps = write_swm_as_swm_does(tmp_path / "s.h5")
    assert detect(tmp_path / "s.h5") == "swm"
    with EpisodeFile(convert(tmp_path / "s.h5", tmp_path / "o.h5")) as f:
        assert list(f.ep_len) == [5, 3, 4] and f.fps == 0.0
        assert f.params["final_nan_actions"] == 3
        assert f.params["skipped"] == ["id", "reward", "step_idx", "task", "terminated"]
        for i, ep in enumerate(eps):
            got = f.episode(i)
            np.testing.assert_array_equal(got["action"][:-1], ep["action"][:-1])
            np.testing.assert_array_equal(got["action"][-1], [0.0, 0.0])
            np.testing.assert_array_equal(got["pixels"], ep["pixels"])
            np.testing.assert_array_equal(got["proprio"], ep["proprio"])
    # episode 1 is rows 5..7: a NaN inside it, or only part of its last row NaN
    for row, values, needle in [(6, [np.nan, np.nan], "row 1"), (7, [0.5, np.nan], "row 2")]:
        with h5py.File(tmp_path / "s.h5", "r+") as f:
            f["action"][row] = values
        with pytest.raises(DataError) as e:
            import_swm(tmp_path / "s.h5", tmp_path / "bad.h5")
        text = one_line(e)
        assert "episode 1" in text and "'action'" in text and needle in text, text
        assert not (tmp_path / "bad.h5").exists()
        write_swm_as_swm_does(tmp_path / "s.h5")


def test_swm_fps_attribute(tmp_path):
    """The ``fps`` attribute, where a file has one (a scalar or a one-element array), is kept;
    without one (stable-worldmodel's writer stores none) or with an unusable one: 0, unknown."""
    for value, want in [(np.array([12.5]), 12.5), (np.int64(30), 30.0), ("fast", 0.0), (-1.0, 0.0)]:
        write_swm(tmp_path / "s.h5")
        with h5py.File(tmp_path / "s.h5", "r+") as f:
            f.attrs["fps"] = value
        with EpisodeFile(import_swm(tmp_path / "s.h5", tmp_path / "o.h5", overwrite=True)) as f:
            assert f.fps == want, (value, f.fps)
    with h5py.File(tmp_path / "s.h5", "r+") as f:
        del f.attrs["fps"]
    with EpisodeFile(import_swm(tmp_path / "s.h5", tmp_path / "o.h5", overwrite=True)) as f:
        assert f.fps == 0.0


def test_swm_channels_first_and_gaps(tmp_path):
    """Pixels stored (N, 3, H, W) are transposed; episodes with a gap between them are packed."""
    n = 12
    px = np.random.default_rng(0).integers(0, 256, (n, 3, 8, 8), dtype=np.uint8)
    write_swm(tmp_path / "s.h5", lens=(4, 5), offsets=(0, 7), rows=n, pixels=px, goal=None)
    with EpisodeFile(import_swm(tmp_path / "s.h5", tmp_path / "o.h5")) as f:
        assert f.n_steps == 9 and list(f.ep_offset) == [0, 4]
        np.testing.assert_array_equal(f.episode(1)["pixels"], px[7:12].transpose(0, 2, 3, 1))


@pytest.mark.parametrize(
    "kwargs, needles",
    [
        ({"offsets": (0, 6, 14)}, ["episode 2", "rows 14..18", "15 rows"]),
        ({"offsets": (0, 5, 10)}, ["episodes 0 and 1 overlap"]),
        ({"lens": (6, 0, 9)}, ["episode 1 has ep_len 0"]),
        ({"ep_len": np.array([6, 4]), "ep_offset": np.array([0, 6, 10])}, ["equal-length"]),
        ({"state": np.full((15, 4), np.nan)}, ["episode 0", "'state'", "nan"]),
        ({"action": np.zeros((14, 2))}, ["different numbers of rows"]),
        ({"pixels": np.zeros((15, 8, 8, 3), np.float32)}, ["'pixels'", "float32", "uint8"]),
    ],
)
def test_swm_refuses_inconsistent_files(tmp_path, kwargs, needles):
    write_swm(tmp_path / "s.h5", **kwargs)
    with pytest.raises(DataError) as e:
        import_swm(tmp_path / "s.h5", tmp_path / "o.h5")
    text = one_line(e)
    assert "s.h5" in text
    for needle in needles:
        assert needle in text, (needle, text)
    assert not (tmp_path / "o.h5").exists()


# -- videos ------------------------------------------------------------------------------------
def test_video_folder_round_trip(tmp_path):
    src = tmp_path / "videos"
    src.mkdir()
    write_video(src / "run1.mp4", moving_square(20, 48, 64))
    write_video(src / "run2.mp4", moving_square(14, 48, 64, speed=3))
    acts = np.random.default_rng(0).normal(size=(20, 2))
    write_csv(src / "run1.csv", acts)
    assert detect(src) == "video"

    # an action file for one video but not the other: refused, naming both
    with pytest.raises(DataError) as e:
        import_videos(src, tmp_path / "o.h5")
    assert "run2.mp4" in one_line(e) and "run1.mp4" in one_line(e)

    # actions for both (the second in --actions-dir)
    adir = tmp_path / "acts"
    adir.mkdir()
    acts2 = np.random.default_rng(1).normal(size=(14, 2))
    write_csv(adir / "run2.csv", acts2)
    out = convert(src, tmp_path / "o.h5", size=32, actions_dir=adir)
    with EpisodeFile(out) as f:
        assert f.world == "video" and f.fps == 10.0 and list(f.ep_len) == [20, 14]
        assert f.columns["pixels"][0] == (34, 32, 32, 3)
        assert f.channel_names("action") == ["fx", "fy"] and "no_actions" not in f.attrs()
        np.testing.assert_allclose(f.load("action"), np.concatenate([acts, acts2]), atol=1e-6)
        px = f.load("pixels", [0]).astype(float)
    # the square moves right: the centre of mass of its brightness increases frame by frame,
    # and the frames match the centre-cropped, resized source up to compression
    xs = (px.mean(axis=(1, 3)) * np.arange(32)).sum(axis=1) / px.mean(axis=(1, 3)).sum(axis=1)
    assert (np.diff(xs) > 0).all(), xs
    from PIL import Image

    want = np.stack(
        [
            np.asarray(Image.fromarray(fr[:, 8:56]).resize((32, 32), Image.Resampling.BILINEAR))
            for fr in moving_square(20, 48, 64)
        ]
    ).astype(float)
    assert np.abs(px - want).mean() < 12, np.abs(px - want).mean()


def test_video_without_actions_and_single_file(tmp_path):
    write_video(tmp_path / "clip.mp4", moving_square(9, 40, 40))
    out = import_videos(tmp_path / "clip.mp4", tmp_path / "o.h5", size=16)
    with EpisodeFile(out) as f:
        assert f.attrs()["no_actions"] == 1 and f.columns["action"][0] == (9, 1)
        assert f.columns["pixels"][0] == (9, 16, 16, 3)


def test_video_bad_inputs(tmp_path):
    src = tmp_path / "v"
    src.mkdir()
    write_video(src / "good.mp4", moving_square(10, 32, 32))
    (src / "broken.mp4").write_bytes(b"\x00garbage, not a video" * 50)
    with pytest.raises(DataError) as e:
        import_videos(src, tmp_path / "o.h5")
    assert "broken.mp4" in one_line(e) and "not a readable video" in one_line(e)
    (src / "broken.mp4").unlink()

    write_csv(src / "good.csv", np.zeros((7, 2)))
    with pytest.raises(DataError) as e:
        import_videos(src, tmp_path / "o.h5")
    assert (
        "good.csv" in one_line(e)
        and "7 action row(s)" in one_line(e)
        and "10 frames" in one_line(e)
    )

    (src / "good.csv").write_text("fx,fy\n" + "0,0\n" * 4 + "0,abc\n" + "0,0\n" * 5)
    with pytest.raises(DataError) as e:
        import_videos(src, tmp_path / "o.h5")
    assert "good.csv" in one_line(e) and "line 6" in one_line(e) and "'fy'" in one_line(e)
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "o.h5.partial").exists()


# -- detect and convert --------------------------------------------------------------------------
def test_detect_each_kind(tmp_path):
    (tmp_path / "lr" / "meta").mkdir(parents=True)
    (tmp_path / "lr" / "meta" / "info.json").write_text(json.dumps({"codebase_version": "v3.0"}))
    (tmp_path / "lr" / "clip.mp4").write_bytes(b"")  # a LeRobot dataset wins over its videos
    assert detect(tmp_path / "lr") == "lerobot"

    (tmp_path / "vids").mkdir()
    (tmp_path / "vids" / "a.MOV").write_bytes(b"")
    assert detect(tmp_path / "vids") == "video"

    (tmp_path / "eps").mkdir()
    np.savez(tmp_path / "eps" / "e.npz", pixels=moving_square(2, 8, 8))
    assert detect(tmp_path / "eps") == "npz" and detect(tmp_path / "eps" / "e.npz") == "npz"

    with EpisodeWriter(tmp_path / "p.h5", {"world": "x"}) as w:
        w.append({"pixels": moving_square(3, 8, 8), "action": np.zeros((3, 1))})
    assert detect(tmp_path / "p.h5") == "physjepa"
    write_swm(tmp_path / "s.hdf5")
    assert detect(tmp_path / "s.hdf5") == "swm"

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    for src, needle in [
        (tmp_path / "other.h5", "neither a physjepa episode file nor a stable-worldmodel"),
        (tmp_path / "nope", "not found"),
        (tmp_path / "table.csv", "cannot tell what"),
    ]:
        if src.suffix == ".csv":
            src.write_text("a,b\n1,2\n")
        with pytest.raises(DataError) as e:
            detect(src)
        assert needle in one_line(e) and src.name in one_line(e)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as e:
        detect(tmp_path / "empty")
    assert "neither a LeRobot dataset" in one_line(e)
    (tmp_path / "eps" / "v.mp4").write_bytes(b"")
    with pytest.raises(DataError) as e:
        detect(tmp_path / "eps")
    assert "both videos and .npz" in one_line(e)


def test_convert_options_and_copy(tmp_path):
    np.savez(tmp_path / "e.npz", pixels=moving_square(3, 8, 8), action=np.ones((3, 2)))
    with pytest.raises(DataError) as e:
        convert(tmp_path / "e.npz", tmp_path / "o.h5", camera="top")
    assert "--camera applies to a LeRobot dataset" in one_line(e) and ".npz" in one_line(e)
    with pytest.raises(DataError) as e:
        convert(tmp_path / "e.npz", tmp_path / "o.h5", size=32)
    assert "--size applies to a LeRobot dataset and videos" in one_line(e)
    out = convert(tmp_path / "e.npz", tmp_path / "o.h5", camera=None, size=None)
    with pytest.raises(DataError) as e:
        convert(tmp_path / "e.npz", out)
    assert "already exists" in one_line(e) and "--overwrite" in one_line(e)
    convert(tmp_path / "e.npz", out, overwrite=True)

    # an episode file is checked and copied
    copy = convert(out, tmp_path / "copy.h5")
    assert copy.read_bytes() == out.read_bytes()
    with pytest.raises(DataError) as e:
        convert(out, out, overwrite=True)
    assert "the source itself" in one_line(e)
