"""Training windows: never cross episodes, frameskip blocks, seeded sampling; streamed from the
file (over the memory budget) or loaded (within it), with the same results bit for bit."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from physjepa.data.episodes import DataError, EpisodeFile, EpisodeWriter
from physjepa.data.windows import WindowDataset

# Episode lengths chosen so some are too short for the larger windows.
LENS = (5, 9, 3, 12, 7)
#: max_memory_mb that loads (None: no limit) and that streams (0: any data is over it)
IN_MEMORY, STREAMING = None, 0


@pytest.fixture(scope="module")
def labelled_file(tmp_path_factory):
    """Episodes whose state and action say where they come from: [episode, step] in both
    (the action is offset by 0.5 so it can't be confused with the state)."""
    path = tmp_path_factory.mktemp("win") / "labelled.h5"
    with EpisodeWriter(path, {"world": "toy"}) as w:
        for e, n in enumerate(LENS):
            steps = np.arange(n, dtype=np.float32)
            w.append(
                {
                    "state": np.column_stack([np.full(n, e), steps]).astype(np.float32),
                    "action": np.column_stack([np.full(n, e), steps + 0.5]).astype(np.float32),
                }
            )
    f = EpisodeFile(path)
    yield f
    f.close()


def _all(ds: WindowDataset) -> dict[str, torch.Tensor]:
    return ds.get(torch.arange(len(ds)))


@pytest.mark.parametrize("budget", [IN_MEMORY, STREAMING])
@pytest.mark.parametrize(("window", "frameskip"), [(1, 1), (3, 1), (2, 2), (3, 2), (2, 3)])
@pytest.mark.parametrize("episodes", [[0, 1, 2, 3, 4], [3, 1], [4]])
def test_every_window_lies_in_one_episode(labelled_file, window, frameskip, episodes, budget):
    span = window * frameskip
    usable = [e for e in episodes if LENS[e] >= span]
    ds = WindowDataset(
        labelled_file, np.array(episodes), window, frameskip, obs_key="state", max_memory_mb=budget
    )
    assert ds.streaming == (budget == STREAMING)
    assert len(ds) == sum(LENS[e] - span + 1 for e in usable)
    assert ds.action_dim == 2 * frameskip
    b = _all(ds)
    obs, act = b["obs"], b["action"]
    assert obs.shape == (len(ds), window, 2) and act.shape == (len(ds), window, 2 * frameskip)
    torch.testing.assert_close(b["state"], obs)  # obs_key="state": the same column
    ep, step = obs[..., 0], obs[..., 1]
    # one episode per window, and only the episodes asked for
    assert (ep == ep[:, :1]).all()
    assert set(ep[:, 0].long().tolist()) == set(usable)
    # observations are frameskip rows apart, and the window's actions stay in the episode
    torch.testing.assert_close(
        step - step[:, :1], torch.arange(window).float() * frameskip * torch.ones_like(step)
    )
    last_row = step[:, -1] + frameskip - 1
    lens = torch.tensor(LENS, dtype=torch.float32)[ep[:, 0].long()]
    assert (last_row <= lens - 1).all()
    # every start in every usable episode appears exactly once
    starts = sorted(zip(ep[:, 0].long().tolist(), step[:, 0].long().tolist()))
    assert starts == sorted((e, s) for e in usable for s in range(LENS[e] - span + 1))


@pytest.mark.parametrize("budget", [IN_MEMORY, STREAMING])
@pytest.mark.parametrize("frameskip", [1, 2, 3])
def test_frameskip_concatenates_the_raw_actions_in_order(labelled_file, frameskip, budget):
    window = 2
    ds = WindowDataset(
        labelled_file, np.arange(len(LENS)), window, frameskip, "state", max_memory_mb=budget
    )
    b = _all(ds)
    obs, act = b["obs"], b["action"].reshape(len(ds), window, frameskip, 2)
    # block i holds the raw actions of rows s + i*k ... s + i*k + k - 1: [episode, step + 0.5]
    assert (act[..., 0] == obs[..., None, 0]).all()
    expect = obs[..., None, 1] + torch.arange(frameskip).float() + 0.5
    torch.testing.assert_close(act[..., 1], expect)


def test_same_seed_same_batch(labelled_file):
    ds = WindowDataset(labelled_file, np.arange(len(LENS)), 2, 1, obs_key="state")
    a = ds.sample(32, torch.Generator().manual_seed(7))
    b = ds.sample(32, torch.Generator().manual_seed(7))
    c = ds.sample(32, torch.Generator().manual_seed(8))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    assert not torch.equal(a["obs"], c["obs"])


def test_sampling_does_not_touch_the_global_rng(labelled_file):
    ds = WindowDataset(labelled_file, np.arange(len(LENS)), 2, 1, obs_key="state")
    torch.manual_seed(0)
    expect = torch.rand(3)
    torch.manual_seed(0)
    ds.sample(8, torch.Generator().manual_seed(1))
    torch.testing.assert_close(torch.rand(3), expect)


def test_too_short_episodes(labelled_file):
    with pytest.raises(
        DataError,
        match=r"window of 7 steps x frameskip 2 \(= 14 rows; the longest episode has 12\)",
    ):
        WindowDataset(labelled_file, np.arange(len(LENS)), 7, 2, obs_key="state")
    with pytest.raises(DataError, match="longest episode has 5"):
        WindowDataset(labelled_file, np.array([0, 2]), 6, 1, obs_key="state")
    with pytest.raises(DataError, match="longest episode has 0"):  # no episodes at all
        WindowDataset(labelled_file, np.array([], np.int64), 1, 1, obs_key="state")


def test_missing_observation_column(labelled_file):
    with pytest.raises(DataError, match="no 'pixels' column"):
        WindowDataset(labelled_file, np.arange(len(LENS)), 2)


def test_pixel_windows_from_a_collected_file(ball_file):
    with EpisodeFile(ball_file) as f:
        ds = WindowDataset(f, np.arange(3), 4, 2)
        b = ds.sample(5, torch.Generator().manual_seed(0))
        assert b["obs"].shape == (5, 4, 32, 32, 3) and b["obs"].dtype == torch.uint8
        assert b["action"].shape == (5, 4, 4) and b["action"].dtype == torch.float32
        assert b["state"].shape == (5, 4, 4)
        assert len(ds) == 3 * (40 - 8 + 1) and ds.frames == 3 * 40
        # the pixels of a window are the file's rows, frameskip apart
        s = int(ds.starts[0])
        np.testing.assert_array_equal(
            ds.get(torch.tensor([0]))["obs"][0].numpy(), f.load("pixels", [0])[s : s + 8 : 2]
        )


# -- streaming -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pixel_file(tmp_path_factory):
    """Random pixels, state and action. The first episode has 2 steps, so EpisodeWriter chunks
    every column by 2 rows: frameskip 3 reads frame by frame, 1 and 2 read whole spans."""
    path = tmp_path_factory.mktemp("win") / "pixels.h5"
    rng = np.random.default_rng(0)
    with EpisodeWriter(path, {"world": "toy"}) as w:
        for n in (2, 9, 12, 7, 10):
            w.append(
                {
                    "pixels": rng.integers(0, 256, (n, 6, 5, 3), dtype=np.uint8),
                    "state": rng.normal(size=(n, 3)).astype(np.float32),
                    "action": rng.normal(size=(n, 2)).astype(np.float32),
                }
            )
    return path


@pytest.fixture(scope="module")
def float64_file(tmp_path_factory, labelled_file):
    """The labelled episodes with state and action stored as float64 values float32 can't hold."""
    path = tmp_path_factory.mktemp("win") / "float64.h5"
    with EpisodeWriter(path, {"world": "toy"}) as w:
        for e in range(len(LENS)):
            w.append(labelled_file.episode(e))
    with h5py.File(path, "a") as f:
        for col in ("state", "action"):
            data = f[col][()].astype(np.float64) / 3.0
            del f[col]
            f.create_dataset(col, data=data, chunks=(2, data.shape[1]))
    return path


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize(
    ("name", "obs_key", "window", "frameskip"),
    [
        ("pixels", "pixels", 1, 1),
        ("pixels", "pixels", 4, 1),
        ("pixels", "pixels", 3, 2),
        ("pixels", "pixels", 2, 3),  # frameskip > chunk rows: frame-by-frame reads
        ("pixels", "state", 3, 2),
        ("float64", "state", 2, 2),  # stored float64, returned float32: the same rounding
        ("float64", "state", 3, 1),
    ],
)
def test_streaming_returns_exactly_what_memory_does(
    name, obs_key, window, frameskip, pixel_file, float64_file
):
    path = {"pixels": pixel_file, "float64": float64_file}[name]
    with EpisodeFile(path) as f:
        eps = np.array([3, 0, 1, 4, 2])[: f.n_episodes]  # not in file order
        mem = WindowDataset(f, eps, window, frameskip, obs_key)
        stream = WindowDataset(f, eps, window, frameskip, obs_key, max_memory_mb=0)
    # the EpisodeFile is closed: the streaming dataset reads through its own handle
    with mem, stream:
        assert not mem.streaming and stream.streaming
        for attr in ("obs_shape", "obs_dtype", "action_dim", "frames", "nbytes"):
            assert getattr(mem, attr) == getattr(stream, attr), attr
        assert len(mem) == len(stream) and torch.equal(mem.starts, stream.starts)
        expect_obs = torch.uint8 if obs_key == "pixels" else torch.float32
        assert mem.obs_dtype == expect_obs
        everything = mem.get(torch.arange(len(mem)))
        assert everything["obs"].dtype == expect_obs
        assert everything["action"].dtype == everything["state"].dtype == torch.float32
        assert everything["obs"].shape == (len(mem), window, *mem.obs_shape)
        _same(everything, stream.get(torch.arange(len(stream))))
        # out of order, repeated and negative indices
        index = torch.tensor([len(mem) - 1, 0, 3, 3, -2, 1])
        _same(mem.get(index), stream.get(index))
        # sampling: same generator, same batches, and the generator left in the same state
        g_mem, g_stream = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
        for _ in range(2):
            _same(mem.sample(16, g_mem), stream.sample(16, g_stream))
        assert torch.equal(g_mem.get_state(), g_stream.get_state())


def test_streams_only_over_the_memory_budget(labelled_file):
    eps = np.arange(len(LENS))
    ds = WindowDataset(labelled_file, eps, 2, 1, obs_key="state")
    # obs (= state) counted once: 2 float32 state + 2 float32 action values a frame
    assert ds.nbytes == sum(LENS) * (2 + 2) * 4 and not ds.streaming
    mb = ds.nbytes / 2**20
    for budget, streams in [(None, False), (mb, False), (1e6, False), (mb * 0.99, True), (0, True)]:
        with WindowDataset(labelled_file, eps, 2, 1, "state", max_memory_mb=budget) as d:
            assert d.streaming == streams, budget


def test_pixel_bytes_count_every_column(ball_file):
    with EpisodeFile(ball_file) as f:
        ds = WindowDataset(f, np.arange(2), 2, 1, max_memory_mb=0)
        assert ds.streaming and ds.nbytes == 2 * 40 * (32 * 32 * 3 + 4 * 4 + 2 * 4)
        assert ds.obs_shape == (32, 32, 3) and ds.obs_dtype == torch.uint8
        ds.close()


@pytest.mark.parametrize("budget", [IN_MEMORY, STREAMING])
def test_close(labelled_file, budget):
    ds = WindowDataset(labelled_file, np.arange(len(LENS)), 2, 1, "state", max_memory_mb=budget)
    ds.sample(4, torch.Generator().manual_seed(0))
    ds.close()
    ds.close()  # again: a no-op
    with pytest.raises(DataError, match="were closed"):
        ds.sample(4, torch.Generator().manual_seed(0))
    with WindowDataset(labelled_file, np.arange(2), 2, 1, "state", max_memory_mb=budget) as ds:
        ds.get(torch.tensor([0]))
    with pytest.raises(DataError, match="were closed"):
        ds.get(torch.tensor([0]))
    assert labelled_file.load("state", [0]).shape == (LENS[0], 2)  # the caller's file stays open


def test_streaming_releases_the_file(tmp_path, labelled_file):
    path = tmp_path / "copy.h5"
    with EpisodeWriter(path, {"world": "toy"}) as w:
        for e in range(len(LENS)):
            w.append(labelled_file.episode(e))
    with EpisodeFile(path) as f:
        ds = WindowDataset(f, np.arange(len(LENS)), 2, 1, "state", max_memory_mb=0)
    assert ds._h5 is not None and ds._h5.id.valid
    ds.close()
    assert ds._h5 is None
    # no handle left open: HDF5 lets the file be opened for writing again
    with h5py.File(path, "a") as f:
        f.attrs["touched"] = 1


def test_bad_arguments(labelled_file):
    with pytest.raises(DataError, match="episode 5 out of range: the file has 5"):
        WindowDataset(labelled_file, np.array([0, 5]), 2, 1, "state")
    with pytest.raises(ValueError, match="max_memory_mb must be >= 0"):
        WindowDataset(labelled_file, np.arange(2), 2, 1, "state", max_memory_mb=-1)


def test_a_damaged_chunk_is_a_data_error_when_streamed(tmp_path, pixel_file):
    """Bytes damaged after the file was opened fail the chunk checksum (or the decompression)
    on the streamed read: one DataError line, not an h5py OSError."""
    path = tmp_path / "damaged.h5"
    path.write_bytes(pixel_file.read_bytes())
    with EpisodeFile(path) as f:
        ds = WindowDataset(f, np.arange(f.n_episodes), 2, 1, max_memory_mb=0)
    with h5py.File(path, "r") as f:
        offset = f["pixels"].id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(bytes(64))
    with ds, pytest.raises(DataError, match="cannot read windows .* corrupt") as e:
        ds.get(torch.arange(len(ds)))
    assert "\n" not in str(e.value)
