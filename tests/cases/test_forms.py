"""The forms officials fill (focalpoint.cases.forms): generated from the descriptors, read back into a Body,
every problem at once with its path."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from focalpoint.cases.forms import ATTESTATION_QUESTIONS, KIND_SUMMARIES, form_of, parse_form, template
from focalpoint.exchange.body import InvalidBody
from focalpoint.exchange.rules import KINDS, RULES, kind_type
from focalpoint.localnet.samples import SAMPLE_AT_MS, case_ref_for, sample_body
from focalpoint.v1 import codes_pb2, messages_pb2

NOW = SAMPLE_AT_MS


def fill(skeleton: Any, values: Any, path: str = "") -> Any:
    """The template's skeleton with the values written in; every key written must be one the template offers."""
    if isinstance(skeleton, dict) and isinstance(values, dict):
        for key in values:
            assert key in skeleton, f"the template has no field {path}{key}"
        return {k: fill(skeleton[k], values[k], f"{path}{k}.") if k in values else v for k, v in skeleton.items()}
    if isinstance(skeleton, list) and isinstance(values, list):
        return [fill(skeleton[0], v, path) for v in values]
    return values  # an empty leaf of the template takes whatever is written there


def refused(data: dict[str, Any]) -> dict[str, str]:
    """The problems parse_form reports, as path → message."""
    with pytest.raises(InvalidBody) as caught:
        parse_form(data, now_ms=NOW)
    return {p.path: p.message for p in caught.value.problems}


@pytest.mark.parametrize("kind", KINDS)
def test_the_template_of_every_kind_is_yaml_naming_every_current_field(kind: str) -> None:
    """The form parses as YAML and offers each field of the kind that is not deprecated (and only those)."""
    skeleton = yaml.safe_load(template(kind))
    assert set(skeleton) == {"code_list_version", "context", kind}
    offered = set(skeleton[kind])
    current = {f.name for f in kind_type(kind).fields if not f.GetOptions().deprecated}
    assert offered == current
    assert KIND_SUMMARIES[kind] in template(kind)


def test_the_template_lists_codes_by_short_name_and_marks_required_fields() -> None:
    """Codes appear without their prefix, UNSPECIFIED and deprecated codes never; required fields say so."""
    text = template("case_notification")
    assert "IDENTIFICATION_STATUS_" not in text
    assert "Codes: PRESUMED_TRAFFICKED | SEPARATED |" in text
    assert "| FORCED_MARRIAGE |" in text
    assert "ADOPTION_OR_MARRIAGE" not in text
    assert "UNSPECIFIED |" not in text
    assert "# identified_by: code; required (a code, not UNSPECIFIED)" in text
    assert "age_disputed" not in text
    assert "assessed_age_years" not in text
    for key, question in ATTESTATION_QUESTIONS.items():
        assert f"# {key}: {question}" in text


@pytest.mark.parametrize("kind", KINDS)
def test_an_unfilled_template_reports_what_is_missing_and_nothing_it_cannot_read(kind: str) -> None:
    """Every key of the template is one the parser knows: only rule problems (required fields) come back."""
    problems = refused(yaml.safe_load(template(kind)))
    assert "context.case_ref" in problems
    assert all("not a field here" not in m for m in problems.values()), problems


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    n=st.integers(0, 32**10 - 1),
    state=st.sampled_from(["GR", "AL", "IT"]),
    at_ms=st.integers(min_value=10**12, max_value=4 * 10**12),
)
def test_the_template_filled_with_the_samples_values_parses_back_to_the_sample(
    kind: str, n: int, state: str, at_ms: int
) -> None:
    """Fill template(kind) with a sample body's values (form_of) and parse_form gives that exact body."""
    sample = sample_body(kind, case_ref=case_ref_for(n, state), at_ms=at_ms)
    filled = fill(yaml.safe_load(template(kind)), form_of(sample))
    assert parse_form(filled, now_ms=at_ms) == sample


def _first_required(kind: str) -> str:
    return RULES[kind_type(kind).name].required[0]


@pytest.mark.parametrize("kind", KINDS)
def test_a_form_with_several_mistakes_gets_all_of_them_reported_with_their_paths(kind: str) -> None:
    """An unknown key, a wrong code, an impossible date, a time without offset and a missing field: one answer."""
    form = form_of(sample_body(kind))
    misspelt = next(iter(form[kind]))
    form[kind][misspelt + "s"] = form[kind].pop(misspelt)
    required = _first_required(kind)
    form[kind].pop(required, None)
    form["context"]["urgency"] = "URGNT"
    form["context"]["flags"]["age_out_on"] = "2030-02-30"
    form["context"]["attestation"]["attested_at_ms"] = "2026-11-20T09:30:00"
    problems = refused(form)
    assert f"did you mean {misspelt}?" in problems[f"{kind}.{misspelt}s"]
    assert "did you mean URGENT?" in problems["context.urgency"]
    assert "calendar date" in problems["context.flags.age_out_on"]
    assert "UTC offset" in problems["context.attestation.attested_at_ms"]
    if required != misspelt:
        assert f"{kind}.{required}" in problems
    # A field that could not be read is not reported a second time as missing.
    assert "required" not in problems["context.attestation.attested_at_ms"]


def test_codes_dates_times_and_ids_are_read_in_their_written_forms() -> None:
    """Full code names, YAML dates, times with any offset and hex ids read as the same body."""
    sample = sample_body("reminder")
    form = form_of(sample)
    form["reminder"]["level"] = "ESCALATION_LEVEL_L1_OFFICER"
    form["reminder"]["was_due"] = dt.date(2026, 11, 30)
    at = sample.context.attestation.attested_at_ms
    moment = dt.datetime.fromtimestamp(at / 1000, dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=2)))
    form["context"]["attestation"]["attested_at_ms"] = moment.isoformat()
    form["reminder"]["about"]["message_id"] = sample.reminder.about.message_id.hex().upper()
    assert parse_form(form, now_ms=NOW) == sample


@pytest.mark.parametrize(
    ("where", "value", "says"),
    [
        (("reminder", "about", "message_id"), "not hex", "hex digits"),
        (("reminder", "level"), True, "not a code"),
        (("reminder", "was_due"), "30/11/2026", "YYYY-MM-DD"),
        (("context", "flags", "missing"), "yes", "true or false"),
        (("context", "attestation", "attested_at_ms"), "yesterday", "ISO 8601"),
        (("reminder", "about"), "a message", "EvidenceRef block"),
        (("context", "recipient_unit"), ["al-shss"], "must be text"),
    ],
)
def test_a_value_of_the_wrong_form_is_named_at_its_path(where: tuple[str, ...], value: object, says: str) -> None:
    """Each wrong form of value is reported at its field path with what was expected."""
    form = form_of(sample_body("reminder"))
    target = form
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    problems = refused(form)
    assert says in problems[".".join(where)], problems


def test_a_yes_to_an_attestation_question_needs_a_supervisors_review() -> None:
    """Any question answered true requires basis SUPERVISOR_REVIEW; with it the form is valid."""
    form = form_of(sample_body("follow_up_report"))
    form["context"]["attestation"]["could_reveal_whereabouts"] = True
    assert "SUPERVISOR_REVIEW" in refused(form)["context.attestation.basis"]
    form["context"]["attestation"]["basis"] = "SUPERVISOR_REVIEW"
    body = parse_form(form, now_ms=NOW)
    assert body.context.attestation.basis == codes_pb2.ATTESTATION_BASIS_SUPERVISOR_REVIEW


def test_a_form_holds_one_kind() -> None:
    """Two kinds in one form is a problem at the form's root."""
    form = form_of(sample_body("reminder"))
    form["withdrawal"] = form_of(sample_body("withdrawal"))["withdrawal"]
    assert "one kind" in refused(form)[""]


def test_an_amendment_carries_a_whole_form_of_the_amended_kind() -> None:
    """The replacement is read as a body, and its problems carry the amendment.replacement. prefix."""
    form = form_of(sample_body("amendment"))
    assert parse_form(form, now_ms=NOW) == sample_body("amendment")
    form["amendment"]["replacement"]["case_notification"]["identified_by"] = "POLISE"
    problems = refused(form)
    assert "did you mean POLICE?" in problems["amendment.replacement.case_notification.identified_by"]


def test_deprecated_fields_are_read_and_then_refused_by_the_rules() -> None:
    """An older field still parses (it is readable), and validation reports it at its path."""
    form = form_of(sample_body("social_inquiry_request"))
    form["social_inquiry_request"]["do_not_contact_family"] = True
    assert "deprecated" in refused(form)["social_inquiry_request.do_not_contact_family"]
    assert messages_pb2.SocialInquiryRequest.DESCRIPTOR.fields_by_name["do_not_contact_family"].GetOptions().deprecated
