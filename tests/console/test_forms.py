"""The message forms' pure core: for every kind, a valid body written into its form field by field
(only the fields the form shows) reads back as the same body, with what the console fills itself
(the case reference, who attested and when) and what the node records (approvals, the hash and
kind of a referenced message) left to them; an empty form of any kind names every problem with a
field the page shows or its nearest shown group; "Add another" adds exactly one entry."""

from __future__ import annotations

import pytest
from google.protobuf.message import Message

from focalpoint.console.forms import FormContext, Widget, build_form, check_posted, prefill, read_posted
from focalpoint.console.i18n import Catalogs
from focalpoint.exchange.rules import KINDS
from focalpoint.localnet.samples import sample_body
from focalpoint.v1 import messages_pb2

NOW = 1_800_000_000_000
REF = "GR-7KQ2M9XH4T-0"
LANG = Catalogs(("en", "fr", "ar"), "en", "UTC").page("en")
QUESTIONS = ("relatives_under_threat", "family_suspected", "could_reveal_whereabouts")


def shown_names(widgets: tuple[Widget, ...]) -> set[str]:
    out: set[str] = set()
    for w in widgets:
        if w.control not in ("group", "list"):
            out.add(w.name)
        out |= shown_names(w.parts)
    return out


def strip_node_fields(msg: Message) -> None:
    """Clear what the node records itself, at any depth."""
    for fd, value in list(msg.ListFields()):
        if fd.message_type is None:
            continue
        if fd.message_type.name == "ApprovalRecord":
            msg.ClearField(fd.name)
            continue
        for item in value if fd.is_repeated else [value]:
            if fd.message_type.name == "EvidenceRef":
                item.ClearField("body_sha256")
                item.ClearField("kind")
            else:
                strip_node_fields(item)


@pytest.mark.parametrize("kind", KINDS)
def test_a_valid_body_typed_into_its_form_reads_back_the_same(kind: str) -> None:
    sample = sample_body(kind, case_ref=REF, at_ms=NOW - 60_000)
    attestation = sample.context.attestation
    ctx = FormContext(REF, sample.code_list_version, user_id=attestation.attested_by, now_ms=attestation.attested_at_ms)
    values = prefill(sample)
    values.update({f"context.attestation.{q}": "no" for q in QUESTIONS})
    widgets, _ = build_form(kind, values, [], ctx, LANG)
    names = shown_names(widgets) | {f"context.attestation.{q}" for q in QUESTIONS}
    typed = {k: v for k, v in values.items() if k in names}
    body, problems = check_posted(kind, typed, ctx, now_ms=NOW)
    assert problems == []
    assert body is not None
    expected = messages_pb2.Body()
    expected.CopyFrom(sample)
    strip_node_fields(expected)
    got = messages_pb2.Body()
    got.CopyFrom(body)
    strip_node_fields(got)
    assert got == expected


@pytest.mark.parametrize("kind", KINDS)
def test_every_problem_of_an_empty_form_is_placed(kind: str) -> None:
    ctx = FormContext(REF, "2026.1", user_id="officer.1", now_ms=NOW)
    _, problems = check_posted(kind, {}, ctx, now_ms=NOW)
    assert problems
    _, summary = build_form(kind, {}, problems, ctx, LANG)
    assert len(summary) == len(problems)
    assert all(anchor.startswith("f-") for anchor, _ in summary)


def test_add_another_gives_one_more_entry_and_empty_entries_are_not_given() -> None:
    ctx = FormContext(REF, "2026.1", user_id="officer.1", now_ms=NOW)
    values = {"case_notification.child.given_names[0]": "Arta"}
    widgets, _ = build_form("case_notification", values, [], ctx, LANG, extra=("case_notification.child.given_names",))
    names = shown_names(widgets)
    assert {"case_notification.child.given_names[0]", "case_notification.child.given_names[1]"} <= names
    assert "case_notification.child.given_names[2]" not in names
    data = read_posted("case_notification", {**values, "case_notification.child.given_names[1]": ""}, ctx)
    assert data["case_notification"]["child"]["given_names"] == ["Arta"]
