"""``physjepa validate``: check an episode file completely, or say exactly what is wrong.

``EpisodeFile`` already checks, on open, the structure (required columns, shapes, dtypes,
written data), the episode index (``ep_len`` / ``ep_offset`` against the rows of every
column) and, with ``check_values``, NaN and inf in every float column (row, episode, step).
This adds what opening does not do: reading every attribute that has a meaning (``fps``,
``params_json``, ``state_spec_json``, ``sensor_names_json``) and every stored byte of the frame
columns, so a damaged chunk (Fletcher-32 checksums) is found and located here, not in training.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from physjepa.data.episodes import (
    _CHECK_BLOCK_BYTES,
    FLOAT_COLUMNS,
    FRAME_COLUMNS,
    DataError,
    EpisodeFile,
)


def validate(path: str | os.PathLike) -> dict[str, Any]:
    """Check ``path``; a ``DataError`` says what is wrong and where. Returns a summary."""
    with EpisodeFile(path, check_values=True) as f:
        f.world, f.params, f.fps, f.state_spec, f.sensor_names  # noqa: B018 (each checks)
        present = [c for c in FRAME_COLUMNS if f.has(c)]
        for col in present:
            if col not in FLOAT_COLUMNS:  # float columns were read whole by check_values
                _read_all(f, col)
        columns = f.columns
        return {
            "path": str(f.path),
            "episodes": f.n_episodes,
            "steps": f.n_steps,
            "columns": {c: columns[c] for c in present},
            "fps": f.fps,
            "world": f.world,
        }


def _read_all(f: EpisodeFile, col: str) -> None:
    """Read every row of ``col`` (checksums verified); a failure names the rows and episode."""
    ds = f._f[col]
    chunk = ds.chunks[0] if ds.chunks else 1
    row_bytes = max(1, int(np.prod(ds.shape[1:])) * ds.dtype.itemsize)
    step = max(chunk, (_CHECK_BLOCK_BYTES // row_bytes) // chunk * chunk)
    for start in range(0, f.n_steps, step):
        end = min(f.n_steps, start + step)
        try:
            with f._reading(f"column {col!r}"):
                ds[start:end]
        except DataError:
            # find the first damaged chunk inside the block, and say where it is
            for a in range(start, end, chunk):
                b = min(end, a + chunk)
                e = int(np.searchsorted(f.ep_offset, a, side="right") - 1)
                with f._reading(
                    f"column {col!r} rows {a}..{b - 1} (episode {e}, step "
                    f"{a - int(f.ep_offset[e])})"
                ):
                    ds[a:b]
            raise
