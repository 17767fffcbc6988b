"""The audit log of the in-memory store and its read view (as ``focalpoint.storage.sqlite.audit``
and ``audit_log``): the same RFC 9162 tree of the same leaves, so roots and proofs are equal."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from focalpoint.audit import tree as audit_tree
from focalpoint.audit.verify import Damage, find_damage
from focalpoint.errors import StorageError
from focalpoint.storage.base import AuditView
from focalpoint.storage.memory.state import NO_BOUND, State, Tx, last_bundle, limit_rows, pause

__all__ = ["MemoryAudit", "MemoryAuditView"]

T = TypeVar("T")


class MemoryAudit:
    def __init__(self, state: State) -> None:
        self._s = state

    @property
    def size(self) -> int:
        """Leaves committed to the audit log."""
        return len(self._s.leaves)

    async def record(self, leaves: Sequence[bytes], case_ref: str = "", *, meta: dict[str, str] | None = None) -> int:
        """Append events that go with no other row, with the ``meta`` settings they make true."""
        leaves, settings = list(leaves), dict(meta or {})

        def body(tx: Tx) -> int:
            first = tx.next_index
            for leaf in leaves:
                tx.log(leaf, case_ref)
            for key, value in settings.items():
                tx.put(self._s.meta, key, value)
            return first

        return await self._s.write("audit write", body)

    async def meta(self, key: str) -> str | None:
        await pause()
        return self._s.meta.get(key)

    async def read(self, fn: Callable[[AuditView], T]) -> T:
        """Run ``fn`` on a read-only view of the committed log, synchronously (no write can
        interleave, so the view's size is the committed size throughout)."""
        if self._s.closed:
            raise StorageError("memory store: audit read failed: the store is closed")
        result = fn(MemoryAuditView(self._s))
        await pause()
        return result

    async def case_indices(self, case_ref: str) -> list[int]:
        await pause()
        return list(self._s.cases.get(case_ref, []))

    async def events(self, limit: int, before: int, case_ref: str = "") -> list[tuple[int, bytes]]:
        await pause()
        bound = before or NO_BOUND
        if case_ref:
            indices = limit_rows([i for i in reversed(self._s.cases.get(case_ref, [])) if i < bound], limit)
        else:
            top = min(len(self._s.leaves), bound)
            indices = list(range(top - 1, -1 if limit < 0 else max(top - limit, 0) - 1, -1))
        return [(i, self._s.leaves[i]) for i in indices]

    # checkpoints, cosignatures, witnessing

    async def add_checkpoint(self, size: int, raw: bytes, issued_at_ms: int) -> bytes:
        """Keep this node's signed checkpoint of ``size``; returns the one kept (the first for a size)."""

        def body(tx: Tx) -> bytes:
            kept = self._s.checkpoints.get(size)
            if kept is not None:
                return kept
            tx.put(self._s.checkpoints, size, bytes(raw))
            return bytes(raw)

        return await self._s.write("checkpoint write", body)

    async def latest_checkpoint(self) -> tuple[bytes, list[bytes]] | None:
        await pause()
        return self._with_cosignatures(list(self._s.checkpoints))

    async def latest_cosigned_checkpoint(self) -> tuple[bytes, list[bytes]] | None:
        await pause()
        return self._with_cosignatures([size for size, _ in self._s.cosignatures if size in self._s.checkpoints])

    def _with_cosignatures(self, sizes: list[int]) -> tuple[bytes, list[bytes]] | None:
        if not sizes:
            return None
        size = max(sizes)
        return self._s.checkpoints[size], _cosignatures(self._s, size)

    async def checkpoint_at(self, size: int) -> bytes | None:
        await pause()
        return self._s.checkpoints.get(size)

    async def cosignatures(self, size: int) -> list[bytes]:
        await pause()
        return _cosignatures(self._s, size)

    async def add_cosignature(self, size: int, witness: str, raw: bytes) -> None:
        """Keep a witness's cosignature (a witness's newer one for the same size replaces it)."""
        await self._s.write("cosignature write", lambda tx: tx.put(self._s.cosignatures, (size, witness), bytes(raw)))

    async def witnessed(self, log_node: str) -> bytes | None:
        await pause()
        kept = self._s.witnessed.get(log_node)
        return None if kept is None else kept[1]

    async def set_witnessed(self, log_node: str, size: int, raw: bytes, event: bytes, at_ms: int) -> None:
        """Keep a partner's cosigned checkpoint unless a larger one is kept; log ``event`` either way."""

        def body(tx: Tx) -> None:
            kept = self._s.witnessed.get(log_node)
            if kept is None or size >= kept[0]:
                tx.put(self._s.witnessed, log_node, (size, bytes(raw)))
            tx.log(event)

        await self._s.write("witness write", body)

    async def add_alarm(self, log_node: str, raw: bytes, event: bytes, at_ms: int) -> None:
        def body(tx: Tx) -> None:
            tx.put(self._s.alarms, tx.next_seq("alarm"), bytes(raw))
            tx.log(event)

        await self._s.write("alarm write", body)

    async def alarms(self) -> list[bytes]:
        await pause()
        return list(self._s.alarms.values())

    async def record_restore(self, log_node: str, raw: bytes, event: bytes, at_ms: int) -> None:
        def body(tx: Tx) -> None:
            tx.put(self._s.restores, tx.next_seq("restore"), bytes(raw))
            tx.drop(self._s.witnessed, log_node)
            tx.log(event)

        await self._s.write("restore record", body)

    async def restores(self) -> list[bytes]:
        await pause()
        return list(self._s.restores.values())


def _cosignatures(state: State, size: int) -> list[bytes]:
    """The cosignatures of ``size``, by witness name."""
    return [raw for (s, _), raw in sorted(state.cosignatures.items()) if s == size]


class MemoryAuditView:
    """A read-only view of the committed log (``AuditView``), as ``sqlite.AuditLog`` gives it:
    ``size`` is fixed when the view is made; ``stored_size`` and the leaf reads are live."""

    def __init__(self, state: State) -> None:
        self._s = state
        self._size = len(state.leaves)

    @property
    def size(self) -> int:
        return self._size

    def _node(self, level: int, index: int) -> bytes:
        h = self._s.nodes.get((level, index))
        if h is None:
            raise StorageError(f"memory store: audit node ({level}, {index}) is missing")
        return h

    def leaf(self, index: int) -> bytes:
        if not 0 <= index < len(self._s.leaves):
            raise ValueError(f"no leaf {index}; the log has {self.size} leaves")
        return self._s.leaves[index]

    def leaves(self, start: int, end: int) -> list[tuple[int, bytes]]:
        return [(i, self._s.leaves[i]) for i in range(max(start, 0), min(end, len(self._s.leaves)))]

    def leaves_from(self, start: int, limit: int) -> list[tuple[int, Any]]:
        """Up to ``limit`` rows from ``start`` on (a negative limit: all)."""
        start = max(start, 0)
        end = len(self._s.leaves) if limit < 0 else min(start + limit, len(self._s.leaves))
        return self.leaves(start, end)

    def stored_size(self) -> int:
        return len(self._s.leaves)

    def stray_rows(self, size: int) -> str | None:
        """A subtree or case row outside a log of ``size`` leaves (none here unless a test put it
        there: the store itself never writes one)."""
        for level, index in self._s.nodes:
            if not (0 <= level <= 62 and 0 <= index < size >> level):
                return f"a subtree ({level}, {index}) is stored that no leaf of the log's {size} closes"
        for indices in self._s.cases.values():
            for index in indices:
                if not 0 <= index < size:
                    return f"a case index row names leaf {index}, outside the log's {size} leaves"
        return None

    def closed_nodes(self, start: int, end: int) -> dict[tuple[int, int], bytes]:
        """Stored nodes closed by leaves [start, end): node (l, i) is closed by leaf (i+1)·2^l − 1."""
        out: dict[tuple[int, int], bytes] = {}
        level = 0
        while (1 << level) <= end:
            low = -(-(start + 1) // (1 << level)) - 1  # ceil((start+1) / 2^l) - 1
            for index in range(max(low, 0), end // (1 << level)):
                h = self._s.nodes.get((level, index))
                if h is not None:
                    out[(level, index)] = h
            level += 1
        return out

    def _tree(self) -> audit_tree.SizedTree:
        return audit_tree.SizedTree(self._node, self.size)

    def root(self, size: int | None = None) -> bytes:
        return self._tree().root(size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return self._tree().inclusion_proof(index, size)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        return self._tree().consistency_proof(old, new)

    def verify(self, *, batch: int = 65_536) -> Damage | None:
        """Recompute everything from the leaves; the first disagreement, or None if the log is whole."""
        return find_damage(self, batch=batch)

    def checkpoints(self) -> list[tuple[int, bytes, list[bytes]]]:
        """(size, signed checkpoint, cosignatures) kept next to the log, oldest first."""
        return [(size, self._s.checkpoints[size], _cosignatures(self._s, size)) for size in sorted(self._s.checkpoints)]

    def alarms(self) -> list[bytes]:
        return list(self._s.alarms.values())

    def stored_bundle(self) -> bytes | None:
        return last_bundle(self._s.documents)
