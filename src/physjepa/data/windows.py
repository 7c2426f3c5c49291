"""Training windows: fixed-length, frame-skipped slices of episodes that never cross episodes.

A window of ``T`` model steps starting at row ``s`` holds observations at rows
``s, s+k, ..., s+(T-1)k`` (``k`` = frameskip) and, for each of them, the block of the ``k``
raw actions applied after it, concatenated into one ``k*A`` vector (as in LeWM / DINO-WM).

Small datasets are loaded into memory. One larger than ``max_memory_mb`` is streamed from the
episode file a batch at a time, in memory that does not grow with the file. Both modes return
the same tensors, bit for bit, and draw the same windows from the same generator.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import h5py
import numpy as np
import torch

from physjepa.data.episodes import DataError, EpisodeFile, _short
from physjepa.errors import UserError

#: Chunk cache of each streamed column (HDF5 keeps one per open dataset; at most three are
#: open, so at most 48 MiB). Random windows rarely meet the same chunk in two batches, so a
#: larger cache buys nothing; this one keeps the chunks that neighbouring windows of one
#: (sorted) batch share.
CHUNK_CACHE_BYTES = 16 << 20
CHUNK_CACHE_SLOTS = 10007  # a prime, as HDF5 advises
#: Loading into memory reads this much at a time, so it never holds a second copy of a column.
LOAD_BLOCK_BYTES = 16 << 20


class WindowDataset:
    """Windows of chosen episodes, sampled with an explicit ``torch.Generator``.

    ``obs_key`` is the column the model observes: ``"pixels"`` (kept as uint8; the model
    normalises) or ``"state"`` / ``"proprio"`` for vector observations (float32).

    ``max_memory_mb``: when the chosen episodes' columns (obs, action, state, as held in
    memory: ``nbytes``) take more MiB than this, windows are read from the file batch by batch
    instead (``streaming``); ``None`` always loads them. A streaming dataset keeps the file
    open until ``close()`` or the end of a ``with`` block; it does not need ``file`` to stay
    open. Either kind refuses ``get`` after ``close()``.

    ``proprio``: also return the file's ``proprio`` column (float32) for models that take it.

    ``starts`` (W,) int64 is the file row of every window's first observation, in the order
    of ``episodes``. It is the one table that grows with the data: 8 bytes a window, about
    8 MB per million frames.
    """

    def __init__(
        self,
        file: EpisodeFile,
        episodes: np.ndarray,
        window: int,
        frameskip: int = 1,
        obs_key: str = "pixels",
        max_memory_mb: float | None = None,
        proprio: bool = False,
    ):
        if not file.has(obs_key):
            raise DataError(
                f"{file.path} has no {obs_key!r} column to observe; it has {sorted(file.columns)}"
            )
        if max_memory_mb is not None and not max_memory_mb >= 0:
            raise UserError(f"max_memory_mb must be >= 0 or None, got {max_memory_mb!r}")
        self.window, self.frameskip, self.obs_key = window, frameskip, obs_key
        self.path = file.path
        episodes = np.asarray(episodes, np.int64).reshape(-1)
        bad = (episodes < 0) | (episodes >= file.n_episodes)
        if bad.any():
            raise DataError(
                f"{file.path}: episode {int(episodes[bad][0])} out of range: the file has "
                f"{file.n_episodes}"
            )
        lens, offsets = file.ep_len[episodes], file.ep_offset[episodes]
        span = window * frameskip  # rows a window needs, including its last action block
        fits = lens >= span
        if not fits.any():
            raise DataError(
                f"no episode is long enough for a window of {window} steps x frameskip {frameskip} "
                f"(= {span} rows; the longest episode has {int(lens.max(initial=0))}); collect "
                "longer episodes "
                f"or lower data.history / data.rollout / data.frameskip"
            )
        starts = [np.arange(o, o + n - span + 1) for o, n in zip(offsets[fits], lens[fits])]
        self.starts = torch.from_numpy(np.concatenate(starts))  # (W,) file row of every window
        self._frame_offsets = torch.arange(window) * frameskip  # (T,)
        self._action_offsets = torch.arange(span)  # (T*k,)

        # What each output is read from, and the dtype it is returned in.
        cols = file.columns
        self._column = {"obs": obs_key, "action": "action"}
        if "state" in cols and obs_key != "state":
            self._column["state"] = "state"
        self._state_is_obs = obs_key == "state"
        if proprio:
            if "proprio" not in cols:
                raise DataError(
                    f"{file.path} has no 'proprio' column, which model.proprio=true feeds the "
                    "model; collect the data again with this version (worlds with an agent "
                    "write it) or set model.proprio=false"
                )
            self._column["proprio"] = "proprio"
        obs_shape, obs_dtype = cols[obs_key]
        self.obs_shape: tuple[int, ...] = tuple(obs_shape[1:])
        self.obs_dtype = torch.uint8 if obs_dtype == "uint8" else torch.float32
        self._dtype = {r: np.float32 for r in self._column}
        self._dtype["obs"] = np.uint8 if self.obs_dtype == torch.uint8 else np.float32
        self._n_action = cols["action"][0][1]  # A
        self._frames = int(lens.sum())
        self.nbytes = self._frames * sum(
            math.prod(cols[c][0][1:]) * np.dtype(self._dtype[r]).itemsize
            for r, c in self._column.items()
        )
        self.streaming = max_memory_mb is not None and self.nbytes > max_memory_mb * 2**20

        # Our own handle, so the caller may close ``file`` as soon as this returns.
        self._h5: h5py.File | None = _open(file)
        try:
            with _reading(self.path, "windows"):
                ds = {r: _dataset(self._h5, c) for r, c in self._column.items()}
                if not self.streaming:  # the chosen episodes back to back
                    self._mem = {
                        r: torch.from_numpy(_load(d, offsets, lens, self._dtype[r]))
                        for r, d in ds.items()
                    }
        except BaseException:
            self._h5.close()
            raise
        self._closed = False
        if self.streaming:
            self._ds = ds
            return
        del ds
        self._h5.close()  # loaded: the file is no longer needed
        self._h5 = None
        # row of each window in self._mem: its file row, shifted by where its episode landed
        shift = offsets - (np.cumsum(lens) - lens)  # (E,)
        n_windows = lens[fits] - span + 1
        self._mem_starts = self.starts - torch.from_numpy(np.repeat(shift[fits], n_windows))

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def action_dim(self) -> int:
        """Size of one action block (``frameskip * A``)."""
        return self._n_action * self.frameskip

    @property
    def frames(self) -> int:
        """Observations in the dataset."""
        return self._frames

    def get(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """Windows number ``index`` (B,): ``obs (B,T,...)``, ``action (B,T,kA)``,
        ``state (B,T,S)``."""
        if self._closed:
            raise DataError(f"the windows of {self.path} were closed; build a new WindowDataset")
        s = self.starts[index]  # (B,)
        b = len(s)
        if self.streaming:
            with _reading(self.path, "windows"):
                cols = self._read(s)
        else:
            cols = self._gather(self._mem_starts[index])
        out = {
            "obs": cols["obs"],
            "action": cols["action"].reshape(b, self.window, self.action_dim),
        }
        if "proprio" in cols:
            out["proprio"] = cols["proprio"]
        if "state" in cols:
            out["state"] = cols["state"]
        elif self._state_is_obs:
            out["state"] = out["obs"].clone()  # the same column, its own tensor
        return out

    def draw(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """Indices (B,) of windows drawn uniformly with replacement (the training sampler; with
        several processes every rank draws the same global batch and keeps its shard)."""
        return torch.randint(len(self.starts), (batch_size,), generator=generator)

    def sample(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """A batch of windows drawn uniformly with replacement."""
        return self.get(self.draw(batch_size, generator))

    def close(self) -> None:
        """Release the file (streaming) or the loaded columns; calling it again is a no-op."""
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None
        self._ds, self._mem, self._closed = {}, {}, True

    def __enter__(self) -> WindowDataset:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the two ways to a batch -------------------------------------------------------------
    def _gather(self, m: torch.Tensor) -> dict[str, torch.Tensor]:
        """In memory: index the loaded columns at local window starts ``m`` (B,)."""
        rows = m[:, None] + self._frame_offsets  # (B, T)
        arows = m[:, None] + self._action_offsets  # (B, T*k)
        return {r: v[arows if r == "action" else rows] for r, v in self._mem.items()}

    def _read(self, s: torch.Tensor) -> dict[str, torch.Tensor]:
        """Streaming: read each window's rows from the file, in file order (chunks decompressed
        for one window are still cached for the next), into the requested order."""
        t, k = self.window, self.frameskip
        starts = s.tolist()
        order = np.argsort(s.numpy(), kind="stable").tolist()
        out = {}
        for r, ds in self._ds.items():
            n = t * k if r == "action" else t
            buf = np.empty((len(starts), n) + ds.shape[1:], self._dtype[r])  # casts on assignment
            if r == "action":
                for i in order:
                    buf[i] = ds[starts[i] : starts[i] + n]  # (T*k, A)
            elif ds.chunks is not None and k > ds.chunks[0]:
                # frames in different chunks: read only those, skip the chunks between them
                for i in order:
                    for j in range(t):
                        buf[i, j] = ds[starts[i] + j * k]
            else:
                # one contiguous read, subsampled (an HDF5 strided selection is far slower)
                for i in order:
                    buf[i] = ds[starts[i] : starts[i] + (t - 1) * k + 1][::k]
            out[r] = torch.from_numpy(buf)
        return out


def _open(file: EpisodeFile) -> h5py.File:
    try:
        f = h5py.File(file.path, "r")
    except OSError as e:
        raise DataError(f"cannot reopen {file.path} to read windows ({_short(e)})") from None
    if f.get("action") is None or f["action"].shape[0] != file.n_steps:
        f.close()
        raise DataError(f"{file.path} changed on disk after it was opened; open it again")
    return f


def _dataset(f: h5py.File, name: str) -> h5py.Dataset:
    """Column ``name`` with its own bounded chunk cache."""
    dapl = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    dapl.set_chunk_cache(CHUNK_CACHE_SLOTS, CHUNK_CACHE_BYTES, 0.75)
    # readonly: h5py takes its fast read path only for read-only datasets
    return h5py.Dataset(h5py.h5d.open(f.id, name.encode(), dapl), readonly=True)


def _load(ds: h5py.Dataset, offsets: np.ndarray, lens: np.ndarray, dtype) -> np.ndarray:
    """Rows of the given episodes of ``ds``, back to back, as ``dtype``."""
    out = np.empty((int(lens.sum()),) + ds.shape[1:], dtype)
    block = max(1, LOAD_BLOCK_BYTES // (math.prod(ds.shape[1:]) * ds.dtype.itemsize or 1))
    pos = 0
    for o, n in zip(offsets.tolist(), lens.tolist()):
        for a in range(o, o + n, block):
            b = min(o + n, a + block)
            out[pos : pos + b - a] = ds[a:b]  # the same cast as a streamed read
            pos += b - a
    return out


@contextmanager
def _reading(path, what: str) -> Iterator[None]:
    """What h5py raises on damaged data (e.g. a failed chunk checksum) as one DataError."""
    try:
        yield
    except (OSError, RuntimeError) as e:
        raise DataError(
            f"{path}: cannot read {what} ({_short(e)}); the file is corrupt; re-create it with "
            "'physjepa collect'"
        ) from None
