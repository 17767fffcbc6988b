"""Signed pings between partners (pure): a fresh nonce signed by the caller, signed back by
the answering node, so a reply proves the partner's node holds its directory key now.

The node's ``Reachability`` sends them over the real channel; the peer door answers them.
"""

from __future__ import annotations

import os

from google.protobuf.message import DecodeError

from directory import Directory
from focalpoint.crypto.signing import Context, Ed25519Signer
from focalpoint.errors import Refusal, RefusalError, VerificationError
from focalpoint.v1 import node_pb2

__all__ = ["PING_WINDOW_MS", "answer_ping", "check_pong", "make_ping"]

# How far a ping's time may be from the answering node's clock. Far wider than the envelopes'
# skew window on purpose: pings are how two nodes measure how far their clocks disagree, so a
# ping from a badly set clock must still be answered. A replayed ping gains nothing (the
# caller only accepts an answer to its own fresh nonce).
PING_WINDOW_MS = 86_400_000


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
    window_ms: int = PING_WINDOW_MS,
) -> node_pb2.PingResponse:
    """Check a ping from the authenticated peer and sign the answer; raises RefusalError."""
    try:
        ping = node_pb2.PingContent.FromString(request.content)
    except DecodeError as e:
        raise RefusalError(Refusal.MALFORMED, "ping content does not parse") from e
    if ping.from_node != tls_peer or ping.to_node != me:
        raise RefusalError(Refusal.SENDER_NOT_PEER, "the ping names other nodes than this connection's")
    if abs(ping.sent_at_ms - now_ms) > window_ms:
        raise RefusalError(Refusal.EXPIRED, f"the ping's time is more than {window_ms // 3_600_000} h from this node's")
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
