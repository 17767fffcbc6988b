"""Integers no store can hold (2^63 and above) are refused at every door of a running node, over real
gRPC, with the status their kind deserves and a message saying what was expected: never UNKNOWN
with a Python exception's text (before, SQLite's OverflowError escaped the handlers)."""

from __future__ import annotations

import grpc
import pytest

from focalpoint.audit.checkpoint import cosign
from focalpoint.client import LocalClient
from focalpoint.errors import OutOfRange, UsageError
from focalpoint.ids import MAX_INT64
from focalpoint.v1 import audit_pb2, distribution_pb2, distribution_pb2_grpc, local_pb2, local_pb2_grpc
from tests.conftest import StartNode
from tests.support.people import people_of

GR, AL = "gr-ekka", "al-shss"
HUGE = [MAX_INT64 + 1, (1 << 64) - 1]


def _answered_plainly(e: grpc.aio.AioRpcError, code: grpc.StatusCode) -> None:
    assert e.code() is code, (e.code(), e.details())
    assert "Error" not in (e.details() or "")  # no Python exception class, no traceback text
    assert str(MAX_INT64) in (e.details() or "")


@pytest.mark.parametrize("before", HUGE)
async def test_the_local_api_refuses_a_list_position_past_what_any_store_holds(
    start_node: StartNode, before: int
) -> None:
    """ListOutbox, ListInbox and ListAudit with before ≥ 2^63, GetHealth with more than a century of
    days: INVALID_ARGUMENT naming the limit."""
    gr = await start_node(GR)
    metadata = (("authorization", f"Bearer {gr.keyring.keys.local_api_token}"),)
    async with people_of(gr) as people:
        operator = await people.operator()
    as_operator = (("authorization", f"Session {operator.session}"),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gr.local_port}") as channel:
        stub = local_pb2_grpc.LocalServiceStub(channel)
        for call in (
            lambda: stub.ListOutbox(local_pb2.ListRequest(before=before), metadata=metadata),
            lambda: stub.ListInbox(local_pb2.ListRequest(before=before), metadata=metadata),
            lambda: stub.ListAudit(local_pb2.ListAuditRequest(before=before), metadata=as_operator),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call()
            _answered_plainly(refused.value, grpc.StatusCode.INVALID_ARGUMENT)
        for days in ({"stale_days": 36_501}, {"expiring_days": (1 << 32) - 1}):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.GetHealth(local_pb2.GetHealthRequest(**days), metadata=metadata)  # type: ignore[arg-type]
            assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert "must be at most 36500 (a century)" in (refused.value.details() or "")
    async with LocalClient(f"127.0.0.1:{gr.local_port}", gr.keyring.keys.local_api_token) as client:
        with pytest.raises(UsageError, match="before must be at most"):
            await client.list_outbox(before=before)
    async with LocalClient(f"127.0.0.1:{gr.local_port}", session=operator.session) as client:
        listed = await client.list_audit(before=MAX_INT64)  # the limit itself is fine
        assert listed.size == gr.store.audit.size - 1  # as listed: its own LIST event comes after


@pytest.mark.parametrize("version", HUGE)
async def test_the_directory_service_refuses_a_document_version_past_any_without_a_token(
    start_node: StartNode, version: int
) -> None:
    """GetDocument (no token needed) with version ≥ 2^63: INVALID_ARGUMENT; GetBundle still answers."""
    gr = await start_node(GR)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gr.local_port}") as channel:
        stub = distribution_pb2_grpc.DirectoryServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.GetDocument(distribution_pb2.GetDocumentRequest(kind="state", name="GR", version=version))
        _answered_plainly(refused.value, grpc.StatusCode.INVALID_ARGUMENT)
        answer = await stub.GetBundle(distribution_pb2.GetBundleRequest(known_version=version))
        assert (answer.version, answer.bundle) == (gr.cache.current.version, b"")
        version_now = gr.cache.current.version
        found = await stub.GetDocument(distribution_pb2.GetDocumentRequest(kind="timestamp", version=version_now))
        assert found.document


async def test_the_peer_door_refuses_a_cosignature_of_a_size_past_any_log(start_node: StartNode) -> None:
    """A partner's validly signed cosignature of a checkpoint of size 2^64 − 1: INVALID_ARGUMENT
    (cosignature refused), not a crash the partner would take for 'retry later'."""
    gr, al = await start_node(GR), await start_node(AL)
    al_key = al.keyring.log_signer
    assert al_key is not None
    content = audit_pb2.Checkpoint(log_node=GR, size=(1 << 64) - 1, root_hash=bytes(32), issued_at_ms=1)
    cosignature = cosign(al_key, witness=AL, checkpoint=content.SerializeToString(), at_ms=al.clock_ms())
    with pytest.raises(UsageError, match="cosignature refused: this node signed no checkpoint of size"):
        await al.transport.cosign(GR, cosignature)
    with pytest.raises(OutOfRange):
        await al.transport.inclusion_proof(GR, (1 << 64) - 2, (1 << 64) - 1)
    with pytest.raises(OutOfRange):
        await al.transport.consistency_proof(GR, 1, (1 << 64) - 1)
    assert await gr.store.audit.cosignatures(0) == []
