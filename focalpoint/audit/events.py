"""What the audit log records: one constructor per event kind (pure).

A leaf is the exact serialized ``AuditEvent``. Events carry identifiers, digests, codes
and pseudonymous case references only: never a name, a body or free text a peer wrote
(a refusal's reason is the peer's words, so only its code is logged).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format

from focalpoint.v1 import audit_pb2, envelope_pb2

__all__ = [
    "EXCHANGE_KINDS",
    "Kind",
    "access_denied",
    "account_changed",
    "anomaly",
    "break_glass",
    "cosigned",
    "decode",
    "delivered",
    "directory_accepted",
    "event_summary",
    "expired",
    "exported",
    "indicator_read",
    "iso_time",
    "key_changed",
    "listed",
    "login",
    "login_failed",
    "logout",
    "not_received",
    "peer_restored",
    "read",
    "receipted",
    "refusal_summary",
    "refused",
    "refused_by_peer",
    "restored",
    "sealed_exported",
    "sealed_imported",
    "sent",
    "status_changed",
    "viewed",
    "witness_alarm",
]

Kind = audit_pb2.AuditEventKind
MAX_ACTOR = 128
# Events about an exchange with a peer, which that peer may be shown (never reads or exports).
EXCHANGE_KINDS = frozenset(
    {
        Kind.AUDIT_EVENT_KIND_SENT,
        Kind.AUDIT_EVENT_KIND_DELIVERED,
        Kind.AUDIT_EVENT_KIND_RECEIPTED,
        Kind.AUDIT_EVENT_KIND_REFUSED,
        Kind.AUDIT_EVENT_KIND_REFUSED_BY_PEER,
        Kind.AUDIT_EVENT_KIND_EXPIRED,
        Kind.AUDIT_EVENT_KIND_NOT_RECEIVED,
    }
)


def _leaf(**fields: object) -> bytes:
    return audit_pb2.AuditEvent(**fields).SerializeToString(deterministic=True)  # type: ignore[arg-type]


def decode(leaf: bytes) -> audit_pb2.AuditEvent:
    return audit_pb2.AuditEvent.FromString(leaf)


def sent(
    *, at_ms: int, recipient: str, message_id: bytes, digest: bytes, case_ref: str, kind: str, sequence: int
) -> bytes:
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_SENT,
        at_ms=at_ms,
        peer_node=recipient,
        message_id=message_id,
        envelope_sha256=digest,
        case_ref=case_ref,
        message_kind=kind,
        sequence=sequence,
    )


def delivered(
    *, at_ms: int, sender: str, message_id: bytes, digest: bytes, case_ref: str, kind: str, sequence: int
) -> bytes:
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_DELIVERED,
        at_ms=at_ms,
        peer_node=sender,
        message_id=message_id,
        envelope_sha256=digest,
        case_ref=case_ref,
        message_kind=kind,
        sequence=sequence,
    )


def receipted(
    *, at_ms: int, recipient: str, message_id: bytes, digest: bytes, case_ref: str, receipt: bytes, peer_log_index: int
) -> bytes:
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_RECEIPTED,
        at_ms=at_ms,
        peer_node=recipient,
        message_id=message_id,
        envelope_sha256=digest,
        case_ref=case_ref,
        receipt_sha256=hashlib.sha256(receipt).digest(),
        peer_log_index=peer_log_index,
    )


def refused(
    *, at_ms: int, sender: str, code: envelope_pb2.RefusalCode.ValueType, count: int = 1, message_id: bytes = b""
) -> bytes:
    """This node refused ``count`` envelopes of one incoming call from ``sender`` with ``code``;
    ``message_id`` (as the header claimed it) is kept only when the event stands for one envelope."""
    if count < 1:
        raise ValueError(f"a REFUSED event stands for at least one envelope, not {count}")
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_REFUSED,
        at_ms=at_ms,
        peer_node=sender,
        message_id=message_id if count == 1 else b"",
        refusal=code,
        count=count,
    )


def refusal_summary(
    *, at_ms: int, sender: str, window_start_ms: int, counts: Mapping[envelope_pb2.RefusalCode.ValueType, int]
) -> bytes:
    """Every refusal of ``sender``'s envelopes past its budget in the window [``window_start_ms``,
    ``at_ms``): one event, with how many envelopes each code refused (codes in ascending order)."""
    tallies = [audit_pb2.RefusalCount(code=code, count=n) for code, n in sorted(counts.items()) if n > 0]
    if not tallies:
        raise ValueError("a refusal summary needs at least one refused envelope")
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_REFUSED,
        at_ms=at_ms,
        peer_node=sender,
        count=sum(t.count for t in tallies),
        window_start_ms=window_start_ms,
        refusal_counts=tallies,
    )


def refused_by_peer(
    *,
    at_ms: int,
    recipient: str,
    message_id: bytes,
    digest: bytes,
    case_ref: str,
    code: envelope_pb2.RefusalCode.ValueType,
) -> bytes:
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_REFUSED_BY_PEER,
        at_ms=at_ms,
        peer_node=recipient,
        message_id=message_id,
        envelope_sha256=digest,
        case_ref=case_ref,
        refusal=code,
    )


def expired(*, at_ms: int, recipient: str, message_id: bytes, digest: bytes, case_ref: str) -> bytes:
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_EXPIRED,
        at_ms=at_ms,
        peer_node=recipient,
        message_id=message_id,
        envelope_sha256=digest,
        case_ref=case_ref,
    )


def not_received(*, at_ms: int, recipient: str, message_id: bytes, digest: bytes, case_ref: str) -> bytes:
    """The recipient of an expired message said it never stored it and never will (reconciliation)."""
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_NOT_RECEIVED,
        at_ms=at_ms,
        peer_node=recipient,
        message_id=message_id,
        envelope_sha256=digest,
        case_ref=case_ref,
    )


def read(*, at_ms: int, actor: str, case_ref: str, message_id: bytes, peer: str, digest: bytes) -> bytes:
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_READ,
        at_ms=at_ms,
        actor=actor[:MAX_ACTOR],
        case_ref=case_ref,
        message_id=message_id,
        peer_node=peer,
        envelope_sha256=digest,
    )


def viewed(
    *, at_ms: int, actor: str, case_ref: str, peer: str, view: str, purpose: str, message_id: bytes = b""
) -> bytes:
    """A READ of one case (or one of its messages) served to ``actor`` in projection ``view``."""
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_READ,
        at_ms=at_ms,
        actor=actor[:MAX_ACTOR],
        case_ref=case_ref,
        message_id=message_id,
        peer_node=peer,
        view=view,
        purpose=purpose,
    )


def listed(*, at_ms: int, actor: str, count: int, what: str, view: str = "") -> bytes:
    """A LIST of case links (``what``, e.g. ``case list``) shown to ``actor``: how many links it
    showed (``count``), never which."""
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_LIST, at_ms=at_ms, actor=actor[:MAX_ACTOR], count=count, status=what, view=view
    )


def access_denied(*, at_ms: int, actor: str, action: str, case_ref: str = "") -> bytes:
    """``actor`` asked for ``action`` (on ``case_ref``) and the door refused."""
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_ACCESS_DENIED, at_ms=at_ms, actor=actor[:MAX_ACTOR], status=action, case_ref=case_ref
    )


def indicator_read(*, at_ms: int, actor: str, period: str, scope: str) -> bytes:
    """Indicators for ``period`` computed for ``actor``; ``scope``: ``national`` (suppressed) or
    ``unit <unit>`` (an officer's own-unit dashboard)."""
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_INDICATOR_READ,
        at_ms=at_ms,
        actor=actor[:MAX_ACTOR],
        status=f"{period} {scope}",
        view="AGGREGATE",
    )


def login(*, at_ms: int, actor: str, factor: str) -> bytes:
    return _leaf(kind=Kind.AUDIT_EVENT_KIND_LOGIN, at_ms=at_ms, actor=actor[:MAX_ACTOR], status=factor)


def login_failed(*, at_ms: int, actor: str, step: str) -> bytes:
    """A failed login: ``actor`` is the user id the caller typed (it may name no account)."""
    return _leaf(kind=Kind.AUDIT_EVENT_KIND_LOGIN_FAILED, at_ms=at_ms, actor=actor[:MAX_ACTOR], status=step)


def logout(*, at_ms: int, actor: str, why: str) -> bytes:
    return _leaf(kind=Kind.AUDIT_EVENT_KIND_LOGOUT, at_ms=at_ms, actor=actor[:MAX_ACTOR], status=why)


def account_changed(*, at_ms: int, actor: str, subject: str, what: str) -> bytes:
    """``actor`` (an operator, or ``node`` for the machine credential) changed ``subject``'s account."""
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_ACCOUNT_CHANGED,
        at_ms=at_ms,
        actor=actor[:MAX_ACTOR],
        subject=subject[:MAX_ACTOR],
        status=what,
    )


def break_glass(*, at_ms: int, actor: str, case_ref: str, reason_code: str, until_ms: int) -> bytes:
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_BREAK_GLASS,
        at_ms=at_ms,
        actor=actor[:MAX_ACTOR],
        case_ref=case_ref,
        reason_code=reason_code,
        until_ms=until_ms,
    )


def anomaly(*, at_ms: int, subject: str, rule: str, case_ref: str = "", count: int = 0) -> bytes:
    """An access pattern that fired an alert: whose reads (``subject``), which ``rule``."""
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_ANOMALY,
        at_ms=at_ms,
        subject=subject[:MAX_ACTOR],
        status=rule,
        case_ref=case_ref,
        count=count,
    )


def exported(*, at_ms: int, actor: str, case_ref: str, written_request: str = "") -> bytes:
    """An evidence file of ``case_ref`` made for ``actor``; an auditor's names the reference of the
    written request it answers (``status``)."""
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_EXPORTED,
        at_ms=at_ms,
        actor=actor[:MAX_ACTOR],
        case_ref=case_ref,
        status=f"written request {written_request}" if written_request else "",
    )


def status_changed(*, at_ms: int, actor: str, case_ref: str, status: str) -> bytes:
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_STATUS_CHANGED,
        at_ms=at_ms,
        actor=actor[:MAX_ACTOR],
        case_ref=case_ref,
        status=status,
    )


def sealed_exported(
    *, at_ms: int, actor: str, peer: str, file_id: bytes, sequence: int, envelopes: int, receipts: int
) -> bytes:
    """A sealed file for ``peer`` was written (docs/adr/0020): its id and number, what it holds by
    count; never which messages or cases."""
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_SEALED_EXPORTED,
        at_ms=at_ms,
        actor=actor[:MAX_ACTOR],
        peer_node=peer,
        message_id=file_id,
        sequence=sequence,
        count=envelopes,
        status=f"envelopes {envelopes}, receipts {receipts}",
        view="METADATA",
    )


def sealed_imported(
    *, at_ms: int, actor: str, peer: str, file_id: bytes, sequence: int, envelopes: int, outcome: str
) -> bytes:
    """A sealed file from ``peer`` was imported: its id and number, how many envelopes it carried and
    what became of them and of its receipts (``outcome``, counts in words)."""
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_SEALED_IMPORTED,
        at_ms=at_ms,
        actor=actor[:MAX_ACTOR],
        peer_node=peer,
        message_id=file_id,
        sequence=sequence,
        count=envelopes,
        status=outcome,
        view="METADATA",
    )


def directory_accepted(*, at_ms: int, kind: str, name: str, version: int, raw: bytes) -> bytes:
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_DIRECTORY_ACCEPTED,
        at_ms=at_ms,
        document_kind=kind,
        document_name=name,
        document_version=version,
        document_sha256=hashlib.sha256(raw).digest(),
    )


def key_changed(*, at_ms: int, key_id: str, status: str) -> bytes:
    return _leaf(kind=Kind.AUDIT_EVENT_KIND_KEY_CHANGED, at_ms=at_ms, key_id=key_id, status=status)


def cosigned(*, at_ms: int, peer: str, size: int, root: bytes, epoch: int = 0) -> bytes:
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_COSIGNED,
        at_ms=at_ms,
        peer_node=peer,
        checkpoint_size=size,
        checkpoint_root=root,
        log_epoch=epoch,
    )


def witness_alarm(*, at_ms: int, peer: str, size: int, root: bytes, reason: str) -> bytes:
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_WITNESS_ALARM,
        at_ms=at_ms,
        peer_node=peer,
        checkpoint_size=size,
        checkpoint_root=root,
        status=reason[:200],
    )


def restored(*, at_ms: int, epoch: int, size: int, root: bytes, lost_to: int, declaration: bytes) -> bytes:
    """This node declared the restore of its database: its log continues from ``size`` events
    (``root``) in ``epoch``; up to ``lost_to`` events are known lost (0: not known)."""
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_RESTORED,
        at_ms=at_ms,
        log_epoch=epoch,
        checkpoint_size=size,
        checkpoint_root=root,
        lost_from=size,
        lost_to=max(lost_to, size),
        document_sha256=hashlib.sha256(declaration).digest(),
    )


def peer_restored(
    *, at_ms: int, peer: str, epoch: int, size: int, root: bytes, lost_to: int, declaration: bytes
) -> bytes:
    """A partner declared a restore to ``epoch`` from ``size`` events; this node had cosigned up to
    ``lost_to`` of the old epoch (what it knows lost: nothing when ``lost_to`` ≤ ``size``)."""
    return _leaf(
        kind=Kind.AUDIT_EVENT_KIND_PEER_RESTORED,
        at_ms=at_ms,
        peer_node=peer,
        log_epoch=epoch,
        checkpoint_size=size,
        checkpoint_root=root,
        lost_from=size,
        lost_to=max(lost_to, size),
        document_sha256=hashlib.sha256(declaration).digest(),
    )


def iso_time(ms: int) -> str:
    """A time in milliseconds as ISO 8601 UTC with centiseconds (how the CLI and reports show times)."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def event_summary(index: int, leaf: bytes) -> dict[str, Any]:
    """One event as plain data: ids in hex, kinds and codes by name, empty fields left out."""
    event = decode(leaf)
    out: dict[str, Any] = {"index": index, "at": iso_time(event.at_ms)}
    fields = json_format.MessageToDict(event, preserving_proto_field_name=True)
    fields.pop("at_ms", None)
    for key in ("message_id", "envelope_sha256", "receipt_sha256", "document_sha256", "checkpoint_root"):
        value = getattr(event, key)
        if value:
            fields[key] = value.hex()
    for key in (
        "sequence",
        "peer_log_index",
        "document_version",
        "checkpoint_size",
        "count",
        "window_start_ms",
        "lost_from",
        "lost_to",
        "until_ms",
    ):
        if key in fields:  # protobuf JSON writes 64-bit numbers as strings
            fields[key] = int(fields[key])
    fields["kind"] = Kind.Name(event.kind).removeprefix("AUDIT_EVENT_KIND_").lower()
    if "refusal" in fields:
        fields["refusal"] = str(fields["refusal"]).removeprefix("REFUSAL_CODE_")
    if event.refusal_counts:  # a window summary: {code name: envelopes}
        fields["refusal_counts"] = {
            envelope_pb2.RefusalCode.Name(t.code).removeprefix("REFUSAL_CODE_"): t.count for t in event.refusal_counts
        }
    out.update(fields)
    return out
