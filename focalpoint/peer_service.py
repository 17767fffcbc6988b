"""The node-to-node gRPC service: thin servicers over ``Node`` (authenticate, delegate, encode).

Every call is authorised from the mutual-TLS identity against the directory
(``transport.peer_node_id``), never from a field the peer wrote; streams re-check it per
batch, so a revocation stops an open stream at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
import structlog

from focalpoint.envelope import message_id_of
from focalpoint.errors import Refusal, RefusalError
from focalpoint.reachability import answer_ping
from focalpoint.transport import MAX_BATCH_ENVELOPES, abort_with_refusal, peer_node_id, refusal_to_proto
from focalpoint.v1 import envelope_pb2, node_pb2, node_pb2_grpc

if TYPE_CHECKING:
    from focalpoint.node import Node

__all__ = ["NodeServicer"]

log = structlog.get_logger("focalpoint.node")


class NodeServicer(node_pb2_grpc.NodeServiceServicer):
    """Thin: authenticate the peer from TLS, hand the envelope to the node, encode the outcome."""

    def __init__(self, node: Node) -> None:
        self._node = node

    async def Deliver(
        self, request: envelope_pb2.Envelope, context: grpc.aio.ServicerContext[Any, Any]
    ) -> node_pb2.DeliverResponse:
        try:
            peer = peer_node_id(context, self._node.cache.current)
            structlog.contextvars.bind_contextvars(peer=peer)
            return await self._node.receive(request, peer)
        except RefusalError as e:
            log.info("envelope_refused", code=e.code.name, reason=e.reason[:200])
            await abort_with_refusal(context, e)
        finally:
            structlog.contextvars.unbind_contextvars("peer")

    async def Ping(
        self, request: node_pb2.PingRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> node_pb2.PingResponse:
        node = self._node
        try:
            peer = peer_node_id(context, node.cache.current)
            return answer_ping(
                request,
                signer=node.signer,
                me=node.node_id,
                tls_peer=peer,
                directory=node.cache.current,
                now_ms=node.clock_ms(),
                skew_ms=node.limits.clock_skew_ms,
            )
        except RefusalError as e:
            await abort_with_refusal(context, e)

    async def DeliverStream(
        self,
        request_iterator: AsyncIterator[envelope_pb2.EnvelopeBatch],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[node_pb2.DeliveryBatchResult]:
        try:
            peer = peer_node_id(context, self._node.cache.current)
        except RefusalError as e:
            await abort_with_refusal(context, e)
        async for batch in request_iterator:
            if len(batch.envelopes) > MAX_BATCH_ENVELOPES:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"a batch holds at most {MAX_BATCH_ENVELOPES} envelopes"
                )
            try:
                # Re-checked per batch: a TLS key revoked while the stream is open stops counting at once.
                if peer_node_id(context, self._node.cache.current) != peer:
                    raise RefusalError(Refusal.UNKNOWN_PEER, "the connection's TLS key now belongs to another node")
            except RefusalError as e:
                refused = refusal_to_proto(e)
                yield node_pb2.DeliveryBatchResult(
                    results=[
                        node_pb2.DeliveryResult(message_id=message_id_of(env), refused=refused)
                        for env in batch.envelopes
                    ]
                )
                continue
            yield node_pb2.DeliveryBatchResult(results=await self._node.receive_batch(batch.envelopes, peer))
