"""The outbox's delivery loop: retry with backoff and jitter until a signed receipt closes the entry.

One worker per recipient. A worker takes the due entries in batches (a single entry
goes by unary call, more by stream), keeps at most ``max_in_flight`` batches on the
wire, and for each result:
  - a receipt that verifies (focalpoint.receipt) closes the entry as DELIVERED;
  - a retryable refusal or a transport failure schedules a retry with exponential
    backoff and jitter, for as long as the message has not expired;
  - any other refusal closes the entry as FAILED with the receiver's reason.
A receipt that does not verify never closes an entry: it is logged and retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from directory import Directory
from focalpoint.errors import RefusalError, StorageError, TransportError, VerificationError
from focalpoint.receipt import verify_receipt
from focalpoint.store import DeliveryState, OutboxRow, Store
from focalpoint.transport import PeerChannels, refusal_from_proto, refusal_to_proto
from focalpoint.v1 import envelope_pb2, node_pb2

__all__ = ["Backoff", "DeliveryManager"]

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
        store: Store,
        channels: PeerChannels,
        directory: Callable[[], Directory],
        clock_ms: Callable[[], int],
        batch_size: int,
        retry_initial_s: float,
        retry_max_s: float,
        max_in_flight: int = 2,
    ) -> None:
        self._me = node_id
        self._store = store
        self._channels = channels
        self._directory = directory
        self._clock = clock_ms
        self._batch = batch_size
        self._retry = (retry_initial_s, retry_max_s)
        self._max_in_flight = max_in_flight
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._waiters: dict[bytes, list[asyncio.Future[DeliveryState]]] = {}
        self._stopping = False

    async def start(self) -> None:
        for peer in await self._store.recipients_with_queued():
            self.wake(peer)

    def wake(self, peer: str) -> None:
        """Make sure a worker for ``peer`` runs and looks at the outbox now."""
        if self._stopping:
            return
        self._wake.setdefault(peer, asyncio.Event()).set()
        task = self._workers.get(peer)
        if task is None or task.done():
            self._workers[peer] = asyncio.get_running_loop().create_task(self._run(peer), name=f"deliver-{peer}")

    def wake_all(self) -> None:
        for peer in list(self._workers):
            self.wake(peer)

    async def wait_closed(self, message_id: bytes) -> DeliveryState:
        """Wait until the entry is DELIVERED, FAILED or EXPIRED."""
        # Register first, then read: a close that lands between the two is not missed.
        fut: asyncio.Future[DeliveryState] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(message_id, [])
        waiters.append(fut)
        try:
            row = await self._store.get_outbox(message_id)
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

    async def expire(self) -> None:
        for mid in await self._store.expire_outbox(self._clock()):
            log.warning("outbox_expired", message_id=mid.hex())
            self._notify(mid, DeliveryState.EXPIRED)

    # --- the worker -----------------------------------------------------------------

    async def _run(self, peer: str) -> None:
        wake = self._wake.setdefault(peer, asyncio.Event())
        backoff = Backoff(*self._retry)
        in_flight: set[bytes] = set()
        slots = asyncio.Semaphore(self._max_in_flight)
        batches: set[asyncio.Task[None]] = set()
        try:
            while not self._stopping:
                wake.clear()
                await slots.acquire()
                rows = await self._store.due_outbox(peer, self._clock(), self._batch, in_flight)
                if not rows:
                    slots.release()
                    await self._sleep_until_due(peer, wake, bool(in_flight))
                    continue
                in_flight.update(r.message_id for r in rows)

                async def run_batch(batch: list[OutboxRow] = rows) -> None:
                    try:
                        await self._send(peer, batch, backoff)
                    except StorageError as e:
                        # The entries stay QUEUED and are picked up again; nothing is lost.
                        log.error("delivery_storage_error", peer=peer, error=str(e))
                        await asyncio.sleep(backoff.next_delay())
                    finally:
                        in_flight.difference_update(r.message_id for r in batch)
                        slots.release()
                        wake.set()

                task = asyncio.get_running_loop().create_task(run_batch())
                batches.add(task)
                task.add_done_callback(batches.discard)
        finally:
            for t in list(batches):
                t.cancel()
            await asyncio.gather(*batches, return_exceptions=True)

    async def _sleep_until_due(self, peer: str, wake: asyncio.Event, busy: bool) -> None:
        next_ms = None if busy else await self._store.next_due_ms(peer)
        timeout = None if next_ms is None else max(0.0, (next_ms - self._clock()) / 1000)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout)

    async def _send(self, peer: str, rows: Sequence[OutboxRow], backoff: Backoff) -> None:
        directory = self._directory()
        envelopes = [envelope_pb2.Envelope.FromString(r.envelope) for r in rows]
        try:
            if len(rows) == 1:
                try:
                    one = await self._channels.deliver(directory, peer, envelopes[0])
                    results = [node_pb2.DeliveryResult(message_id=rows[0].message_id, delivered=one)]
                except RefusalError as e:
                    results = [
                        node_pb2.DeliveryResult(
                            message_id=rows[0].message_id,
                            refused=refusal_to_proto(e),
                        )
                    ]
            else:
                results = await self._channels.deliver_stream(directory, peer, envelopes)
        except (TransportError, RefusalError) as e:
            delay = backoff.next_delay()
            log.info("delivery_retry", peer=peer, messages=len(rows), retry_in_s=round(delay, 2), error=str(e))
            at = self._clock() + int(delay * 1000)
            await self._store.schedule_retry([(r.message_id, at, str(e)) for r in rows])
            return
        backoff.reset()
        await self._apply(peer, directory, rows, results, backoff)

    async def _apply(
        self,
        peer: str,
        directory: Directory,
        rows: Sequence[OutboxRow],
        results: Sequence[node_pb2.DeliveryResult],
        backoff: Backoff,
    ) -> None:
        now = self._clock()
        delivered: list[tuple[bytes, bytes, int]] = []
        retry: list[tuple[bytes, int, str]] = []
        final: list[tuple[bytes, str]] = []
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
                    )
                except VerificationError as e:
                    log.error("receipt_invalid", peer=peer, message_id=row.message_id.hex(), error=str(e))
                    retry.append((row.message_id, now + int(backoff.next_delay() * 1000), f"invalid receipt: {e}"))
                    continue
                delivered.append((row.message_id, verified.raw, now))
            else:
                err = refusal_from_proto(result.refused)
                if err.retryable:
                    retry.append((row.message_id, now + int(backoff.next_delay() * 1000), str(err)))
                else:
                    final.append((row.message_id, str(err)))
        if delivered:
            await self._store.mark_delivered(delivered)
            for mid, _, _ in delivered:
                self._notify(mid, DeliveryState.DELIVERED)
            log.debug("delivered", peer=peer, messages=len(delivered))
        if retry:
            await self._store.schedule_retry(retry)
        for mid, reason in final:
            await self._store.mark_final(mid, DeliveryState.FAILED, reason)
            log.warning("delivery_refused", peer=peer, message_id=mid.hex(), reason=reason)
            self._notify(mid, DeliveryState.FAILED)
