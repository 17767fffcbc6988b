"""The local API's case calls (docs/cases.md; docs/protocol.md §8): decode, call the node's case
parts (``CaseWork``, ``CaseDesk``), encode.

What an official sends is judged in three places, each answering with its own status through the
one map (``focalpoint.net.status``): the body's rules, every problem at once, one a line
(``InvalidBody``, INVALID_ARGUMENT; the node's own completions left out,
``focalpoint.cases.submission``); the transition table and the return gate
(``PreconditionFailed``, FAILED_PRECONDITION, with the rule or the conditions missing); the
exchange's own checks at the outbox (agreement, recipient; INVALID_ARGUMENT). Nothing is queued
unless all pass.

Every call arrives admitted by the door (``focalpoint.server.door``) with its ``Caller``: the
account of the session and what the permission matrix allowed. Showing a link is a READ audit event
(the account, the reference, the partner, the view served and the purpose) committed before the
timeline leaves; with ``content``, each message's body is served in the caller's view
(``focalpoint.cases.views.project``). Listing the worklist is one LIST event with how many links it
showed: a case officer's own unit, a consul's own nationals, an operator's every link. Each
listed link carries what is owed on it each way (the earliest due date and how many are late),
read from the page's link summaries (``Summaries.owed``, docs/adr/0019), never by folding every
link; a consul, who is not served deadlines, gets none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import structlog
from google.protobuf.message import DecodeError

from focalpoint.audit import events as audit_events
from focalpoint.cases.disclosure import Period
from focalpoint.cases.events import Origin
from focalpoint.cases.forms import parse_form
from focalpoint.cases.gate import CONDITIONS
from focalpoint.cases.requests import Owed
from focalpoint.cases.submission import check_submission
from focalpoint.cases.views import project
from focalpoint.errors import DamagedData, NotFound, UsageError
from focalpoint.exchange.envelope import parse_payload
from focalpoint.exchange.rules import unit_problem
from focalpoint.ids import MAX_INT64, NODE_ID
from focalpoint.node.casedesk import CaseDesk, Draft, TimelineEntry
from focalpoint.node.casework import CaseWork, SendDefaults
from focalpoint.node.deadlines import Deadlines
from focalpoint.node.outbox import Submitted
from focalpoint.node.ports import Clock
from focalpoint.node.reports import Reports
from focalpoint.node.summaries import Summaries
from focalpoint.node.visits import ConsularVisits, RecordedVisit
from focalpoint.people import permissions
from focalpoint.people.permissions import Action, View
from focalpoint.people.roles import Account, Grant, Role
from focalpoint.server.door import Caller, Door
from focalpoint.storage.base import DamagedLink, DamagedRow, LinkRow, Store
from focalpoint.storage.cipher import OUTBOX_PURPOSE, StorageCipher, inbox_purpose
from focalpoint.v1 import local_pb2, messages_pb2

__all__ = ["CaseApi"]

log = structlog.get_logger("focalpoint.local_api")

_DAY_MS = 86_400_000
_MAX_LIST = 1000
_MAX_FORM_CHARS = 4 << 20
_DRAFT_LINKS_PAGE = 200
_DRAFT_LINKS_MAX = 10_000
# Whoever may send anything on a case may do one of these (``permissions.send_action``).
# The role each view of the ageing report is made for.
_AGEING_ROLES = {
    "unit": Role.CASE_OFFICER,
    "routing": Role.OPERATOR,
    "bilateral": Role.OPERATOR,
    "audit": Role.AUDITOR,
}
_SEND_ACTIONS = (Action.OPEN_SEND, Action.TRIAGE_REPLY, Action.POLICE_ALERT)


_NOTHING_OWED = Owed()


def summary(link: LinkRow, now_ms: int, owes: Owed | None = _NOTHING_OWED) -> local_pb2.CaseSummary:
    """A link as the worklist shows it: references, stages and counts, never a name or content;
    ``owes``: what is owed on it now each way (None: its deadlines could not be read)."""
    owes_ = owes or _NOTHING_OWED
    return local_pb2.CaseSummary(
        we_owe_due_ms=owes_.we_due_ms or 0,
        they_owe_due_ms=owes_.they_due_ms or 0,
        we_owe_overdue=owes_.we_overdue,
        they_owe_overdue=owes_.they_overdue,
        deadlines_unreadable=owes is None,
        link_id=link.link_id,
        case_id=link.case_id,
        case_ref=link.case_ref,
        partner_node=link.partner_node,
        partner_state=link.partner_state,
        our_side=link.our_side.value,
        stage=link.stage.value,
        stage_since_ms=link.stage_since_ms,
        days_in_stage=max(0, now_ms - link.stage_since_ms) // _DAY_MS,
        urgency=link.urgency,
        gate_missing=[c for c in link.gate_missing.split(",") if c],
        flagged=link.flagged,
        updated_at_ms=link.updated_at_ms,
        closed=link.closed,
        unit=link.unit,
    )


def _draft(d: Draft, case_ref: str, *, with_body: bool = False) -> local_pb2.CaseDraft:
    draft = local_pb2.CaseDraft(
        draft_id=d.draft_id, link_id=d.link_id, kind=d.kind, prepared_by=d.prepared_by, at_ms=d.at_ms, case_ref=case_ref
    )
    if with_body and d.body:
        draft.body.MergeFromString(d.body)
    return draft


def _send_defaults(
    found: SendDefaults, entries: Sequence[TimelineEntry], bodies: Mapping[bytes, messages_pb2.Body]
) -> local_pb2.SendDefaults:
    """What a form on the link starts from; the partner's unit from its latest message read here."""
    partner_unit = next(
        (
            bodies[e.message_id].context.sender_unit
            for e in reversed(entries)
            if e.origin == Origin.RECEIVED.value and e.message_id in bodies
        ),
        "",
    )
    return local_pb2.SendDefaults(
        agreement_id=found.agreement_id,
        code_list_version=found.code_list_version,
        working_languages=found.working_languages,
        kinds=found.kinds,
        partner_unit=partner_unit,
    )


def _sent(result: Submitted | Draft) -> local_pb2.SendCaseResponse:
    if isinstance(result, Draft):
        return local_pb2.SendCaseResponse(draft_id=result.draft_id, kind=result.kind)
    return local_pb2.SendCaseResponse(
        message_id=result.message_id, state=local_pb2.DeliveryState.ValueType(result.state.value)
    )


_PAGE = 200
_CONSUL_SCAN = 100_000  # links read for one page of a consul's list at most


# The views that hold a link's consular visits (coded only: no free text in either).
_VISIT_VIEWS = frozenset({View.FULL, View.REPATRIATION})


def _visit(v: RecordedVisit) -> local_pb2.RecordedConsularVisit:
    return local_pb2.RecordedConsularVisit(visit=v.visit, recorded_by=v.recorded_by, recorded_at_ms=v.recorded_at_ms)


def _limit(limit: int) -> int:
    return min(limit or 50, _MAX_LIST)


class CaseApi:
    def __init__(
        self,
        *,
        work: CaseWork,
        desk: CaseDesk,
        store: Store,
        clock_ms: Clock,
        door: Door,
        cipher: StorageCipher,
        deadlines: Deadlines | None = None,
    ) -> None:
        self._deadlines = deadlines
        self._work = work
        self._desk = desk
        self._store = store
        self._clock = clock_ms
        self._door = door
        self._cipher = cipher
        self._summaries = Summaries(work=work, store=store, clock_ms=clock_ms)
        self._visits = ConsularVisits(work=work, store=store.cases, clock_ms=clock_ms)

    async def open_case(self, request: local_pb2.OpenCaseRequest, caller: Caller) -> local_pb2.OpenCaseResponse:
        if not NODE_ID.match(request.partner_node):
            raise UsageError("partner_node must be a node id from the directory (e.g. al-shss)")
        if request.unit and (problem := unit_problem(request.unit)):
            raise UsageError(f"unit: {problem}")
        account = caller.account
        assert account is not None
        if request.unit and request.unit != account.unit:
            await self._door.refuse(caller, Action.OPEN_SEND, "a case officer opens cases of their own unit only")
        opened = await self._work.open_case(
            actor=caller.actor,
            partner_node=request.partner_node,
            identified_at_ms=request.identified_at_ms,
            unit=request.unit or account.unit,
            tracing=request.tracing,
        )
        return local_pb2.OpenCaseResponse(case_id=opened.case_id, link_id=opened.link_id, case_ref=opened.case_ref)

    async def list_cases(self, request: local_pb2.ListCasesRequest, caller: Caller) -> local_pb2.ListCasesResponse:
        if request.before_updated_at_ms < 0 or request.before_updated_at_ms > MAX_INT64:
            raise UsageError(f"before_updated_at_ms must be between 0 and {MAX_INT64}")
        if bool(request.before_updated_at_ms) != bool(request.before_link_id):
            raise UsageError(
                "page with both before_updated_at_ms and before_link_id (the last link listed), or neither"
            )
        before = (request.before_updated_at_ms, request.before_link_id) if request.before_link_id else None
        unit = request.unit if request.HasField("unit") else None
        account = caller.account
        assert account is not None
        everything = Role.OPERATOR in account.roles
        if not everything and Role.CASE_OFFICER in account.roles and Role.CONSULAR_OFFICER not in account.roles:
            if unit is not None and unit != account.unit:
                await self._door.refuse(caller, Action.LIST_CASES, "a case officer lists their own unit's cases only")
            unit = account.unit
        await self._work.catch_up()  # the worklist as of every committed message
        consul = not everything and unit != account.unit
        if consul:  # their own nationals only
            rows = await self._nationals(account, unit, _limit(request.limit), before, request.include_closed)
        else:
            rows = await self._store.cases.worklist(
                unit, limit=_limit(request.limit), before=before, include_closed=request.include_closed
            )
        # The due dates come from the page's link summaries; a consul is not served deadlines.
        links = [r for r in rows if isinstance(r, LinkRow)]
        owes: dict[str, Owed | None] = {} if consul else await self._summaries.owed(links)
        now = self._clock()
        listed = audit_events.listed(at_ms=now, actor=caller.actor, count=len(rows), what="case list")
        await self._store.audit.record([listed])  # committed before the list leaves
        cases = [
            local_pb2.CaseSummary(link_id=r.link_id, unreadable=r.reason)
            if isinstance(r, DamagedLink)
            else summary(r, now, owes.get(r.link_id, _NOTHING_OWED))
            for r in rows
        ]
        return local_pb2.ListCasesResponse(cases=cases)

    async def get_indicators(
        self, request: local_pb2.GetIndicatorsRequest, caller: Caller
    ) -> local_pb2.GetIndicatorsResponse:
        """An auditor's national output (suppressed, ended periods only) or a case officer's own-unit
        dashboard (exact); the INDICATOR_READ event is committed before the figures leave."""
        account = caller.account
        assert account is not None
        now = self._clock()
        period = Period.parse(request.period, now_ms=now)
        if request.unit_dashboard:
            if Role.CASE_OFFICER not in account.roles or not account.unit:
                await self._door.refuse(caller, Action.INDICATORS, "the own-unit dashboard is for case officers")
            scope = f"unit {account.unit}"
        else:
            if Role.AUDITOR not in account.roles:
                await self._door.refuse(
                    caller, Action.INDICATORS, "national indicators are for auditors; officers see their unit's"
                )
            scope = "national"
        await self._work.catch_up()  # as of every committed message
        reports = Reports(work=self._work, store=self._store, clock_ms=self._clock)
        result = await (reports.own_unit(period, account.unit) if request.unit_dashboard else reports.national(period))
        leaf = audit_events.indicator_read(at_ms=self._clock(), actor=caller.actor, period=str(period), scope=scope)
        await self._store.audit.record([leaf])
        return local_pb2.GetIndicatorsResponse(
            outputs_json=[json.dumps(o.as_dict(), ensure_ascii=False, sort_keys=True) for o in result.outputs],
            unreadable_links=result.unreadable_links,
        )

    async def get_ageing(self, request: local_pb2.GetAgeingRequest, caller: Caller) -> local_pb2.GetAgeingResponse:
        """One view of the ageing report, for the role it is made for (case officer: unit;
        operator: routing, bilateral; auditor: audit); the INDICATOR_READ event ("ageing <view>")
        is committed before the figures leave."""
        account = caller.account
        assert account is not None
        view = request.view or "unit"
        if view not in _AGEING_ROLES:
            raise UsageError("view must be unit, routing, bilateral or audit")
        role = _AGEING_ROLES[view]
        if role not in account.roles or (view == "unit" and not account.unit):
            await self._door.refuse(caller, Action.AGEING, f"the {view} ageing view is for the {role.value} role")
        await self._work.catch_up()
        reports = Reports(work=self._work, store=self._store, clock_ms=self._clock)
        result = await reports.ageing(view, account.unit if view == "unit" else "")
        scope = f"unit {account.unit}" if view == "unit" else "node"
        leaf = audit_events.indicator_read(
            at_ms=self._clock(), actor=caller.actor, period=f"ageing {view}", scope=scope
        )
        await self._store.audit.record([leaf])
        return local_pb2.GetAgeingResponse(
            report_json=json.dumps(result.view.as_dict(), ensure_ascii=False, sort_keys=True),
            unreadable_links=result.unreadable_links,
        )

    async def _nationals(
        self, account: Account, unit: str | None, limit: int, before: tuple[int, str] | None, closed: bool
    ) -> list[LinkRow | DamagedLink]:
        """A page of the links a consul reaches: read on past the links they do not (other States'
        children, other districts), so a busy node never hands a consul a short page while more of
        their nationals' cases follow. The States are judged from the link's columns first; only a
        candidate is folded for the State of origin's nationality answer. At most ``_CONSUL_SCAN``
        links are read for one page."""
        out: list[LinkRow | DamagedLink] = []
        cursor, scanned = before, 0
        while len(out) < limit and scanned < _CONSUL_SCAN:
            page = await self._store.cases.worklist(unit, limit=_PAGE, before=cursor, include_closed=closed)
            for row in page:
                scanned += 1
                if (
                    isinstance(row, LinkRow)
                    and self._may_be_national(account, row)
                    and await self._reaches(account, row)
                ):
                    out.append(row)
                    if len(out) == limit:
                        return out
            readable = [r for r in page if isinstance(r, LinkRow)]
            if len(page) < _PAGE or not readable:
                break
            cursor = (readable[-1].updated_at_ms, readable[-1].link_id)
        return out

    def _may_be_national(self, account: Account, link: LinkRow) -> bool:
        is_state, os_state = self._work.states(link)
        return os_state == account.consular_state and is_state in account.district

    async def _reaches(self, account: Account, link: LinkRow) -> bool:
        target = await self._door.target(link, account)
        return permissions.read(account, target)[1].allowed

    async def assign_unit(self, link_id: str, unit: str, *, actor: str) -> None:
        await self._work.assign_unit(link_id, unit, actor=actor)

    async def link_of_ref(self, case_ref: str) -> LinkRow | None:
        """The link a case reference names (references are minted per link)."""
        if not case_ref or len(case_ref) > 128:
            raise UsageError("case_ref must be 1 to 128 characters")
        return next((r for r in await self._store.cases.links_of_ref(case_ref) if isinstance(r, LinkRow)), None)

    async def find(self, link_id: str, case_ref: str, partner_node: str) -> LinkRow:
        if link_id:
            return await self._work.link(link_id)
        if not case_ref or not partner_node:
            raise UsageError("name the link: link_id, or case_ref with partner_node")
        link = await self._store.cases.link_by_ref(case_ref, partner_node)
        if link is None:
            raise NotFound("no case link with that reference and partner")
        return link

    async def show_case(self, request: local_pb2.ShowCaseRequest, caller: Caller) -> local_pb2.ShowCaseResponse:
        found = caller.link
        assert found is not None
        link, entries, gate, beside = await self._desk.timeline(found.link_id)
        view = caller.view
        full = view is View.FULL
        drafts = await self._desk.drafts(link.link_id) if full else []
        bodies = await self._bodies(link, [e.message_id for e in entries]) if request.content else {}
        visits = await self._visits.of_link(link) if view in _VISIT_VIEWS else []
        now = self._clock()
        await self._door.served(caller, link)  # the READ event is committed before the timeline leaves
        response = local_pb2.ShowCaseResponse(
            link=summary(link, now),
            timeline=[
                local_pb2.CaseTimelineEntry(
                    at_ms=e.at_ms,
                    kind=e.kind,
                    direction=e.origin.lower(),
                    message_id=e.message_id,
                    stage_after=e.stage_after,
                    flagged=e.flagged if full else "",
                    body=project(view, bodies[e.message_id])
                    if e.message_id in bodies and view is not View.METADATA
                    else None,
                )
                for e in entries
            ],
            drafts=[_draft(d, link.case_ref, with_body=request.content) for d in drafts],
            side_states=beside if view in (View.FULL, View.REPATRIATION) else [],
            view=view.value,
            purpose=caller.decision.purpose.value,
            consular_visits=[_visit(v) for v in visits],
        )
        if full:
            response.send_defaults.CopyFrom(_send_defaults(self._work.send_defaults(link), entries, bodies))
        if gate is not None and full:
            response.gate.extend(
                local_pb2.GateCheck(
                    condition=c, met=c in gate.met, reason=gate.missing.get(c, ""), waived=c in gate.waived
                )
                for c in CONDITIONS
            )
        return response

    async def record_consular_visit(self, request: local_pb2.RecordConsularVisitRequest, caller: Caller) -> None:
        """Keep a consular visit on the link the door admitted the caller to (docs/consuls.md)."""
        link = caller.link
        assert link is not None
        if not request.HasField("visit"):
            raise UsageError("visit: give the visit (its day, place, the travel document's progress, …)")
        await self._visits.record(link, request.visit, actor=caller.actor)

    async def case_deadlines(self, caller: Caller) -> local_pb2.CaseDeadlinesResponse:
        """The link's requests with their deadlines and its guardian deadline: times, kinds and
        ladder levels, never content. Served in the ROUTING view, a READ event committed first."""
        link = caller.link
        assert link is not None
        if self._deadlines is None:
            raise UsageError("this node does not track deadlines")
        found = await self._deadlines.of_link(link.link_id)
        await self._door.served(caller, link)
        response = local_pb2.CaseDeadlinesResponse(
            case_ref=link.case_ref,
            link_id=link.link_id,
            requests=[
                local_pb2.RequestDeadline(
                    message_id=r.message_id,
                    kind=r.kind,
                    direction="we asked" if r.we_asked else "they asked",
                    urgency=r.urgency,
                    started_at_ms=r.started_at_ms or 0,
                    due_ms=r.due_ms or 0,
                    overdue_ms=r.overdue_ms,
                    stopped=r.stopped,
                    answered_at_ms=r.answered_at_ms or 0,
                    levels_done=list(r.levels_done),
                )
                for r in found.requests
            ],
        )
        if found.guardian is not None:
            g = found.guardian
            response.guardian.CopyFrom(
                local_pb2.GuardianDeadline(
                    identified_at_ms=g.identified_at_ms,
                    deadline_ms=g.deadline_ms,
                    appointed_at_ms=g.appointed_at_ms or 0,
                    breached=g.breached,
                )
            )
        return response

    async def _bodies(self, link: LinkRow, message_ids: list[bytes]) -> dict[bytes, messages_pb2.Body]:
        """The stored bodies of a link's messages (a damaged or withdrawn one is left out)."""
        out: dict[bytes, messages_pb2.Body] = {}
        for message_id in message_ids:
            sent = await self._store.outbox.get(message_id)
            try:
                if sent is not None and sent.recipient == link.partner_node and sent.local_copy:
                    raw = self._cipher.open(sent.local_copy, purpose=OUTBOX_PURPOSE, message_id=message_id)
                    out[message_id] = parse_payload(raw).body
                    continue
                got = await self._store.inbox.get(link.partner_node, message_id)
                if got is not None and got.local_copy:
                    raw = self._cipher.open(got.local_copy, purpose=inbox_purpose(got.sender), message_id=message_id)
                    out[message_id] = parse_payload(raw).body
            except (DamagedData, DecodeError):  # shown without its body; GetMessage names the damage
                log.warning("stored_row_unreadable", table="case body", reason="integrity check or parse failed")
        return out

    async def send_case(self, request: local_pb2.SendCaseRequest, caller: Caller) -> local_pb2.SendCaseResponse:
        if not request.link_id:
            raise UsageError("link_id is required")
        if len(request.client_request_id) > 128:
            raise UsageError("client_request_id is longer than 128 characters")
        link = caller.link
        assert link is not None
        await self._door.may_any(caller, _SEND_ACTIONS, link)
        now = self._clock()
        content = request.WhichOneof("content")
        if content == "form_json":
            body = _form(request.form_json, now)
            caller = await self._door.decide(caller, permissions.send_action(body), link)
        elif content == "body":
            body = messages_pb2.Body()
            body.CopyFrom(request.body)
            caller = await self._door.decide(caller, permissions.send_action(body), link)
            check_submission(body, now_ms=now)
        else:
            raise UsageError("give the message as body or as form_json")
        result = await self._desk.send(
            request.link_id,
            body,
            actor=caller.actor,
            in_reply_to=request.in_reply_to,
            client_request_id=request.client_request_id or None,
        )
        return _sent(result)

    async def approve_draft(self, request: local_pb2.ApproveDraftRequest, caller: Caller) -> local_pb2.SendCaseResponse:
        if not request.link_id or not request.draft_id:
            raise UsageError("link_id and draft_id are required")
        account = caller.account
        assert account is not None
        may_override = Grant.OVERRIDE in account.grants
        if not may_override and await self._desk.draft_overrides(request.link_id, request.draft_id):
            await self._door.decide(caller, Action.APPROVE_OVERRIDE, caller.link)
        approved = await self._desk.approve(
            request.link_id, request.draft_id, approver=caller.actor, may_override=may_override
        )
        return _sent(approved)

    async def list_drafts(self, request: local_pb2.ListDraftsRequest, caller: Caller) -> local_pb2.ListDraftsResponse:
        account = caller.account
        assert account is not None
        if request.link_id:
            link = await self._work.link(request.link_id)
            if link.unit != account.unit:
                await self._door.refuse(caller, Action.OPEN_SEND, "drafts of another unit's case", link=link)
            return local_pb2.ListDraftsResponse(
                drafts=[_draft(d, link.case_ref) for d in await self._desk.drafts(link.link_id)]
            )
        drafts: list[local_pb2.CaseDraft] = []
        before: tuple[int, str] | None = None
        for _ in range(_DRAFT_LINKS_MAX // _DRAFT_LINKS_PAGE):  # every open link, a page at a time
            rows = await self._store.cases.worklist(account.unit, limit=_DRAFT_LINKS_PAGE, before=before)
            for r in rows:
                if isinstance(r, LinkRow):
                    drafts.extend(_draft(d, r.case_ref) for d in await self._desk.drafts(r.link_id))
            readable = [r for r in rows if isinstance(r, LinkRow)]
            if len(rows) < _DRAFT_LINKS_PAGE or not readable:
                break
            before = (readable[-1].updated_at_ms, readable[-1].link_id)
        return local_pb2.ListDraftsResponse(drafts=sorted(drafts, key=lambda d: d.at_ms, reverse=True))

    async def list_parked(self, request: local_pb2.ListRequest) -> local_pb2.ListParkedResponse:
        if request.before > MAX_INT64:
            raise UsageError(f"before must be at most {MAX_INT64} (a sequence number)")
        rows = await self._store.cases.parked(_limit(request.limit), request.before)
        entries = [
            local_pb2.ParkedEntry(seq=r.seq, message_id=r.message_id, sender_node=r.peer, unreadable=r.reason)
            if isinstance(r, DamagedRow)
            else local_pb2.ParkedEntry(
                seq=r.seq,
                sender_node=r.sender,
                message_id=r.message_id,
                case_ref=r.case_ref,
                kind=r.kind,
                at_ms=r.at_ms,
                reason=r.reason,
            )
            for r in rows
        ]
        return local_pb2.ListParkedResponse(entries=entries)


def _form(text: str, now_ms: int) -> messages_pb2.Body:
    """A Body from a filled form as JSON; InvalidBody with every problem, UsageError if it is no JSON object."""
    if len(text) > _MAX_FORM_CHARS:
        raise UsageError(f"form_json is longer than {_MAX_FORM_CHARS} characters")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"form_json is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from e
    if not isinstance(data, dict):
        raise UsageError("form_json must be a JSON object (code_list_version, context and one kind)")
    return parse_form(data, now_ms=now_ms, submission=True)
