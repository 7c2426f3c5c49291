"""Training-time augmentation of pixel windows (``data.augment_zoom``, ``data.augment_colour``).

Each acts on a window as a whole, every frame alike, so the motion inside a window stays one
consistent world:

- :func:`zoom_windows`, scale augmentation: the window is zoomed by one factor about one
  centre, so objects appear at sizes the data never held (and their motion rescaled with
  them);
- :func:`permute_colours`, colour augmentation: the window's RGB channels are permuted, so
  every object appears in colours the data never held.

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


def augment_windows(obs: torch.Tensor, zoom: float, colour: float) -> torch.Tensor:
    """A training batch's pixel windows zoomed (:func:`zoom_windows`) and then recoloured
    (:func:`permute_colours`); each step is skipped when its setting is 0."""
    return permute_colours(zoom_windows(obs, zoom), colour)
