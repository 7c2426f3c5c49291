"""Scale and colour augmentation of pixel windows (data/augment.py)."""

from __future__ import annotations

import pytest
import torch

from physjepa.data.augment import (
    augment_windows,
    dilate_windows,
    permute_colours,
    zoom_windows,
)


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


def _disc_windows(b: int, t: int = 3, size: int = 32, r: float = 4.0) -> torch.Tensor:
    """Windows of a red disc of radius r (pixels) off the centre of a dark blue-grey frame."""
    obs = torch.empty(b, t, size, size, 3, dtype=torch.uint8)
    obs[...] = torch.tensor([25, 25, 35], dtype=torch.uint8)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disc = (yy - 12) ** 2 + (xx - 19) ** 2 <= r * r
    obs[:, :, disc] = torch.tensor([230, 70, 60], dtype=torch.uint8)
    return obs


def _disc_stats(obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Area (B, T) of the red pixels and their centre (B, T, 2)."""
    red = (obs[..., 0] > 100).float()
    yy, xx = torch.meshgrid(torch.arange(obs.shape[2]), torch.arange(obs.shape[3]), indexing="ij")
    area = red.sum(dim=(-1, -2))
    centre = torch.stack([(red * yy).sum(dim=(-1, -2)), (red * xx).sum(dim=(-1, -2))], -1)
    return area, centre / area[..., None]


def test_dilation_grows_or_shrinks_objects_in_place_alike_in_every_frame():
    obs = _disc_windows(300)
    torch.manual_seed(4)
    out = dilate_windows(obs, 1)
    assert out.shape == obs.shape and out.dtype == torch.uint8
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 0], out[:, 2])
    area, centre = _disc_stats(out)
    base, base_centre = _disc_stats(obs[:1])
    # three sizes, each about a third of the windows: a pixel smaller, as it was, a pixel
    # larger (radius 4 -> ~3 and ~5: areas 49 -> 29 and 73 on this grid)
    sizes = {int(a): int((area[:, 0] == a).sum()) for a in area[:, 0].unique()}
    assert sorted(sizes) == [29, int(base[0, 0]), 73], sizes
    assert all(70 < n < 130 for n in sizes.values()), sizes
    # the disc stays where it was, and no colour appears that the frame did not hold
    assert torch.allclose(centre, base_centre.expand_as(centre), atol=1e-4)
    assert {tuple(p) for p in out.reshape(-1, 3).unique(dim=0).tolist()} == {
        (25, 25, 35),
        (230, 70, 60),
    }


def test_dilation_by_two_reaches_two_pixels_and_follows_the_seed():
    obs = _disc_windows(200).float() / 255
    torch.manual_seed(5)
    a = dilate_windows(obs, 2)
    torch.manual_seed(5)
    assert torch.equal(a, dilate_windows(obs, 2)) and a.dtype == torch.float32
    area = _disc_stats((a * 255).round().to(torch.uint8))[0][:, 0]
    assert len(area.unique()) == 5  # -2, -1, 0, 1, 2 pixels
    assert area.min() < 20 and area.max() > 90  # radius 4 -> ~2 and ~6
    assert dilate_windows(obs, 0) is obs


def test_dilation_refuses_what_is_not_rgb_windows():
    with pytest.raises(ValueError, match="dilate_windows needs windows"):
        dilate_windows(torch.zeros(2, 3, 4, 4, 1), 1)
    torch.manual_seed(6)
    obs = _disc_windows(8)
    out = augment_windows(obs, 0.0, 0.0, 1)
    torch.manual_seed(6)
    assert torch.equal(out, dilate_windows(obs, 1))


@pytest.mark.parametrize("grow", [True, False])
def test_a_morphology_step_picks_the_first_brightest_or_darkest_of_the_five(grow):
    """The step against a plain argmax over the five stacked candidates (what it computed
    before it was made three times faster), on random frames of a few colours: exactly equal."""
    from physjepa.data.augment import _LUMA, _PLUS, _morph_step

    g = torch.Generator().manual_seed(7)
    palette = torch.tensor([[0, 0, 0], [200, 10, 10], [10, 200, 10], [90, 90, 90], [255, 255, 255]])
    x = palette[torch.randint(len(palette), (6, 12, 12), generator=g)].float()  # (N, H, W, 3)
    n, h, w, _ = x.shape
    pad = torch.nn.functional.pad(x.permute(0, 3, 1, 2), (1, 1, 1, 1), mode="replicate")
    cand = torch.stack([pad[:, :, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in _PLUS])
    luma = torch.einsum("knchw,c->knhw", cand, torch.tensor(_LUMA))
    pick = (luma.argmax(0) if grow else luma.argmin(0))[None, :, None]
    want = torch.gather(cand, 0, pick.expand(1, n, 3, h, w))[0].permute(0, 2, 3, 1)
    assert torch.equal(_morph_step(x, grow), want)
