"""The receive path (``Inbox``) over the fakes: what is stored, logged and answered for each
envelope, alone or in a batch, handed in directly or over the in-memory network."""

from __future__ import annotations

import pytest

from focalpoint.audit import events as audit_events
from focalpoint.errors import Refusal, RefusalError
from focalpoint.exchange.receipt import verify_receipt
from focalpoint.localnet.samples import case_ref_for
from focalpoint.v1 import audit_pb2, envelope_pb2
from tests.node.conftest import Fabric, events, eventually

DELIVERED = audit_pb2.AUDIT_EVENT_KIND_DELIVERED
REFUSED = audit_pb2.AUDIT_EVENT_KIND_REFUSED


def _content(receipt: envelope_pb2.Receipt) -> envelope_pb2.ReceiptContent:
    return envelope_pb2.ReceiptContent.FromString(receipt.content)


async def test_an_envelope_from_a_partner_is_stored_with_a_delivered_event_that_its_receipt_names(
    fabric: Fabric,
) -> None:
    """The inbox row, the DELIVERED event and a signed receipt naming that event's log index."""
    al = fabric.nodes["al-shss"]
    sealed = fabric.seal("gr-ekka", "al-shss", case_ref=case_ref_for(101), sequence=7)
    answer = await al.inbox.receive(sealed.envelope, "gr-ekka")
    assert not answer.duplicate
    content = _content(answer.receipt)
    assert (content.receiver_node, content.sender_node) == ("al-shss", "gr-ekka")
    assert content.message_id == sealed.message_id
    assert content.envelope_sha256 == sealed.digest
    event = audit_events.decode(await al.store.audit.read(lambda view: view.leaf(content.log_index)))
    assert event.kind == DELIVERED
    assert (event.peer_node, event.message_id, event.envelope_sha256) == ("gr-ekka", sealed.message_id, sealed.digest)
    assert (event.case_ref, event.sequence) == (case_ref_for(101), 7)
    # The sender can verify the receipt against the directory it shares with the receiver.
    gr = fabric.nodes["gr-ekka"]
    verified = verify_receipt(
        answer.receipt,
        keys=gr.cache.current,
        receiver_node="al-shss",
        sender_node="gr-ekka",
        message_id=sealed.message_id,
        envelope_digest=sealed.digest,
    )
    assert verified.content.log_index == content.log_index
    row = await al.store.inbox.get("gr-ekka", sealed.message_id)
    assert row is not None
    assert row.receipt == answer.receipt.SerializeToString()
    assert row.digest == sealed.digest
    assert row.case_ref == case_ref_for(101)
    assert envelope_pb2.Envelope.FromString(row.envelope) == sealed.envelope


async def test_a_duplicate_gets_the_original_receipt_and_appends_nothing(fabric: Fabric) -> None:
    """The same envelope again: ``duplicate=True``, the first receipt, no new row or event."""
    al = fabric.nodes["al-shss"]
    sealed = fabric.seal("gr-ekka", "al-shss")
    first = await al.inbox.receive(sealed.envelope, "gr-ekka")
    size = al.store.audit.size
    fabric.clock.advance(5)  # a later receipt would carry a later time
    again = await al.inbox.receive(sealed.envelope, "gr-ekka")
    assert again.duplicate
    assert again.receipt.SerializeToString() == first.receipt.SerializeToString()
    assert al.store.audit.size == size
    assert await al.store.inbox.count() == 1


async def test_the_same_message_id_with_another_envelope_is_refused_as_a_replay(fabric: Fabric) -> None:
    """A second envelope reusing a message id is REPLAY, logged, and the first one stays."""
    al = fabric.nodes["al-shss"]
    first = fabric.seal("gr-ekka", "al-shss", case_ref=case_ref_for(102))
    await al.inbox.receive(first.envelope, "gr-ekka")
    size = al.store.audit.size
    second = fabric.seal("gr-ekka", "al-shss", case_ref=case_ref_for(103), message_id=first.message_id)
    assert second.digest != first.digest
    with pytest.raises(RefusalError) as refused:
        await al.inbox.receive(second.envelope, "gr-ekka")
    assert refused.value.code is Refusal.REPLAY
    assert not refused.value.retryable
    [(index, event)] = await events(al, REFUSED)
    assert index == size  # the refusal is the only event appended
    assert al.store.audit.size == size + 1
    assert (event.peer_node, event.message_id, Refusal(event.refusal)) == ("gr-ekka", first.message_id, Refusal.REPLAY)
    row = await al.store.inbox.get("gr-ekka", first.message_id)
    assert row is not None
    assert row.digest == first.digest
    assert row.case_ref == case_ref_for(102)


@pytest.mark.parametrize("fault", ["wrong recipient", "expired", "altered ciphertext"])
async def test_a_refused_envelope_is_logged_by_its_code_only_and_not_stored(fabric: Fabric, fault: str) -> None:
    """Each refusal is one REFUSED event naming the caller, the message id and the code; never the reason."""
    it = fabric.nodes["it-dgi"]
    if fault == "wrong recipient":  # gr's envelope for al, handed to it
        sealed, expected = fabric.seal("gr-ekka", "al-shss"), Refusal.WRONG_RECIPIENT
    elif fault == "expired":
        sealed, expected = fabric.seal("gr-ekka", "it-dgi", ttl_s=60), Refusal.EXPIRED
        fabric.clock.advance(61)
    else:
        sealed, expected = fabric.seal("gr-ekka", "it-dgi"), Refusal.DECRYPTION_FAILED
        sealed.envelope.ciphertext = sealed.envelope.ciphertext[:-1] + bytes([sealed.envelope.ciphertext[-1] ^ 1])
    size = it.store.audit.size
    with pytest.raises(RefusalError) as refused:
        await it.inbox.receive(sealed.envelope, "gr-ekka")
    assert refused.value.code is expected
    assert it.store.audit.size == size + 1
    [(_, event)] = await events(it, REFUSED)
    assert (event.peer_node, event.message_id, Refusal(event.refusal)) == ("gr-ekka", sealed.message_id, expected)
    assert event.status == ""
    assert refused.value.reason.encode() not in event.SerializeToString()
    assert await it.store.inbox.count() == 0
    assert not await events(it, DELIVERED)


async def test_an_envelope_whose_sender_is_not_the_calling_peer_is_refused_over_the_network(fabric: Fabric) -> None:
    """it-dgi relays gr-ekka's envelope: SENDER_NOT_PEER reaches it-dgi, and al logs it-dgi as the caller."""
    al, it = fabric.nodes["al-shss"], fabric.nodes["it-dgi"]
    sealed = fabric.seal("gr-ekka", "al-shss")
    with pytest.raises(RefusalError) as refused:
        await it.transport.deliver("al-shss", sealed.envelope)
    assert refused.value.code is Refusal.SENDER_NOT_PEER
    assert ("it-dgi", "al-shss", "Deliver") in fabric.network.calls
    [(_, event)] = await events(al, REFUSED)
    assert (event.peer_node, Refusal(event.refusal)) == ("it-dgi", Refusal.SENDER_NOT_PEER)
    assert await al.store.inbox.count() == 0
    # The same envelope from its real sender is accepted: the refusal kept nothing in the way.
    answer = await fabric.nodes["gr-ekka"].transport.deliver("al-shss", sealed.envelope)
    assert not answer.duplicate
    assert await al.store.inbox.get("gr-ekka", sealed.message_id) is not None


async def test_a_batch_is_stored_in_one_commit_under_one_signed_receipt_root(fabric: Fabric) -> None:
    """Every envelope of a batch: one transaction, consecutive DELIVERED events, one signed root."""
    al = fabric.nodes["al-shss"]
    store = fabric.stores["al-shss"]
    sealed = [fabric.seal("gr-ekka", "al-shss", case_ref=case_ref_for(200 + i), sequence=i + 1) for i in range(4)]
    commits, size = store.commits, al.store.audit.size
    results = await al.inbox.receive_batch([s.envelope for s in sealed], "gr-ekka")
    assert store.commits == commits + 1
    assert [r.WhichOneof("outcome") for r in results] == ["delivered"] * 4
    assert [r.message_id for r in results] == [s.message_id for s in sealed]
    receipts = [r.delivered.receipt for r in results]
    assert len({r.batch.root for r in receipts}) == 1
    assert receipts[0].batch.root
    assert [r.batch.leaf_index for r in receipts] == [0, 1, 2, 3]
    assert [_content(r).log_index for r in receipts] == list(range(size, size + 4))
    assert al.store.audit.size == size + 4
    assert await al.store.inbox.count() == 4
    roots: set[bytes] = set()
    directory = fabric.nodes["gr-ekka"].cache.current
    for s, receipt in zip(sealed, receipts, strict=True):
        verify_receipt(
            receipt,
            keys=directory,
            receiver_node="al-shss",
            sender_node="gr-ekka",
            message_id=s.message_id,
            envelope_digest=s.digest,
            verified_roots=roots,
        )
    assert len(roots) == 1


async def test_a_batch_answers_each_envelope_in_order_and_refuses_only_the_bad_ones(fabric: Fabric) -> None:
    """A misaddressed envelope in the middle of a batch is refused; the others are stored."""
    al = fabric.nodes["al-shss"]
    good = [fabric.seal("gr-ekka", "al-shss") for _ in range(2)]
    stray = fabric.seal("gr-ekka", "it-dgi")
    results = await al.inbox.receive_batch([good[0].envelope, stray.envelope, good[1].envelope], "gr-ekka")
    assert [r.message_id for r in results] == [good[0].message_id, stray.message_id, good[1].message_id]
    assert [r.WhichOneof("outcome") for r in results] == ["delivered", "refused", "delivered"]
    assert Refusal(results[1].refused.code) is Refusal.WRONG_RECIPIENT
    assert results[0].delivered.receipt.batch.root == results[2].delivered.receipt.batch.root
    assert await al.store.inbox.count() == 2
    [(_, event)] = await events(al, REFUSED)
    assert (event.message_id, Refusal(event.refusal)) == (stray.message_id, Refusal.WRONG_RECIPIENT)


async def test_a_failing_store_refuses_with_a_retryable_unavailable_and_keeps_nothing(fabric: Fabric) -> None:
    """A failed disk: retryable UNAVAILABLE, nothing stored or logged; afterwards the same envelope is accepted."""
    al, gr = fabric.nodes["al-shss"], fabric.nodes["gr-ekka"]
    store = fabric.stores["al-shss"]
    sealed = fabric.seal("gr-ekka", "al-shss")
    commits, size = store.commits, al.store.audit.size
    store.fail_next_writes(1)
    with pytest.raises(RefusalError) as refused:
        await gr.transport.deliver("al-shss", sealed.envelope)
    assert refused.value.code is Refusal.UNAVAILABLE
    assert refused.value.retryable
    assert "simulated" not in refused.value.reason  # the peer learns nothing about the disk
    assert (store.commits, al.store.audit.size, store.failing_writes) == (commits, size, 0)
    assert await al.store.inbox.count() == 0
    answer = await gr.transport.deliver("al-shss", sealed.envelope)
    assert not answer.duplicate
    assert [e.message_id for _, e in await events(al, DELIVERED)] == [sealed.message_id]
    assert not await events(al, REFUSED)


async def test_a_failing_store_refuses_every_envelope_of_a_batch_as_unavailable(fabric: Fabric) -> None:
    """One failed batch transaction: each envelope is answered UNAVAILABLE, none is stored."""
    al = fabric.nodes["al-shss"]
    fabric.stores["al-shss"].fail_next_writes(1)
    sealed = [fabric.seal("gr-ekka", "al-shss") for _ in range(3)]
    size = al.store.audit.size
    results = await al.inbox.receive_batch([s.envelope for s in sealed], "gr-ekka")
    assert [Refusal(r.refused.code) for r in results] == [Refusal.UNAVAILABLE] * 3
    assert al.store.audit.size == size
    assert await al.store.inbox.count() == 0


async def test_a_checkpoint_carried_by_an_envelope_has_the_receiver_witness_the_sender(fabric: Fabric) -> None:
    """The carried checkpoint is not stored with the envelope, but al checks and cosigns gr's log."""
    gr, al = fabric.nodes["gr-ekka"], fabric.nodes["al-shss"]
    await gr.store.audit.record(
        [audit_events.status_changed(at_ms=fabric.clock(), actor="t", case_ref="C", status="x")]
    )
    signed = await gr.checkpoints.get()
    sealed = fabric.seal("gr-ekka", "al-shss")
    sealed.envelope.checkpoint = signed.SerializeToString()
    await gr.transport.deliver("al-shss", sealed.envelope)
    row = await al.store.inbox.get("gr-ekka", sealed.message_id)
    assert row is not None
    assert not envelope_pb2.Envelope.FromString(row.envelope).checkpoint

    size = audit_pb2.Checkpoint.FromString(signed.checkpoint).size

    async def cosigned() -> bool:
        return len(await gr.store.audit.cosignatures(size)) == 1

    await eventually(cosigned, what="al cosigns the checkpoint gr carried and hands the cosignature back")
    kept = await al.store.audit.witnessed("gr-ekka")
    assert kept is not None
    assert audit_pb2.SignedCheckpoint.FromString(kept).checkpoint == signed.checkpoint
