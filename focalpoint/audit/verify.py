"""The one check of an audit log (pure): recompute it from its leaves, then hold it against
the checkpoints its node signed.

Used by the running node (``VerifyAudit`` on the local API, its latest checkpoint) and by
``focalpoint audit verify --db`` on a copy of a node's database (every checkpoint it
stored), through the same ``LogReader``; both print the same report. The reader gives one
consistent state for the whole check (SQLite: one read transaction), so a node committing
while it is checked is never reported as damage.

    V1  every leaf is stored, in order, as bytes;
    V2  every stored complete subtree equals the hash recomputed from the leaves;
    V3  no row lies outside the log: no leaf at a negative index or past the end, no stored
        subtree that no leaf of the log closes, no case index row naming a leaf it lacks;
    V4  each checkpoint checked is stored whole, parses, and the log's root at its size equals
        its root;
    V5  with a directory: each checkpoint checked carries a valid signature of ``log_node``;
    V6  witness alarms the node kept are reported (they fail the check at the caller).

V1–V3 find editing, deleting, inserting, reordering or planting rows; V4–V5 find a truncated
or rewritten history whose leaves still agree with themselves. The reader hands values over as
stored, so a row of the wrong type is reported like any other damage. The first failure decides
``first_bad_index`` and ``reason``; later ones are still listed per checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from google.protobuf.message import DecodeError

from directory import Directory, TrustedDirectory
from focalpoint.audit import tree
from focalpoint.audit.checkpoint import verify_checkpoint, with_cosignatures
from focalpoint.audit.events import iso_time
from focalpoint.crypto.merkle import leaf_hash
from focalpoint.errors import VerificationError
from focalpoint.v1 import audit_pb2, directory_pb2

__all__ = [
    "NOT_CHECKED",
    "CheckpointCheck",
    "Damage",
    "LogReader",
    "LogReport",
    "check_log",
    "checkpoint_summary",
    "find_damage",
    "stored_directory",
]

NOT_CHECKED = "not checked (give --root)"


class LogReader(Protocol):
    """What the check reads of a stored log (SQLite or in memory): one consistent state for as
    long as a check runs, values as stored (a damaged row may hold text where bytes belong)."""

    @property
    def size(self) -> int:
        """Leaves in the log as the reader sees it (one more than the highest index stored)."""
        ...

    def leaves_from(self, start: int, limit: int) -> list[tuple[int, Any]]:
        """Up to ``limit`` stored (index, leaf) rows from ``start`` on, in index order, as stored."""
        ...

    def closed_nodes(self, start: int, end: int) -> dict[tuple[int, int], Any]:
        """Stored subtree hashes (level, index) closed by leaves [start, end), as stored."""
        ...

    def stray_rows(self, size: int) -> str | None:
        """The first row stored outside a log of ``size`` leaves (V3), described by table and
        place and never by content, or None."""
        ...

    def stored_size(self) -> int:
        """Leaves stored (one more than the highest index)."""
        ...

    def root(self, size: int | None = None) -> bytes: ...

    def checkpoints(self) -> list[tuple[Any, Any, list[Any]]]:
        """(size, signed checkpoint, cosignatures) the node kept, oldest first, as stored."""
        ...

    def alarms(self) -> list[Any]:
        """Conflict evidence the node kept as a witness, as stored."""
        ...


@dataclass(frozen=True, slots=True)
class Damage:
    """The first place where the stored log disagrees with its own leaves."""

    index: int
    reason: str


def find_damage(log: LogReader, *, batch: int = 65_536) -> Damage | None:
    """V1–V3: recompute everything from the leaves and look for rows outside the log; the first
    disagreement, or None if whole."""
    pending: dict[tuple[int, int], bytes] = {}  # left children still waiting for their sibling
    size = log.size
    index = 0
    while index < size:
        rows = log.leaves_from(index, min(batch, size - index))
        if not rows:
            break
        stored = log.closed_nodes(index, index + len(rows))
        for idx, leaf in rows:
            if idx != index:
                return Damage(index, f"leaf {index} is missing (the next stored leaf is {idx})")
            if not isinstance(leaf, bytes):
                return Damage(idx, f"leaf {idx} is stored as {_kind(leaf)}, not as bytes")
            created = tree.new_nodes(idx, leaf_hash(leaf), lambda lv, ix: pending[(lv, ix)])
            for level, node_index, h in created:
                if stored.get((level, node_index)) != h:
                    return Damage(idx, f"stored subtree ({level}, {node_index}) does not match the leaves")
                if node_index % 2:  # combined into its parent: neither child is needed again
                    pending.pop((level, node_index - 1), None)
                else:
                    pending[(level, node_index)] = h
            index += 1
    if index != size:
        return Damage(index, f"the log ends at leaf {index}, not {size}")
    stray = log.stray_rows(size)  # V3
    return None if stray is None else Damage(size, stray)


_KINDS = {str: "text", int: "an integer", float: "a real number", type(None): "NULL"}


def _kind(value: Any) -> str:
    """What a stored value is, named without showing it (a reader's own marker for a value it
    could not decode names itself in ``kind``)."""
    return _KINDS.get(type(value)) or str(getattr(value, "kind", type(value).__name__))


@dataclass(frozen=True, slots=True)
class CheckpointCheck:
    """One stored checkpoint held against the log."""

    size: int
    signed: audit_pb2.SignedCheckpoint | None  # None: the stored row does not parse
    matches: bool
    signature_checked: bool
    signature_error: str = ""

    @property
    def signature(self) -> str:
        if not self.signature_checked:
            return NOT_CHECKED
        return f"INVALID ({self.signature_error})" if self.signature_error else "valid"

    def as_dict(self) -> dict[str, Any]:
        assert self.signed is not None, "a checkpoint row that does not parse has no summary"
        return {**checkpoint_summary(self.signed), "matches": self.matches, "signature": self.signature}


@dataclass(slots=True)
class LogReport:
    ok: bool
    size: int
    first_bad_index: int = 0
    reason: str = ""
    checkpoints: list[CheckpointCheck] = field(default_factory=list)
    alarms: list[audit_pb2.ConflictEvidence | None] = field(default_factory=list)  # None: does not parse

    def as_dict(self) -> dict[str, Any]:
        """The report as printed by ``focalpoint audit verify`` (text and --json alike)."""
        return {
            "ok": self.ok,
            "size": self.size,
            "first_bad_index": self.first_bad_index,
            "reason": self.reason,
            "checkpoints": [c.as_dict() for c in self.checkpoints if c.signed is not None],
            "alarms": [
                {"log_node": a.log_node, "reason": a.reason, "detected_by": a.detected_by}
                if a is not None
                else {"log_node": "?", "reason": "a stored alarm does not parse", "detected_by": ""}
                for a in self.alarms
            ],
        }

    def fail(self, index: int, reason: str) -> None:
        """Record a failure; the first one decides the index and reason reported."""
        if self.ok:
            self.ok, self.first_bad_index, self.reason = False, min(index, self.size), reason


def check_log(
    log: LogReader, *, directory: Directory | None, log_node: str | None = None, latest_only: bool = False
) -> LogReport:
    """V1–V6 over ``log``. ``directory``: the one signatures are checked against (None: not
    checked). ``latest_only``: check only the newest stored checkpoint (a quick check)."""
    damage = find_damage(log)
    report = LogReport(ok=damage is None, size=log.size)
    if damage is not None:
        report.first_bad_index, report.reason = damage.index, damage.reason
    stored = log.checkpoints()
    for size, raw, cosignatures in stored[-1:] if latest_only else stored:
        if not (isinstance(size, int) and isinstance(raw, bytes) and all(isinstance(c, bytes) for c in cosignatures)):
            # V4: a row of the wrong type is a checkpoint that cannot be read, as one that does not parse.
            at = size if isinstance(size, int) else report.size
            report.fail(at, f"a stored checkpoint row (size {at}) is damaged: not stored as an integer and bytes")
            report.checkpoints.append(CheckpointCheck(at, None, matches=False, signature_checked=False))
            continue
        report.checkpoints.append(_check_checkpoint(log, report, size, raw, cosignatures, damage, directory, log_node))
    for raw in log.alarms():
        try:
            report.alarms.append(audit_pb2.ConflictEvidence.FromString(raw) if isinstance(raw, bytes) else None)
        except DecodeError:
            report.alarms.append(None)
    return report


def _check_checkpoint(
    log: LogReader,
    report: LogReport,
    size: int,
    raw: bytes,
    cosignatures: list[bytes],
    damage: Damage | None,
    directory: Directory | None,
    log_node: str | None,
) -> CheckpointCheck:
    # V4
    try:
        signed = with_cosignatures(raw, cosignatures)
        cp = audit_pb2.Checkpoint.FromString(signed.checkpoint)
    except (DecodeError, VerificationError):
        report.fail(size, f"the stored checkpoint of size {size} does not parse")
        return CheckpointCheck(size, None, matches=False, signature_checked=False)
    # Rows planted past the end (V3, at index size) leave the log's own leaves whole: still compared.
    whole = damage is None or damage.index >= log.size
    matches = whole and cp.size <= log.size and log.root(cp.size) == cp.root_hash
    if not matches:
        # The leaves agree with themselves but not with what the node signed: a rewrite or truncation.
        report.fail(cp.size, f"the log no longer matches its signed checkpoint of size {cp.size}")
    # V5
    error = ""
    if directory is not None:
        try:
            verify_checkpoint(signed, directory, log_node=log_node)
        except VerificationError as e:
            error = str(e)
            report.fail(cp.size, f"the signature of checkpoint {cp.size} does not verify")
    return CheckpointCheck(cp.size, signed, matches, signature_checked=directory is not None, signature_error=error)


def checkpoint_summary(signed: audit_pb2.SignedCheckpoint) -> dict[str, Any]:
    """A signed checkpoint as plain data: its size, root, time and who cosigned it."""
    cp = audit_pb2.Checkpoint.FromString(signed.checkpoint)
    witnesses = sorted(audit_pb2.CosignedContent.FromString(c.content).witness_node for c in signed.cosignatures)
    return {
        "log_node": cp.log_node,
        "size": cp.size,
        "root": cp.root_hash.hex(),
        "issued_at": iso_time(cp.issued_at_ms),
        "cosigned_by": witnesses,
    }


def stored_directory(bundle: bytes | None, trusted_root: bytes) -> Directory:
    """The directory a node stored next to its log, verified from ``trusted_root`` as it stood
    then (expiry is not held against it). Raises VerificationError saying what failed."""
    if bundle is None:
        raise VerificationError("the database holds no directory bundle to check signatures with")
    try:
        parsed = directory_pb2.DirectoryBundle.FromString(bundle)
    except DecodeError as e:
        raise VerificationError(f"the directory bundle stored in the database does not parse: {e}") from e
    try:
        directory, _ = TrustedDirectory(trusted_root).update(parsed, now_ms=0, reload_expired=True)
    except VerificationError as e:
        raise VerificationError(f"--root: the node's stored directory does not verify from this root: {e}") from e
    return directory
