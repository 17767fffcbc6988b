"""Events to bytes and back, for the case store (pure; the store seals the bytes).

JSON with a version, every field named: a stored event must read back the same after an upgrade
adds fields (new fields take their defaults), and an unreadable one fails loudly as damaged data
rather than folding into a wrong stage.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

from focalpoint.cases.events import (
    Approval,
    ChildViews,
    Event,
    Facts,
    GateClaim,
    IdentityReply,
    InquiryReport,
    Origin,
    ReintegrationPlan,
    RiskReport,
)
from focalpoint.cases.stages import Side
from focalpoint.errors import DamagedData

__all__ = ["decode_event", "encode_event"]

_VERSION = 1
_EVIDENCE: dict[str, type[Any]] = {
    cls.__name__: cls for cls in (InquiryReport, RiskReport, ChildViews, IdentityReply, ReintegrationPlan)
}


@functools.cache
def _ordered_names(cls: type[Any]) -> tuple[str, ...]:
    """The field names of a record type (looked up once: events are encoded and decoded by the thousand)."""
    return tuple(f.name for f in dataclasses.fields(cls))


_SCALARS = (str, int, bool, type(None))


def _plain(value: Any) -> Any:
    if type(value) in _SCALARS:
        return value
    if isinstance(value, bytes):
        return {"b": value.hex()}
    if isinstance(value, frozenset):
        return {"s": sorted(value)}
    if isinstance(value, tuple):
        return {"t": [_plain(v) for v in value]}
    if isinstance(value, Side | Origin):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {name: _plain(getattr(value, name)) for name in _ordered_names(type(value))}
        out["@"] = type(value).__name__
        return out
    return value


_TYPES: dict[str, type[Any]] = {**_EVIDENCE, "Approval": Approval, "GateClaim": GateClaim, "Facts": Facts}
_NAMES = {tag: frozenset(_ordered_names(cls)) for tag, cls in [*_TYPES.items(), ("Event", Event)]}


def _typed(value: dict[str, Any]) -> Any:
    """One JSON object as its value; the parser calls it innermost first, so members are typed already."""
    if len(value) == 1:
        if "b" in value:
            return bytes.fromhex(value["b"])
        if "s" in value:
            return frozenset(value["s"])
        if "t" in value:
            return tuple(value["t"])
    tag = value.get("@", "")
    cls = _TYPES.get(tag)
    if cls is None:
        raise ValueError(f"unknown record type {tag!r}")
    names = _NAMES[tag]
    return cls(**{k: v for k, v in value.items() if k in names})


def encode_event(event: Event) -> bytes:
    """The event as compact JSON bytes."""
    record = _plain(event)
    record["v"] = _VERSION
    return json.dumps(record, separators=(",", ":"), sort_keys=True).encode()


def decode_event(raw: bytes, *, where: str) -> Event:
    """Raise DamagedData naming ``where`` if ``raw`` is not an event this version can read."""
    try:
        records: list[dict[str, Any]] = []

        def typed(value: dict[str, Any]) -> Any:
            if value.get("@") == "Event":  # the event's own record, built below (only the outermost may be one)
                records.append(value)
                return value
            return _typed(value)

        record = json.loads(raw, object_hook=typed)
        if len(records) != 1 or record is not records[0] or record.pop("v", None) != _VERSION:
            raise ValueError("not a version-1 event")
        names = _NAMES["Event"]
        fields = {k: v for k, v in record.items() if k in names}
        fields["origin"] = Origin(fields["origin"])
        fields["sender_side"] = Side(fields["sender_side"])
        event = Event(**fields)
        if not isinstance(event.facts, Facts):
            raise ValueError("facts of the wrong type")
        return event
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise DamagedData(f"{where}: the stored case event cannot be read ({type(e).__name__})") from None
