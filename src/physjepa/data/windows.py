"""Training windows: fixed-length, frame-skipped slices of episodes that never cross episodes.

A window of ``T`` model steps starting at row ``s`` holds observations at rows
``s, s+k, ..., s+(T-1)k`` (``k`` = frameskip) and, for each of them, the block of the ``k``
raw actions applied after it, concatenated into one ``k*A`` vector (as in LeWM / DINO-WM).
"""

from __future__ import annotations

import numpy as np
import torch

from physjepa.data.episodes import DataError, EpisodeFile


class WindowDataset:
    """In-memory windows of chosen episodes, sampled with an explicit ``torch.Generator``.

    ``obs_key`` is the column the model observes: ``"pixels"`` (kept as uint8; the model
    normalises) or ``"state"`` / ``"proprio"`` for vector observations.
    """

    def __init__(
        self,
        file: EpisodeFile,
        episodes: np.ndarray,
        window: int,
        frameskip: int = 1,
        obs_key: str = "pixels",
    ):
        if not file.has(obs_key):
            raise DataError(
                f"{file.path} has no {obs_key!r} column to observe; it has {sorted(file.columns)}"
            )
        self.window, self.frameskip, self.obs_key = window, frameskip, obs_key
        self.obs = torch.from_numpy(file.load(obs_key, episodes))  # (N, ...) uint8 or float32
        self.action = torch.from_numpy(file.load("action", episodes).astype(np.float32))  # (N, A)
        self.state = (
            torch.from_numpy(file.load("state", episodes)) if file.has("state") else None
        )  # (N, S)
        lens = file.ep_len[np.asarray(episodes, np.int64)]
        offsets = np.concatenate([[0], np.cumsum(lens)[:-1]])
        span = window * frameskip  # rows a window needs, including its last action block
        starts = [np.arange(o, o + n - span + 1) for o, n in zip(offsets, lens) if n >= span]
        if not starts:
            raise DataError(
                f"no episode is long enough for a window of {window} steps x frameskip {frameskip} "
                f"(= {span} rows; the longest episode has {int(lens.max(initial=0))}); collect longer episodes "
                f"or lower data.history / data.rollout / data.frameskip"
            )
        self.starts = torch.from_numpy(np.concatenate(starts))  # (W,) first row of every window
        self._frame_offsets = torch.arange(window) * frameskip  # (T,)
        self._action_offsets = torch.arange(span)  # (T*k,)

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def action_dim(self) -> int:
        """Size of one action block (``frameskip * A``)."""
        return self.action.shape[1] * self.frameskip

    @property
    def frames(self) -> int:
        """Observations in the dataset."""
        return self.obs.shape[0]

    def get(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """Windows number ``index`` (B,): ``obs (B,T,...)``, ``action (B,T,kA)``, ``state (B,T,S)``."""
        s = self.starts[index]  # (B,)
        rows = s[:, None] + self._frame_offsets  # (B, T)
        arows = s[:, None] + self._action_offsets  # (B, T*k)
        b = len(index)
        out = {
            "obs": self.obs[rows],
            "action": self.action[arows].reshape(b, self.window, self.action_dim),
        }
        if self.state is not None:
            out["state"] = self.state[rows]
        return out

    def sample(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """A batch of windows drawn uniformly with replacement."""
        return self.get(torch.randint(len(self.starts), (batch_size,), generator=generator))
