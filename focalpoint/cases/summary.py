"""A link's summary: what the reports and the deadline scan need of it, read without folding its
events again (pure; docs/adr/0019).

Why this module exists: a year's indicators over 100,000 links cannot fold 100,000 event lists
within seconds, and a deadline scan that reads every open link every minute grows with the store,
not with the work due. So the node keeps, per link, a ``LinkSummary`` — the link's indicator facts
(``focalpoint.cases.indicators.LinkFacts``), its tracked requests with their clocks, the ladder
levels already taken, and the worklist columns the ageing report reads — built by the same pure
functions the slow path uses, and rebuilt whenever what it is built from changes (the store moves
the link's generation on every such write; ``focalpoint.node.summaries``).

``wake_ms`` says when a summary must be built again although nothing was written: the next rung
of a ladder, the guardian's next step, an emergency alert's window, a closure taking effect. The
deadline scan visits exactly the links whose time has come.

``encode`` / ``decode``: the summary as ``marshal`` data of plain tuples, built field by field
from the dataclasses' type hints (``Codec``), sealed by the node under its storage key before it
is stored. ``marshal`` is never fed bytes the node did not write: the AEAD seal is opened first,
and a summary of another shape (``SHAPE``: the classes' field names and types, the format and
the package version) is refused as stale and built again from the events, which stay the only
source of truth.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import marshal
import types
from collections.abc import Callable, Mapping
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from focalpoint import __version__
from focalpoint.cases.clocks import (
    EMERGENCY_ACK_WINDOW_MS,
    LADDER,
    Clock,
    ClockSide,
    Level,
    guardian_wake_ms,
    rung_at_ms,
)
from focalpoint.cases.indicators import LinkFacts
from focalpoint.cases.requests import TrackedRequest, levels_done
from focalpoint.cases.stages import Stage
from focalpoint.errors import UsageError

__all__ = [
    "SHAPE",
    "Codec",
    "LinkSummary",
    "StaleSummary",
    "decode",
    "encode",
    "handover_wake_ms",
    "ladder_wake_ms",
    "wake_ms",
]

_FORMAT = 1  # raise when what a summary means changes without its classes changing shape


class StaleSummary(ValueError):
    """A stored summary of another shape or version: build it again from the events."""


@dataclasses.dataclass(frozen=True, slots=True)
class LinkSummary:
    """One link as the reports and the deadline scan read it. ``done`` holds the ladder levels
    taken per request id (``focalpoint.cases.requests.done_steps``), as sorted pairs."""

    case_ref: str
    partner_state: str
    unit: str
    stage: Stage
    stage_since_ms: int
    closed: bool
    facts: LinkFacts
    tracked: tuple[TrackedRequest, ...]
    done: tuple[tuple[bytes, frozenset[tuple[Level, int]]], ...]
    identifying: bool = False  # this node's State identified the child: the guardian ladder runs here
    identified_at_ms: int = 0
    guardian_appointed_at_ms: int = 0
    minority: str = ""
    guardian_deadline_hours: int = 24
    settles_at_ms: int | None = None  # a CLOSING link closes unilaterally then

    @property
    def done_map(self) -> dict[bytes, frozenset[tuple[Level, int]]]:
        return dict(self.done)


# ---------------------------------------------------------------------------------------------
# The codec: dataclasses to plain tuples and back, from their type hints


_Fn = Callable[[Any], Any]
_PLAIN = (int, str, bool, bytes, float, type(None))


@dataclasses.dataclass(frozen=True, slots=True)
class Codec:
    """How one type travels: ``to`` makes it marshal-able, ``back`` rebuilds it; None where the
    value travels as it is (ints, strings, bytes, tuples and frozensets of them)."""

    to: _Fn | None
    back: _Fn | None
    shape: str

    @classmethod
    def of(cls, tp: Any) -> Codec:
        return _codec(tp, {})


def _codec(tp: Any, seen: dict[Any, Codec]) -> Codec:
    if tp in seen:
        return seen[tp]
    origin = get_origin(tp)
    if tp in _PLAIN:
        return Codec(None, None, getattr(tp, "__name__", "None"))
    if origin is Literal:
        return Codec(None, None, repr(get_args(tp)))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return Codec(lambda v: v.value, tp, f"{tp.__name__}{sorted(m.value for m in tp)}")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_codec(tp, seen)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) != 1:
            if all(a in _PLAIN for a in args):
                return Codec(None, None, "|".join(a.__name__ for a in args))
            raise UsageError(f"a summary cannot hold the union {tp}")
        inner = _codec(args[0], seen)
        if inner.to is None or inner.back is None:
            return Codec(None, None, f"{inner.shape}|None")
        to_, back_ = inner.to, inner.back
        return Codec(
            lambda v: None if v is None else to_(v), lambda v: None if v is None else back_(v), f"{inner.shape}|None"
        )
    if origin is tuple:
        items = get_args(tp)
        if len(items) == 2 and items[1] is Ellipsis:
            return _many(_codec(items[0], seen), tuple, "tuple")
        parts = [_codec(a, seen) for a in items]
        shape = f"({','.join(p.shape for p in parts)})"
        if all(p.to is None for p in parts):
            return Codec(None, None, shape)
        tos = [p.to or _same for p in parts]
        backs = [p.back or _same for p in parts]
        return Codec(
            lambda v: tuple(f(x) for f, x in zip(tos, v, strict=True)),
            lambda v: tuple(f(x) for f, x in zip(backs, v, strict=True)),
            shape,
        )
    if origin is frozenset:
        return _many(_codec(get_args(tp)[0], seen), frozenset, "frozenset")
    raise UsageError(f"a summary cannot hold a {tp}")


def _same(v: Any) -> Any:
    return v


def _many(inner: Codec, kind: Callable[[Any], Any], name: str) -> Codec:
    shape = f"{name}[{inner.shape}]"
    if inner.to is None or inner.back is None:
        return Codec(None, None, shape)
    to_, back_ = inner.to, inner.back
    if kind is frozenset:
        return Codec(lambda v: tuple(sorted(to_(x) for x in v)), lambda v: frozenset(back_(x) for x in v), shape)
    return Codec(lambda v: tuple(to_(x) for x in v), lambda v: tuple(back_(x) for x in v), shape)


def _dataclass_codec(cls: type[Any], seen: dict[Any, Codec]) -> Codec:
    hints = get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    codecs = [_codec(hints[name], seen) for name in fields]
    shape = f"{cls.__name__}{{{','.join(f'{n}:{c.shape}' for n, c in zip(fields, codecs, strict=True))}}}"
    getters = [(name, c.to) for name, c in zip(fields, codecs, strict=True)]
    rebuild = [(i, c.back) for i, c in enumerate(codecs) if c.back is not None]

    def to(obj: Any) -> tuple[Any, ...]:
        return tuple(getattr(obj, n) if f is None else f(getattr(obj, n)) for n, f in getters)

    def back(values: tuple[Any, ...]) -> Any:
        if len(values) != len(fields):
            raise StaleSummary(f"a stored {cls.__name__} has {len(values)} fields, not {len(fields)}")
        if not rebuild:
            return cls(*values)
        args: list[Any] = list(values)
        for i, f in rebuild:
            args[i] = f(args[i])
        return cls(*args)

    return Codec(to, back, shape)


_CODEC = Codec.of(LinkSummary)
SHAPE = hashlib.sha256(f"{_FORMAT}:{__version__}:{_CODEC.shape}".encode()).hexdigest()[:16]
"""What a stored summary must have been written as to be read back (else it is built again)."""


def encode(summary: LinkSummary) -> bytes:
    assert _CODEC.to is not None
    return marshal.dumps((SHAPE, _CODEC.to(summary)), 4)


def decode(raw: bytes) -> LinkSummary:
    """The summary ``raw`` holds (it must come from a seal the node opened). Raises StaleSummary
    for one of another shape or version, or one that does not read."""
    try:
        shape, body = marshal.loads(raw)  # noqa: S302 (bytes the node sealed itself, opened first)
    except (ValueError, EOFError, TypeError) as e:
        raise StaleSummary("a stored summary does not read") from e
    if shape != SHAPE:
        raise StaleSummary("a stored summary of another version")
    assert _CODEC.back is not None
    try:
        summary = _CODEC.back(body)
    except (TypeError, ValueError) as e:
        raise StaleSummary("a stored summary does not fit its classes") from e
    assert isinstance(summary, LinkSummary)
    return summary


# ---------------------------------------------------------------------------------------------
# When the summary must be looked at again


def ladder_wake_ms(clock: Clock, side: ClockSide, done: frozenset[Level]) -> int | None:
    """When the next of ``side``'s rungs not in ``done`` falls due, as the clock stands (None: no
    rung left, not started, answered, or stopped by an open stop: a message or the agreement's
    resumption ends it, and either makes the node look again)."""
    if clock.started_at_ms is None or clock.answered_at_ms is not None:
        return None
    if any(end is None for _, end in clock.stops):
        return None
    times = [
        at
        for rung in LADDER
        if rung.side == side and rung.level not in done
        if (at := rung_at_ms(clock, rung.threshold_ms(clock.period_ms))) is not None
    ]
    return min(times, default=None)


def handover_wake_ms(clock: Clock, done: frozenset[Level]) -> int | None:
    """When an expected handover falls overdue (``clocks.handover_steps``), as the clock stands;
    None once that level is taken, or when ``ladder_wake_ms`` would give none."""
    if Level.HANDOVER_OVERDUE in done or clock.started_at_ms is None or clock.answered_at_ms is not None:
        return None
    if any(end is None for _, end in clock.stops):
        return None
    return rung_at_ms(clock, clock.period_ms)


def _emergency_waiting(t: TrackedRequest, done: Mapping[bytes, frozenset[tuple[Level, int]]]) -> bool:
    """An emergency alert we sent, not acknowledged or answered, the operators not yet told."""
    if not (t.we_asked and t.emergency and t.kind == "protection_alert"):
        return False
    return t.acknowledged_at_ms is None and t.answered_at_ms is None and not done.get(t.message_id)


def wake_ms(summary: LinkSummary, now_ms: int) -> int | None:
    """The earliest moment after which the summary may be out of date or a step of the deadline
    scan falls due on the link, at or after ``now_ms`` (None: nothing timed is left)."""
    if summary.closed:
        return None
    done = summary.done_map
    times: list[int] = []
    if summary.settles_at_ms is not None:
        times.append(summary.settles_at_ms)
    for t in summary.tracked:
        levels = levels_done(t, done)  # an expected follow-up's own month's levels only
        if t.clock is not None and not t.closed:
            if t.kind == "handover_confirmation":
                at = handover_wake_ms(t.clock, levels)
            else:
                at = ladder_wake_ms(t.clock, t.side, levels)
            if at is not None:
                times.append(at)
        if _emergency_waiting(t, done):
            known = [x for x in (t.sent_at_ms, t.started_at_ms) if x is not None]
            if known:
                times.append(min(known) + EMERGENCY_ACK_WINDOW_MS)
    if summary.identifying and summary.identified_at_ms:
        at = guardian_wake_ms(
            summary.identified_at_ms,
            summary.guardian_appointed_at_ms or None,
            summary.minority,
            summary.guardian_deadline_hours,
            now_ms,
            done.get(b"guardian", frozenset()),
        )
        if at is not None:
            times.append(at)
    if not times:
        return None
    return max(min(times), now_ms)
