"""Plain files: reading one a user named, and replacing one atomically.

Key files and evidence files, which are secrets, have their own rules (mode 0600, never
overwritten): ``focalpoint.storage.keyfiles``.
"""

from __future__ import annotations

import os
from pathlib import Path

from focalpoint.errors import UsageError

__all__ = ["read_file", "write_atomic"]


def read_file(path: Path) -> bytes:
    """The bytes of a file a user named; raises UsageError naming the file and what is wrong."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: cannot read: file not found") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror}") from e


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temporary file, fsync, rename; a crash leaves old or new, whole."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
