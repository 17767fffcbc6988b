"""What a node answers its partners about its audit log (``PeerApi``), called directly and over
the in-memory network: proofs only within the log, events shown only to the partner they
concern, cosignatures kept only when they are the caller's own over a checkpoint really signed."""

from __future__ import annotations

import asyncio

import pytest

from focalpoint.audit import events as audit_events
from focalpoint.audit.checkpoint import cosign
from focalpoint.crypto.merkle import leaf_hash, root_from_inclusion, verify_consistency
from focalpoint.crypto.signing import AdminSigner
from focalpoint.errors import NotFound, OutOfRange, PermissionDenied, PreconditionFailed, UsageError
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import audit_pb2, common_pb2, directory_pb2
from tests.node.conftest import Fabric

GR, AL, IT = "gr-ekka", "al-shss", "it-dgi"


async def _deliver(fabric: Fabric, recipient: str, case_ref: str) -> None:
    gr = fabric.nodes[GR]
    sent = await gr.outbox.submit(recipient, social_inquiry_request(case_ref, identified_at_ms=fabric.clock()))
    assert await asyncio.wait_for(gr.delivery.wait_closed(sent.message_id), 1) is DeliveryState.DELIVERED


async def _checkpoint(node: Node) -> tuple[audit_pb2.SignedCheckpoint, audit_pb2.Checkpoint]:
    signed = await node.checkpoints.get()
    return signed, audit_pb2.Checkpoint.FromString(signed.checkpoint)


@pytest.mark.parametrize(("old", "new"), [(0, 1), (3, 2), (1, 10_000), (-1, 2)])
async def test_a_consistency_proof_outside_the_log_is_out_of_range(fabric: Fabric, old: int, new: int) -> None:
    """0 < old ≤ new ≤ size, or OutOfRange naming the log size."""
    gr = fabric.nodes[GR]
    with pytest.raises(OutOfRange, match=f"{gr.store.audit.size} \\(log size\\)"):
        await gr.peer_api.consistency_proof(AL, old, new)


@pytest.mark.parametrize(("index", "size"), [(-1, 2), (2, 2), (0, 10_000), (0, 0)])
async def test_an_inclusion_proof_outside_the_log_is_out_of_range(fabric: Fabric, index: int, size: int) -> None:
    """The index must lie inside a tree no larger than the log."""
    with pytest.raises(OutOfRange):
        await fabric.nodes[GR].peer_api.inclusion_proof(AL, index, size)


async def test_out_of_range_reaches_the_caller_over_the_network_as_the_same_error(fabric: Fabric) -> None:
    """The status map carries OutOfRange across the in-memory network."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    with pytest.raises(OutOfRange):
        await al.transport.consistency_proof(GR, 1, gr.store.audit.size + 1)
    with pytest.raises(OutOfRange):
        await al.transport.inclusion_proof(GR, gr.store.audit.size, gr.store.audit.size)


async def test_a_consistency_proof_inside_the_log_links_two_checkpoints(fabric: Fabric) -> None:
    """A proof between two signed sizes verifies against their roots."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    await _deliver(fabric, AL, case_ref_for(801))
    _, old = await _checkpoint(gr)
    await _deliver(fabric, IT, case_ref_for(802))
    _, new = await _checkpoint(gr)
    proof = await al.transport.consistency_proof(GR, old.size, new.size)
    assert verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
    assert not verify_consistency(old.size, new.size, b"\x00" * 32, new.root_hash, proof)


async def test_an_inclusion_proof_shows_the_event_only_to_the_partner_it_is_an_exchange_with(
    fabric: Fabric,
) -> None:
    """al is shown gr's SENT event to al; other events (even a COSIGNED naming al) come with the path only."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    await _deliver(fabric, AL, case_ref_for(803))
    await _deliver(fabric, IT, case_ref_for(804))
    await al.checkpoints.get()
    assert [o.result for o in await gr.witness.check_all([AL])] == ["cosigned"]
    _, checkpoint = await _checkpoint(gr)
    size = checkpoint.size
    found = await gr.store.audit.read(lambda view: [(i, view.leaf(i)) for i in range(size)])
    by_kind = {(audit_events.decode(leaf).kind, audit_events.decode(leaf).peer_node): i for i, leaf in found}
    to_al = by_kind[(audit_pb2.AUDIT_EVENT_KIND_SENT, AL)]
    hidden = [
        by_kind[(audit_pb2.AUDIT_EVENT_KIND_SENT, IT)],
        by_kind[(audit_pb2.AUDIT_EVENT_KIND_RECEIPTED, IT)],
        by_kind[(audit_pb2.AUDIT_EVENT_KIND_DIRECTORY_ACCEPTED, "")],
        by_kind[(audit_pb2.AUDIT_EVENT_KIND_COSIGNED, AL)],
    ]
    shown = await al.transport.inclusion_proof(GR, to_al, size)
    assert shown.leaf == found[to_al][1]
    assert root_from_inclusion(to_al, size, leaf_hash(shown.leaf), shown.path) == checkpoint.root_hash
    for index in hidden:
        proof = await al.transport.inclusion_proof(GR, index, size)
        assert proof.leaf == b""
        # The path alone still proves the leaf al would have to know already.
        assert root_from_inclusion(index, size, leaf_hash(found[index][1]), proof.path) == checkpoint.root_hash
    # it-dgi, the partner of that exchange, is shown it.
    theirs = await fabric.nodes[IT].transport.inclusion_proof(GR, hidden[0], size)
    assert theirs.leaf == found[hidden[0]][1]


async def test_checkpoint_answers_the_latest_signed_or_the_latest_cosigned_and_says_when_there_is_none(
    fabric: Fabric,
) -> None:
    """Before any checkpoint: PreconditionFailed; a log never cosigned: NotFound; then what was kept."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    with pytest.raises(PreconditionFailed):
        await gr.peer_api.checkpoint(AL, "")
    with pytest.raises(NotFound):
        await al.peer_api.checkpoint(IT, GR)
    signed, _ = await _checkpoint(gr)
    assert (await gr.peer_api.checkpoint(AL, GR)).checkpoint == signed.checkpoint
    await al.witness.check_all([GR])
    cosigned = await al.peer_api.checkpoint(IT, GR)
    assert cosigned.checkpoint == signed.checkpoint
    [cosignature] = cosigned.cosignatures
    assert audit_pb2.CosignedContent.FromString(cosignature.content).witness_node == AL


async def test_cosign_keeps_only_the_callers_own_cosignature_of_a_checkpoint_this_node_signed(
    fabric: Fabric,
) -> None:
    """Another witness's, unsigned-checkpoint, unknown-key or garbled cosignatures: UsageError, not kept."""
    gr, al, it = fabric.nodes[GR], fabric.nodes[AL], fabric.nodes[IT]
    signed, checkpoint = await _checkpoint(gr)
    al_key, it_key = al.keyring.log_signer, it.keyring.log_signer
    assert al_key is not None
    assert it_key is not None
    now = fabric.clock()
    never_signed = audit_pb2.Checkpoint(
        log_node=GR, size=checkpoint.size, root_hash=b"\x01" * 32, issued_at_ms=now
    ).SerializeToString()
    refused = {
        "another witness's": cosign(it_key, witness=IT, checkpoint=signed.checkpoint, at_ms=now),
        "never signed": cosign(al_key, witness=AL, checkpoint=never_signed, at_ms=now),
        "unknown key": cosign(AdminSigner.generate(), witness=AL, checkpoint=signed.checkpoint, at_ms=now),
        "garbage": audit_pb2.Cosignature(content=b"\xff\xff"),
    }
    for what, cosignature in refused.items():
        with pytest.raises(UsageError, match="cosignature refused"):
            await gr.peer_api.cosign(AL, cosignature)
        with pytest.raises(UsageError):  # the same over the network
            await al.transport.cosign(GR, cosignature)
        assert await gr.store.audit.cosignatures(checkpoint.size) == [], what
    await al.transport.cosign(GR, cosign(al_key, witness=AL, checkpoint=signed.checkpoint, at_ms=now))
    assert len(await gr.store.audit.cosignatures(checkpoint.size)) == 1


async def test_bundle_is_served_only_when_newer_than_the_callers(fabric: Fabric) -> None:
    """The verified directory's bytes for an older version; nothing for the same one."""
    al = fabric.nodes[AL]
    directory = fabric.nodes[GR].cache.current
    assert await al.transport.fetch_bundle(GR, directory.version - 1) == (directory.version, directory.raw)
    assert await al.transport.fetch_bundle(GR, directory.version) == (directory.version, None)


async def test_cosign_refuses_a_cosignature_dated_past_this_nodes_clock_skew_and_keeps_only_what_verified(
    fabric: Fabric,
) -> None:
    """Dated later than now + the clock skew: refused, not kept. At the edge: kept, without the junk
    signature and the unknown field the partner added."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    signed, checkpoint = await _checkpoint(gr)
    al_key = al.keyring.log_signer
    assert al_key is not None
    edge = fabric.clock() + gr.limits.clock_skew_ms
    future = cosign(al_key, witness=AL, checkpoint=signed.checkpoint, at_ms=edge + 1)
    skew = gr.limits.clock_skew_ms
    with pytest.raises(UsageError, match=rf"cosignature refused: .* dated {skew + 1} ms after this node's clock"):
        await al.transport.cosign(GR, future)
    assert await gr.store.audit.cosignatures(checkpoint.size) == []
    on_time = cosign(al_key, witness=AL, checkpoint=signed.checkpoint, at_ms=edge)
    valid = list(on_time.signatures)
    on_time.signatures.append(common_pb2.Signature(key_id=al_key.key_id, algorithm=valid[1].algorithm, value=b"x"))
    on_time.MergeFromString(b"\x98\x06\x01")
    await al.transport.cosign(GR, on_time)
    [kept] = await gr.store.audit.cosignatures(checkpoint.size)
    assert kept == audit_pb2.Cosignature(content=on_time.content, signatures=valid).SerializeToString()


async def test_gossip_tells_a_partner_only_about_logs_of_nodes_it_has_an_agreement_with(fabric: Fabric) -> None:
    """GetCheckpoint(log_node=X): answered when the caller and X are both partners of this node and of
    each other (or X is the caller); otherwise PermissionDenied, before any lookup."""
    gr, al, it = fabric.nodes[GR], fabric.nodes[AL], fabric.nodes[IT]
    for node in (gr, al, it):
        await node.checkpoints.get()
    assert [o.result for o in await gr.witness.check_all([AL, IT])] == ["cosigned", "cosigned"]
    assert [o.result for o in await al.witness.check_all([GR])] == ["cosigned"]
    # What witness gossip asks (it-dgi, checking gr, asks gr's other partner al): answered.
    assert audit_pb2.Checkpoint.FromString((await it.transport.checkpoint(AL, GR)).checkpoint).log_node == GR
    assert (await it.transport.checkpoint(GR, AL)).checkpoint  # AL and IT have an agreement, for now

    def suspend(agreements: dict[str, directory_pb2.Agreement]) -> None:
        for agreement in agreements.values():
            if set(agreement.parties) == {"AL", "IT"}:
                agreement.status = directory_pb2.AGREEMENT_STATUS_SUSPENDED

    await fabric.republish(mutate_agreements=suspend)
    with pytest.raises(PermissionDenied, match="'it-dgi' has no agreement in force with 'al-shss'"):
        await it.transport.checkpoint(GR, AL)
    with pytest.raises(PermissionDenied, match="'al-shss' has no agreement in force with 'it-dgi'"):
        await al.transport.checkpoint(GR, IT)
    with pytest.raises(PermissionDenied, match="'xx-stranger' is not a partner of this node"):
        await al.transport.checkpoint(GR, "xx-stranger")  # before: NotFound, a hint at what gr witnesses
    mine = await al.transport.checkpoint(GR, AL)  # what gr cosigned of al's own log
    assert audit_pb2.Checkpoint.FromString(mine.checkpoint).log_node == AL
