"""The node's asynchronous parts: each owns its collaborators, passed in; none starts a server.

- ``ports``: the Protocols the parts need (``PeerTransport``, ``BundleSource``, clocks, spawn);
- ``keyring``: the node's keys and which of them the directory says to use now;
- ``outbox`` / ``delivery``: sealing and queueing a message durably, then carrying it with
  retries until a signed receipt closes it;
- ``inbox``: receive steps 1–16, whichever door an envelope came in by; ``fairness``: its
  worker threads, shared in turns between peers; ``refusals``: its audit budget per peer;
- ``peer_api``: what this node answers to its peers (the gRPC door is a thin layer over it);
- ``checkpoints`` / ``witness`` / ``export``: the node's side of the audit log;
- ``reachability``: signed pings to the partners; ``directory_cache``: the verified directory;
- ``accounts``: the local users, their logins and sessions, two-operator account changes and
  break-glass; ``notify``: telling users what concerns them (``ports.Notifier``);
- ``reports``: the indicators from every link folded once, national (suppressed) or one unit's.

Imports: ``focalpoint.storage`` (its Protocols, cipher, group commit, key files), the pure
packages and the foundation; never grpc, the network plumbing or a storage backend: those are
chosen and passed in by ``focalpoint.server.node``, the composition root.
"""

from focalpoint.node.accounts import Accounts
from focalpoint.node.checkpoints import Checkpoints
from focalpoint.node.delivery import Backoff, DeliveryManager, Outgoing
from focalpoint.node.directory_cache import DirectoryCache, PeerHints, PeerSource
from focalpoint.node.export import Exporter
from focalpoint.node.fairness import FairShare
from focalpoint.node.inbox import Inbox
from focalpoint.node.keyring import KeyRing
from focalpoint.node.outbox import Outbox, Submitted
from focalpoint.node.peer_api import PeerApi
from focalpoint.node.ports import BundleSource, Clock, DirectoryView, Notifier, PeerTransport, Spawn, wall_clock_ms
from focalpoint.node.reachability import PeerStatus, Reachability
from focalpoint.node.refusals import RefusalLedger
from focalpoint.node.witness import Witness, WitnessOutcome

__all__ = [
    "Accounts",
    "Backoff",
    "BundleSource",
    "Checkpoints",
    "Clock",
    "DeliveryManager",
    "DirectoryCache",
    "DirectoryView",
    "Exporter",
    "FairShare",
    "Inbox",
    "KeyRing",
    "Notifier",
    "Outbox",
    "Outgoing",
    "PeerApi",
    "PeerHints",
    "PeerSource",
    "PeerStatus",
    "PeerTransport",
    "Reachability",
    "RefusalLedger",
    "Spawn",
    "Submitted",
    "Witness",
    "WitnessOutcome",
    "wall_clock_ms",
]
