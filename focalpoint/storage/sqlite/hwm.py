"""The high-water mark: what this node has committed, kept outside its database.

SQLite in WAL mode keeps recent commits in ``node.sqlite-wal`` until they are copied into the
database file. If that file is deleted, truncated or damaged, or the database file is emptied or
swapped for another, SQLite opens what is left without a word, and the node would serve older or
empty data: messages it acknowledged and receipted would vanish, and its own log would still
verify. So after every commit the node writes the size and root of its audit log (which grows
with every write: outbox, inbox, directory, reads) to ``<database>.hwm``; at start the database
must hold at least that many events, with that root. A database behind its mark is refused.

The file has two slots, written in turn, each with a sequence number and a checksum, so a write
torn by a crash spoils at most the slot being written. A slot is written after the commit it
records, so the mark never runs ahead of the database; it is flushed to disk at most once a
second and when the database closes (a file operation on a running machine is caught at once;
only a power loss at the same moment as such damage can hide the last second).
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from focalpoint.errors import StorageError

__all__ = ["HighWaterMark", "Mark"]

_MAGIC = b"FPHWM\x00\x01\x00"
_BODY = struct.Struct(">8sQQ32s")  # magic, sequence, size, root
_SLOT = 512  # one sector each, so a torn write cannot spoil both
_CHECK = 24
_SYNC_EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class Mark:
    size: int
    root: bytes


class HighWaterMark:
    """Open with ``HighWaterMark.open(path)``; ``read`` the last mark, ``write`` after each commit."""

    def __init__(self, path: Path, fd: int, sequence: int) -> None:
        self.path = path
        self._fd = fd
        self._sequence = sequence
        self._synced_at = 0.0
        self._dirty = False

    @classmethod
    def open(cls, path: Path) -> HighWaterMark:
        """Open (or create, owner-only) the mark file; raises StorageError naming it."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise StorageError(f"{path}: cannot open the high-water mark: {e.strerror}") from e
        mark = cls(path, fd, 0)
        mark._sequence = max((s for s, _ in mark._slots()), default=0)
        return mark

    def _slots(self) -> list[tuple[int, Mark]]:
        found = []
        for i in range(2):
            raw = os.pread(self._fd, _BODY.size + _CHECK, i * _SLOT)
            if len(raw) < _BODY.size + _CHECK:
                continue
            body, check = raw[: _BODY.size], raw[_BODY.size :]
            magic, sequence, size, root = _BODY.unpack(body)
            if magic == _MAGIC and hashlib.sha256(body).digest()[:_CHECK] == check:
                found.append((sequence, Mark(size, root)))
        return found

    def read(self) -> Mark | None:
        """The newest whole mark, or None if none was ever written (a new database)."""
        slots = self._slots()
        if not slots:
            if os.fstat(self._fd).st_size:
                raise StorageError(
                    f"{self.path}: the high-water mark is damaged (no whole record); if the database is known"
                    " to be whole, move this file aside and start again"
                )
            return None
        return max(slots, key=lambda s: s[0])[1]

    def write(self, size: int, root: bytes) -> None:
        """Record a commit (in the slot not written last); flushed to disk at most once a second."""
        self._sequence += 1
        body = _BODY.pack(_MAGIC, self._sequence, size, root)
        record = body + hashlib.sha256(body).digest()[:_CHECK]
        os.pwrite(self._fd, record, (self._sequence % 2) * _SLOT)
        self._dirty = True
        now = time.monotonic()
        if now - self._synced_at >= _SYNC_EVERY_S:
            self.sync()

    def sync(self) -> None:
        if self._dirty:
            os.fdatasync(self._fd)
            self._dirty = False
            self._synced_at = time.monotonic()

    def close(self) -> None:
        try:
            self.sync()
        finally:
            os.close(self._fd)
