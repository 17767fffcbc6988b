"""Every rule a message body must keep, in one table (pure; docs/protocol.md §11.6, docs/adr/0017).

``RULES`` maps each message type to a ``Spec``: which of its fields are required, which are
State codes, language tags, directory units, local user ids or link references, which times may
not lie in the future, which evidence may be referred to, and the few rules that join fields
(``Check``: a sentence and a function). ``GENERIC`` names the rules that follow from a field's
type alone. ``focalpoint.exchange.body.validate_body`` walks a body and applies the table;
``rules_markdown`` prints it for docs/protocol.md (a test keeps the two in step), and the forms
(``focalpoint.cases.forms``) mark required fields and print the joined rules from it.

Messages name the field and the rule, never the value: a value may be personal data.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from focalpoint.ids import ACTOR, check_case_ref, language_problem, state_problem
from focalpoint.v1 import codes_pb2, common_pb2, messages_pb2

__all__ = [
    "CONTROL_KINDS",
    "GENERIC",
    "KINDS",
    "MAX_TEXT",
    "PERSONAL_DATA_KINDS",
    "POSITIONAL_LISTS",
    "RULES",
    "SUPERVISOR_RULE",
    "Check",
    "Ctx",
    "Problem",
    "Spec",
    "actor_problem",
    "case_ref_problem",
    "code_name",
    "field_rules",
    "is_set",
    "kind_type",
    "rules_markdown",
    "short_code",
    "spec_of",
    "subdivision_problem",
    "unit_problem",
]

# Every kind of the wire format (docs/protocol.md §11.1), in field order.
KINDS: tuple[str, ...] = tuple(f.name for f in messages_pb2.Body.DESCRIPTOR.oneofs_by_name["kind"].fields)
# ● in docs/protocol.md §11.1: the kind may carry personal data, so the attestation is required.
PERSONAL_DATA_KINDS: frozenset[str] = frozenset(
    {
        "social_inquiry_request",
        "social_inquiry_report",
        "case_notification",
        "guardian_appointment_notice",
        "identity_verification_request",
        "identity_verification_reply",
        "risk_assessment_request",
        "risk_assessment_report",
        "child_views_record",
        "reintegration_plan",
        "repatriation_plan",
        "handover_confirmation",
        "follow_up_report",
        "protection_alert",
        "tracing_request",
        "amendment",
        "case_closure",
    }
)
# The control kinds: they act on other messages, and an amendment never replaces one.
CONTROL_KINDS: frozenset[str] = frozenset(
    {
        "acknowledgement",
        "clarification_request",
        "clarification_response",
        "request_refusal",
        "amendment",
        "withdrawal",
        "reminder",
        "case_closure",
    }
)
MAX_TEXT = 20_000
OVERRIDE_JUSTIFICATION_MIN = 200
MAX_ASSESSED_AGE = 25
MESSAGE_ID_BYTES = 16
SHA256_BYTES = 32

_CODE_LIST_VERSION = re.compile(r"^\d{4}\.\d{1,3}\Z")
# A directory institution id: "ekka" or "ekka/athens" (directory.proto, Institution.id).
_UNIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,63}){0,3}\Z")
_AGREEMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}\Z")
# ISO 3166-2: the State's alpha-2 code, a hyphen, one to three letters or digits.
_SUBDIVISION = re.compile(r"^([A-Z]{2})-[A-Z0-9]{1,3}\Z")
_IATA = re.compile(r"^[A-Z]{3}\Z")
# UN/LOCODE: the State's alpha-2 code and three letters or digits 2–9 (ports, official crossings).
_LOCODE = re.compile(r"^([A-Z]{2})[A-Z2-9]{3}\Z")
_FIELD_PATH = re.compile(r"^[a-z][a-z0-9_]*(?:\[\d{1,4}\])?(?:\.[a-z][a-z0-9_]*(?:\[\d{1,4}\])?){0,15}\Z")


class Problem(NamedTuple):
    """One broken rule: where (a field path from the body's root) and what (never the value)."""

    path: str
    message: str


@dataclass(frozen=True)
class Ctx:
    """What a rule may know beyond the body: the time the body is judged at (None: times unchecked)."""

    now_ms: int | None = None


Found = Iterable[tuple[str, str]]


@dataclass(frozen=True)
class Check:
    """A rule joining fields: ``rule`` says it (docs, forms), ``run`` finds (relative path, message) pairs."""

    field: str
    rule: str
    run: Callable[[Any, Ctx], Found]
    # For checks on Body only: the kinds the rule applies to (empty = every kind).
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class Spec:
    """The rules of one message type; each tuple names fields of that type."""

    required: tuple[str, ...] = ()
    true: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    subdivisions: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    actors: tuple[str, ...] = ()
    case_refs: tuple[str, ...] = ()
    past: tuple[str, ...] = ()
    # (EvidenceRef field, the kinds it may refer to)
    refers_to: tuple[tuple[str, tuple[str, ...]], ...] = ()
    checks: tuple[Check, ...] = ()


GENERIC: tuple[str, ...] = (
    "A field marked deprecated in `messages.proto` is still read from older senders, but a body that sets it is "
    "refused: its zero was the unsafe reading, and its successor says the same thing safely (§11.3).",
    "A list of codes holds no `_UNSPECIFIED` entry (it is no code); `IdentityVerificationReply.document_checks`, "
    "which is positional, is the one exception (read as not checked).",
    "A time (an `int64` field ending in `_ms`, milliseconds since 1970 UTC) is never negative; zero means not given.",
    "A `Date` that is given (any part non-zero) is a real calendar date between the years 1900 and 2199.",
    "A `LocalizedText` that is given has `text` and a `language`; `text` and `original_text` hold at most "
    f"{MAX_TEXT:,} characters; a translation keeps `original_text` and `original_language` beside it and says its "
    "`translation_kind`.",
    "An `EvidenceRef` that is given has a 16-byte `message_id`, a 32-byte `body_sha256` and the `kind` of a known "
    "body.",
    "An `ApprovalRecord` that is given has `prepared_by` and `approved_by` (local user ids, two different people) "
    "and `approved_at_ms`.",
    "A code number this version does not know (a newer code list) is not refused here.",
)


# --- code names -------------------------------------------------------------------------------


def _prefix(enum: EnumDescriptor) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"


def short_code(enum: EnumDescriptor, number: int) -> str:
    """``SUSPECTED`` for FINDING_SUSPECTED; the number itself for a code this version does not know."""
    value = enum.values_by_number.get(number)
    return value.name.removeprefix(_prefix(enum)) if value is not None else str(number)


def code_name(enum: EnumDescriptor, short: str) -> int | None:
    """The number of a code given by its short or full name, or None."""
    value = enum.values_by_name.get(short) or enum.values_by_name.get(_prefix(enum) + short)
    return value.number if value is not None else None


def _codes(enum: EnumDescriptor, *shorts: str) -> frozenset[int]:
    numbers = {code_name(enum, s) for s in shorts}
    if None in numbers:
        raise ValueError(f"unknown code among {shorts} in {enum.name}")
    return frozenset(n for n in numbers if n is not None)


def _or(shorts: Sequence[str]) -> str:
    return " or ".join(shorts)


# --- small pieces the checks share -------------------------------------------------------------


def _text_set(text: common_pb2.LocalizedText) -> bool:
    return bool(text.text or text.original_text or text.language or text.original_language)


def _date_set(d: common_pb2.Date) -> bool:
    return bool(d.year or d.month or d.day)


def _as_date(d: common_pb2.Date) -> dt.date | None:
    try:
        return dt.date(d.year, d.month, d.day)
    except ValueError:
        return None


def is_set(msg: Any, name: str) -> bool:
    fd: FieldDescriptor = msg.DESCRIPTOR.fields_by_name[name]
    value = getattr(msg, name)
    if fd.is_repeated:
        return len(value) > 0
    if fd.message_type is not None:
        if fd.message_type.full_name == "focalpoint.v1.Date":
            return _date_set(value)
        if fd.message_type.full_name == "focalpoint.v1.LocalizedText":
            return _text_set(value)
        return bool(msg.HasField(name))
    return bool(value)


def _needs(needed: str, when: str, condition: Callable[[Any], bool], *, also: str = "") -> Check:
    """``needed`` is required when ``condition`` holds (described by ``when``)."""

    def run(msg: Any, _: Ctx) -> Found:
        if condition(msg) and not is_set(msg, needed):
            yield needed, f"is required when {when}{also}"

    return Check(needed, f"required when {when}{also}", run)


def _needs_code(needed: str, field: str, enum: EnumDescriptor, *shorts: str) -> Check:
    codes = _codes(enum, *shorts)
    return _needs(needed, f"{field} is {_or(shorts)}", lambda m: getattr(m, field) in codes)


def _other_needs_text(codes_field: str, text_field: str, enum: EnumDescriptor) -> Check:
    other = _codes(enum, "OTHER")

    def run(msg: Any, _: Ctx) -> Found:
        if other & set(getattr(msg, codes_field)) and not is_set(msg, text_field):
            yield text_field, f"is required when {codes_field} includes OTHER (say what the other form is)"

    return Check(text_field, f"required when {codes_field} includes OTHER", run)


# --- checks of the shared parts -----------------------------------------------------------------


def _date(d: common_pb2.Date, _: Ctx) -> Found:
    if not _date_set(d):
        return
    real = _as_date(d)
    if real is None or not 1900 <= d.year <= 2199:
        yield "", "is not a real calendar date between 1900 and 2199 (year, month and day)"


def _localized(t: common_pb2.LocalizedText, _: Ctx) -> Found:
    if not _text_set(t):
        return
    if not t.text:
        yield "text", "is required when any part of the text is given"
    if problem := language_problem(t.language):
        yield "language", problem
    if len(t.text) > MAX_TEXT:
        yield "text", f"exceeds {MAX_TEXT} characters"
    if len(t.original_text) > MAX_TEXT:
        yield "original_text", f"exceeds {MAX_TEXT} characters"
    translated = bool(t.original_text or t.original_language or t.translation_kind or t.translated_by)
    if translated:
        if not t.original_text:
            yield "original_text", "is required beside a translation (decisions cite the signed original)"
        if problem := language_problem(t.original_language):
            yield "original_language", f"(a translation keeps its original's language) {problem}"
        if t.translation_kind == codes_pb2.TRANSLATION_KIND_UNSPECIFIED:
            yield "translation_kind", "is required for a translation (HUMAN_CERTIFIED, HUMAN or MACHINE)"


def _evidence(ref: messages_pb2.EvidenceRef, _: Ctx) -> Found:
    if len(ref.message_id) != MESSAGE_ID_BYTES:
        yield "message_id", f"must be {MESSAGE_ID_BYTES} bytes (the referenced message's id)"
    if len(ref.body_sha256) != SHA256_BYTES:
        yield "body_sha256", f"must be {SHA256_BYTES} bytes (SHA-256 of the signed body bytes)"
    if ref.kind not in KINDS:
        yield "kind", "must name a known body kind (e.g. social_inquiry_report)"


def _two_people(a: messages_pb2.ApprovalRecord, _: Ctx) -> Found:
    if a.prepared_by and a.prepared_by == a.approved_by:
        yield "approved_by", "must be a different person from prepared_by (four eyes)"


def _gate(g: messages_pb2.GateStatus, _: Ctx) -> Found:
    missing = set(g.missing)
    for i, c in enumerate(g.met):
        if c in missing:
            yield f"met[{i}]", "is also listed in missing; a condition is either met or missing"
    for i, c in enumerate(g.override.waived):
        if c not in missing:
            yield f"override.waived[{i}]", "waives a condition not listed in missing"


def _override_other(o: messages_pb2.GateOverride, _: Ctx) -> Found:
    if o.reason == codes_pb2.OVERRIDE_REASON_OTHER and len(o.justification.text) < OVERRIDE_JUSTIFICATION_MIN:
        yield (
            "justification.text",
            f"must hold at least {OVERRIDE_JUSTIFICATION_MIN} characters when reason is OTHER",
        )


def _age_range(a: messages_pb2.AgeDetermination, _: Ctx) -> Found:
    if a.assessed_min_years > a.assessed_max_years:
        yield "assessed_min_years", "must not exceed assessed_max_years (both 0 = not assessed)"
    if a.assessed_max_years > MAX_ASSESSED_AGE:
        yield "assessed_max_years", f"must be at most {MAX_ASSESSED_AGE}"


def _guardian(g: messages_pb2.GuardianStatus, _: Ctx) -> Found:
    if g.appointed:
        if not g.appointed_at_ms:
            yield "appointed_at_ms", "is required when appointed is true"
        if not g.type:
            yield "type", "is required when appointed is true"
    else:
        if g.appointed_at_ms:
            yield "appointed_at_ms", "must be empty while appointed is false (no guardian yet)"
        if g.type:
            yield "type", "must be empty while appointed is false (no guardian yet)"


def _appointed(n: messages_pb2.GuardianAppointmentNotice, _: Ctx) -> Found:
    if not n.guardian.appointed:
        yield "guardian.appointed", "must be true: the notice says a guardian was appointed"


_REGISTRY = _codes(codes_pb2.VerificationSource.DESCRIPTOR, "CIVIL_REGISTRY", "POPULATION_REGISTER")


def _verified_adult(r: messages_pb2.IdentityVerificationReply, ctx: Ctx) -> Found:
    if r.minority != codes_pb2.MINORITY_PRESUMPTION_VERIFIED_ADULT:
        return
    if r.source not in _REGISTRY:
        yield "source", "must be CIVIL_REGISTRY or POPULATION_REGISTER when minority is VERIFIED_ADULT"
    born = _as_date(r.registered_date_of_birth)
    if not _date_set(r.registered_date_of_birth):
        yield "registered_date_of_birth", "is required when minority is VERIFIED_ADULT"
    elif born is not None and ctx.now_ms is not None:
        today = dt.datetime.fromtimestamp(ctx.now_ms / 1000, dt.UTC).date()
        leap_day = (born.month, born.day) == (2, 29)
        adult_on = dt.date(born.year + 18, 3, 1) if leap_day else born.replace(year=born.year + 18)
        if adult_on > today:
            yield "registered_date_of_birth", "gives an age under 18, so minority cannot be VERIFIED_ADULT"


_NOT_HEARD = codes_pb2.RETURN_STANCE_NOT_HEARD


def _views(v: messages_pb2.ChildViewsRecord, _: Ctx) -> Found:
    if v.return_stance == _NOT_HEARD and not v.not_heard_reason:
        yield "not_heard_reason", "is required when return_stance is NOT_HEARD"
    if v.return_stance not in (_NOT_HEARD, 0):
        if v.not_heard_reason:
            yield "not_heard_reason", "must be empty unless return_stance is NOT_HEARD"
        if not _date_set(v.heard_on):
            yield "heard_on", "is required when the child was heard (return_stance other than NOT_HEARD)"
        if not v.heard_by:
            yield "heard_by", "is required when the child was heard (return_stance other than NOT_HEARD)"
    seen: set[int] = set()
    for i, w in enumerate(v.wishes):
        if w.rank in seen:
            yield f"wishes[{i}].rank", "is given twice; ranks are 1 (first choice), 2, 3 …"
        seen.add(w.rank)


def _departure_window(p: messages_pb2.RepatriationPlan, _: Ctx) -> Found:
    early, late = _as_date(p.earliest_departure), _as_date(p.latest_departure)
    if early is not None and late is not None and early > late:
        yield "latest_departure", "must not be before earliest_departure"


def _arrival_code(a: messages_pb2.ArrivalPoint, _: Ctx) -> Found:
    if not a.code:
        return
    if a.type == codes_pb2.ARRIVAL_POINT_TYPE_AIRPORT:
        if not _IATA.match(a.code):
            yield "code", "must be an IATA airport code (three capital letters) when type is AIRPORT"
    elif a.type in (codes_pb2.ARRIVAL_POINT_TYPE_PORT, codes_pb2.ARRIVAL_POINT_TYPE_BORDER_CROSSING):
        m = _LOCODE.match(a.code)
        if m is None or state_problem(m.group(1)):
            yield "code", "must be a UN/LOCODE (State code and three letters or digits) for a port or border crossing"


def _escort(e: messages_pb2.Escort, _: Ctx) -> Found:
    if e.escorts and not e.provider:
        yield "provider", "is required when escorts is given"
    if e.provider and not e.escorts:
        yield "escorts", "must be at least 1 when a provider is given"


def _next_visit(r: messages_pb2.FollowUpReport, _: Ctx) -> Found:
    visited, following = _as_date(r.visited_on), _as_date(r.next_visit_on)
    if visited is not None and following is not None and following < visited:
        yield "next_visit_on", "must not be before visited_on"


def _field_path(item: messages_pb2.ClarificationItem, _: Ctx) -> Found:
    if item.field_path and not _FIELD_PATH.match(item.field_path):
        yield "field_path", "must be a field path such as child.age.claimed_date_of_birth"


def _answer_given(r: messages_pb2.ClarificationResponse, _: Ctx) -> Found:
    if not any(t.text for t in r.texts) and not r.HasField("amendment"):
        yield "texts", "needs at least one answer, or an amendment that carries the corrections"


# --- checks across the whole body ---------------------------------------------------------------


def _kind(body: messages_pb2.Body) -> str:
    return body.WhichOneof("kind") or ""


def _has_kind(body: messages_pb2.Body, _: Ctx) -> Found:
    if not _kind(body):
        yield "", f"names no kind; expected one of: {', '.join(KINDS)}"


def _code_list_version(body: messages_pb2.Body, _: Ctx) -> Found:
    if not _CODE_LIST_VERSION.match(body.code_list_version):
        yield "code_list_version", "must look like YYYY.N, e.g. 2026.1"


def _attestation(body: messages_pb2.Body, _: Ctx) -> Found:
    a = body.context.attestation
    if _kind(body) not in PERSONAL_DATA_KINDS and not body.context.HasField("attestation"):
        return
    if not a.no_foreseeable_danger:
        yield (
            "context.attestation.no_foreseeable_danger",
            "must be true: the sender attests that sending this endangers neither the child nor a relative "
            "(Hague Convention 1996, Art 37)",
        )
    if not a.basis:
        yield "context.attestation.basis", "is required (UNSPECIFIED is no code)"
    if not a.attested_by:
        yield "context.attestation.attested_by", "is required (the attesting officer's local user id)"
    if not a.attested_at_ms:
        yield "context.attestation.attested_at_ms", "is required"


_NO_CONTACT = _codes(codes_pb2.FamilyContactRule.DESCRIPTOR, "NO_CONTACT", "NO_CONTACT_NAMED")
_FAMILY_SUSPECTED = _codes(messages_pb2.Finding.DESCRIPTOR, "SUSPECTED", "CONFIRMED")
_SERIOUS = _codes(codes_pb2.RiskLevel.DESCRIPTOR, "HIGH", "SEVERE")
SUPERVISOR_RULE = (
    "must be SUPERVISOR_REVIEW when the family is suspected (family_contact NO_CONTACT or NO_CONTACT_NAMED, a "
    "family contact with suspected_involvement, a report finding family_involvement SUSPECTED or CONFIRMED) or "
    "relatives are under threat (a THREAT_TO_RELATIVES alert, a TRAFFICKER_THREAT_RELATIVES finding HIGH or SEVERE)"
)


def _supervisor_needed(body: messages_pb2.Body) -> bool:
    """Two of the three attestation questions, as far as the body itself answers them (ADR 0017)."""
    kind = _kind(body)
    if body.context.flags.family_contact in _NO_CONTACT:
        return True
    contacts = {
        "social_inquiry_request": body.social_inquiry_request.family_contacts,
        "tracing_request": body.tracing_request.family_contacts,
    }.get(kind, ())
    if any(c.suspected_involvement for c in contacts):
        return True
    if kind == "social_inquiry_report" and body.social_inquiry_report.family_involvement in _FAMILY_SUSPECTED:
        return True
    if kind == "protection_alert" and body.protection_alert.type == codes_pb2.ALERT_TYPE_THREAT_TO_RELATIVES:
        return True
    return kind == "risk_assessment_report" and any(
        f.domain == codes_pb2.RISK_DOMAIN_TRAFFICKER_THREAT_RELATIVES and f.level in _SERIOUS
        for f in body.risk_assessment_report.findings
    )


def _supervisor(body: messages_pb2.Body, _: Ctx) -> Found:
    basis = body.context.attestation.basis
    attested = _kind(body) in PERSONAL_DATA_KINDS or body.context.HasField("attestation")
    if attested and basis and basis != codes_pb2.ATTESTATION_BASIS_SUPERVISOR_REVIEW and _supervisor_needed(body):
        yield "context.attestation.basis", SUPERVISOR_RULE


def _own_case_ref(body: messages_pb2.Body, _: Ctx) -> Found:
    kind = _kind(body)
    if getattr(body, kind).case_ref != body.context.case_ref:
        yield f"{kind}.case_ref", "must equal context.case_ref (kept for earlier senders)"


_RECORDS_ONLY = _codes(
    codes_pb2.InquiryMethod.DESCRIPTOR, "CIVIL_RECORDS", "SCHOOL", "HEALTH_RECORDS", "POLICE_RECORDS", "NGO_INFORMATION"
)


def _methods_under_no_contact(body: messages_pb2.Body, _: Ctx) -> Found:
    if body.context.flags.family_contact != codes_pb2.FAMILY_CONTACT_RULE_NO_CONTACT:
        return
    for i, method in enumerate(body.social_inquiry_request.allowed_methods):
        if method not in _RECORDS_ONLY:
            yield (
                f"social_inquiry_request.allowed_methods[{i}]",
                "under family_contact NO_CONTACT only records and agencies are allowed "
                "(CIVIL_RECORDS, SCHOOL, HEALTH_RECORDS, POLICE_RECORDS, NGO_INFORMATION)",
            )


def _request_urgency(body: messages_pb2.Body, _: Ctx) -> Found:
    if body.social_inquiry_request.urgency and body.social_inquiry_request.urgency != body.context.urgency:
        yield "social_inquiry_request.urgency", "must equal context.urgency"


def _new_link(body: messages_pb2.Body, _: Ctx) -> Found:
    n = body.case_notification
    for name in ("reopens_case_ref", "answers_tracing_ref"):
        if getattr(n, name) and getattr(n, name) == body.context.case_ref:
            yield f"case_notification.{name}", "must name another link than context.case_ref"


def _replacement(body: messages_pb2.Body, _: Ctx) -> Found:
    a = body.amendment
    replaced = _kind(a.replacement)
    if not a.HasField("replacement") or not replaced:
        return
    if replaced in CONTROL_KINDS:
        yield "amendment.replacement", "must be a body of a kind that is not a control kind (acknowledgement, …)"
    if a.amends.kind and replaced != a.amends.kind:
        yield "amendment.replacement", "must be of the same kind as amends.kind"
    if a.replacement.context.case_ref != body.context.case_ref:
        yield "amendment.replacement.context.case_ref", "must equal context.case_ref (the same link)"


# --- the table ----------------------------------------------------------------------------------

_E = codes_pb2
_M = messages_pb2
_REQUESTS = ("social_inquiry_request", "identity_verification_request", "risk_assessment_request", "tracing_request")
_PROPOSALS = ("durable_solution_proposal", "durable_solution_counter_proposal")

RULES: dict[str, Spec] = {
    # The body and what travels with every message of a link (§11.2).
    "Body": Spec(
        required=("context",),
        checks=(
            Check("", "names exactly one kind", _has_kind),
            Check("code_list_version", "looks like YYYY.N, e.g. 2026.1", _code_list_version),
            Check(
                "context.attestation",
                "no_foreseeable_danger true, basis, attested_by and attested_at_ms, on every kind marked ● "
                "(and on any kind that carries an attestation)",
                _attestation,
            ),
            Check("context.attestation.basis", SUPERVISOR_RULE, _supervisor),
            Check(
                "case_ref",
                "equals context.case_ref",
                _own_case_ref,
                kinds=("social_inquiry_request", "social_inquiry_report"),
            ),
            Check(
                "allowed_methods",
                "under family_contact NO_CONTACT, records and agencies only (CIVIL_RECORDS, SCHOOL, HEALTH_RECORDS, "
                "POLICE_RECORDS, NGO_INFORMATION)",
                _methods_under_no_contact,
                kinds=("social_inquiry_request",),
            ),
            Check("urgency", "equals context.urgency", _request_urgency, kinds=("social_inquiry_request",)),
            Check(
                "reopens_case_ref, answers_tracing_ref",
                "name another link than context.case_ref",
                _new_link,
                kinds=("case_notification",),
            ),
            Check(
                "replacement",
                "a whole valid body (its own paths prefixed amendment.replacement.) of a kind that is not a control "
                "kind, the same kind as amends.kind, on the same link",
                _replacement,
                kinds=("amendment",),
            ),
        ),
    ),
    "CaseContext": Spec(
        required=("case_ref", "sender_unit", "urgency"),
        case_refs=("case_ref",),
        units=("sender_unit", "recipient_unit"),
        languages=("response_language",),
        checks=(
            Check(
                "agreement_id",
                "letters, digits and . _ / - (at most 64)",
                lambda c, _: (
                    [("agreement_id", "must be letters, digits and . _ / - (at most 64 characters)")]
                    if c.agreement_id and not _AGREEMENT_ID.match(c.agreement_id)
                    else []
                ),
            ),
        ),
    ),
    "TransmissionAttestation": Spec(actors=("attested_by",), past=("attested_at_ms",)),
    "EvidenceRef": Spec(checks=(Check("", "16-byte message_id, 32-byte body_sha256, a known kind", _evidence),)),
    "ApprovalRecord": Spec(
        required=("prepared_by", "approved_by", "approved_at_ms"),
        actors=("prepared_by", "approved_by"),
        past=("approved_at_ms",),
        checks=(Check("approved_by", "a different person from prepared_by", _two_people),),
    ),
    "GateStatus": Spec(
        required=("evaluated_at_ms",),
        past=("evaluated_at_ms",),
        checks=(Check("met, override.waived", "met and missing do not overlap; only missing ones are waived", _gate),),
    ),
    "GateOverride": Spec(
        required=("waived", "reason", "justification", "approval"),
        checks=(
            Check(
                "justification",
                f"at least {OVERRIDE_JUSTIFICATION_MIN} characters when reason is OTHER",
                _override_other,
            ),
        ),
    ),
    "Date": Spec(checks=(Check("", "a real calendar date, years 1900–2199", _date),)),
    "LocalizedText": Spec(
        checks=(Check("", "text with its language; a translation keeps its original, says who translated", _localized),)
    ),
    # The child (§11.2, docs/domain.md §3.2–3.5).
    "ChildIdentity": Spec(
        required=("sex", "presumed_nationality"),
        states=("presumed_nationality",),
        languages=("languages",),
    ),
    "IdentityDocument": Spec(required=("type", "issuing_state"), states=("issuing_state",)),
    "AgeDetermination": Spec(
        checks=(
            Check("assessed_min_years", f"assessed_min_years ≤ assessed_max_years ≤ {MAX_ASSESSED_AGE}", _age_range),
            _needs("method", "an age range is assessed", lambda a: a.assessed_max_years > 0),
            _needs("assessed_on", "an age range is assessed", lambda a: a.assessed_max_years > 0),
        ),
    ),
    "NationalityClaim": Spec(states=("claimed", "presumed")),
    "FamilyContact": Spec(required=("relationship",)),
    "GuardianStatus": Spec(
        past=("appointed_at_ms",),
        checks=(Check("appointed_at_ms, type", "required when appointed is true, empty while it is false", _guardian),),
    ),
    # The kinds, in field order.
    "SocialInquiryRequest": Spec(
        required=(
            "case_ref",
            "identification_status",
            "identified_at_ms",
            "child",
            "topics",
            "urgency",
            "response_due",
            "allowed_methods",
        ),
        past=("identified_at_ms",),
        languages=("preferred_response_language",),
        units=("requesting_unit",),
        checks=(_other_needs_text("exploitation_forms", "circumstances", _M.ExploitationForm.DESCRIPTOR),),
    ),
    "SocialInquiryReport": Spec(
        required=(
            "case_ref",
            "identity_confirmed",
            "nationality_confirmed",
            "family_involvement",
            "recommended_solution",
            "completed_at_ms",
        ),
        past=("completed_at_ms",),
        units=("reporting_unit",),
    ),
    "CaregiverAssessment": Spec(required=("relationship", "availability")),
    "CaseNotification": Spec(
        required=(
            "identification_status",
            "identified_at_ms",
            "identified_by",
            "child",
            "exploitation_forms",
            "requested",
        ),
        past=("identified_at_ms",),
        states=("transit_states",),
        case_refs=("reopens_case_ref", "answers_tracing_ref"),
        checks=(_other_needs_text("exploitation_forms", "circumstances", _M.ExploitationForm.DESCRIPTOR),),
    ),
    "Acknowledgement": Spec(
        required=("kind", "acknowledges"),
        units=("assigned_unit",),
        checks=(_needs_code("assigned_unit", "kind", _E.AckKind.DESCRIPTOR, "RECEIVED_AND_ASSIGNED"),),
    ),
    "GuardianAppointmentNotice": Spec(
        required=("guardian",),
        checks=(
            Check("guardian.appointed", "must be true (the notice says a guardian was appointed)", _appointed),
            _needs_code("delay_note", "delay_reason", _E.GuardianDelayReason.DESCRIPTOR, "OTHER"),
        ),
    ),
    "IdentityVerificationRequest": Spec(required=("topics", "child", "response_due")),
    "IdentityVerificationReply": Spec(
        required=("identity", "nationality"),
        states=("suggested_state",),
        checks=(
            Check(
                "minority",
                "VERIFIED_ADULT only from a CIVIL_REGISTRY or POPULATION_REGISTER source with a registered date of "
                "birth 18 or more years before the message",
                _verified_adult,
            ),
        ),
    ),
    "RiskAssessmentRequest": Spec(required=("occasion", "domains", "response_due")),
    "SolutionOption": Spec(required=("solution", "solution_state"), states=("solution_state",)),
    "RiskAssessmentReport": Spec(
        required=("occasion", "findings", "overall", "completed_at_ms"),
        past=("completed_at_ms",),
        units=("assessing_unit",),
    ),
    "DomainFinding": Spec(required=("domain", "level")),
    "OptionAppraisal": Spec(required=("option",)),
    "ChildViewsRecord": Spec(
        required=("return_stance",),
        languages=("interpreter_language",),
        checks=(
            Check(
                "not_heard_reason, heard_on, heard_by",
                "NOT_HEARD needs not_heard_reason (and only then); a child who was heard needs heard_on and heard_by; "
                "wish ranks are distinct",
                _views,
            ),
        ),
    ),
    "RankedWish": Spec(required=("rank", "arrangement"), states=("state",)),
    "ContactWish": Spec(required=("person",)),
    "ReintegrationPlan": Spec(required=("arrangement", "responsible_unit"), units=("responsible_unit",)),
    "PlannedService": Spec(required=("service", "provider")),
    "DurableSolutionProposal": Spec(
        required=("solution", "rationale", "evidence", "approval"),
        checks=(_needs("departure_reason", "departs_from_child_views is true", lambda p: p.departs_from_child_views),),
    ),
    "ConditionPrecedent": Spec(required=("kind",)),
    "BestInterestsDecision": Spec(required=("decided_on", "forum")),
    "DurableSolutionCounterProposal": Spec(
        required=("counters", "reasons", "proposal"), refers_to=(("counters", _PROPOSALS),)
    ),
    "DurableSolutionAgreement": Spec(
        required=("accepts", "solution", "approval"), refers_to=(("accepts", _PROPOSALS),)
    ),
    "RepatriationPlan": Spec(
        required=("earliest_departure", "latest_departure", "mode", "arrival", "receiving_unit"),
        true=("no_detention_assurance",),
        units=("receiving_unit",),
        refers_to=(("supersedes", ("repatriation_plan",)),),
        checks=(Check("latest_departure", "earliest_departure ≤ latest_departure", _departure_window),),
    ),
    "ArrivalPoint": Spec(
        required=("type", "code"),
        checks=(
            Check(
                "code",
                "an IATA airport code for AIRPORT, a UN/LOCODE for PORT and BORDER_CROSSING (public places only)",
                _arrival_code,
            ),
        ),
    ),
    "Escort": Spec(checks=(Check("provider, escorts", "a provider with at least one escort, or neither", _escort),)),
    "TravelDocument": Spec(required=("kind",), units=("issuing_unit",)),
    "RepatriationPlanAcceptance": Spec(
        required=("accepts", "approval"), refers_to=(("accepts", ("repatriation_plan",)),)
    ),
    "ReturnStatusUpdate": Spec(
        required=("status", "at_ms"),
        past=("at_ms",),
        checks=(_needs_code("disruption", "status", _E.ReturnStatus.DESCRIPTOR, "DELAYED", "CANCELLED"),),
    ),
    "HandoverConfirmation": Spec(
        required=("handed_over_at_ms", "place", "condition"),
        past=("handed_over_at_ms",),
        units=("received_by_unit",),
    ),
    "FollowUpReport": Spec(
        required=("occasion", "visited_on"),
        checks=(Check("next_visit_on", "not before visited_on", _next_visit),),
    ),
    "ServiceProgress": Spec(required=("service", "state")),
    "ProtectionAlert": Spec(
        required=("type",),
        past=("since_ms",),
        subdivisions=("last_seen_region",),
        checks=(
            _needs_code("since_ms", "type", _E.AlertType.DESCRIPTOR, "MISSING"),
            _needs_code("detention", "type", _E.AlertType.DESCRIPTOR, "DETAINED"),
            _needs_code("removal_on", "type", _E.AlertType.DESCRIPTOR, "REMOVAL_SCHEDULED"),
        ),
    ),
    "TracingRequest": Spec(
        required=("child", "missing_since", "source", "response_due"),
        states=("believed_route",),
    ),
    "ClarificationRequest": Spec(required=("about", "items")),
    "ClarificationItem": Spec(
        required=("field_path", "issue"),
        checks=(Check("field_path", "a field path such as child.age.claimed_date_of_birth", _field_path),),
    ),
    "ClarificationResponse": Spec(
        required=("answers",),
        refers_to=(("answers", ("clarification_request",)), ("amendment", ("amendment",))),
        checks=(Check("texts", "at least one answer, or an amendment", _answer_given),),
    ),
    "RequestRefusal": Spec(
        required=("refuses", "reason"),
        states=("suggested_state",),
        case_refs=("existing_case_ref",),
        checks=(_needs_code("existing_case_ref", "reason", _E.RefusalReason.DESCRIPTOR, "DUPLICATE_CASE"),),
    ),
    "Amendment": Spec(required=("amends", "reason", "replacement")),
    "Withdrawal": Spec(required=("withdraws", "reason")),
    "Reminder": Spec(required=("about", "level", "was_due")),
    "CaseClosure": Spec(required=("action", "outcome", "approval")),
}

# Lists whose UNSPECIFIED entries mean something (positional): exempt from the generic rule.
POSITIONAL_LISTS = frozenset({"focalpoint.v1.IdentityVerificationReply.document_checks"})


def spec_of(descriptor: Descriptor) -> Spec:
    return RULES.get(descriptor.name, _EMPTY) if descriptor.file.package == "focalpoint.v1" else _EMPTY


_EMPTY = Spec()


# --- the table as text (docs/protocol.md §11.6) ---------------------------------------------------

_UNIT_RULE = "a directory institution id (e.g. ekka/athens)"
_DESCRIBE: tuple[tuple[str, str], ...] = (
    ("true", "must be true"),
    ("states", "ISO 3166-1 alpha-2, officially assigned"),
    ("subdivisions", "ISO 3166-2 subdivision (e.g. AL-11), its State part officially assigned; never finer"),
    ("languages", "BCP 47 tag, well formed and registered"),
    ("units", _UNIT_RULE),
    ("actors", "a local user id, never a name"),
    ("case_refs", "a link reference like GR-7KQ2M9XH4T-0, check character valid"),
    ("past", "not after the message's creation time"),
)


def field_rules(descriptor: Descriptor) -> dict[str, list[str]]:
    """Field name → the rules the table declares on it (joined checks under their ``field``)."""
    spec = spec_of(descriptor)
    rows: dict[str, list[str]] = {}
    for fd in descriptor.fields:
        rules: list[str] = []
        if fd.name in spec.required:
            if fd.is_repeated:
                rules.append("required: at least one")
            elif fd.enum_type is not None:
                rules.append("required (a code, not UNSPECIFIED)")
            else:
                rules.append("required")
        for attr, text in _DESCRIBE:
            if fd.name in getattr(spec, attr):
                rules.append(text)
        for name, kinds in spec.refers_to:
            if name == fd.name:
                rules.append("refers to a " + _or(kinds))
        if fd.GetOptions().deprecated:
            rules.append("deprecated: refused when set")
        if rules:
            rows[fd.name] = rules
    for check in spec.checks:
        if check.kinds:
            continue
        rows.setdefault(check.field or "(the whole part)", []).append(check.rule)
    return rows


def _table(rows: dict[str, list[str]]) -> list[str]:
    lines = ["| field | rules |", "|---|---|"]
    lines += [f"| `{name}` | {'; '.join(rules)} |" for name, rules in rows.items()]
    return lines


def kind_type(kind: str) -> Descriptor:
    """The message type of a kind, e.g. SocialInquiryRequest for social_inquiry_request."""
    descriptor = messages_pb2.Body.DESCRIPTOR.fields_by_name[kind].message_type
    assert descriptor is not None
    return descriptor


def _parts() -> list[Descriptor]:
    """The message types reachable from the kinds, other than the kinds themselves, in first-seen order."""
    kinds = {kind_type(k).full_name for k in KINDS}
    seen: dict[str, Descriptor] = {}
    todo = [messages_pb2.Body.DESCRIPTOR]
    while todo:
        d = todo.pop(0)
        for fd in d.fields:
            t = fd.message_type
            if t is not None and t.full_name not in seen and t.full_name != messages_pb2.Body.DESCRIPTOR.full_name:
                seen[t.full_name] = t
                todo.append(t)
    return [d for name, d in seen.items() if name not in kinds]


def rules_markdown() -> str:
    """The whole table as Markdown: the generic rules, the body, each kind, then the shared parts."""
    lines = ["Rules that follow from a field's type, wherever it appears:", ""]
    lines += [f"- {g}" for g in GENERIC]
    lines += ["", "**`Body`** (every kind):", ""]
    lines += _table(field_rules(messages_pb2.Body.DESCRIPTOR))
    for kind in KINDS:
        d = kind_type(kind)
        mark = " ●" if kind in PERSONAL_DATA_KINDS else ""
        lines += ["", f"**`{kind}`** (`{d.name}`){mark}:", ""]
        rows = field_rules(d)
        for check in RULES["Body"].checks:
            if kind in check.kinds:
                rows.setdefault(check.field, []).append(check.rule)
        lines += _table(rows) if rows else ["No rule beyond the generic ones and those of its parts."]
    lines += ["", "The parts, wherever they appear:"]
    for d in _parts():
        rows = field_rules(d)
        if rows:
            lines += ["", f"**`{d.name}`**:", "", *_table(rows)]
    return "\n".join(lines) + "\n"


def iter_required(descriptor: Descriptor) -> Iterator[str]:
    yield from spec_of(descriptor).required


def subdivision_problem(value: str) -> str | None:
    m = _SUBDIVISION.match(value)
    if m is None:
        return "expected an ISO 3166-2 subdivision code such as AL-11 (State code, hyphen, 1–3 letters or digits)"
    if problem := state_problem(m.group(1)):
        return f"its State part: {problem}"
    return None


def unit_problem(value: str) -> str | None:
    return None if _UNIT.match(value) else f"expected {_UNIT_RULE}: letters, digits, . _ - and / between parts"


def actor_problem(value: str) -> str | None:
    return None if ACTOR.match(value) else "expected a local user id (letters, digits, . _ @ -; at most 128)"


def case_ref_problem(value: str) -> str | None:
    return check_case_ref(value)
