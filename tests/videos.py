"""Writing real video files for the tests (PyAV, a core dependency)."""

from __future__ import annotations

import av
import numpy as np


def write_video(path, frames: np.ndarray, fps: int = 10) -> None:
    """Encode ``frames`` (T, H, W, 3) as a video with PyAV (mpeg4, yuv420p)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.height, s.width = frames.shape[1:3]
        s.pix_fmt = "yuv420p"
        for img in frames:
            for packet in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
