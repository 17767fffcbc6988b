"""Validation of message bodies (pure).

A body is refused when it could not be acted on safely at the other end: no kind,
a kind this version cannot validate yet, a case reference that could carry a name or that
differs from the case context's, malformed country or language codes, impossible dates, or a
request that asks nothing. Messages name the field and the rule, never the value (values may
be personal data).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping

from focalpoint.errors import UsageError
from focalpoint.ids import language_problem, state_problem
from focalpoint.v1 import common_pb2, messages_pb2

__all__ = ["KINDS", "SUPPORTED_KINDS", "InvalidBody", "body_kind", "case_ref_of", "validate_body"]

# Every kind of the wire format (docs/protocol.md §11.3), whether or not this version handles it yet.
KINDS: tuple[str, ...] = tuple(f.name for f in messages_pb2.Body.DESCRIPTOR.oneofs_by_name["kind"].fields)

# A pseudonymous reference: letters, digits and . _ / - only, so a name with spaces
# cannot be smuggled into it (docs/domain.md §3.4).
_CASE_REF = re.compile(r"^[A-Z0-9][A-Z0-9._/-]{3,63}\Z")
_CODE_LIST_VERSION = re.compile(r"^\d{4}\.\d{1,3}\Z")
_MAX_TEXT = 20_000


class InvalidBody(UsageError):
    """A body breaks a rule; the message names the field and the rule."""


def body_kind(body: messages_pb2.Body) -> str:
    return body.WhichOneof("kind") or ""


def validate_body(body: messages_pb2.Body) -> str:
    """Return the body's kind; raise InvalidBody naming the first broken rule.

    A kind without a validator here is refused, sending and receiving alike: a body nobody
    checked must not reach a case (docs/protocol.md §11.3).
    """
    kind = body.WhichOneof("kind")
    if kind is None:
        raise InvalidBody(f"body has no kind; expected one of: {', '.join(SUPPORTED_KINDS)}")
    validator = _VALIDATORS.get(kind)
    if validator is None:
        raise InvalidBody(
            f"kind {kind} cannot be sent or received by this version yet; it handles {', '.join(SUPPORTED_KINDS)}"
        )
    if not _CODE_LIST_VERSION.match(body.code_list_version):
        raise InvalidBody("code_list_version must look like YYYY.N, e.g. 2026.1")
    validator(body)
    _context_matches(body, kind)
    return kind


def _context_matches(body: messages_pb2.Body, kind: str) -> None:
    """The kind's own case_ref (kept for earlier senders) and the context's name one link."""
    if body.HasField("context"):
        own = getattr(body, kind).case_ref
        _require(body.context.case_ref == own, f"context.case_ref must equal {kind}.case_ref")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidBody(message)


def _case_ref(value: str, where: str) -> None:
    _require(
        bool(_CASE_REF.match(value)),
        f"{where}.case_ref must be 4–64 characters of A–Z, 0–9, '.', '_', '/', '-' (a pseudonymous reference)",
    )


def _date(value: common_pb2.Date, where: str, *, required: bool) -> None:
    if not value.year and not value.month and not value.day:
        _require(not required, f"{where} is required")
        return
    try:
        dt.date(value.year, value.month, value.day)
    except ValueError:
        raise InvalidBody(f"{where} is not a valid calendar date") from None


def _language(value: str, where: str) -> None:
    if problem := language_problem(value):
        raise InvalidBody(f"{where}: {problem}")


def _state(value: str, where: str) -> None:
    if problem := state_problem(value):
        raise InvalidBody(f"{where}: {problem}")


def _text(value: common_pb2.LocalizedText, where: str) -> None:
    if not value.text and not value.original_text:
        return
    _language(value.language, f"{where}.language")
    _require(len(value.text) <= _MAX_TEXT, f"{where}.text exceeds {_MAX_TEXT} characters")
    if value.original_text:
        _language(value.original_language, f"{where}.original_language (original_text is set)")


def _languages(values: Iterable[str], where: str) -> None:
    for i, v in enumerate(values):
        _language(v, f"{where}[{i}]")


def _validate_request(req: messages_pb2.SocialInquiryRequest) -> None:
    where = "social_inquiry_request"
    _case_ref(req.case_ref, where)
    _require(req.identification_status != 0, f"{where}.identification_status is required")
    _require(req.identified_at_ms > 0, f"{where}.identified_at_ms is required")
    _require(len(req.topics) > 0, f"{where}.topics must name at least one inquiry topic")
    _require(req.urgency != 0, f"{where}.urgency is required")
    child = req.child
    _state(child.presumed_nationality, f"{where}.child.presumed_nationality")
    _date(child.documented_date_of_birth, f"{where}.child.documented_date_of_birth", required=False)
    _require(child.assessed_age_years <= 25, f"{where}.child.assessed_age_years is out of range")
    _text(child.place_of_origin, f"{where}.child.place_of_origin")
    _languages(child.languages, f"{where}.child.languages")
    for i, doc in enumerate(child.documents):
        _state(doc.issuing_state, f"{where}.child.documents[{i}].issuing_state")
    for i, contact in enumerate(req.family_contacts):
        _text(contact.last_known_address, f"{where}.family_contacts[{i}].last_known_address")
    _text(req.circumstances, f"{where}.circumstances")
    _date(req.response_due, f"{where}.response_due", required=True)
    if req.preferred_response_language:
        _language(req.preferred_response_language, f"{where}.preferred_response_language")


def _validate_report(rep: messages_pb2.SocialInquiryReport) -> None:
    where = "social_inquiry_report"
    _case_ref(rep.case_ref, where)
    _require(rep.identity_confirmed != 0, f"{where}.identity_confirmed is required")
    _require(rep.nationality_confirmed != 0, f"{where}.nationality_confirmed is required")
    _require(rep.family_involvement != 0, f"{where}.family_involvement is required (use FINDING_UNKNOWN)")
    _require(rep.recommended_solution != 0, f"{where}.recommended_solution is required")
    _require(rep.completed_at_ms > 0, f"{where}.completed_at_ms is required")
    _text(rep.family_situation, f"{where}.family_situation")
    _text(rep.community_situation, f"{where}.community_situation")
    _text(rep.recommendation_rationale, f"{where}.recommendation_rationale")
    for i, c in enumerate(rep.caregivers):
        _require(c.availability != 0, f"{where}.caregivers[{i}].availability is required")
        _text(c.assessment, f"{where}.caregivers[{i}].assessment")
        _date(c.visited_on, f"{where}.caregivers[{i}].visited_on", required=False)


def case_ref_of(body: messages_pb2.Body) -> str:
    """The body's pseudonymous case reference: the context's when set, else the kind's own (empty if none)."""
    if body.context.case_ref:
        return body.context.case_ref
    kind = body.WhichOneof("kind")
    return str(getattr(getattr(body, kind), "case_ref", "")) if kind else ""


# The kinds this version validates; every other kind is refused (a later version adds them).
_VALIDATORS: Mapping[str, Callable[[messages_pb2.Body], None]] = {
    "social_inquiry_request": lambda body: _validate_request(body.social_inquiry_request),
    "social_inquiry_report": lambda body: _validate_report(body.social_inquiry_report),
}
SUPPORTED_KINDS: tuple[str, ...] = tuple(k for k in KINDS if k in _VALIDATORS)
