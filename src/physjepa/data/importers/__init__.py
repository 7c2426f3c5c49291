"""Importers: other people's recordings into the episode format (the source is only read).

``detect(src)`` names the importer a source needs by looking at it; ``convert(src, out)``
runs it. Importers and what they read:

- ``lerobot``: a LeRobot v3 dataset directory (``meta/info.json``, Parquet, MP4 per camera)
- ``video``: a folder of videos (or one video), optional per-video action CSVs
- ``npz``: one ``.npz`` per episode, a file or a directory of them
- ``swm``: a stable-worldmodel HDF5 file (our column names, not our attributes)
- ``physjepa``: already an episode file; validated and copied
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path
from typing import Any

from physjepa.data.episodes import FORMAT, HDF5_SUFFIXES, DataError, EpisodeFile
from physjepa.data.importers._common import VIDEO_SUFFIXES, check_paths

IMPORTERS = ("lerobot", "video", "npz", "swm", "physjepa")
#: The options each importer takes (besides src, out, overwrite), with their CLI flags.
OPTIONS = {
    "lerobot": {
        "camera": "--camera",
        "state": "--state",
        "action": "--action",
        "size": "--size",
        "episodes": "episodes",
    },
    "video": {"size": "--size", "actions_dir": "--actions-dir"},
    "npz": {},
    "swm": {},
    "physjepa": {},
}
DESCRIPTIONS = {
    "lerobot": "a LeRobot dataset",
    "video": "videos",
    "npz": ".npz episodes",
    "swm": "a stable-worldmodel HDF5 file",
    "physjepa": "a physjepa episode file",
}
_SWM_COLUMNS = ("action", "ep_offset", "ep_len")


def detect(src: str | os.PathLike) -> str:
    """The importer for ``src``: one of ``IMPORTERS``; a ``DataError`` when none fits."""
    src = Path(src)
    try:
        exists, is_dir = src.exists(), src.is_dir()
    except (OSError, ValueError) as e:
        raise DataError(f"cannot use {src} as a source ({e})") from None
    if not exists:
        raise DataError(
            f"{src} not found; pass a LeRobot dataset, a folder of videos, .npz episodes or an "
            "HDF5 file"
        )
    if is_dir:
        if (src / "meta" / "info.json").is_file():
            return "lerobot"
        try:
            suffixes = {p.suffix.lower() for p in src.iterdir() if p.is_file()}
        except OSError as e:
            raise DataError(f"cannot list {src} ({e.strerror or e})") from None
        videos = suffixes & set(VIDEO_SUFFIXES)
        if videos and ".npz" in suffixes:
            raise DataError(
                f"{src} holds both videos and .npz files; put each kind in its own folder"
            )
        if videos:
            return "video"
        if ".npz" in suffixes:
            return "npz"
        raise DataError(
            f"{src} is neither a LeRobot dataset (no meta/info.json) nor a folder of videos "
            f"({', '.join(VIDEO_SUFFIXES)}) or .npz files"
        )
    if not src.is_file():  # opening a pipe would wait for a writer
        raise DataError(
            f"{src} is not a regular file (a pipe, device or socket); pass a LeRobot dataset, a "
            "folder of videos, .npz episodes or an HDF5 file"
        )
    suffix = src.suffix.lower()
    if suffix == ".npz":
        return "npz"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if src.name == "info.json" and src.parent.name == "meta":
        raise DataError(
            f"{src} is a LeRobot metadata file; pass the dataset directory {src.parent.parent}"
        )
    import h5py

    if suffix in HDF5_SUFFIXES or h5py.is_hdf5(src):
        return _detect_hdf5(src)
    raise DataError(
        f"cannot tell what {src} is; pass a LeRobot dataset directory, a folder of videos, "
        f".npz episodes or an HDF5 file (.h5)"
    )


def import_hint(src: str | os.PathLike) -> str | None:
    """What ``src`` is and the command that makes an episode file of it, when it is a recording
    physjepa imports (``physjepa convert`` for what ``detect`` recognises, ``physjepa
    import-table`` for a CSV or Parquet table); None when it is not (missing, an episode file,
    unreadable or unknown). For messages that meet such a source where an episode file belongs.
    """
    from physjepa.data.tables import CSV_SUFFIXES, PARQUET_SUFFIXES

    src = Path(src)
    try:
        table = src.is_file() and src.suffix.lower() in (*CSV_SUFFIXES, *PARQUET_SUFFIXES)
        kind = "table" if table else detect(src)
        if kind == "physjepa":
            return None
        name, out = _quote(src), _quote(_h5_name(src))
    except (DataError, OSError, ValueError):
        return None
    if kind == "table":
        return f"import a table with 'physjepa import-table {name} --out {out} --obs COLUMNS'"
    return f"convert {DESCRIPTIONS[kind]} with 'physjepa convert {name} --to {out}'"


def _quote(path: Path) -> str:
    """``path`` as a shell word, in double quotes where it needs quoting (the message puts the
    whole command in single quotes)."""
    text = str(path)
    if shlex.quote(text) == text:
        return text
    return f'"{text}"' if not any(c in text for c in '"$`\\') else shlex.quote(text)


def _h5_name(src: Path) -> Path:
    """An episode file name for the converted ``src``: beside it, never ``src`` itself."""
    if not src.name:  # "." or "/"
        src = src.resolve()
    if src.suffix.lower() in HDF5_SUFFIXES:
        return src.with_name(f"{src.stem}_episodes.h5")
    return src.with_name(f"{src.stem if src.is_file() else src.name}.h5")


def _detect_hdf5(src: Path) -> str:
    import h5py

    try:
        with h5py.File(src, "r") as f:
            fmt = f.attrs.get("format")
            if isinstance(fmt, bytes):
                fmt = fmt.decode("utf-8", "replace")
            if fmt == FORMAT:
                return "physjepa"
            names = set(f.keys())
    except (OSError, KeyError, ValueError, RuntimeError) as e:
        text = " ".join(str(e).split())[:200]
        raise DataError(f"{src} is not a readable HDF5 file ({text})") from None
    missing = [c for c in _SWM_COLUMNS if c not in names]
    if not missing and names & {"pixels", "state", "proprio", "sensors"}:
        return "swm"
    raise DataError(
        f"{src} is an HDF5 file but neither a physjepa episode file nor a stable-worldmodel one "
        f"(it has {sorted(names)[:20]}; needs 'pixels' or 'state', and 'action', 'ep_offset', "
        "'ep_len')"
    )


def convert(
    src: str | os.PathLike,
    out: str | os.PathLike,
    overwrite: bool = False,
    importer: str | None = None,
    **options: Any,
) -> Path:
    """Write ``src`` as an episode file at ``out`` with ``importer`` (default: ``detect(src)``).

    ``options`` left at None are not passed; one the importer does not take is an error.
    """
    kind = importer or detect(src)
    if kind not in IMPORTERS:
        raise DataError(f"unknown importer {kind!r}; valid: {', '.join(IMPORTERS)}")
    opts = {k: v for k, v in options.items() if v is not None}
    for k in opts:
        if k not in OPTIONS[kind]:
            flag = next((o[k] for o in OPTIONS.values() if k in o), k)
            users = [n for n, o in OPTIONS.items() if k in o]
            raise DataError(
                f"{flag} applies to "
                f"{' and '.join(DESCRIPTIONS[u] for u in users) or 'no importer'}, "
                f"but {src} is {DESCRIPTIONS[kind]}"
            )
    if kind == "lerobot":
        from physjepa.data.importers.lerobot import import_lerobot

        return import_lerobot(src, out, overwrite=overwrite, **opts)
    if kind == "video":
        from physjepa.data.importers.video import import_videos

        return import_videos(src, out, overwrite=overwrite, **opts)
    if kind == "npz":
        from physjepa.data.importers.npz import import_npz

        return import_npz(src, out, overwrite=overwrite)
    if kind == "swm":
        from physjepa.data.importers.swm import import_swm

        return import_swm(src, out, overwrite=overwrite)
    return copy_episode_file(src, out, overwrite=overwrite)


def copy_episode_file(
    src: str | os.PathLike, out: str | os.PathLike, overwrite: bool = False
) -> Path:
    """Check the episode file ``src`` (values included) and copy it to ``out`` atomically."""
    src, out = Path(src), Path(out)
    check_paths(src, out, overwrite, "an episode file (.h5)")
    with EpisodeFile(src, check_values=True):
        pass
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out
