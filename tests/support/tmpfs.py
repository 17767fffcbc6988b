"""A small disk that fills up: a tmpfs mounted for one test (needs root, as CI runs)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["small_disk"]


@contextlib.contextmanager
def small_disk(where: Path, size_kb: int) -> Iterator[Path]:
    """Mount a tmpfs of ``size_kb`` KiB at ``where`` for the duration (fails, not skips, under CI)."""
    where.mkdir(parents=True, exist_ok=True)
    mount, umount = shutil.which("mount") or "/bin/mount", shutil.which("umount") or "/bin/umount"
    mounted = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs to fill up ({mounted.stderr.strip() or 'not root'})"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield where
    finally:
        subprocess.run([umount, "-l", str(where)], capture_output=True, check=False)


def fill(disk: Path) -> Path:
    """Take all the space left on ``disk`` with one file; remove the file to give the space back."""
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as f:
        for _ in range(1 << 16):  # bounded: far more than any test disk holds
            f.write(b"\0" * 65536)
            f.flush()
    return filler
