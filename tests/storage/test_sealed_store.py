"""The sealed files' storage (``SealedStore``) on both backends: the replay table by file id and
by number, the files written, the results owed, each with its audit event in the same write."""

from __future__ import annotations

import pytest

from focalpoint.audit import events as audit_events
from focalpoint.errors import Conflict
from focalpoint.storage.base import SealedExport, SealedImport, SealedOwed, Store


def _leaf(n: int) -> bytes:
    return audit_events.sealed_exported(
        at_ms=n, actor="op", peer="al-shss", file_id=bytes([n]) * 16, sequence=n, envelopes=1, receipts=0
    )


async def test_an_import_is_recorded_once_by_id_and_by_number(store: Store) -> None:
    first = SealedImport("gr-ekka", b"a" * 16, 1, 1000)
    owed = [SealedOwed("gr-ekka", b"m" * 16, b"result-1", 9000)]
    assert await store.sealed.imported("gr-ekka", b"a" * 16, 1) is None
    size = store.audit.size
    assert await store.sealed.record_import(first, owed, _leaf(1))
    assert store.audit.size == size + 1
    assert await store.sealed.imported("gr-ekka", b"a" * 16, 99) == first  # same id
    assert await store.sealed.imported("gr-ekka", b"z" * 16, 1) == first  # same number
    assert await store.sealed.imported("al-shss", b"a" * 16, 1) is None  # another sender's
    # A second record of either is refused and writes nothing (not even its event).
    assert not await store.sealed.record_import(SealedImport("gr-ekka", b"a" * 16, 2, 2000), owed, _leaf(2))
    assert not await store.sealed.record_import(SealedImport("gr-ekka", b"b" * 16, 1, 2000), owed, _leaf(2))
    assert store.audit.size == size + 1
    assert await store.sealed.owed("gr-ekka", 1000) == owed


async def test_owed_results_are_replaced_and_dropped_once_expired(store: Store) -> None:
    one = SealedOwed("gr-ekka", b"m" * 16, b"refused: retry", 5000)
    await store.sealed.record_import(SealedImport("gr-ekka", b"a" * 16, 1, 1000), [one], _leaf(1))
    later = SealedOwed("gr-ekka", b"m" * 16, b"receipt", 5000)
    other = SealedOwed("gr-ekka", b"n" * 16, b"receipt-2", 3000)
    await store.sealed.record_import(SealedImport("gr-ekka", b"b" * 16, 2, 2000), [later, other], _leaf(2))
    assert await store.sealed.owed("gr-ekka", 2000) == [later, other]
    assert await store.sealed.owed("gr-ekka", 4000) == [later]  # other's message expired
    assert await store.sealed.owed("al-shss", 0) == []
    await store.sealed.record_export(SealedExport("gr-ekka", 1, b"f" * 16, 4000, 0, 1), _leaf(3), 4000)
    assert await store.sealed.owed("gr-ekka", 0) == [later]  # the expired one is gone for good


async def test_exports_are_numbered_per_peer(store: Store) -> None:
    assert await store.sealed.last_export("al-shss") == 0
    size = store.audit.size
    await store.sealed.record_export(SealedExport("al-shss", 1, b"f" * 16, 10, 2, 0), _leaf(1), 10)
    await store.sealed.record_export(SealedExport("al-shss", 2, b"g" * 16, 20, 0, 1), _leaf(2), 20)
    await store.sealed.record_export(SealedExport("it-dgi", 1, b"h" * 16, 20, 0, 1), _leaf(3), 20)
    assert await store.sealed.last_export("al-shss") == 2
    assert await store.sealed.last_export("it-dgi") == 1
    assert store.audit.size == size + 3
    with pytest.raises(Conflict, match="number 2 to al-shss was written meanwhile"):
        await store.sealed.record_export(SealedExport("al-shss", 2, b"i" * 16, 30, 1, 0), _leaf(4), 30)
    assert store.audit.size == size + 3
