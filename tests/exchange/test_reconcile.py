"""Reconciliation's question and answer (focalpoint.exchange.reconcile), without a network."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from focalpoint.errors import UsageError, VerificationError
from focalpoint.exchange import reconcile
from focalpoint.exchange.reconcile import MAX_ASKED, SETTLED_AFTER_MS, Asked
from focalpoint.v1 import envelope_pb2, node_pb2

EXPIRY = 1_000_000


def asked(n: int, expires_at_ms: int = EXPIRY) -> list[Asked]:
    return [Asked(os.urandom(16), os.urandom(32), expires_at_ms) for _ in range(n)]


def receipt_bytes(tag: bytes) -> bytes:
    return envelope_pb2.Receipt(content=b"receipt of " + tag).SerializeToString()


def test_a_held_message_is_answered_with_the_stored_receipt_whatever_the_time() -> None:
    question = asked(1)
    held = {question[0].message_id: receipt_bytes(b"a")}
    for now in (EXPIRY - 1, EXPIRY + 10 * SETTLED_AFTER_MS):
        answer = reconcile.answer(reconcile.request(question), held, now)
        assert answer.answered_at_ms == now
        settled = reconcile.settle(question, answer)
        assert settled.receipts[question[0].message_id].SerializeToString() == held[question[0].message_id]
        assert (settled.never, settled.open) == ([], 0)


def test_not_held_is_final_only_once_no_delivery_can_still_be_stored() -> None:
    """NOT_YET until SETTLED_AFTER_MS past the expiry on the receiver's clock, NEVER from then on."""
    question = asked(1)
    for now, never in ((EXPIRY - 1, False), (EXPIRY + SETTLED_AFTER_MS - 1, False), (EXPIRY + SETTLED_AFTER_MS, True)):
        settled = reconcile.settle(question, reconcile.answer(reconcile.request(question), {}, now))
        assert (settled.never, settled.open) == (([question[0].message_id], 0) if never else ([], 1))


@given(st.lists(st.sampled_from(["held", "young", "old"]), min_size=1, max_size=40))
def test_every_answer_settles_exactly_what_the_receiver_holds_and_what_is_final(kinds: list[str]) -> None:
    now = EXPIRY + SETTLED_AFTER_MS
    question = [Asked(os.urandom(16), b"d", now if k == "young" else EXPIRY) for k in kinds]
    held = {a.message_id: receipt_bytes(a.message_id) for a, k in zip(question, kinds, strict=True) if k == "held"}
    settled = reconcile.settle(question, reconcile.answer(reconcile.request(question), held, now))
    assert {m: r.SerializeToString() for m, r in settled.receipts.items()} == held
    assert settled.never == [a.message_id for a, k in zip(question, kinds, strict=True) if k == "old"]
    assert settled.open == kinds.count("young")


def test_the_question_is_checked_before_anything_is_looked_up() -> None:
    good = reconcile.request(asked(2))
    assert reconcile.asked_ids(good) == [m.message_id for m in good.messages]
    bad: list[tuple[node_pb2.ReceiptsRequest, str]] = [
        (node_pb2.ReceiptsRequest(), "names 1 to 1024 messages, not 0"),
        (
            node_pb2.ReceiptsRequest(
                messages=[node_pb2.AskedMessage(message_id=os.urandom(16), expires_at_ms=1)] * 1025
            ),
            "not 1025",
        ),
        (
            node_pb2.ReceiptsRequest(messages=[node_pb2.AskedMessage(message_id=b"short", expires_at_ms=1)]),
            "16 bytes, not 5",
        ),
        (node_pb2.ReceiptsRequest(messages=[node_pb2.AskedMessage(message_id=os.urandom(16))]), "positive time, not 0"),
        (node_pb2.ReceiptsRequest(messages=[good.messages[0], good.messages[0]]), "message 1: asked twice"),
    ]
    for request, said in bad:
        with pytest.raises(UsageError, match=said):
            reconcile.asked_ids(request)
    with pytest.raises(ValueError, match="1 to 1024"):
        reconcile.request(asked(MAX_ASKED + 1))


def test_an_answer_that_does_not_fit_the_question_is_not_used() -> None:
    question = asked(2)
    answer = reconcile.answer(reconcile.request(question), {}, EXPIRY + SETTLED_AFTER_MS)
    short = node_pb2.ReceiptsResponse(messages=answer.messages[:1])
    swapped = node_pb2.ReceiptsResponse(messages=list(reversed(answer.messages)))
    no_receipt = node_pb2.ReceiptsResponse()
    no_receipt.CopyFrom(answer)
    no_receipt.messages[0].holding = node_pb2.HOLDING_HELD
    unknown = node_pb2.ReceiptsResponse()
    unknown.CopyFrom(answer)
    unknown.messages[1].holding = node_pb2.HOLDING_UNSPECIFIED
    for wrong, said in (
        (short, "names 1 messages; 2 were asked"),
        (swapped, "answer 0 is about another message"),
        (no_receipt, "answer 0 says the message is held but carries no receipt"),
        (unknown, "answer 1 holds an unknown answer"),
    ):
        with pytest.raises(VerificationError, match=said):
            reconcile.settle(question, wrong)
