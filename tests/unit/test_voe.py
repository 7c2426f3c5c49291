"""VoE pairs: ball-drop's occluder / vary / event params, pair generation, the pairs file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from physjepa.data.episodes import DataError, EpisodeFile
from physjepa.data.voe_pairs import (
    FIRST_BREAK,
    PROPERTIES,
    VOE_PARAMS,
    generate,
    make_pairs,
    ood_params,
    read_pairs,
)
from physjepa.worlds import WorldError, make


def _first_pair(params, prop, steps=30, start=0, index=0):
    for seed in range(start, start + 2000):
        pairs = make_pairs(params, prop, seed, steps)
        if pairs:
            return seed, pairs[index]
    raise AssertionError(f"no {prop} pair in 2000 episodes")


@pytest.mark.parametrize("prop", PROPERTIES)
@pytest.mark.parametrize("split", ["id", "ood"])
def test_pairs_identical_before_break_and_deterministic(prop, split):
    params = VOE_PARAMS if split == "id" else ood_params(VOE_PARAMS)
    seed, pair = _first_pair(params, prop)
    b = pair["break"]
    assert FIRST_BREAK <= b <= 30 - 8
    assert np.array_equal(pair["possible"][:b], pair["impossible"][:b])
    assert not np.array_equal(pair["possible"][b], pair["impossible"][b])
    assert np.array_equal(pair["state_possible"][:b], pair["state_impossible"][:b])
    again = make_pairs(params, prop, seed, 30)[0]
    for key in ("possible", "impossible", "state_impossible"):
        assert np.array_equal(pair[key], again[key])
    assert pair["event"] == again["event"] and pair["break"] == again["break"]


def test_events_do_what_they_say():
    base = dict(VOE_PARAMS)
    # gravity: the ball hovers where it was (even seeds) or accelerates upwards (odd seeds)
    modes = set()
    for start in (0, 1, 2, 3, 4, 5):
        seed, pair = _first_pair(base, "gravity", start=start)
        ev, b = pair["event"], pair["break"]
        pos = pair["state_impossible"][:, 0:2]
        assert ev["stop"] == (seed % 2 == 0)
        if ev["stop"]:
            assert np.allclose(pos[b:], pos[b], atol=1e-6)
        else:
            vy = pair["state_impossible"][:, 3]
            g = pair["episode_params"]["gravity"] * 0.05
            assert vy[b + 1] - vy[b] == pytest.approx(g, abs=2e-3)
        modes.add(ev["stop"])
    assert modes == {True, False}
    # inertia / collision: the velocity jumps to the scripted one; continuity: the position
    for prop in ("inertia", "collision"):
        _, pair = _first_pair(base, prop)
        v = pair["state_impossible"][pair["break"], 2:4]
        g = pair["episode_params"]["gravity"] * 0.05
        assert np.allclose(v, np.array(pair["event"]["velocity"]) + [0, -g], atol=0.02)
    _, pair = _first_pair(base, "continuity")
    jump = np.linalg.norm(np.diff(pair["state_impossible"][:, 0:2], axis=0), axis=1)
    assert jump[pair["break"] - 1] > 0.2 and np.sort(jump)[-2] < 0.15
    # solidity: the ball leaves the arena through what it would have hit
    _, pair = _first_pair(base, "solidity")
    p = pair["state_impossible"][-1, 0:2]
    r = pair["episode_params"]["radius"]
    peg = np.array(make("ball-drop").params["obstacle_pos"])
    inside_peg = [np.hypot(*(s[0:2] - peg)) < 0.09 + r - 0.02 for s in pair["state_impossible"]]
    assert (p < r).any() or (p > 1 - r).any() or any(inside_peg)


def test_permanence_comes_in_balanced_groups():
    """(present, vanishes) and (absent, appears): after the break, a ball is on screen in one
    possible and one impossible video of the group, and the other two show the same empty
    occluder scene."""
    for seed in range(2000):
        group = make_pairs(VOE_PARAMS, "permanence", seed, 40)
        if group:
            break
    (a, b) = group
    assert a["break"] == b["break"] and a["event"]["kind"] == "vanish"
    assert b["possible_event"] == {"kind": "vanish", "step": 0} and b["event"]["kind"] == "appear"
    t = a["break"]
    assert np.array_equal(a["possible"][t:], b["impossible"][t:])  # the ball comes out
    assert np.array_equal(a["impossible"][t:], b["possible"][t:])  # nothing comes out
    assert not np.array_equal(a["possible"][t:], a["impossible"][t:])
    # the absent video never shows the ball: every frame is the empty scene
    assert (b["possible"] == b["possible"][0]).all()


def test_ood_params_lie_outside_the_training_ranges():
    ood = ood_params(VOE_PARAMS)
    for key, (lo, hi) in VOE_PARAMS["vary"].items():
        a, b = ood["vary"][key]
        assert b < lo or a > hi, key
    assert ood["ball_colors"][0] != make("ball-drop").params["ball_colors"][0]
    make("ball-drop", **ood)  # valid params


def test_world_params_are_checked():
    for bad in [
        {"vary": {"colour": [0, 1]}},
        {"vary": {"gravity": [2.0, 1.0]}},
        {"vary": {"gravity": 1.0}},
        {"occluder": [0.5, 0.5, 0.2, 0.9]},
        {"event": {"kind": "explode", "step": 3}},
        {"event": {"kind": "teleport", "step": 3}},
        {"event": {"kind": "pass_through", "step": 0}},
        {"event": {"kind": "gravity", "step": 3, "gravity": 1.0, "stop": "yes"}},
    ]:
        with pytest.raises(WorldError):
            make("ball-drop", **bad)


def test_vary_draws_per_episode_and_reports_them_in_state():
    w = make("ball-drop", vary={"gravity": [0.5, 1.5], "radius": [0.06, 0.08]})
    w.reset(seed=1)
    s1 = w.state()
    w.reset(seed=2)
    s2 = w.state()
    assert [k for k, _ in w.state_spec()] == ["ball_pos", "ball_vel", "gravity", "radius"]
    assert 0.5 <= s1["gravity"][0] <= 1.5 and s1["gravity"][0] != s2["gravity"][0]
    # the ball falls with the drawn gravity
    w.reset(seed=1)
    v0 = w.state()["ball_vel"][0, 1]
    w.step(np.zeros(2))
    assert w.state()["ball_vel"][0, 1] - v0 == pytest.approx(-0.05 * s1["gravity"][0], abs=2e-3)


def test_generate_writes_a_pairs_file(tmp_path):
    path = generate(
        tmp_path / "p.h5", pairs=2, steps=24, properties=("shape", "gravity"), splits=("id", "ood")
    )
    f, records = read_pairs(path)
    with f:
        assert len(records) == 8 and f.n_episodes == 16
        assert [r["property"] for r in records] == ["shape"] * 2 + ["gravity"] * 2 + [
            "shape"
        ] * 2 + ["gravity"] * 2
        for i, r in enumerate(records):
            a, b = f.episode(2 * i), f.episode(2 * i + 1)
            assert np.array_equal(a["pixels"][: r["break"]], b["pixels"][: r["break"]])
            assert not a["action"].any()
        assert json.loads(f.attrs()["voe_params_json"])["id"] == VOE_PARAMS
    again = generate(
        tmp_path / "q.h5", pairs=2, steps=24, properties=("shape", "gravity"), splits=("id", "ood")
    )
    with EpisodeFile(path) as f1, EpisodeFile(again) as f2:
        assert np.array_equal(f1.load("pixels"), f2.load("pixels"))
    with pytest.raises(DataError, match="already exists"):
        generate(tmp_path / "p.h5", pairs=1, steps=24, properties=("shape",))


def test_bad_requests_and_files(tmp_path, ball_file):
    with pytest.raises(WorldError, match="unknown propert"):
        generate(tmp_path / "x.h5", properties=("gravty",))
    with pytest.raises(DataError, match="--steps"):
        generate(tmp_path / "x.h5", steps=5)
    with pytest.raises(DataError, match="--seed"):
        generate(tmp_path / "x.h5", seed=-1)
    with pytest.raises(WorldError, match="event"):
        generate(tmp_path / "x.h5", params={**VOE_PARAMS, "event": {"kind": "vanish", "step": 3}})
    with pytest.raises(WorldError, match="one ball"):
        generate(tmp_path / "x.h5", params={**VOE_PARAMS, "n_balls": 2})
    assert not (tmp_path / "x.h5").exists()
    # permanence without an occluder in the params borrows the VoE setting's
    f, records = read_pairs(
        generate(tmp_path / "y.h5", params={}, pairs=1, steps=40, properties=("permanence",))
    )
    f.close()
    assert all(r["occluder_added"] for r in records if r["property"] == "permanence")
    with pytest.raises(DataError, match="not a VoE pairs file"):
        read_pairs(ball_file)
