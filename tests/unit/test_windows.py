"""Training windows: never cross episodes, frameskip blocks, seeded sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physjepa.data.episodes import DataError, EpisodeFile, EpisodeWriter
from physjepa.data.windows import WindowDataset

# Episode lengths chosen so some are too short for the larger windows.
LENS = (5, 9, 3, 12, 7)


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


@pytest.mark.parametrize(("window", "frameskip"), [(1, 1), (3, 1), (2, 2), (3, 2), (2, 3)])
@pytest.mark.parametrize("episodes", [[0, 1, 2, 3, 4], [3, 1], [4]])
def test_every_window_lies_in_one_episode(labelled_file, window, frameskip, episodes):
    span = window * frameskip
    usable = [e for e in episodes if LENS[e] >= span]
    ds = WindowDataset(labelled_file, np.array(episodes), window, frameskip, obs_key="state")
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


@pytest.mark.parametrize("frameskip", [1, 2, 3])
def test_frameskip_concatenates_the_raw_actions_in_order(labelled_file, frameskip):
    window = 2
    ds = WindowDataset(labelled_file, np.arange(len(LENS)), window, frameskip, obs_key="state")
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
