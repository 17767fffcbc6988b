"""The node-to-node gRPC door: thin servicers over ``PeerApi`` (authenticate, delegate, encode).

Every call is authorised from the mutual-TLS identity against the directory
(``net.channels.peer_node_id``), never from a field the peer wrote; streams re-check it per
batch, so a revocation stops an open stream at once. Errors become statuses through the one
map (``focalpoint.net.status``), without internal detail: a peer learns nothing of this
node's storage.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
import structlog

from focalpoint.errors import FocalpointError, Refusal, RefusalError, UsageError
from focalpoint.exchange.codec import refusal_to_proto
from focalpoint.exchange.envelope import message_id_of
from focalpoint.net.channels import MAX_BATCH_ENVELOPES, peer_node_id
from focalpoint.net.status import abort
from focalpoint.node.peer_api import PeerApi
from focalpoint.node.ports import DirectoryView
from focalpoint.v1 import audit_pb2, envelope_pb2, node_pb2, node_pb2_grpc

__all__ = ["NodeServicer"]

log = structlog.get_logger("focalpoint.node")
R = TypeVar("R")
Context = grpc.aio.ServicerContext[Any, Any]


class NodeServicer(node_pb2_grpc.NodeServiceServicer):
    """Thin: authenticate the peer from TLS, hand the call to the node's PeerApi, encode the outcome."""

    def __init__(self, api: PeerApi, directory: DirectoryView) -> None:
        self._api = api
        self._directory = directory

    async def _serve(self, context: Context, call: Callable[[str], Awaitable[R]]) -> R:
        try:
            return await call(peer_node_id(context, self._directory()))
        except FocalpointError as e:
            await abort(context, e, internal_detail=False)

    async def Deliver(self, request: envelope_pb2.Envelope, context: Context) -> node_pb2.DeliverResponse:
        try:
            peer = peer_node_id(context, self._directory())
        except RefusalError as e:
            log.info("envelope_refused", code=e.code.name, reason=e.reason[:200])
            await abort(context, e, internal_detail=False)
        structlog.contextvars.bind_contextvars(peer=peer)
        try:
            return await self._api.deliver(peer, request)
        except RefusalError as e:  # the inbox logged it (by code, within the peer's budget)
            await abort(context, e, internal_detail=False)
        finally:
            structlog.contextvars.unbind_contextvars("peer")

    async def Ping(self, request: node_pb2.PingRequest, context: Context) -> node_pb2.PingResponse:
        return await self._serve(context, lambda peer: self._api.ping(peer, request))

    async def DeliverStream(
        self, request_iterator: AsyncIterator[envelope_pb2.EnvelopeBatch], context: Context
    ) -> AsyncIterator[node_pb2.DeliveryBatchResult]:
        try:
            peer = peer_node_id(context, self._directory())
        except RefusalError as e:
            await abort(context, e, internal_detail=False)
        async for batch in request_iterator:
            if len(batch.envelopes) > MAX_BATCH_ENVELOPES:
                await abort(context, UsageError(f"a batch holds at most {MAX_BATCH_ENVELOPES} envelopes"))
            try:
                # Re-checked per batch: a TLS key revoked while the stream is open stops counting at once.
                if peer_node_id(context, self._directory()) != peer:
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
            yield node_pb2.DeliveryBatchResult(results=await self._api.deliver_batch(peer, batch.envelopes))

    async def GetReceipts(self, request: node_pb2.ReceiptsRequest, context: Context) -> node_pb2.ReceiptsResponse:
        return await self._serve(context, lambda peer: self._api.receipts(peer, request))

    # --- audit log (agreement partners only) ------------------------------------------------

    async def GetCheckpoint(
        self, request: audit_pb2.GetCheckpointRequest, context: Context
    ) -> audit_pb2.SignedCheckpoint:
        return await self._serve(context, lambda peer: self._api.checkpoint(peer, request.log_node))

    async def GetInclusionProof(
        self, request: audit_pb2.InclusionProofRequest, context: Context
    ) -> audit_pb2.InclusionProofResponse:
        return await self._serve(
            context, lambda peer: self._api.inclusion_proof(peer, request.index, request.tree_size)
        )

    async def GetConsistencyProof(
        self, request: audit_pb2.ConsistencyProofRequest, context: Context
    ) -> audit_pb2.ConsistencyProofResponse:
        async def proof(peer: str) -> audit_pb2.ConsistencyProofResponse:
            path = await self._api.consistency_proof(peer, request.old_size, request.new_size)
            return audit_pb2.ConsistencyProofResponse(path=path)

        return await self._serve(context, proof)

    async def Cosign(self, request: audit_pb2.Cosignature, context: Context) -> audit_pb2.CosignResponse:
        async def cosign(peer: str) -> audit_pb2.CosignResponse:
            await self._api.cosign(peer, request)
            return audit_pb2.CosignResponse()

        return await self._serve(context, cosign)
