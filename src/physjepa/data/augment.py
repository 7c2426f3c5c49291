"""Training-time augmentation of pixel windows (``data.augment_zoom``, ``data.augment_colour``,
``data.augment_dilate``).

Each acts on a window as a whole, every frame alike, so the motion inside a window stays one
consistent world:

- :func:`zoom_windows`, scale augmentation: the window is zoomed by one factor about one
  centre, so objects appear at sizes the data never held (and their motion rescaled with
  them);
- :func:`permute_colours`, colour augmentation: the window's RGB channels are permuted, so
  every object appears in colours the data never held;
- :func:`dilate_windows`, object-size augmentation: every object brighter than what surrounds
  it grows (or shrinks) by a pixel or a few about where it is, so it appears at sizes the data
  never held while the motion, the positions and the frame stay as they were.

Zoom rescales the motion with the objects: a window zoomed by 1.2 shows gravity 1.2 times as
strong, so zoom teaches the model that gravity varies (issue 16 measured it: every
intuitive-physics property got worse). Dilation changes the size alone.

The intent (issue 16) is an encoder whose features carry over to a ball a little larger, or
of another colour, than any it trained on, instead of mapping it far outside the latent
region the predictor knows. Draws come from torch's global generator, which training seeds
per process and saves in every checkpoint (an interrupted run resumes the same draws).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def zoom_windows(obs: torch.Tensor, max_zoom: float) -> torch.Tensor:
    """Pixel windows ``obs (B, T, H, W, C)`` (uint8 or float) -> the same shape and dtype,
    window b zoomed by ``s_b``, drawn log-uniformly in ``[1 / (1 + max_zoom), 1 + max_zoom]``
    (``s > 1`` magnifies), about a centre drawn so that a magnified view stays inside the
    frame and a reduced frame stays wholly in view (its margin repeats the border pixels).

    ``max_zoom = 0`` returns ``obs`` itself."""
    if max_zoom <= 0:
        return obs
    if obs.ndim != 5:
        raise ValueError(f"zoom_windows needs windows (B, T, H, W, C), not {tuple(obs.shape)}")
    b, t, h, w, c = obs.shape
    u = torch.rand(b, 3) * 2 - 1  # (B, 3) in [-1, 1): log-zoom, centre x, centre y
    s = torch.exp(u[:, 0] * math.log1p(max_zoom))  # (B,)
    room = (1 - 1 / s).abs()  # how far the centre may move, in [-1, 1] image units
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / s
    theta[:, 0, 2], theta[:, 1, 2] = u[:, 1] * room, u[:, 2] * room
    grid = F.affine_grid(theta.to(obs.device), [b, t * c, h, w], align_corners=False)
    x = obs.permute(0, 1, 4, 2, 3).reshape(b, t * c, h, w).float()  # one grid for all frames
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    y = y.view(b, t, c, h, w).permute(0, 1, 3, 4, 2)
    if obs.dtype == torch.uint8:
        return y.round().clamp(0, 255).to(torch.uint8).contiguous()
    return y.to(obs.dtype).contiguous()


#: The RGB permutations other than the identity.
_PERMUTATIONS = torch.tensor([[0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])


def permute_colours(obs: torch.Tensor, share: float) -> torch.Tensor:
    """Pixel windows ``obs (B, T, H, W, 3)`` -> the same, a ``share`` of the windows (drawn
    independently) with their colour channels permuted (one of the five other orders, every
    frame alike). ``share = 0`` returns ``obs`` itself."""
    if share <= 0:
        return obs
    if obs.ndim != 5 or obs.shape[-1] != 3:
        raise ValueError(f"permute_colours needs windows (B, T, H, W, 3), not {tuple(obs.shape)}")
    b = obs.shape[0]
    pick = torch.rand(b) < share  # (B,)
    perm = _PERMUTATIONS[torch.randint(len(_PERMUTATIONS), (b,))]  # (B, 3)
    perm = torch.where(pick[:, None], perm, torch.arange(3)).to(obs.device)
    return torch.gather(obs, -1, perm[:, None, None, None, :].expand_as(obs))


#: A pixel and its four neighbours: one step of dilation grows a disc by a pixel along the axes
#: and by ~0.7 along the diagonals (rounder than a 3x3 square, which grows it into a box).
_PLUS = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))
_LUMA = (0.299, 0.587, 0.114)


def _morph_step(x: torch.Tensor, grow: bool) -> torch.Tensor:
    """One step of grey-scale dilation (``grow``) or erosion of frames ``x (N, H, W, 3)``
    float: every pixel takes the colour of the brightest (darkest) pixel, by luma, among itself
    and its four neighbours (the frame's border repeats; a tie keeps the first in ``_PLUS``
    order). Whole colours move, never a mix of channels, so no colour appears that the frame
    did not hold. The luma is computed once per frame and each neighbour replaces the pick
    where it is strictly brighter (darker): the first maximum, as an argmax over the five."""
    n, h, w, _ = x.shape
    pad = F.pad(x.permute(0, 3, 1, 2), (1, 1, 1, 1), mode="replicate")  # (N, 3, H+2, W+2)
    luma = torch.einsum("nchw,c->nhw", pad, torch.tensor(_LUMA, dtype=x.dtype))  # (N, H+2, W+2)

    def shifted(t: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
        return t[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    best, best_luma = shifted(pad, 0, 0), shifted(luma, 0, 0)
    for dy, dx in _PLUS[1:]:
        cand = shifted(luma, dy, dx)
        better = cand > best_luma if grow else cand < best_luma  # (N, H, W)
        best = torch.where(better[:, None], shifted(pad, dy, dx), best)
        best_luma = torch.where(better, cand, best_luma)
    return best.permute(0, 2, 3, 1)


def dilate_windows(obs: torch.Tensor, max_pixels: int) -> torch.Tensor:
    """Pixel windows ``obs (B, T, H, W, 3)`` (uint8 or float) -> the same shape and dtype,
    window b dilated (``k_b > 0``: bright objects grow by ``k_b`` pixels) or eroded
    (``k_b < 0``: they shrink), every frame alike, ``k_b`` drawn uniformly from
    ``-max_pixels .. max_pixels`` (0 leaves the window as it is). An object on a background
    brighter than itself changes the other way. ``max_pixels = 0`` returns ``obs`` itself."""
    if max_pixels <= 0:
        return obs
    if obs.ndim != 5 or obs.shape[-1] != 3:
        raise ValueError(f"dilate_windows needs windows (B, T, H, W, 3), not {tuple(obs.shape)}")
    b, t, h, w, c = obs.shape
    k = torch.randint(-max_pixels, max_pixels + 1, (b,))  # (B,)
    out = obs.float()
    for grow in (True, False):
        for step in range(max_pixels):
            sel = (k > step) if grow else (k < -step)  # windows that need another step
            if not bool(sel.any()):
                break
            idx = sel.nonzero()[:, 0].to(obs.device)
            x = out[idx].reshape(-1, h, w, c)
            out[idx] = _morph_step(x, grow).reshape(len(idx), t, h, w, c)
    return out.to(obs.dtype) if obs.dtype == torch.uint8 else out.to(obs.dtype).contiguous()


def augment_windows(obs: torch.Tensor, zoom: float, colour: float, dilate: int = 0) -> torch.Tensor:
    """A training batch's pixel windows zoomed (:func:`zoom_windows`), recoloured
    (:func:`permute_colours`) and then dilated or eroded (:func:`dilate_windows`); each step
    is skipped when its setting is 0."""
    return dilate_windows(permute_colours(zoom_windows(obs, zoom), colour), dilate)
