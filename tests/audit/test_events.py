"""Audit event constructors (pure): what a REFUSED event and a refusal window summary hold."""

from __future__ import annotations

import pytest

from focalpoint.audit import events as audit_events
from focalpoint.v1 import envelope_pb2

EXPIRED = envelope_pb2.REFUSAL_CODE_EXPIRED
MALFORMED = envelope_pb2.REFUSAL_CODE_MALFORMED


def test_a_refused_event_for_several_envelopes_keeps_their_count_and_no_message_id() -> None:
    """A message id names one envelope, so an event standing for several keeps none."""
    one = audit_events.decode(audit_events.refused(at_ms=1, sender="gr-ekka", code=EXPIRED, message_id=b"m" * 16))
    many = audit_events.decode(
        audit_events.refused(at_ms=1, sender="gr-ekka", code=EXPIRED, count=3, message_id=b"m" * 16)
    )
    assert (one.count, one.message_id) == (1, b"m" * 16)
    assert (many.count, many.message_id) == (3, b"")


def test_a_refused_event_for_no_envelope_is_an_error() -> None:
    """A count below one would be an event that records nothing."""
    with pytest.raises(ValueError, match="at least one"):
        audit_events.refused(at_ms=1, sender="gr-ekka", code=EXPIRED, count=0)


def test_a_window_summary_reads_as_its_total_and_a_count_per_code_name() -> None:
    """The listing shows the summary's window, total and counts by code name, as numbers."""
    leaf = audit_events.refusal_summary(
        at_ms=61_000, sender="gr-ekka", window_start_ms=1_000, counts={EXPIRED: 2, MALFORMED: 1024}
    )
    shown = audit_events.event_summary(7, leaf)
    assert shown["kind"] == "refused"
    assert shown["count"] == 1026
    assert shown["window_start_ms"] == 1_000
    assert shown["refusal_counts"] == {"MALFORMED": 1024, "EXPIRED": 2}
    assert "refusal" not in shown


def test_a_window_summary_without_refusals_is_an_error() -> None:
    """An empty summary would be a leaf a peer caused for nothing."""
    with pytest.raises(ValueError, match="at least one"):
        audit_events.refusal_summary(at_ms=1, sender="gr-ekka", window_start_ms=0, counts={EXPIRED: 0})
