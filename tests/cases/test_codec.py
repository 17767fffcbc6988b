"""Case events survive the store: encode then decode gives the same event; damage is named, never folded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from focalpoint.cases.codec import decode_event, encode_event
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

_codes = st.frozensets(st.sampled_from(["A", "B", "G1_SOCIAL_INQUIRY", "DEBT_BONDAGE"]))
_text = st.text(max_size=12)
_approvals = st.none() | st.builds(Approval, _text, _text, st.integers(0, 2**53))
_evidence = st.none() | st.one_of(
    st.builds(InquiryReport, _text, _text, _codes),
    st.builds(
        RiskReport, _text, _text, st.integers(0, 2**53), st.lists(st.tuples(_text, _text)).map(tuple), _codes, _codes
    ),
    st.builds(ChildViews, _text, _text),
    st.builds(IdentityReply, _text, st.booleans(), _text, _text, st.booleans()),
    st.builds(ReintegrationPlan, _codes),
)
_gates = st.none() | st.builds(GateClaim, _codes, _codes, _codes, _text, _approvals, st.integers(0, 2**53))
_facts = st.builds(
    Facts,
    refers_to=st.binary(max_size=16),
    solution=_text,
    gate=_gates,
    approval=_approvals,
    refusal_final=st.booleans(),
    latest_departure_day=st.integers(0, 100_000),
    evidence=_evidence,
    replacement=st.none() | st.builds(Facts, evidence=_evidence, identified_at_ms=st.integers(0, 2**53)),
)
_events = st.builds(
    Event,
    kind=_text,
    origin=st.sampled_from(Origin),
    sender_side=st.sampled_from(Side),
    sender_node=_text,
    at_ms=st.integers(0, 2**62),
    message_id=st.binary(max_size=32),
    sequence=st.integers(0, 2**62),
    body_sha256=st.binary(max_size=32),
    in_reply_to=st.binary(max_size=32),
    actor=_text,
    facts=_facts,
)


@given(_events)
def test_an_event_reads_back_exactly_as_it_was_stored(event: Event) -> None:
    """Every field, nested evidence, gate claims and approvals included, round-trips."""
    assert decode_event(encode_event(event), where="case_events row 1") == event


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b'{"v": 2, "@": "Event"}', b'{"v": 1, "@": "Event", "kind": "x"}', b'{"v": 1, "@": "Facts"}'],
)
def test_an_unreadable_event_is_damaged_data_naming_where_not_what(raw: bytes) -> None:
    """Bad bytes raise DamagedData naming the row; the message never quotes the stored bytes."""
    with pytest.raises(DamagedData, match="case_events row 7") as info:
        decode_event(raw, where="case_events row 7")
    assert "not json" not in str(info.value)


def test_an_event_record_nested_inside_an_event_is_damaged_data() -> None:
    """Only the outermost record may be an event: one standing in for facts or a replacement is refused."""
    event = Event(kind="withdrawal", origin=Origin.SENT, sender_side=Side.IS, sender_node="gr-ekka", at_ms=1,
                  message_id=b"m" * 16)  # fmt: skip
    raw = encode_event(event)
    nested = raw.replace(b'"replacement":null', b'"replacement":' + raw)
    assert nested != raw
    assert decode_event(raw, where="case_events row 3") == event
    with pytest.raises(DamagedData, match="case_events row 3"):
        decode_event(nested, where="case_events row 3")
