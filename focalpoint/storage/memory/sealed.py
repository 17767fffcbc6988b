"""Sealed files in the in-memory store (as ``focalpoint.storage.sqlite.sealed``)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from focalpoint.errors import Conflict
from focalpoint.storage.base import SealedExport, SealedImport, SealedOwed
from focalpoint.storage.memory.state import State, Tx, pause

__all__ = ["MemorySealed"]


class MemorySealed:
    def __init__(self, state: State) -> None:
        self._s = state

    def _find(self, sender: str, file_id: bytes, sequence: int) -> SealedImport | None:
        found = [r for r in self._s.sealed_imports.values() if r.sender == sender and r.file_id == file_id]
        found += [r for r in self._s.sealed_imports.values() if r.sender == sender and r.sequence == sequence]
        return min(found, key=lambda r: r.imported_at_ms) if found else None

    async def imported(self, sender: str, file_id: bytes, sequence: int) -> SealedImport | None:
        await pause()
        return self._find(sender, file_id, sequence)

    async def record_import(self, row: SealedImport, owed: Sequence[SealedOwed], leaf: bytes) -> bool:
        return await self._s.write("sealed file import", partial(self._import, row, list(owed), leaf))

    def _import(self, row: SealedImport, owed: list[SealedOwed], leaf: bytes, tx: Tx) -> bool:
        if self._find(row.sender, row.file_id, row.sequence) is not None:
            return False
        tx.put(self._s.sealed_imports, (row.sender, row.file_id), row)
        for o in owed:
            tx.put(self._s.sealed_owed, (o.peer, o.message_id), (o, row.imported_at_ms))
        tx.log(leaf)
        return True

    async def last_export(self, peer: str) -> int:
        await pause()
        return max((seq for p, seq in self._s.sealed_exports if p == peer), default=0)

    async def record_export(self, row: SealedExport, leaf: bytes, now_ms: int) -> None:
        await self._s.write("sealed file export", partial(self._export, row, leaf, now_ms))

    def _export(self, row: SealedExport, leaf: bytes, now_ms: int, tx: Tx) -> None:
        if (row.peer, row.sequence) in self._s.sealed_exports:
            raise Conflict(f"sealed file number {row.sequence} to {row.peer} was written meanwhile; export again")
        tx.put(self._s.sealed_exports, (row.peer, row.sequence), row)
        for key, (o, _) in list(self._s.sealed_owed.items()):
            if o.expires_at_ms < now_ms:
                tx.drop(self._s.sealed_owed, key)
        tx.log(leaf)

    async def owed(self, peer: str, now_ms: int) -> list[SealedOwed]:
        await pause()
        rows = [(at, o.message_id, o) for o, at in self._s.sealed_owed.values() if o.peer == peer]
        return [o for _, _, o in sorted(rows) if o.expires_at_ms >= now_ms]
