"""How refusals of incoming envelopes reach the audit log without letting a peer grow it at will.

A refusal is kept as one ``REFUSED`` event per incoming call and refusal code, with a count
(never one event per envelope: a batch of 1,024 empty envelopes is about 2 KB on the wire).
Per peer, at most ``budget`` such events are written in a window of ``window_ms``; past the
budget the refusals are counted in memory, a warning is logged once per window, and when the
window closes they are written as one summary event with a count per code. A peer can so add
at most ``budget + 1`` leaves per window, whatever it sends (docs/protocol.md §10.1).

The ledger only decides and counts; ``Inbox`` writes the leaves it returns. Counts not yet
written are lost if the process dies (the warning in the operator log still names them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from focalpoint.audit import events as audit_events
from focalpoint.errors import Refusal, RefusalError
from focalpoint.v1 import envelope_pb2

__all__ = ["REFUSAL_EVENTS_PER_WINDOW", "REFUSAL_WINDOW_MS", "RefusalLedger"]

log = structlog.get_logger("focalpoint.node")

# Per peer: at most this many REFUSED events per window, then one summary when it closes.
REFUSAL_EVENTS_PER_WINDOW = 5
REFUSAL_WINDOW_MS = 60_000


@dataclass(slots=True)
class _Window:
    start_ms: int
    events: int = 0
    over: Counter[Refusal] = field(default_factory=Counter)


class RefusalLedger:
    """Per peer: which refusals become audit events now, and which wait, counted, for a summary."""

    def __init__(self, *, budget: int = REFUSAL_EVENTS_PER_WINDOW, window_ms: int = REFUSAL_WINDOW_MS) -> None:
        if budget < 1 or window_ms < 1:
            raise ValueError("the refusal budget and its window must be positive")
        self._budget = budget
        self._window_ms = window_ms
        self._windows: dict[str, _Window] = {}

    def record(self, peer: str, now_ms: int, refused: Sequence[tuple[bytes, RefusalError]]) -> list[bytes]:
        """The leaves to write now for the refusals of one call from ``peer`` (message id as
        claimed, and the refusal), plus the summary of the peer's previous window if it closed."""
        leaves = self._close(peer, now_ms, force=False)
        if not refused:
            return leaves
        window = self._windows.setdefault(peer, _Window(now_ms))
        groups: dict[Refusal, list[tuple[bytes, RefusalError]]] = {}
        for message_id, error in refused:
            groups.setdefault(error.code, []).append((message_id, error))
        for code, items in groups.items():
            if window.events >= self._budget:
                if not window.over:
                    log.warning(
                        "refusals_over_budget",
                        peer=peer,
                        budget=self._budget,
                        window_s=self._window_ms // 1000,
                        action="further refusals are counted and written as one summary event when the window closes",
                    )
                window.over[code] += len(items)
                continue
            window.events += 1
            if code is Refusal.NOT_YET_VALID:  # an operator on either side must act: warn
                log.warning("clock_disagreement", peer=peer, count=len(items), reason=items[0][1].reason[:300])
            else:
                log.info(
                    "envelope_refused", peer=peer, code=code.name, count=len(items), reason=items[0][1].reason[:200]
                )
            leaves.append(
                audit_events.refused(
                    at_ms=now_ms,
                    sender=peer,
                    code=envelope_pb2.RefusalCode.ValueType(code.value),
                    count=len(items),
                    message_id=items[0][0],
                )
            )
        return leaves

    def due(self, now_ms: int) -> list[bytes]:
        """The summaries of every window that has closed by ``now_ms`` (the node's upkeep asks)."""
        return [leaf for peer in list(self._windows) for leaf in self._close(peer, now_ms, force=False)]

    def drain(self, now_ms: int) -> list[bytes]:
        """Every summary still pending, closing the windows early (at a clean stop)."""
        return [leaf for peer in list(self._windows) for leaf in self._close(peer, now_ms, force=True)]

    def _close(self, peer: str, now_ms: int, *, force: bool) -> list[bytes]:
        window = self._windows.get(peer)
        if window is None:
            return []
        end = window.start_ms + self._window_ms
        if now_ms < end and not force:
            return []
        del self._windows[peer]
        if not window.over:
            return []
        count = sum(window.over.values())
        log.warning("refusals_summarised", peer=peer, count=count, codes=sorted(c.name for c in window.over))
        return [
            audit_events.refusal_summary(
                at_ms=min(now_ms, end),
                sender=peer,
                window_start_ms=window.start_ms,
                counts={envelope_pb2.RefusalCode.ValueType(c.value): n for c, n in window.over.items()},
            )
        ]
