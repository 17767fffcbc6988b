"""The inbox: receive steps 1–16 for single envelopes and batches, whichever door they came in by.

Steps 1–13 are ``focalpoint.exchange.envelope.open_envelope``; 13a is the agreement check;
14–16 (replay check, storage, receipt) happen in one transaction with the DELIVERED audit
event (``InboxStore.add``), so each receipt names the log index of the event that records
it. Refusals are audited by code, with counts, within a budget per peer
(``focalpoint.node.refusals``); a failure to store is not a refusal of the envelope: the sender
is told to retry. The caller names the authenticated peer (from the TLS pin on the gRPC door);
nothing the envelope says about its sender is taken on trust.

Steps 1–13a run in worker threads, a few envelopes at a time, in turns between peers, and each
peer has a limit on calls in progress (``focalpoint.node.fairness``): one peer's flood neither
blocks the event loop nor starves another peer's delivery.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import structlog

from directory import Directory
from focalpoint.crypto.suite import EncryptionPrivateKey
from focalpoint.errors import Refusal, RefusalError, StorageError
from focalpoint.exchange.body import case_ref_of
from focalpoint.exchange.codec import refusal_from_proto, refusal_to_proto
from focalpoint.exchange.envelope import Limits, OpenedMessage, message_id_of, open_envelope
from focalpoint.exchange.policy import check_exchange
from focalpoint.exchange.receipt import make_batch_receipts, make_receipt
from focalpoint.metrics import REFUSALS
from focalpoint.node.fairness import FairShare
from focalpoint.node.keyring import KeyRing
from focalpoint.node.ports import Clock, DirectoryView
from focalpoint.node.refusals import RefusalLedger
from focalpoint.storage.base import InboxOutcome, NewInbox, Store
from focalpoint.storage.batching import GroupCommit
from focalpoint.storage.cipher import StorageCipher, inbox_purpose
from focalpoint.v1 import envelope_pb2, node_pb2

__all__ = ["OPEN_CHUNK", "Inbox"]

log = structlog.get_logger("focalpoint.node")

# Envelopes opened per work item: small enough (about half a millisecond) that another peer's turn comes soon,
# large enough that handing items to the worker threads costs little.
OPEN_CHUNK = 2
# Results of one batch built on the event loop before it serves other calls.
LOOP_SLICE = 64


class Inbox:
    def __init__(
        self,
        *,
        me: str,
        directory: DirectoryView,
        keyring: KeyRing,
        store: Store,
        cipher: StorageCipher,
        limits: Limits,
        clock_ms: Clock,
        on_checkpoint: Callable[[str, bytes], None] = lambda peer, raw: None,
        on_newer_directory: Callable[[str, int], None] = lambda peer, version: None,
        on_stored: Callable[[], None] = lambda: None,
        refusals: RefusalLedger | None = None,
        fair: FairShare | None = None,
    ) -> None:
        """``on_checkpoint``: a partner's envelope carried its signed checkpoint (the witness);
        ``on_newer_directory``: a peer's envelope names a newer directory version;
        ``on_stored``: new rows were committed (the case work applies them)."""
        self._me = me
        self._directory = directory
        self._keyring = keyring
        self._store = store
        self._cipher = cipher
        self._limits = limits
        self._clock = clock_ms
        self._on_checkpoint = on_checkpoint
        self._on_newer_directory = on_newer_directory
        self._on_stored = on_stored
        self._commit: GroupCommit[NewInbox, InboxOutcome] = GroupCommit(
            lambda rows: store.inbox.add(rows, self._sign_receipts)
        )
        self._batches = 0
        self._refusals = refusals or RefusalLedger()
        self._fair = fair or FairShare()

    async def close(self) -> None:
        await self._commit.close()
        self._fair.close()
        await self._write_refusals(self._refusals.drain(self._clock()))

    def _open(
        self,
        envelope: envelope_pb2.Envelope,
        tls_peer: str,
        now: int,
        directory: Directory,
        keys: Mapping[str, EncryptionPrivateKey],
    ) -> _Opened:
        """Steps 1–13 (focalpoint.exchange.envelope.open_envelope) and 13a (agreement), and the local
        copy of an accepted payload. Runs in a worker thread: no callback, no event loop."""
        try:
            opened = open_envelope(
                envelope,
                me=self._me,
                tls_peer=tls_peer,
                peers=directory,
                decryption_keys=keys,
                now_ms=now,
                limits=self._limits,
            )
        except RefusalError as e:
            return _Opened(refusal=_bare(e))
        # 13a. An agreement in force between the two States covers this kind (focalpoint.exchange.policy).
        try:
            check_exchange(
                directory,
                sender_node=opened.sender,
                recipient_node=self._me,
                kind=opened.kind,
                body=opened.content.body,
            )
        except RefusalError as e:
            refusal = _bare(e)
            if opened.header.directory_version > directory.version:
                # The sender may know of an agreement this node has not loaded yet (the hint is
                # fetching it): ask for a retry rather than refusing for good.
                refusal = RefusalError(
                    Refusal.UNAVAILABLE,
                    f"this node has directory version {directory.version}, the sender "
                    f"{opened.header.directory_version}; retry once it has caught up",
                )
            return _Opened(message=opened, refusal=refusal)
        local_copy = self._cipher.seal(
            opened.payload, purpose=inbox_purpose(opened.sender), message_id=opened.message_id
        )
        return _Opened(message=opened, local_copy=local_copy)

    async def _open_all(self, envelopes: Sequence[envelope_pb2.Envelope], tls_peer: str, now: int) -> list[_Opened]:
        """Steps 1–13a for every envelope, in worker threads, in turns with other peers' work
        (``FairShare``); then, on the loop, a hint for each sender naming a newer directory.

        A small call (at most ``OPEN_CHUNK`` envelopes, the peer's only call) that finds every
        worker idle is opened at once on the loop: nobody waits behind it, and the hand-over to
        a thread and back would add about 0.6 ms to an unloaded delivery.
        """
        directory, keys = self._directory(), self._keyring.decryption_keys

        def work(chunk: Sequence[envelope_pb2.Envelope]) -> list[_Opened]:
            return [self._open(envelope, tls_peer, now, directory, keys) for envelope in chunk]

        if len(envelopes) <= OPEN_CHUNK and self._fair.idle() and self._fair.calls_in_progress(tls_peer) <= 1:
            parts = [work(envelopes)]
        else:
            parts = await asyncio.gather(
                *(
                    self._fair.submit(tls_peer, partial(work, envelopes[i : i + OPEN_CHUNK]))
                    for i in range(0, len(envelopes), OPEN_CHUNK)
                )
            )
        opened = [o for part in parts for o in part]
        for o in opened:
            if o.message is not None:
                self._on_newer_directory(tls_peer, o.message.header.directory_version)
        return opened

    def _inbox_row(self, envelope: envelope_pb2.Envelope, o: _Opened, now: int, batch: int) -> NewInbox:
        opened = o.message
        assert opened is not None
        # Only the authenticated parts are stored: unknown fields and a carried checkpoint are dropped.
        stored = envelope_pb2.Envelope(header=envelope.header, ciphertext=envelope.ciphertext)
        return NewInbox(
            sender=opened.sender,
            message_id=opened.message_id,
            envelope=stored.SerializeToString(),
            digest=opened.digest,
            local_copy=o.local_copy,
            received_at_ms=now,
            expires_at_ms=opened.header.expires_at_ms,
            case_ref=case_ref_of(opened.content.body),
            message_kind=opened.kind,
            sequence=opened.content.sequence,
            batch=batch,
        )

    def _sign_receipts(self, fresh: Sequence[tuple[NewInbox, int]]) -> list[bytes]:
        """Step 16, inside the storing transaction: each receipt names its DELIVERED event's log index.

        Rows of one incoming batch share one signed Merkle root; others get a single receipt.
        """
        out: dict[int, bytes] = {}
        groups: dict[tuple[int, str], list[int]] = {}
        for pos, (row, index) in enumerate(fresh):
            if row.batch:
                groups.setdefault((row.batch, row.sender), []).append(pos)
                continue
            out[pos] = make_receipt(
                self._keyring.signer,
                receiver_node=self._me,
                sender_node=row.sender,
                message_id=row.message_id,
                envelope_digest=row.digest,
                received_at_ms=row.received_at_ms,
                log_index=index,
            ).SerializeToString()
        for (_, sender), positions in groups.items():
            receipts = make_batch_receipts(
                self._keyring.signer,
                receiver_node=self._me,
                sender_node=sender,
                deliveries=[(fresh[p][0].message_id, fresh[p][0].digest) for p in positions],
                received_at_ms=fresh[positions[0]][0].received_at_ms,
                log_indices=[fresh[p][1] for p in positions],
            )
            for p, receipt in zip(positions, receipts, strict=True):
                out[p] = receipt.SerializeToString()
        return [out[p] for p in range(len(fresh))]

    async def _store_inbox(self, rows: list[NewInbox]) -> list[InboxOutcome]:
        """Steps 14–16: the (sender, message id) unique key is the replay table; the insert is atomic."""
        try:
            outcomes = await self._commit.submit_many(rows)
        except StorageError as e:
            # The sender keeps the message and retries; the peer learns nothing about our disk.
            log.error("inbox_store_failed", error=str(e))
            raise RefusalError(Refusal.UNAVAILABLE, "the receiver cannot store messages right now; retry later") from e
        self._on_stored()
        return outcomes

    @staticmethod
    def _response(outcome: InboxOutcome) -> node_pb2.DeliverResponse:
        if outcome.conflict:
            raise RefusalError(
                Refusal.REPLAY, "this message id was already used by this sender for a different envelope"
            )
        return node_pb2.DeliverResponse(
            receipt=envelope_pb2.Receipt.FromString(outcome.receipt), duplicate=outcome.duplicate
        )

    async def _log_refusals(self, refused: Sequence[tuple[bytes, RefusalError]], peer: str, now: int) -> None:
        """REFUSED events by code, with counts, within the peer's budget (``RefusalLedger``); the
        reason text stays in the operator log."""
        for _, refusal in refused:
            REFUSALS.inc(self._me, peer, "given", refusal.code.name)
        await self._write_refusals(self._refusals.record(peer, now, refused))

    async def _write_refusals(self, leaves: list[bytes]) -> None:
        if not leaves:
            return
        try:
            await self._store.audit.record(leaves)
        except StorageError as err:
            log.error("audit_write_failed", error=str(err))

    async def flush_refusals(self) -> None:
        """Write the refusal summaries of windows that have closed (the node's upkeep calls this)."""
        await self._write_refusals(self._refusals.due(self._clock()))

    async def receive(self, envelope: envelope_pb2.Envelope, tls_peer: str) -> node_pb2.DeliverResponse:
        """Steps 1–16 for one envelope; raises RefusalError."""
        [result] = await self.receive_batch([envelope], tls_peer, batched=False)
        if result.WhichOneof("outcome") == "refused":
            raise refusal_from_proto(result.refused)
        return result.delivered

    async def receive_batch(
        self, envelopes: Sequence[envelope_pb2.Envelope], tls_peer: str, *, batched: bool = True
    ) -> list[node_pb2.DeliveryResult]:
        """Steps 1–16 for a batch: one result per envelope, in order; one signed receipt root for all.

        A peer with ``MAX_CALLS_PER_PEER`` calls in progress has every envelope answered with the
        retryable UNAVAILABLE at once; nothing is opened, stored or audited.
        """
        try:
            slot = self._fair.admit(tls_peer)
        except RefusalError as e:
            busy = refusal_to_proto(e)
            return [node_pb2.DeliveryResult(message_id=message_id_of(env), refused=busy) for env in envelopes]
        with slot:
            return await self._receive_batch(envelopes, tls_peer, batched=batched)

    async def _receive_batch(
        self, envelopes: Sequence[envelope_pb2.Envelope], tls_peer: str, *, batched: bool
    ) -> list[node_pb2.DeliveryResult]:
        now = self._clock()
        for envelope in envelopes:
            if envelope.checkpoint:
                self._on_checkpoint(tls_peer, envelope.checkpoint)
        results: list[node_pb2.DeliveryResult | None] = [None] * len(envelopes)
        accepted: list[tuple[int, _Opened]] = []
        refused: list[tuple[bytes, RefusalError]] = []
        for i, (envelope, o) in enumerate(zip(envelopes, await self._open_all(envelopes, tls_peer, now), strict=True)):
            if i and not i % LOOP_SLICE:
                await asyncio.sleep(0)  # other calls' turn on the loop while a big batch is answered
            if o.refusal is None:
                accepted.append((i, o))
                continue
            refused.append((message_id_of(envelope), o.refusal))
            results[i] = node_pb2.DeliveryResult(
                message_id=message_id_of(envelope), refused=refusal_to_proto(o.refusal)
            )
        if accepted:
            self._batches += 1
            batch = self._batches if batched else 0
            rows = [self._inbox_row(envelopes[i], o, now, batch) for i, o in accepted]
            try:
                outcomes: list[InboxOutcome | RefusalError] = list(await self._store_inbox(rows))
            except RefusalError as e:
                outcomes = [e] * len(rows)
            for (i, _), row, outcome in zip(accepted, rows, outcomes, strict=True):
                try:
                    if isinstance(outcome, RefusalError):
                        raise outcome
                    results[i] = node_pb2.DeliveryResult(message_id=row.message_id, delivered=self._response(outcome))
                except RefusalError as e:
                    if e.code is Refusal.REPLAY:
                        refused.append((row.message_id, e))
                    results[i] = node_pb2.DeliveryResult(message_id=row.message_id, refused=refusal_to_proto(e))
        if refused:
            await self._log_refusals(refused, tls_peer, now)
        return [r for r in results if r is not None]


@dataclass(frozen=True, slots=True)
class _Opened:
    """What steps 1–13a made of one envelope: ``message`` once steps 1–13 passed (even if 13a
    then refused it), ``refusal`` if refused, and the payload sealed under the storage key if not."""

    message: OpenedMessage | None = None
    refusal: RefusalError | None = None
    local_copy: bytes = b""


def _bare(e: RefusalError) -> RefusalError:
    """The refusal without its traceback: a flood's refusals wait for their batch's answer, and
    the frames a traceback keeps alive that long filled the garbage collector's oldest
    generation (full collections of 50–75 ms stalled every call on the loop)."""
    return RefusalError(e.code, e.reason)
