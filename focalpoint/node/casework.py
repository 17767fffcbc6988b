"""Case work in the node: links opened, submissions judged, every case message applied once.

Every message this node sends or receives on a case passes through here:

- before sealing, ``check`` judges a submission with the transition table
  (``focalpoint.cases.transitions``) against the link's fold: a message the table does not allow
  is refused with the rule that stops it, and nothing is queued;
- after the exchange has committed a message (outbox row or inbox row), ``catch_up`` applies it
  to its link: W2 a received message whose reference names no link is parked for the operator (an
  opening message creates the link instead); W4 a message the table does not allow is stored and
  flagged, never refused; W5 the event, the link's new columns, a STATUS_CHANGED leaf when the
  stage moved and the cursor move are one write, so a crash repeats nothing and loses nothing
  (docs/adr/0014-case-storage.md); the fold orders a link's messages canonically, so arrival
  order does not matter (docs/adr/0016-one-table-canonical-order-and-the-gate.md).

Event payloads are sealed under the storage key; the store sees kinds, times and ids only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import structlog

from directory import AgreementInfo, AgreementStatus, Directory
from directory.codelists import older_list_version
from directory.model import CaseRules, KindDeadline
from focalpoint.audit import events as audit_events
from focalpoint.cases.codec import decode_event, encode_event
from focalpoint.cases.codes import refuse_codes_outside
from focalpoint.cases.events import Event, Facts, Origin
from focalpoint.cases.facts import code_name, facts_of
from focalpoint.cases.fold import fold
from focalpoint.cases.gate import evaluate
from focalpoint.cases.refs import mint_case_ref
from focalpoint.cases.requests import TRACKED_KINDS, period_for
from focalpoint.cases.stages import TERMINAL, Side, Stage
from focalpoint.cases.state import LinkState, Rules
from focalpoint.cases.transitions import OPENING_KINDS, SENDERS, judge, needs_approval
from focalpoint.errors import DamagedData, NotFound, PreconditionFailed, RefusalError, UsageError
from focalpoint.exchange.envelope import signed_body_bytes
from focalpoint.exchange.policy import check_exchange
from focalpoint.exchange.rules import KINDS, unit_problem
from focalpoint.node.ports import Clock, DirectoryView
from focalpoint.storage.base import (
    CaseEventRow,
    CaseStore,
    CaseWrite,
    CursorMove,
    DamagedRow,
    InboxRow,
    InboxStore,
    LinkRow,
    LinkUpdate,
    NewCaseEvent,
    NewLink,
    OutboxRow,
    OutboxStore,
    ParkedMessage,
)
from focalpoint.storage.cipher import OUTBOX_PURPOSE, StorageCipher, inbox_purpose
from focalpoint.v1 import codes_pb2, envelope_pb2, messages_pb2

__all__ = ["UNLINKED_KINDS", "CaseWork", "Opened"]

log = structlog.get_logger("focalpoint.node")

_PAGE = 200
# The two kinds older nodes exchange outside any case link: they travel, and apply to no link.
UNLINKED_KINDS = frozenset({"social_inquiry_request", "social_inquiry_report"})
# The inbox row up to which every acknowledgement(APPLIED) owed has been queued (W6). It moves with
# the inbox cursor while nothing is owed and stays behind a received amendment or withdrawal until
# its answer is in the outbox, so a restart finds what a crash left unanswered (``_recover_owed``).
_ACKS = "applied_acks"
_ANSWERED_KINDS = frozenset({"amendment", "withdrawal"})
_EVENT_PURPOSE = b"focalpoint.case-event"
_LINK_PURPOSE = b"focalpoint.case-link"
_SUMMARY_PURPOSE = b"focalpoint.case-summary"


@dataclass(frozen=True, slots=True)
class Opened:
    case_id: str
    link_id: str
    case_ref: str


@dataclass(frozen=True, slots=True)
class SendDefaults:
    """What a form sent on a link starts from (``CaseWork.send_defaults``)."""

    agreement_id: str  # empty: no agreement in force between the two States
    code_list_version: str  # empty: the directory names no version for either State
    working_languages: tuple[str, ...]
    kinds: tuple[str, ...]


class CaseWork:
    def __init__(
        self,
        *,
        me: str,
        directory: DirectoryView,
        store: CaseStore,
        inbox: InboxStore,
        outbox: OutboxStore,
        cipher: StorageCipher,
        clock_ms: Clock,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._me = me
        self._directory = directory
        self._store = store
        self._inbox = inbox
        self._outbox = outbox
        self._cipher = cipher
        self._clock = clock_ms
        self._random = random_bytes
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        # Received amendments and withdrawals applied, each owed an acknowledgement(APPLIED).
        self._owed: list[tuple[str, Event]] = []
        self._acks_at = 0  # where _ACKS stood when this process last read or moved it
        self._recovered = False
        self.acknowledge: Callable[[str, Event], Awaitable[object]] | None = None
        # Told of each received case message once applied (the node's alerts: focalpoint.node.notify).
        self.on_received: Callable[[LinkRow, Event], Awaitable[object]] | None = None

    # -- the state a link is in -----------------------------------------------------------------

    @property
    def me(self) -> str:
        return self._me

    def directory(self) -> Directory:
        return self._directory()

    def _my_state(self) -> str:
        node = self._directory().node(self._me)
        if node is None:
            raise UsageError(f"this node ({self._me}) is not in the directory")
        return node.state

    def states(self, link: LinkRow) -> tuple[str, str]:
        """The link's identifying State and State of origin (ISO codes)."""
        return _states(link, self._my_state())

    def _agreements(self, link: LinkRow) -> list[AgreementInfo]:
        """The agreements between the link's two States, in directory order."""
        return self._agreements_with(link.partner_state)

    def _agreements_with(self, partner_state: str) -> list[AgreementInfo]:
        directory = self._directory()
        mine = directory.node(self._me)
        pair = {mine.state if mine else "", partner_state}
        return [a for a in directory.agreements.values() if pair <= a.parties]

    def rules_context(self, partner_state: str) -> str:
        """A digest of what the agreements with ``partner_state`` give a link's derived data (their
        statuses, the case rules and kind deadlines of the one in force) and of this node's State:
        a link summary built under another digest is built again (``focalpoint.node.summaries``)."""
        agreements = self._agreements_with(partner_state)
        chosen = next(
            (a for a in agreements if a.status in (AgreementStatus.IN_FORCE, AgreementStatus.SUSPENDED)), None
        )
        text = repr(
            (
                self._my_state(),
                sorted(a.status.value for a in agreements),
                chosen.case_rules if chosen is not None else None,
                sorted(chosen.kind_deadlines.items()) if chosen is not None else (),
            )
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def suspended(self, link: LinkRow) -> bool:
        """Whether the agreement between the link's two States is suspended (and none other in force)."""
        statuses = {a.status for a in self._agreements(link)}
        return AgreementStatus.SUSPENDED in statuses and AgreementStatus.IN_FORCE not in statuses

    def rules(self, link: LinkRow) -> Rules:
        """The case rules of the agreement between the link's two States (the network defaults if none)."""
        for agreement in self._agreements(link):
            if agreement.status in (AgreementStatus.IN_FORCE, AgreementStatus.SUSPENDED):
                r = agreement.case_rules
                return Rules(
                    max_counter_rounds=r.max_counter_rounds,
                    closure_response_days=r.closure_response_days,
                    risk_assessment_max_age_days=r.risk_assessment_max_age_days,
                    waivable=frozenset(code_name(codes_pb2.GateCondition, c) for c in r.waivable),
                    guardian_deadline_hours=r.guardian_deadline_hours,
                    kinds_when_suspended=r.kinds_when_suspended,
                )
        return Rules()

    def send_defaults(self, link: LinkRow) -> SendDefaults:
        """What a message on ``link`` starts from: the agreement in force between the two States,
        the code-list version both ends know (the older of theirs), the agreement's working
        languages and the kinds this side may send under it (the stage table still decides)."""
        directory = self._directory()
        own = directory.states.get(self._my_state())
        partner = directory.states.get(link.partner_state)
        versions = [s.code_list_version for s in (own, partner) if s is not None and s.code_list_version]
        version = versions[0] if len(versions) == 1 else older_list_version(*versions) if versions else ""
        chosen = next((a for a in self._agreements(link) if a.status is AgreementStatus.IN_FORCE), None)
        if chosen is None:
            return SendDefaults("", version, (), ())
        kinds = tuple(k for k in KINDS if k in chosen.kinds and link.our_side in SENDERS.get(k, frozenset(Side)))
        return SendDefaults(chosen.agreement_id, version, chosen.working_languages, kinds)

    def agreement_deadlines(self, link: LinkRow) -> tuple[Mapping[str, KindDeadline], CaseRules | None]:
        """The per-kind deadlines and case rules of the agreement in force between the link's two
        States now (empty and None if none: the network defaults apply)."""
        for agreement in self._agreements(link):
            if agreement.status in (AgreementStatus.IN_FORCE, AgreementStatus.SUSPENDED):
                return agreement.kind_deadlines, agreement.case_rules
        return {}, None

    async def events(self, link: LinkRow) -> list[Event]:
        rows = await self._store.events(link.link_id)
        return [self._decode(link, r) for r in rows]

    def _decode(self, link: LinkRow, row: CaseEventRow | DamagedRow) -> Event:
        if isinstance(row, DamagedRow):
            raise UsageError(f"link {link.link_id} has a damaged event (row {row.seq}): {row.reason}")
        where = f"case_events row {row.seq}"
        raw = self._cipher.open(row.payload, purpose=_EVENT_PURPOSE, message_id=_key(link.link_id, row.message_id))
        return decode_event(raw, where=where)

    async def state(self, link: LinkRow, *, extra: Event | None = None, events: list[Event] | None = None) -> LinkState:
        """The link folded now; ``events``: the link's events when the caller already read them."""
        events = list(await self.events(link) if events is None else events)
        if extra is not None:
            events.append(extra)
        is_state, os_state = _states(link, self._my_state())
        return fold(
            events,
            our_side=link.our_side,
            is_state=is_state,
            os_state=os_state,
            rules=self.rules(link),
            now_ms=self._clock(),
        )

    # -- opening a case --------------------------------------------------------------------------

    async def open_case(
        self, *, actor: str, partner_node: str, identified_at_ms: int, unit: str, tracing: bool = False
    ) -> Opened:
        """Open a case with its first link to ``partner_node``: this node's State identified the child,
        or (``tracing``) it is the child's State of origin asking the partner to trace the child."""
        now = self._clock()
        if tracing:
            if identified_at_ms:
                raise UsageError("a tracing case has no identification time: the child has not been found yet")
        elif identified_at_ms <= 0 or identified_at_ms > now:
            raise UsageError("identified_at must be a time in the past (when the child was first identified)")
        side = Side.OS if tracing else Side.IS
        partner = self._directory().node(partner_node)
        if partner is None:
            raise UsageError(f"partner {partner_node!r} is not in the directory")
        mine = self._my_state()
        if partner.state == mine:
            raise UsageError("a case link is with another State's node; national exchanges need no case link")
        try:
            opening = "tracing_request" if tracing else "case_notification"
            check_exchange(self._directory(), sender_node=self._me, recipient_node=partner_node, kind=opening)
        except RefusalError as e:
            raise PreconditionFailed(f"not opened: {e.reason}") from e
        case_id, link_id = uuid.uuid4().hex, uuid.uuid4().hex
        case_ref = mint_case_ref(mine, self._random)
        link = NewLink(
            link_id=link_id,
            case_id=case_id,
            case_ref=case_ref,
            partner_node=partner_node,
            partner_state=partner.state,
            our_side=side,
            unit=unit,
            created_at_ms=now,
            payload=self._seal_link(link_id),
        )
        opened = Event(
            kind="local:open",
            origin=Origin.LOCAL,
            sender_side=side,
            sender_node=self._me,
            at_ms=now,
            message_id=b"open:" + link_id.encode(),
            actor=actor,
            facts=Facts(identified_at_ms=identified_at_ms),
        )
        leaf = audit_events.status_changed(at_ms=now, actor=actor, case_ref=case_ref, status="→OPEN")
        await self._store.apply(
            CaseWrite(links=[link], events=[self.new_event(link_id, opened)], leaves=[(leaf, case_ref)])
        )
        log.info("case_opened", link=link_id, partner=partner_node)
        return Opened(case_id, link_id, case_ref)

    # -- judging a submission -----------------------------------------------------------------------

    async def check(
        self,
        recipient: str,
        body: messages_pb2.Body,
        in_reply_to: bytes = b"",
        *,
        actor: str = "",
        skip: frozenset[str] = frozenset(),
    ) -> None:
        """Raise UsageError unless the transition table allows ``body`` to go to ``recipient`` now."""
        await self.catch_up()  # judge against every message already committed, not only those applied
        kind = body.WhichOneof("kind") or ""
        case_ref = body.context.case_ref
        link = await self._store.link_by_ref(case_ref, recipient) if case_ref else None
        if link is None:
            if kind in UNLINKED_KINDS:
                return  # as older nodes send them; the receiver parks them for its operator
            raise UsageError(
                f"this node has no case link with that reference to {recipient!r}; open the case first "
                "(focalpoint case open) or answer on the link the partner opened"
            )
        now = self._clock()
        event = self._pending(link, body, in_reply_to, actor, now)
        self._refuse_codes_the_partner_lacks(body, link)
        state = await self.state(link)
        verdict = judge(state, event, self.rules(link), now, skip=skip)
        if verdict.problem is not None:
            raise PreconditionFailed(f"not sent: {verdict.problem}")

    async def needs_approval(self, link: LinkRow, body: messages_pb2.Body, in_reply_to: bytes = b"") -> bool:
        """Whether a second person must approve ``body`` on ``link`` before it is signed (its kind, or
        the row it matches now: withdrawing the opening message, refusing the open proposal)."""
        now = self._clock()
        return needs_approval(await self.state(link), self._pending(link, body, in_reply_to, "", now))

    def _pending(self, link: LinkRow, body: messages_pb2.Body, in_reply_to: bytes, actor: str, now: int) -> Event:
        """``body`` as the event it would be if this node sent it on ``link`` now."""
        return Event(
            kind=body.WhichOneof("kind") or "",
            origin=Origin.SENT,
            sender_side=link.our_side,
            sender_node=self._me,
            at_ms=now,
            message_id=b"pending",
            sequence=1 << 62,
            in_reply_to=in_reply_to,
            actor=actor,
            facts=facts_of(body, at_ms=now)[1],
        )

    def _refuse_codes_the_partner_lacks(self, body: messages_pb2.Body, link: LinkRow) -> None:
        """A sender uses only codes of the older of its own and its partner's code-list versions."""
        directory = self._directory()
        code_list = directory.newest_code_list
        own = directory.states.get(self._my_state())
        partner = directory.states.get(link.partner_state)
        if code_list is None or own is None or partner is None:
            return
        if own.code_list_version and partner.code_list_version:
            refuse_codes_outside(
                body, own=own.code_list_version, partner=partner.code_list_version, code_list=code_list
            )

    # -- applying committed messages --------------------------------------------------------------

    def wake(self) -> None:
        """Ask ``run`` to apply what was committed since its last pass."""
        self._wake.set()

    async def run(self) -> None:
        """Apply committed case messages whenever woken (and once at start)."""
        while True:
            try:
                await self.catch_up()
                await self.send_owed()
            except Exception as e:  # one bad pass must not stop case work; retried on the next wake
                log.error("case_apply_failed", error=type(e).__name__)
            await self._wake.wait()
            self._wake.clear()

    async def send_owed(self) -> None:
        """Acknowledge, APPLIED, each amendment and withdrawal applied and not yet answered.

        Each answer's request id is the applied message's, so one queued before a crash and owed
        again after it is the same request, never a second message."""
        async with self._lock:
            owed, self._owed = self._owed, []
            upto = await self._store.cursor("inbox")
        if not owed:
            return
        if self.acknowledge is None:
            self._owed = owed + self._owed  # kept for when the node wires its answer
            return
        for link_id, event in owed:
            try:
                await self.acknowledge(link_id, event)
            except Exception as e:  # the partner reminds if it never hears; the next message may follow
                log.warning(
                    "case_applied_ack_failed", link=link_id, message_id=event.message_id.hex(), error=type(e).__name__
                )
        async with self._lock:
            at = await self._store.cursor(_ACKS)
            # Rows applied since ``upto`` owe nothing unless they put something in _owed again.
            to = upto if self._owed else await self._store.cursor("inbox")
            if to > at:
                await self._store.apply(CaseWrite(cursors=[CursorMove(_ACKS, at, to)]))
            self._acks_at = max(at, to)

    async def _recover_owed(self) -> None:
        """At the first pass after a start: owe again the answers a crash left unqueued.

        Reads the inbox rows between _ACKS and the inbox cursor (none after a clean stop) and owes an
        answer for each received amendment or withdrawal its link holds and did not flag."""
        self._recovered = True
        at = self._acks_at = await self._store.cursor(_ACKS)
        upto = await self._store.cursor("inbox")
        position, owed = at, []
        while position < upto:
            rows = await self._inbox.since(position, _PAGE)
            for row in rows:
                if row.seq > upto:
                    break
                if isinstance(row, InboxRow) and (found := await self._answer_owed(row)) is not None:
                    owed.append(found)
                position = row.seq
            if len(rows) < _PAGE:
                break
        self._owed = owed + self._owed
        if not owed and upto > at:
            await self._store.apply(CaseWrite(cursors=[CursorMove(_ACKS, at, upto)]))
            self._acks_at = upto

    async def _answer_owed(self, row: InboxRow) -> tuple[str, Event] | None:
        if not row.local_copy:
            return None  # purged by a withdrawal: never an amendment or withdrawal itself
        try:
            _, content = self._content(row)
        except DamagedData:
            return None  # it was applied as it was read then; what cannot be read now owes nothing known
        kind, case_ref = content.body.WhichOneof("kind") or "", content.body.context.case_ref
        if kind not in _ANSWERED_KINDS or not case_ref:
            return None
        link = await self._store.link_by_ref(case_ref, row.sender)
        if link is None:
            return None
        event = next((e for e in await self.events(link) if e.message_id == row.message_id), None)
        if event is None or event.origin is not Origin.RECEIVED:
            return None
        state = await self.state(link)
        if any(f.message_id == event.message_id for f in state.flagged):
            return None
        return link.link_id, event

    def _content(self, row: OutboxRow | InboxRow) -> tuple[bytes, envelope_pb2.SignedContent]:
        """The exact signed bytes of a committed row's message, and what they say."""
        if isinstance(row, OutboxRow):
            payload = self._cipher.open(row.local_copy, purpose=OUTBOX_PURPOSE, message_id=row.message_id)
        else:
            payload = self._cipher.open(row.local_copy, purpose=inbox_purpose(row.sender), message_id=row.message_id)
        signed = envelope_pb2.SealedPayload.FromString(payload).signed_content
        return signed, envelope_pb2.SignedContent.FromString(signed)

    async def _write(self, write: CaseWrite) -> None:
        await self._store.apply(write)
        for move in write.cursors:
            if move.source == _ACKS:
                self._acks_at = move.to_position

    def _moves(self, source: str, position: int, to: int, *, owes: bool = False) -> list[CursorMove]:
        """The cursor moves of applying one row: _ACKS follows the inbox cursor while nothing is owed."""
        moves = [CursorMove(source, position, to)]
        if source == "inbox" and not owes and self._acks_at == position:
            moves.append(CursorMove(_ACKS, position, to))
        return moves

    async def catch_up(self) -> int:
        """Apply every committed outbox and inbox row not applied yet; return how many were read."""
        async with self._lock:
            if not self._recovered:
                await self._recover_owed()
            total = 0
            for source in ("outbox", "inbox"):
                while True:
                    position = await self._store.cursor(source)
                    if source == "inbox":
                        self._acks_at = await self._store.cursor(_ACKS)
                    rows: list[OutboxRow | InboxRow | DamagedRow]
                    if source == "outbox":
                        rows = list(await self._outbox.since(position, _PAGE))
                    else:
                        rows = list(await self._inbox.since(position, _PAGE))
                    for row in rows:
                        await self._apply_row(source, position, row)
                        position = row.seq
                    total += len(rows)
                    if len(rows) < _PAGE:
                        break
            return total

    async def _apply_row(self, source: str, position: int, row: OutboxRow | InboxRow | DamagedRow) -> None:
        moves = self._moves(source, position, row.seq)
        if isinstance(row, DamagedRow):
            log.warning("case_row_unreadable", source=source, row=row.seq)
            await self._write(CaseWrite(cursors=moves))
            return
        signed, content = self._content(row)
        if isinstance(row, OutboxRow):
            peer, origin = row.recipient, Origin.SENT
        else:
            peer, origin = row.sender, Origin.RECEIVED
        body = content.body
        kind = body.WhichOneof("kind") or ""
        case_ref = body.context.case_ref
        if not kind or not case_ref:
            await self._write(CaseWrite(cursors=moves))  # not a case message (legacy form)
            return
        link = await self._store.link_by_ref(case_ref, peer)
        new_links: list[NewLink] = []
        if link is None:
            if origin is Origin.RECEIVED and kind in OPENING_KINDS:
                new = self._received_link(case_ref, peer, kind, content.created_at_ms, body.context.recipient_unit)
                new_links.append(new)
                link = _as_row(new)
            else:
                reason = "no case link has this reference" if origin is Origin.RECEIVED else "sent outside a link"
                park = [ParkedMessage(peer, row.message_id, case_ref, kind, content.created_at_ms, reason)]
                await self._write(CaseWrite(cursors=moves, park=park if origin is Origin.RECEIVED else ()))
                log.warning("case_message_parked", peer=peer, message_id=row.message_id.hex(), kind=kind)
                return
        event = self._event(link, origin, content, kind, signed_body_bytes(signed))
        # The stage before is the one the last write stored (what the worklist shows), so the link is
        # read and folded once, and a change time made since (T18) is logged when it is written.
        before = link.stage
        known = [] if new_links else await self.events(link)  # read once: folded, and searched by a withdrawal
        state = await self.state(link, extra=event, events=known)
        update, leaves = self._update(link, state, before, event)
        flagged = any(f.message_id == event.message_id for f in state.flagged)
        owes = origin is Origin.RECEIVED and not flagged and kind in _ANSWERED_KINDS
        reseal, purge = [], []
        if origin is Origin.RECEIVED and not flagged and kind == "withdrawal":
            # The partner withdrew its own message: purge its content and the facts derived from it.
            target = next((e for e in known if e.message_id == event.facts.refers_to), None)
            if target is not None and target.origin is Origin.RECEIVED:
                # Evidence is what was derived from its content; the workflow's own codes (rules, refs) stay.
                emptied = dataclasses.replace(
                    target, facts=dataclasses.replace(target.facts, evidence=None, replacement=None)
                )
                reseal.append((link.link_id, target.message_id, self.new_event(link.link_id, emptied).payload))
                purge.append((peer, target.message_id))
        await self._write(
            CaseWrite(
                links=new_links,
                cursors=self._moves(source, position, row.seq, owes=owes),
                events=[self.new_event(link.link_id, event)],
                updates=[update],
                leaves=leaves,
                reseal=reseal,
                purge_inbox=purge,
            )
        )
        if owes:
            self._owed.append((link.link_id, event))
        if origin is Origin.RECEIVED and not flagged and self.on_received is not None:
            try:
                await self.on_received(link, event)
            except Exception as e:  # telling people must never stop case work
                log.error("case_alert_failed", kind=kind, error=type(e).__name__)
        if flagged:
            log.warning("case_message_flagged", link=link.link_id, message_id=row.message_id.hex(), kind=kind)

    def _received_link(self, case_ref: str, peer: str, kind: str, at_ms: int, unit: str) -> NewLink:
        """A link a partner opened; owned by the unit the sender addressed (``recipient_unit``), or by
        none until an operator assigns it."""
        directory = self._directory()
        partner = directory.node(peer)
        link_id = uuid.uuid4().hex
        our_side = Side.IS if kind == "tracing_request" else Side.OS
        return NewLink(
            link_id=link_id,
            case_id=uuid.uuid4().hex,
            case_ref=case_ref,
            partner_node=peer,
            partner_state=partner.state if partner else "",
            our_side=our_side,
            unit=unit if unit and unit_problem(unit) is None else "",
            created_at_ms=self._clock(),
            payload=self._seal_link(link_id),
            stage=Stage.OPEN,
        )

    def _event(
        self, link: LinkRow, origin: Origin, content: envelope_pb2.SignedContent, kind: str, raw_body: bytes
    ) -> Event:
        side = link.our_side if origin is Origin.SENT else link.our_side.other
        event = Event(
            kind=kind,
            origin=origin,
            sender_side=side,
            sender_node=content.sender_node,
            at_ms=content.created_at_ms,
            message_id=content.message_id,
            sequence=content.sequence,
            body_sha256=hashlib.sha256(raw_body).digest(),
            in_reply_to=content.in_reply_to,
            facts=facts_of(content.body, at_ms=content.created_at_ms)[1],
        )
        if kind in TRACKED_KINDS:
            # The period is fixed now, from the agreement in force as the request is sent or received:
            # a later agreement version never moves an open deadline.
            agreement, case_rules = self.agreement_deadlines(link)
            period = period_for(event, agreement, case_rules=case_rules)
            if period:
                event = dataclasses.replace(event, facts=dataclasses.replace(event.facts, period_ms=period))
        return event

    def _update(
        self, link: LinkRow, state: LinkState, before: Stage, event: Event
    ) -> tuple[LinkUpdate, list[tuple[bytes, str]]]:
        now = self._clock()
        gate = ""
        if link.our_side is Side.IS and state.stage not in TERMINAL:
            gate = ",".join(sorted(evaluate(state, self.rules(link), now).missing))
        urgency = max(link.urgency, 0)
        update = LinkUpdate(
            link_id=link.link_id,
            stage=state.stage,
            stage_since_ms=state.stage_since_ms or now,
            urgency=urgency,
            gate_missing=gate,
            next_due_ms=None,
            flagged=len(state.flagged),
            closed=state.stage in TERMINAL,
            updated_at_ms=now,
            unit=link.unit,
        )
        leaves: list[tuple[bytes, str]] = []
        if state.stage is not before:
            leaf = audit_events.status_changed(
                at_ms=now, actor=event.actor, case_ref=link.case_ref, status=f"{before.value}→{state.stage.value}"
            )
            leaves.append((leaf, link.case_ref))
        return update, leaves

    def _seal_link(self, link_id: str) -> bytes:
        return self._cipher.seal(b"{}", purpose=_LINK_PURPOSE, message_id=link_id.encode())

    def seal_summary(self, link_id: str, raw: bytes) -> bytes:
        """A link's summary sealed for the case store, bound to the link."""
        return self._cipher.seal(raw, purpose=_SUMMARY_PURPOSE, message_id=link_id.encode())

    def open_summary(self, link_id: str, sealed: bytes) -> bytes:
        """A link's stored summary opened (raises DamagedData when it fails its integrity check)."""
        return self._cipher.open(sealed, purpose=_SUMMARY_PURPOSE, message_id=link_id.encode())

    def new_event(self, link_id: str, event: Event) -> NewCaseEvent:
        """The event sealed for the case store."""
        sealed = self._cipher.seal(
            encode_event(event), purpose=_EVENT_PURPOSE, message_id=_key(link_id, event.message_id)
        )
        return NewCaseEvent(
            link_id=link_id,
            message_id=event.message_id,
            origin=event.origin,
            kind=event.kind,
            at_ms=event.at_ms,
            sender_node=event.sender_node,
            sequence=event.sequence,
            payload=sealed,
        )

    async def assign_unit(self, link_id: str, unit: str, *, actor: str) -> None:
        """Give a link to a unit (an operator triaging); audited as a status change of the link."""
        if problem := unit_problem(unit):
            raise UsageError(f"unit: {problem}")
        link = await self.link(link_id)
        if link.unit == unit:
            return
        now = self._clock()
        update = LinkUpdate(
            link_id=link.link_id,
            stage=link.stage,
            stage_since_ms=link.stage_since_ms,
            urgency=link.urgency,
            gate_missing=link.gate_missing,
            next_due_ms=link.next_due_ms,
            flagged=link.flagged,
            closed=link.closed,
            updated_at_ms=now,
            unit=unit,
        )
        leaf = audit_events.status_changed(at_ms=now, actor=actor, case_ref=link.case_ref, status="unit assigned")
        await self._write(CaseWrite(updates=[update], leaves=[(leaf, link.case_ref)]))

    # -- reading --------------------------------------------------------------------------------

    async def link(self, link_id: str) -> LinkRow:
        link = await self._store.link(link_id)
        if link is None:
            raise NotFound(f"no case link {link_id}")
        return link


def _key(link_id: str, message_id: bytes) -> bytes:
    """What a sealed event is bound to: moving it to another link or message fails to open it."""
    return hashlib.sha256(link_id.encode() + b"\x00" + message_id).digest()[:16]


def _states(link: LinkRow, mine: str) -> tuple[str, str]:
    return (mine, link.partner_state) if link.our_side is Side.IS else (link.partner_state, mine)


def _as_row(new: NewLink) -> LinkRow:
    return LinkRow(
        link_id=new.link_id,
        case_id=new.case_id,
        case_ref=new.case_ref,
        partner_node=new.partner_node,
        partner_state=new.partner_state,
        our_side=new.our_side,
        unit=new.unit,
        created_at_ms=new.created_at_ms,
        payload=new.payload,
        stage=new.stage,
        stage_since_ms=new.created_at_ms,
        urgency=0,
        gate_missing="",
        next_due_ms=None,
        flagged=0,
        closed=False,
        updated_at_ms=new.created_at_ms,
    )
