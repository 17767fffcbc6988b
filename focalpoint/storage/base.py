"""What the node keeps, behind Protocols per aggregate: outbox, inbox, directory documents,
the audit log, the case links, the local users' accounts and the notification queue, joined in one ``Store`` (one
backend, one unit of work).

Implementations: ``focalpoint.storage.sqlite`` (the node's) and ``focalpoint.storage.memory``
(a fake for tests); both pass the same contract suite (tests/storage/).

The rules every implementation keeps:

- every write is one transaction, and appends the audit events it records in that same
  transaction (``focalpoint.audit.events``): nothing is logged that did not happen and
  nothing happens unlogged; a failed write changes nothing and raises StorageError;
- a receipt is signed inside the transaction that stores its inbox row, once the log index
  of its DELIVERED event is known (``ReceiptSigner``);
- reads see committed data only;
- a stored row that cannot be read as the row it should be (a column of the wrong type, text
  that does not decode) never fails a whole list: ``page`` answers a ``DamagedRow`` in its
  place; a read of that one row (``get``, ``find``, ``due``…) raises ``DamagedData`` naming it.

Rows hold ciphertext only: the envelope as sealed to the recipient (or as received) and a
local copy of the verified payload sealed under the node's storage key
(``focalpoint.storage.cipher``). Plaintext exists only while a user reads a message. A case
link's local data and each case event are sealed the same way by the caller (``payload``); the
store keeps in the clear only what the worklist sorts and filters on, and what the audit log
and the outbox already hold in the clear (docs/adr/0014-case-storage.md).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from focalpoint.audit.verify import LogReader
from focalpoint.cases.events import Origin
from focalpoint.cases.stages import Side, Stage
from focalpoint.people.roles import Grant, Role
from focalpoint.v1 import envelope_pb2, local_pb2

__all__ = [
    "EXPIRED",
    "LOG_EPOCH",
    "NOT_RECEIVED",
    "RESTORE_DECLARATION",
    "RESTORE_PENDING",
    "AccountStore",
    "AccountWrite",
    "AuditStore",
    "AuditView",
    "BreakGlassRow",
    "CaseApplied",
    "CaseEventRow",
    "CaseStore",
    "CaseWrite",
    "ContactRow",
    "CursorMove",
    "DamagedLink",
    "DamagedRow",
    "Delivered",
    "DeliveryState",
    "DirectoryStore",
    "InboxOutcome",
    "InboxRow",
    "InboxStore",
    "LinkRow",
    "LinkUpdate",
    "NewCaseEvent",
    "NewInbox",
    "NewLink",
    "NewNotice",
    "NewOutbox",
    "NewSummary",
    "NoticeRow",
    "NotificationStore",
    "OutboxRow",
    "OutboxStore",
    "ParkedMessage",
    "ParkedRow",
    "PendingRow",
    "ReceiptSigner",
    "Restriction",
    "SealedExport",
    "SealedImport",
    "SealedOwed",
    "SealedStore",
    "SessionRow",
    "Store",
    "SummaryRow",
    "Unconfirmed",
    "UserRow",
    "inbox_outcomes",
]

T = TypeVar("T")


class DeliveryState(enum.IntEnum):
    QUEUED = local_pb2.DELIVERY_STATE_QUEUED
    DELIVERED = local_pb2.DELIVERY_STATE_DELIVERED
    FAILED = local_pb2.DELIVERY_STATE_FAILED
    EXPIRED = local_pb2.DELIVERY_STATE_EXPIRED
    NOT_RECEIVED = local_pb2.DELIVERY_STATE_NOT_RECEIVED


# What an entry's last_error says when it expires unconfirmed, and when the recipient settles it.
EXPIRED = (
    "expired before the recipient confirmed it; the recipient may hold it, and this node is asking it:"
    " do not send it again"
)
NOT_RECEIVED = "expired; the recipient said it never received it and never will: it may be sent again"

# Settings kept with the audit log (``AuditStore.meta``) about restores (docs/adr/0011):
# set by ``focalpoint node restore`` on the copy it puts in place (JSON: restored_at_ms,
# backup_sha256, lost_known_size); the node declares the restore at its next start and clears it.
RESTORE_PENDING = "restore_pending"
# The log's epoch (0 until the first declared restore), and the SignedRestoreDeclaration that began it (hex).
LOG_EPOCH = "log_epoch"
RESTORE_DECLARATION = "restore_declaration"


@dataclass(frozen=True, slots=True)
class NewOutbox:
    message_id: bytes
    recipient: str
    peer_sequence: int
    envelope: bytes
    digest: bytes
    local_copy: bytes
    created_at_ms: int
    expires_at_ms: int
    client_request_id: str | None = None
    # Pseudonymous case reference and body kind, kept in the clear for the audit log.
    case_ref: str = ""
    message_kind: str = ""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    message_id: bytes
    recipient: str
    peer_sequence: int
    envelope: bytes
    digest: bytes
    local_copy: bytes
    created_at_ms: int
    expires_at_ms: int
    state: DeliveryState
    attempts: int
    next_attempt_ms: int
    last_error: str
    receipt: bytes | None
    delivered_at_ms: int | None
    case_ref: str = ""


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """An EXPIRED outbox entry whose recipient has not yet said whether it holds the message."""

    message_id: bytes
    digest: bytes
    expires_at_ms: int


@dataclass(frozen=True, slots=True)
class DamagedRow:
    """A stored outbox or inbox row that cannot be read: where it is, what of its identity could be
    read (empty when that column is damaged too), and why, naming the column, never its content."""

    seq: int
    message_id: bytes
    peer: str  # the recipient (outbox) or sender (inbox)
    reason: str


@dataclass(frozen=True, slots=True)
class NewInbox:
    """A verified envelope to store; its receipt is signed inside the storing transaction,
    once its audit log index is known (``ReceiptSigner``)."""

    sender: str
    message_id: bytes
    envelope: bytes
    digest: bytes
    local_copy: bytes
    received_at_ms: int
    expires_at_ms: int
    case_ref: str = ""
    message_kind: str = ""
    sequence: int = 0
    # Rows with the same non-zero batch share one signed receipt root; 0 = a single receipt.
    batch: int = 0


# Signs the receipts of the freshly stored rows, given each row's audit log index.
ReceiptSigner = Callable[[Sequence[tuple[NewInbox, int]]], Sequence[bytes]]


@dataclass(frozen=True, slots=True)
class Delivered:
    """An outbox entry closed by a verified receipt."""

    message_id: bytes
    receipt: bytes
    delivered_at_ms: int
    peer_log_index: int


@dataclass(frozen=True, slots=True)
class InboxRow:
    seq: int
    sender: str
    message_id: bytes
    envelope: bytes
    digest: bytes
    local_copy: bytes
    received_at_ms: int
    receipt: bytes
    case_ref: str = ""


@dataclass(frozen=True, slots=True)
class InboxOutcome:
    """Result of storing one received envelope."""

    receipt: bytes
    # True when (sender, message id) was already stored with the same digest.
    duplicate: bool
    # True when (sender, message id) was already stored with a *different* digest.
    conflict: bool


def inbox_outcomes(
    rows: Sequence[NewInbox],
    stored: dict[tuple[str, bytes], tuple[bytes, bytes]],
    made: dict[tuple[str, bytes], bytes],
) -> list[InboxOutcome]:
    """Each offered row's outcome, in order, once a backend has stored the fresh ones: ``stored``
    maps (sender, message id) to (digest, receipt) for every row known before the write (receipt
    empty for a fresh one), ``made`` to the receipt signed for each fresh row. The first copy of a
    fresh row is new; a later copy, or a row stored before, is a duplicate with the original
    receipt when its digest is the same, and a conflict when it is not."""
    outcomes: list[InboxOutcome] = []
    seen: set[tuple[str, bytes]] = set()
    for r in rows:
        key = (r.sender, r.message_id)
        digest, receipt = stored[key]
        if key in made and key not in seen:
            seen.add(key)
            outcomes.append(InboxOutcome(made[key], duplicate=False, conflict=False))
            continue
        receipt = receipt or made[key]
        same = digest == r.digest
        outcomes.append(InboxOutcome(receipt, duplicate=same, conflict=not same))
    return outcomes


@dataclass(frozen=True, slots=True)
class NewLink:
    """A case link to create: one local case with one partner State (docs/adr/0014). It starts in
    ``stage`` since ``created_at_ms``, with nothing due, flagged or missing. ``payload`` is local-only
    data sealed by the caller (names, notes), which the store keeps but never reads."""

    link_id: str
    case_id: str
    case_ref: str  # the pseudonymous per-link reference both nodes use (focalpoint.cases.refs)
    partner_node: str
    partner_state: str
    our_side: Side
    unit: str  # the owning unit's id; empty: not assigned yet (the operator's triage)
    created_at_ms: int
    payload: bytes
    stage: Stage = Stage.OPEN  # OPEN on the side that opens the case, RECEIVED on the other


@dataclass(frozen=True, slots=True)
class LinkRow:
    """A stored link with the columns the worklist reads, as the last ``LinkUpdate`` set them."""

    link_id: str
    case_id: str
    case_ref: str
    partner_node: str
    partner_state: str
    our_side: Side
    unit: str
    created_at_ms: int
    stage: Stage
    stage_since_ms: int
    urgency: int
    gate_missing: str  # comma-joined condition codes still missing (G1…); empty: the gate is met
    next_due_ms: int | None
    flagged: int  # messages kept but not applied (out of stage or failing a guard)
    closed: bool
    updated_at_ms: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class DamagedLink:
    """A stored link that cannot be read: its row number, its id when that column is sound (else
    empty), and why, naming the column, never its content."""

    row: int
    link_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class LinkUpdate:
    """What the fold of a link's events established, for the columns the worklist reads (all of
    them are set; ``payload`` only when not None)."""

    link_id: str
    stage: Stage
    stage_since_ms: int
    urgency: int
    gate_missing: str
    next_due_ms: int | None
    flagged: int
    closed: bool
    updated_at_ms: int
    unit: str
    payload: bytes | None = None


@dataclass(frozen=True, slots=True)
class NewCaseEvent:
    """One event of a link (``focalpoint.cases.events.Event``): the columns that identify and order
    it in the clear, the serialized event (facts included) sealed by the caller in ``payload``.
    (link_id, message_id) is its key: an event stored before is not stored again."""

    link_id: str
    message_id: bytes
    origin: Origin
    kind: str
    at_ms: int
    sender_node: str
    sequence: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class CaseEventRow:
    """A stored case event; ``seq`` gives the order events were stored in."""

    seq: int
    link_id: str
    message_id: bytes
    origin: Origin
    kind: str
    at_ms: int
    sender_node: str
    sequence: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class CursorMove:
    """Move the cursor ``source`` (e.g. the inbox's or the outbox's row number last applied) from
    ``from_position`` (0: never moved) to ``to_position``. The write fails with ``Conflict`` when the
    cursor is not at ``from_position``: it was computed from rows another writer has applied since."""

    source: str
    from_position: int
    to_position: int

    def __post_init__(self) -> None:
        if not self.source:
            raise ValueError("a case cursor needs a source name")
        if not 0 <= self.from_position <= self.to_position:
            raise ValueError(
                f"case cursor {self.source!r}: need 0 <= from <= to, got {self.from_position} -> {self.to_position}"
            )


@dataclass(frozen=True, slots=True)
class ParkedMessage:
    """A received case message whose case reference names no link: kept for the operator, never
    dropped; (sender, message_id) names its inbox row and is its key."""

    sender: str
    message_id: bytes
    case_ref: str
    kind: str
    at_ms: int
    reason: str


@dataclass(frozen=True, slots=True)
class ParkedRow:
    seq: int
    sender: str
    message_id: bytes
    case_ref: str
    kind: str
    at_ms: int
    reason: str


@dataclass(frozen=True, slots=True)
class CaseWrite:
    """Everything one application of case messages changes, written in one transaction, in this
    order: new links, cursor moves (checked first), events, link updates, unparked then parked
    messages, audit leaves (``(leaf, case_ref)``, built by ``focalpoint.audit.events``)."""

    links: Sequence[NewLink] = ()
    cursors: Sequence[CursorMove] = ()
    events: Sequence[NewCaseEvent] = ()
    updates: Sequence[LinkUpdate] = ()
    unpark: Sequence[tuple[str, bytes]] = ()  # (sender, message id)
    park: Sequence[ParkedMessage] = ()
    leaves: Sequence[tuple[bytes, str]] = ()
    # A withdrawal applied: each event's payload sealed again without its derived facts
    # (link id, message id, new payload), and each received message's local copy purged
    # ((sender, message id): its decrypted content is gone; id, hash and audit events stay).
    reseal: Sequence[tuple[str, bytes, bytes]] = ()
    purge_inbox: Sequence[tuple[str, bytes]] = ()

    def empty(self) -> bool:
        return not any(
            (
                self.links,
                self.cursors,
                self.events,
                self.updates,
                self.unpark,
                self.park,
                self.leaves,
                self.reseal,
                self.purge_inbox,
            )
        )


@dataclass(frozen=True, slots=True)
class CaseApplied:
    """What a ``CaseWrite`` stored: the (link id, message id) of each event new to the store, in the
    order given (an event stored before, or given twice, appears once or not at all), and the log
    index of its first audit leaf (the log's size before the write when it appended none)."""

    new_events: tuple[tuple[str, bytes], ...]
    first_leaf: int


class OutboxStore(Protocol):
    """Messages this node sends, until a verified receipt, a refusal or expiry closes them."""

    async def add(self, rows: Sequence[NewOutbox]) -> list[bytes]:
        """Insert atomically with their SENT events; return each row's message id (the
        existing one for a repeated client_request_id, which inserts nothing)."""
        ...

    async def by_client_request(self, client_request_id: str) -> OutboxRow | None: ...

    async def last_sequences(self) -> dict[str, int]:
        """The highest per-peer sequence number used, per recipient."""
        ...

    async def due(
        self, recipient: str, now_ms: int, limit: int, exclude: set[bytes], *, latest_ms: int | None = None
    ) -> list[OutboxRow]:
        """QUEUED, unexpired entries for ``recipient`` whose next attempt is due, oldest first. With
        ``latest_ms``, an entry scheduled after it is due too: no retry is ever planned that far
        ahead, so its time was set by a clock that has since been stepped back."""
        ...

    async def next_due_ms(self, recipient: str, exclude: set[bytes]) -> int | None:
        """Earliest next attempt among QUEUED entries not in ``exclude``."""
        ...

    async def recipients_with_queued(self) -> list[str]: ...

    async def queued_by_recipient(self) -> dict[str, tuple[int, int]]:
        """(how many entries are QUEUED, the oldest one's created_at_ms) per recipient with any."""
        ...

    async def mark_delivered(self, done: Sequence[Delivered]) -> None:
        """Close the QUEUED entries, and the EXPIRED ones a late receipt settles, and log their
        RECEIPTED events, in one transaction."""
        ...

    async def mark_final(
        self,
        message_id: bytes,
        state: DeliveryState,
        error: str,
        code: envelope_pb2.RefusalCode.ValueType,
        at_ms: int,
    ) -> None:
        """Close a QUEUED entry as refused (REFUSED_BY_PEER event); a closed entry stays as it is."""
        ...

    async def schedule_retry(self, items: Sequence[tuple[bytes, int, str]]) -> None:
        """(message id, next attempt ms, error) for each QUEUED entry; increments attempts."""
        ...

    async def expire(self, now_ms: int) -> list[bytes]:
        """Close every QUEUED entry expired at ``now_ms`` (EXPIRED events); their ids."""
        ...

    async def unconfirmed(self, recipient: str, limit: int) -> list[Unconfirmed]:
        """Up to ``limit`` EXPIRED entries to ``recipient``, oldest first: the recipient may hold
        them (reconciliation asks it)."""
        ...

    async def recipients_with_unconfirmed(self) -> list[str]: ...

    async def mark_not_received(self, message_ids: Sequence[bytes], at_ms: int) -> None:
        """Close the EXPIRED entries among ``message_ids`` as NOT_RECEIVED (the recipient said it
        never stored them and never will) and log their NOT_RECEIVED events, in one transaction."""
        ...

    async def get(self, message_id: bytes) -> OutboxRow | None: ...

    async def page(self, limit: int, before: int) -> list[OutboxRow | DamagedRow]:
        """Newest first, entries with ``seq`` below ``before`` (0: from the newest); a row that
        cannot be read is listed as a ``DamagedRow`` in its place."""
        ...

    async def since(self, after: int, limit: int) -> list[OutboxRow | DamagedRow]:
        """Oldest first, entries with ``seq`` above ``after`` (the case applier's cursor)."""
        ...

    async def of_case(self, case_ref: str) -> list[OutboxRow]: ...


class InboxStore(Protocol):
    """Envelopes this node accepted; (sender, message id) is the replay table."""

    async def add(self, rows: Sequence[NewInbox], sign: ReceiptSigner) -> list[InboxOutcome]:
        """Store fresh rows with their DELIVERED events and receipts in one transaction; a row
        already stored is answered with its original receipt (or as a conflict)."""
        ...

    async def get(self, sender: str, message_id: bytes) -> InboxRow | None: ...

    async def receipts(self, sender: str, message_ids: Sequence[bytes]) -> dict[bytes, bytes | None]:
        """The receipts given for ``sender``'s messages among ``message_ids`` that this node
        stored (the receipt as given then), by message id — None for a message held whose stored
        receipt cannot be read; the others it does not hold."""
        ...

    async def find(self, message_id: bytes) -> list[InboxRow]: ...

    async def page(self, limit: int, before: int) -> list[InboxRow | DamagedRow]:
        """Newest first, rows with ``seq`` below ``before`` (0: from the newest); a row that
        cannot be read is listed as a ``DamagedRow`` in its place."""
        ...

    async def since(self, after: int, limit: int) -> list[InboxRow | DamagedRow]:
        """Oldest first, rows with ``seq`` above ``after`` (the case applier's cursor)."""
        ...

    async def of_case(self, case_ref: str) -> list[InboxRow]: ...

    async def count(self) -> int: ...


class DirectoryStore(Protocol):
    """Every directory document version this node accepted, and the last verified bundle."""

    async def save(self, documents: Sequence[tuple[str, str, int, bytes]], at_ms: int) -> None:
        """(kind, name, version, raw) rows, with DIRECTORY_ACCEPTED events for those not stored
        before, in one transaction; kind 'bundle' is a bundle (storing one drops the bundles of
        lower versions; ``load`` gives the newest)."""
        ...

    async def load(self) -> tuple[list[bytes], dict[tuple[str, str], int], bytes | None]:
        """Accepted roots (oldest first), the highest accepted version per document, the last bundle."""
        ...

    async def document(self, kind: str, name: str, version: int) -> bytes | None: ...


class AuditView(LogReader, Protocol):
    """A read-only view of the committed log, for proofs and checks."""

    def leaf(self, index: int) -> bytes: ...

    def leaves(self, start: int, end: int) -> list[tuple[int, bytes]]: ...

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]: ...

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]: ...

    def stored_bundle(self) -> bytes | None: ...


class AuditStore(Protocol):
    """The log itself, this node's checkpoints and cosignatures, and what it witnessed."""

    @property
    def size(self) -> int:
        """Leaves committed."""
        ...

    async def record(self, leaves: Sequence[bytes], case_ref: str = "", *, meta: dict[str, str] | None = None) -> int:
        """Append events that go with no other row (a read, a refusal, a key change), with
        ``meta`` settings they make true, in one transaction; returns the first index."""
        ...

    async def meta(self, key: str) -> str | None:
        """A setting ``record`` stored (a backend may keep its own keys, e.g. its schema version)."""
        ...

    async def read(self, fn: Callable[[AuditView], T]) -> T:
        """Run ``fn`` on a read-only view of the committed log (may run in a worker thread)."""
        ...

    async def case_indices(self, case_ref: str) -> list[int]: ...

    async def events(self, limit: int, before: int, case_ref: str = "") -> list[tuple[int, bytes]]:
        """Newest first, (index, leaf) below ``before`` (0: from the newest), of one case if given."""
        ...

    async def add_checkpoint(self, size: int, raw: bytes, issued_at_ms: int) -> bytes:
        """Keep this node's signed checkpoint of ``size``; returns the one kept (the first for a size)."""
        ...

    async def latest_checkpoint(self) -> tuple[bytes, list[bytes]] | None:
        """This node's newest signed checkpoint and the cosignatures returned for it."""
        ...

    async def latest_cosigned_checkpoint(self) -> tuple[bytes, list[bytes]] | None: ...

    async def checkpoint_at(self, size: int) -> bytes | None: ...

    async def cosignatures(self, size: int) -> list[bytes]: ...

    async def add_cosignature(self, size: int, witness: str, raw: bytes) -> None:
        """Keep a witness's cosignature (a witness's newer one for the same size replaces it)."""
        ...

    async def witnessed(self, log_node: str) -> bytes | None:
        """The latest checkpoint of ``log_node`` this node cosigned, with that cosignature."""
        ...

    async def set_witnessed(self, log_node: str, size: int, raw: bytes, event: bytes, at_ms: int) -> None:
        """Keep a cosigned checkpoint of a partner (never a smaller one) with its COSIGNED event."""
        ...

    async def add_alarm(self, log_node: str, raw: bytes, event: bytes, at_ms: int) -> None: ...

    async def alarms(self) -> list[bytes]: ...

    async def record_restore(self, log_node: str, raw: bytes, event: bytes, at_ms: int) -> None:
        """Keep a partner's declared restore (``raw``: RestoreEvidence) with its PEER_RESTORED event, and
        forget the checkpoint of its old epoch as witnessed (the evidence holds it), in one transaction."""
        ...

    async def restores(self) -> list[bytes]: ...


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """A link's summary as stored: what reports and the deadline scan read instead of folding the
    link's events again (docs/adr/0019). ``generation`` changes with every write that changes what
    the summary is built from (the link's events or columns, a receipt for one of its messages);
    ``built_from`` is the generation the stored summary was built from (-1: none yet), so the
    summary is current when they are equal, its ``context`` (the agreement rules it was built
    under) is still the partner's, and its ``wake_at_ms`` (a clock's next rung, a closure taking
    effect) has not come. ``summary`` is sealed by the caller; empty when there is none."""

    link_id: str
    partner_state: str
    generation: int
    built_from: int
    context: str
    wake_at_ms: int | None
    summary: bytes
    case_id: str = ""

    def current(self, context: str, now_ms: int) -> bool:
        return (
            self.built_from == self.generation
            and bool(self.summary)
            and self.context == context
            and (self.wake_at_ms is None or self.wake_at_ms > now_ms)
        )


@dataclass(frozen=True, slots=True)
class NewSummary:
    """A summary built from ``built_from`` (the generation read before its link was read); stored
    only if the link's generation is still that one (a summary of data since changed is dropped)."""

    link_id: str
    built_from: int
    context: str
    wake_at_ms: int | None
    summary: bytes
    # The child's case and the link's span (``focalpoint.cases.indicators.span``), kept in the clear
    # beside it so a period's report leaves in the store the links that bear nothing on it.
    case_id: str = ""
    first_ms: int = 0
    last_ms: int = 0


class CaseStore(Protocol):
    """Case links (one case with one partner State), their events, the cursors that say which
    inbox and outbox rows have been applied to them, and parked messages (docs/adr/0014).

    Writes go through ``apply``, one transaction with its audit leaves; a failed one changes
    nothing. Lists answer a damaged stored row as a ``DamagedLink`` or ``DamagedRow`` in its place;
    a read of one link raises ``DamagedData`` naming it."""

    async def create_link(self, link: NewLink, leaves: Sequence[bytes] = ()) -> None:
        """``apply`` of one new link and its audit leaves (logged under its case reference).
        Raises Conflict when its id, or its case reference with its partner, is already stored."""
        ...

    async def apply(self, write: CaseWrite) -> CaseApplied:
        """Write everything ``write`` holds in one transaction, or nothing. Raises Conflict (a link
        already stored; a cursor not where the write expected it), NotFound (an event or update of a
        link that does not exist), StorageError (StorageFull when the disk is full)."""
        ...

    async def link(self, link_id: str) -> LinkRow | None: ...

    async def link_by_ref(self, case_ref: str, partner_node: str) -> LinkRow | None: ...

    async def links_of_ref(self, case_ref: str) -> list[LinkRow | DamagedLink]:
        """The links with this reference, in the order they were created (references are minted
        per link, so normally one)."""
        ...

    async def links_of_case(self, case_id: str) -> list[LinkRow | DamagedLink]:
        """The case's links, in the order they were created."""
        ...

    async def events(self, link_id: str) -> list[CaseEventRow | DamagedRow]:
        """The link's events in the order they were stored (``payload`` as given)."""
        ...

    async def cursor(self, source: str) -> int:
        """Where the cursor ``source`` stands (0 if it never moved)."""
        ...

    async def worklist(
        self, unit: str | None, *, limit: int, before: tuple[int, str] | None = None, include_closed: bool = False
    ) -> list[LinkRow | DamagedLink]:
        """Links by last update, newest first (ties: higher link id first), of ``unit`` (None: every
        unit; empty: not assigned), open ones only unless ``include_closed``; after ``before``, the
        (updated_at_ms, link_id) of the last row of the previous page."""
        ...

    async def parked(self, limit: int, before: int) -> list[ParkedRow | DamagedRow]:
        """Parked messages newest first, with ``seq`` below ``before`` (0: from the newest)."""
        ...

    async def summary(self, link_id: str) -> SummaryRow | None:
        """The link's summary row (None: no such link)."""
        ...

    async def summaries(self, *, limit: int, after: str = "") -> list[SummaryRow | DamagedLink]:
        """Every link's summary row in link id order, after the link id ``after``."""
        ...

    async def summaries_of(self, link_ids: Sequence[str]) -> list[SummaryRow | DamagedLink]:
        """The summary rows of these links, in no set order (an id not stored is left out): the
        worklist's due dates for one page of links in one read."""
        ...

    async def cases_bearing_on(self, end_ms: int, from_ms: int) -> set[str]:
        """The cases with a link that began before ``end_ms`` and had not ended before ``from_ms``
        (by the span stored with its summary), or whose span is not known (first_ms 0), or whose
        summary is not current by generation (its span may have changed since)."""
        ...

    async def summaries_due(self, now_ms: int, contexts: Mapping[str, str], limit: int) -> list[str]:
        """The ids of the links whose summary must be built again: not current, woken by time
        (``wake_at_ms`` at or before ``now_ms``), or built under a context other than
        ``contexts[partner_state]`` (partner States missing from ``contexts`` are not compared)."""
        ...

    async def partner_states(self) -> list[str]:
        """The partner States of the stored links, each once."""
        ...

    async def save_summaries(self, rows: Sequence[NewSummary]) -> int:
        """Store each summary whose link is still at the generation it was built from; returns how
        many were stored (the others are dropped: their link changed meanwhile)."""
        ...


@dataclass(frozen=True, slots=True)
class UserRow:
    """A local user as stored (``focalpoint.node.accounts`` keeps the rules). Secrets are kept only
    as what cannot give them back: the password as an Argon2id hash, the enrolment and recovery
    codes as SHA-256 digests, and the second-factor seed sealed under the storage key.

    ``version`` counts the row's writes: a write names the version it read (0: a new user) and
    fails with ``Conflict`` when another writer has changed the row since."""

    user_id: str
    unit: str
    roles: frozenset[Role]
    grants: frozenset[Grant] = frozenset()
    consular_state: str = ""
    district: frozenset[str] = frozenset()
    disabled: bool = False
    password_hash: str = ""  # Argon2id (PHC string); empty: none set
    totp_seed: bytes = b""  # sealed; empty: none
    totp_last_step: int = 0  # the last accepted TOTP time-step (a code of that step or before is a replay)
    recovery_hashes: tuple[bytes, ...] = ()  # SHA-256 of each unused recovery code
    failures: int = 0  # consecutive failed logins
    locked_until_ms: int = 0
    enrol_code_hash: bytes = b""  # SHA-256 of the one-time enrolment code; empty: none outstanding
    enrol_expires_ms: int = 0
    enrolled: bool = False
    created_ms: int = 0
    updated_ms: int = 0
    last_login_ms: int = 0
    version: int = 0


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A session: the SHA-256 of its token (the token itself is never stored)."""

    token_hash: bytes
    user_id: str
    created_ms: int
    last_seen_ms: int
    source: str = ""


@dataclass(frozen=True, slots=True)
class PendingRow:
    """A change of a user's account that waits for a second operator (one per user: a newer
    proposal replaces it). ``kind`` is ``add``, ``set`` (roles) or ``enable``."""

    user_id: str
    kind: str
    proposed_by: str
    unit: str
    roles: frozenset[Role]
    grants: frozenset[Grant]
    consular_state: str
    district: frozenset[str]
    at_ms: int


@dataclass(frozen=True, slots=True)
class BreakGlassRow:
    """A break-glass window: ``user_id`` may reach ``link_id`` until ``until_ms``; the reason's
    text is sealed by the caller (it stays on this node; the audit log holds the code only)."""

    user_id: str
    link_id: str
    reason_code: str
    reason: bytes
    opened_ms: int
    until_ms: int


@dataclass(frozen=True, slots=True)
class Restriction:
    """A link restricted to named officers (``users``), or its restriction lifted (None)."""

    link_id: str
    users: frozenset[str] | None
    set_by: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class ContactRow:
    """How a user is reached outside the console (``focalpoint.node.accounts``): an e-mail address
    (empty: none), the language of their messages, the notification families they turned off
    (``focalpoint.people.notices``), and whether they are on the 24/7 on-call list."""

    user_id: str
    email: str = ""
    language: str = "en"
    off: frozenset[str] = frozenset()
    on_call: bool = False
    updated_ms: int = 0


@dataclass(frozen=True, slots=True)
class AccountWrite:
    """Everything one change of accounts writes, in one transaction, in this order: users (each
    checked against the version it was read at), sessions ended (all of some users', then single
    ones), new sessions, sessions touched, pending changes dropped then stored, break-glass windows,
    restrictions, assignments (a link's whole set of assigned users), audit leaves
    (``(leaf, case_ref)``)."""

    users: Sequence[UserRow] = ()
    end_sessions_of: Sequence[str] = ()
    end_sessions: Sequence[bytes] = ()
    sessions: Sequence[SessionRow] = ()
    touch: Sequence[tuple[bytes, int]] = ()  # (token hash, last seen ms)
    drop_pending: Sequence[str] = ()
    pending: Sequence[PendingRow] = ()
    break_glass: Sequence[BreakGlassRow] = ()
    restrictions: Sequence[Restriction] = ()
    assignments: Sequence[tuple[str, frozenset[str]]] = ()
    leaves: Sequence[tuple[bytes, str]] = ()
    contacts: Sequence[ContactRow] = ()  # each replaces the user's stored one (written before the leaves)

    def empty(self) -> bool:
        return not any(
            (
                self.contacts,
                self.users,
                self.end_sessions_of,
                self.end_sessions,
                self.sessions,
                self.touch,
                self.drop_pending,
                self.pending,
                self.break_glass,
                self.restrictions,
                self.assignments,
                self.leaves,
            )
        )


class AccountStore(Protocol):
    """The node's local users, their sessions, changes waiting for a second operator, break-glass
    windows, and which officers a link is restricted or assigned to.

    Writes go through ``apply``: one transaction with its audit leaves, or nothing."""

    async def apply(self, write: AccountWrite) -> int:
        """Write everything ``write`` holds in one transaction, or nothing; returns the log index of
        its first leaf (the log's size when it has none). Raises Conflict when a user row was
        changed (or removed) since it was read, or a new one exists already; StorageError
        otherwise."""
        ...

    async def user(self, user_id: str) -> UserRow | None: ...

    async def users(self) -> list[UserRow]:
        """Every user, by user id."""
        ...

    async def user_by_enrolment(self, code_hash: bytes) -> UserRow | None:
        """The user whose outstanding enrolment code hashes to ``code_hash``."""
        ...

    async def session(self, token_hash: bytes) -> SessionRow | None: ...

    async def session_counts(self) -> dict[str, int]:
        """How many sessions each user with any has."""
        ...

    async def pending(self) -> list[PendingRow]:
        """Every change waiting for a second operator, by user id."""
        ...

    async def break_glass(self, user_id: str, link_id: str) -> BreakGlassRow | None:
        """The window ``user_id`` opened on ``link_id`` last (it may have closed)."""
        ...

    async def restriction(self, link_id: str) -> frozenset[str] | None: ...

    async def assigned(self, link_id: str) -> frozenset[str]: ...

    async def contact(self, user_id: str) -> ContactRow | None:
        """The user's contact and preferences; None when never set."""
        ...

    async def contacts(self) -> list[ContactRow]:
        """Every stored contact, by user id."""
        ...


@dataclass(frozen=True, slots=True)
class NewNotice:
    """One notification for one channel and destination, queued when its event happened.

    ``notice_id`` is stable (a webhook's ``webhook-id``: the same on every attempt, so a receiver
    can drop a repeat); ``destination`` is the user id for e-mail (the address is looked up when the
    message is sent, so it is never copied into the queue) and the endpoint's URL for a webhook."""

    notice_id: str
    channel: str
    destination: str
    event: str
    case_ref: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class NoticeRow:
    """A queued notification with its delivery state: ``given_up_ms`` 0 while it is still to be
    sent; else when the sender gave it up (kept, counted, never sent)."""

    notice_id: str
    channel: str
    destination: str
    event: str
    case_ref: str
    created_ms: int
    attempts: int
    next_attempt_ms: int
    last_error_class: str
    given_up_ms: int = 0


class NotificationStore(Protocol):
    """The durable notification queue (``focalpoint.node.notify``): rows are written when their
    event happens and removed once delivered, so a notification survives a restart."""

    async def enqueue(self, rows: Sequence[NewNotice]) -> None:
        """Queue ``rows``, due at once; a row whose id is queued already is ignored."""
        ...

    async def due(self, channel: str, now_ms: int, limit: int) -> list[NoticeRow]:
        """``channel``'s rows still to send and due by ``now_ms``, the longest waiting first."""
        ...

    async def next_due_ms(self, channel: str) -> int | None:
        """When ``channel``'s next row still to send is due; None when there is none."""
        ...

    async def delivered(self, notice_id: str) -> None:
        """The row was delivered: it leaves the queue."""
        ...

    async def retry(self, notice_id: str, attempts: int, next_attempt_ms: int, error_class: str) -> None: ...

    async def give_up(self, notice_id: str, attempts: int, at_ms: int, error_class: str) -> None:
        """The row will not be sent: kept (counted) with when and why, never due again."""
        ...

    async def rows(self, channel: str = "") -> list[NoticeRow]:
        """Every row (of ``channel``), queued and given up, oldest first."""
        ...

    async def counts(self) -> dict[str, tuple[int, int]]:
        """Per channel: (rows still to send, rows given up)."""
        ...


@dataclass(frozen=True, slots=True)
class SealedImport:
    """A sealed file this node imported (docs/adr/0020): (sender, file id) and (sender, sequence)
    are each imported once; a second import of either is a replay."""

    sender: str
    file_id: bytes
    sequence: int
    imported_at_ms: int


@dataclass(frozen=True, slots=True)
class SealedExport:
    """A sealed file this node wrote for ``peer`` (its ``sequence`` is the next number to that peer)."""

    peer: str
    sequence: int
    file_id: bytes
    created_at_ms: int
    envelopes: int
    receipts: int


@dataclass(frozen=True, slots=True)
class SealedOwed:
    """A delivery result this node owes ``peer`` for a message it imported from a file: it travels
    in every file to that peer until the message's expiry (a lost receipts file loses nothing)."""

    peer: str
    message_id: bytes
    result: bytes
    expires_at_ms: int


class SealedStore(Protocol):
    """Sealed files in and out (``focalpoint.node.sealed``)."""

    async def imported(self, sender: str, file_id: bytes, sequence: int) -> SealedImport | None:
        """The earlier import of ``sender``'s file with this id or this sequence number, if any."""
        ...

    async def record_import(self, row: SealedImport, owed: Sequence[SealedOwed], leaf: bytes) -> bool:
        """Record the import with its SEALED_IMPORTED event (``leaf``) and the results now owed to
        the sender (replacing older ones for the same messages), in one transaction. False, and
        nothing written, when the file id or number was recorded meanwhile."""
        ...

    async def last_export(self, peer: str) -> int:
        """The highest sequence number of a file this node wrote for ``peer`` (0: none yet)."""
        ...

    async def record_export(self, row: SealedExport, leaf: bytes, now_ms: int) -> None:
        """Record the file with its SEALED_EXPORTED event in one transaction, and drop owed results
        whose messages expired before ``now_ms``. Raises Conflict if the number was taken."""
        ...

    async def owed(self, peer: str, now_ms: int) -> list[SealedOwed]:
        """The results owed to ``peer`` whose messages have not expired, oldest first."""
        ...


class Store(Protocol):
    """One backend: the aggregates share its transactions and its audit log."""

    @property
    def outbox(self) -> OutboxStore: ...

    @property
    def inbox(self) -> InboxStore: ...

    @property
    def directory(self) -> DirectoryStore: ...

    @property
    def audit(self) -> AuditStore: ...

    @property
    def cases(self) -> CaseStore: ...

    @property
    def accounts(self) -> AccountStore: ...

    @property
    def notifications(self) -> NotificationStore: ...

    @property
    def sealed(self) -> SealedStore: ...

    @property
    def full_since(self) -> float | None:
        """When writes began failing because the disk is full (wall clock, s); None while they
        succeed. Such a write raises StorageFull and changes nothing; the next one that succeeds
        clears it."""
        ...

    @property
    def mark_behind_since(self) -> float | None:
        """When writing the high-water mark (``storage.sqlite.hwm``) began failing after commits
        (wall clock, s); None while it keeps up. The commits stand, but a database that lost them
        would not be caught at the next start."""
        ...

    async def close(self) -> None: ...
