"""Episode files: round trip, atomic writes, and a clear DataError for every kind of damage.

Damaged files are built with h5py directly, and every failed read must leave the file's
bytes as they were.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import h5py
import numpy as np
import pytest

from physjepa.data.collect import collect
from physjepa.data.episodes import (
    FORMAT,
    FORMAT_VERSION,
    DataError,
    EpisodeFile,
    EpisodeWriter,
    split_episodes,
)
from physjepa.worlds import WorldError

LENS = (5, 3, 7)
STATE_SPEC = [["pos", [2]], ["vel", [2]]]


def _episode(i: int, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "pixels": rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8),
        "action": rng.standard_normal((n, 2)).astype(np.float32),
        "state": np.column_stack([np.full(n, i), np.arange(n), rng.standard_normal((n, 2))]),
    }


def _attrs() -> dict:
    return {
        "world": "toy",
        "params_json": json.dumps({"gravity": 2.5}),
        "fps": 20.0,
        "state_spec_json": json.dumps(STATE_SPEC),
    }


def _write(path, lens=LENS, seed=0, **kw) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    eps = [_episode(i, n, rng) for i, n in enumerate(lens)]
    with EpisodeWriter(path, _attrs(), **kw) as w:
        for ep in eps:
            w.append(ep)
        w.close()
    return eps


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _raw_file(path, n=6, **overrides):
    """A valid-looking episode file written with h5py directly; ``overrides`` replace parts.

    ``overrides`` maps a dataset or attribute name to a value, or to ``None`` to leave it out.
    """
    data = {
        "action": np.zeros((n, 2), np.float32),
        "state": np.zeros((n, 3), np.float32),
        "ep_len": np.array([n // 2, n - n // 2], np.int32),
        "ep_offset": np.array([0, n // 2], np.int64),
    }
    attrs = {"format": FORMAT, "format_version": FORMAT_VERSION, "world": "toy"}
    for k, v in overrides.items():
        target = attrs if k in ("format", "format_version") else data
        if v is None:
            target.pop(k, None)
        else:
            target[k] = v
    with h5py.File(path, "w") as f:
        for k, v in data.items():
            f.create_dataset(k, data=v)
        for k, v in attrs.items():
            f.attrs[k] = v
    return path


# -- round trip -------------------------------------------------------------------------------
def test_round_trip_values_dtypes_offsets_attrs(tmp_path):
    path = tmp_path / "eps.h5"
    eps = _write(path)
    with EpisodeFile(path) as f:
        assert f.n_episodes == 3 and f.n_steps == sum(LENS)
        np.testing.assert_array_equal(f.ep_len, LENS)
        np.testing.assert_array_equal(f.ep_offset, [0, 5, 8])
        cols = f.columns
        assert cols["pixels"] == ((15, 8, 8, 3), "uint8")
        assert cols["action"] == ((15, 2), "float32")
        assert cols["state"] == ((15, 4), "float32")
        assert cols["ep_offset"] == ((3,), "int64")
        assert cols["ep_len"] == ((3,), "int32")
        assert f.world == "toy" and f.fps == 20.0 and f.params == {"gravity": 2.5}
        assert f.state_spec == [("pos", (2,)), ("vel", (2,))]
        attrs = f.attrs()
        assert attrs["format"] == FORMAT and attrs["format_version"] == FORMAT_VERSION
        for i, ep in enumerate(eps):
            got = f.episode(i)
            assert set(got) == {"pixels", "action", "state"}
            np.testing.assert_array_equal(got["pixels"], ep["pixels"])
            np.testing.assert_array_equal(got["action"], ep["action"])
            np.testing.assert_array_equal(got["state"], ep["state"].astype(np.float32))
            assert got["state"].dtype == np.float32
        # load() of a subset concatenates in the order asked
        both = f.load("action", [2, 0])
        np.testing.assert_array_equal(both, np.concatenate([eps[2]["action"], eps[0]["action"]]))
        np.testing.assert_array_equal(f.rows([1, 2]), np.arange(5, 15))
        np.testing.assert_array_equal(
            f.load("state")[:, 1], np.concatenate([np.arange(n) for n in LENS])
        )
        with pytest.raises(DataError, match="out of range"):
            f.episode(3)
        with pytest.raises(DataError, match="no column 'proprio'"):
            f.load("proprio")


def test_collected_file_has_the_documented_format(ball_file):
    with EpisodeFile(ball_file) as f:
        cols = f.columns
        assert cols["pixels"][1] == "uint8" and cols["pixels"][0][1:] == (32, 32, 3)
        assert cols["action"] == ((12 * 40, 2), "float32")
        assert cols["state"][1] == "float32"
        assert cols["ep_offset"][1] == "int64" and cols["ep_len"][1] == "int32"
        attrs = f.attrs()
        for key in ("format", "format_version", "world", "params_json", "fps"):
            assert key in attrs
        assert f.world == "ball-drop" and f.fps > 0 and f.params["gravity"] == 1.0
        assert f.state_spec == [("ball_pos", (1, 2)), ("ball_vel", (1, 2))]


def test_state_spec_defaults_when_absent(tmp_path):
    path = _raw_file(tmp_path / "raw.h5")
    with EpisodeFile(path) as f:
        assert f.state_spec == [("state", (3,))]
        assert f.world == "toy" and f.params == {}


# -- writer: atomic, refuses to clobber -------------------------------------------------------
def test_exception_inside_writer_leaves_no_file(tmp_path):
    path = tmp_path / "eps.h5"
    rng = np.random.default_rng(0)
    with pytest.raises(RuntimeError, match="boom"), EpisodeWriter(path, _attrs()) as w:
        w.append(_episode(0, 4, rng))
        raise RuntimeError("boom")
    assert sorted(tmp_path.iterdir()) == []


def test_exception_inside_writer_leaves_existing_file_untouched(tmp_path):
    path = tmp_path / "eps.h5"
    _write(path)
    before = _sha(path)
    rng = np.random.default_rng(1)
    with pytest.raises(RuntimeError), EpisodeWriter(path, _attrs(), overwrite=True) as w:
        w.append(_episode(0, 4, rng))
        raise RuntimeError("boom")
    assert _sha(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eps.h5"]
    with EpisodeFile(path) as f:
        assert f.n_episodes == 3


def test_refuses_to_overwrite_without_flag(tmp_path):
    path = tmp_path / "eps.h5"
    _write(path)
    before = _sha(path)
    with pytest.raises(DataError, match="already exists.*--overwrite"):
        EpisodeWriter(path, _attrs())
    assert _sha(path) == before
    _write(path, lens=(2, 2), seed=5, overwrite=True)
    with EpisodeFile(path) as f:
        assert f.n_episodes == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eps.h5"]


def test_close_without_episodes_is_an_error_and_leaves_nothing(tmp_path):
    path = tmp_path / "eps.h5"
    with pytest.raises(DataError, match="no episodes"), EpisodeWriter(path, _attrs()) as w:
        w.close()
    assert sorted(tmp_path.iterdir()) == []


def test_leaving_the_with_block_publishes_the_file(tmp_path):
    path = tmp_path / "eps.h5"
    with EpisodeWriter(path, _attrs()) as w:
        w.append(_episode(0, 4, np.random.default_rng(0)))
    with EpisodeFile(path) as f:
        assert f.n_episodes == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eps.h5"]


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"action": np.full((4, 2), np.nan, np.float32)}, "'action' of episode 1 holds NaN"),
        ({"state": np.full((4, 4), np.inf, np.float32)}, "'state' of episode 1 holds NaN or inf"),
        ({"action": np.zeros((3, 2), np.float32)}, "different lengths"),
        ({"action": np.zeros((4, 3), np.float32)}, "column 'action'"),
        ({"bogus": np.zeros((4, 1), np.float32)}, "unknown column 'bogus'"),
        ({"state": None}, "lacks column"),
    ],
)
@pytest.mark.parametrize("then_append", [False, True])
def test_writer_rejects_a_bad_episode_and_stays_consistent(tmp_path, bad, match, then_append):
    """A rejected episode leaves the file as it was: closing right away, or after another
    good episode, publishes a valid file without any row of the rejected one."""
    path = tmp_path / "eps.h5"
    rng = np.random.default_rng(0)
    good = [_episode(0, 4, rng), _episode(1, 4, rng), _episode(2, 5, rng)]
    broken = {**good[1], **bad}
    broken = {k: v for k, v in broken.items() if v is not None}
    with EpisodeWriter(path, _attrs()) as w:
        w.append(good[0])
        with pytest.raises(DataError, match=match):
            w.append(broken)
        if then_append:
            w.append(good[2])
        w.close()
    kept = [good[0], good[2]] if then_append else [good[0]]
    with EpisodeFile(path) as f:
        np.testing.assert_array_equal(f.ep_len, [len(ep["action"]) for ep in kept])
        for col in ("pixels", "action"):
            np.testing.assert_array_equal(f.load(col), np.concatenate([ep[col] for ep in kept]))


# -- reader: every kind of damage is one DataError ---------------------------------------------
def _expect_data_error(path, match):
    before = _sha(path) if path.is_file() else None
    with pytest.raises(DataError, match=match) as e:
        EpisodeFile(path)
    if before is not None:
        assert _sha(path) == before, "a failed read changed the file"
    msg = str(e.value)
    assert "\n" not in msg and str(path.name) in msg
    return msg


def test_missing_file(tmp_path):
    msg = _expect_data_error(tmp_path / "nope.h5", "not found")
    assert "physjepa collect" in msg


def test_directory(tmp_path):
    (tmp_path / "dir.h5").mkdir()
    _expect_data_error(tmp_path / "dir.h5", "is a directory")


def test_random_bytes(tmp_path):
    path = tmp_path / "junk.h5"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    _expect_data_error(path, "not a readable HDF5 file")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.h5"
    path.write_bytes(b"")
    _expect_data_error(path, "not a readable HDF5 file")


def test_truncated_hdf5(tmp_path, ball_file):
    path = tmp_path / "cut.h5"
    data = ball_file.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _expect_data_error(path, "not a readable HDF5 file|corrupt")


def test_hdf5_without_format_attribute(tmp_path):
    path = _raw_file(tmp_path / "raw.h5", format=None)
    _expect_data_error(path, "not a physjepa episode file")


def test_hdf5_with_another_format(tmp_path):
    path = _raw_file(tmp_path / "raw.h5", format="lerobot")
    _expect_data_error(path, "not a physjepa episode file .*'lerobot'")


def test_newer_format_version(tmp_path):
    path = _raw_file(tmp_path / "raw.h5", format_version=FORMAT_VERSION + 1)
    _expect_data_error(path, f"format_version {FORMAT_VERSION + 1}, newer .*upgrade physjepa")


@pytest.mark.parametrize("col", ["action", "ep_offset", "ep_len"])
def test_missing_required_column(tmp_path, col):
    path = _raw_file(tmp_path / "raw.h5", **{col: None})
    _expect_data_error(path, f"lacks the required column '{col}'")


def test_nothing_to_observe(tmp_path):
    path = _raw_file(tmp_path / "raw.h5", state=None)
    _expect_data_error(path, "none of 'pixels', 'sensors', 'state', 'proprio'")


def test_mismatched_column_lengths(tmp_path):
    path = _raw_file(tmp_path / "raw.h5", action=np.zeros((5, 2), np.float32))
    _expect_data_error(path, "'action' has 5 rows but the episodes sum to 6")


def test_bad_ep_offset(tmp_path):
    path = _raw_file(tmp_path / "raw.h5", ep_offset=np.array([0, 2], np.int64))
    _expect_data_error(path, r"ep_offset\[1\]=2 .* at 3")


def test_ep_len_and_ep_offset_of_different_sizes(tmp_path):
    path = _raw_file(tmp_path / "raw.h5", ep_offset=np.array([0], np.int64))
    _expect_data_error(path, "equal-length")


def test_zero_length_episode(tmp_path):
    path = _raw_file(
        tmp_path / "raw.h5",
        ep_len=np.array([6, 0], np.int32),
        ep_offset=np.array([0, 6], np.int64),
    )
    _expect_data_error(path, "episode 1 has length 0")


def test_pixels_of_the_wrong_dtype(tmp_path):
    path = _raw_file(tmp_path / "raw.h5", pixels=np.zeros((6, 4, 4, 3), np.float32))
    _expect_data_error(path, "pixels must be .* uint8")


def test_nan_in_action(tmp_path):
    action = np.zeros((6, 2), np.float32)
    action[4, 1] = np.nan
    path = _raw_file(tmp_path / "raw.h5", action=action)
    _expect_data_error(path, r"'action' holds NaN or inf at row 4 \(episode 1, step 1\)")


def test_nan_in_state_names_row_and_episode(tmp_path):
    state = np.zeros((6, 3), np.float32)
    state[2, 0] = np.nan
    path = _raw_file(tmp_path / "raw.h5", state=state)
    _expect_data_error(path, r"'state' holds NaN or inf at row 2 \(episode 0, step 2\)")


def test_nan_check_can_be_skipped(tmp_path):
    state = np.zeros((6, 3), np.float32)
    state[2, 0] = np.nan
    path = _raw_file(tmp_path / "raw.h5", state=state)
    with EpisodeFile(path, check_values=False) as f:
        assert np.isnan(f.load("state")[2, 0])


def test_a_damaged_copy_does_not_hurt_the_original(tmp_path, ball_file):
    before = _sha(ball_file)
    copy = tmp_path / "copy.h5"
    shutil.copy(ball_file, copy)
    with h5py.File(copy, "r+") as f:
        f["action"][3, 0] = np.nan
    _expect_data_error(copy, "row 3 .*episode 0, step 3")
    assert _sha(ball_file) == before


def test_split_episodes():
    train, val = split_episodes(10, 0.2)
    np.testing.assert_array_equal(train, np.arange(8))
    np.testing.assert_array_equal(val, [8, 9])
    train, val = split_episodes(2, 0.01)  # at least one held out
    assert list(train) == [0] and list(val) == [1]
    with pytest.raises(DataError, match="at least 2"):
        split_episodes(1, 0.2)


# -- collect ------------------------------------------------------------------------------------
def _datasets(path) -> dict[str, bytes]:
    with h5py.File(path, "r") as f:
        out = {k: f[k][()].tobytes() for k in f}
        out.update({f"attr:{k}": str(v).encode() for k, v in f.attrs.items()})
    return out


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """The same 8 x 12 ball-drop collection with 1 and 2 workers, and with another seed.

    8 episodes: one worker rolls them in jobs of 2 on one world instance, two workers in
    jobs of 1, so a world that leaks state between episodes would show up here."""
    d = tmp_path_factory.mktemp("collect")
    kw = dict(episodes=8, steps=12, image_size=32)
    return {
        "w1": collect("ball-drop", d / "w1.h5", seed=3, workers=1, **kw),
        "w2": collect("ball-drop", d / "w2.h5", seed=3, workers=2, **kw),
        "seed4": collect("ball-drop", d / "s4.h5", seed=4, workers=1, **kw),
    }


def test_collect_is_identical_for_any_number_of_workers(collected):
    a, b = _datasets(collected["w1"]), _datasets(collected["w2"])
    assert set(a) == set(b)
    for k in a:
        assert a[k] == b[k], f"{k} differs between workers=1 and workers=2"


def test_collect_depends_on_the_seed(collected):
    a, b = _datasets(collected["w1"]), _datasets(collected["seed4"])
    for k in ("pixels", "action", "state"):
        assert a[k] != b[k], k
    assert a["ep_len"] == b["ep_len"]


def test_collect_episodes_differ_from_each_other(collected):
    with EpisodeFile(collected["w1"]) as f:
        starts = f.load("state")[f.ep_offset]
    assert len(np.unique(starts, axis=0)) == f.n_episodes


def test_collect_unknown_world_lists_known_worlds(tmp_path):
    with pytest.raises(WorldError, match="unknown world 'moon'") as e:
        collect("moon", tmp_path / "x.h5", episodes=1, steps=2)
    assert "ball-drop" in str(e.value) and "two-room" in str(e.value)
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"policy": "greedy"}, "unknown policy 'greedy'; valid: random, zero"),
        ({"episodes": 0}, "--episodes"),
        ({"steps": 1}, "--steps"),
        ({"workers": 0}, "--workers"),
    ],
)
def test_collect_bad_arguments(tmp_path, kw, match):
    args = {"episodes": 1, "steps": 2, **kw}
    with pytest.raises(DataError, match=match):
        collect("ball-drop", tmp_path / "x.h5", **args)
    assert sorted(tmp_path.iterdir()) == []


def test_collect_refuses_to_overwrite(tmp_path, ball_file):
    path = tmp_path / "b.h5"
    shutil.copy(ball_file, path)
    before = _sha(path)
    with pytest.raises(DataError, match="already exists"):
        collect("ball-drop", path, episodes=1, steps=2)
    assert _sha(path) == before


def test_collect_zero_policy_and_world_params(tmp_path):
    path = collect(
        "ball-drop",
        tmp_path / "z.h5",
        episodes=2,
        steps=5,
        policy="zero",
        params={"gravity": 3.0},
        image_size=32,
    )
    with EpisodeFile(path) as f:
        assert not f.load("action").any()
        assert f.params["gravity"] == 3.0
        assert f.attrs()["policy"] == "zero"


def test_action_t_is_applied_after_obs_t(tmp_path):
    """two-room moves the agent by max_speed * action: pos[t+1] - pos[t] = ms * action[t]."""
    ms = 0.05
    path = collect("two-room", tmp_path / "room.h5", episodes=4, steps=60, seed=1, image_size=32)
    with EpisodeFile(path) as f:
        assert f.state_spec[0] == ("agent_pos", (2,))
        checked = 0
        for e in range(f.n_episodes):
            ep = f.episode(e)
            pos, act, vel = ep["state"][:, :2], ep["action"], ep["state"][:, 2:4]
            for t in range(len(pos) - 1):
                x, y = pos[t]
                # far from the outer walls and the inner wall (x = 0.5 +- 0.02): no contact
                margin = 0.035 + 0.08
                far = margin < y < 1 - margin and (
                    margin < x < 0.5 - 0.02 - margin or 0.5 + 0.02 + margin < x < 1 - margin
                )
                if far:
                    np.testing.assert_allclose(pos[t + 1] - pos[t], ms * act[t], atol=1e-5)
                    np.testing.assert_allclose(vel[t + 1], ms * act[t], atol=1e-5)
                    checked += 1
    assert checked >= 50, checked


def test_unstorable_attribute_leaves_no_partial_file(tmp_path):
    with pytest.raises(TypeError):
        EpisodeWriter(tmp_path / "eps.h5", {"world": object()})
    assert sorted(tmp_path.iterdir()) == []
