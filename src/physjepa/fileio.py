"""Atomic file writes: a crash leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from physjepa.errors import UserError


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cannot_write(path: str | os.PathLike, err: OSError) -> UserError:
    """Our one-line words for an OSError met while creating ``path`` (h5py's or the OS's)."""
    reason = os.strerror(err.errno) if err.errno else str(err).split("(")[0].strip()
    return UserError(
        f"cannot write {path}: {reason.lower()} (in {Path(path).parent or '.'}); "
        "choose an output path in a folder you can write"
    )


def make_parent(path: str | os.PathLike) -> None:
    """Create the folder ``path`` goes in, or say in one line why it cannot be."""
    parent = Path(path).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next(
            (p for p in [parent, *parent.parents] if p.exists() and not p.is_dir()), parent
        )
        raise UserError(
            f"cannot write {path}: {blocker} is a file, not a folder; choose another output path"
        ) from None
    except OSError as e:
        raise cannot_write(path, e) from None
