"""Surprise and the VoE metrics: shapes, the causal context, and metrics on hand-built inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physjepa.config import load_preset
from physjepa.metrics.surprise import auroc, model_steps, pairwise_accuracy, surprise
from physjepa.models.world_model import ModelSpec, build_world_model


def _untrained(history: int = 2):
    torch.manual_seed(0)
    cfg = load_preset("debug")
    return build_world_model(cfg.model, ModelSpec((32, 32, 3), 2, history)).eval()


def test_untrained_model_is_not_surprised_by_a_constant_video():
    """The predictor's output starts as 'the latent stays the same' (AdaLN-zero residual)."""
    model = _untrained()
    frame = torch.randint(0, 256, (1, 32, 32, 3), dtype=torch.uint8)
    s = surprise(model, frame.expand(12, -1, -1, -1), torch.zeros(12, 2))
    assert s.shape == (12,)
    assert s.abs().max() < 1e-10


def test_surprise_peaks_where_the_video_breaks():
    model = _untrained()
    g = torch.Generator().manual_seed(1)
    a = torch.randint(0, 256, (1, 32, 32, 3), generator=g, dtype=torch.uint8)
    b = torch.randint(0, 256, (1, 32, 32, 3), generator=g, dtype=torch.uint8)
    video = torch.cat([a.expand(8, -1, -1, -1), b.expand(8, -1, -1, -1)])
    s = surprise(model, video, torch.zeros(16, 2))
    assert int(s.argmax()) == 8 and float(s[8]) > 0
    assert float(s[:8].max()) < 1e-10 and float(s[9:].max()) < 1e-10


def test_surprise_is_causal_and_uses_a_fixed_context():
    """Changing frame k changes no surprise before step k; with context c, frames more than c
    steps back do not matter."""
    model = _untrained(history=3)
    with torch.no_grad():  # a predictor that does something: non-zero output layers
        for p in model.predictor.parameters():
            p.add_(0.05 * torch.randn_like(p))
    g = torch.Generator().manual_seed(2)
    video = torch.randint(0, 256, (10, 32, 32, 3), generator=g, dtype=torch.uint8)
    act = torch.randn(10, 2, generator=g)
    base = surprise(model, video, act, context=2)
    other = video.clone()
    other[6] = 255 - other[6]
    changed = surprise(model, other, act, context=2)
    assert torch.equal(base[:6], changed[:6])
    assert not torch.allclose(base[6:9], changed[6:9])
    assert torch.allclose(base[9:], changed[9:], atol=1e-6)  # frame 6 is out of step 9's context
    with pytest.raises(ValueError, match="context"):
        surprise(model, video, act, context=4)


def test_model_steps_blocks_actions_like_training_windows():
    obs = np.arange(10)[:, None].repeat(3, axis=1).astype(np.float32)
    act = np.arange(20, dtype=np.float32).reshape(10, 2)
    o, a = model_steps(obs, act, frameskip=3)
    assert o[:, 0].tolist() == [0, 3, 6]
    assert a.tolist()[1] == [6, 7, 8, 9, 10, 11]
    with pytest.raises(ValueError, match="at least 2"):
        model_steps(obs[:5], act[:5], frameskip=3)


def test_pairwise_accuracy_on_hand_built_pairs():
    low, high = torch.zeros(6), torch.ones(6)
    spike_before = torch.tensor([9.0, 9, 0, 0, 0, 0])  # high surprise only before the break
    assert pairwise_accuracy([low, low], [high, high], [2, 2]) == 1.0
    assert pairwise_accuracy([high, low], [low, high], [2, 2]) == 0.5
    assert pairwise_accuracy([spike_before], [low + 0.1], [2]) == 1.0  # before the break ignored
    assert pairwise_accuracy([low], [low], [3]) == 0.5  # a tie counts half
    with pytest.raises(ValueError):
        pairwise_accuracy([low], [], [1])


def test_pairwise_accuracy_window_and_groups():
    # the impossible video spikes at the break, then settles lower than the possible one
    possible = torch.tensor([0.0, 0, 1, 1, 1, 1, 1, 1, 1, 1])
    impossible = torch.tensor([0.0, 0, 5, 0, 0, 0, 0, 0, 0, 0])
    assert pairwise_accuracy([possible], [impossible], [2]) == 0.0  # the tail decides
    assert pairwise_accuracy([possible], [impossible], [2], window=2) == 1.0  # the event does
    # a group of two pairs is decided by its sums: 1 + 4 < 3 + 3 although pair 2 loses
    p1, q1 = torch.tensor([0.0, 1]), torch.tensor([0.0, 3])
    p2, q2 = torch.tensor([0.0, 4]), torch.tensor([0.0, 3])
    assert pairwise_accuracy([p1, p2], [q1, q2], [1, 1]) == 0.5
    assert pairwise_accuracy([p1, p2], [q1, q2], [1, 1], groups=[7, 7]) == 1.0
    with pytest.raises(ValueError, match="window"):
        pairwise_accuracy([p1], [q1], [1], window=0)
    with pytest.raises(ValueError, match="group"):
        pairwise_accuracy([p1], [q1], [1], groups=[1, 2])


def test_auroc_on_hand_built_scores():
    assert auroc([3, 4, 5], [0, 1, 2]) == 1.0
    assert auroc([0, 1, 2], [3, 4, 5]) == 0.0
    assert auroc([1, 1], [1, 1]) == 0.5
    assert auroc([2, 0], [1]) == 0.5
    with pytest.raises(ValueError):
        auroc([], [1])
    with pytest.raises(ValueError):
        auroc([float("nan")], [1])


def test_surprise_at_a_horizon_rolls_the_model_forward():
    """horizon k: frame t is predicted by a k-step latent rollout from the h frames ending at
    t - k (the first frame standing in for missing ones); with a full context, k = 1 through
    the rollout path equals the teacher-forced path."""
    from physjepa.metrics.surprise import _rollout_predictions, latent_surprise

    model = _untrained(history=2)
    torch.manual_seed(3)
    for p in model.predictor.parameters():  # leave AdaLN-zero: predictions must move
        p.data.add_(0.05 * torch.randn_like(p))
    video = torch.randint(0, 256, (9, 32, 32, 3), dtype=torch.uint8)
    a = torch.randn(9, 2)
    with torch.no_grad():
        z = model.encode(video[None])[0]
        one = latent_surprise(model, z, a, 2, 1)
        rolled = (_rollout_predictions(model, z, a, 2, 1) - z[1:]).pow(2).mean(-1)
        assert torch.allclose(one[2:], rolled[1:], atol=1e-6)
        s3 = latent_surprise(model, z, a, 2, 3)
        for t in (1, 2, 4, 8):
            e = max(t - 3, 0)
            ctx = torch.stack([z[max(e - 1, 0)], z[e]])[None]
            past = (a[e - 1] if e else torch.zeros(2))[None, None]
            pred = model.rollout(ctx, a[None, None, e:t], past)[0, 0, -1]
            assert s3[t].item() == pytest.approx((pred - z[t]).pow(2).mean().item(), rel=1e-5)
    assert s3[0] == 0 and not torch.allclose(s3, one)


def test_relative_surprise_divides_by_the_latent_move():
    """latent_move(z, k)[t] = mean squared change from frame max(t - k, 0) to t; the relative
    score divides the surprise by it plus the floor, which must be > 0."""
    from physjepa.errors import UserError
    from physjepa.metrics.surprise import latent_move, relative_surprise

    z = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0], [4.0, 2.0], [4.0, 2.0]])
    move = latent_move(z, 2)
    expect = [0.0, 0.5, (1 + 4) / 2, (9 + 4) / 2, (9 + 0) / 2]
    torch.testing.assert_close(move, torch.tensor(expect))
    s = torch.tensor([0.0, 1.0, 1.0, 1.0, 1.0])
    rel = relative_surprise(s, z, 2, floor=0.5)
    torch.testing.assert_close(rel, s / (torch.tensor(expect) + 0.5))
    assert rel[4] > rel[3]  # the same error counts more where the latent moved less
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(UserError, match="floor"):
            relative_surprise(s, z, 2, floor=bad)
    # a power below 1 divides by less of the move: between the error alone and rel
    half = relative_surprise(s, z, 2, floor=0.5, power=0.5)
    torch.testing.assert_close(half, s / (torch.tensor(expect) + 0.5).sqrt())
    big = torch.tensor(expect) + 0.5 > 1
    assert (half[big] > rel[big]).all() and (half[big] < s[big]).all()
    for bad in (0.0, -0.5, 1.5, float("nan")):
        with pytest.raises(UserError, match="power"):
            relative_surprise(s, z, 2, floor=0.5, power=bad)
