"""Sealed files: the courier transport for partners with poor connectivity (docs/adr/0020).

``export`` writes, for one partner, every envelope still QUEUED for it and the delivery results
this node owes it, into one sealed file (``focalpoint.exchange.sealed``); the entries stay QUEUED
until a receipt comes back, so a file the courier loses loses nothing: the next export carries
them again. ``import_file`` refuses a file as a whole — altered, cut short, re-ordered, replayed,
expired, or meant for another node — before anything in it is used; then its envelopes go
through the inbox exactly as a network delivery's (``Inbox.receive_batch`` with the file's
signer as the authenticated peer: the same receive steps, dedup, agreement checks, receipts and
audit events), and its delivery results through the delivery manager's own check and closing
(``DeliveryManager.apply_results``). The same message arriving by file and by network, in any
order and any number of times, is stored once: the inbox's (sender, message id) key decides.

Every export and every import is one audit event (``SEALED_EXPORTED``/``SEALED_IMPORTED``:
the peer, the file's id and number, counts); a refused file records nothing and changes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import secrets
from dataclasses import dataclass

import structlog

from focalpoint.audit import events as audit_events
from focalpoint.errors import Conflict, FocalpointError, UsageError
from focalpoint.exchange.envelope import Limits, read_header
from focalpoint.exchange.sealed import SealedFileRefused, SealedLimits, check_fresh, open_sealed, seal_file
from focalpoint.node.delivery import DeliveryManager
from focalpoint.node.inbox import Inbox
from focalpoint.node.keyring import KeyRing
from focalpoint.node.ports import Clock, DirectoryView
from focalpoint.storage.base import DeliveryState, OutboxRow, SealedExport, SealedImport, SealedOwed, Store
from focalpoint.v1 import envelope_pb2, node_pb2

__all__ = ["Exported", "Imported", "SealedFiles"]

log = structlog.get_logger("focalpoint.sealed")

# Room kept in a file for the manifest's entries, the signature and age's header and framing.
_OVERHEAD_BYTES = 64 << 10
_PER_RECORD_BYTES = 96
# Records in one file: well below the reader's cap (``SealedLimits.max_records``).
_MAX_RECORDS = 50_000
# Envelopes handed to the inbox at once: a gRPC stream's batch at most (``net.channels.MAX_BATCH_ENVELOPES``),
# so a large file is received, stored and receipted as the same number of network batches would be.
_RECEIVE_BATCH = 1024


@dataclass(frozen=True, slots=True)
class Exported:
    """A file written (``data`` empty when there was nothing to carry: no number was used)."""

    data: bytes
    file_id: bytes
    sequence: int
    envelopes: int
    receipts: int
    left_out: int
    not_after_ms: int


@dataclass(frozen=True, slots=True)
class Imported:
    """What an import did, in counts (never which messages)."""

    sender: str
    file_id: bytes
    sequence: int
    accepted: int = 0
    duplicates: int = 0
    refused: int = 0
    receipts: int = 0
    closed_delivered: int = 0
    closed_refused: int = 0
    retry: int = 0
    already_closed: int = 0
    unknown: int = 0
    receipts_file: Exported | None = None

    def outcome(self) -> str:
        """The counts in words (the audit event's status, the CLI's line)."""
        return (
            f"envelopes: {self.accepted} new, {self.duplicates} duplicate, {self.refused} refused;"
            f" receipts: {self.receipts} ({self.closed_delivered} delivered, {self.closed_refused} refused by the"
            f" partner, {self.retry} to send again, {self.already_closed} already closed, {self.unknown} unknown)"
        )


class SealedFiles:
    def __init__(
        self,
        *,
        me: str,
        directory: DirectoryView,
        keyring: KeyRing,
        store: Store,
        inbox: Inbox,
        delivery: DeliveryManager,
        limits: SealedLimits,
        envelope_limits: Limits,
        file_lifetime_ms: int,
        clock_ms: Clock,
    ) -> None:
        """``limits``: the caps a file is read under (and written to fit); ``file_lifetime_ms``: how
        long after it is made a file is accepted (its ``not_after``)."""
        self._me = me
        self._directory = directory
        self._keyring = keyring
        self._store = store
        self._inbox = inbox
        self._delivery = delivery
        self._limits = limits
        self._envelope_limits = envelope_limits
        self._lifetime_ms = file_lifetime_ms
        self._clock = clock_ms
        # One import or export at a time: file numbers are taken and checked without a race.
        self._lock = asyncio.Lock()

    # --- export ------------------------------------------------------------------------------

    async def export(self, peer: str, *, actor: str, envelopes: bool = True) -> Exported:
        """The file for ``peer``: its QUEUED envelopes (unless ``envelopes`` is False: a receipts
        file) and the results owed to it, oldest first, as many as fit. Raises UsageError for a
        peer this node cannot write to."""
        async with self._lock:
            return await self._export(peer, actor=actor, envelopes=envelopes)

    async def _export(self, peer: str, *, actor: str, envelopes: bool) -> Exported:
        now, directory = self._clock(), self._directory()
        if peer == self._me:
            raise UsageError("a node does not write sealed files to itself")
        info = directory.node(peer)
        if info is None:
            raise UsageError(f"{peer!r} is not a node of directory version {directory.version}")
        key = info.active_encryption_key(now)
        if key is None:
            raise UsageError(f"{peer!r} has no active encryption key in directory version {directory.version}")
        queued = await self._store.outbox.due(peer, now, _MAX_RECORDS, set(), latest_ms=1 << 62) if envelopes else []
        waiting = (await self._store.outbox.queued_by_recipient()).get(peer, (0, 0))[0] if envelopes else 0
        owed = await self._store.sealed.owed(peer, now)
        room = self._limits.max_file_bytes - _OVERHEAD_BYTES
        chosen_results: list[bytes] = []
        for o in owed:  # results first: they are small and close the partner's entries
            if len(chosen_results) >= _MAX_RECORDS or len(o.result) + _PER_RECORD_BYTES > room:
                break
            chosen_results.append(o.result)
            room -= len(o.result) + _PER_RECORD_BYTES
        chosen: list[OutboxRow] = []
        for row in queued:
            if len(chosen) + len(chosen_results) >= _MAX_RECORDS or len(row.envelope) + _PER_RECORD_BYTES > room:
                break
            chosen.append(row)
            room -= len(row.envelope) + _PER_RECORD_BYTES
        if not chosen and not chosen_results:
            return Exported(b"", b"", 0, 0, 0, waiting, 0)
        sequence = await self._store.sealed.last_export(peer) + 1
        file_id = secrets.token_bytes(16)
        not_after = now + self._lifetime_ms
        data = seal_file(
            signer=self._keyring.signer,
            sender_node=self._me,
            recipient_node=peer,
            recipient_key=key,
            file_id=file_id,
            sequence=sequence,
            created_at_ms=now,
            not_after_ms=not_after,
            directory_version=directory.version,
            envelopes=[r.envelope for r in chosen],
            results=chosen_results,
        )
        leaf = audit_events.sealed_exported(
            at_ms=now,
            actor=actor,
            peer=peer,
            file_id=file_id,
            sequence=sequence,
            envelopes=len(chosen),
            receipts=len(chosen_results),
        )
        await self._store.sealed.record_export(
            SealedExport(peer, sequence, file_id, now, len(chosen), len(chosen_results)), leaf, now
        )
        if chosen:  # they stay QUEUED (a lost file loses nothing); the list shows where they went
            note = f"handed to courier in sealed file {file_id.hex()} (number {sequence})"
            await self._store.outbox.schedule_retry([(r.message_id, now, note) for r in chosen])
        log.info(
            "sealed_file_exported",
            peer=peer,
            file_id=file_id.hex(),
            sequence=sequence,
            envelopes=len(chosen),
            receipts=len(chosen_results),
            left_out=max(0, waiting - len(chosen)),
        )
        left_out = max(0, waiting - len(chosen))
        return Exported(data, file_id, sequence, len(chosen), len(chosen_results), left_out, not_after)

    # --- import ------------------------------------------------------------------------------

    async def import_file(self, data: bytes, *, actor: str, receipts_file: bool = True) -> Imported:
        """Check the file as a whole, then receive its envelopes and apply its results; raises
        SealedFileRefused (a UsageError) or Conflict (a replay) having changed nothing. With
        ``receipts_file``, the results owed to the sender are sealed back at once when the file
        carried envelopes (otherwise they travel in the next export to it)."""
        async with self._lock:
            return await self._import(data, actor=actor, receipts_file=receipts_file)

    async def _import(self, data: bytes, *, actor: str, receipts_file: bool) -> Imported:
        now = self._clock()
        try:
            unsealed = open_sealed(
                data,
                me=self._me,
                identities=list(self._keyring.decryption_keys.values()),
                keys=self._directory(),
                now_ms=now,
                limits=self._limits,
            )
            manifest = unsealed.manifest
            earlier = await self._store.sealed.imported(manifest.sender_node, manifest.file_id, manifest.sequence)
            if earlier is not None:
                when = dt.datetime.fromtimestamp(earlier.imported_at_ms / 1000, dt.UTC).isoformat(timespec="seconds")
                same = "this file" if earlier.file_id == manifest.file_id else f"file number {manifest.sequence}"
                raise Conflict(
                    f"sealed file refused: {same} from {manifest.sender_node} was already imported on {when}"
                    " (a replay); nothing was changed"
                )
            check_fresh(manifest, now)
        except SealedFileRefused as e:
            log.warning("sealed_file_refused", reason=e.reason)
            raise
        except Conflict as e:
            log.warning("sealed_file_refused", reason=str(e))
            raise
        sender = unsealed.sender
        counts = _Counts()
        owed: list[SealedOwed] = []
        envelopes = unsealed.envelopes
        if envelopes:
            results: list[node_pb2.DeliveryResult] = []
            for i in range(0, len(envelopes), _RECEIVE_BATCH):  # as the peer door's batches
                results += await self._inbox.receive_batch(envelopes[i : i + _RECEIVE_BATCH], sender)
            for envelope, result in zip(envelopes, results, strict=True):
                counts.receive(result)
                owed.append(
                    SealedOwed(sender, result.message_id, result.SerializeToString(), self._expiry(envelope, now))
                )
        answers = unsealed.results
        if answers:
            states = await self._delivery.apply_results(sender, answers)
            counts.close(answers, states)
        outcome = Imported(
            sender=sender,
            file_id=manifest.file_id,
            sequence=manifest.sequence,
            accepted=counts.accepted,
            duplicates=counts.duplicates,
            refused=counts.refused,
            receipts=len(answers),
            closed_delivered=counts.delivered,
            closed_refused=counts.failed,
            retry=counts.retry,
            already_closed=counts.closed,
            unknown=counts.unknown,
        )
        leaf = audit_events.sealed_imported(
            at_ms=now,
            actor=actor,
            peer=sender,
            file_id=manifest.file_id,
            sequence=manifest.sequence,
            envelopes=len(envelopes),
            outcome=outcome.outcome(),
        )
        row = SealedImport(sender, manifest.file_id, manifest.sequence, now)
        if not await self._store.sealed.record_import(row, owed, leaf):
            log.warning("sealed_file_imported_twice", peer=sender, file_id=manifest.file_id.hex())
        log.info("sealed_file_imported", peer=sender, file_id=manifest.file_id.hex(), sequence=manifest.sequence)
        if not (receipts_file and envelopes):
            return outcome
        try:
            back = await self._export(sender, actor=actor, envelopes=False)
        except UsageError as e:  # the import stands; the results stay owed for the next export
            log.warning("sealed_receipts_file_not_written", peer=sender, error=str(e))
            return outcome
        return dataclasses.replace(outcome, receipts_file=back)

    def _expiry(self, envelope: envelope_pb2.Envelope, now: int) -> int:
        """Until when a result is owed: the message's own expiry (a refused, unreadable header: the
        longest lifetime a message may have)."""
        try:
            return read_header(envelope, limits=self._envelope_limits).expires_at_ms
        except FocalpointError:
            return now + self._envelope_limits.max_lifetime_ms


class _Counts:
    """What became of a file's envelopes and results."""

    def __init__(self) -> None:
        self.accepted = self.duplicates = self.refused = 0
        self.delivered = self.failed = self.retry = self.closed = self.unknown = 0

    def receive(self, result: node_pb2.DeliveryResult) -> None:
        if result.WhichOneof("outcome") != "delivered":
            self.refused += 1
        elif result.delivered.duplicate:
            self.duplicates += 1
        else:
            self.accepted += 1

    def close(
        self, answers: list[node_pb2.DeliveryResult], states: dict[bytes, tuple[DeliveryState, DeliveryState]]
    ) -> None:
        open_states = (DeliveryState.QUEUED, DeliveryState.EXPIRED)
        for answer in answers:
            before_after = states.get(answer.message_id)
            state = None if before_after is None else before_after[1]
            if before_after is None:
                self.unknown += 1
            elif before_after[0] not in open_states:
                self.closed += 1
            elif state is DeliveryState.DELIVERED:
                self.delivered += 1
            elif state is DeliveryState.FAILED:
                self.failed += 1
            elif state is DeliveryState.QUEUED:
                self.retry += 1
            else:
                self.closed += 1
