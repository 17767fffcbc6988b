"""One process at a time on a node's database: ``<database>.lock``, held with ``flock``.

A running node holds it from the database's open to its close; ``focalpoint node restore``
takes it before replacing anything, so a database is never replaced under a running node and
two nodes never write one database. The lock goes with the process: a crash releases it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from focalpoint.errors import StorageError

__all__ = ["DatabaseLock"]


class DatabaseLock:
    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, db: Path) -> DatabaseLock:
        """Raises StorageError naming the database when another process holds it."""
        path = db.with_name(db.name + ".lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise StorageError(f"{path}: cannot open the database's lock file: {e.strerror}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            raise StorageError(
                f"{db}: the database is in use by another process (a running node?); stop it first"
            ) from e
        return cls(path, fd)

    def release(self) -> None:
        """Release the lock (closing its descriptor); releasing again does nothing."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
