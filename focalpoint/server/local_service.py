"""The local API: how this institution's own users (CLI, later the web console) use the node.

Served on a separate, loopback-bound port. Every method is admitted at one door
(``focalpoint.server.door``): a person's session, checked against the permission matrix of the
pure core (``focalpoint.people.permissions``), or, for the few calls that read no case data, the
node's machine credential. The audit log names the session's account. The case calls (open,
list, show, send, approve, drafts, parked) are ``focalpoint.server.case_api``; accounts, sessions,
break-glass and the access review are ``focalpoint.server.people_api``. Reading a message
decrypts the node's local copy only for the duration of the call, and only after the READ event
is committed: no read goes unlogged.
A list shows every row it can read and marks the others ``unreadable`` (why, never their
content), so one damaged row never hides the rest; reading that one row fails with DATA_LOSS.
The servicer gets the parts it uses; errors become statuses through ``focalpoint.net.status``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import grpc
import structlog
from google.protobuf.message import DecodeError

from directory.health import directory_health
from directory.trust import carried_code_list
from focalpoint.audit import events as audit_events
from focalpoint.audit.verify import check_log
from focalpoint.cases.views import project
from focalpoint.errors import DamagedData, NotFound, PreconditionFailed, UsageError
from focalpoint.exchange.body import case_ref_of
from focalpoint.exchange.envelope import parse_payload
from focalpoint.ids import MAX_INT64
from focalpoint.node.checkpoints import Checkpoints
from focalpoint.node.directory_cache import DirectoryCache
from focalpoint.node.export import Exporter
from focalpoint.node.outbox import Outbox
from focalpoint.node.ports import Clock
from focalpoint.node.reachability import Reachability
from focalpoint.node.sealed import SealedFiles
from focalpoint.people.permissions import Action, Purpose, View, send_action
from focalpoint.server.case_api import CaseApi
from focalpoint.server.door import LATER, READ, Caller, Door, guarded
from focalpoint.server.people_api import PeopleApi
from focalpoint.storage.base import DamagedRow, LinkRow, Store
from focalpoint.storage.cipher import OUTBOX_PURPOSE, StorageCipher, inbox_purpose
from focalpoint.v1 import audit_pb2, envelope_pb2, local_pb2, local_pb2_grpc

__all__ = ["LocalServicer"]

log = structlog.get_logger("focalpoint.local_api")

_MAX_LIST = 1000
_MAX_DAYS = 36_500
# The reference of a written request an export answers (recorded in the audit log: no free text).
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./_-]{0,63}\Z")
Context = grpc.aio.ServicerContext[Any, Any]


def _position(before: int) -> int:
    """A list's ``before`` (0: from the newest), refused past what any store can hold."""
    if before > MAX_INT64:
        raise UsageError(f"before must be at most {MAX_INT64} (a sequence number or log index); got {before}")
    return before


def _unreadable(table: str, seq: int, reason: str) -> str:
    """What a list says of a row it cannot read (also logged, for the operator; never content)."""
    log.warning("stored_row_unreadable", table=table, seq=seq, reason=reason)
    return reason


async def _show_link(self: LocalServicer, request: local_pb2.ShowCaseRequest) -> LinkRow | None:
    return await self._cases.find(request.link_id, request.case_ref, request.partner_node)


async def _deadlines_link(self: LocalServicer, request: local_pb2.CaseDeadlinesRequest) -> LinkRow | None:
    return await self._cases.find(request.link_id, request.case_ref, request.partner_node)


async def _send_link(self: LocalServicer, request: local_pb2.SendCaseRequest) -> LinkRow | None:
    return await self._cases.find(request.link_id, "", "")


async def _approve_link(self: LocalServicer, request: local_pb2.ApproveDraftRequest) -> LinkRow | None:
    return await self._cases.find(request.link_id, "", "")


async def _visit_link(self: LocalServicer, request: local_pb2.RecordConsularVisitRequest) -> LinkRow | None:
    if not request.link_id:
        raise UsageError("link_id is required")
    return await self._cases.find(request.link_id, "", "")


class LocalServicer(PeopleApi, local_pb2_grpc.LocalServiceServicer):
    def __init__(
        self,
        *,
        me: str,
        door: Door,
        store: Store,
        cipher: StorageCipher,
        cache: DirectoryCache,
        outbox: Outbox,
        checkpoints: Checkpoints,
        exporter: Exporter,
        reachability: Reachability,
        sealed: SealedFiles,
        clock_ms: Clock,
        clock_skew_ms: int,
        cases: CaseApi,
    ) -> None:
        self._me = me
        self._cases = cases
        self.door = door
        self._store = store
        self._cipher = cipher
        self._cache = cache
        self._outbox = outbox
        self._checkpoints = checkpoints
        self._exporter = exporter
        self._reachability = reachability
        self._sealed = sealed
        self._clock = clock_ms
        self._clock_skew_ms = clock_skew_ms
        # The last answer of GetCodeList and the directory version it was read from.
        self._code_list_answer: tuple[int, local_pb2.GetCodeListResponse] | None = None

    def _problems(self) -> list[str]:
        """What this node cannot do now, in words for its operators (``node health``)."""
        full_since = self._store.full_since
        if full_since is None:
            return []
        since = dt.datetime.fromtimestamp(full_since, dt.UTC).isoformat(timespec="seconds")
        return [
            f"the node's disk is full (since {since}): it accepts no submits and no deliveries until space is"
            " freed; nothing already stored is lost"
        ]

    def _content(
        self, table: str, seq: int, local_copy: bytes, *, purpose: bytes, message_id: bytes
    ) -> envelope_pb2.SignedContent:
        """The verified content of a stored message; raises DamagedData naming its row when its
        local copy fails its integrity check or does not parse, and PreconditionFailed when its
        sender withdrew it (the content was purged; its id, hash and audit events remain)."""
        if local_copy == b"":
            raise PreconditionFailed(
                f"{table} row {seq}: the message was withdrawn by its sender and its content purged;"
                " its id, hash and audit events remain"
            )
        try:
            return parse_payload(self._cipher.open(local_copy, purpose=purpose, message_id=message_id))
        except (DamagedData, DecodeError) as e:
            what = "does not parse" if isinstance(e, DecodeError) else "fails its integrity check"
            raise DamagedData(
                f"{table} row {seq}: its local copy {what} (a damaged row or the wrong storage key);"
                " restore it from a backup"
            ) from e

    def _listed(
        self, table: str, seq: int, local_copy: bytes, *, purpose: bytes, message_id: bytes
    ) -> tuple[envelope_pb2.SignedContent, str]:
        """A listed row's content, or an empty one and why it cannot be read (none: withdrawn)."""
        if local_copy == b"":
            return envelope_pb2.SignedContent(), ""
        try:
            return self._content(table, seq, local_copy, purpose=purpose, message_id=message_id), ""
        except DamagedData as e:
            return envelope_pb2.SignedContent(), _unreadable(table, seq, str(e))

    @guarded(Action.OPEN_SEND)
    async def Submit(
        self, request: local_pb2.SubmitRequest, context: Context, caller: Caller
    ) -> local_pb2.SubmitResponse:
        if not request.recipient_node:
            raise UsageError("recipient_node is required")
        if not request.HasField("body"):
            raise UsageError("body is required")
        if len(request.client_request_id) > 128:
            raise UsageError("client_request_id is longer than 128 characters")
        await self._may_submit(caller, request)
        submitted = await self._outbox.submit(
            request.recipient_node,
            request.body,
            in_reply_to=request.in_reply_to,
            ttl_seconds=request.ttl_seconds,
            client_request_id=request.client_request_id or None,
        )
        return local_pb2.SubmitResponse(
            message_id=submitted.message_id, state=local_pb2.DeliveryState.ValueType(submitted.state.value)
        )

    async def _may_submit(self, caller: Caller, request: local_pb2.SubmitRequest) -> None:
        """A raw message is judged like one sent on its case: on a link this node holds, the
        sender's rule for that link and that kind; otherwise it must come from the sender's own unit."""
        body, account = request.body, caller.account
        assert account is not None
        link = await self._store.cases.link_by_ref(body.context.case_ref, request.recipient_node)
        if link is not None:
            await self.door.decide(caller, send_action(body), link)
        elif body.context.sender_unit and body.context.sender_unit != account.unit:
            await self.door.refuse(caller, Action.OPEN_SEND, "a message is sent from your own unit only")

    @guarded(Action.LIST_MESSAGES, machine=True)
    async def ListOutbox(
        self, request: local_pb2.ListRequest, context: Context, caller: Caller
    ) -> local_pb2.ListOutboxResponse:
        rows = await self._store.outbox.page(min(request.limit or 50, _MAX_LIST), _position(request.before))
        entries = []
        for r in rows:
            if isinstance(r, DamagedRow):
                why = _unreadable("outbox", r.seq, r.reason)
                entries.append(
                    local_pb2.OutboxEntry(seq=r.seq, message_id=r.message_id, recipient_node=r.peer, unreadable=why)
                )
                continue
            content, why = self._listed("outbox", r.seq, r.local_copy, purpose=OUTBOX_PURPOSE, message_id=r.message_id)
            entries.append(
                local_pb2.OutboxEntry(
                    seq=r.seq,
                    message_id=r.message_id,
                    recipient_node=r.recipient,
                    kind=content.body.WhichOneof("kind") or "",
                    state=local_pb2.DeliveryState.ValueType(r.state.value),
                    created_at_ms=r.created_at_ms,
                    delivered_at_ms=r.delivered_at_ms or 0,
                    attempts=r.attempts,
                    last_error=r.last_error,
                    in_reply_to=content.in_reply_to,
                    unreadable=why,
                )
            )
        return local_pb2.ListOutboxResponse(entries=entries)

    @guarded(Action.LIST_MESSAGES, machine=True)
    async def ListInbox(
        self, request: local_pb2.ListRequest, context: Context, caller: Caller
    ) -> local_pb2.ListInboxResponse:
        rows = await self._store.inbox.page(min(request.limit or 50, _MAX_LIST), _position(request.before))
        entries = []
        for r in rows:
            if isinstance(r, DamagedRow):
                why = _unreadable("inbox", r.seq, r.reason)
                entries.append(
                    local_pb2.InboxEntry(seq=r.seq, message_id=r.message_id, sender_node=r.peer, unreadable=why)
                )
                continue
            content, why = self._listed(
                "inbox", r.seq, r.local_copy, purpose=inbox_purpose(r.sender), message_id=r.message_id
            )
            entries.append(
                local_pb2.InboxEntry(
                    seq=r.seq,
                    message_id=r.message_id,
                    sender_node=r.sender,
                    kind=content.body.WhichOneof("kind") or "",
                    received_at_ms=r.received_at_ms,
                    in_reply_to=content.in_reply_to,
                    sequence=content.sequence,
                    unreadable=why,
                )
            )
        return local_pb2.ListInboxResponse(entries=entries)

    @guarded(LATER)
    async def GetMessage(
        self, request: local_pb2.GetMessageRequest, context: Context, caller: Caller
    ) -> local_pb2.GetMessageResponse:
        """A damaged row, or one whose local copy cannot be opened, fails with DamagedData
        (DATA_LOSS) naming it; nothing is logged as read."""
        if len(request.message_id) != 16:
            raise UsageError("message_id must be 16 bytes")
        if request.direction == local_pb2.DIRECTION_OUTBOX:
            row = await self._store.outbox.get(request.message_id)
            if row is None:
                raise NotFound("no such message in the outbox")
            content = self._content(
                "outbox", row.seq, row.local_copy, purpose=OUTBOX_PURPOSE, message_id=row.message_id
            )
            state = local_pb2.DeliveryState.ValueType(row.state.value)
            peer = row.recipient
        elif request.direction == local_pb2.DIRECTION_INBOX:
            if request.peer_node:
                found = await self._store.inbox.get(request.peer_node, request.message_id)
                rows = [found] if found is not None else []
            else:
                rows = await self._store.inbox.find(request.message_id)
            if len(rows) != 1:
                detail = "no such message in the inbox" if not rows else "ambiguous message id; give peer_node"
                raise NotFound(detail)
            one = rows[0]
            content = self._content(
                "inbox", one.seq, one.local_copy, purpose=inbox_purpose(one.sender), message_id=one.message_id
            )
            state = local_pb2.DELIVERY_STATE_DELIVERED
            peer = rows[0].sender
        else:
            raise UsageError("direction must be DIRECTION_INBOX or DIRECTION_OUTBOX")
        case_ref = case_ref_of(content.body)
        addressed = content.body.context
        inbox = request.direction == local_pb2.DIRECTION_INBOX
        unit = addressed.recipient_unit if inbox else addressed.sender_unit
        caller, link = await self.door.on_message(caller, case_ref, peer, unit=unit)
        if caller.view is View.METADATA:
            raise UsageError("your role reads no message content; the audit log lists its metadata")
        await self.door.served(caller, link, message_id=content.message_id, case_ref=case_ref, peer=peer)
        return local_pb2.GetMessageResponse(  # the READ event was committed before any content leaves
            message_id=content.message_id,
            sender_node=content.sender_node,
            recipient_node=content.recipient_node,
            body=project(caller.view, content.body),
            in_reply_to=content.in_reply_to,
            created_at_ms=content.created_at_ms,
            state=state,
            view=caller.view.value,
        )

    @guarded(Action.HEALTH, machine=True)
    async def GetHealth(
        self, request: local_pb2.GetHealthRequest, context: Context, caller: Caller
    ) -> local_pb2.GetHealthResponse:
        for name, days in (("stale_days", request.stale_days), ("expiring_days", request.expiring_days)):
            if days > _MAX_DAYS:
                raise UsageError(f"{name} must be at most {_MAX_DAYS} (a century); got {days}")
        if request.check_now:
            await self._reachability.round()
        report = directory_health(
            self._cache.current,
            self._cache.trusted.root,
            now_ms=self._clock(),
            stale_days=request.stale_days or 180,
            expiring_days=request.expiring_days or 30,
            unreachable=self._reachability.unreachable(),
            clock_offsets=self._reachability.clock_offsets(),
            clock_attention_ms=self._clock_skew_ms // 2,
            node_problems=self._problems(),
        )
        return local_pb2.GetHealthResponse(report_json=json.dumps(report.as_dict()))

    @guarded(Action.CODE_LIST, machine=True)
    async def GetCodeList(
        self, request: local_pb2.GetCodeListRequest, context: Context, caller: Caller
    ) -> local_pb2.GetCodeListResponse:
        """The newest verified code list as the directory carries it (no case data: every role).
        Read from the verified bundle once per directory version."""
        directory = self._cache.current
        if self._code_list_answer is not None and self._code_list_answer[0] == directory.version:
            return self._code_list_answer[1]
        answer = local_pb2.GetCodeListResponse()
        newest = directory.newest_code_list
        raw = carried_code_list(directory, newest.list_version) if newest is not None else None
        if newest is not None and raw is not None:
            answer = local_pb2.GetCodeListResponse(
                list_version=newest.list_version, version=newest.version, signed_document=raw
            )
        self._code_list_answer = (directory.version, answer)
        return answer

    # --- audit log ------------------------------------------------------------------------

    @guarded(Action.VERIFY_AUDIT, machine=True)
    async def GetCheckpoint(
        self, request: local_pb2.GetCheckpointLocalRequest, context: Context, caller: Caller
    ) -> audit_pb2.SignedCheckpoint:
        return await self._checkpoints.get(create=request.create)

    @guarded(Action.READ_METADATA)
    async def ListAudit(
        self, request: local_pb2.ListAuditRequest, context: Context, caller: Caller
    ) -> local_pb2.ListAuditResponse:
        store = self._store
        limit, before = min(request.limit or 50, _MAX_LIST), _position(request.before)
        rows = await store.audit.events(limit, before, request.case_ref)
        size = store.audit.size  # the log as listed (the LIST event below comes after it)
        listed = audit_events.listed(
            at_ms=self._clock(), actor=caller.actor, count=len(rows), what="audit list", view=View.METADATA.value
        )
        await store.audit.record([listed])
        return local_pb2.ListAuditResponse(
            entries=[local_pb2.AuditEntry(index=i, leaf=leaf) for i, leaf in rows], size=size
        )

    @guarded(Action.VERIFY_AUDIT, machine=True)
    async def VerifyAudit(
        self, request: local_pb2.VerifyAuditRequest, context: Context, caller: Caller
    ) -> local_pb2.VerifyAuditResponse:
        directory, me = self._cache.current, self._me
        report = await self._store.audit.read(
            lambda log: check_log(log, directory=directory, log_node=me, latest_only=True)
        )
        response = local_pb2.VerifyAuditResponse(
            ok=report.ok, size=report.size, first_bad_index=report.first_bad_index, reason=report.reason
        )
        for check in report.checkpoints:
            if check.signed is not None:
                response.checkpoint.CopyFrom(check.signed)
                response.checkpoint_matches = check.matches
                response.checkpoint_signature_error = check.signature_error
        response.alarms.extend(a for a in report.alarms if a is not None)
        return response

    @guarded(LATER)
    async def ExportCase(
        self, request: local_pb2.ExportCaseRequest, context: Context, caller: Caller
    ) -> local_pb2.ExportCaseResponse:
        link = await self._cases.link_of_ref(request.case_ref)
        if link is not None:
            caller = await self.door.decide(caller, Action.EXPORT, link)
        else:  # messages no case link holds (an older exchange): as owned by no unit
            caller = await self.door.on_unlinked(caller, Action.EXPORT, request.case_ref)
        written = request.written_request.strip()
        if caller.decision.purpose is Purpose.AUDIT and not written:
            raise UsageError("an auditor's export answers a written request: give its reference (written_request)")
        if written and not _REFERENCE.match(written):
            raise UsageError("written_request is a reference: 1-64 letters, digits, spaces and . / _ -")
        data, events, messages = await self._exporter.export_case(
            request.case_ref, caller.actor, written_request=written
        )
        return local_pb2.ExportCaseResponse(evidence=data, events=events, messages=messages)

    # --- sealed files (focalpoint.node.sealed) ----------------------------------------------------

    @guarded(Action.TRANSFER)
    async def ExportSealed(
        self, request: local_pb2.ExportSealedRequest, context: Context, caller: Caller
    ) -> local_pb2.ExportSealedResponse:
        if not request.peer_node:
            raise UsageError("peer_node is required: the partner node the file is for")
        out = await self._sealed.export(request.peer_node, actor=caller.actor)
        return local_pb2.ExportSealedResponse(
            file=out.data,
            file_id=out.file_id,
            sequence=out.sequence,
            envelopes=out.envelopes,
            receipts=out.receipts,
            left_out=out.left_out,
            not_after_ms=out.not_after_ms,
        )

    @guarded(Action.TRANSFER)
    async def ImportSealed(
        self, request: local_pb2.ImportSealedRequest, context: Context, caller: Caller
    ) -> local_pb2.ImportSealedResponse:
        if not request.file:
            raise UsageError("the file is empty: it is not a sealed file")
        got = await self._sealed.import_file(request.file, actor=caller.actor, receipts_file=request.receipts_file)
        back = got.receipts_file
        return local_pb2.ImportSealedResponse(
            sender_node=got.sender,
            file_id=got.file_id,
            sequence=got.sequence,
            accepted=got.accepted,
            duplicates=got.duplicates,
            refused=got.refused,
            receipts=got.receipts,
            closed_delivered=got.closed_delivered,
            closed_refused=got.closed_refused,
            retry=got.retry,
            already_closed=got.already_closed,
            unknown=got.unknown,
            receipts_file=back.data if back is not None else b"",
            receipts_file_id=back.file_id if back is not None else b"",
            receipts_file_sequence=back.sequence if back is not None else 0,
        )

    # --- cases (focalpoint.server.case_api) ----------------------------------------------------

    @guarded(Action.OPEN_SEND)
    async def OpenCase(
        self, request: local_pb2.OpenCaseRequest, context: Context, caller: Caller
    ) -> local_pb2.OpenCaseResponse:
        return await self._cases.open_case(request, caller)

    @guarded(Action.LIST_CASES)
    async def ListCases(
        self, request: local_pb2.ListCasesRequest, context: Context, caller: Caller
    ) -> local_pb2.ListCasesResponse:
        return await self._cases.list_cases(request, caller)

    @guarded(READ, about=_show_link)
    async def ShowCase(
        self, request: local_pb2.ShowCaseRequest, context: Context, caller: Caller
    ) -> local_pb2.ShowCaseResponse:
        return await self._cases.show_case(request, caller)

    @guarded(Action.READ_ROUTING, about=_deadlines_link)
    async def CaseDeadlines(
        self, request: local_pb2.CaseDeadlinesRequest, context: Context, caller: Caller
    ) -> local_pb2.CaseDeadlinesResponse:
        return await self._cases.case_deadlines(caller)

    @guarded(LATER, about=_send_link)
    async def SendCase(
        self, request: local_pb2.SendCaseRequest, context: Context, caller: Caller
    ) -> local_pb2.SendCaseResponse:
        return await self._cases.send_case(request, caller)

    @guarded(Action.APPROVE, about=_approve_link)
    async def ApproveDraft(
        self, request: local_pb2.ApproveDraftRequest, context: Context, caller: Caller
    ) -> local_pb2.SendCaseResponse:
        return await self._cases.approve_draft(request, caller)

    @guarded(Action.OPEN_SEND)
    async def ListDrafts(
        self, request: local_pb2.ListDraftsRequest, context: Context, caller: Caller
    ) -> local_pb2.ListDraftsResponse:
        return await self._cases.list_drafts(request, caller)

    @guarded(Action.INDICATORS)
    async def GetIndicators(
        self, request: local_pb2.GetIndicatorsRequest, context: Context, caller: Caller
    ) -> local_pb2.GetIndicatorsResponse:
        return await self._cases.get_indicators(request, caller)

    @guarded(Action.AGEING)
    async def GetAgeing(
        self, request: local_pb2.GetAgeingRequest, context: Context, caller: Caller
    ) -> local_pb2.GetAgeingResponse:
        return await self._cases.get_ageing(request, caller)

    @guarded(Action.LIST_MESSAGES)
    async def ListParked(
        self, request: local_pb2.ListRequest, context: Context, caller: Caller
    ) -> local_pb2.ListParkedResponse:
        return await self._cases.list_parked(request)

    @guarded(Action.CONSULAR_VISIT, about=_visit_link)
    async def RecordConsularVisit(
        self, request: local_pb2.RecordConsularVisitRequest, context: Context, caller: Caller
    ) -> local_pb2.Empty:
        await self._cases.record_consular_visit(request, caller)
        return local_pb2.Empty()
