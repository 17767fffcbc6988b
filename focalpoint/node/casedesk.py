"""What officials do on a case: send a message (the node completes what only it can know),
keep a message that needs a second person as a draft, approve it, and read a link's timeline.

``send`` completes a body before it is signed: every ``EvidenceRef`` naming a message of the
link gets that message's exact body hash and kind (the official names the message; the node
binds its bytes), and a cross-border move signed by the identifying State gets the return
gate's status, evaluated now from the link's evidence (``focalpoint.cases.gate``). It refuses,
before anything is queued, a gate that is not met unless an override in the body waives what is
missing and a second person approved it. Kinds that need a second person are kept as drafts
(a local event, sealed like every case event) until another user approves them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any

from google.protobuf.message import Message

from focalpoint.audit import events as audit_events
from focalpoint.cases.events import Event, Origin
from focalpoint.cases.facts import code_name, facts_of
from focalpoint.cases.gate import GateResult, Override, evaluate, override_problems
from focalpoint.cases.sidestates import side_states
from focalpoint.cases.stages import Side
from focalpoint.cases.transitions import CONTACT_STRICTNESS
from focalpoint.errors import NotFound, PermissionDenied, PreconditionFailed, UsageError
from focalpoint.node.casework import CaseWork
from focalpoint.node.outbox import Outbox, Submitted
from focalpoint.node.ports import Clock
from focalpoint.storage.base import CaseStore, CaseWrite, LinkRow
from focalpoint.v1 import codes_pb2, common_pb2, messages_pb2

__all__ = ["CaseDesk", "Draft", "TimelineEntry"]

_CODE_LIST_VERSION = "2026.1"
_CROSSING_KINDS = frozenset(
    {"durable_solution_proposal", "durable_solution_counter_proposal", "durable_solution_agreement"}
)


@dataclasses.dataclass(frozen=True, slots=True)
class Draft:
    draft_id: str
    link_id: str
    kind: str
    prepared_by: str
    at_ms: int
    body: bytes = b""  # the Body as prepared, for the approver to read


@dataclasses.dataclass(frozen=True, slots=True)
class TimelineEntry:
    at_ms: int
    kind: str
    origin: str
    message_id: bytes
    stage_after: str
    flagged: str  # why the message was not applied; empty when it was


class CaseDesk:
    def __init__(self, *, work: CaseWork, outbox: Outbox, store: CaseStore, clock_ms: Clock) -> None:
        self._work = work
        self._outbox = outbox
        self._store = store
        self._clock = clock_ms

    async def send(
        self,
        link_id: str,
        body: messages_pb2.Body,
        *,
        actor: str,
        in_reply_to: bytes = b"",
        client_request_id: str | None = None,
    ) -> Submitted | Draft:
        """Complete ``body`` and queue it to the link's partner, or keep it as a draft if a second
        person must approve it; raises UsageError for anything the official must fix."""
        await self._work.catch_up()
        link = await self._work.link(link_id)
        body.context.case_ref = body.context.case_ref or link.case_ref
        if body.context.case_ref != link.case_ref:
            raise UsageError("the body's context.case_ref names another link")
        await self._bind_references(link, body)
        await self._carry_family_rule(link, body)
        # A second person's approval is recorded by the node from that person's session
        # (``approve``), never taken from what the preparer typed: a kind that needs one, and any
        # gate override, waits as a draft.
        if await self._work.needs_approval(link, body, in_reply_to) or _carries_override(body):
            return await self._keep_draft(link, body, actor, in_reply_to)
        await self._work.check(link.partner_node, body, in_reply_to, skip=frozenset({"gate"}))
        await self._gate(link, body)
        submitted = await self._outbox.submit(
            link.partner_node, body, in_reply_to=in_reply_to, client_request_id=client_request_id
        )
        await self._record_override(link, body, actor)
        return submitted

    async def approve(self, link_id: str, draft_id: str, *, approver: str, may_override: bool = False) -> Submitted:
        """A second person approves a draft: the node records who prepared and who approved, and sends it.
        A draft carrying a gate override needs an approver who holds the override grant (``may_override``)."""
        await self._work.catch_up()
        link = await self._work.link(link_id)
        drafts = {d.message_id.hex(): d for d in await self._work.events(link) if d.kind == "local:draft"}
        done = {d.facts.refers_to.hex() for d in await self._work.events(link) if d.kind == "local:draft_sent"}
        event = drafts.get(draft_id)
        if event is None or draft_id in done:
            raise NotFound(f"no open draft {draft_id} on link {link_id}")
        if approver == event.actor:
            raise PermissionDenied("the person who prepared a message cannot approve it; another user must")
        body = messages_pb2.Body.FromString(event.attachment)
        now = self._clock()
        record = messages_pb2.ApprovalRecord(prepared_by=event.actor, approved_by=approver, approved_at_ms=now)
        _set_approval(body, record)
        gate = _gate_target(body, body.WhichOneof("kind") or "")
        if gate is not None and gate.HasField("override"):
            gate.override.approval.CopyFrom(record)
        await self._carry_family_rule(link, body)
        await self._work.check(link.partner_node, body, event.in_reply_to, skip=frozenset({"gate"}))
        await self._gate(link, body, may_override=may_override)
        submitted = await self._outbox.submit(
            link.partner_node, body, in_reply_to=event.in_reply_to, client_request_id=f"draft-{draft_id}"
        )
        await self._record_override(link, body, approver)
        sent = Event(
            kind="local:draft_sent",
            origin=Origin.LOCAL,
            sender_side=link.our_side,
            sender_node="",
            at_ms=now,
            message_id=b"sent:" + event.message_id,
            actor=approver,
            facts=dataclasses.replace(event.facts, refers_to=event.message_id),
        )
        await self._store.apply(CaseWrite(events=[self._work.new_event(link.link_id, sent)]))
        return submitted

    async def draft_overrides(self, link_id: str, draft_id: str) -> bool:
        """Whether an open draft carries a return-gate override (its approver needs the override grant)."""
        link = await self._work.link(link_id)
        for d in await self._work.events(link):
            if d.kind == "local:draft" and d.message_id.hex() == draft_id:
                return _carries_override(messages_pb2.Body.FromString(d.attachment))
        return False

    async def acknowledge_applied(self, link_id: str, applied: Event) -> Submitted:
        """Answer a partner's amendment or withdrawal, once applied here, with acknowledgement(APPLIED).

        Sent by the node itself; a repeat (after a restart) is the same request, never a second message.
        """
        link = await self._work.link(link_id)
        directory = self._work.directory()
        me = directory.node(self._work.me)
        body = messages_pb2.Body(
            code_list_version=_CODE_LIST_VERSION,
            context=messages_pb2.CaseContext(
                case_ref=link.case_ref,
                sender_unit=link.unit or (me.institution if me else ""),
                urgency=messages_pb2.URGENCY_ROUTINE,
            ),
            acknowledgement=messages_pb2.Acknowledgement(
                kind=codes_pb2.ACK_KIND_APPLIED,
                acknowledges=messages_pb2.EvidenceRef(
                    message_id=applied.message_id, body_sha256=applied.body_sha256, kind=applied.kind
                ),
            ),
        )
        await self._carry_family_rule(link, body)
        return await self._outbox.submit(
            link.partner_node,
            body,
            in_reply_to=applied.message_id,
            client_request_id=f"applied-{applied.message_id.hex()}",
        )

    def _node_body(self, link: LinkRow) -> messages_pb2.Body:
        """The start of a body the node itself sends on ``link`` (no personal data, routine)."""
        me = self._work.directory().node(self._work.me)
        return messages_pb2.Body(
            code_list_version=_CODE_LIST_VERSION,
            context=messages_pb2.CaseContext(
                case_ref=link.case_ref,
                sender_unit=link.unit or (me.institution if me else ""),
                urgency=messages_pb2.URGENCY_ROUTINE,
            ),
        )

    async def remind(
        self, link_id: str, request: Event, *, level: int, was_due_ms: int, occurrence: int = 0
    ) -> Submitted:
        """Send the partner a ``reminder`` at ``level`` (an EscalationLevel code) about our ``request``,
        which was due at ``was_due_ms``. Sent by the node; each level is one request id, so a repeat
        (after a restart) is the same message, never a second one. ``occurrence`` tells apart the
        expected messages hung on one ``request`` (the follow-up reports of one return)."""
        link = await self._work.link(link_id)
        body = self._node_body(link)
        body.reminder.CopyFrom(
            messages_pb2.Reminder(
                about=messages_pb2.EvidenceRef(
                    message_id=request.message_id, body_sha256=request.body_sha256, kind=request.kind
                ),
                level=codes_pb2.EscalationLevel.ValueType(level),
                was_due=_date(was_due_ms),
            )
        )
        await self._carry_family_rule(link, body)
        return await self._outbox.submit(
            link.partner_node,
            body,
            client_request_id=f"reminder-{level}-{request.message_id.hex()}" + (f"-{occurrence}" if occurrence else ""),
        )

    async def note_reminder(self, link_id: str, reminder: Event, *, expected_by_ms: int | None) -> Submitted:
        """Answer a partner's ``reminder`` with acknowledgement(REMINDER_NOTED, expected_by): the
        request's due date as it stands (none when its clock has not started). Sent by the node, once."""
        link = await self._work.link(link_id)
        body = self._node_body(link)
        ack = messages_pb2.Acknowledgement(
            kind=codes_pb2.ACK_KIND_REMINDER_NOTED,
            acknowledges=messages_pb2.EvidenceRef(
                message_id=reminder.message_id, body_sha256=reminder.body_sha256, kind=reminder.kind
            ),
        )
        if expected_by_ms is not None:
            ack.expected_by.CopyFrom(_date(expected_by_ms))
        body.acknowledgement.CopyFrom(ack)
        await self._carry_family_rule(link, body)
        return await self._outbox.submit(
            link.partner_node,
            body,
            in_reply_to=reminder.message_id,
            client_request_id=f"noted-{reminder.message_id.hex()}",
        )

    async def drafts(self, link_id: str) -> list[Draft]:
        await self._work.catch_up()
        link = await self._work.link(link_id)
        events = await self._work.events(link)
        done = {e.facts.refers_to for e in events if e.kind == "local:draft_sent"}
        return [
            Draft(
                e.message_id.hex(),
                link_id,
                messages_pb2.Body.FromString(e.attachment).WhichOneof("kind") or "",
                e.actor,
                e.at_ms,
                e.attachment,
            )
            for e in events
            if e.kind == "local:draft" and e.message_id not in done
        ]

    async def timeline(self, link_id: str) -> tuple[LinkRow, list[TimelineEntry], GateResult | None, list[str]]:
        """The link, its messages in the order folded with the stage after each, (identifying State)
        the gate as it stands now, and the side states running beside the stage
        (``focalpoint.cases.sidestates``); the link's events are read and folded once."""
        await self._work.catch_up()
        link = await self._work.link(link_id)
        events = await self._work.events(link)
        state = await self._work.state(link, events=events)
        flagged = {f.message_id: f.reason for f in state.flagged}
        stage = "OPEN"
        changes = iter(sorted(state.history, key=lambda h: h[0]))
        pending = next(changes, None)
        entries = []
        for e in sorted((e for e in events if e.origin is not Origin.LOCAL), key=lambda e: (e.at_ms, e.sequence)):
            while pending is not None and pending[0] <= e.at_ms:
                stage = pending[2].value
                pending = next(changes, None)
            entries.append(
                TimelineEntry(e.at_ms, e.kind, e.origin.value, e.message_id, stage, flagged.get(e.message_id, ""))
            )
        rules = self._work.rules(link)
        gate = evaluate(state, rules, self._clock()) if link.our_side is Side.IS else None
        gate_met = None if gate is None else not (set(gate.missing) - rules.waivable)
        beside = side_states(state, now_ms=self._clock(), suspended=self._work.suspended(link), gate_met=gate_met)
        return link, entries, gate, beside

    # -- completing a body --------------------------------------------------------------------

    async def _keep_draft(self, link: LinkRow, body: messages_pb2.Body, actor: str, in_reply_to: bytes) -> Draft:
        if not actor:
            raise UsageError("a draft needs the preparing user (a session's account) so another user can approve it")
        await self._work.check(
            link.partner_node, _with_placeholder_approval(body, actor), in_reply_to, skip=frozenset({"gate"})
        )
        now = self._clock()
        draft_id = hashlib.sha256(body.SerializeToString() + actor.encode() + str(now).encode()).digest()[:16]
        event = Event(
            kind="local:draft",
            origin=Origin.LOCAL,
            sender_side=link.our_side,
            sender_node="",
            at_ms=now,
            message_id=draft_id,
            in_reply_to=in_reply_to,  # the approved message answers what the draft answered
            actor=actor,
            attachment=body.SerializeToString(),
        )
        await self._store.apply(CaseWrite(events=[self._work.new_event(link.link_id, event)]))
        return Draft(draft_id.hex(), link.link_id, body.WhichOneof("kind") or "", actor, now)

    async def _carry_family_rule(self, link: LinkRow, body: messages_pb2.Body) -> None:
        """The State of origin's messages carry the identifying State's family-contact rule, or a stricter
        one: the rule is sticky (only the State that set it may relax it), so a laxer one is raised to it."""
        if link.our_side is not Side.OS:
            return
        rule = (await self._work.state(link)).family_contact
        if rule and CONTACT_STRICTNESS.get(
            code_name(codes_pb2.FamilyContactRule, body.context.flags.family_contact), 0
        ) < (CONTACT_STRICTNESS.get(rule, 0)):
            body.context.flags.family_contact = codes_pb2.FamilyContactRule.Value(f"FAMILY_CONTACT_RULE_{rule}")

    async def _record_override(self, link: LinkRow, body: messages_pb2.Body, actor: str) -> None:
        """A message signed with a gate override leaves a ``gate:override`` audit leaf naming what it waived."""
        target = _gate_target(body, body.WhichOneof("kind") or "")
        if target is None or not target.HasField("override"):
            return
        waived = ",".join(sorted(code_name(codes_pb2.GateCondition, w) for w in target.override.waived))
        reason = code_name(codes_pb2.OverrideReason, target.override.reason)
        leaf = audit_events.status_changed(
            at_ms=self._clock(), actor=actor, case_ref=link.case_ref, status=f"gate:override {reason} waives {waived}"
        )
        await self._store.apply(CaseWrite(leaves=[(leaf, link.case_ref)]))

    async def _bind_references(self, link: LinkRow, body: messages_pb2.Body) -> None:
        known = {e.message_id: e for e in await self._work.events(link) if e.origin is not Origin.LOCAL}
        for ref in _evidence_refs(body):
            if not ref.message_id:
                continue
            event = known.get(ref.message_id)
            if event is None:
                raise UsageError(f"message {ref.message_id.hex()} is not a message of this link")
            if ref.body_sha256 and ref.body_sha256 != event.body_sha256:
                raise UsageError(
                    f"the body hash given for message {ref.message_id.hex()} is not the one it was signed with"
                )
            ref.body_sha256 = event.body_sha256
            ref.kind = ref.kind or event.kind

    async def _gate(self, link: LinkRow, body: messages_pb2.Body, *, may_override: bool = False) -> None:
        """Set the gate status on a cross-border move the identifying State signs; refuse an unmet gate."""
        kind = body.WhichOneof("kind") or ""
        target = _gate_target(body, kind)
        if link.our_side is not Side.IS or target is None:
            return
        state = await self._work.state(link)
        now = self._clock()
        facts = facts_of(body, at_ms=now)[1]  # the solution and where it is carried out, as the fold reads them
        if kind in _CROSSING_KINDS and (not facts.solution_state or facts.solution_state == state.is_state):
            return
        result = evaluate(state, self._work.rules(link), now, solution=facts.solution)
        waived_by_agreement = self._work.rules(link).waivable
        still = set(result.missing) - waived_by_agreement
        override = target.override if target.HasField("override") else None
        if still and override is None:
            raise PreconditionFailed(
                "the return gate is not met: "
                + "; ".join(f"{c}: {result.missing[c]}" for c in sorted(still))
                + ". Gather the evidence, or record an override (reason, justification, a second person's approval)"
            )
        if still and override is not None:
            left = GateResult(result.met, {c: result.missing[c] for c in still})
            problems = override_problems(
                _override(override, may_override),
                left,
                missing_now=state.missing,
                attested=body.context.attestation.no_foreseeable_danger,
                now_ms=now,
            )
            if problems:
                raise PreconditionFailed("the override cannot be used: " + "; ".join(problems))
        target.ClearField("met")
        target.ClearField("missing")
        target.met.extend(_condition(c) for c in sorted(result.met))
        target.missing.extend(_condition(c) for c in sorted(result.missing))
        target.evaluated_at_ms = now
        if not still:
            target.ClearField("override")


def _date(ms: int) -> common_pb2.Date:
    """The UTC calendar day of ``ms`` (due dates travel as days)."""
    day = dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date()
    return common_pb2.Date(year=day.year, month=day.month, day=day.day)


def _condition(name: str) -> codes_pb2.GateCondition.ValueType:
    return codes_pb2.GateCondition.Value(f"GATE_CONDITION_{name}")


def _carries_override(body: messages_pb2.Body) -> bool:
    gate = _gate_target(body, body.WhichOneof("kind") or "")
    return gate is not None and gate.HasField("override")


def _override(o: messages_pb2.GateOverride, may_override: bool) -> Override:
    return Override(
        waived=frozenset(code_name(codes_pb2.GateCondition, w) for w in o.waived),
        reason=code_name(codes_pb2.OverrideReason, o.reason) if o.reason else "",
        justification=o.justification.text or o.justification.original_text,
        prepared_by=o.approval.prepared_by,
        approved_by=o.approval.approved_by,
        approved_at_ms=o.approval.approved_at_ms,
        approver_may_override=may_override,
    )


def _gate_target(body: messages_pb2.Body, kind: str) -> messages_pb2.GateStatus | None:
    if kind == "durable_solution_proposal":
        return body.durable_solution_proposal.gate
    if kind == "durable_solution_counter_proposal":
        return body.durable_solution_counter_proposal.proposal.gate
    if kind == "durable_solution_agreement":
        return body.durable_solution_agreement.gate
    if kind == "repatriation_plan_acceptance":
        return body.repatriation_plan_acceptance.gate
    if kind == "return_status_update" and body.return_status_update.status == codes_pb2.RETURN_STATUS_DEPARTED:
        return body.return_status_update.gate
    return None


def _approval_target(body: messages_pb2.Body) -> messages_pb2.ApprovalRecord | None:
    kind = body.WhichOneof("kind")
    if kind == "durable_solution_counter_proposal":
        return body.durable_solution_counter_proposal.proposal.approval
    inner: Any = getattr(body, kind) if kind else None
    if inner is not None and "approval" in inner.DESCRIPTOR.fields_by_name:
        approval: messages_pb2.ApprovalRecord = inner.approval
        return approval
    return None


def _set_approval(body: messages_pb2.Body, record: messages_pb2.ApprovalRecord) -> None:
    target = _approval_target(body)
    if target is None:
        raise UsageError("this kind of message has no approval")
    target.CopyFrom(record)


def _with_placeholder_approval(body: messages_pb2.Body, actor: str) -> messages_pb2.Body:
    """The draft as it will be judged once approved (by someone other than ``actor``)."""
    copy = messages_pb2.Body()
    copy.CopyFrom(body)
    _set_approval(
        copy, messages_pb2.ApprovalRecord(prepared_by=actor, approved_by=f"{actor}~approver", approved_at_ms=1)
    )
    return copy


def _evidence_refs(message: Message) -> list[messages_pb2.EvidenceRef]:
    out: list[messages_pb2.EvidenceRef] = []
    for field, value in message.ListFields():
        values = value if field.is_repeated else [value]
        for v in values:
            if isinstance(v, messages_pb2.EvidenceRef):
                out.append(v)
            elif isinstance(v, Message):
                out.extend(_evidence_refs(v))
    return out
