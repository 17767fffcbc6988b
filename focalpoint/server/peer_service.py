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
from google.protobuf.message import DecodeError

from focalpoint.audit import events as audit_events
from focalpoint.audit.checkpoint import verify_cosignature
from focalpoint.errors import Refusal, RefusalError, StorageError, UsageError, VerificationError
from focalpoint.exchange.codec import refusal_to_proto
from focalpoint.exchange.envelope import message_id_of
from focalpoint.exchange.ping import answer_ping
from focalpoint.exchange.policy import partners
from focalpoint.transport import MAX_BATCH_ENVELOPES, abort_with_refusal, peer_node_id
from focalpoint.v1 import audit_pb2, envelope_pb2, node_pb2, node_pb2_grpc

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

    # --- audit log (agreement partners only) ------------------------------------------------

    async def _partner(self, context: grpc.aio.ServicerContext[Any, Any]) -> str:
        directory = self._node.cache.current
        try:
            peer = peer_node_id(context, directory)
        except RefusalError as e:
            await abort_with_refusal(context, e)
        if peer not in partners(directory, self._node.node_id):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "only agreement partners witness this log")
        return peer

    async def _sizes(self, context: grpc.aio.ServicerContext[Any, Any], low: int, high: int, what: str) -> None:
        size = self._node.store.audit.size
        if not 0 < low <= high <= size:
            await context.abort(grpc.StatusCode.OUT_OF_RANGE, f"{what}: need 0 < {low} ≤ {high} ≤ {size} (log size)")

    async def GetCheckpoint(
        self, request: audit_pb2.GetCheckpointRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> audit_pb2.SignedCheckpoint:
        await self._partner(context)
        node = self._node
        try:
            if request.log_node in ("", node.node_id):
                return await node.checkpoint(create=False)
            raw = await node.store.audit.witnessed(request.log_node)
        except UsageError as e:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))
        except StorageError:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the audit log cannot be read right now")
        if raw is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"this node has cosigned no checkpoint of {request.log_node!r}"
            )
        return audit_pb2.SignedCheckpoint.FromString(raw)

    async def GetInclusionProof(
        self, request: audit_pb2.InclusionProofRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> audit_pb2.InclusionProofResponse:
        peer = await self._partner(context)
        await self._sizes(context, request.index + 1, request.tree_size, "inclusion proof")
        index, size = request.index, request.tree_size
        try:
            leaf, path = await self._node.store.audit.read(
                lambda log: (log.leaf(index), log.inclusion_proof(index, size))
            )
        except StorageError:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the audit log cannot be read right now")
        # The event itself only if it is an exchange with the caller; anyone else must know the leaf.
        event = audit_events.decode(leaf)
        shown = event.peer_node == peer and event.kind in audit_events.EXCHANGE_KINDS
        return audit_pb2.InclusionProofResponse(leaf=leaf if shown else b"", path=path)

    async def GetConsistencyProof(
        self, request: audit_pb2.ConsistencyProofRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> audit_pb2.ConsistencyProofResponse:
        await self._partner(context)
        await self._sizes(context, request.old_size, request.new_size, "consistency proof")
        old, new = request.old_size, request.new_size
        try:
            path = await self._node.store.audit.read(lambda log: log.consistency_proof(old, new))
        except StorageError:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the audit log cannot be read right now")
        return audit_pb2.ConsistencyProofResponse(path=path)

    async def Cosign(
        self, request: audit_pb2.Cosignature, context: grpc.aio.ServicerContext[Any, Any]
    ) -> audit_pb2.CosignResponse:
        peer = await self._partner(context)
        node = self._node
        try:
            content = verify_cosignature(
                request, node.cache.current, checkpoint=audit_pb2.CosignedContent.FromString(request.content).checkpoint
            )
            if content.witness_node != peer:
                raise VerificationError(f"the cosignature names {content.witness_node!r}, but the caller is {peer!r}")
            size = audit_pb2.Checkpoint.FromString(content.checkpoint).size
            mine = await node.store.audit.checkpoint_at(size)
            if mine is None or audit_pb2.SignedCheckpoint.FromString(mine).checkpoint != content.checkpoint:
                raise VerificationError(f"this node signed no such checkpoint of size {size}")
            await node.store.audit.add_cosignature(size, peer, request.SerializeToString())
        except (VerificationError, DecodeError) as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cosignature refused: {e}")
        except StorageError:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the cosignature cannot be stored right now")
        log.info("checkpoint_cosigned", witness=peer, size=size)
        return audit_pb2.CosignResponse()
