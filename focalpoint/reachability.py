"""Reachability of agreement partners: a signed ping over the real channel.

Each node periodically pings every node of every State it has an agreement in force with
(and the other nodes of its own State), over the same mutual-TLS channel messages use.
The ping signs a fresh nonce; the answer signs it back, so a reply proves the partner's
node holds its directory key now, not merely that something listens on the port. Results
feed the health report (``focalpoint.health``). No case data is involved.

The sign/check functions are pure; ``Reachability`` runs the rounds.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import structlog
from google.protobuf.message import DecodeError

from directory import Directory
from focalpoint.crypto.signing import Context, Ed25519Signer
from focalpoint.errors import Refusal, RefusalError, TransportError, VerificationError
from focalpoint.transport import PeerChannels, refusal_from_rpc_error
from focalpoint.v1 import node_pb2, node_pb2_grpc

__all__ = ["PeerStatus", "Reachability", "answer_ping", "check_pong", "make_ping", "partners"]

log = structlog.get_logger("focalpoint.reachability")


def make_ping(
    signer: Ed25519Signer, *, me: str, peer: str, now_ms: int, directory_version: int
) -> node_pb2.PingRequest:
    content = node_pb2.PingContent(
        from_node=me, to_node=peer, nonce=os.urandom(16), sent_at_ms=now_ms, directory_version=directory_version
    ).SerializeToString()
    return node_pb2.PingRequest(content=content, signature=signer.sign(Context.PING, content))


def answer_ping(
    request: node_pb2.PingRequest,
    *,
    signer: Ed25519Signer,
    me: str,
    tls_peer: str,
    directory: Directory,
    now_ms: int,
    skew_ms: int,
) -> node_pb2.PingResponse:
    """Check a ping from the authenticated peer and sign the answer; raises RefusalError."""
    try:
        ping = node_pb2.PingContent.FromString(request.content)
    except DecodeError as e:
        raise RefusalError(Refusal.MALFORMED, "ping content does not parse") from e
    if ping.from_node != tls_peer or ping.to_node != me:
        raise RefusalError(Refusal.SENDER_NOT_PEER, "the ping names other nodes than this connection's")
    if abs(ping.sent_at_ms - now_ms) > skew_ms:
        raise RefusalError(Refusal.EXPIRED, "the ping's time is outside the clock-skew window")
    verifier = directory.signing_key(tls_peer, request.signature.key_id, ping.sent_at_ms)
    if verifier is None:
        raise RefusalError(Refusal.BAD_SIGNATURE, "the ping is not signed with a valid key of the caller")
    try:
        verifier.verify(Context.PING, request.content, request.signature.value)
    except VerificationError as e:
        raise RefusalError(Refusal.BAD_SIGNATURE, "the ping's signature does not verify") from e
    content = node_pb2.PongContent(
        from_node=me,
        to_node=tls_peer,
        nonce=ping.nonce,
        answered_at_ms=now_ms,
        directory_version=directory.version,
    ).SerializeToString()
    return node_pb2.PingResponse(content=content, signature=signer.sign(Context.PONG, content))


def check_pong(
    response: node_pb2.PingResponse, request: node_pb2.PingRequest, *, directory: Directory, me: str, peer: str
) -> node_pb2.PongContent:
    """The answer is the peer's, to this node, for this nonce, signed with a valid key; raises VerificationError."""
    try:
        ping = node_pb2.PingContent.FromString(request.content)
        pong = node_pb2.PongContent.FromString(response.content)
    except DecodeError as e:
        raise VerificationError("pong does not parse") from e
    if pong.from_node != peer or pong.to_node != me or pong.nonce != ping.nonce:
        raise VerificationError("pong does not answer this ping")
    verifier = directory.signing_key(peer, response.signature.key_id, pong.answered_at_ms)
    if verifier is None:
        raise VerificationError(f"pong is not signed with a valid key of {peer}")
    verifier.verify(Context.PONG, response.content, response.signature.value)
    return pong


def partners(directory: Directory, me: str) -> list[str]:
    """Nodes this node may exchange with: its own State's, and those under an agreement in force."""
    mine = directory.node(me)
    if mine is None:
        return []
    states = {mine.state} | {
        s
        for a in directory.agreements.values()
        if a.status.name == "IN_FORCE" and mine.state in a.parties
        for s in a.parties
    }
    return sorted(n.node_id for n in directory.nodes.values() if n.state in states and n.node_id != me)


@dataclass(slots=True)
class PeerStatus:
    reachable: bool
    checked_at_ms: int
    rtt_ms: float | None = None
    error: str = ""
    last_ok_ms: int | None = None


class Reachability:
    def __init__(
        self,
        *,
        me: str,
        channels: PeerChannels,
        directory: Callable[[], Directory],
        signer: Callable[[], Ed25519Signer],
        clock_ms: Callable[[], int],
        timeout_s: float,
    ) -> None:
        self._me = me
        self._channels = channels
        self._directory = directory
        self._signer = signer
        self._clock = clock_ms
        self._timeout = timeout_s
        self.status: dict[str, PeerStatus] = {}

    async def ping(self, peer: str) -> PeerStatus:
        directory = self._directory()
        request = make_ping(
            self._signer(), me=self._me, peer=peer, now_ms=self._clock(), directory_version=directory.version
        )
        started = time.perf_counter()
        previous = self.status.get(peer)
        try:
            stub = node_pb2_grpc.NodeServiceStub(self._channels.channel(directory, peer))
            response = await stub.Ping(request, timeout=self._timeout)
            check_pong(response, request, directory=directory, me=self._me, peer=peer)
            status = PeerStatus(
                reachable=True,
                checked_at_ms=self._clock(),
                rtt_ms=round((time.perf_counter() - started) * 1000, 2),
                last_ok_ms=self._clock(),
            )
        except grpc.aio.AioRpcError as e:
            status = self._failed(previous, str(refusal_from_rpc_error(e)))
        except (TransportError, VerificationError) as e:
            status = self._failed(previous, str(e))
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
        )

    async def round(self) -> dict[str, PeerStatus]:
        """Ping every partner once, concurrently; forget nodes that are no longer partners."""
        current = partners(self._directory(), self._me)
        for gone in set(self.status) - set(current):
            del self.status[gone]
        await asyncio.gather(*(self.ping(p) for p in current))
        return dict(self.status)

    def unreachable(self) -> dict[str, str]:
        return {peer: s.error for peer, s in sorted(self.status.items()) if not s.reachable}
