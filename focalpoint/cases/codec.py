"""Events to bytes and back, for the case store (pure; the store seals the bytes).

JSON with a version, every field named: a stored event must read back the same after an upgrade
adds fields (new fields take their defaults), and an unreadable one fails loudly as damaged data
rather than folding into a wrong stage.
"""

from __future__ import annotations

import dataclasses
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


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"b": value.hex()}
    if isinstance(value, frozenset):
        return {"s": sorted(value)}
    if isinstance(value, tuple):
        return {"t": [_plain(v) for v in value]}
    if isinstance(value, Side | Origin):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        out["@"] = type(value).__name__
        return out
    return value


_TYPES: dict[str, type[Any]] = {**_EVIDENCE, "Approval": Approval, "GateClaim": GateClaim, "Facts": Facts}


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        if "b" in value and len(value) == 1:
            return bytes.fromhex(value["b"])
        if "s" in value and len(value) == 1:
            return frozenset(value["s"])
        if "t" in value and len(value) == 1:
            return tuple(_typed(v) for v in value["t"])
        cls = _TYPES.get(value.get("@", ""))
        if cls is None:
            raise ValueError(f"unknown record type {value.get('@')!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: _typed(v) for k, v in value.items() if k in names})
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return value


def encode_event(event: Event) -> bytes:
    """The event as compact JSON bytes."""
    record = _plain(event)
    record["v"] = _VERSION
    return json.dumps(record, separators=(",", ":"), sort_keys=True).encode()


def decode_event(raw: bytes, *, where: str) -> Event:
    """Raise DamagedData naming ``where`` if ``raw`` is not an event this version can read."""
    try:
        record = json.loads(raw)
        if record.pop("v", None) != _VERSION or record.pop("@", None) != "Event":
            raise ValueError("not a version-1 event")
        names = {f.name for f in dataclasses.fields(Event)}
        fields = {k: _typed(v) for k, v in record.items() if k in names}
        fields["origin"] = Origin(fields["origin"])
        fields["sender_side"] = Side(fields["sender_side"])
        event = Event(**fields)
        if not isinstance(event.facts, Facts):
            raise ValueError("facts of the wrong type")
        return event
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise DamagedData(f"{where}: the stored case event cannot be read ({type(e).__name__})") from None
