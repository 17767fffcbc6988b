"""The outbox's delivery loop: retry with backoff and jitter until a signed receipt closes the entry.

One worker per recipient. A worker takes the due entries in batches (a single entry
goes by unary call, more by stream), keeps at most ``max_in_flight`` batches on the
wire, and for each result:
  - a receipt that verifies (focalpoint.exchange.receipt) closes the entry as DELIVERED;
  - a retryable refusal or a transport failure schedules a retry with exponential
    backoff and jitter, for as long as the message has not expired;
  - any other refusal closes the entry as FAILED with the receiver's reason.
A receipt that does not verify never closes an entry: it is logged and retried.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from directory import Directory
from focalpoint.errors import Refusal, RefusalError, StorageError, TransportError, VerificationError
from focalpoint.exchange.codec import refusal_from_proto, refusal_to_proto
from focalpoint.exchange.receipt import verify_receipt
from focalpoint.metrics import DELIVERY_ATTEMPTS, DELIVERY_FAILURES, REFUSALS
from focalpoint.node.ports import NO_TRACER, Clock, DirectoryView, PeerTransport, Tracer
from focalpoint.storage.base import Delivered, DeliveryState, OutboxStore
from focalpoint.v1 import envelope_pb2, node_pb2

__all__ = ["Backoff", "DeliveryManager", "Outgoing"]

log = structlog.get_logger("focalpoint.delivery")


@dataclass(slots=True)
class Backoff:
    initial_s: float
    max_s: float
    current_s: float = 0.0

    def next_delay(self) -> float:
        """Equal jitter: uniform in [current/2, current]; current doubles up to the cap."""
        self.current_s = self.initial_s if self.current_s == 0 else min(self.current_s * 2, self.max_s)
        return random.uniform(self.current_s / 2, self.current_s)  # noqa: S311 (jitter, not secrecy)

    def reset(self) -> None:
        self.current_s = 0.0


class DeliveryManager:
    def __init__(
        self,
        *,
        node_id: str,
        outbox: OutboxStore,
        transport: PeerTransport,
        directory: DirectoryView,
        clock_ms: Clock,
        batch_size: int,
        retry_initial_s: float,
        retry_max_s: float,
        max_in_flight: int = 4,
        checkpoint: Callable[[], bytes] = lambda: b"",
        tracer: Tracer = NO_TRACER,
        file_only: Callable[[str], bool] = lambda peer: False,
    ) -> None:
        """``file_only``: partners reached by sealed files only (``focalpoint.node.sealed``): no
        worker runs for them, so their entries wait, QUEUED, for the next export, without a network
        attempt, a retry or a failure counted."""
        self._file_only = file_only
        self._me = node_id
        self._tracer = tracer
        # This node's latest signed checkpoint travels with its envelopes to each partner once.
        self._checkpoint = checkpoint
        self._checkpoint_sent: dict[str, bytes] = {}
        self._outbox = outbox
        self._transport = transport
        self._directory = directory
        self._clock = clock_ms
        self._batch = batch_size
        self._retry = (retry_initial_s, retry_max_s)
        self._max_in_flight = max_in_flight
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._queues: dict[str, _PeerQueue] = {}
        # Entries committed as QUEUED by this process and not closed since: their state is known
        # here without a database read (every close goes through _notify).
        self._open: set[bytes] = set()
        self._waiters: dict[bytes, list[asyncio.Future[DeliveryState]]] = {}
        self._stopping = False

    async def start(self) -> None:
        for peer in await self._outbox.recipients_with_queued():
            self.wake(peer, scan=True)

    def enqueue(self, peer: str, item: Outgoing) -> None:
        """Hand a just-committed outbox entry to the worker without a database round trip."""
        self._open.add(item.message_id)
        if self._file_only(peer):
            return
        self._queue(peer).fresh.append(item)
        self.wake(peer)

    def wake(self, peer: str, *, scan: bool = False) -> None:
        """Make sure a worker for ``peer`` runs; with ``scan``, have it look in the outbox now."""
        if self._stopping or self._file_only(peer):
            return
        q = self._queue(peer)
        if scan:
            q.scan_at = 0
        q.wake.set()
        task = self._workers.get(peer)
        if task is None or task.done():
            self._workers[peer] = asyncio.get_running_loop().create_task(self._run(peer), name=f"deliver-{peer}")

    def peer_alive(self, peer: str) -> None:
        """``peer`` showed a sign of life (it answered a ping, or called this node): whatever its
        queue was waiting for, retry it now — a long outage ends in seconds, not backoffs."""
        q = self._queues.get(peer)
        if q is None:
            return
        q.backoff.reset()
        q.alive = True
        self.wake(peer, scan=True)

    def wake_all(self) -> None:
        """After a directory change: every worker re-reads its due entries (keys or endpoints may differ)."""
        for peer in list(self._queues):
            self.wake(peer, scan=True)

    async def wait_closed(self, message_id: bytes) -> DeliveryState:
        """Wait until the entry is DELIVERED, FAILED or EXPIRED."""
        # Register first, then read: a close that lands between the two is not missed.
        fut: asyncio.Future[DeliveryState] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(message_id, [])
        waiters.append(fut)
        try:
            if message_id not in self._open:  # not handed over in this process: ask the outbox
                row = await self._outbox.get(message_id)
                if row is None:
                    raise KeyError(message_id)
                if row.state is not DeliveryState.QUEUED:
                    return row.state
            return await fut
        finally:
            if fut in waiters:
                waiters.remove(fut)
            if not waiters:
                self._waiters.pop(message_id, None)

    def _notify(self, message_id: bytes, state: DeliveryState) -> None:
        self._open.discard(message_id)
        for fut in self._waiters.pop(message_id, []):
            if not fut.done():
                fut.set_result(state)

    async def stop(self) -> None:
        self._stopping = True
        tasks = list(self._workers.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._workers.clear()

    async def expire(self) -> list[bytes]:
        """Close the entries whose lifetime ended unconfirmed (EXPIRED: the reconciler asks their
        recipients whether they hold them); their ids."""
        expired = await self._outbox.expire(self._clock())
        for mid in expired:
            log.warning("outbox_expired", message_id=mid.hex())
            self._notify(mid, DeliveryState.EXPIRED)
        return expired

    async def apply_results(
        self, peer: str, results: Sequence[node_pb2.DeliveryResult]
    ) -> dict[bytes, tuple[DeliveryState, DeliveryState]]:
        """Delivery results that came back another way (a sealed file from ``peer``), through the
        same checks and closing as a network answer (``_apply``): a receipt closes its entry only if
        it verifies. Only entries to ``peer`` still QUEUED (or EXPIRED, which a late receipt
        settles) are touched. Each answered entry's state before and after, by message id (absent:
        not a message this node sent to ``peer``)."""
        rows: list[Outgoing] = []
        answered: list[node_pb2.DeliveryResult] = []
        states: dict[bytes, tuple[DeliveryState, DeliveryState]] = {}
        for result in results:
            row = await self._outbox.get(result.message_id)
            if row is None or row.recipient != peer or result.message_id in states:
                continue
            states[row.message_id] = (row.state, row.state)
            if row.state in (DeliveryState.QUEUED, DeliveryState.EXPIRED):
                rows.append(Outgoing(row.message_id, row.envelope, row.digest))
                answered.append(result)
        if rows:
            await self._apply(peer, self._directory(), rows, answered, Backoff(*self._retry))
            for r in rows:
                after = await self._outbox.get(r.message_id)
                if after is not None:
                    states[r.message_id] = (states[r.message_id][0], after.state)
        return states

    # --- the worker -----------------------------------------------------------------

    def _queue(self, peer: str) -> _PeerQueue:
        q = self._queues.get(peer)
        if q is None:
            q = self._queues[peer] = _PeerQueue(self._max_in_flight, Backoff(*self._retry))
        return q

    async def _run(self, peer: str) -> None:
        q = self._queue(peer)
        batches: set[asyncio.Task[None]] = set()
        try:
            while not self._stopping:
                q.wake.clear()
                await q.slots.acquire()
                batch = await self._next_batch(peer, q)
                if not batch:
                    q.slots.release()
                    # Never longer than the longest backoff, even if the clock was stepped back.
                    timeout = (
                        None if q.scan_at is None else min(max(0.0, (q.scan_at - self._clock()) / 1000), self._retry[1])
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(q.wake.wait(), timeout)
                    continue
                q.in_flight.update(o.message_id for o in batch)
                task = asyncio.get_running_loop().create_task(self._run_batch(peer, q, batch))
                batches.add(task)
                task.add_done_callback(batches.discard)
        finally:
            for t in list(batches):
                t.cancel()
            await asyncio.gather(*batches, return_exceptions=True)

    async def _next_batch(self, peer: str, q: _PeerQueue) -> list[Outgoing]:
        """Fresh submissions first (no database read); otherwise due entries from the outbox."""
        batch: list[Outgoing] = []
        while q.fresh and len(batch) < self._batch:
            item = q.fresh.popleft()
            if item.message_id not in q.in_flight:
                batch.append(item)
        now = self._clock()
        # No retry is planned further ahead than the longest backoff (a later one was planned by a
        # clock since stepped back); once the peer is back, every retry planned for later is due now.
        latest = now if q.alive else now + int(self._retry[1] * 1000)
        if q.scan_at is not None and q.scan_at > latest:
            q.scan_at = now
        if batch or q.scan_at is None or q.scan_at > now:
            return batch
        rows = await self._outbox.due(peer, now, self._batch, q.in_flight, latest_ms=latest)
        if rows:
            q.scan_at = now  # there may be more than one batch due
            return [Outgoing(r.message_id, r.envelope, r.digest) for r in rows]
        q.alive = False  # drained: back to the planned times
        q.scan_at = await self._outbox.next_due_ms(peer, q.in_flight)
        return []

    async def _run_batch(self, peer: str, q: _PeerQueue, batch: list[Outgoing]) -> None:
        retry_at: int | None = None
        try:
            retry_at = await self._send(peer, batch, q.backoff)
        except StorageError as e:
            # The entries stay QUEUED in the outbox and are picked up by the next scan; nothing is lost.
            log.error("delivery_storage_error", peer=peer, error=str(e))
            retry_at = self._clock() + int(q.backoff.next_delay() * 1000)
        finally:
            q.in_flight.difference_update(o.message_id for o in batch)
            if retry_at is not None:
                q.scan_at = retry_at if q.scan_at is None else min(q.scan_at, retry_at)
            q.slots.release()
            q.wake.set()

    async def _send(self, peer: str, rows: Sequence[Outgoing], backoff: Backoff) -> int | None:
        """Deliver and record the outcome; return the earliest retry time scheduled, if any. One
        root span per batch when tracing is on: the peer and the count, nothing of the messages."""
        with self._tracer.root_span("delivery.batch", {"focalpoint.peer": peer, "focalpoint.messages": len(rows)}):
            return await self._send_batch(peer, rows, backoff)

    async def _send_batch(self, peer: str, rows: Sequence[Outgoing], backoff: Backoff) -> int | None:
        directory = self._directory()
        envelopes = [envelope_pb2.Envelope.FromString(r.envelope) for r in rows]
        checkpoint = self._checkpoint()
        carried = checkpoint if checkpoint and self._checkpoint_sent.get(peer) != checkpoint else b""
        if carried:
            envelopes[0].checkpoint = carried  # outside the envelope digest; witnessed by the peer
        DELIVERY_ATTEMPTS.inc(self._me, peer, by=len(rows))
        try:
            if len(rows) == 1:
                try:
                    one = await self._transport.deliver(peer, envelopes[0])
                    results = [node_pb2.DeliveryResult(message_id=rows[0].message_id, delivered=one)]
                except RefusalError as e:
                    results = [node_pb2.DeliveryResult(message_id=rows[0].message_id, refused=refusal_to_proto(e))]
            else:
                results = await self._transport.deliver_batch(peer, envelopes)
        except (TransportError, RefusalError) as e:
            DELIVERY_FAILURES.inc(self._me, peer, by=len(rows))
            if isinstance(e, RefusalError):
                REFUSALS.inc(self._me, peer, "received", e.code.name, by=len(rows))
            delay = backoff.next_delay()
            log.info("delivery_retry", peer=peer, messages=len(rows), retry_in_s=round(delay, 2), error=str(e))
            at = self._clock() + int(delay * 1000)
            await self._outbox.schedule_retry([(r.message_id, at, str(e)) for r in rows])
            return at
        if carried:  # the peer answered, so it has this checkpoint
            self._checkpoint_sent[peer] = carried
        return await self._apply(peer, directory, rows, results, backoff)

    async def _apply(
        self,
        peer: str,
        directory: Directory,
        rows: Sequence[Outgoing],
        results: Sequence[node_pb2.DeliveryResult],
        backoff: Backoff,
    ) -> int | None:
        now = self._clock()
        retry_at: int | None = None

        def later() -> int:
            # One delay per round, growing while the peer keeps refusing (retryable) or
            # sending invalid receipts; reset once a round needs no retry.
            nonlocal retry_at
            if retry_at is None:
                retry_at = now + int(backoff.next_delay() * 1000)
            return retry_at

        delivered: list[Delivered] = []
        retry: list[tuple[bytes, int, str]] = []
        final: list[tuple[bytes, RefusalError]] = []
        verified_roots: set[bytes] = set()  # a batch receipt's root signature is checked once
        clock_warned = False
        for row, result in zip(rows, results, strict=True):
            if result.WhichOneof("outcome") == "delivered":
                try:
                    verified = verify_receipt(
                        result.delivered.receipt,
                        keys=directory,
                        receiver_node=peer,
                        sender_node=self._me,
                        message_id=row.message_id,
                        envelope_digest=row.digest,
                        verified_roots=verified_roots,
                    )
                except VerificationError as e:
                    DELIVERY_FAILURES.inc(self._me, peer)
                    log.error("receipt_invalid", peer=peer, message_id=row.message_id.hex(), error=str(e))
                    retry.append((row.message_id, later(), f"invalid receipt: {e}"))
                    continue
                delivered.append(Delivered(row.message_id, verified.raw, now, verified.content.log_index))
            else:
                err = refusal_from_proto(result.refused)
                REFUSALS.inc(self._me, peer, "received", err.code.name)
                DELIVERY_FAILURES.inc(self._me, peer)
                if err.code is Refusal.NOT_YET_VALID and not clock_warned:
                    clock_warned = True  # once per round: the receiver named both clocks
                    log.warning("clock_disagreement", peer=peer, reason=err.reason[:300])
                if err.retryable:
                    retry.append((row.message_id, later(), str(err)))
                else:
                    final.append((row.message_id, err))
        if delivered:
            await self._outbox.mark_delivered(delivered)
            for d in delivered:
                self._notify(d.message_id, DeliveryState.DELIVERED)
        if retry:
            await self._outbox.schedule_retry(retry)
        else:
            backoff.reset()
        for mid, err in final:
            await self._outbox.mark_final(
                mid, DeliveryState.FAILED, str(err), envelope_pb2.RefusalCode.ValueType(err.code.value), now
            )
            log.warning("delivery_refused", peer=peer, message_id=mid.hex(), reason=str(err))
            self._notify(mid, DeliveryState.FAILED)
        return min((at for _, at, _ in retry), default=None)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What a delivery attempt needs of an outbox entry."""

    message_id: bytes
    envelope: bytes
    digest: bytes


class _PeerQueue:
    """Per-recipient worker state. The outbox in the database stays the source of truth."""

    def __init__(self, max_in_flight: int, backoff: Backoff) -> None:
        self.wake = asyncio.Event()
        # Submissions since the last look, handed over in memory so they need no database read.
        self.fresh: collections.deque[Outgoing] = collections.deque()
        self.in_flight: set[bytes] = set()
        # When to look in the outbox for due entries (retries, and anything left by a restart);
        # None: nothing is due there that the worker does not already hold.
        self.scan_at: int | None = 0
        self.slots = asyncio.Semaphore(max_in_flight)
        self.backoff = backoff
        # The peer showed a sign of life since the last look: retries planned for later are due now.
        self.alive = False
