"""A restart of the case work at its awkward moments (docs/adr/0014-case-storage.md; protocol §11.7 W5, W6).

"Crashing" a node here is closing it and opening a fresh composition on the same memory store:
nothing held in memory survives (the case work's owed acknowledgements included), everything
committed does. No catch-up runs in between, so the fresh node meets exactly what the crash left.
"""

from __future__ import annotations

import pytest

from focalpoint.audit import events as audit_events
from focalpoint.cases.stages import Stage
from focalpoint.localnet.samples import sample_body
from focalpoint.server.node import Node
from focalpoint.storage.base import OutboxRow
from focalpoint.v1 import audit_pb2, messages_pb2
from tests.node.conftest import Fabric, eventually
from tests.node.test_casework import AL, GR, Link, _opened, _ref

STATUS_CHANGED = audit_pb2.AuditEventKind.AUDIT_EVENT_KIND_STATUS_CHANGED


async def crash(fabric: Fabric, node_id: str) -> Node:
    """Close ``node_id`` without any further case work and open a fresh node on its store."""
    await fabric.close(node_id)
    return await fabric.open(node_id)


async def moves(node: Node, case_ref: str) -> list[str]:
    """The stage changes ``node``'s audit log holds for ``case_ref``, oldest first."""
    found = [audit_events.decode(leaf) for _, leaf in await node.store.audit.events(-1, 0, case_ref)]
    return [e.status for e in reversed(found) if e.kind == STATUS_CHANGED]


async def applied_acks(node: Node, applied: bytes) -> list[OutboxRow]:
    """``node``'s outbox rows answering ``applied`` with acknowledgement(APPLIED)."""
    rows = [r for r in await node.store.outbox.page(1000, 0) if isinstance(r, OutboxRow)]
    found = await node.store.outbox.by_client_request(f"applied-{applied.hex()}")
    return [r for r in rows if found is not None and r.message_id == found.message_id]


async def withdrawn_at_al(fabric: Fabric) -> tuple[Link, bytes]:
    """A link with GR's withdrawal of its child views record in AL's inbox, not yet applied there."""
    link = await _opened(fabric)
    n = await link.send(GR, "case_notification")
    await link.send(AL, "acknowledgement", _ref("acknowledgement.acknowledges", n))
    views = await link.send(GR, "child_views_record")
    withdrawal = await link.send(GR, "withdrawal", _ref("withdrawal.withdraws", views))
    return link, withdrawal


async def test_a_message_in_the_inbox_when_the_node_crashed_is_applied_once_at_the_next_catch_up(
    fabric: Fabric,
) -> None:
    """Inbox committed, case write not: the fresh node's catch_up applies it, one event and one leaf, and no more."""
    link = await _opened(fabric)
    notification = await link.send(GR, "case_notification")
    ack = await link.send(AL, "acknowledgement", _ref("acknowledgement.acknowledges", notification))
    gr = fabric.nodes[GR]
    held = await gr.store.inbox.get(AL, ack)
    assert held is not None
    assert await gr.store.cases.cursor("inbox") < held.seq  # committed, not applied: the window
    assert [e for e in await gr.store.cases.events(link.ids[GR]) if getattr(e, "message_id", None) == ack] == []

    gr = await crash(fabric, GR)
    assert await gr.casework.catch_up() >= 1
    for _ in range(3):  # and again, as every later call and wake does
        await gr.casework.catch_up()
    row = await gr.store.cases.link(link.ids[GR])
    assert row is not None
    assert row.stage is Stage.ACKNOWLEDGED
    events = [e for e in await gr.store.cases.events(link.ids[GR]) if getattr(e, "message_id", None) == ack]
    assert len(events) == 1
    assert (await moves(gr, link.ref)).count("NOTIFIED→ACKNOWLEDGED") == 1
    assert await gr.store.cases.cursor("inbox") >= held.seq


async def test_a_withdrawal_applied_just_before_a_crash_is_still_acknowledged_applied_once(fabric: Fabric) -> None:
    """Applied, then killed before the acknowledgement was queued: the fresh node owes it and sends it, once."""
    _, withdrawal = await withdrawn_at_al(fabric)
    al = fabric.nodes[AL]
    await al.casework.catch_up()  # applied (the purge and the event are written); the answer is only owed
    assert await applied_acks(al, withdrawal) == []

    al = await crash(fabric, AL)
    await al.casework.catch_up()
    await al.casework.send_owed()
    assert len(await applied_acks(al, withdrawal)) == 1
    al = await crash(fabric, AL)
    await al.casework.catch_up()
    await al.casework.send_owed()
    assert len(await applied_acks(al, withdrawal)) == 1


async def test_answers_owed_across_a_message_purged_by_a_withdrawal_are_each_sent_once_after_a_crash(
    fabric: Fabric,
) -> None:
    """An amendment, then a record and its withdrawal (which purges it), applied, then a crash: two answers, once."""
    link = await _opened(fabric)
    n = await link.send(GR, "case_notification")
    await link.send(AL, "acknowledgement", _ref("acknowledgement.acknowledges", n))
    report = await link.send(GR, "risk_assessment_report")

    def amend(body: messages_pb2.Body) -> None:
        _ref("amendment.amends", report)(body)
        body.amendment.amends.kind = "risk_assessment_report"
        replacement = sample_body("risk_assessment_report", case_ref=link.ref, at_ms=fabric.clock() - 1000)
        body.amendment.replacement.CopyFrom(replacement)

    amendment = await link.send(GR, "amendment", amend)
    views = await link.send(GR, "child_views_record")
    withdrawal = await link.send(GR, "withdrawal", _ref("withdrawal.withdraws", views))
    al = fabric.nodes[AL]
    await al.casework.catch_up()
    purged = await al.store.inbox.get(GR, views)
    assert purged is not None
    assert purged.local_copy == b""  # the purged row lies between the two answers owed

    for _ in range(2):
        al = await crash(fabric, AL)
        await al.casework.catch_up()
        await al.casework.send_owed()
        assert [len(await applied_acks(al, m)) for m in (amendment, withdrawal)] == [1, 1]


async def test_an_acknowledgement_applied_sent_before_a_crash_is_never_sent_again(fabric: Fabric) -> None:
    """The APPLIED answer queued, then restarts (before and after its bookkeeping): one outbox row, one at GR."""
    link, withdrawal = await withdrawn_at_al(fabric)
    al = fabric.nodes[AL]
    sent = al.casework.acknowledge
    assert sent is not None

    class Crash(BaseException):
        """Stands for SIGKILL: nothing after it in the process runs (an Exception would be caught)."""

    async def queued_then_killed(link_id: str, event: object) -> object:
        assert sent is not None
        await sent(link_id, event)  # type: ignore[arg-type]
        raise Crash

    al.casework.acknowledge = queued_then_killed
    await al.casework.catch_up()
    with pytest.raises(Crash):
        await al.casework.send_owed()
    first = await applied_acks(al, withdrawal)
    assert len(first) == 1
    for _ in range(2):
        al = await crash(fabric, AL)
        await al.casework.catch_up()
        await al.casework.send_owed()
        await al.casework.send_owed()
        assert await applied_acks(al, withdrawal) == first
    gr = fabric.nodes[GR]

    async def answered() -> bool:
        await gr.casework.catch_up()
        return any(e.facts.refers_to == withdrawal for e in await gr.casework.events(await link.row(GR)))

    await eventually(answered, what="the APPLIED acknowledgement at GR")
    acks = [e for e in await gr.casework.events(await link.row(GR)) if e.facts.refers_to == withdrawal]
    assert [e.facts.ack_kind for e in acks] == ["APPLIED"]
