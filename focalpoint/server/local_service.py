"""The local API: how this institution's own users (CLI, later the web console) use the node.

Served on a separate, loopback-bound port. Every call must carry the node's local
API token (``authorization: Bearer …``), compared in constant time; roles and
per-user identities arrive with user accounts, and will be checked here, at this one
door. A client acting for a person names them in ``fp-actor`` metadata (a local user id),
which the audit log records. The case calls (open, list, show, send, approve, drafts, parked)
are ``focalpoint.server.case_api``. Reading a message decrypts the node's local copy only for the
duration of the call, and only after the READ event is committed: no read goes unlogged.
A list shows every row it can read and marks the others ``unreadable`` (why, never their
content), so one damaged row never hides the rest; reading that one row fails with DATA_LOSS.
The servicer gets the parts it uses; errors become statuses through ``focalpoint.net.status``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any, TypeVar

import grpc
import structlog
from google.protobuf.message import DecodeError

from directory.health import directory_health
from focalpoint.audit import events as audit_events
from focalpoint.audit.verify import check_log
from focalpoint.errors import DamagedData, FocalpointError, NotFound, PreconditionFailed, Unauthenticated, UsageError
from focalpoint.exchange.body import case_ref_of
from focalpoint.exchange.envelope import parse_payload
from focalpoint.ids import ACTOR, ACTOR_METADATA, MAX_INT64
from focalpoint.net.status import abort
from focalpoint.node.checkpoints import Checkpoints
from focalpoint.node.directory_cache import DirectoryCache
from focalpoint.node.export import Exporter
from focalpoint.node.outbox import Outbox
from focalpoint.node.ports import Clock
from focalpoint.node.reachability import Reachability
from focalpoint.server.case_api import CaseApi
from focalpoint.storage.base import DamagedRow, Store
from focalpoint.storage.cipher import OUTBOX_PURPOSE, StorageCipher, inbox_purpose
from focalpoint.v1 import audit_pb2, envelope_pb2, local_pb2, local_pb2_grpc

__all__ = ["LocalServicer"]

log = structlog.get_logger("focalpoint.local_api")

_MAX_LIST = 1000
_MAX_DAYS = 36_500
DEFAULT_ACTOR = "local-api"
Req = TypeVar("Req")
Resp = TypeVar("Resp")
Handler = Callable[[Any, Req, grpc.aio.ServicerContext[Any, Any]], Coroutine[Any, Any, Resp]]


def _position(before: int) -> int:
    """A list's ``before`` (0: from the newest), refused past what any store can hold."""
    if before > MAX_INT64:
        raise UsageError(f"before must be at most {MAX_INT64} (a sequence number or log index); got {before}")
    return before


def _unreadable(table: str, seq: int, reason: str) -> str:
    """What a list says of a row it cannot read (also logged, for the operator; never content)."""
    log.warning("stored_row_unreadable", table=table, seq=seq, reason=reason)
    return reason


def _guarded(fn: Handler[Req, Resp]) -> Handler[Req, Resp]:
    """Check the token, then answer any error through the one status map."""

    @wraps(fn)
    async def wrapper(self: LocalServicer, request: Req, context: grpc.aio.ServicerContext[Any, Any]) -> Resp:
        try:
            self._authenticate(context)
            return await fn(self, request, context)
        except FocalpointError as e:
            await abort(context, e)

    return wrapper


class LocalServicer(local_pb2_grpc.LocalServiceServicer):
    def __init__(
        self,
        *,
        me: str,
        token: str,
        store: Store,
        cipher: StorageCipher,
        cache: DirectoryCache,
        outbox: Outbox,
        checkpoints: Checkpoints,
        exporter: Exporter,
        reachability: Reachability,
        clock_ms: Clock,
        clock_skew_ms: int,
        cases: CaseApi,
    ) -> None:
        self._me = me
        self._cases = cases
        self._expected = f"Bearer {token}".encode()
        self._store = store
        self._cipher = cipher
        self._cache = cache
        self._outbox = outbox
        self._checkpoints = checkpoints
        self._exporter = exporter
        self._reachability = reachability
        self._clock = clock_ms
        self._clock_skew_ms = clock_skew_ms

    def _authenticate(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        supplied = dict(context.invocation_metadata() or ()).get("authorization", "")
        if not isinstance(supplied, str) or not hmac.compare_digest(supplied.encode(), self._expected):
            raise Unauthenticated("missing or wrong local API token")

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

    @staticmethod
    def _actor(context: grpc.aio.ServicerContext[Any, Any]) -> str:
        actor = dict(context.invocation_metadata() or ()).get(ACTOR_METADATA, DEFAULT_ACTOR)
        if not isinstance(actor, str) or not ACTOR.match(actor):
            raise UsageError(f"{ACTOR_METADATA} must be a user id of 1-128 letters, digits or . _ @ -")
        return actor

    @_guarded
    async def Submit(
        self, request: local_pb2.SubmitRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> local_pb2.SubmitResponse:
        if not request.recipient_node:
            raise UsageError("recipient_node is required")
        if not request.HasField("body"):
            raise UsageError("body is required")
        if len(request.client_request_id) > 128:
            raise UsageError("client_request_id is longer than 128 characters")
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

    @_guarded
    async def ListOutbox(
        self, request: local_pb2.ListRequest, context: grpc.aio.ServicerContext[Any, Any]
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

    @_guarded
    async def ListInbox(
        self, request: local_pb2.ListRequest, context: grpc.aio.ServicerContext[Any, Any]
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

    @_guarded
    async def GetMessage(
        self, request: local_pb2.GetMessageRequest, context: grpc.aio.ServicerContext[Any, Any]
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
            digest, peer = row.digest, row.recipient
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
            digest, peer = rows[0].digest, rows[0].sender
        else:
            raise UsageError("direction must be DIRECTION_INBOX or DIRECTION_OUTBOX")
        case_ref = case_ref_of(content.body)
        event = audit_events.read(
            at_ms=self._clock(),
            actor=self._actor(context),
            case_ref=case_ref,
            message_id=content.message_id,
            peer=peer,
            digest=digest,
        )
        await self._store.audit.record([event], case_ref)  # committed before any content leaves
        return local_pb2.GetMessageResponse(
            message_id=content.message_id,
            sender_node=content.sender_node,
            recipient_node=content.recipient_node,
            body=content.body,
            in_reply_to=content.in_reply_to,
            created_at_ms=content.created_at_ms,
            state=state,
        )

    @_guarded
    async def GetHealth(
        self, request: local_pb2.GetHealthRequest, context: grpc.aio.ServicerContext[Any, Any]
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

    # --- audit log ------------------------------------------------------------------------

    @_guarded
    async def GetCheckpoint(
        self, request: local_pb2.GetCheckpointLocalRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> audit_pb2.SignedCheckpoint:
        return await self._checkpoints.get(create=request.create)

    @_guarded
    async def ListAudit(
        self, request: local_pb2.ListAuditRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> local_pb2.ListAuditResponse:
        store = self._store
        limit, before = min(request.limit or 50, _MAX_LIST), _position(request.before)
        rows = await store.audit.events(limit, before, request.case_ref)
        return local_pb2.ListAuditResponse(
            entries=[local_pb2.AuditEntry(index=i, leaf=leaf) for i, leaf in rows], size=store.audit.size
        )

    @_guarded
    async def VerifyAudit(
        self, request: local_pb2.VerifyAuditRequest, context: grpc.aio.ServicerContext[Any, Any]
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

    @_guarded
    async def ExportCase(
        self, request: local_pb2.ExportCaseRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> local_pb2.ExportCaseResponse:
        data, events, messages = await self._exporter.export_case(request.case_ref, self._actor(context))
        return local_pb2.ExportCaseResponse(evidence=data, events=events, messages=messages)

    # --- cases (focalpoint.server.case_api) ----------------------------------------------------

    @_guarded
    async def OpenCase(
        self, request: local_pb2.OpenCaseRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> local_pb2.OpenCaseResponse:
        return await self._cases.open_case(request, self._actor(context))

    @_guarded
    async def ListCases(
        self, request: local_pb2.ListCasesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> local_pb2.ListCasesResponse:
        return await self._cases.list_cases(request, self._actor(context))

    @_guarded
    async def ShowCase(
        self, request: local_pb2.ShowCaseRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> local_pb2.ShowCaseResponse:
        return await self._cases.show_case(request, self._actor(context))

    @_guarded
    async def SendCase(
        self, request: local_pb2.SendCaseRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> local_pb2.SendCaseResponse:
        return await self._cases.send_case(request, self._actor(context))

    @_guarded
    async def ApproveDraft(
        self, request: local_pb2.ApproveDraftRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> local_pb2.SendCaseResponse:
        return await self._cases.approve_draft(request, self._actor(context))

    @_guarded
    async def ListDrafts(
        self, request: local_pb2.ListDraftsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> local_pb2.ListDraftsResponse:
        return await self._cases.list_drafts(request)

    @_guarded
    async def ListParked(
        self, request: local_pb2.ListRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> local_pb2.ListParkedResponse:
        return await self._cases.list_parked(request)
