"""A whole network on one machine, generated on the spot: used by the demo, the benchmarks and
the tests.

- ``network``: keys, a signed directory and node configurations for a few States on loopback;
- ``samples``: fictitious message bodies;
- ``demo``: ``focalpoint demo``, three States' nodes and one social inquiry end to end.

It imports ``focalpoint.client`` and ``focalpoint.server`` (it runs real nodes) and what
is below them; ``focalpoint.bench`` and ``focalpoint.cli`` import it.
"""

from focalpoint.localnet.network import LocalNetwork, LocalNode, NodeSpec, free_port, make_network

__all__ = ["LocalNetwork", "LocalNode", "NodeSpec", "free_port", "make_network"]
