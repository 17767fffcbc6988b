"""Assembly and the doors: where a node is put together and served.

- ``node``: ``Node``, the composition root (configuration, keys, store, directory, the parts,
  the two gRPC servers, the timers);
- ``peer_service``: the node-to-node door (mutual TLS), thin over ``focalpoint.node.peer_api``;
- ``local_service``: the local API, the one door for this institution's users, where the
  token (and later users and roles) are checked;
- ``config``: the node's YAML configuration, validated completely before start;
- ``provision``: new node and administrator keys, the node's directory entry, key rotation;
- ``limits``: the process's file descriptors (raised at start; the peer port's share).

Imports everything below it; nothing below imports it. Its public names are its modules
(import ``Node`` from ``focalpoint.server.node``): reading a configuration must not load the
whole node, so this ``__init__`` imports nothing.
"""

__all__ = ["config", "limits", "local_service", "node", "peer_service", "provision"]
