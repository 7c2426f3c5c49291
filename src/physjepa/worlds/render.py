"""Tiny anti-aliased rasteriser for the built-in worlds: numpy only, a few µs per shape.

A :class:`Canvas` is a float32 RGB buffer ``(size, size, 3)`` looking at the square world
region ``[0, extent] x [0, extent]``. World coordinates have y pointing up; image rows go
down, so world ``(x, y)`` lands at pixel column ``x * scale`` and row ``(extent - y) * scale``
(continuous coordinates; pixel ``(row j, col i)`` covers ``[i, i+1] x [j, j+1]``).

Every shape is blended with its *coverage* of each pixel (exact area for rectangles, a
one-pixel ramp on the signed distance for circles, capsules and convex polygons), so moving a
shape by a fraction of a pixel changes pixel values continuously. That is what lets linear
probes read sub-pixel positions back out of a learned embedding. Work is confined to each
shape's bounding box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Color = Sequence[float]


class Canvas:
    """A float RGB image of the world square ``[0, extent]^2``; ``to_uint8()`` gives the frame."""

    def __init__(self, size: int, extent: float = 1.0, background: Color = (0, 0, 0)):
        self.size = size
        self.extent = float(extent)
        self.scale = size / self.extent  # pixels per world unit
        self.pixels = np.empty((size, size, 3), np.float32)  # (H, W, 3), values in [0, 255]
        self.pixels[:] = np.asarray(background, np.float32)

    def copy(self) -> Canvas:
        """An independent canvas with the same pixels (e.g. a pre-drawn static layer)."""
        other = object.__new__(Canvas)
        other.size, other.extent, other.scale = self.size, self.extent, self.scale
        other.pixels = self.pixels.copy()
        return other

    def to_uint8(self) -> np.ndarray:
        """The frame as ``(size, size, 3)`` uint8, rounded to nearest."""
        return np.clip(self.pixels + 0.5, 0, 255).astype(np.uint8)

    # -- shapes (world units) -------------------------------------------------------------
    def circle(self, center: Sequence[float], radius: float, color: Color) -> None:
        """A filled disc; edge pixels get coverage ``clip(r - d + 1/2, 0, 1)`` (d in pixels)."""
        u = center[0] * self.scale  # column, continuous
        v = (self.extent - center[1]) * self.scale  # row, continuous
        r = radius * self.scale
        i0, i1 = self._span(u - r - 1, u + r + 1)
        j0, j1 = self._span(v - r - 1, v + r + 1)
        if i0 >= i1 or j0 >= j1:
            return
        dx = np.arange(i0, i1, dtype=np.float32) + (0.5 - u)  # (w,)
        dy = np.arange(j0, j1, dtype=np.float32) + (0.5 - v)  # (h,)
        dist = np.sqrt(dy[:, None] ** 2 + dx[None, :] ** 2)  # (h, w)
        self._blend(j0, j1, i0, i1, np.clip(r - dist + 0.5, 0.0, 1.0), color)

    def rect(self, lo: Sequence[float], hi: Sequence[float], color: Color) -> None:
        """A filled axis-aligned rectangle from corner ``lo`` to ``hi``; exact area coverage."""
        u0, u1 = lo[0] * self.scale, hi[0] * self.scale
        v0, v1 = (self.extent - hi[1]) * self.scale, (self.extent - lo[1]) * self.scale
        i0, i1 = self._span(u0, u1)
        j0, j1 = self._span(v0, v1)
        if i0 >= i1 or j0 >= j1:
            return
        cols = np.arange(i0, i1, dtype=np.float32)
        rows = np.arange(j0, j1, dtype=np.float32)
        cover_x = np.clip(np.minimum(cols + 1, u1) - np.maximum(cols, u0), 0.0, 1.0)  # (w,)
        cover_y = np.clip(np.minimum(rows + 1, v1) - np.maximum(rows, v0), 0.0, 1.0)  # (h,)
        self._blend(j0, j1, i0, i1, cover_y[:, None] * cover_x[None, :], color)

    def polygon(self, points: Sequence[Sequence[float]], color: Color) -> None:
        """A filled convex polygon (vertices in either winding); edge pixels get coverage
        ``clip(1/2 - d, 0, 1)``, ``d`` the largest signed distance (pixels) to an edge line."""
        top = self.extent * self.scale
        uv = [(x * self.scale, top - y * self.scale) for x, y in points]  # pixel coordinates
        us, vs = [u for u, _ in uv], [v for _, v in uv]
        i0, i1 = self._span(min(us) - 1, max(us) + 1)
        j0, j1 = self._span(min(vs) - 1, max(vs) + 1)
        twice_area = sum(u0 * v1 - u1 * v0 for (u0, v0), (u1, v1) in zip(uv[-1:] + uv, uv))
        if i0 >= i1 or j0 >= j1 or twice_area == 0:
            return
        turn = 1.0 if twice_area > 0 else -1.0
        lines = []  # (nx, ny, c): the edge line nx*u + ny*v = c, normal outward
        for (u0, v0), (u1, v1) in zip(uv[-1:] + uv, uv):
            length = math.hypot(u1 - u0, v1 - v0)
            if length > 0:
                nx, ny = turn * (v1 - v0) / length, turn * (u0 - u1) / length
                lines.append((nx, ny, nx * u0 + ny * v0))
        lines = np.array(lines, np.float32)  # (n, 3)
        x = np.arange(i0, i1, dtype=np.float32) + np.float32(0.5)  # (w,) pixel centres
        y = np.arange(j0, j1, dtype=np.float32) + np.float32(0.5)  # (h,)
        across = lines[:, 0, None] * x  # (n, w)
        down = lines[:, 1, None] * y - lines[:, 2, None]  # (n, h)
        dist = (down[:, :, None] + across[:, None, :]).max(axis=0)  # (h, w)
        self._blend(j0, j1, i0, i1, np.clip(0.5 - dist, 0.0, 1.0), color)

    def capsule(self, a: Sequence[float], b: Sequence[float], radius: float, color: Color) -> None:
        """A thick segment from ``a`` to ``b`` with round ends (all points within ``radius`` of
        it); edge pixels get coverage ``clip(r - d + 1/2, 0, 1)`` (d in pixels), as discs do."""
        ua, va = a[0] * self.scale, (self.extent - a[1]) * self.scale
        ub, vb = b[0] * self.scale, (self.extent - b[1]) * self.scale
        r = radius * self.scale
        i0, i1 = self._span(min(ua, ub) - r - 1, max(ua, ub) + r + 1)
        j0, j1 = self._span(min(va, vb) - r - 1, max(va, vb) + r + 1)
        if i0 >= i1 or j0 >= j1:
            return
        du, dv = ub - ua, vb - va
        dx = np.arange(i0, i1, dtype=np.float32) + np.float32(0.5 - ua)  # (w,) from a
        dy = np.arange(j0, j1, dtype=np.float32) + np.float32(0.5 - va)  # (h,)
        length2 = du * du + dv * dv
        if length2 > 0:
            t = (dy[:, None] * np.float32(dv / length2)) + (dx * np.float32(du / length2))[None]
            np.clip(t, 0.0, 1.0, out=t)  # (h, w) parameter of the nearest point on the segment
            ex, ey = dx[None, :] - t * np.float32(du), dy[:, None] - t * np.float32(dv)
        else:
            ex, ey = dx[None, :], dy[:, None]
        dist = np.sqrt(ex * ex + ey * ey)  # (h, w)
        self._blend(j0, j1, i0, i1, np.clip(r - dist + 0.5, 0.0, 1.0), color)

    # -- internals ------------------------------------------------------------------------
    def _span(self, a: float, b: float) -> tuple[int, int]:
        """Pixel index range ``[start, stop)`` touched by the continuous interval ``[a, b]``."""
        return max(int(np.floor(a)), 0), min(int(np.ceil(b)), self.size)

    def _blend(self, j0: int, j1: int, i0: int, i1: int, alpha: np.ndarray, color: Color) -> None:
        patch = self.pixels[j0:j1, i0:i1]  # (h, w, 3), a view
        patch += alpha[:, :, None] * (np.asarray(color, np.float32) - patch)


def square_resize(img, size: int, frame: str = "crop") -> np.ndarray:
    """A frame (``(H, W, >=3)`` uint8 array or PIL image) made square and resized (bilinear)
    to ``(size, size, 3)`` uint8: how imported videos and Gymnasium renders become model
    frames. ``frame="crop"`` keeps the centre square; ``"pad"`` keeps the whole frame,
    letterboxed with the colour of its border pixels (so a scene's own background fills the
    bars)."""
    from PIL import Image

    if frame not in ("crop", "pad"):
        raise ValueError(f"frame={frame!r} must be 'crop' or 'pad'")
    if isinstance(img, np.ndarray):
        img = Image.fromarray(np.ascontiguousarray(img[..., :3]).astype(np.uint8))
    img = img.convert("RGB")
    w, h = img.size
    if frame == "crop":
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        img = img.crop((left, top, left + s, top + s))
    elif w != h:
        s = max(w, h)
        a = np.asarray(img, np.uint8)
        border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
        fill = tuple(int(c) for c in np.median(border, axis=0))
        canvas = Image.new("RGB", (s, s), fill)
        canvas.paste(img, ((s - w) // 2, (s - h) // 2))
        img = canvas
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(img, np.uint8)
