"""Reconciliation (pure): after a receiver's answers were lost for longer than a message's
lifetime, the sender asks it which of its expired messages it holds (docs/protocol.md §7.6).

The receiver answers for each asked message, from its inbox and its own clock:
  - HELD, with the receipt it gave when it stored the message (the original, so the sender's
    evidence is the same as if the first answer had arrived);
  - NEVER, when it does not hold it and never will: the message expired on the receiver's clock
    at least ``SETTLED_AFTER_MS`` ago, so every delivery of it is refused (receive step
    "expired"), including one that was already in flight when it expired;
  - NOT_YET otherwise (a delivery may still be on its way): the sender asks again later.

The sender closes an expired entry only on an answer that settles it: a receipt that verifies
as for any delivery (DELIVERED), or NEVER (NOT_RECEIVED: only then may its content be sent
again). A receiver that lied with NEVER would hold a message its own log records as DELIVERED,
a log its partners witness.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from focalpoint.errors import UsageError, VerificationError
from focalpoint.exchange.envelope import MESSAGE_ID_LEN
from focalpoint.v1 import envelope_pb2, node_pb2

__all__ = ["MAX_ASKED", "SETTLED_AFTER_MS", "Asked", "Settlement", "answer", "asked_ids", "request", "settle"]

# At most this many messages per question (a few dozen kB each way).
MAX_ASKED = 1024
# How long after a message's expiry (receiver's clock) a delivery of it can no longer be in flight
# or waiting to be stored: past this, "not held" is final.
SETTLED_AFTER_MS = 5 * 60_000


@dataclass(frozen=True, slots=True)
class Asked:
    """One of the sender's expired, unconfirmed messages."""

    message_id: bytes
    digest: bytes
    expires_at_ms: int


@dataclass(slots=True)
class Settlement:
    """What one answer settles: receipts to verify (by message id), messages never received, and
    how many are still open (ask again later)."""

    receipts: dict[bytes, envelope_pb2.Receipt] = field(default_factory=dict)
    never: list[bytes] = field(default_factory=list)
    open: int = 0


def request(asked: Sequence[Asked]) -> node_pb2.ReceiptsRequest:
    if not 0 < len(asked) <= MAX_ASKED:
        raise ValueError(f"ask about 1 to {MAX_ASKED} messages at a time, not {len(asked)}")
    return node_pb2.ReceiptsRequest(
        messages=[node_pb2.AskedMessage(message_id=a.message_id, expires_at_ms=a.expires_at_ms) for a in asked]
    )


def asked_ids(req: node_pb2.ReceiptsRequest) -> list[bytes]:
    """The message ids a question asks about, checked; raises UsageError naming what is wrong."""
    n = len(req.messages)
    if not 0 < n <= MAX_ASKED:
        raise UsageError(f"a question about receipts names 1 to {MAX_ASKED} messages, not {n}")
    ids: list[bytes] = []
    seen: set[bytes] = set()
    for i, m in enumerate(req.messages):
        if len(m.message_id) != MESSAGE_ID_LEN:
            raise UsageError(f"message {i}: a message id is {MESSAGE_ID_LEN} bytes, not {len(m.message_id)}")
        if m.expires_at_ms <= 0:
            raise UsageError(f"message {i}: expires_at_ms must be a positive time, not {m.expires_at_ms}")
        if m.message_id in seen:
            raise UsageError(f"message {i}: asked twice in one question")
        seen.add(m.message_id)
        ids.append(m.message_id)
    return ids


def answer(req: node_pb2.ReceiptsRequest, held: Mapping[bytes, bytes | None], now_ms: int) -> node_pb2.ReceiptsResponse:
    """The receiver's answer, given the receipts it stored for the asker's messages (``held``,
    from the inbox, keyed by message id; None for one it holds but cannot read the receipt of) and
    its clock. ``req`` was checked by ``asked_ids``. A message held is never answered "never": one
    whose receipt cannot be read is "not yet" (its damage is for this node's operators to repair)."""
    out = node_pb2.ReceiptsResponse(answered_at_ms=now_ms)
    for m in req.messages:
        one = out.messages.add(message_id=m.message_id)
        if m.message_id in held:
            receipt = _parsed(held[m.message_id])
            if receipt is None:
                one.holding = node_pb2.HOLDING_NOT_YET
            else:
                one.holding = node_pb2.HOLDING_HELD
                one.receipt.CopyFrom(receipt)
        elif now_ms >= m.expires_at_ms + SETTLED_AFTER_MS:
            one.holding = node_pb2.HOLDING_NEVER
        else:
            one.holding = node_pb2.HOLDING_NOT_YET
    return out


def _parsed(raw: bytes | None) -> envelope_pb2.Receipt | None:
    if raw is None:
        return None
    try:
        return envelope_pb2.Receipt.FromString(raw)
    except DecodeError:
        return None


def settle(asked: Sequence[Asked], resp: node_pb2.ReceiptsResponse) -> Settlement:
    """Read the receiver's answer to ``request(asked)``; raises VerificationError when it does not
    answer the question asked (then nothing of it is used)."""
    if len(resp.messages) != len(asked):
        raise VerificationError(f"the answer names {len(resp.messages)} messages; {len(asked)} were asked about")
    out = Settlement()
    for i, (a, m) in enumerate(zip(asked, resp.messages, strict=True)):
        if m.message_id != a.message_id:
            raise VerificationError(f"answer {i} is about another message than the one asked")
        if m.holding == node_pb2.HOLDING_HELD:
            if not m.HasField("receipt"):
                raise VerificationError(f"answer {i} says the message is held but carries no receipt")
            out.receipts[a.message_id] = m.receipt
        elif m.holding == node_pb2.HOLDING_NEVER:
            out.never.append(a.message_id)
        elif m.holding == node_pb2.HOLDING_NOT_YET:
            out.open += 1
        else:
            raise VerificationError(f"answer {i} holds an unknown answer ({m.holding})")
    return out
