"""The anti-aliased canvas: coverage is continuous in position, y points up, shapes clip."""

from __future__ import annotations

import numpy as np
import pytest

from physjepa.worlds.render import Canvas


def _alpha(draw) -> np.ndarray:
    """Coverage (H, W) of a white shape on black, from the rendered float buffer."""
    canvas = Canvas(64, 1.0, (0, 0, 0))
    draw(canvas)
    return canvas.pixels[:, :, 0] / 255.0


def test_circle_area_and_subpixel_centroid():
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:64, 0:64] + 0.5
    for _ in range(20):
        x, y = rng.uniform(0.2, 0.8, 2)
        a = _alpha(lambda c, x=x, y=y: c.circle((x, y), 0.07, (255, 255, 255)))
        assert a.sum() == pytest.approx(np.pi * (0.07 * 64) ** 2, rel=0.01)
        u, v = (a * cols).sum() / a.sum(), (a * rows).sum() / a.sum()
        assert u == pytest.approx(x * 64, abs=0.02) and v == pytest.approx((1 - y) * 64, abs=0.02)


def test_a_tenth_of_a_pixel_changes_the_image():
    a = _alpha(lambda c: c.circle((0.5, 0.5), 0.07, (255, 255, 255)))
    b = _alpha(lambda c: c.circle((0.5 + 0.1 / 64, 0.5), 0.07, (255, 255, 255)))
    assert 0 < np.abs(a - b).max() < 0.2


def test_rect_coverage_is_exact_area_and_y_points_up():
    a = _alpha(lambda c: c.rect((0.1, 0.75), (0.33, 0.9), (255, 255, 255)))
    assert a.sum() == pytest.approx(0.23 * 0.15 * 64 * 64, rel=1e-4)
    assert a[:32].sum() == pytest.approx(a.sum())  # high y is the top of the image


def test_shapes_clip_at_the_border_and_uint8_rounds():
    canvas = Canvas(32, 1.0, (10, 20, 30))
    canvas.circle((0.0, 1.0), 0.3, (200, 0, 0))
    canvas.rect((-1.0, -1.0), (0.1, 0.1), (0, 200, 0))
    canvas.circle((5.0, 5.0), 0.1, (0, 0, 200))  # entirely outside: no effect, no error
    frame = canvas.to_uint8()
    assert frame.shape == (32, 32, 3) and frame.dtype == np.uint8
    assert tuple(frame[0, 0]) == (200, 0, 0) and tuple(frame[-1, 0]) == (0, 200, 0)
    assert tuple(frame[16, 16]) == (10, 20, 30)
    copy = canvas.copy()
    copy.rect((0.4, 0.4), (0.6, 0.6), (255, 255, 255))
    assert tuple(canvas.to_uint8()[16, 16]) == (10, 20, 30)  # copies are independent
