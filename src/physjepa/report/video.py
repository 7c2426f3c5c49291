"""Episode GIFs for the report: each frame is the world beside the goal frame."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from physjepa.fileio import atomic_write_bytes


def episode_gif(
    frames: list[np.ndarray], goal_obs: np.ndarray, success: bool, fps: int = 10, scale: int = 2
) -> bytes:
    """GIF bytes: ``[frame | goal]`` per step, upscaled ``scale`` x; a green (reached) or red
    (missed) bar under the last frames shows the outcome."""
    from PIL import Image

    h = goal_obs.shape[0]
    gap = np.full((h, 2, 3), 255, np.uint8)
    images = []
    for i, f in enumerate(frames):
        row = np.concatenate([f, gap, goal_obs], axis=1)  # (H, 2W+2, 3)
        bar = np.zeros((4, row.shape[1], 3), np.uint8)
        if i >= len(frames) - 3:
            bar[:] = (60, 200, 80) if success else (220, 60, 50)
        img = np.concatenate([row, bar]).repeat(scale, 0).repeat(scale, 1)
        images.append(Image.fromarray(img))
    buf = io.BytesIO()
    images[0].save(
        buf, format="GIF", save_all=True, append_images=images[1:], duration=1000 // fps, loop=0
    )
    return buf.getvalue()


def write_episode_gif(
    path: str | Path, frames: list[np.ndarray], goal_obs: np.ndarray, success: bool
) -> Path:
    atomic_write_bytes(Path(path), episode_gif(frames, goal_obs, success))
    return Path(path)
