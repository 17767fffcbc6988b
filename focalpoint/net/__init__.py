"""The network plumbing: the only place below the server that speaks gRPC.

- ``status``: the one map between focalpoint's errors and gRPC statuses, both directions;
- ``channels``: mutual-TLS credentials from the directory, peer identity from the TLS pin,
  and ``PeerChannels``, the node's ``PeerTransport`` over the real network;
- ``directory``: the ``DirectoryService`` servicer and its client (``DirectoryServerSource``);
- ``memory``: an in-memory network with the same ``PeerTransport`` behaviour, for tests.

Imports: ``focalpoint.exchange``, ``directory``, ``focalpoint.crypto`` and the foundation. It
knows nothing of the node's parts: what a node answers is passed in (``memory.PeerDoor``).
"""

from focalpoint.net.channels import (
    MAX_BATCH_ENVELOPES,
    PeerChannels,
    ServerTls,
    bind_port,
    client_options,
    peer_node_id,
    server_options,
)
from focalpoint.net.directory import (
    MAX_DIRECTORY_BYTES,
    DirectoryServerSource,
    DirectoryServicer,
    add_directory_service,
    fetch_bundle,
)
from focalpoint.net.status import abort, answered, error_from_rpc, error_from_status, status_of

__all__ = [
    "MAX_BATCH_ENVELOPES",
    "MAX_DIRECTORY_BYTES",
    "DirectoryServerSource",
    "DirectoryServicer",
    "PeerChannels",
    "ServerTls",
    "abort",
    "add_directory_service",
    "answered",
    "bind_port",
    "client_options",
    "error_from_rpc",
    "error_from_status",
    "fetch_bundle",
    "peer_node_id",
    "server_options",
    "status_of",
]
