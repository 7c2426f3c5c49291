"""Hidden params from motion (metrics/params.py): the predictor's context over windows of
any length, event windows checked against the simulator's ground truth, a probe split by
episode, and a probe that reads a param from features that carry it (and nothing from a
shuffled target). Real worlds, files and models throughout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physjepa.config import load_preset
from physjepa.data.collect import collect
from physjepa.data.episodes import EpisodeFile
from physjepa.data.voe_pairs import VOE_PARAMS, occluder_gap
from physjepa.errors import UserError
from physjepa.metrics.params import (
    FLIGHT,
    HIDDEN,
    MIN_PUSH,
    episode_probe,
    event_windows,
    hidden_params,
    param_metrics,
    param_probe,
)
from physjepa.metrics.rollout import EncodedEpisode, encode_episodes
from physjepa.models.world_model import ModelSpec, build_world_model


def _episodes(path, ids=None, model=None) -> tuple[list[EncodedEpisode], list, dict]:
    """The file's episodes (encoded by ``model``, else with empty latents), its state spec
    and its world params."""
    with EpisodeFile(path) as f:
        ids = np.arange(f.n_episodes) if ids is None else ids
        if model is not None:
            eps = encode_episodes(model, f, ids, 1, "pixels")
        else:
            eps = []
            for i in ids:
                ep = f.episode(int(i))
                act = torch.from_numpy(ep["action"])
                eps.append(EncodedEpisode(torch.zeros(len(act), 1), act, ep["state"], None))
        return eps, f.state_spec, f.params


@pytest.fixture(scope="module")
def varied(tmp_path_factory):
    """40 random-policy episodes x 80 steps of ball-drop in the VoE setting (occluder;
    gravity, restitution, radius, friction, mass drawn per episode), 16x16 frames."""
    out = tmp_path_factory.mktemp("params") / "varied.h5"
    return collect("ball-drop", out, episodes=40, steps=80, seed=0, image_size=16,
                   params=dict(VOE_PARAMS))  # fmt: skip


def _gaps(pos: np.ndarray, r: np.ndarray, p: dict) -> dict[str, np.ndarray]:
    """Gap from the ball's surface to each surface of the box, written out again here."""
    x, y = pos[:, 0], pos[:, 1]
    peg = np.hypot(x - p["obstacle_pos"][0], y - p["obstacle_pos"][1]) - r - p["obstacle_radius"]
    return {"floor": y - r, "ceiling": 1 - y - r, "left": x - r, "right": 1 - x - r, "peg": peg}


def test_event_windows_hold_their_event(varied):
    eps, spec, p = _episodes(varied)
    names = [n for n, _ in spec]
    assert names[:2] == ["ball_pos", "ball_vel"]
    col = {n: 4 + names[2:].index(n) for n in names[2:]}  # one column per varied param
    windows = event_windows(eps, spec, p)
    seen = {(e, n) for e in HIDDEN.values() for n in (8, 16)}
    assert {(w.event, w.length) for w in windows} == seen, "some event was never found"
    dt = p["dt"]
    for w in windows:
        st, act = eps[w.episode].state.astype(np.float64), eps[w.episode].action.numpy()
        pos, vel = st[:, 0:2], st[:, 2:4]
        r, g, m = (st[:, col[k]] for k in ("radius", "gravity", "mass"))
        a, b = w.span
        assert 0 <= w.start <= a <= b < w.start + w.length <= len(st)
        assert (a + b + 1) // 2 - w.start == w.length // 2  # the event at the window's centre
        frames = slice(a, b + 1)
        assert (occluder_gap(pos[frames], p["occluder"]) > r[frames]).all()  # in view
        gaps = _gaps(pos, r, p)
        dv = vel[1:] - vel[:-1]  # dv[t]: from frame t to t+1
        if w.event == "flight":  # no contact: every velocity change is gravity's
            assert b - a + 1 == FLIGHT
            assert min(gap[frames].min() for gap in gaps.values()) > 0
            expected = np.stack([0 * g[a:b], -g[a:b] * dt], 1)
            assert np.abs(dv[a:b] - expected).max() < 0.02
            assert not act[a:b].any()  # and nothing pushed it
        elif w.event == "push":  # a push, and the velocity answers it with push / mass
            t = a + 1
            assert np.abs(act[t]).max() >= MIN_PUSH
            response = dv[t] - np.array([0.0, -g[t] * dt])
            assert response == pytest.approx(p["push_strength"] * act[t] / m[t], abs=0.02)
        elif w.event == "bounce":  # the velocity normal to a surface flips next to it
            t = a + 2  # first frame after the flip
            flips = {
                "floor": vel[t - 1, 1] < -0.1 and vel[t, 1] > 0,
                "ceiling": vel[t - 1, 1] > 0.1 and vel[t, 1] < 0,
                "left": vel[t - 1, 0] < -0.1 and vel[t, 0] > 0,
                "right": vel[t - 1, 0] > 0.1 and vel[t, 0] < 0,
            }
            n = pos[t] - np.array(p["obstacle_pos"])
            flips["peg"] = vel[t - 1] @ n < 0 < vel[t] @ n
            hit = [s for s, flip in flips.items() if flip and min(gaps[s][t - 1 : t + 1]) < 0.1]
            assert hit, (w, pos[t - 1 : t + 1], vel[t - 1 : t + 1])
            assert not act[t - 1].any()  # not a push, and more than gravity acted: a contact
            assert np.linalg.norm(dv[t - 1] - np.array([0.0, -g[t] * dt])) > 0.02
        else:  # slide: on the floor, moving sideways, not pushed
            assert (gaps["floor"][frames] < 0.01).all()
            assert (np.abs(vel[frames, 0]) > 0.05).all()
            assert not act[a:b].any()


def test_a_passive_world_has_no_push_and_a_still_one_no_motion(tmp_path):
    zero = collect("ball-drop", tmp_path / "zero.h5", episodes=6, steps=40, seed=0,
                   policy="zero", image_size=16, params=dict(VOE_PARAMS))  # fmt: skip
    eps, spec, p = _episodes(zero)
    events = {w.event for w in event_windows(eps, spec, p)}
    assert "push" not in events and "flight" in events and "bounce" in events
    still = dict(VOE_PARAMS, gravity=0.0, init_speed=0.0)
    still["vary"] = {k: v for k, v in VOE_PARAMS["vary"].items() if k != "gravity"}
    f = collect("ball-drop", tmp_path / "still.h5", episodes=4, steps=40, seed=0,
                policy="zero", image_size=16, params=still)  # fmt: skip
    eps, spec, p = _episodes(f)
    assert {w.event for w in event_windows(eps, spec, p)} <= {"flight"}  # it never moves


def test_context_states_slide_the_trained_history():
    """Frames past the predictor's history are covered by sliding its trained context: the
    state at frame t is the predictor's at the end of the frames t-h+1..t, nothing else."""
    cfg = load_preset("debug", ["model.encoder=mlp", "model.dim=16", "model.pred_depth=2"])
    torch.manual_seed(0)
    h = 3
    model = build_world_model(cfg.model, ModelSpec((6,), 2, h)).eval()
    with torch.no_grad():  # random gates: the zero-initialised ones make blocks identities
        for q in model.predictor.parameters():
            q.copy_(torch.randn(q.shape) * 0.3)
    g = torch.Generator().manual_seed(1)
    z, a = torch.randn(2, 16, 16, generator=g), torch.randn(2, 16, 2, generator=g)
    with torch.no_grad():
        states = model.context_states(z, a)
        assert states.shape == (2, 16, 16)
        assert torch.allclose(states[:, :h], model.predictor.states(z[:, :h], a[:, :h]))
        for t in range(h, 16):
            alone = model.predictor.states(z[:, t - h + 1 : t + 1], a[:, t - h + 1 : t + 1])
            assert torch.allclose(states[:, t], alone[:, -1], atol=1e-6)
        short = model.context_states(z[:, :2], a[:, :2])  # shorter than the history
        assert torch.allclose(short, states[:, :2])
        z2 = z.clone()
        z2[:, 5] += torch.randn(2, 16, generator=g)  # in the contexts of frames 5, 6, 7 only
        moved = (model.context_states(z2, a) - states).abs().amax(dim=(0, 2)) > 1e-6
        assert moved.nonzero().flatten().tolist() == [5, 6, 7]
        with pytest.raises(ValueError, match="exceeds its maximum"):
            model.predictor.states(z, a)  # the predictor alone cannot take 16 frames


def test_token_latent_context_states_are_per_frame_tokens():
    cfg = load_preset("debug", ["model.latent=tokens", "model.token_grid=2", "model.dim=8",
                                "model.conv_widths=4,8", "model.pred_heads=2"])  # fmt: skip
    model = build_world_model(cfg.model, ModelSpec((16, 16, 3), 2, 2)).eval()
    with torch.no_grad():
        z = model.encode(torch.randint(0, 255, (1, 9, 16, 16, 3), dtype=torch.uint8))
        assert model.context_states(z, torch.zeros(1, 9, 2)).shape == (1, 9, 4 * 8)


def test_the_probe_splits_by_episode():
    """Features that name the episode (a random code per episode, as many dimensions as
    episodes, so a linear map can learn every one) but carry nothing of its
    param: split by episode, they predict nothing; split by window, they would look perfect."""
    rng = np.random.default_rng(0)
    n_eps, per = 40, 12
    ep = np.repeat(np.arange(n_eps), per)
    codes, value = rng.normal(size=(n_eps, 64)), rng.uniform(0.6, 1.4, n_eps)
    x, y = codes[ep] + 0.05 * rng.normal(size=(len(ep), 64)), value[ep]
    by_episode = episode_probe(x, y, ep, np.arange(30, 40))
    assert by_episode["r2"] < 0.2 and by_episode["episodes_test"] == 10
    assert by_episode["n_train"] == 30 * per and by_episode["n_test"] == 10 * per
    windows = np.arange(len(ep))  # each window its own group: episodes on both sides
    leaky = episode_probe(x, y, windows, rng.choice(len(ep), len(ep) // 4, replace=False))
    assert leaky["r2"] > 0.9  # so the split is what keeps the first number honest
    with pytest.raises(UserError, match="at least 2 training and 2 held-out episodes; found 1"):
        episode_probe(x[:36], y[:36], ep[:36], np.array([1, 2]))
    with pytest.raises(UserError, match="found 2 and 1"):  # one held-out value: no R²
        episode_probe(x[:36], y[:36], ep[:36], np.array([2]))


def test_the_probe_reads_a_param_the_features_carry(tmp_path):
    """Windows whose true dynamics differ: the true velocities over a flight carry gravity
    (it changes them by g dt a step), so the probe reads it on held-out episodes; with the
    values shuffled across episodes there is nothing to read."""
    big = dict(VOE_PARAMS, vary={"gravity": [0.6, 1.4], "mass": [0.5, 2.0]})
    f = collect("ball-drop", tmp_path / "g.h5", episodes=60, steps=80, seed=3, image_size=16,
                params=big)  # fmt: skip
    eps, spec, p = _episodes(f)
    col = {n: i for i, n in enumerate(["x", "y", "vx", "vy", "gravity", "mass"])}
    test = np.arange(45, 60)
    for length in (8, 16):
        ws = [w for w in event_windows(eps, spec, p, lengths=(length,)) if w.event == "flight"]
        ep = np.array([w.episode for w in ws])
        vel = np.stack([eps[w.episode].state[w.start : w.start + length, 2:4] for w in ws])
        x = vel.reshape(len(ws), -1).astype(np.float64)
        y = np.array([eps[w.episode].state[0, col["gravity"]] for w in ws], np.float64)
        read = episode_probe(x, y, ep, test)
        assert read["r2"] > 0.95, read
        shuffled = np.random.default_rng(0).permutation(60)
        y_shuf = np.array([eps[shuffled[w.episode]].state[0, col["gravity"]] for w in ws])
        assert episode_probe(x, y_shuf, ep, test)["r2"] < 0.2
        positions = np.stack([eps[w.episode].state[w.start : w.start + length, :2] for w in ws])
        assert episode_probe(positions[:, :1].reshape(len(ws), -1), y, ep, test)["r2"] < 0.3


@pytest.fixture(scope="module")
def varied_run(varied, tmp_path_factory):
    from physjepa.training.loop import train

    cfg = load_preset("debug", ["train.steps=20", "train.device=cpu"])
    return train(cfg, varied, tmp_path_factory.mktemp("runs") / "varied", progress=False)


def test_param_probe_on_a_real_run(varied, varied_run):
    from physjepa.runs import Run

    run = Run.open(varied_run)
    model = run.load_model("cpu")
    train_ids, test_ids = np.arange(32), np.arange(32, 40)
    train, spec, p = _episodes(varied, train_ids, model)
    test, _, _ = _episodes(varied, test_ids, model)
    res = param_probe(model, train, test, spec, p)
    assert set(res["context"]) == {"8", "16"} and res["history"] == 2
    assert res["episodes_train"] == 32 and res["episodes_test"] == 8
    for length in (8, 16):
        on_test = event_windows(test, spec, p, lengths=(length,))
        on_train = event_windows(train, spec, p, lengths=(length,))
        for name, event in HIDDEN.items():
            counts = res["windows"][str(length)][name]
            assert counts["test"] == sum(w.event == event for w in on_test)
            assert counts["train"] == sum(w.event == event for w in on_train)
            row = res["context"][str(length)][name]
            if "why" in row:  # too few windows of the event in 40 episodes: said, not hidden
                assert np.isnan(row["r2"]) and "at least 2 training" in row["why"]
                continue
            assert np.isfinite(row["r2"]) and row["r2"] <= 1
            assert (row["n_train"], row["n_test"]) == (counts["train"], counts["test"])
            assert row["episodes_train"] + row["episodes_test"] <= 40
    # the ceiling: the ball's true motion over the same windows reads gravity (a flight's
    # velocity falls by g dt a step), however little the 20-step model has learned
    assert res["true_state"]["16"]["gravity"]["r2"] > 0.9, res["true_state"]["16"]
    assert res["true_state"]["16"]["gravity"]["n_train"] == res["windows"]["16"]["gravity"]["train"]
    rows = param_metrics(res, "eval/probe_r2_param_")
    assert set(rows) == {
        f"eval/probe_r2_param_{n}{s}"
        for n in HIDDEN
        for s in ("", "_ctx8", "_event_latents", "_true_state")
    }


def test_runs_without_hidden_params_are_refused_in_one_line():
    spec = [("ball_pos", (1, 2)), ("ball_vel", (1, 2)), ("radius", (1,))]
    with pytest.raises(UserError, match="varies none of gravity, restitution"):
        hidden_params("ball-drop", spec)
    with pytest.raises(UserError, match="needs a ball-drop run.*'two-room'"):
        hidden_params("two-room", [("agent", (2,))])
    assert hidden_params("ball-drop", [*spec, ("mass", (1,)), ("gravity", (1,))]) == [
        "gravity",
        "mass",
    ]


def test_the_ridge_path_is_fit_ridge_at_every_penalty():
    from physjepa.metrics.params import _ridge_path
    from physjepa.metrics.probe import fit_ridge

    rng = np.random.default_rng(0)
    for n, f in ((50, 200), (300, 20)):  # more features than windows, and fewer
        x, y, x_new = rng.normal(size=(n, f)), rng.normal(size=n), rng.normal(size=(7, f))
        ridges = (1e-4, 1e-2, 10.0)
        for r, pred in zip(ridges, _ridge_path(x, y, x_new, ridges)):
            mu, sd, w, b = fit_ridge(x, y[:, None], r)
            assert pred == pytest.approx((((x_new - mu) / sd) @ w + b)[:, 0], abs=1e-8)
