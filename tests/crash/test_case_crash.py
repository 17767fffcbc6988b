"""kill -9 during a case transition: applied exactly once on both sides (docs/adr/0014-case-storage.md).

Two ``focalpoint node run`` processes (GR identifies the child, AL is her State of origin) over
mutual TLS; officials drive each link through the real local API (``focalpoint.localnet.story``)
to the message under test, then the sender or the receiver is killed with SIGKILL a random moment
after the message was queued, and restarted. Whatever the moment, each side ends with the message
stored once (one inbox row, one case event), the link at the next stage, one STATUS_CHANGED leaf
for the move in each audit log, logs that verify, and one DELIVERED outbox row whose receipt is
the one the receiver stored (a retry after the kill got the original receipt).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from focalpoint.audit import events as audit_events
from focalpoint.client import LocalClient
from focalpoint.errors import FocalpointError
from focalpoint.localnet import LocalNetwork, NodeSpec, make_network
from focalpoint.localnet.people import People
from focalpoint.localnet.story import HOUR_MS, OFFICER, SUPERVISOR, UNITS, Desk, accepts, evidence, identified
from focalpoint.node.ports import wall_clock_ms
from focalpoint.people.roles import Grant, Role
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import audit_pb2, messages_pb2
from tests.support.procs import NodeProcess, read_only, running

pytestmark = pytest.mark.slow

GR, AL = "gr-ekka", "al-shss"
SPECS = (NodeSpec(GR, "GR", "EKKA", ("el", "en")), NodeSpec(AL, "AL", "SHSS", ("sq", "en")))
FAST_DELIVERY = {"retry_initial_seconds": 0.05, "retry_max_seconds": 0.3, "call_timeout_seconds": 5}
AUDITOR = "auditor.1"
# Who works the cases on each node (a preparer, a supervisor who approves) and who reads its audit log.
USERS: tuple[tuple[str, tuple[Role, ...], tuple[Grant, ...]], ...] = (
    (OFFICER, (Role.CASE_OFFICER,), ()),
    (SUPERVISOR, (Role.CASE_OFFICER,), (Grant.APPROVE,)),
    (AUDITOR, (Role.AUDITOR,), ()),
)
DEADLINE_S = 30.0
# A kill lands this long after the call that queued the message returned: 0 is before the
# delivery has begun, the upper end after the receiver has applied it (both seen in practice).
KILL_DELAY_S = (0.0, 0.03)
SEED = int.from_bytes(os.urandom(4), "big")
STATUS_CHANGED = audit_pb2.AuditEventKind.AUDIT_EVENT_KIND_STATUS_CHANGED


@pytest.fixture
def net(tmp_path: Path) -> LocalNetwork:
    """GR and AL with fresh keys, an agreement in force between them and fast retries."""
    return make_network(
        tmp_path / "net",
        SPECS,
        now=dt.datetime.now(dt.UTC),
        delivery=FAST_DELIVERY,
        directory_refresh_s=0.5,
        agreement_pairs=[("GR", "AL")],
    )


# -- reading a node's database after (or while) it runs -------------------------------------------


def rows(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    with contextlib.closing(read_only(db)) as conn:
        return list(conn.execute(sql, args).fetchall())


def delivery_state(db: Path, message_id: bytes) -> tuple[int, bytes | None] | None:
    found = rows(
        db,
        "SELECT d.state, d.receipt FROM outbox o JOIN outbox_delivery d ON d.seq = o.seq WHERE o.message_id = ?",
        message_id,
    )
    return (int(found[0][0]), None if found[0][1] is None else bytes(found[0][1])) if found else None


def stage(db: Path, case_ref: str) -> str | None:
    found = rows(db, "SELECT stage FROM case_links WHERE case_ref = ?", case_ref)
    return str(found[0][0]) if found else None


def case_events(db: Path, message_id: bytes) -> int:
    return len(rows(db, "SELECT seq FROM case_events WHERE message_id = ?", message_id))


def inbox_rows(db: Path, sender: str, message_id: bytes) -> list[bytes]:
    """The receipts of every inbox row holding this message (one, once it arrived)."""
    return [
        bytes(r[0])
        for r in rows(db, "SELECT receipt FROM inbox WHERE sender = ? AND message_id = ?", sender, message_id)
    ]


async def until(check: Any, what: str, timeout_s: float = DEADLINE_S) -> None:
    """Poll ``check()`` every 10 ms until it is true; AssertionError naming ``what`` after the deadline."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout_s} s: {what} (seed {SEED})")
        await asyncio.sleep(0.01)


# -- officials' desks on node processes -----------------------------------------------------------


@dataclasses.dataclass
class ProcDesk(Desk):
    """The demo's desk, its nodes being processes: a message is closed when its outbox row says so."""

    procs: dict[str, NodeProcess] = dataclasses.field(default_factory=dict)

    async def closed(self, node_id: str, message_id: bytes) -> None:
        db = self.procs[node_id].database

        def done() -> bool:
            found = delivery_state(db, message_id)
            return found is not None and found[0] in (DeliveryState.DELIVERED, DeliveryState.EXPIRED)

        await until(done, f"{node_id} closed {message_id.hex()}")
        found = delivery_state(db, message_id)
        if found is None or found[0] != DeliveryState.DELIVERED:
            raise FocalpointError(f"message {message_id.hex()} ended {found}, not DELIVERED")

    async def reconnect(self, node_id: str) -> None:
        """New clients for a restarted node (a channel to a dead port may wait out a reconnect backoff)."""
        ln = self.procs[node_id].node
        for user, _, _ in USERS:
            old = self.clients.pop((node_id, user))
            await old.close()
            # The session outlives the restart (the node keeps it); only the channel is new.
            self.clients[node_id, user] = LocalClient(ln.local_address, session=old.session)


@contextlib.asynccontextmanager
async def desk_on(net: LocalNetwork) -> AsyncIterator[ProcDesk]:
    async with running(net, [GR, AL]) as procs:
        clients = {}
        for node_id, ln in net.nodes.items():
            people = People(ln.local_address, ln.token, unit=UNITS[node_id])
            for user, roles, grants in USERS:
                clients[node_id, user] = await people.client(user, roles, grants=grants)
        desk = ProcDesk(
            nodes={}, clients=clients, agreement_id=next(iter(net.agreements)), say=lambda who, text: None, procs=procs
        )
        try:
            yield desk
        finally:
            for client in desk.clients.values():
                await client.close()


async def to_negotiation(desk: ProcDesk) -> tuple[str, bytes]:
    """A link opened by GR, notified, acknowledged, with every piece of evidence, and AL's proposal open."""
    at = wall_clock_ms() - 6 * HOUR_MS
    opened = await desk.api(GR).open_case(AL, at, UNITS[GR])
    ref = opened.case_ref
    desk.links[GR, ref] = opened.link_id
    notification = await desk.send(GR, AL, ref, "case_notification", identified(at))
    await desk.send(AL, GR, ref, "acknowledgement", accepts("acknowledgement.acknowledges", notification))
    iv = await desk.send(GR, AL, ref, "identity_verification_request")
    await desk.send(AL, GR, ref, "identity_verification_reply", answers=iv)
    si = await desk.send(GR, AL, ref, "social_inquiry_request")
    found = [await desk.send(AL, GR, ref, "social_inquiry_report", answers=si)]
    found.append(await desk.send(GR, AL, ref, "risk_assessment_report"))
    found.append(await desk.send(GR, AL, ref, "child_views_record"))
    found.append(await desk.send(AL, GR, ref, "reintegration_plan"))
    proposal = await desk.send(AL, GR, ref, "durable_solution_proposal", evidence(*found))
    return ref, proposal


async def to_return_in_progress(desk: ProcDesk) -> str:
    """A link past its agreement, the plan accepted and the child departed (RETURN_IN_PROGRESS)."""
    ref, proposal = await to_negotiation(desk)
    await desk.send(GR, AL, ref, "durable_solution_agreement", accepts("durable_solution_agreement.accepts", proposal))
    plan = await desk.send(GR, AL, ref, "repatriation_plan", lambda b: b.repatriation_plan.ClearField("supersedes"))

    def acceptance(body: messages_pb2.Body) -> None:
        accepts("repatriation_plan_acceptance.accepts", plan)(body)
        body.repatriation_plan_acceptance.ClearField("gate")  # the State of origin makes no gate claim

    await desk.send(AL, GR, ref, "repatriation_plan_acceptance", acceptance)
    await desk.send(GR, AL, ref, "return_status_update")
    return ref


# -- one kill -------------------------------------------------------------------------------------


@dataclasses.dataclass
class Round:
    case_ref: str
    sender: str
    receiver: str
    victim: str
    delay_s: float
    message_id: bytes = b""
    # What the receiver's database held when the kill landed: the inbox row, the case event.
    held_at_kill: tuple[bool, bool] = (False, False)

    def __str__(self) -> str:
        return f"{self.case_ref}: {self.victim} killed {self.delay_s * 1000:.0f} ms after the send (seed {SEED})"


async def kill_and_restart(desk: ProcDesk, r: Round) -> None:
    """Kill ``r.victim`` ``r.delay_s`` after the message was queued, note what the receiver held, restart it."""
    await asyncio.sleep(r.delay_s)
    desk.procs[r.victim].kill()
    db = desk.procs[r.receiver].database
    r.held_at_kill = (bool(inbox_rows(db, r.sender, r.message_id)), case_events(db, r.message_id) > 0)
    await desk.procs[r.victim].start()
    await desk.reconnect(r.victim)


async def assert_applied_once(desk: ProcDesk, r: Round, before: str, after: str) -> None:
    """The message is held once and applied once on both sides, and each log records the move once."""
    sender_db, receiver_db = desk.procs[r.sender].database, desk.procs[r.receiver].database
    await until(lambda: stage(sender_db, r.case_ref) == after, f"{r.sender} reaches {after}; {r}")
    await until(lambda: stage(receiver_db, r.case_ref) == after, f"{r.receiver} reaches {after}; {r}")
    await desk.closed(r.sender, r.message_id)
    receipts = inbox_rows(receiver_db, r.sender, r.message_id)
    assert len(receipts) == 1, r
    assert case_events(receiver_db, r.message_id) == 1, r
    assert case_events(sender_db, r.message_id) == 1, r
    assert delivery_state(sender_db, r.message_id) == (DeliveryState.DELIVERED, receipts[0]), r
    for node_id in (r.sender, r.receiver):
        api = desk.api(node_id, AUDITOR)
        listed = await api.list_audit(limit=1000, case_ref=r.case_ref)
        moves = [
            e.status
            for e in (audit_events.decode(entry.leaf) for entry in listed.entries)
            if e.kind == STATUS_CHANGED and e.status.startswith(f"{before}→")
        ]
        assert moves == [f"{before}→{after}"], (node_id, r)
        verified = await api.verify_audit()
        assert verified.ok, (node_id, verified.reason, r)


def kill_rounds(
    rng: random.Random, sender: str, receiver: str, *, receiver_kills: int, sender_kills: int
) -> list[Round]:
    """Each victim's kills spread over KILL_DELAY_S, one in each equal slice of it (so an early and a late one)."""
    low, high = KILL_DELAY_S
    out = []
    for victim, n in ((receiver, receiver_kills), (sender, sender_kills)):
        step = (high - low) / n
        out += [Round("", sender, receiver, victim, low + step * (i + rng.random())) for i in range(n)]
    return out


def report(rounds: list[Round]) -> None:
    for r in rounds:
        held = {(False, False): "nothing", (True, False): "the inbox row only", (True, True): "row and event"}
        print(f"{r}; the receiver held {held.get(r.held_at_kill, r.held_at_kill)} at the kill")


# -- the tests ------------------------------------------------------------------------------------


async def test_an_agreement_is_applied_once_on_both_sides_whichever_node_is_killed_when(net: LocalNetwork) -> None:
    """kill -9 of AL (receiver) or GR (sender) just after GR's approved agreement: RETURN_PREPARATION once on both."""
    rng = random.Random(SEED)
    rounds = kill_rounds(rng, GR, AL, receiver_kills=3, sender_kills=2)
    async with desk_on(net) as desk:
        negotiating = [await to_negotiation(desk) for _ in rounds]
        for r, (ref, proposal) in zip(rounds, negotiating, strict=True):
            r.case_ref = ref
            draft = await desk.prepare(
                GR, AL, ref, "durable_solution_agreement", accepts("durable_solution_agreement.accepts", proposal)
            )
            assert draft.draft_id, "an agreement waits for a second person"
            approved = await desk.api(GR, SUPERVISOR).approve_draft(await desk.link(GR, ref), draft.draft_id)
            r.message_id = approved.message_id
            await kill_and_restart(desk, r)
        for r in rounds:
            await assert_applied_once(desk, r, "NEGOTIATION", "RETURN_PREPARATION")
        assert [p.starts for p in desk.procs.values()] == [1 + sum(r.victim == n for r in rounds) for n in (GR, AL)]
    report(rounds)


async def test_a_handover_is_applied_once_on_both_sides_whichever_node_is_killed_when(net: LocalNetwork) -> None:
    """kill -9 of GR (receiver) or AL (sender) just after AL's handover confirmation: FOLLOW_UP once on both."""
    rng = random.Random(SEED + 1)
    rounds = kill_rounds(rng, AL, GR, receiver_kills=2, sender_kills=2)
    async with desk_on(net) as desk:
        in_progress = [await to_return_in_progress(desk) for _ in rounds]
        for r, ref in zip(rounds, in_progress, strict=True):
            r.case_ref = ref
            sent = await desk.prepare(AL, GR, ref, "handover_confirmation")
            assert sent.message_id, "a handover confirmation needs no second person"
            r.message_id = sent.message_id
            await kill_and_restart(desk, r)
        for r in rounds:
            await assert_applied_once(desk, r, "RETURN_IN_PROGRESS", "FOLLOW_UP")
    report(rounds)
