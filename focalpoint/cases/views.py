"""Each role's view of a case, computed here so it can never carry a field its role may not see.

The door (``focalpoint.people.permissions.decide``) says which ``View`` a caller is served; this
module makes that view out of a message body. A view is an **allow-list** of field paths, never a
deny-list: a field added to the wire format later stays hidden from every view but ``FULL``
until someone lists it here (and the docs, generated from these lists, show it).

- ``FULL``: the body as it is (case officers of the owning unit; break-glass).
- ``REPATRIATION``: what a return needs, for the consular officer of the child's State: who the
  child is (names, dates of birth, age, sex, languages, documents), the nationality and its
  verification, the guardian's office, the agreed solution, the repatriation plan and how the
  return went, and the alerts that bear on a return. Never the social inquiry, family contacts,
  risk findings, the child's views, exploitation, circumstances, placement, the reintegration
  plan or a best-interests rationale, and no free text at all (the plan's notes included: they
  can hold anything, and the plan's coded fields say what the travel needs).
- ``ROUTING``: what a focal-point operator needs to triage: the kind, reference, units, urgency,
  requested actions, due dates and the languages the child speaks. No name, no date of birth, no
  free text, no flag but urgency. The format has no home-region field (the only ISO 3166-2
  field is where a missing child was last seen, which is not routing data).
- ``METADATA``: the kind and the reference, as the audit log holds them.

Decisions a reader may look for: the family-contact rule is shown to the consul (it is a
protective instruction: a consul must not contact the family against it); where a missing
child was last seen is not (a region is finer than a return needs and could reach the wrong
people); alerts of danger, threats to relatives or a trafficker's release are risk findings and
show only as their kind; approval records (who prepared and approved, local user ids) are the
sending State's internal four-eyes record and stay out of the consul's view; the code list
version is kept in every view (it is not case content, and the codes cannot be read without it).

``project`` walks a body generically with the protobuf descriptors, so one function covers every
kind, including an amendment's replacement body (projected by the same view, never copied
whole). ``nationality_answer`` reads the State of origin's answer on nationality from a folded
link (the consul rule of ``focalpoint.people.permissions``). ``views_markdown`` prints the lists
for docs/permissions.md.
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from focalpoint.cases.events import IdentityReply
from focalpoint.cases.stages import Side
from focalpoint.cases.state import LinkState
from focalpoint.people.permissions import View
from focalpoint.v1 import codes_pb2, messages_pb2

__all__ = ["ALLOWED", "ONLY_WHEN", "nationality_answer", "project", "views_markdown"]

_BODY = messages_pb2.Body.DESCRIPTOR


def _under(prefix: str, *fields: str) -> frozenset[str]:
    return frozenset(f"{prefix}.{f}" for f in fields)


def _ref(prefix: str) -> frozenset[str]:
    """An evidence reference: which message (its id, hash and kind), never its content."""
    return _under(prefix, "message_id", "body_sha256", "kind")


def _gate(prefix: str) -> frozenset[str]:
    """The return gate as evaluated, without the override's free-text justification or its approvers."""
    return _under(prefix, "met", "missing", "override.waived", "override.reason", "evaluated_at_ms")


# The child as a return needs them: identity, age, nationality, documents, languages. Not the
# place of origin (free text), nor the deprecated single assessed age and dispute flag.
_CHILD_FOR_RETURN = (
    "given_names",
    "family_name",
    "aliases",
    "sex",
    "documented_date_of_birth",
    "age.presumption",
    "age.claimed_date_of_birth",
    "age.assessed_min_years",
    "age.assessed_max_years",
    "age.age_out_on",
    "presumed_nationality",
    "nationality.claimed",
    "nationality.presumed",
    "nationality.verified",
    "nationality.stateless_risk",
    "documents.type",
    "documents.number",
    "documents.issuing_state",
    "documents.authenticity_doubted",
    "languages",
    "interpreter_needed",
)
_CHILD_LANGUAGES = ("languages", "interpreter_needed")
_KINDS_WITH_CHILD = ("case_notification", "identity_verification_request", "tracing_request")

_REPATRIATION: frozenset[str] = frozenset().union(
    {"code_list_version"},
    _under("context", "case_ref", "urgency", "sender_unit", "recipient_unit"),
    _under("context.flags", "family_contact", "missing", "detained", "removal_scheduled_on", "minority", "age_out_on"),
    *(_under(f"{kind}.child", *_CHILD_FOR_RETURN) for kind in _KINDS_WITH_CHILD),
    _under("case_notification", "guardian.appointed", "guardian.office", "removal_scheduled_on"),
    _under("guardian_appointment_notice", "guardian.appointed", "guardian.office"),
    _under("identity_verification_request", "topics", "response_due"),
    _under(
        "identity_verification_reply",
        "identity",
        "nationality",
        "registered_date_of_birth",
        "minority",
        "travel_document_can_be_issued",
        "document_checks",
        "suggested_state",
    ),
    _under("tracing_request", "response_due"),
    _under("acknowledgement", "kind", "assigned_unit", "expected_by"),
    _ref("acknowledgement.acknowledges"),
    _under("durable_solution_agreement", "solution.solution", "solution.solution_state"),
    _ref("repatriation_plan.supersedes"),
    _under(
        "repatriation_plan",
        "earliest_departure",
        "latest_departure",
        "mode",
        "arrival.type",
        "arrival.code",
        "escort.provider",
        "escort.escorts",
        "escort.same_sex_escort",
        "escort.medical_escort",
        "travel_document.kind",
        "travel_document.state",
        "travel_document.issuing_unit",
        "cost_bearer",
        "receiving_unit",
        "receiving_person",
        "no_detention_assurance",
        "reception_needs",
        "consular_presence",
    ),
    _ref("repatriation_plan_acceptance.accepts"),
    _gate("repatriation_plan_acceptance.gate"),
    _under("return_status_update", "status", "at_ms", "rescheduled_to", "disruption"),
    _gate("return_status_update.gate"),
    _under(
        "handover_confirmation",
        "handed_over_at_ms",
        "place.type",
        "place.code",
        "received_by_unit",
        "received_by_person",
        "condition",
        "issues",
    ),
    _under("follow_up_report", "occasion", "living"),
    _under("protection_alert", "type", "since_ms", "detention", "removal_on", "consular_notification"),
    _ref("amendment.amends"),
    _under("amendment", "reason", "replacement"),
    _ref("withdrawal.withdraws"),
    _ref("reminder.about"),
    _under("reminder", "level", "was_due"),
    _under("case_closure", "action", "effective_on"),
)

_ROUTING: frozenset[str] = frozenset().union(
    {"code_list_version"},
    _under("context", "case_ref", "urgency", "sender_unit", "recipient_unit", "response_language"),
    *(_under(f"{kind}.child", *_CHILD_LANGUAGES) for kind in ("social_inquiry_request", *_KINDS_WITH_CHILD)),
    _under("case_notification", "requested"),
    _under("social_inquiry_request", "urgency", "response_due", "preferred_response_language", "requesting_unit"),
    _under("identity_verification_request", "topics", "response_due"),
    _under("risk_assessment_request", "response_due"),
    _under("tracing_request", "response_due"),
    _under("acknowledgement", "kind", "assigned_unit", "expected_by", "acknowledges.message_id", "acknowledges.kind"),
    _under("reminder", "level", "was_due", "about.message_id", "about.kind"),
    _under("amendment", "amends.message_id", "amends.kind", "replacement"),
)

_METADATA: frozenset[str] = frozenset({"code_list_version", "context.case_ref"})

# The field paths (from the Body root) each view may show. A listed message field shows that
# whole sub-message, except a nested Body (an amendment's replacement), which is projected by the
# same view. Repeated fields are named without an index.
ALLOWED: dict[View, frozenset[str]] = {
    View.REPATRIATION: _REPATRIATION,
    View.ROUTING: _ROUTING,
    View.METADATA: _METADATA,
}

# Sub-messages a view shows only for some values of one of their fields (otherwise left empty):
# the consul sees the alerts that bear on a return, not those that are risk findings.
_RETURN_ALERTS = frozenset(
    {
        codes_pb2.ALERT_TYPE_MISSING,
        codes_pb2.ALERT_TYPE_FOUND,
        codes_pb2.ALERT_TYPE_DETAINED,
        codes_pb2.ALERT_TYPE_RELEASED,
        codes_pb2.ALERT_TYPE_REMOVAL_SCHEDULED,
        codes_pb2.ALERT_TYPE_REMOVAL_SUSPENDED,
    }
)
ONLY_WHEN: dict[View, dict[str, tuple[str, frozenset[int]]]] = {
    View.REPATRIATION: {"protection_alert": ("type", _RETURN_ALERTS)},
}


def _prefixes(paths: frozenset[str]) -> frozenset[str]:
    """Every proper ancestor of a listed path: the sub-messages a view walks into."""
    out: set[str] = set()
    for path in paths:
        parts = path.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return frozenset(out)


_WALK: dict[View, frozenset[str]] = {view: _prefixes(paths) for view, paths in ALLOWED.items()}


def project(view: View, body: messages_pb2.Body) -> messages_pb2.Body:
    """A new Body holding only what ``view`` may show of ``body``; its kind always identifiable.

    Raises ``ValueError`` for ``AGGREGATE`` and ``NONE``: no case content is projected for them.
    """
    out = messages_pb2.Body()
    if view is View.FULL:
        out.CopyFrom(body)
        return out
    if view not in ALLOWED:
        raise ValueError(f"no case content is projected for the {view.value} view")
    _project_body(view, body, out)
    return out


def _project_body(view: View, body: messages_pb2.Body, out: messages_pb2.Body) -> None:
    kind = body.WhichOneof("kind")
    if kind is not None:
        getattr(out, kind).SetInParent()
    _copy(view, body, out, "")


def _copy(view: View, src: Message, dst: Message, prefix: str) -> None:
    allowed, walk = ALLOWED[view], _WALK[view]
    for field, value in src.ListFields():
        path = prefix + field.name
        whole = path in allowed
        if not whole and path not in walk:
            continue
        if field.message_type is None:  # a scalar, an enum or a repeated list of them
            if whole:
                if field.is_repeated:
                    getattr(dst, field.name).extend(value)
                else:
                    setattr(dst, field.name, value)
            continue
        if field.message_type.full_name == _BODY.full_name:  # a nested body is projected, never copied whole
            if whole:
                if field.is_repeated:
                    for item in value:
                        _project_body(view, item, getattr(dst, field.name).add())
                else:
                    _project_body(view, value, getattr(dst, field.name))
            continue
        if field.is_repeated:
            if _is_map(field):
                if whole:
                    getattr(dst, field.name).MergeFrom(value)
                continue
            for item in value:
                target = getattr(dst, field.name).add()
                if whole:
                    target.CopyFrom(item)
                elif _shown(view, path, item):
                    _copy(view, item, target, path + ".")
            continue
        target = getattr(dst, field.name)
        if whole:
            target.CopyFrom(value)
        else:
            target.SetInParent()
            if _shown(view, path, value):
                _copy(view, value, target, path + ".")


def _is_map(field: FieldDescriptor) -> bool:
    message: Descriptor | None = field.message_type
    return message is not None and message.GetOptions().map_entry


def _shown(view: View, path: str, message: Message) -> bool:
    condition = ONLY_WHEN.get(view, {}).get(path)
    if condition is None:
        return True
    name, values = condition
    value = getattr(message, name)
    return isinstance(value, int) and value in values


def nationality_answer(state: LinkState) -> str:
    """The State of origin's latest answer on the child's nationality, as a Confirmation code name
    ("CONFIRMED", "PARTLY_CONFIRMED", "NOT_CONFIRMED", "UNABLE_TO_VERIFY"); "" while there is none.

    Read from the identity verification replies the fold keeps (amendments applied, withdrawn
    replies ignored); a reply that leaves nationality unanswered is no answer.
    """
    found = state.latest("identity_verification_reply", side=Side.OS)
    if found is None or not isinstance(found[1], IdentityReply):
        return ""
    answer = found[1].nationality
    return "" if answer in ("", "UNSPECIFIED") else answer


_WORDS = {
    View.FULL: "All case content, exactly as sent.",
    View.REPATRIATION: "What a return needs, for the consular officer of the child's State.",
    View.ROUTING: "What triage needs: no name, no date of birth, no free text.",
    View.METADATA: "The kind and the reference, as the audit log holds them.",
}


def views_markdown() -> str:
    """Per view, the field paths it shows, grouped by their first part (docs/permissions.md is
    generated from it)."""
    lines: list[str] = []
    for view in (View.FULL, View.REPATRIATION, View.ROUTING, View.METADATA):
        lines += [f"### `{view.value}`", ""]
        if view is View.FULL:
            lines += [_WORDS[view], ""]
            continue
        lines += [f"{_WORDS[view]} Besides these fields, the message's kind is kept.", ""]
        groups: dict[str, list[str]] = {}
        for path in sorted(ALLOWED[view]):
            head, _, rest = path.partition(".")
            groups.setdefault(head, []).append(rest)
        for head, rests in groups.items():
            shown = ", ".join(f"`{r}`" + _nested_note(f"{head}.{r}") for r in rests if r)
            lines.append(f"- `{head}`" + (f": {shown}" if shown else ""))
            if (condition := ONLY_WHEN.get(view, {}).get(head)) is not None:
                name, values = condition
                enum = _field(f"{head}.{name}").enum_type
                names = sorted(enum.values_by_number[v].name for v in values) if enum is not None else []
                lines.append(f"  (only when `{name}` is one of " + ", ".join(f"`{n}`" for n in names) + ")")
        lines.append("")
    return "\n".join(lines)


def _nested_note(path: str) -> str:
    message = _field(path).message_type
    return (
        " (a whole body, shown by this same view)"
        if message is not None and message.full_name == _BODY.full_name
        else ""
    )


def _field(path: str) -> FieldDescriptor:
    """The descriptor a dotted path from the Body root names; ``KeyError`` if it names none."""
    message: Descriptor | None = _BODY
    field: FieldDescriptor | None = None
    for part in path.split("."):
        if message is None:
            raise KeyError(path)
        field = message.fields_by_name[part]
        message = field.message_type
    if field is None:
        raise KeyError(path)
    return field
