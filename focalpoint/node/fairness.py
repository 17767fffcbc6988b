"""Receive work shared fairly between peers, and done off the event loop.

Receive steps 1–13a are CPU-bound (HPKE decapsulation, Ed25519 verification, protobuf parsing).
On the event loop, one peer's batch of 1,024 envelopes held every other call up for a fifth of
a second, and a flooding peer multiplied an honest partner's delivery latency 15–55×. Here the
work runs in a few worker threads (Ed25519 releases the GIL; the X-Wing decapsulation does
not, but it is short, so the loop still gets the interpreter between envelopes), and the queue
takes turns between peers: each peer's work items wait in the peer's own FIFO, and a free
worker takes the first item of the next peer in round-robin order. A peer with a thousand items
queued delays another peer's single item by about one item per worker, not by its backlog.

Each peer also has a limit on calls in progress (``max_calls``): past it a call is refused at
once, before any work, with the retryable ``UNAVAILABLE``, so a flood of concurrent calls holds
neither memory nor workers (an honest sender keeps at most four batches in flight).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import structlog

from focalpoint.errors import Refusal, RefusalError

__all__ = ["MAX_CALLS_PER_PEER", "FairShare", "default_workers"]

log = structlog.get_logger("focalpoint.node")
T = TypeVar("T")

# Receive calls (a Deliver, or one batch of a stream) one peer may have in progress at once.
MAX_CALLS_PER_PEER = 8
_WARN_EVERY_S = 60.0


def default_workers() -> int:
    """Worker threads for receive work: one core is left to the event loop; at least one, at most four.

    More threads do not open more envelopes at once (the X-Wing decapsulation holds the GIL);
    each one more takes the interpreter from the event loop more often during a flood.
    """
    return max(1, min(4, (os.cpu_count() or 2) - 1))


class FairShare:
    """Worker threads for CPU-bound receive work, taken in turns by peer; calls in progress capped per peer."""

    def __init__(self, *, workers: int | None = None, max_calls: int = MAX_CALLS_PER_PEER) -> None:
        self._workers = workers or default_workers()
        self._max_calls = max_calls
        self._pool: ThreadPoolExecutor | None = None
        self._queues: dict[str, deque[tuple[Callable[[], Any], asyncio.Future[Any]]]] = {}
        self._turns: deque[str] = deque()  # peers with queued work, next turn first
        self._busy = 0
        self._calls: dict[str, int] = {}
        self._warned: dict[str, float] = {}

    def admit(self, peer: str) -> _Slot:
        """One of ``peer``'s call slots, held while the returned context is entered; raises
        RefusalError(UNAVAILABLE) when the peer already has ``max_calls`` calls in progress."""
        busy = self._calls.get(peer, 0)
        if busy >= self._max_calls:
            self._warn_over(peer)
            raise RefusalError(
                Refusal.UNAVAILABLE,
                f"this node is already handling {busy} calls from your node (the limit); retry later",
            )
        self._calls[peer] = busy + 1
        return _Slot(self, peer)

    def _release(self, peer: str) -> None:
        left = self._calls[peer] - 1
        if left:
            self._calls[peer] = left
        else:
            del self._calls[peer]

    def calls_in_progress(self, peer: str) -> int:
        return self._calls.get(peer, 0)

    def idle(self) -> bool:
        """No work queued or running."""
        return not self._busy and not self._turns

    def submit(self, peer: str, work: Callable[[], T]) -> asyncio.Future[T]:
        """``work()`` in a worker thread when ``peer``'s turn comes: a future of its result.

        Cancelling the future drops the item if it has not started (a started one runs to its end).
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(peer)
        if queue is None:
            queue = self._queues[peer] = deque()
            self._turns.append(peer)
        queue.append((work, future))
        self._dispatch()
        return future

    async def run(self, peer: str, work: Callable[[], T]) -> T:
        return await self.submit(peer, work)

    def _dispatch(self) -> None:
        while self._busy < self._workers and self._turns:
            peer = self._turns.popleft()
            queue = self._queues[peer]
            work, future = queue.popleft()
            if queue:
                self._turns.append(peer)  # the peer's next item waits for its next turn
            else:
                del self._queues[peer]
            if future.done():  # the caller went away before its turn
                continue
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="receive")
            self._busy += 1
            running = asyncio.wrap_future(self._pool.submit(work))
            running.add_done_callback(partial(self._finished, future))

    def _finished(self, future: asyncio.Future[Any], running: asyncio.Future[Any]) -> None:
        self._busy -= 1
        if future.done():
            pass
        elif running.cancelled():  # the pool shut down before the item started
            future.cancel()
        elif (error := running.exception()) is not None:
            future.set_exception(error)
        else:
            future.set_result(running.result())
        self._dispatch()

    def _warn_over(self, peer: str) -> None:
        now = time.monotonic()
        if now < self._warned.get(peer, 0.0):
            return
        self._warned[peer] = now + _WARN_EVERY_S
        log.warning(
            "peer_calls_over_limit",
            peer=peer,
            limit=self._max_calls,
            action="calls past the limit are answered UNAVAILABLE (retry later); logged at most once a minute",
        )

    def close(self) -> None:
        """Let running items finish in their threads; nothing new starts."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


class _Slot:
    """A call slot of one peer, given back when the ``with`` block ends."""

    __slots__ = ("_owner", "_peer")

    def __init__(self, owner: FairShare, peer: str) -> None:
        self._owner = owner
        self._peer = peer

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self._owner._release(self._peer)
