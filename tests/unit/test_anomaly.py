"""Streaming surprise equals offline surprise; calibration, attribution and fault metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physjepa.config import load_preset
from physjepa.errors import UserError
from physjepa.heads.warning import failed_column, warning_labels, warning_metrics
from physjepa.metrics.anomaly import (
    StreamingSurprise,
    attribute,
    calibrate,
    episode_surprise,
    fault_metrics,
    threshold_at,
)
from physjepa.models.baselines import ZScoreDetector, fit_autoencoder
from physjepa.models.world_model import ModelSpec, build_world_model


def _model(channels=5, action=2, frameskip=1, seed=0, noise=0.05):
    torch.manual_seed(seed)
    cfg = load_preset("debug", ["model.encoder=mlp"])
    model = build_world_model(cfg.model, ModelSpec((channels,), action * frameskip, 2))
    # noise > 0: a predictor that is not the identity, so context and actions matter
    with torch.no_grad():
        for p in model.predictor.parameters():
            p.add_(noise * torch.randn_like(p))
    return model.eval()


def _stream(t=40, channels=5, action=2, seed=0):
    rng = np.random.default_rng(seed)
    obs = np.cumsum(rng.normal(size=(t, channels)), 0).astype(np.float32)
    return obs, rng.uniform(-1, 1, (t, action)).astype(np.float32)


@pytest.mark.parametrize("frameskip", [1, 2, 3])
def test_streaming_surprise_equals_offline_whatever_the_batching(frameskip):
    model = _model(frameskip=frameskip)
    obs, act = _stream(41)
    offline = episode_surprise(model, obs, act, frameskip)
    for sizes in ([1], [5], [7, 1, 3], [41]):
        stream = StreamingSurprise(model, frameskip)
        got, rows, i, j = [], [], 0, 0
        while i < len(obs):
            n = sizes[j % len(sizes)]
            r, s = stream.push(obs[i : i + n], act[i : i + n])
            got.append(s)
            rows.append(r)
            i, j = i + n, j + 1
        got = np.concatenate(got)
        steps = -(-len(obs) // frameskip)  # a stream scores a step once its frame arrives
        assert np.array_equal(np.concatenate(rows), np.arange(steps) * frameskip)
        assert np.isnan(got[0]) and np.isnan(offline[0])
        n = len(offline)  # offline drops a last step whose action block is incomplete
        np.testing.assert_allclose(got[1:n], offline[1:], rtol=1e-4, atol=1e-7)
    assert len(stream._z) <= model.history  # bounded memory


def test_threshold_and_calibration():
    s = np.concatenate([[np.nan], np.arange(1000.0)])
    assert threshold_at(s, 0.01) == 990.0
    with pytest.raises(ValueError, match="far"):
        threshold_at(s, 1.5)
    model = _model()
    cal = calibrate(model, [_stream(seed=i) for i in range(4)], far=0.05)
    assert cal.steps == 4 * 39
    assert (cal.scores[np.isfinite(cal.scores)] > cal.threshold).mean() <= 0.05


def test_attribution_names_the_channel_that_jumped():
    model = _model(noise=0.0)  # the untrained predictor carries the last embedding forward
    obs = np.zeros((12, 5), np.float32)
    act = np.zeros((12, 2), np.float32)
    obs[-1, 3] = 25.0  # one channel jumps at the last step
    stream = StreamingSurprise(model)
    _, scores = stream.push(obs, act)
    assert scores[-1] > 10 * np.nanmax(scores[:-1])
    top = attribute(stream, len(obs) - 1, np.zeros(5, np.float32), list("abcde"))
    assert top[0]["channel"] == "d" and top[0]["share"] > 0.5
    # images: the region that changed
    cfg = load_preset("debug")
    torch.manual_seed(0)
    pix = build_world_model(cfg.model, ModelSpec((16, 16, 3), 2, 2)).eval()
    frames = np.full((6, 16, 16, 3), 100, np.uint8)
    frames[-1, 12:16, 0:4] = 255
    stream = StreamingSurprise(pix)
    stream.push(frames, np.zeros((6, 2), np.float32))
    top = attribute(stream, 5, np.full((16, 16, 3), 100.0, np.float32))
    assert top[0]["region"] == [12, 0, 16, 4]


def test_fault_metrics_on_hand_built_scores():
    normal = [np.full(50, 1.0) for _ in range(4)]
    faulted = [np.full(50, 1.0) for _ in range(4)]
    for f, delay in zip(faulted, (0, 2, 5, 30)):
        f[20 + delay :] = 9.0  # the last one shows only after the window
    normal[0][40] = 9.0  # one false alarm
    m = fault_metrics(normal, faulted, [20] * 4, threshold=5.0, window=10, fps=1.0)
    # window maxima: faulted 9, 9, 9, 1 (the last fault shows after the window) against
    # normal 1, 1, 1, 1 (the false alarm is outside it): 12 wins and 4 ties of 16 pairs
    assert m["auroc"] == pytest.approx((12 + 0.5 * 4) / 16, abs=1e-12)
    assert m["detected"] == 0.75
    assert m["delay_median"] == 3.5  # 0, 2, 5 and 10 (missed: the window)
    assert m["false_alarms_per_hour"] == pytest.approx(1 / (200 / 3600))


def test_baselines_score_unusual_rows_higher():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 6)) @ rng.normal(size=(6, 6))  # correlated channels
    z = ZScoreDetector(x)
    odd = x[:50].copy()
    odd[:, 2] += 8 * x[:, 2].std()
    assert (z.score(odd) > z.score(x[:50])).mean() > 0.95
    ae, losses = fit_autoencoder(x, steps=400)
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])  # it learned to reconstruct
    assert ae.score(odd).mean() > 3 * ae.score(x[:50]).mean()


def test_warning_labels_and_metrics():
    y = warning_labels(np.array([0, 0, 0, 0, 0, 1, 1], float), horizon=2)
    assert y.tolist() == [0, 0, 0, 1, 1, -1, -1]
    assert warning_labels(np.zeros(4), 3).tolist() == [0, 0, 0, 0]
    # a score that rises 3 steps before failure: perfect AUROC, lead = horizon (3)
    fail = np.array([0] * 10 + [1] * 5, float)
    score = np.array([0.1] * 7 + [0.9] * 8)
    calm = np.full(15, 0.1) + np.linspace(0, 0.01, 15)
    m = warning_metrics(
        [score, calm], [warning_labels(fail, 3), warning_labels(np.zeros(15), 3)], far=0.01
    )
    assert m["auroc"] == 1.0 and m["lead_steps_median"] == 3 and m["failures"] == 1
    with pytest.raises(ValueError, match="failed"):
        failed_column([("pos", (2,))])
    assert failed_column([("pos", (2,)), ("failed", (1,))]) == 2


def test_warning_head_learns_a_risk_that_rises_before_failure():
    from physjepa.heads.warning import fit_warning_head

    rng = np.random.default_rng(0)
    feats, labels = [], []
    for e in range(30):
        fail = int(rng.integers(20, 40)) if e % 2 else None
        t = np.arange(50)
        risk = np.zeros(50) if fail is None else np.clip((t - fail + 15) / 15, 0, None)
        x = np.stack([risk, rng.normal(size=50), rng.normal(size=50)], 1)  # one useful feature
        feats.append(torch.tensor(x + 0.1 * rng.normal(size=x.shape), dtype=torch.float32))
        failed = np.zeros(50) if fail is None else (t >= fail).astype(float)
        labels.append(warning_labels(failed, 10))
    head = fit_warning_head(feats[:20], labels[:20])
    assert head.weight.abs().argmax() == 0
    scores = [head(f).numpy() for f in feats[20:]]
    assert warning_metrics(scores, labels[20:], far=0.05)["auroc"] > 0.9
    with pytest.raises(ValueError, match="never fail"):
        fit_warning_head(feats[:1], [np.zeros(50, np.int8)])


def test_conformal_threshold_holds_its_rate_on_exchangeable_data():
    from physjepa.heads.warning import conformal_threshold

    # 99 calibration scores 1..99: at 10% the conformal rank is ceil(100 * 0.9) = 90
    assert conformal_threshold(np.arange(1.0, 100.0), 0.1) == 90.0
    # too few negatives for 1%: none of them may alarm
    thr = conformal_threshold(np.arange(1.0, 50.0), 0.01)
    assert 49.0 < thr < 49.0 + 1e-9
    # over many draws of exchangeable data the miss rate is 1 - 298/301 = 0.00997 (n = 300)
    rng = np.random.default_rng(0)
    misses = [
        (rng.standard_normal(1000) > conformal_threshold(rng.standard_normal(300), 0.01)).mean()
        for _ in range(1000)
    ]
    assert 0.009 < np.mean(misses) <= 0.011  # standard error about 0.0002
    with pytest.raises(UserError, match="horizon"):
        conformal_threshold(np.array([np.nan]), 0.01)


def test_crossfit_thresholds_never_judge_an_episode_by_its_own_steps():
    from physjepa.heads.warning import crossfit_thresholds

    calm = [np.full(50, 0.1) for _ in range(9)]
    loud = np.full(50, 5.0)  # one episode scoring far above the rest, none of it failing
    labels = [np.zeros(50, np.int8)] * 10
    thr = crossfit_thresholds([*calm, loud], labels, far=0.01, folds=5)
    assert len(thr) == 10
    # episode 9 (fold 4) is judged by folds 0-3 alone, all calm: so it alarms, as it should
    assert thr[9] < 5.0
    # the calm episodes of folds that pooled the loud one get a threshold of 5.0
    assert thr[0] == 5.0 and thr[4] == pytest.approx(0.1)
    m = warning_metrics(
        [*calm, np.r_[loud[:40], np.zeros(10)]],
        [*labels[:9], warning_labels(np.r_[np.zeros(45), np.ones(5)], 5)],
        0.01,
        thr,
    )
    assert m["false_alarm_rate"] == pytest.approx(40 / (9 * 50 + 40))
    with pytest.raises(UserError, match="at least 2 held-out episodes.*--calibrate"):
        crossfit_thresholds(calm[:1], labels[:1], far=0.01)


def _structure(n=40, rng=None):
    """Eight gauges on one structure: each a fixed mix of two loads that wander (each episode
    with offsets of its own, as beams differ), read without noise."""
    rng = rng or np.random.default_rng(0)
    loads = np.cumsum(rng.normal(0, 0.1, (n, 2)), 0)
    mix = np.array([[1, 0], [0.5, 0.5], [0, 1], [1, -1], [0.3, 0.9], [0.8, 0.2], [-0.4, 1], [1, 1]])
    obs = loads @ mix.T + 0.05 * rng.normal(size=8)
    return obs.astype(np.float32), np.zeros((n, 2), np.float32)


def test_channel_check_reads_each_channel_off_the_others_and_catches_a_drift():
    from physjepa.metrics.anomaly import episode_parts, fit_channel_check

    model = _model(channels=8)
    rng = np.random.default_rng(0)
    eps = [_structure(rng=rng) for _ in range(90)]
    check = fit_channel_check(eps[:80], far=0.01, lag=10, steps=1500)
    assert check.live.all() and check.lag == 10
    # each channel's scale in 4 bins of how far the other channels say it should have moved
    assert check.scale.shape == (8, 4) and (np.diff(check.edges, axis=1) >= 0).all()
    assert (check.scale[:, -1] > check.scale[:, 0]).all()  # the residual moves more then
    # the head learned the structure: its residuals are far below the channels' spread
    rows = np.concatenate([o for o, _ in eps[80:]]).astype(np.float64)
    res = check.head.residuals(rows)
    assert (np.median(np.abs(res), 0) < 0.2 * rows.std(0)).all()
    cal = calibrate(model, eps[80:], far=0.01, check=check)
    assert cal.check is check and cal.steps == 10 * 39
    obs, act = _structure(rng=rng)
    s, e = episode_parts(model, obs, act, check=check)
    assert np.isnan(s[0]) and np.isnan(e[0]).all() and e.shape == (40, 8)
    assert np.nanmedian(e) < 1.0  # normal steps sit inside their channel's 99% band
    # channel 3 drifts away from what the others imply, a little more every step
    bad = obs.copy()
    bad[20:, 3] += 0.05 * np.arange(1, 21)
    s2, e2 = episode_parts(model, bad, act, check=check)
    assert np.argmax(e2[35]) == 3 and e2[35, 3] > 2 * np.delete(e2[35], 3).max()
    assert cal.score(s2, e2)[35] > cal.threshold
    assert cal.blame(float(s2[35]), e2[35], list("abcdefgh")) == "d"
    # without a check the score is the surprise itself
    plain = calibrate(model, eps[80:], far=0.01)
    assert plain.check is None and np.array_equal(plain.score(s), s, equal_nan=True)
    with pytest.raises(UserError, match="vector observations"):
        fit_channel_check([(np.zeros((4, 2, 2)), np.zeros((4, 2)))])


def test_the_cross_channel_head_is_fitted_the_same_whatever_the_global_seed():
    from physjepa.metrics.anomaly import fit_cross_channel

    rows = np.concatenate([_structure(rng=np.random.default_rng(i))[0] for i in range(5)])
    torch.manual_seed(1)
    a = fit_cross_channel(rows, steps=20).residuals(rows)
    torch.manual_seed(2)
    b = fit_cross_channel(rows, steps=20).residuals(rows)
    np.testing.assert_array_equal(a, b)


def test_the_alarm_score_is_the_larger_part_and_the_check_blames_only_its_own_alarms():
    from physjepa.metrics.anomaly import Calibration, fit_channel_check

    check = fit_channel_check([_stream(channels=2)], steps=1)
    cal = Calibration(1.0, 0.01, 10, np.zeros(2), np.zeros(0), check, 0.5, 2.0)
    s = np.array([np.nan, 0.25, 1.0, 0.25])
    e = np.array([[np.nan, np.nan], [1.0, 0.0], [0.0, 1.0], [0.0, 4.0]])
    np.testing.assert_allclose(cal.score(s, e), [np.nan, 0.5, 2.0, 2.0])
    assert cal.blame(1.0, e[2], ["a", "b"]) is None  # the surprise part (2.0) is larger
    assert cal.blame(0.25, e[3], ["a", "b"]) == "b"  # channel b alone: 4 / 2 > 0.25 / 0.5
    assert cal.blame(0.25, e[0], ["a", "b"]) is None  # nothing predicted yet


def test_streamed_monitor_scores_equal_offline_scores_with_a_channel_check():
    from physjepa.metrics.anomaly import episode_parts, fit_channel_check

    model = _model()
    check = fit_channel_check([_stream(seed=i) for i in range(6)], far=0.05, lag=5, steps=50)
    cal = calibrate(model, [_stream(seed=i) for i in range(6, 9)], far=0.05, check=check)
    obs, act = _stream(seed=20)
    obs[30:45, 1] = obs[30, 1]  # a channel frozen across batch boundaries
    offline = cal.score(*episode_parts(model, obs, act, check=check))
    stream, got, state = StreamingSurprise(model), [], check.stream()
    for lo in range(0, len(obs), 7):
        _, s = stream.push(obs[lo : lo + 7], act[lo : lo + 7])
        e = check.errors(np.stack(stream.batch_obs), state)
        got.append(cal.score(s, e))
    got = np.concatenate(got)
    assert np.isnan(got[0]) and np.isnan(offline[0])
    np.testing.assert_allclose(got[1:], offline[1:], rtol=1e-4, atol=1e-6)


def test_a_frozen_reading_is_caught_and_named_where_the_head_cannot_see_it():
    from physjepa.metrics.anomaly import FrozenRuns, episode_parts, fit_channel_check

    model = _model(channels=3, noise=0.0)
    rng = np.random.default_rng(1)

    def live(n=30):  # three channels that always move; the third idles at 0 or saturates at 2
        obs = rng.normal(size=(n, 3)).astype(np.float32)
        obs[:, 2] = np.where(rng.random(n) < 0.7, 0.0, 2.0)
        return obs, np.zeros((n, 2), np.float32)

    check = fit_channel_check([live() for _ in range(40)], far=0.01, steps=200)
    assert check.frozen_scale[0] == check.frozen_scale[1] == 1.0
    assert check.frozen_scale[2] > 1.0  # idling at 0 is normal for that channel
    assert check.live.tolist() == [True, True, False]  # ... an event channel, not checked
    cal = calibrate(model, [live() for _ in range(10)], far=0.01, check=check)
    obs, act = live()
    obs[12:, 1] = obs[12, 1]  # channel 1 sticks at step 12
    s, e = episode_parts(model, obs, act, check=check)
    np.testing.assert_array_equal(e[13:18, 1] >= np.arange(1, 6), True)
    scores = cal.score(s, e)
    assert (scores[16:] > cal.threshold).all()
    assert cal.blame(float(s[20]), e[20], ["a", "b", "c"]) == "b"
    # a reading held at the channel's largest normal magnitude is saturation, not a freeze
    runs = FrozenRuns()
    np.testing.assert_array_equal(
        runs.update(np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]), np.array([5.0, 2.0])),
        [[0, 0], [1, 0], [2, 0]],
    )
