"""Scale and colour augmentation of pixel windows (data/augment.py)."""

from __future__ import annotations

import pytest
import torch

from physjepa.data.augment import augment_windows, permute_colours, zoom_windows


def _square_windows(b: int = 64, t: int = 3, size: int = 32, half: int = 4) -> torch.Tensor:
    """Windows of a bright square of side 2*half centred in a dark frame, every frame alike."""
    obs = torch.zeros(b, t, size, size, 3, dtype=torch.uint8)
    c = size // 2
    obs[:, :, c - half : c + half, c - half : c + half] = 200
    return obs


def _areas(obs: torch.Tensor) -> torch.Tensor:
    """Bright pixels per frame (B, T), half-covered pixels counted by their brightness."""
    return obs[..., 0].float().sum(dim=(-1, -2)) / 200


def test_zero_zoom_returns_the_windows_themselves():
    obs = _square_windows(2)
    assert zoom_windows(obs, 0.0) is obs


def test_every_frame_of_a_window_is_zoomed_alike():
    torch.manual_seed(0)
    out = zoom_windows(_square_windows(), 0.25)
    assert out.shape == (64, 3, 32, 32, 3) and out.dtype == torch.uint8
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 0], out[:, 2])


def test_sizes_spread_over_the_zoom_range_and_no_further():
    torch.manual_seed(1)
    base = float(_areas(_square_windows(1))[0, 0])  # 64 pixels
    ratio = _areas(zoom_windows(_square_windows(256), 0.25))[:, 0] / base  # ~ zoom^2
    # the object is magnified and reduced, by at most 1.25 and 0.8 in side (interpolation
    # blurs an edge by a pixel, hence the margins)
    assert ratio.max() > 1.3 and ratio.min() < 0.75
    assert ratio.max() < 1.25**2 * 1.1 and ratio.min() > 0.8**2 * 0.9
    # a magnified view stays inside the frame: the square (centred) is never cut off
    assert (ratio > 0.5).all()


def test_float_windows_keep_their_dtype_and_the_draws_follow_the_seed():
    obs = _square_windows(8).float() / 255
    torch.manual_seed(2)
    a = zoom_windows(obs, 0.5)
    torch.manual_seed(2)
    b = zoom_windows(obs, 0.5)
    assert a.dtype == torch.float32 and torch.equal(a, b)
    assert not torch.equal(a, obs)


def test_vector_windows_are_refused():
    with pytest.raises(ValueError, match="needs windows"):
        zoom_windows(torch.zeros(2, 3, 4), 0.25)


def test_a_share_of_windows_gets_its_colour_channels_permuted_alike_in_every_frame():
    obs = torch.zeros(400, 2, 4, 4, 3, dtype=torch.uint8)
    obs[..., 0], obs[..., 1], obs[..., 2] = 10, 20, 30
    torch.manual_seed(3)
    out = permute_colours(obs, 0.5)
    assert out.shape == obs.shape and out.dtype == obs.dtype
    assert torch.equal(out[:, 0], out[:, 1])  # every frame alike
    # every pixel keeps its three values, in another order for about half of the windows
    assert torch.equal(out.sort(dim=-1).values, obs.sort(dim=-1).values)
    moved = (out[:, 0, 0, 0] != obs[:, 0, 0, 0]).any(-1).float().mean()
    assert 0.4 < float(moved) < 0.6
    orders = {tuple(int(v) for v in out[i, 0, 0, 0]) for i in range(400)}
    assert len(orders) == 6  # the identity and all five others
    assert permute_colours(obs, 0.0) is obs
    torch.manual_seed(3)
    assert torch.equal(augment_windows(obs, 0.0, 0.5), out)
