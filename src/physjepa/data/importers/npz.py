"""Import NumPy ``.npz`` episodes: one file per episode (a file, or a directory of them).

Arrays in each file (one row per step, the same T in each):

- ``pixels`` (T, H, W, 3) uint8 -- also accepted as ``obs``, ``observation``,
  ``observations`` or ``frames``; (T, 3, H, W) is transposed
- ``action`` (T, A) -- also ``actions``; a vector (T,) is one action channel. Without actions in
  every file: one zero action column and the attribute ``no_actions=1``
- ``state``, ``proprio``, ``sensors`` (T, K), optional; a file needs frames or one of these
- ``fps``, optional: the recording's frames per second (a scalar, or one value per step); the
  episode file keeps it when every file that has one agrees (else 0: unknown)

Files are read in name order, numbers compared as numbers (``ep2`` before ``ep10``). Every
problem is one ``DataError`` naming the file and the array.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from physjepa.data.episodes import DataError, EpisodeWriter
from physjepa.data.importers._common import (
    as_fps,
    as_pixels,
    as_vectors,
    check_paths,
    natural_key,
    prefixed,
)

PIXEL_NAMES = ("pixels", "obs", "observation", "observations", "frames")
ACTION_NAMES = ("action", "actions")
VECTOR_NAMES = ("state", "proprio", "sensors")
FPS_NAME = "fps"


def npz_files(src: Path) -> list[Path]:
    """The episode files at ``src``: the file itself, or a directory's ``.npz`` files in order."""
    if src.is_dir():
        files = sorted(
            (p for p in src.iterdir() if p.suffix.lower() == ".npz" and p.is_file()),
            key=natural_key,
        )
        if not files:
            raise DataError(f"{src} holds no .npz files; pass a directory of .npz episodes")
        return files
    return [src]


def read_episode(path: Path) -> dict[str, np.ndarray]:
    """One checked episode from ``path``: ``{column: array}`` (no ``action`` when it has none;
    ``fps``, a float, when the file records its frame rate)."""
    try:
        is_zip = zipfile.is_zipfile(path)
    except OSError as e:
        raise DataError(f"cannot read {path} ({e.strerror or e})") from None
    if not is_zip:
        raise DataError(
            f"{path} is not a readable .npz file (not a zip archive); save it with np.savez"
        )
    try:
        _check_declared_sizes(path)
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except DataError:
        raise
    except ValueError as e:
        if "allow_pickle" in str(e) or "pickle" in str(e).lower():
            raise DataError(
                f"{path}: holds Python objects (pickled arrays); save plain numeric arrays with "
                "np.savez"
            ) from None
        raise DataError(f"{path} is not a readable .npz file ({e})") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError, zlib.error, RuntimeError) as e:
        # RuntimeError: an encrypted member, or zip features Python does not implement
        text = " ".join(str(e).split())[:200] or type(e).__name__
        raise DataError(
            f"{path} is not a readable .npz file ({text}); the file is damaged: save it again "
            "with np.savez"
        ) from None
    pix = next((k for k in PIXEL_NAMES if k in arrays), None)
    act = next((k for k in ACTION_NAMES if k in arrays), None)
    vecs = [k for k in VECTOR_NAMES if k in arrays]
    if pix is None and not vecs:
        raise DataError(
            f"{path}: no frames or state to observe; it has {sorted(arrays)}, and needs "
            f"'pixels' (or {', '.join(repr(n) for n in PIXEL_NAMES[1:])}) or one of "
            f"{list(VECTOR_NAMES)}"
        )
    ep: dict[str, np.ndarray] = {}
    if pix is not None:
        ep["pixels"] = as_pixels(str(path), pix, arrays[pix])
    rows = len(ep["pixels"]) if pix is not None else None
    for name in vecs:
        ep[name] = as_vectors(str(path), name, arrays[name], rows)
        rows = len(ep[name])
    if act is not None:
        ep["action"] = as_vectors(str(path), act, arrays[act], rows)
    if rows == 0:
        raise DataError(f"{path}: the episode has no steps; drop the file")
    if FPS_NAME in arrays:
        ep[FPS_NAME] = as_fps(str(path), FPS_NAME, arrays[FPS_NAME])
    return ep


def _check_declared_sizes(path: Path) -> None:
    """Refuse a member whose .npy header declares more data than the member holds: a damaged
    header would make numpy allocate the declared size (terabytes) before finding out."""
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            with zf.open(info) as fh:
                try:
                    version = np.lib.format.read_magic(fh)
                except ValueError:
                    continue  # not an array; np.load returns its bytes
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    continue  # np.load checks what it reads
                declared = math.prod(shape) * dtype.itemsize
                held = info.file_size - fh.tell()
            if not dtype.hasobject and declared > held:
                name = info.filename.removesuffix(".npy")
                raise DataError(
                    f"{path}: {name!r} declares shape {shape} {dtype} ({declared} bytes) but "
                    f"holds {held} bytes; the file is damaged: save it again with np.savez"
                )


def import_npz(src: str | os.PathLike, out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the ``.npz`` episodes at ``src`` as one episode file at ``out``."""
    src, out = Path(src), Path(out)
    check_paths(src, out, overwrite, "an .npz file or a directory of them")
    files = npz_files(src)
    first_has_action = None
    rates: list[float | None] = []
    with EpisodeWriter(out, {"world": "npz"}, overwrite=overwrite) as writer:
        for path in files:
            ep = read_episode(path)
            rates.append(ep.pop(FPS_NAME, None))
            has_action = "action" in ep
            if first_has_action is None:
                first_has_action = has_action
            elif has_action != first_has_action:
                which = "has" if has_action else "lacks"
                raise DataError(
                    f"{path} {which} an 'action' array but {files[0].name} "
                    f"{'does not' if has_action else 'does'}; give every episode actions, or none"
                )
            if not has_action:
                ep["action"] = np.zeros((len(next(iter(ep.values()))), 1), np.float32)
            try:
                writer.append(ep)
            except DataError as e:
                raise prefixed(str(path), e) from None
        attrs = {
            "params_json": json.dumps(
                {
                    "source": src.name,
                    "importer": "npz",
                    "files": [p.name for p in files][:1000],
                    "fps": rates[:1000],
                }
            ),
            "fps": _common_rate(rates),
            "policy": "recorded",
        }
        if not first_has_action:
            attrs["no_actions"] = 1
        writer.set_attrs(attrs)
        return writer.close()


def _common_rate(rates: list[float | None]) -> float:
    """The frame rate the files agree on (files without one do not count), else 0: unknown."""
    known = {r for r in rates if r}
    return known.pop() if len(known) == 1 else 0.0
