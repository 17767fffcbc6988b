"""The local API: how this institution's own users (CLI, later the web console) use the node.

Served on a separate, loopback-bound port. Every call must carry the node's local
API token (``authorization: Bearer …``), compared in constant time; roles and
per-user identities arrive with the case workflow. A client acting for a person names
them in ``fp-actor`` metadata (a local user id), which the audit log records.
Reading a message decrypts the node's local copy only for the duration of the call,
and only after the READ event is committed: no read goes unlogged.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from focalpoint.audit import events as audit_events
from focalpoint.audit.verify import check_log
from focalpoint.errors import StorageError, UsageError
from focalpoint.exchange.envelope import parse_payload
from focalpoint.ids import ACTOR
from focalpoint.v1 import audit_pb2, envelope_pb2, local_pb2, local_pb2_grpc

if TYPE_CHECKING:
    from focalpoint.node import Node

__all__ = ["LocalClient", "add_local_service"]

_MAX_LIST = 1000
ACTOR_METADATA = "fp-actor"
DEFAULT_ACTOR = "local-api"
Req = TypeVar("Req")
Resp = TypeVar("Resp")
Handler = Callable[[Any, Req, grpc.aio.ServicerContext[Any, Any]], Coroutine[Any, Any, Resp]]


def _guarded(fn: Handler[Req, Resp]) -> Handler[Req, Resp]:
    """Check the token, then translate our errors to gRPC statuses in one place."""

    @wraps(fn)
    async def wrapper(self: LocalServicer, request: Req, context: grpc.aio.ServicerContext[Any, Any]) -> Resp:
        supplied = dict(context.invocation_metadata() or ()).get("authorization", "")
        expected = f"Bearer {self._node.keys.local_api_token}"
        if not isinstance(supplied, str) or not hmac.compare_digest(supplied.encode(), expected.encode()):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong local API token")
        try:
            return await fn(self, request, context)
        except UsageError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        except StorageError as e:
            await context.abort(grpc.StatusCode.INTERNAL, f"storage error: {e}")

    return wrapper


class LocalServicer(local_pb2_grpc.LocalServiceServicer):
    def __init__(self, node: Node) -> None:
        self._node = node

    def _content(self, local_copy: bytes, *, purpose: bytes, message_id: bytes) -> envelope_pb2.SignedContent:
        return parse_payload(self._node.cipher.open(local_copy, purpose=purpose, message_id=message_id))

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
        submitted = await self._node.submit(
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
        from focalpoint.storage.cipher import OUTBOX_PURPOSE

        rows = await self._node.store.outbox.page(min(request.limit or 50, _MAX_LIST), request.before)
        entries = []
        for r in rows:
            content = self._content(r.local_copy, purpose=OUTBOX_PURPOSE, message_id=r.message_id)
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
                )
            )
        return local_pb2.ListOutboxResponse(entries=entries)

    @_guarded
    async def ListInbox(
        self, request: local_pb2.ListRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> local_pb2.ListInboxResponse:
        from focalpoint.storage.cipher import inbox_purpose

        rows = await self._node.store.inbox.page(min(request.limit or 50, _MAX_LIST), request.before)
        entries = []
        for r in rows:
            content = self._content(r.local_copy, purpose=inbox_purpose(r.sender), message_id=r.message_id)
            entries.append(
                local_pb2.InboxEntry(
                    seq=r.seq,
                    message_id=r.message_id,
                    sender_node=r.sender,
                    kind=content.body.WhichOneof("kind") or "",
                    received_at_ms=r.received_at_ms,
                    in_reply_to=content.in_reply_to,
                    sequence=content.sequence,
                )
            )
        return local_pb2.ListInboxResponse(entries=entries)

    @_guarded
    async def GetMessage(
        self, request: local_pb2.GetMessageRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> local_pb2.GetMessageResponse:
        from focalpoint.storage.cipher import OUTBOX_PURPOSE, inbox_purpose

        if len(request.message_id) != 16:
            raise UsageError("message_id must be 16 bytes")
        if request.direction == local_pb2.DIRECTION_OUTBOX:
            row = await self._node.store.outbox.get(request.message_id)
            if row is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, "no such message in the outbox")
            content = self._content(row.local_copy, purpose=OUTBOX_PURPOSE, message_id=row.message_id)
            state = local_pb2.DeliveryState.ValueType(row.state.value)
            digest, peer = row.digest, row.recipient
        elif request.direction == local_pb2.DIRECTION_INBOX:
            if request.peer_node:
                found = await self._node.store.inbox.get(request.peer_node, request.message_id)
                rows = [found] if found is not None else []
            else:
                rows = await self._node.store.inbox.find(request.message_id)
            if len(rows) != 1:
                detail = "no such message in the inbox" if not rows else "ambiguous message id; give peer_node"
                await context.abort(grpc.StatusCode.NOT_FOUND, detail)
            content = self._content(
                rows[0].local_copy, purpose=inbox_purpose(rows[0].sender), message_id=rows[0].message_id
            )
            state = local_pb2.DELIVERY_STATE_DELIVERED
            digest, peer = rows[0].digest, rows[0].sender
        else:
            raise UsageError("direction must be DIRECTION_INBOX or DIRECTION_OUTBOX")
        from focalpoint.exchange.body import case_ref_of

        case_ref = case_ref_of(content.body)
        event = audit_events.read(
            at_ms=self._node.clock_ms(),
            actor=self._actor(context),
            case_ref=case_ref,
            message_id=content.message_id,
            peer=peer,
            digest=digest,
        )
        await self._node.store.audit.record([event], case_ref)  # committed before any content leaves
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
        from directory.health import directory_health

        node = self._node
        if request.check_now:
            await node.reachability.round()
        report = directory_health(
            node.cache.current,
            node.cache.trusted.root,
            now_ms=node.clock_ms(),
            stale_days=request.stale_days or 180,
            expiring_days=request.expiring_days or 30,
            unreachable=node.reachability.unreachable(),
        )
        return local_pb2.GetHealthResponse(report_json=json.dumps(report.as_dict()))

    # --- audit log ------------------------------------------------------------------------

    @_guarded
    async def GetCheckpoint(
        self, request: local_pb2.GetCheckpointLocalRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> audit_pb2.SignedCheckpoint:
        return await self._node.checkpoint(create=request.create)

    @_guarded
    async def ListAudit(
        self, request: local_pb2.ListAuditRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> local_pb2.ListAuditResponse:
        store = self._node.store
        rows = await store.audit.events(min(request.limit or 50, _MAX_LIST), request.before, request.case_ref)
        return local_pb2.ListAuditResponse(
            entries=[local_pb2.AuditEntry(index=i, leaf=leaf) for i, leaf in rows], size=store.audit.size
        )

    @_guarded
    async def VerifyAudit(
        self, request: local_pb2.VerifyAuditRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> local_pb2.VerifyAuditResponse:
        node = self._node
        directory = node.cache.current
        report = await node.store.audit.read(
            lambda log: check_log(log, directory=directory, log_node=node.node_id, latest_only=True)
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
        from focalpoint.export import export_case

        data, events, messages = await export_case(self._node, request.case_ref, self._actor(context))
        return local_pb2.ExportCaseResponse(evidence=data, events=events, messages=messages)


def add_local_service(node: Node, server: grpc.aio.Server) -> None:
    local_pb2_grpc.add_LocalServiceServicer_to_server(LocalServicer(node), server)


class LocalClient:
    """A small async client for the local API (used by the CLI, the demo and tests)."""

    def __init__(self, address: str, token: str, *, timeout_s: float = 30.0, actor: str | None = None) -> None:
        self._channel = grpc.aio.insecure_channel(address, options=[("grpc.max_receive_message_length", 256 << 20)])
        self._stub = local_pb2_grpc.LocalServiceStub(self._channel)
        self._metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),)
        if actor is not None:
            self._metadata += ((ACTOR_METADATA, actor),)
        self._timeout = timeout_s

    async def __aenter__(self) -> LocalClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close(None)

    async def submit(self, request: local_pb2.SubmitRequest) -> local_pb2.SubmitResponse:
        return await self._stub.Submit(request, metadata=self._metadata, timeout=self._timeout)

    async def list_outbox(self, limit: int = 50, before: int = 0) -> local_pb2.ListOutboxResponse:
        req = local_pb2.ListRequest(limit=limit, before=before)
        return await self._stub.ListOutbox(req, metadata=self._metadata, timeout=self._timeout)

    async def list_inbox(self, limit: int = 50, before: int = 0) -> local_pb2.ListInboxResponse:
        req = local_pb2.ListRequest(limit=limit, before=before)
        return await self._stub.ListInbox(req, metadata=self._metadata, timeout=self._timeout)

    async def get_health(self, *, check_now: bool = False) -> local_pb2.GetHealthResponse:
        req = local_pb2.GetHealthRequest(check_now=check_now)
        return await self._stub.GetHealth(req, metadata=self._metadata, timeout=self._timeout)

    async def get_message(self, direction: int, message_id: bytes, peer_node: str = "") -> local_pb2.GetMessageResponse:
        req = local_pb2.GetMessageRequest(direction=direction, message_id=message_id, peer_node=peer_node)  # type: ignore[arg-type]
        return await self._stub.GetMessage(req, metadata=self._metadata, timeout=self._timeout)

    async def checkpoint(self, *, create: bool = False) -> audit_pb2.SignedCheckpoint:
        req = local_pb2.GetCheckpointLocalRequest(create=create)
        return await self._stub.GetCheckpoint(req, metadata=self._metadata, timeout=self._timeout)

    async def list_audit(self, limit: int = 50, before: int = 0, case_ref: str = "") -> local_pb2.ListAuditResponse:
        req = local_pb2.ListAuditRequest(limit=limit, before=before, case_ref=case_ref)
        return await self._stub.ListAudit(req, metadata=self._metadata, timeout=self._timeout)

    async def verify_audit(self) -> local_pb2.VerifyAuditResponse:
        req = local_pb2.VerifyAuditRequest()
        return await self._stub.VerifyAudit(req, metadata=self._metadata, timeout=self._timeout)

    async def export_case(self, case_ref: str) -> local_pb2.ExportCaseResponse:
        req = local_pb2.ExportCaseRequest(case_ref=case_ref)
        return await self._stub.ExportCase(req, metadata=self._metadata, timeout=self._timeout)
