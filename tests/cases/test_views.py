"""Each role's view of a case holds only what its allow-list names, for any body of any kind."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from focalpoint.cases.events import IdentityReply
from focalpoint.cases.stages import Side
from focalpoint.cases.views import ALLOWED, ONLY_WHEN, nationality_answer, project, views_markdown
from focalpoint.localnet.samples import sample_body
from focalpoint.people.permissions import View
from focalpoint.v1 import codes_pb2, common_pb2, messages_pb2
from tests.support.story import Story

IS, OS = Side.IS, Side.OS
BODY = messages_pb2.Body.DESCRIPTOR
KINDS = tuple(f.name for f in BODY.oneofs_by_name["kind"].fields)
LOCALIZED = common_pb2.LocalizedText.DESCRIPTOR.full_name
PROJECTED = (View.REPATRIATION, View.ROUTING, View.METADATA)
MAX_DEPTH = 7  # Body → amendment → replacement → case_notification → child → age → Date, and deeper

# -- a generic body: every field of every kind, present or not, from the descriptors -------------

_INTS = {
    FieldDescriptor.CPPTYPE_INT32: st.integers(-(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_INT64: st.integers(-(2**63), 2**63 - 1),
    FieldDescriptor.CPPTYPE_UINT32: st.integers(0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_UINT64: st.integers(0, 2**64 - 1),
}


def _scalar(field: Any) -> st.SearchStrategy[Any]:  # a FieldDescriptor
    cpp = field.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        assert field.enum_type is not None
        # known codes, and a code from a newer list this one does not know
        return st.sampled_from([*field.enum_type.values_by_number, 99])
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return st.booleans()
    if cpp == FieldDescriptor.CPPTYPE_STRING:
        if field.type == FieldDescriptor.TYPE_BYTES:
            return st.binary(min_size=1, max_size=4)
        return st.text(min_size=1, max_size=6)
    if cpp in _INTS:
        return _INTS[cpp]
    return st.floats(allow_nan=False)


def _is_body(field: Any) -> bool:  # a FieldDescriptor (the C implementation's type differs)
    return field.message_type is not None and field.message_type.full_name == BODY.full_name


# Sub-messages are present more often than not, so bodies reach deep (depth 4 and beyond).
_PRESENT = st.sampled_from([True, True, True, False])


def _fill(draw: st.DrawFn, message: Message, depth: int) -> None:
    desc = message.DESCRIPTOR
    chosen = {o.name: draw(st.sampled_from([*o.fields, None])) for o in desc.oneofs}
    for field in desc.fields:
        oneof = field.containing_oneof
        if oneof is not None:
            if chosen[oneof.name] is not field:
                continue
        elif not draw(_PRESENT if field.message_type is not None else st.booleans()):
            continue
        if field.message_type is None:
            values = _scalar(field)
            if field.is_repeated:
                getattr(message, field.name).extend(draw(st.lists(values, max_size=3)))
            else:
                setattr(message, field.name, draw(values))
        elif depth < MAX_DEPTH:
            if field.is_repeated:
                for _ in range(draw(st.integers(0, 2))):
                    _fill(draw, getattr(message, field.name).add(), depth + 1)
            else:
                getattr(message, field.name).SetInParent()
                _fill(draw, getattr(message, field.name), depth + 1)


@st.composite
def bodies(draw: st.DrawFn) -> messages_pb2.Body:
    body = messages_pb2.Body()
    _fill(draw, body, 0)
    return body


def _full(message: Message, kind: str, depth: int = 0) -> Message:
    """Every field set to a value that is not its zero, every sub-message present (the oneof: ``kind``;
    an amendment's replacement: a full body of ``kind`` too), to ``MAX_DEPTH``."""
    for field in message.DESCRIPTOR.fields:
        if field.containing_oneof is not None and field.name != kind:
            continue
        if field.message_type is None:
            if field.cpp_type == FieldDescriptor.CPPTYPE_ENUM:
                assert field.enum_type is not None
                value: Any = min(n for n in field.enum_type.values_by_number if n)
            elif field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
                value = True
            elif field.type == FieldDescriptor.TYPE_BYTES:
                value = b"\x01"
            elif field.cpp_type == FieldDescriptor.CPPTYPE_STRING:
                value = "x"
            else:
                value = 1
            if field.is_repeated:
                getattr(message, field.name).extend([value, value])
            else:
                setattr(message, field.name, value)
        elif depth < MAX_DEPTH:
            inner = kind if _is_body(field) else ""
            if field.is_repeated:
                for _ in range(2):
                    _full(getattr(message, field.name).add(), inner, depth + 1)
            else:
                _full(getattr(message, field.name), inner, depth + 1)
    return message


def full_body(kind: str, replacement: str = "case_notification") -> messages_pb2.Body:
    body = messages_pb2.Body()
    _full(body, kind)
    if kind == "amendment":
        body.amendment.replacement.Clear()
        _full(body.amendment.replacement, replacement, 2)
    return body


FULL_BODIES = [
    *((k, full_body(k)) for k in KINDS if k != "amendment"),
    *((f"amendment of {r}", full_body("amendment", r)) for r in KINDS if r != "amendment"),
]


# -- reading what a projection holds -----------------------------------------------------------


def set_fields(message: Message, prefix: str = "") -> Iterator[tuple[str, FieldDescriptor, Any]]:
    """Every set field as (path from its Body's root, descriptor, value); a nested Body restarts the path."""
    for field, value in message.ListFields():
        path = prefix + field.name
        yield path, field, value
        if field.message_type is not None:
            sub = "" if _is_body(field) else path + "."
            for item in value if field.is_repeated else [value]:
                yield from set_fields(item, sub)


def _permitted(view: View, path: str) -> bool:
    allowed = ALLOWED[view]
    parts = path.split(".")
    ancestors = {".".join(parts[:i]) for i in range(1, len(parts))}
    return (
        path in allowed
        or bool(ancestors & allowed)  # inside a sub-message listed whole
        or any(a.startswith(path + ".") for a in allowed)  # a container of listed fields
        or path in KINDS  # the kind stays identifiable
    )


def _subset(small: Message, big: Message) -> None:
    """Each field set in ``small`` holds the same value in ``big`` (repeated items index by index)."""
    for field, value in small.ListFields():
        other = getattr(big, field.name)
        if field.message_type is None:
            assert list(value) == list(other) if field.is_repeated else value == other, field.full_name
        elif field.is_repeated:
            assert len(value) == len(other), field.full_name
            for a, b in zip(value, other, strict=True):
                _subset(a, b)
        else:
            assert big.HasField(field.name), field.full_name
            _subset(value, other)


# -- the lists themselves ----------------------------------------------------------------------


def _resolve(path: str) -> FieldDescriptor:
    message: Descriptor | None = BODY
    field: FieldDescriptor | None = None
    for part in path.split("."):
        assert message is not None, f"{path}: {part} is inside a scalar"
        assert part in message.fields_by_name, f"{path}: no field {part} in {message.name}"
        field = message.fields_by_name[part]
        message = field.message_type
    assert field is not None
    return field


@pytest.mark.parametrize("view", PROJECTED)
def test_every_listed_path_names_a_real_field(view: View) -> None:
    """A renamed or removed proto field breaks this test, not the view silently."""
    for path in ALLOWED[view]:
        _resolve(path)
    for path, (name, values) in ONLY_WHEN.get(view, {}).items():
        enum = _resolve(f"{path}.{name}").enum_type
        assert enum is not None
        assert values <= set(enum.values_by_number)


def test_no_deprecated_field_is_listed_in_any_view() -> None:
    """Superseded fields stay hidden: their replacements are what the views show."""
    for view in PROJECTED:
        assert not [p for p in ALLOWED[view] if _resolve(p).GetOptions().deprecated], view


def test_the_views_are_nested_routing_and_metadata_inside_repatriation_only_where_meant() -> None:
    """METADATA shows nothing ROUTING does not; neither shows a name or a date of birth."""
    assert ALLOWED[View.METADATA] <= ALLOWED[View.ROUTING]
    for view in (View.ROUTING, View.METADATA):
        assert not [p for p in ALLOWED[view] if p.rsplit(".", 1)[-1] in ("given_names", "family_name", "aliases")]
        assert not [p for p in ALLOWED[view] if "date_of_birth" in p]


# -- properties over random bodies of every kind -----------------------------------------------


@settings(max_examples=150, deadline=None)
@given(body=bodies())
def test_a_projection_holds_only_listed_fields_and_only_values_of_its_input(body: messages_pb2.Body) -> None:
    """For every view, each field set in the projection is listed (or contains listed fields, or is
    the kind) and holds the input's value; projecting again changes nothing."""
    kind = body.WhichOneof("kind")
    for view in PROJECTED:
        out = project(view, body)
        assert out.WhichOneof("kind") == kind
        assert out.code_list_version == body.code_list_version
        for path, _, _ in set_fields(out):
            assert _permitted(view, path), (view, path)
        _subset(out, body)
        assert project(view, out) == out


@settings(max_examples=100, deadline=None)
@given(body=bodies())
def test_full_is_an_exact_copy_and_a_new_message(body: messages_pb2.Body) -> None:
    out = project(View.FULL, body)
    assert out == body
    assert out is not body
    assert out.SerializeToString(deterministic=True) == body.SerializeToString(deterministic=True)


# The string fields routing may show: references, units, language tags, kinds and the list version.
ROUTING_STRINGS = {
    "code_list_version",
    "context.case_ref",
    "context.sender_unit",
    "context.recipient_unit",
    "context.response_language",
    *(f"{k}.child.languages" for k in KINDS),
    "social_inquiry_request.preferred_response_language",
    "social_inquiry_request.requesting_unit",
    "acknowledgement.assigned_unit",
    "acknowledgement.acknowledges.kind",
    "reminder.about.kind",
    "amendment.amends.kind",
}


@settings(max_examples=150, deadline=None)
@given(body=bodies())
def test_routing_and_repatriation_never_carry_free_text(body: messages_pb2.Body) -> None:
    """No LocalizedText in either view; routing's strings are only references, units and languages."""
    for view in (View.ROUTING, View.REPATRIATION):
        for path, field, _ in set_fields(project(view, body)):
            assert field.message_type is None or field.message_type.full_name != LOCALIZED, (view, path)
            if view is View.ROUTING and field.type == FieldDescriptor.TYPE_STRING:
                assert path in ROUTING_STRINGS, path


# What the consul never sees, whatever the body: the kinds that are all findings, and the fields
# that are about the family, the exploitation, the placement or the risk.
NEVER_KINDS = (
    "social_inquiry_request",
    "social_inquiry_report",
    "risk_assessment_request",
    "risk_assessment_report",
    "child_views_record",
    "reintegration_plan",
    "durable_solution_proposal",
    "durable_solution_counter_proposal",
    "clarification_request",
    "clarification_response",
)
NEVER_FIELDS = (
    "family_contacts",
    "circumstances",
    "exploitation_forms",
    "placement",
    "identification_status",
    "current_risk",
    "place_of_origin",
    "rationale",
    "details",
    "last_seen_region",
    "notes",
    "justification",
    "approval",
)


@settings(max_examples=150, deadline=None)
@given(body=bodies())
def test_the_consul_never_sees_the_inquiry_risks_views_family_or_circumstances(body: messages_pb2.Body) -> None:
    out = project(View.REPATRIATION, body)
    for kind in NEVER_KINDS:
        assert getattr(out, kind).ByteSize() == 0, kind
    for path, _, _ in set_fields(out):
        assert path.rsplit(".", 1)[-1] not in NEVER_FIELDS, path


@settings(max_examples=100, deadline=None)
@given(body=bodies())
def test_metadata_is_the_kind_and_the_reference_only(body: messages_pb2.Body) -> None:
    expected = messages_pb2.Body(code_list_version=body.code_list_version)
    if body.HasField("context"):
        expected.context.SetInParent()  # present, as in the input; empty unless it has a reference
        expected.context.case_ref = body.context.case_ref
    if (kind := body.WhichOneof("kind")) is not None:
        getattr(expected, kind).SetInParent()
    assert project(View.METADATA, body) == expected


@pytest.mark.parametrize("view", [View.AGGREGATE, View.NONE])
def test_no_case_content_is_projected_for_aggregate_or_none(view: View) -> None:
    with pytest.raises(ValueError, match=view.value):
        project(view, sample_body("case_notification"))


@pytest.mark.parametrize(("kind", "body"), FULL_BODIES, ids=[k for k, _ in FULL_BODIES])
def test_a_body_with_every_field_set_shows_exactly_its_listed_fields(kind: str, body: messages_pb2.Body) -> None:
    """Every field present: each view shows every listed leaf of the kind and nothing else, never
    free text, and the consul nothing on the never-list (the deterministic twin of the properties)."""
    for view in PROJECTED:
        out = project(view, body)
        paths = {p for p, _, _ in set_fields(out)}
        assert all(_permitted(view, p) for p in paths), (view, sorted(p for p in paths if not _permitted(view, p)))
        listed_here = {
            p
            for p in ALLOWED[view]
            if (p.partition(".")[0] in (body.WhichOneof("kind"), "context", "code_list_version"))
            and _resolve(p).message_type is None
        }
        assert listed_here <= paths, (view, sorted(listed_here - paths))
        _subset(out, body)
        assert project(view, out) == out
        for path, field, _ in set_fields(out):
            assert field.message_type is None or field.message_type.full_name != LOCALIZED, (view, path)
            if view is View.ROUTING and field.type == FieldDescriptor.TYPE_STRING:
                assert path in ROUTING_STRINGS, path
            if view is View.REPATRIATION:
                assert path.rsplit(".", 1)[-1] not in NEVER_FIELDS, path
        if view is View.REPATRIATION:
            for never in NEVER_KINDS:
                assert getattr(out, never).ByteSize() == 0, never


# -- concrete bodies -----------------------------------------------------------------------------


def test_the_consul_sees_who_the_child_is_but_not_the_circumstances_or_the_family() -> None:
    body = sample_body("case_notification")
    out = project(View.REPATRIATION, body)
    child = out.case_notification.child
    assert list(child.given_names) == list(body.case_notification.child.given_names)
    assert child.family_name == body.case_notification.child.family_name
    assert child.age.claimed_date_of_birth == body.case_notification.child.age.claimed_date_of_birth
    assert not child.HasField("place_of_origin")
    assert not out.case_notification.HasField("circumstances")
    assert not out.case_notification.exploitation_forms
    assert out.case_notification.placement == 0
    assert out.context.flags.family_contact == body.context.flags.family_contact
    assert out.context.flags.current_risk == 0
    assert not out.context.HasField("attestation")


def test_routing_of_a_notification_has_no_name_no_birth_date_and_no_text() -> None:
    body = sample_body("case_notification")
    out = project(View.ROUTING, body)
    assert out.context.case_ref == body.context.case_ref
    assert list(out.case_notification.requested) == list(body.case_notification.requested)
    assert list(out.case_notification.child.languages) == list(body.case_notification.child.languages)
    shown = str(out)
    for name in [*body.case_notification.child.given_names, body.case_notification.child.family_name]:
        assert name
        assert name not in shown
    assert not out.case_notification.child.HasField("age")
    assert not out.case_notification.child.HasField("documented_date_of_birth")


def test_the_consul_sees_the_whole_plan_but_its_notes() -> None:
    body = sample_body("repatriation_plan")
    body.repatriation_plan.notes.text = "meet at the usual place"
    out = project(View.REPATRIATION, body)
    expected = messages_pb2.RepatriationPlan()
    expected.CopyFrom(body.repatriation_plan)
    expected.ClearField("notes")
    assert out.repatriation_plan == expected


@pytest.mark.parametrize(
    ("alert", "shown"),
    [
        (codes_pb2.ALERT_TYPE_DETAINED, True),
        (codes_pb2.ALERT_TYPE_MISSING, True),
        (codes_pb2.ALERT_TYPE_REMOVAL_SCHEDULED, True),
        (codes_pb2.ALERT_TYPE_SERIOUS_DANGER, False),
        (codes_pb2.ALERT_TYPE_THREAT_TO_RELATIVES, False),
        (codes_pb2.ALERT_TYPE_TRAFFICKER_RELEASED, False),
        (99, False),  # a type from a newer code list: hidden until someone lists it
    ],
)
def test_the_consul_sees_alerts_that_bear_on_a_return_never_where_or_how(alert: int, shown: bool) -> None:
    body = sample_body("protection_alert")
    a = body.protection_alert
    a.type = codes_pb2.AlertType.ValueType(alert)
    a.since_ms, a.last_seen_region, a.consular_notification = 1_800_000_000_000, "GR-I", True
    a.details.text = "seen near the station"
    out = project(View.REPATRIATION, body)
    assert out.WhichOneof("kind") == "protection_alert"
    if shown:
        assert (out.protection_alert.type, out.protection_alert.since_ms) == (alert, a.since_ms)
        assert out.protection_alert.consular_notification
    else:
        assert out.protection_alert.ByteSize() == 0
    assert not out.protection_alert.last_seen_region
    assert not out.protection_alert.HasField("details")


def test_an_amendments_replacement_is_shown_by_the_same_view() -> None:
    """A corrected social inquiry report is as hidden from the consul as the report itself."""
    body = sample_body("amendment")
    body.amendment.replacement.CopyFrom(sample_body("social_inquiry_report"))
    out = project(View.REPATRIATION, body)
    assert out.amendment.replacement.WhichOneof("kind") == "social_inquiry_report"
    assert out.amendment.replacement.social_inquiry_report.ByteSize() == 0
    assert out.amendment.replacement.context.case_ref == body.amendment.replacement.context.case_ref
    assert project(View.METADATA, body).amendment.ByteSize() == 0


def test_a_field_this_version_does_not_know_is_hidden_from_every_view_but_full() -> None:
    """An unknown field from a newer sender's format is not listed, so no projection carries it."""
    body = sample_body("repatriation_plan")
    extra = messages_pb2.Body()
    extra.ParseFromString(body.SerializeToString() + b"\xa2\x06\x03new")  # field 100, bytes "new"
    assert b"new" in project(View.FULL, extra).SerializeToString()
    for view in PROJECTED:
        assert b"new" not in project(view, extra).SerializeToString()


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_keeps_its_kind_in_every_view(kind: str) -> None:
    body = sample_body(kind)
    for view in (View.FULL, *PROJECTED):
        assert project(view, body).WhichOneof("kind") == kind


def test_the_docs_list_every_allowed_path() -> None:
    text = views_markdown()
    for view in PROJECTED:
        assert f"### `{view.value}`" in text
        for path in ALLOWED[view]:
            head, _, rest = path.partition(".")
            assert f"`{head}`" in text
            assert not rest or f"`{rest}`" in text


# -- the State of origin's answer on nationality -----------------------------------------------


def _asked() -> tuple[Story, bytes]:
    s = Story()
    s.acknowledge(s.notify())
    return s, s.send(IS, "identity_verification_request").message_id


def test_no_answer_before_the_state_of_origin_replies() -> None:
    s, _ = _asked()
    assert nationality_answer(s.fold(IS)) == ""
    assert nationality_answer(s.fold(OS)) == ""


@pytest.mark.parametrize("answer", ["CONFIRMED", "PARTLY_CONFIRMED", "NOT_CONFIRMED", "UNABLE_TO_VERIFY"])
def test_the_answer_is_the_replys_code_on_both_sides(answer: str) -> None:
    s, asked = _asked()
    s.send(OS, "identity_verification_reply", in_reply_to=asked, evidence=IdentityReply(answer))
    assert nationality_answer(s.fold(IS)) == answer
    assert nationality_answer(s.fold(OS)) == answer


def test_the_latest_reply_counts_and_a_withdrawn_one_does_not() -> None:
    s, asked = _asked()
    s.send(OS, "identity_verification_reply", in_reply_to=asked, evidence=IdentityReply("PARTLY_CONFIRMED"))
    second = s.send(OS, "identity_verification_reply", in_reply_to=asked, evidence=IdentityReply("NOT_CONFIRMED"))
    assert nationality_answer(s.fold(IS)) == "NOT_CONFIRMED"
    s.send(OS, "withdrawal", refers_to=second.message_id)
    assert nationality_answer(s.fold(IS)) == "PARTLY_CONFIRMED"


def test_an_amended_reply_gives_the_amended_answer() -> None:
    s, asked = _asked()
    reply = s.send(OS, "identity_verification_reply", in_reply_to=asked, evidence=IdentityReply("CONFIRMED"))
    s.send(
        OS,
        "amendment",
        refers_to=reply.message_id,
        refers_sha256=reply.body_sha256,
        amended_kind="identity_verification_reply",
        replacement=type(reply.facts)(evidence=IdentityReply("NOT_CONFIRMED")),
    )
    assert nationality_answer(s.fold(IS)) == "NOT_CONFIRMED"


def test_a_reply_that_leaves_nationality_unanswered_is_no_answer() -> None:
    s, asked = _asked()
    s.send(OS, "identity_verification_reply", in_reply_to=asked, evidence=IdentityReply("UNSPECIFIED"))
    assert nationality_answer(s.fold(IS)) == ""
