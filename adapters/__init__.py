"""Edges to the outside world (notification, sealed-file transport, national case systems).

Each adapter is one small Protocol with its implementations; none exists yet.
"""

__all__: list[str] = []
