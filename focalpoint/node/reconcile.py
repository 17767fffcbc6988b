"""Settling expired messages with their recipients (reconciliation, docs/protocol.md §7.6).

An outbox entry that expires before its receipt arrives is EXPIRED, not lost: the recipient may
hold it, its answers having been lost for longer than the message's lifetime. The reconciler
asks each recipient about its EXPIRED entries (``focalpoint.exchange.reconcile``) and closes
each on an answer that settles it: the original receipt, verified as any receipt is, makes it
DELIVERED; "never" makes it NOT_RECEIVED, the only state in which an official is told the
message may be sent again. Until then the entry stays EXPIRED and says "do not send it again".

A recipient is asked when its entries expire, when it shows a sign of life, and otherwise every
``interval_s`` while it has entries open; one round asks each due recipient in turn.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from focalpoint.errors import FocalpointError, VerificationError
from focalpoint.exchange import reconcile
from focalpoint.exchange.receipt import verify_receipt
from focalpoint.node.ports import Clock, DirectoryView, PeerTransport, Spawn
from focalpoint.storage.base import Delivered, OutboxStore

__all__ = ["Reconciler"]

log = structlog.get_logger("focalpoint.delivery")

# Questions per recipient in one round (each about at most reconcile.MAX_ASKED messages).
MAX_QUESTIONS = 16
# A recipient that keeps calling is asked at most this often on its signs of life.
ALIVE_GAP_MS = 10_000


class Reconciler:
    def __init__(
        self,
        *,
        me: str,
        outbox: OutboxStore,
        transport: PeerTransport,
        directory: DirectoryView,
        clock_ms: Clock,
        interval_s: float,
        spawn: Spawn,
        file_only: Callable[[str], bool] = lambda peer: False,
    ) -> None:
        """``interval_s``: how often a recipient with open entries is asked again (a sign of life
        of the recipient brings that forward, to at most one question every ``ALIVE_GAP_MS``);
        ``file_only``: recipients reached by sealed files only, never asked (a late receipt in a file
        still settles their expired entries, ``DeliveryManager.apply_results``)."""
        self._file_only = file_only
        self._me = me
        self._outbox = outbox
        self._transport = transport
        self._directory = directory
        self._clock = clock_ms
        self._interval_ms = max(1, int(interval_s * 1000))
        self._spawn = spawn
        self._next_ms: dict[str, int] = {}  # recipient -> when to ask it next (absent: now)
        self._asked_ms: dict[str, int] = {}  # recipient -> when it was last asked
        self._running = False
        self._again = False

    def due(self, peer: str | None = None) -> None:
        """Ask ``peer`` (every recipient, without one) at the next round, and start one now."""
        if peer is None:
            self._next_ms.clear()
        else:
            self._next_ms.pop(peer, None)
        if self._running:
            self._again = True
        else:
            self._spawn(self.round())

    def peer_alive(self, peer: str) -> None:
        """``peer`` answered or called: if it has entries open here, ask it now (not more often
        than every ``ALIVE_GAP_MS``; a clock stepped back since the last question does not count)."""
        since = self._clock() - self._asked_ms.get(peer, 0)
        if peer in self._next_ms and (since >= ALIVE_GAP_MS or since < 0):
            self.due(peer)

    def _due(self, peer: str, now: int) -> bool:
        """Whether ``peer``'s turn came; a turn planned further ahead than one interval (by a clock
        since stepped back) has come too."""
        at = self._next_ms.get(peer, 0)
        return at <= now or at > now + self._interval_ms

    async def round(self) -> None:
        """Ask every recipient whose turn it is; a round already running takes the request over."""
        if self._running:
            self._again = True
            return
        self._running = True
        try:
            self._again = True
            while self._again:
                self._again = False
                now = self._clock()
                try:
                    peers = await self._outbox.recipients_with_unconfirmed()
                except FocalpointError as e:  # storage: ask again at the next round
                    log.error("reconcile_failed", error=str(e)[:300])
                    return
                for peer in peers:
                    if self._file_only(peer) or not self._due(peer, now):
                        continue
                    try:
                        await self.ask(peer)
                    except FocalpointError as e:  # storage: what was settled stays settled; the others go on
                        self._next_ms[peer] = now + self._interval_ms
                        log.error("reconcile_failed", peer=peer, error=str(e)[:300])
        finally:
            self._running = False

    async def ask(self, peer: str) -> int:
        """Ask ``peer`` about this node's EXPIRED entries to it; how many are still open."""
        open_left = 0
        for _ in range(MAX_QUESTIONS):
            asked = [
                reconcile.Asked(u.message_id, u.digest, u.expires_at_ms)
                for u in await self._outbox.unconfirmed(peer, reconcile.MAX_ASKED)
            ]
            if not asked:
                self._next_ms.pop(peer, None)
                return 0
            self._asked_ms[peer] = self._clock()
            self._next_ms[peer] = self._asked_ms[peer] + self._interval_ms
            try:
                answer = await self._transport.receipts(peer, reconcile.request(asked))
                settled = reconcile.settle(asked, answer)
            except FocalpointError as e:  # unreachable, or an answer that does not fit: ask later
                log.info("reconcile_later", peer=peer, messages=len(asked), error=str(e)[:300])
                return len(asked)
            closed = await self._close(peer, asked, settled)
            open_left = len(asked) - closed
            if closed == 0 or len(asked) < reconcile.MAX_ASKED:
                break  # nothing more to settle now, or nothing more to ask about
        return open_left

    async def _close(self, peer: str, asked: list[reconcile.Asked], settled: reconcile.Settlement) -> int:
        directory, now = self._directory(), self._clock()
        delivered: list[Delivered] = []
        verified_roots: set[bytes] = set()
        for a in asked:
            receipt = settled.receipts.get(a.message_id)
            if receipt is None:
                continue
            try:
                verified = verify_receipt(
                    receipt,
                    keys=directory,
                    receiver_node=peer,
                    sender_node=self._me,
                    message_id=a.message_id,
                    envelope_digest=a.digest,
                    verified_roots=verified_roots,
                )
            except VerificationError as e:
                log.error("receipt_invalid", peer=peer, message_id=a.message_id.hex(), error=str(e))
                continue
            delivered.append(Delivered(a.message_id, verified.raw, now, verified.content.log_index))
        if delivered:
            await self._outbox.mark_delivered(delivered)
        if settled.never:
            await self._outbox.mark_not_received(settled.never, now)
        if delivered or settled.never:
            log.info(
                "reconciled", peer=peer, delivered=len(delivered), not_received=len(settled.never), open=settled.open
            )
        return len(delivered) + len(settled.never)
