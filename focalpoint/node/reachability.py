"""Reachability of agreement partners: a signed ping over the real channel.

Each node periodically pings every node of every State it has an agreement in force with
(and the other nodes of its own State), over the same mutual-TLS channel messages use.
The ping signs a fresh nonce; the answer signs it back, so a reply proves the partner's
node holds its directory key now, not merely that something listens on the port. Results
feed the health report (``directory.health``). No case data is involved.

The sign/check functions are pure (``focalpoint.exchange.ping``); ``Reachability`` runs the rounds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from focalpoint.crypto.signing import Ed25519Signer
from focalpoint.errors import FocalpointError
from focalpoint.exchange.ping import check_pong, make_ping
from focalpoint.exchange.policy import partners
from focalpoint.node.ports import Clock, DirectoryView, PeerTransport

__all__ = ["PeerStatus", "Reachability"]

log = structlog.get_logger("focalpoint.reachability")


@dataclass(slots=True)
class PeerStatus:
    reachable: bool
    checked_at_ms: int
    rtt_ms: float | None = None
    error: str = ""
    last_ok_ms: int | None = None
    # The partner's clock minus this node's, measured by the last answered ping (its answer's
    # time against the middle of the round trip): positive when the partner's clock is ahead.
    clock_offset_ms: int | None = None


class Reachability:
    def __init__(
        self,
        *,
        me: str,
        transport: PeerTransport,
        directory: DirectoryView,
        signer: Callable[[], Ed25519Signer],
        clock_ms: Clock,
        on_alive: Callable[[str], None] = lambda peer: None,
        file_only: Callable[[str], bool] = lambda peer: False,
    ) -> None:
        """``on_alive``: told of every partner that answered a ping (its queue is retried now);
        ``file_only``: partners reached by sealed files only, never pinged (no false alarm)."""
        self._file_only = file_only
        self._me = me
        self._transport = transport
        self._directory = directory
        self._signer = signer
        self._clock = clock_ms
        self._on_alive = on_alive
        self.status: dict[str, PeerStatus] = {}

    async def ping(self, peer: str) -> PeerStatus:
        directory = self._directory()
        sent_at = self._clock()
        request = make_ping(self._signer(), me=self._me, peer=peer, now_ms=sent_at, directory_version=directory.version)
        started = time.perf_counter()
        previous = self.status.get(peer)
        try:
            response = await self._transport.ping(peer, request)
            pong = check_pong(response, request, directory=directory, me=self._me, peer=peer)
            rtt_ms = (time.perf_counter() - started) * 1000
            status = PeerStatus(
                reachable=True,
                checked_at_ms=self._clock(),
                rtt_ms=round(rtt_ms, 2),
                last_ok_ms=self._clock(),
                clock_offset_ms=round(pong.answered_at_ms - (sent_at + rtt_ms / 2)),
            )
        except FocalpointError as e:  # unreachable, refused, or an answer that does not verify
            status = self._failed(previous, str(e))
        if status.reachable:
            self._on_alive(peer)
        if not status.reachable and (previous is None or previous.reachable):
            log.warning("peer_unreachable", peer=peer, error=status.error)
        elif status.reachable and previous is not None and not previous.reachable:
            log.info("peer_reachable_again", peer=peer)
        self.status[peer] = status
        return status

    def _failed(self, previous: PeerStatus | None, error: str) -> PeerStatus:
        return PeerStatus(
            reachable=False,
            checked_at_ms=self._clock(),
            error=error[:300],
            last_ok_ms=previous.last_ok_ms if previous else None,
            clock_offset_ms=previous.clock_offset_ms if previous else None,
        )

    async def round(self) -> dict[str, PeerStatus]:
        """Ping every partner once, concurrently; forget nodes that are no longer partners."""
        current = [p for p in partners(self._directory(), self._me) if not self._file_only(p)]
        for gone in set(self.status) - set(current):
            del self.status[gone]
        await asyncio.gather(*(self.ping(p) for p in current))
        return dict(self.status)

    def unreachable(self) -> dict[str, str]:
        return {peer: s.error for peer, s in sorted(self.status.items()) if not s.reachable}

    def clock_offsets(self) -> dict[str, int]:
        """Each partner's clock minus this node's, as last measured (partners answered at least once)."""
        return {peer: s.clock_offset_ms for peer, s in sorted(self.status.items()) if s.clock_offset_ms is not None}
