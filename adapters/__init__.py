"""Edges to the outside world (notification, sealed-file transport, national case systems).

Each adapter satisfies a port the node declares (``focalpoint.node.ports``): ``mail`` and
``webhook`` are the notification channels the durable queue sends through.
"""

__all__: list[str] = []
