"""Event counters for the operations listener's ``/metrics`` (``focalpoint.server.metrics``).

Most series are read from the node's state when Prometheus scrapes, so they cannot drift from
it; only what happens and leaves no state behind is counted here, where it happens: delivery
attempts and their failures, refusals (given and received) and failed logins.

Why here, at the foundation, and not a prometheus-client registry: the parts that count
(``focalpoint.node``) must not depend on the server or on how the numbers are exposed, and
several nodes may run in one process (tests, the local network): every count is kept per node
id, and each node's listener shows only its own.

Labels are node ids, refusal codes and directions only: never a case reference, a name, a user
id or a key, whatever is counted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

__all__ = ["DELIVERY_ATTEMPTS", "DELIVERY_FAILURES", "LOGIN_FAILURES", "REFUSALS", "Counter"]


@dataclass(slots=True)
class Counter:
    """A monotonic count per (node id, label values); ``labels`` names the values after the node id."""

    name: str
    help: str
    labels: tuple[str, ...] = ()
    _values: dict[tuple[str, tuple[str, ...]], float] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def inc(self, node: str, *values: str, by: float = 1.0) -> None:
        if len(values) != len(self.labels):
            raise ValueError(f"{self.name}: expected labels {self.labels}, got {len(values)} values")
        with self._lock:
            key = (node, values)
            self._values[key] = self._values.get(key, 0.0) + by

    def of(self, node: str) -> dict[tuple[str, ...], float]:
        """This node's counts by label values."""
        with self._lock:
            return {values: n for (who, values), n in self._values.items() if who == node}


DELIVERY_ATTEMPTS = Counter(
    "focalpoint_delivery_attempts", "Delivery calls made to a partner (one per envelope sent)", ("peer",)
)
DELIVERY_FAILURES = Counter(
    "focalpoint_delivery_failures",
    "Envelopes whose delivery call failed (unreachable, transport error, retryable refusal)",
    ("peer",),
)
REFUSALS = Counter(
    "focalpoint_refusals",
    "Envelopes refused, by refusal code; direction 'given' (this node refused) or 'received'",
    ("peer", "direction", "code"),
)
LOGIN_FAILURES = Counter("focalpoint_login_failures", "Failed logins to the local API (any step)")
