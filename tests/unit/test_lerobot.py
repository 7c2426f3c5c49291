"""LeRobot v3 import: a small dataset built here (Parquet + MP4 with pyarrow and PyAV), imported,
checked against its source, and trained on with the debug preset."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import av  # noqa: E402  (a core dependency: a broken install must fail, not skip)
import numpy as np
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest
from clitools import train_cli

from physjepa.data.episodes import DataError, EpisodeFile  # noqa: E402
from physjepa.data.importers.lerobot import import_lerobot  # noqa: E402

FPS = 10
LENGTHS = (15, 20, 25)
H = 48
SIDE_W = 64  # the side camera is wider: the import center-crops it
SQ = 8  # the square's side in pixels
TOP, SIDE = "observation.images.top", "observation.images.side"


def _trajectories(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(state (T, 2), action (T, 2)) per episode: a point moving at a velocity that changes."""
    rng = np.random.default_rng(seed)
    out = []
    for length in LENGTHS:
        pos = rng.uniform(12, 36, 2)
        states, actions = [], []
        for _ in range(length):
            vel = rng.uniform(-1.5, 1.5, 2)
            vel = np.where((pos + vel < 8) | (pos + vel > 40), -vel, vel)
            states.append(pos.copy())
            actions.append(vel)
            pos = pos + vel
        out.append((np.asarray(states, np.float32), np.asarray(actions, np.float32)))
    return out


def _render(pos: np.ndarray, width: int = H) -> np.ndarray:
    """A white SQ x SQ square centered at ``pos`` (x, y), on black; centered in a wider frame."""
    img = np.zeros((H, width, 3), np.uint8)
    x, y = (int(round(float(v))) for v in pos)
    x += (width - H) // 2
    img[y - SQ // 2 : y + SQ // 2, x - SQ // 2 : x + SQ // 2] = 255
    return img


def _write_mp4(path: Path, frames: list[np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, FPS)
        if codec == "libx264":
            stream.options = {"crf": "12"}
        else:
            stream.bit_rate = 4_000_000
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def build_dataset(
    root: Path,
    nan_at: int | None = None,
    drop_frames: int = 0,
    cameras: tuple[tuple[str, int], ...] = ((TOP, H), (SIDE, SIDE_W)),
) -> list[tuple[np.ndarray, np.ndarray]]:
    """A LeRobot-v3-shaped dataset at ``root``: all episodes in one data file and one MP4 per
    camera (``cameras``: (feature name, frame width) pairs). ``nan_at``: a NaN action at that
    global row; ``drop_frames``: frames cut off the end of the top camera's video."""
    traj = _trajectories()
    # data: one Parquet file holding every episode's rows
    cols: dict[str, list] = {
        k: [] for k in ("observation.state", "action", "timestamp", "frame_index")
    }
    cols.update(episode_index=[], index=[], task_index=[])
    for e, (s, a) in enumerate(traj):
        for t in range(len(s)):
            cols["observation.state"].append(s[t].tolist())
            cols["action"].append(a[t].tolist())
            cols["timestamp"].append(t / FPS)
            cols["frame_index"].append(t)
            cols["episode_index"].append(e)
            cols["index"].append(len(cols["index"]))
            cols["task_index"].append(0)
    if nan_at is not None:
        cols["action"][nan_at][1] = float("nan")
    vec = pa.list_(pa.float32())
    table = pa.table(
        {
            "observation.state": pa.array(cols["observation.state"], vec),
            "action": pa.array(cols["action"], vec),
            "timestamp": pa.array(cols["timestamp"], pa.float32()),
            "frame_index": pa.array(cols["frame_index"], pa.int64()),
            "episode_index": pa.array(cols["episode_index"], pa.int64()),
            "index": pa.array(cols["index"], pa.int64()),
            "task_index": pa.array(cols["task_index"], pa.int64()),
        }
    )
    data = root / "data/chunk-000/file-000.parquet"
    data.parent.mkdir(parents=True)
    pq.write_table(table, data)
    # videos: per camera, every episode's frames back to back in one MP4
    for key, width in cameras:
        frames = [_render(p, width) for s, _ in traj for p in s]
        if key == TOP and drop_frames:
            frames = frames[:-drop_frames]
        _write_mp4(root / f"videos/{key}/chunk-000/file-000.mp4", frames)
    # meta/episodes: one row per episode
    starts = np.concatenate([[0], np.cumsum(LENGTHS)[:-1]]).tolist()
    meta = {
        "episode_index": list(range(len(LENGTHS))),
        "length": list(LENGTHS),
        "tasks": [["move the square"]] * len(LENGTHS),
        "data/chunk_index": [0] * len(LENGTHS),
        "data/file_index": [0] * len(LENGTHS),
        "dataset_from_index": starts,
        "dataset_to_index": [a + n for a, n in zip(starts, LENGTHS)],
    }
    for key, _ in cameras:
        meta[f"videos/{key}/chunk_index"] = [0] * len(LENGTHS)
        meta[f"videos/{key}/file_index"] = [0] * len(LENGTHS)
        meta[f"videos/{key}/from_timestamp"] = [a / FPS for a in starts]
        meta[f"videos/{key}/to_timestamp"] = [(a + n) / FPS for a, n in zip(starts, LENGTHS)]
    ep_meta = root / "meta/episodes/chunk-000/file-000.parquet"
    ep_meta.parent.mkdir(parents=True)
    pq.write_table(pa.table(meta), ep_meta)

    def video_feature(width: int) -> dict:
        return {
            "dtype": "video",
            "shape": [H, width, 3],
            "names": ["height", "width", "channels"],
            "info": {"video.fps": FPS, "video.codec": "h264", "video.pix_fmt": "yuv420p"},
        }

    info = {
        "codebase_version": "v3.0",
        "robot_type": "point",
        "total_episodes": len(LENGTHS),
        "total_frames": int(sum(LENGTHS)),
        "total_tasks": 1,
        "chunks_size": 1000,
        "fps": FPS,
        "splits": {"train": f"0:{len(LENGTHS)}"},
        "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
        "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
        "features": {
            **{key: video_feature(width) for key, width in cameras},
            "observation.state": {"dtype": "float32", "shape": [2], "names": ["x", "y"]},
            "action": {"dtype": "float32", "shape": [2], "names": ["vx", "vy"]},
            "timestamp": {"dtype": "float32", "shape": [1], "names": None},
            "frame_index": {"dtype": "int64", "shape": [1], "names": None},
            "episode_index": {"dtype": "int64", "shape": [1], "names": None},
            "index": {"dtype": "int64", "shape": [1], "names": None},
            "task_index": {"dtype": "int64", "shape": [1], "names": None},
        },
    }
    (root / "meta/info.json").write_text(json.dumps(info, indent=2))
    return traj


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, list[tuple[np.ndarray, np.ndarray]]]:
    root = tmp_path_factory.mktemp("lerobot") / "point_v3"
    return root, build_dataset(root)


def _centroids(pixels: np.ndarray) -> np.ndarray:
    """(T, 2) brightness centroid (x, y) of each frame, in pixels."""
    w = np.clip(pixels.astype(np.float64).mean(-1) - 40.0, 0, None)
    ys, xs = np.mgrid[: pixels.shape[1], : pixels.shape[2]]
    total = w.sum((1, 2))
    assert (total > 0).all(), "a frame is blank"
    return np.stack([(w * xs).sum((1, 2)) / total, (w * ys).sum((1, 2)) / total], 1)


def _expected_centroids(states: np.ndarray, size: int) -> np.ndarray:
    # the square covers pixels round(p) - SQ/2 .. round(p) + SQ/2 - 1: centroid round(p) - 0.5;
    # resizing H -> size maps pixel coordinate c to (c + 0.5) * size / H - 0.5
    return np.round(states) * size / H - 0.5


def test_import_matches_source(dataset, tmp_path):
    root, traj = dataset
    out = import_lerobot(root, tmp_path / "point.h5", camera=TOP)
    assert out == tmp_path / "point.h5"
    assert not (tmp_path / "point.h5.partial").exists()
    with EpisodeFile(out) as f:
        assert f.n_episodes == 3
        assert f.ep_len.tolist() == list(LENGTHS)
        assert f.world == "lerobot"
        assert f.fps == FPS
        assert f.state_spec == [("x", (1,)), ("y", (1,))]
        assert f.channel_names("action") == ["vx", "vy"]
        params = f.params
        assert params["camera"] == TOP
        assert params["fps"] == FPS
        assert params["cameras"] == [TOP, SIDE]
        assert params["state"] == ["observation.state"] and params["action"] == ["action"]
        assert params["source"] == str(root)
        assert f.load("pixels").shape == (sum(LENGTHS), 64, 64, 3)
        for e, (s, a) in enumerate(traj):
            ep = f.episode(e)
            np.testing.assert_array_equal(ep["state"], s)
            np.testing.assert_array_equal(ep["action"], a)
            assert ep["pixels"].dtype == np.uint8
            err = np.abs(_centroids(ep["pixels"]) - _expected_centroids(s, 64))
            assert err.max() < 0.75, f"episode {e}: centroid off by {err.max():.2f} px"
            # the frames follow the state: the motion between frames matches the actions
            moved = np.diff(_centroids(ep["pixels"]), axis=0)
            assert np.corrcoef(moved.ravel(), np.diff(np.round(s), axis=0).ravel())[0, 1] > 0.9


def test_side_camera_subset_and_crop(dataset, tmp_path):
    """Another camera (wider: center-cropped), a subset of episodes in a chosen order, size 32."""
    root, traj = dataset
    out = import_lerobot(root, tmp_path / "side.h5", camera="side", episodes=[2, 0], size=32)
    with EpisodeFile(out) as f:
        assert f.ep_len.tolist() == [LENGTHS[2], LENGTHS[0]]
        assert f.params["camera"] == SIDE
        assert json.loads(f.attrs()["episode_ids_json"]) == [2, 0]
        for i, e in enumerate([2, 0]):
            ep = f.episode(i)
            assert ep["pixels"].shape[1:] == (32, 32, 3)
            np.testing.assert_array_equal(ep["state"], traj[e][0])
            err = np.abs(_centroids(ep["pixels"]) - _expected_centroids(traj[e][0], 32))
            assert err.max() < 0.5


def test_train_debug_on_imported(dataset, tmp_path):
    root, _ = dataset
    data = import_lerobot(root, tmp_path / "point.h5")
    run = tmp_path / "run"
    res = train_cli(data, "train.steps=5", out=run, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert lines and all(json.loads(x) for x in lines)


# -- errors --------------------------------------------------------------------------------------
def test_unknown_camera_lists_choices(dataset, tmp_path):
    root, _ = dataset
    with pytest.raises(DataError, match="no camera 'front'.*observation.images.top") as exc:
        import_lerobot(root, tmp_path / "x.h5", camera="front")
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "x.h5").exists()


def test_camera_short_names(tmp_path):
    """lerobot/pusht names its camera ``observation.image``: ``--camera image`` picks it, as
    ``--camera top`` picks ``observation.images.top``; a short name matching two is refused."""
    root = tmp_path / "pusht_like"
    traj = build_dataset(root, cameras=(("observation.image", H),))
    out = import_lerobot(root, tmp_path / "img.h5", camera="image")
    with EpisodeFile(out) as f:
        assert f.attrs()["camera"] == "observation.image"
        assert f.n_episodes == len(LENGTHS)
        got = _centroids(f.episode(0)["pixels"])
    np.testing.assert_allclose(got, _expected_centroids(traj[0][0], 64), atol=1.0)

    both = tmp_path / "both"
    build_dataset(both, cameras=(("observation.top", H), (TOP, H)))
    with pytest.raises(DataError) as exc:
        import_lerobot(both, tmp_path / "x.h5", camera="top")
    text = str(exc.value)
    assert "\n" not in text
    assert "'observation.top'" in text and f"'{TOP}'" in text and "full name" in text
    assert not (tmp_path / "x.h5").exists()
    # the full names stay unambiguous
    import_lerobot(both, tmp_path / "full.h5", camera="observation.top", episodes=[0])


def test_unknown_columns_list_choices(dataset, tmp_path):
    root, _ = dataset
    with pytest.raises(DataError, match="--state 'observation.velocity'.*observation.state"):
        import_lerobot(root, tmp_path / "x.h5", state="observation.velocity")
    with pytest.raises(DataError, match="--action 'observation.images.top'.*'video'"):
        import_lerobot(root, tmp_path / "x.h5", action=TOP)
    with pytest.raises(DataError, match="no episode 7"):
        import_lerobot(root, tmp_path / "x.h5", episodes=[7])


def test_v2_dataset_says_convert(tmp_path):
    root = tmp_path / "old"
    (root / "meta").mkdir(parents=True)
    info = {"codebase_version": "v2.1", "fps": FPS, "features": {}}
    (root / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match=r"v2\.x.*v3.*convert_dataset_v21_to_v30"):
        import_lerobot(root, tmp_path / "x.h5")


def test_missing_info_json(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="info.json not found"):
        import_lerobot(tmp_path / "empty", tmp_path / "x.h5")


def test_missing_mp4(dataset, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(dataset[0], root)
    (root / f"videos/{TOP}/chunk-000/file-000.mp4").unlink()
    with pytest.raises(DataError, match="file-000.mp4: video .* not found"):
        import_lerobot(root, tmp_path / "x.h5", camera=TOP)
    assert not (tmp_path / "x.h5").exists()
    assert not (tmp_path / "x.h5.partial").exists()
    # the other camera still imports
    import_lerobot(root, tmp_path / "side.h5", camera=SIDE)


def test_video_shorter_than_data(tmp_path):
    root = tmp_path / "short"
    build_dataset(root, drop_frames=3)
    with pytest.raises(
        DataError, match="episode 2, frame 22: no video frame.*frame counts disagree"
    ):
        import_lerobot(root, tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()
    assert not (tmp_path / "x.h5.partial").exists()


def test_nan_action(tmp_path):
    root = tmp_path / "nan"
    build_dataset(root, nan_at=LENGTHS[0] + 4)
    with pytest.raises(DataError, match="episode 1, frame 4, column 'action'.*NaN"):
        import_lerobot(root, tmp_path / "x.h5")


def test_length_mismatch(dataset, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(dataset[0], root)
    path = root / "meta/episodes/chunk-000/file-000.parquet"
    table = pq.read_table(path)
    lengths = table.column("length").to_pylist()
    lengths[1] += 1
    table = table.set_column(
        table.schema.get_field_index("length"), "length", pa.array(lengths, pa.int64())
    )
    pq.write_table(table, path)
    with pytest.raises(DataError, match="episode 1 has 20 rows but .* length 21"):
        import_lerobot(root, tmp_path / "x.h5")


def test_a_late_episode_alone_seeks_into_the_video(dataset, tmp_path):
    """Episode 2 starts seconds into the shared MP4: imported alone, the decoder seeks there;
    its frames must equal those of the full import."""
    root, _ = dataset
    full = import_lerobot(root, tmp_path / "full.h5")
    alone = import_lerobot(root, tmp_path / "alone.h5", episodes=[2])
    with EpisodeFile(full) as f, EpisodeFile(alone) as g:
        np.testing.assert_array_equal(g.episode(0)["pixels"], f.episode(2)["pixels"])
        np.testing.assert_array_equal(g.episode(0)["action"], f.episode(2)["action"])


def test_declared_width_must_match_the_data(dataset, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(dataset[0], root)  # the shared dataset stays as it is
    info = json.loads((root / "meta" / "info.json").read_text())
    info["features"]["observation.state"]["shape"] = [3]
    info["features"]["observation.state"].pop("names", None)
    (root / "meta" / "info.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match="declares shape"):
        import_lerobot(root, tmp_path / "bad.h5")
    assert not (tmp_path / "bad.h5").exists()
