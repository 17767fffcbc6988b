"""The local API: how this institution's own users (CLI, later the web console) use the node.

Served on a separate, loopback-bound port. Every call must carry the node's local
API token (``authorization: Bearer …``), compared in constant time; roles and
per-user identities arrive with the case workflow. Reading a message decrypts the
node's local copy only for the duration of the call.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from focalpoint.envelope import parse_payload
from focalpoint.errors import StorageError, UsageError
from focalpoint.v1 import envelope_pb2, local_pb2, local_pb2_grpc

if TYPE_CHECKING:
    from focalpoint.node import Node

__all__ = ["LocalClient", "add_local_service"]

_MAX_LIST = 1000
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
        from focalpoint.node import OUTBOX_PURPOSE

        rows = await self._node.store.list_outbox(min(request.limit or 50, _MAX_LIST), request.before)
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
        from focalpoint.node import inbox_purpose

        rows = await self._node.store.list_inbox(min(request.limit or 50, _MAX_LIST), request.before)
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
        from focalpoint.node import OUTBOX_PURPOSE, inbox_purpose

        if len(request.message_id) != 16:
            raise UsageError("message_id must be 16 bytes")
        if request.direction == local_pb2.DIRECTION_OUTBOX:
            row = await self._node.store.get_outbox(request.message_id)
            if row is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, "no such message in the outbox")
            content = self._content(row.local_copy, purpose=OUTBOX_PURPOSE, message_id=row.message_id)
            state = local_pb2.DeliveryState.ValueType(row.state.value)
        elif request.direction == local_pb2.DIRECTION_INBOX:
            if request.peer_node:
                found = await self._node.store.get_inbox(request.peer_node, request.message_id)
                rows = [found] if found is not None else []
            else:
                rows = await self._node.store.find_inbox(request.message_id)
            if len(rows) != 1:
                detail = "no such message in the inbox" if not rows else "ambiguous message id; give peer_node"
                await context.abort(grpc.StatusCode.NOT_FOUND, detail)
            content = self._content(
                rows[0].local_copy, purpose=inbox_purpose(rows[0].sender), message_id=rows[0].message_id
            )
            state = local_pb2.DELIVERY_STATE_DELIVERED
        else:
            raise UsageError("direction must be DIRECTION_INBOX or DIRECTION_OUTBOX")
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
        from focalpoint.health import directory_health

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


def add_local_service(node: Node, server: grpc.aio.Server) -> None:
    local_pb2_grpc.add_LocalServiceServicer_to_server(LocalServicer(node), server)


class LocalClient:
    """A small async client for the local API (used by the CLI, the demo and tests)."""

    def __init__(self, address: str, token: str, *, timeout_s: float = 30.0) -> None:
        self._channel = grpc.aio.insecure_channel(address)
        self._stub = local_pb2_grpc.LocalServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),)
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
