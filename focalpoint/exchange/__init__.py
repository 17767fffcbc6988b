"""The exchange between nodes, as pure rules: bytes in, a verified object or a typed refusal out.

- ``envelope``: sealing, and receive steps 1–13 (docs/protocol.md §3);
- ``body``: validation of message bodies, every kind, every broken rule at once with its field
  path, and the pseudonymous case reference they carry;
- ``rules``: the one table of rules ``body`` applies (printed into docs/protocol.md §11.6);
- ``receipt``: signed receipts, single and batch (R1–R3);
- ``policy``: the bilateral agreements as rules (receive step 13a) and who a node's partners are;
- ``ping``: signed pings and their answers;
- ``codec``: wire <-> domain conversions (refusals).

Imports: ``focalpoint.crypto``, ``directory`` and the foundation (``errors``, ``ids``, ``v1``).
No I/O, no clock reads (the time is passed in), no grpc.
"""

from focalpoint.exchange.body import (
    KINDS,
    SUPPORTED_KINDS,
    InvalidBody,
    Problem,
    body_kind,
    body_problems,
    case_ref_of,
    validate_body,
)
from focalpoint.exchange.codec import MAX_REASON_CHARS, refusal_from_proto, refusal_to_proto
from focalpoint.exchange.envelope import (
    Limits,
    OpenedMessage,
    SealedEnvelope,
    envelope_digest,
    message_id_of,
    open_envelope,
    parse_payload,
    seal,
)
from focalpoint.exchange.ping import answer_ping, check_pong, make_ping
from focalpoint.exchange.policy import check_exchange, partners
from focalpoint.exchange.receipt import VerifiedReceipt, make_batch_receipts, make_receipt, verify_receipt

__all__ = [
    "KINDS",
    "MAX_REASON_CHARS",
    "SUPPORTED_KINDS",
    "InvalidBody",
    "Limits",
    "OpenedMessage",
    "Problem",
    "SealedEnvelope",
    "VerifiedReceipt",
    "answer_ping",
    "body_kind",
    "body_problems",
    "case_ref_of",
    "check_exchange",
    "check_pong",
    "envelope_digest",
    "make_batch_receipts",
    "make_ping",
    "make_receipt",
    "message_id_of",
    "open_envelope",
    "parse_payload",
    "partners",
    "refusal_from_proto",
    "refusal_to_proto",
    "seal",
    "validate_body",
    "verify_receipt",
]
