"""A full disk: every write says "the node's disk is full", changes nothing, loses nothing, and the
store resumes by itself once space returns (on a real, small tmpfs)."""

from __future__ import annotations

from pathlib import Path

from focalpoint.audit import events as audit_events
from focalpoint.errors import StorageFull
from focalpoint.storage.base import CaseWrite, CursorMove
from focalpoint.storage.sqlite.store import SqliteStore
from tests.storage.test_cases import event as case_event
from tests.storage.test_cases import new_link, parked_message
from tests.support.tmpfs import fill, small_disk


def _event(i: int) -> bytes:
    return audit_events.read(
        at_ms=i,
        actor="officer.1",
        case_ref="GR-2026-0001",
        message_id=i.to_bytes(16, "big"),
        peer="al-shss",
        digest=b"d" * 32,
    )


async def test_a_full_disk_is_said_in_words_changes_nothing_and_the_store_resumes_when_space_returns(
    tmp_path: Path,
) -> None:
    """StorageFull (never 'cannot rollback'), the log as it was, full_since set; then writes succeed again."""
    with small_disk(tmp_path / "disk", 2048) as disk:
        store = await SqliteStore.open(disk / "node.sqlite")
        try:
            for i in range(20):
                await store.audit.record([_event(i)], "GR-2026-0001")
            filler = fill(disk)
            failed = None
            written = 20
            for i in range(20, 400):  # bounded: the WAL and pages run out long before this
                try:
                    await store.audit.record([_event(i) * 40], "GR-2026-0001")
                    written += 1
                except StorageFull as e:
                    failed = e
                    break
            assert failed is not None, "the disk never filled"
            assert str(failed).startswith("the node's disk is full")
            assert "rollback" not in str(failed)
            assert store.full_since is not None
            assert store.audit.size == written  # nothing half-written, nothing lost
            assert len(await store.audit.events(1000, 0)) == written
            filler.unlink()  # space returns
            await store.audit.record([_event(999)], "GR-2026-0001")
            assert store.audit.size == written + 1
            assert store.full_since is None
        finally:
            await store.close()
        reopened = await SqliteStore.open(disk / "node.sqlite")
        try:
            assert reopened.audit.size == written + 1
        finally:
            await reopened.close()


async def test_a_case_write_on_a_full_disk_changes_nothing_and_lands_whole_once_space_returns(tmp_path: Path) -> None:
    """StorageFull for apply: no link, event, cursor move, parked message or leaf of the failed
    write; the same write repeated after space returns lands whole, its events new."""
    with small_disk(tmp_path / "disk", 2048) as disk:
        store = await SqliteStore.open(disk / "node.sqlite")
        try:
            first = new_link()
            await store.cases.create_link(first)
            fill(disk)
            failed = None
            for i in range(400):  # bounded: the disk runs out long before this
                link = new_link(f"case-{i}")
                write = CaseWrite(
                    links=[link],
                    cursors=[CursorMove("inbox", i, i + 1)],
                    events=[case_event(link.link_id) for _ in range(20)],
                    park=[parked_message()],
                    leaves=[(_event(i) * 20, link.case_ref)],
                )
                try:
                    await store.cases.apply(write)
                except StorageFull as e:
                    failed = e
                    break
            assert failed is not None, "the disk never filled"
            assert str(failed).startswith("the node's disk is full: case write could not be stored")
            assert (await store.cases.link(link.link_id), await store.cases.events(link.link_id)) == (None, [])
            assert await store.cases.cursor("inbox") == i
            assert len(await store.cases.parked(1_000, 0)) == i
            assert store.audit.size == i
            (disk / "filler").unlink()
            done = await store.cases.apply(write)
            assert len(done.new_events) == 20
            assert (await store.cases.cursor("inbox"), store.audit.size, store.full_since) == (i + 1, i + 1, None)
        finally:
            await store.close()
