"""The tamper-evident audit log, as pure rules (docs/protocol.md §10).

- ``events``: what the log records, one constructor per event kind (identifiers, digests,
  codes and pseudonymous case references only), and how an event is shown;
- ``tree``: RFC 9162 tree heads, inclusion and consistency proofs over stored complete
  subtrees (the storage is passed in);
- ``checkpoint``: signed checkpoints, witness cosignatures, and the contradiction rules;
- ``evidence``: a case's evidence file and its offline check (E1–E8);
- ``verify``: the one check of a stored log (V1–V6) over a ``LogReader``.

Imports: ``focalpoint.exchange``, ``focalpoint.crypto``, ``directory`` and the foundation.
Storing the log is ``focalpoint.storage``'s job; witnessing and exporting are the node's.
"""

from focalpoint.audit.checkpoint import (
    VerifiedCheckpoint,
    checked_cosignature,
    contradiction,
    cosign,
    make_checkpoint,
    parse_signed_checkpoint,
    stored_checkpoint,
    verify_checkpoint,
    verify_cosignature,
    with_cosignatures,
)
from focalpoint.audit.events import EXCHANGE_KINDS, decode, event_summary
from focalpoint.audit.evidence import EvidenceReport, seal_evidence, verify_evidence
from focalpoint.audit.tree import Tail
from focalpoint.audit.verify import Damage, LogReader, LogReport, check_log, find_damage

__all__ = [
    "EXCHANGE_KINDS",
    "Damage",
    "EvidenceReport",
    "LogReader",
    "LogReport",
    "Tail",
    "VerifiedCheckpoint",
    "check_log",
    "checked_cosignature",
    "contradiction",
    "cosign",
    "decode",
    "event_summary",
    "find_damage",
    "make_checkpoint",
    "parse_signed_checkpoint",
    "seal_evidence",
    "stored_checkpoint",
    "verify_checkpoint",
    "verify_cosignature",
    "verify_evidence",
    "with_cosignatures",
]
