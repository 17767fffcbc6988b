"""The node process's file descriptors: raise the limit at start, and keep some out of the peer
port's reach.

About 1,100 TCP connections that never send a byte used to exhaust a node's descriptors: partners
and officials were locked out and the node could not open its own database. So the node raises
its soft ``RLIMIT_NOFILE`` to the hard limit when it starts, and the peer port accepts at most
``peer_connections`` connections at once (gRPC's ``grpc.max_allowed_incoming_connections``,
counted from accept, handshakes included): a quarter of the descriptors, at least
``MIN_RESERVED``, stay for the local API, the database, outgoing channels to peers, and the
process itself. Silent handshakes are cut by the peer port's handshake timeout
(``focalpoint.net.channels.HANDSHAKE_TIMEOUT_MS``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

__all__ = ["MAX_PEER_CONNECTIONS", "MIN_RESERVED", "DescriptorBudget", "descriptor_budget", "raise_descriptor_limit"]

# Connections the peer port holds at most, whatever the descriptor limit: a node has at most a
# few hundred partners, each with one channel; more would only cost memory.
MAX_PEER_CONNECTIONS = 1024
# Descriptors never given to the peer port: the local API, SQLite (database, WAL and shared
# memory per connection), outgoing channels, gRPC's own, logs.
MIN_RESERVED = 64
# The peer port keeps at least this many, however low the limit (the node warns below 256).
MIN_PEER_CONNECTIONS = 8
LOW_LIMIT = 256


@dataclass(frozen=True, slots=True)
class DescriptorBudget:
    soft: int  # the soft limit in force (after raising)
    hard: int  # the hard limit (-1: unlimited)
    was: int  # the soft limit before raising
    peer_connections: int  # the peer port's cap

    @property
    def reserved(self) -> int:
        """Descriptors the peer port cannot take (-1: no limit known)."""
        return -1 if self.soft < 0 else self.soft - self.peer_connections

    @property
    def low(self) -> bool:
        return 0 <= self.soft < LOW_LIMIT


def raise_descriptor_limit() -> tuple[int, int, int]:
    """Raise the soft RLIMIT_NOFILE towards the hard limit; (soft before, soft now, hard; -1 for
    unlimited). Where the platform has no such limit, (-1, -1, -1)."""
    try:
        import resource
    except ImportError:  # not a POSIX system: nothing to raise
        return -1, -1, -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    was = soft
    # An unlimited hard limit is refused by Linux for NOFILE (fs.nr_open); 2^20 is its default.
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and target > soft:
        # The system may allow less than the hard limit says: keep what there is.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return _finite(was), _finite(soft), _finite(hard)


def _finite(limit: int) -> int:
    return -1 if limit < 0 else limit


def descriptor_budget(soft: int, *, was: int | None = None, hard: int = -1) -> DescriptorBudget:
    """How many peer connections a soft limit of ``soft`` descriptors allows (-1: no limit known)."""
    if soft < 0:
        return DescriptorBudget(
            soft=-1, hard=hard, was=-1 if was is None else was, peer_connections=MAX_PEER_CONNECTIONS
        )
    reserved = max(MIN_RESERVED, soft // 4)
    peer = max(MIN_PEER_CONNECTIONS, min(MAX_PEER_CONNECTIONS, soft - reserved))
    return DescriptorBudget(soft=soft, hard=hard, was=soft if was is None else was, peer_connections=peer)
