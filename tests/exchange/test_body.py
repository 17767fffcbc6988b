"""Message body validation (focalpoint.exchange.body): every rule names its field and never echoes the value."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focalpoint.errors import UsageError
from focalpoint.exchange.body import KINDS, SUPPORTED_KINDS, InvalidBody, body_kind, case_ref_of, validate_body
from focalpoint.localnet.samples import social_inquiry_report, social_inquiry_request
from focalpoint.v1 import codes_pb2, common_pb2, messages_pb2

Mutation = Callable[[messages_pb2.Body], None]


def request() -> messages_pb2.Body:
    return social_inquiry_request("GR-2026-0001", identified_at_ms=1_772_000_000_000)


def report() -> messages_pb2.Body:
    return social_inquiry_report("GR-2026-0001", completed_at_ms=1_772_000_000_000)


def req(body: messages_pb2.Body) -> messages_pb2.SocialInquiryRequest:
    return body.social_inquiry_request


def rep(body: messages_pb2.Body) -> messages_pb2.SocialInquiryReport:
    return body.social_inquiry_report


def set_ref(body: messages_pb2.Body, case_ref: str) -> None:
    """The reference of one link, in the context and (for earlier senders) in the kind itself."""
    req(body).case_ref = body.context.case_ref = case_ref


def test_sample_bodies_are_valid() -> None:
    """The sample request and report pass validation and report their kind."""
    assert validate_body(request()) == "social_inquiry_request"
    assert validate_body(report()) == "social_inquiry_report"
    assert body_kind(report()) == "social_inquiry_report"


def test_body_without_kind_is_refused_listing_the_kinds() -> None:
    """An empty body is refused, and the message lists the kinds this version handles."""
    body = messages_pb2.Body(code_list_version="2026.1")
    assert body_kind(body) == ""
    with pytest.raises(InvalidBody) as refused:
        validate_body(body)
    assert SUPPORTED_KINDS == ("social_inquiry_request", "social_inquiry_report")
    for kind in SUPPORTED_KINDS:
        assert kind in str(refused.value)


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in SUPPORTED_KINDS])
def test_a_kind_without_a_validator_is_refused_naming_it(kind: str) -> None:
    """A case kind this version cannot check yet is refused on sending and receiving alike, naming the kind."""
    body = messages_pb2.Body(code_list_version="2026.1", context=messages_pb2.CaseContext(case_ref="GR-7KQ2M9XH4T-Q"))
    getattr(body, kind).SetInParent()
    assert body_kind(body) == kind
    with pytest.raises(InvalidBody, match=f"kind {kind} cannot be sent or received by this version yet"):
        validate_body(body)


@pytest.mark.parametrize("make", [request, report], ids=["request", "report"])
def test_a_context_naming_another_link_is_refused_without_either_reference(
    make: Callable[[], messages_pb2.Body],
) -> None:
    """context.case_ref and the kind's own case_ref must name the same link; neither value is echoed."""
    body = make()
    body.context.case_ref = "AL-0000000000-X"
    with pytest.raises(InvalidBody, match=r"context\.case_ref must equal social_inquiry_re\w+\.case_ref") as refused:
        validate_body(body)
    assert "AL-0000000000-X" not in str(refused.value)
    assert "GR-2026-0001" not in str(refused.value)
    body.context.case_ref = ""
    with pytest.raises(InvalidBody, match=r"context\.case_ref must equal"):
        validate_body(body)


def test_the_case_reference_is_the_contexts_when_set() -> None:
    """case_ref_of reads context.case_ref, and the kind's own field only for bodies without a context."""
    body = request()
    body.context.case_ref = "GR-7KQ2M9XH4T-Q"
    assert case_ref_of(body) == "GR-7KQ2M9XH4T-Q"
    body.ClearField("context")
    assert case_ref_of(body) == "GR-2026-0001"
    assert case_ref_of(messages_pb2.Body()) == ""


def test_the_samples_carry_a_context_and_no_deprecated_field() -> None:
    """Sample bodies set the link's context (attested, with flags) and use AgeDetermination, not the old fields."""
    for body in (request(), report()):
        context = body.context
        assert context.case_ref == case_ref_of(body) == "GR-2026-0001"
        assert context.attestation.no_foreseeable_danger
        assert context.attestation.basis != codes_pb2.ATTESTATION_BASIS_UNSPECIFIED
        assert context.flags.family_contact == codes_pb2.FAMILY_CONTACT_RULE_CONTACT_ALLOWED
        assert context.urgency == messages_pb2.URGENCY_URGENT
    child = req(request()).child
    assert (child.assessed_age_years, child.age_disputed, req(request()).do_not_contact_family) == (0, False, False)
    assert (child.age.assessed_min_years, child.nationality.claimed) == (14, "AL")


def test_invalid_body_is_a_usage_error() -> None:
    """InvalidBody is a UsageError, so the local API reports it as the caller's mistake."""
    assert issubclass(InvalidBody, UsageError)


# (id, mutation, field named in the message, value that must not appear or None when there is none)
REQUEST_RULES: list[tuple[str, Mutation, str, str | None]] = [
    ("case-ref-with-a-name", lambda b: setattr(req(b), "case_ref", "Arta Example"), "case_ref", "Arta"),
    ("case-ref-lowercase", lambda b: setattr(req(b), "case_ref", "arta-2026-1"), "case_ref", "arta"),
    ("case-ref-too-short", lambda b: setattr(req(b), "case_ref", "ABC"), "case_ref", "ABC"),
    ("case-ref-too-long", lambda b: setattr(req(b), "case_ref", "A" * 65), "case_ref", "A" * 65),
    ("case-ref-leading-dash", lambda b: setattr(req(b), "case_ref", "-GR-2026"), "case_ref", "-GR-2026"),
    ("case-ref-empty", lambda b: setattr(req(b), "case_ref", ""), "case_ref", None),
    ("code-list-version", lambda b: setattr(b, "code_list_version", "Arta"), "code_list_version", "Arta"),
    ("identification-status", lambda b: setattr(req(b), "identification_status", 0), "identification_status", None),
    ("identified-at", lambda b: setattr(req(b), "identified_at_ms", 0), "identified_at_ms", None),
    ("no-topics", lambda b: req(b).ClearField("topics"), "topics", None),
    ("urgency", lambda b: setattr(req(b), "urgency", 0), "urgency", None),
    (
        "nationality-not-alpha-2",
        lambda b: setattr(req(b).child, "presumed_nationality", "Albania"),
        "presumed_nationality",
        "Albania",
    ),
    (
        "impossible-date-of-birth",
        lambda b: req(b).child.documented_date_of_birth.CopyFrom(common_pb2.Date(year=2007, month=2, day=30)),
        "documented_date_of_birth",
        "2007",
    ),
    ("assessed-age", lambda b: setattr(req(b).child, "assessed_age_years", 26), "assessed_age_years", "26"),
    (
        "place-of-origin-language",
        lambda b: setattr(req(b).child.place_of_origin, "language", "Elbasan"),
        "place_of_origin.language",
        "Elbasan",
    ),
    (
        "child-language",
        lambda b: req(b).child.languages.append("Albanian"),
        "child.languages",
        "Albanian",
    ),
    (
        "document-issuing-state",
        lambda b: setattr(req(b).child.documents[0], "issuing_state", "alb"),
        "documents[0].issuing_state",
        "alb",
    ),
    (
        "family-address-language",
        lambda b: setattr(req(b).family_contacts[0].last_known_address, "language", "Elbasan"),
        "family_contacts[0].last_known_address.language",
        "Elbasan",
    ),
    (
        "circumstances-too-long",
        lambda b: setattr(req(b).circumstances, "text", "Arta " * 4001),
        "circumstances.text",
        "Arta",
    ),
    (
        "original-text-without-language",
        lambda b: setattr(req(b).circumstances, "original_text", "Arta"),
        "circumstances.original_language",
        "Arta",
    ),
    ("response-due-missing", lambda b: req(b).ClearField("response_due"), "response_due", None),
    (
        "response-due-impossible",
        lambda b: req(b).response_due.CopyFrom(common_pb2.Date(year=2026, month=13, day=1)),
        "response_due",
        "2026",
    ),
    (
        "preferred-response-language",
        lambda b: setattr(req(b), "preferred_response_language", "English"),
        "preferred_response_language",
        "English",
    ),
    # Shaped right, but not in ISO 3166-1 or the BCP 47 registry (the lists of focalpoint.ids).
    ("nationality-UK", lambda b: setattr(req(b).child, "presumed_nationality", "UK"), "presumed_nationality", "UK"),
    (
        "document-issuing-state-ZZ",
        lambda b: setattr(req(b).child.documents[0], "issuing_state", "ZZ"),
        "documents[0].issuing_state",
        "ZZ",
    ),
    ("child-language-unregistered", lambda b: req(b).child.languages.append("xx"), "child.languages[1]", None),
    (
        "preferred-language-underscore",
        lambda b: setattr(req(b), "preferred_response_language", "en_GB"),
        "preferred_response_language",
        "en_GB",
    ),
    (
        "place-of-origin-language-UK-region",
        lambda b: setattr(req(b).child.place_of_origin, "language", "en-UK"),
        "place_of_origin.language",
        "en-UK",
    ),
]

REPORT_RULES: list[tuple[str, Mutation, str, str | None]] = [
    ("case-ref-with-a-name", lambda b: setattr(rep(b), "case_ref", "Arta Example"), "case_ref", "Arta"),
    ("identity-confirmed", lambda b: setattr(rep(b), "identity_confirmed", 0), "identity_confirmed", None),
    ("nationality-confirmed", lambda b: setattr(rep(b), "nationality_confirmed", 0), "nationality_confirmed", None),
    ("family-involvement", lambda b: setattr(rep(b), "family_involvement", 0), "family_involvement", None),
    ("recommended-solution", lambda b: setattr(rep(b), "recommended_solution", 0), "recommended_solution", None),
    ("completed-at", lambda b: setattr(rep(b), "completed_at_ms", 0), "completed_at_ms", None),
    (
        "family-situation-original-language",
        lambda b: setattr(rep(b).family_situation, "original_language", "Shqip"),
        "family_situation.original_language",
        "Shqip",
    ),
    (
        "community-situation-language",
        lambda b: rep(b).community_situation.CopyFrom(common_pb2.LocalizedText(text="Arta", language="")),
        "community_situation.language",
        "Arta",
    ),
    (
        "caregiver-availability",
        lambda b: setattr(rep(b).caregivers[0], "availability", 0),
        "caregivers[0].availability",
        None,
    ),
    (
        "caregiver-visit-date",
        lambda b: rep(b).caregivers[0].visited_on.CopyFrom(common_pb2.Date(year=2026, month=2, day=29)),
        "caregivers[0].visited_on",
        "2026",
    ),
]


@pytest.mark.parametrize(
    ("make", "mutate", "field", "value"),
    [pytest.param(request, m, f, v, id=f"request-{n}") for n, m, f, v in REQUEST_RULES]
    + [pytest.param(report, m, f, v, id=f"report-{n}") for n, m, f, v in REPORT_RULES],
)
def test_broken_rule_names_field_not_value(
    make: Callable[[], messages_pb2.Body], mutate: Mutation, field: str, value: str | None
) -> None:
    """Each broken rule is refused with a message naming the field and never containing the value."""
    body = make()
    mutate(body)
    with pytest.raises(InvalidBody) as refused:
        validate_body(body)
    message = str(refused.value)
    assert field in message
    if value is not None:
        assert value not in message


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda b: set_ref(b, "ABCD"), id="case-ref-4-chars"),
        pytest.param(lambda b: set_ref(b, "A" * 64), id="case-ref-64-chars"),
        pytest.param(lambda b: set_ref(b, "GR/2026_01.A-B"), id="case-ref-punctuation"),
        pytest.param(lambda b: b.ClearField("context"), id="no-context-from-an-earlier-sender"),
        pytest.param(lambda b: req(b).child.ClearField("documented_date_of_birth"), id="no-date-of-birth"),
        pytest.param(lambda b: setattr(req(b).child, "assessed_age_years", 25), id="assessed-age-25"),
        pytest.param(lambda b: req(b).child.languages.append("sr-Latn"), id="language-with-script"),
        pytest.param(lambda b: setattr(req(b), "preferred_response_language", ""), id="no-preferred-language"),
        pytest.param(lambda b: req(b).ClearField("circumstances"), id="no-circumstances"),
        pytest.param(lambda b: setattr(req(b).circumstances, "text", "x" * 20_000), id="text-at-limit"),
        pytest.param(
            lambda b: req(b).response_due.CopyFrom(common_pb2.Date(year=2028, month=2, day=29)), id="leap-day"
        ),
    ],
)
def test_edge_values_within_the_rules_are_accepted(mutate: Mutation) -> None:
    """Values on the permitted side of each boundary pass."""
    body = request()
    mutate(body)
    assert validate_body(body) == "social_inquiry_request"


@settings(max_examples=100, deadline=None)
@given(case_ref=st.from_regex(r"[A-Z0-9][A-Z0-9._/-]{3,63}", fullmatch=True))
def test_any_reference_matching_the_pattern_is_accepted(case_ref: str) -> None:
    """Every pseudonymous reference of the documented shape is accepted."""
    body = social_inquiry_request(case_ref, identified_at_ms=1)
    assert validate_body(body) == "social_inquiry_request"


@settings(max_examples=100, deadline=None)
@given(
    given_name=st.from_regex(r"[A-Z][a-z]{3,12}", fullmatch=True),
    family_name=st.from_regex(r"[A-Z][a-z]{3,12}", fullmatch=True),
)
def test_a_name_is_never_a_case_reference_nor_echoed(given_name: str, family_name: str) -> None:
    """A person's name as a case reference is refused, and neither name appears in the error."""
    body = social_inquiry_request(f"{given_name} {family_name}", identified_at_ms=1)
    with pytest.raises(InvalidBody) as refused:
        validate_body(body)
    assert given_name not in str(refused.value)
    assert family_name not in str(refused.value)


def test_case_ref_with_trailing_newline_is_refused() -> None:
    """A case reference is only the allowed characters: a trailing newline is refused."""
    with pytest.raises(InvalidBody, match="case_ref"):
        validate_body(social_inquiry_request("GR-2026-0001\n", identified_at_ms=1))
