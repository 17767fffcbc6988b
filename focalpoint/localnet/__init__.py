"""A whole network on one machine, generated on the spot: used by the demo, the benchmarks and
the tests.

- ``network``: keys, a signed directory and node configurations for a few States on loopback;
- ``samples``: fictitious message bodies;
- ``story``: officials of two States working case links through their nodes' local APIs;
- ``demo``: ``focalpoint demo``, three States' nodes and a child's return told as its case.

It imports ``focalpoint.client`` and ``focalpoint.server`` (it runs real nodes) and what
is below them; ``focalpoint.bench`` and ``focalpoint.cli`` import it.
"""

from focalpoint.localnet.network import LocalNetwork, LocalNode, NodeSpec, free_port, make_network

__all__ = ["LocalNetwork", "LocalNode", "NodeSpec", "free_port", "make_network"]
