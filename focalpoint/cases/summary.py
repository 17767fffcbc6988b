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
from collections.abc import Callable, Mapping, Sequence
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
from focalpoint.cases.indicators import LinkFacts, RequestFacts
from focalpoint.cases.requests import TrackedRequest, levels_done
from focalpoint.cases.stages import Stage
from focalpoint.errors import UsageError

__all__ = [
    "SHAPE",
    "Codec",
    "LinkSummary",
    "StaleSummary",
    "SummaryView",
    "decode",
    "encode",
    "handover_wake_ms",
    "ladder_wake_ms",
    "read",
    "wake_ms",
]

_FORMAT = 2  # raise when what a summary means changes without its classes changing shape


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
    # Which periods' indicators the link can count in (``indicators.span``, ``bears_on``), and the
    # child it is about, so a report skips what a period does not need without rebuilding it.
    case_id: str = ""
    first_ms: int = 0
    last_ms: int = 0

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
    pair: _Fn | None = None  # for a (plain, converted) pair: how its second item is rebuilt

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
        members: dict[Any, Any] = dict(tp._value2member_map_)
        return Codec(lambda v: v.value, members.__getitem__, f"{tp.__name__}{sorted(m.value for m in tp)}")
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
        if len(parts) == 2 and parts[0].to is None and parts[1].back is not None:  # (time, stage)
            t1, b1 = tos[1], parts[1].back
            return Codec(lambda v: (v[0], t1(v[1])), lambda v: (v[0], b1(v[1])), shape, pair=b1)
        if len(parts) == 2:  # (level, occurrence)
            t0, t1 = tos
            b0, b1 = backs
            return Codec(lambda v: (t0(v[0]), t1(v[1])), lambda v: (b0(v[0]), b1(v[1])), shape)
        return Codec(
            lambda v: tuple([f(x) for f, x in zip(tos, v, strict=True)]),
            lambda v: tuple([f(x) for f, x in zip(backs, v, strict=True)]),
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
    if kind is tuple and inner.pair is not None:  # a history of (time, code) pairs, read in one pass
        second = inner.pair
        return Codec(lambda v: tuple([to_(x) for x in v]), lambda v: tuple([(a, second(b)) for a, b in v]), shape)
    if kind is frozenset:
        return Codec(lambda v: tuple(sorted([to_(x) for x in v])), lambda v: frozenset([back_(x) for x in v]), shape)
    return Codec(lambda v: tuple([to_(x) for x in v]), lambda v: tuple([back_(x) for x in v]), shape)


def _dataclass_codec(cls: type[Any], seen: dict[Any, Codec]) -> Codec:
    hints = get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    codecs = [_codec(hints[name], seen) for name in fields]
    shape = f"{cls.__name__}{{{','.join(f'{n}:{c.shape}' for n, c in zip(fields, codecs, strict=True))}}}"
    getters = [(name, c.to) for name, c in zip(fields, codecs, strict=True)]
    rebuild = [(i, c.back) for i, c in enumerate(codecs) if c.back is not None]

    def to(obj: Any) -> tuple[Any, ...]:
        return tuple(getattr(obj, n) if f is None else f(getattr(obj, n)) for n, f in getters)

    # A class that checks its fields in __post_init__ is rebuilt without calling it: the values come
    # from a summary the node sealed itself, checked when it was first built.
    checked = hasattr(cls, "__post_init__")
    new, put = object.__new__, object.__setattr__

    def make(args: Sequence[Any]) -> Any:
        if not checked:
            return cls(*args)
        obj = new(cls)
        for name, value in zip(fields, args, strict=True):
            put(obj, name, value)
        return obj

    def back(values: tuple[Any, ...]) -> Any:
        if len(values) != len(fields):
            raise StaleSummary(f"a stored {cls.__name__} has {len(values)} fields, not {len(fields)}")
        if not rebuild:
            return make(values)
        args: list[Any] = list(values)
        for i, f in rebuild:
            args[i] = f(args[i])
        return make(args)

    return Codec(to, back, shape)


_CODEC = Codec.of(LinkSummary)
SHAPE = hashlib.sha256(f"{_FORMAT}:{__version__}:{_CODEC.shape}".encode()).hexdigest()[:16]
"""What a stored summary must have been written as to be read back (else it is built again)."""

# A summary travels as (shape, head, facts, tracked, done), so a reader rebuilds only the part it
# needs: the indicators the facts, the ageing report the requests of open links.
_PARTS = ("facts", "tracked", "done")
_HEAD = tuple(f.name for f in dataclasses.fields(LinkSummary) if f.name not in _PARTS)
_HINTS = get_type_hints(LinkSummary)
_HEAD_CODEC = [Codec.of(_HINTS[name]) for name in _HEAD]
_FACTS, _TRACKED, _DONE = (Codec.of(_HINTS[name]) for name in _PARTS)
_AT = {name: i for i, name in enumerate(_HEAD)}
_ONE_TRACKED = Codec.of(TrackedRequest)
_REQUESTS_AT = [f.name for f in dataclasses.fields(LinkFacts)].index("requests")
_STARTED_AT = [f.name for f in dataclasses.fields(RequestFacts)].index("started_at_ms")
_ANSWERED_AT = [f.name for f in dataclasses.fields(TrackedRequest)].index("answered_at_ms")
_T_STARTED_AT = [f.name for f in dataclasses.fields(TrackedRequest)].index("started_at_ms")


def _to(codec: Codec, value: Any) -> Any:
    return value if codec.to is None else codec.to(value)


def _back(codec: Codec, value: Any) -> Any:
    return value if codec.back is None else codec.back(value)


def encode(summary: LinkSummary) -> bytes:
    head = tuple(_to(c, getattr(summary, name)) for name, c in zip(_HEAD, _HEAD_CODEC, strict=True))
    parts = tuple(_to(c, getattr(summary, name)) for name, c in zip(_PARTS, (_FACTS, _TRACKED, _DONE), strict=True))
    # Each part marshalled apart, so a reader loads only the parts it asks for.
    return marshal.dumps((SHAPE, head, *(marshal.dumps(p, 4) for p in parts)), 4)


class SummaryView:
    """A stored summary as read: its head (case reference, partner, unit, stage, whether closed)
    at once, each of its parts rebuilt only when asked for."""

    __slots__ = ("_done", "_facts", "_head", "_tracked")

    def __init__(self, head: tuple[Any, ...], facts: Any, tracked: Any, done: Any) -> None:
        if len(head) != len(_HEAD):
            raise StaleSummary("a stored summary's head does not fit its class")
        self._head, self._facts, self._tracked, self._done = head, facts, tracked, done  # (marshalled)

    @property
    def case_id(self) -> str:
        return str(self._head[_AT["case_id"]])

    @property
    def first_ms(self) -> int:
        return int(self._head[_AT["first_ms"]])

    @property
    def last_ms(self) -> int:
        return int(self._head[_AT["last_ms"]])

    def facts_in(self, start_ms: int, end_ms: int) -> LinkFacts:
        """The facts with only the requests received in [start_ms, end_ms) (the only ones a period's
        I2 counts), left out before they are rebuilt."""
        facts = _loaded(self._facts)
        try:
            requests = facts[_REQUESTS_AT]
            kept = tuple(r for r in requests if r[_STARTED_AT] is not None and start_ms <= r[_STARTED_AT] < end_ms)
        except (TypeError, IndexError) as e:
            raise StaleSummary("a stored summary's facts do not fit their class") from e
        if len(kept) != len(requests):
            facts = (*facts[:_REQUESTS_AT], kept, *facts[_REQUESTS_AT + 1 :])
        return _rebuilt(_FACTS, facts)  # type: ignore[no-any-return]

    def open_tracked(self) -> tuple[TrackedRequest, ...]:
        """The tracked requests not yet answered that have started (the ageing report's)."""
        try:
            raw = [t for t in _loaded(self._tracked) if t[_ANSWERED_AT] is None and t[_T_STARTED_AT] is not None]
        except (TypeError, IndexError) as e:
            raise StaleSummary("a stored summary's requests do not fit their class") from e
        return tuple(_rebuilt(_ONE_TRACKED, t) for t in raw)

    @property
    def unit(self) -> str:
        return str(self._head[_AT["unit"]])

    @property
    def closed(self) -> bool:
        return bool(self._head[_AT["closed"]])

    @property
    def case_ref(self) -> str:
        return str(self._head[_AT["case_ref"]])

    @property
    def partner_state(self) -> str:
        return str(self._head[_AT["partner_state"]])

    @property
    def stage(self) -> Stage:
        return _rebuilt(_HEAD_CODEC[_AT["stage"]], self._head[_AT["stage"]])  # type: ignore[no-any-return]

    @property
    def stage_since_ms(self) -> int:
        return int(self._head[_AT["stage_since_ms"]])

    def done_map(self) -> dict[bytes, frozenset[tuple[Level, int]]]:
        return dict(self.done_pairs())

    def facts(self) -> LinkFacts:
        return _rebuilt(_FACTS, _loaded(self._facts))  # type: ignore[no-any-return]

    def tracked(self) -> tuple[TrackedRequest, ...]:
        return _rebuilt(_TRACKED, _loaded(self._tracked))  # type: ignore[no-any-return]

    def summary(self) -> LinkSummary:
        """The whole summary."""
        head = {name: _rebuilt(c, v) for name, c, v in zip(_HEAD, _HEAD_CODEC, self._head, strict=True)}
        return LinkSummary(facts=self.facts(), tracked=self.tracked(), done=self.done_pairs(), **head)

    def done_pairs(self) -> tuple[tuple[bytes, frozenset[tuple[Level, int]]], ...]:
        return _rebuilt(_DONE, _loaded(self._done))  # type: ignore[no-any-return]


def _loaded(part: Any) -> Any:
    """A part of a summary as marshal left it (each part is marshalled apart, loaded when read)."""
    if not isinstance(part, bytes):
        raise StaleSummary("a stored summary's part does not read")
    try:
        return marshal.loads(part)  # noqa: S302 (inside a summary the node sealed itself, opened first)
    except (ValueError, EOFError, TypeError) as e:
        raise StaleSummary("a stored summary's part does not read") from e


def _rebuilt(codec: Codec, value: Any) -> Any:
    try:
        return _back(codec, value)
    except (TypeError, ValueError, KeyError, IndexError) as e:
        raise StaleSummary("a stored summary does not fit its classes") from e


def read(raw: bytes) -> SummaryView:
    """The summary ``raw`` holds, its parts rebuilt when asked for (``raw`` must come from a seal
    the node opened). Raises StaleSummary for one of another shape or version, or one that does
    not read (a part that does not fit its class raises it when asked for)."""
    try:
        shape, head, facts, tracked, done = marshal.loads(raw)  # noqa: S302 (bytes the node sealed itself, opened first)
    except (ValueError, EOFError, TypeError) as e:
        raise StaleSummary("a stored summary does not read") from e
    if shape != SHAPE:
        raise StaleSummary("a stored summary of another version")
    if not isinstance(head, tuple):
        raise StaleSummary("a stored summary's head does not read")
    return SummaryView(head, facts, tracked, done)


def decode(raw: bytes) -> LinkSummary:
    """The whole summary ``raw`` holds (see ``read``)."""
    return read(raw).summary()


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
        if (run := rung.threshold_ms(clock.period_ms)) is not None
        if (at := rung_at_ms(clock, run)) is not None
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
