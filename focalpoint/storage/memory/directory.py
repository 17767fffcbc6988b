"""Directory documents in the in-memory store (as ``focalpoint.storage.sqlite.directory``)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from focalpoint.audit import events as audit_events
from focalpoint.storage.memory.state import State, Tx, last_bundle, pause

__all__ = ["MemoryDirectoryDocuments"]


class MemoryDirectoryDocuments:
    def __init__(self, state: State) -> None:
        self._s = state

    async def save(self, documents: Sequence[tuple[str, str, int, bytes]], at_ms: int) -> None:
        """(kind, name, version, raw) rows with their DIRECTORY_ACCEPTED events, in one write."""
        if documents:
            await self._s.write("directory write", partial(self._save, list(documents), at_ms))

    def _save(self, documents: list[tuple[str, str, int, bytes]], at_ms: int, tx: Tx) -> None:
        """INSERT … ON CONFLICT DO NOTHING; storing a bundle drops the bundles of lower versions
        (the SQL's trigger, row by row: an older bundle stored later keeps the newer one)."""
        table = self._s.documents
        present = dict.fromkeys(table, True)  # this write's view of which rows exist
        inserted: list[tuple[str, str, int]] = []
        for kind, name, version, raw in documents:
            key = (kind, name, version)
            if present.get(key):
                continue
            present[key] = True
            inserted.append(key)
            tx.put(table, key, bytes(raw))
            if kind == "bundle":
                for old in [k for k, there in present.items() if there and k[0] == "bundle" and k[2] < version]:
                    present[old] = False
                    tx.drop(table, old)
        raw_of = {(kind, name, version): raw for kind, name, version, raw in documents}
        for kind, name, version in sorted(inserted):
            raw = raw_of[(kind, name, version)]
            tx.log(audit_events.directory_accepted(at_ms=at_ms, kind=kind, name=name, version=version, raw=raw))

    async def load(self) -> tuple[list[bytes], dict[tuple[str, str], int], bytes | None]:
        """Accepted roots (oldest first), the highest accepted version per document, the last bundle."""
        await pause()
        table = self._s.documents
        roots = [table[k] for k in sorted((k for k in table if k[0] == "root"), key=lambda k: (k[2], k[1]))]
        accepted: dict[tuple[str, str], int] = {}
        for kind, name, version in sorted(table):
            if kind != "bundle":
                accepted[(kind, name)] = max(version, accepted.get((kind, name), version))
        return roots, accepted, last_bundle(table)

    async def document(self, kind: str, name: str, version: int) -> bytes | None:
        await pause()
        return self._s.documents.get((kind, name, version))
