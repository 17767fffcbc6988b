"""The case page's view-model without a node: every message kind renders in every language, free
text keeps its original beside a translation, codes, dates and times read in the page's locale,
overdue deadlines, a missed guardian deadline and a gate condition the agreement waives are said
in words, and what the node did not
serve (a body in a ROUTING view, the gate on the State of origin's side) is not made up."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from focalpoint.cases.clocks import Level
from focalpoint.console.app import Console
from focalpoint.console.case_view import LEVEL_LABELS, Field, Value, case_page, check_link_id, message_fields
from focalpoint.console.config import load_console_config
from focalpoint.console.i18n import Catalogs
from focalpoint.errors import NotFound
from focalpoint.exchange.rules import KINDS
from focalpoint.localnet.samples import sample_body
from focalpoint.v1 import codes_pb2, common_pb2, local_pb2, messages_pb2

CATALOGS = Catalogs(("en", "fr", "ar"), "en", "UTC")
DAY_MS = 86_400_000
AT_MS = 1_796_448_800_000


def values(fields: tuple[Field, ...]) -> list[Value]:
    out: list[Value] = []
    for f in fields:
        out += f.values
        for part in f.parts:
            out += values(part)
    return out


def labels(fields: tuple[Field, ...]) -> list[str]:
    out = []
    for f in fields:
        out.append(f.label.text)
        for part in f.parts:
            out += labels(part)
    return out


@pytest.mark.parametrize("tag", ["en", "fr", "ar"])
def test_every_kind_renders_with_every_entered_text_isolated(tag: str) -> None:
    lang = CATALOGS.page(tag)
    for kind in KINDS:
        body = sample_body(kind)
        shown = local_pb2.ShowCaseResponse(
            link=local_pb2.CaseSummary(case_ref="GR-X", partner_state="AL", our_side="IS", stage="ASSESSMENT"),
            timeline=[local_pb2.CaseTimelineEntry(kind=kind, direction="sent", at_ms=AT_MS, body=body)],
        )
        page = case_page(shown, local_pb2.CaseDeadlinesResponse(), lang)
        [row] = page.timeline
        assert row.kind.lang == "", kind  # every kind's label is translated
        shown_values = values(row.fields)
        assert shown_values, kind
        entered = {v.text for v in shown_values if v.entered}
        assert body.context.case_ref in entered, kind  # strings are the sender's: shown in <bdi>


def test_a_translation_is_marked_and_its_original_is_always_beside_it() -> None:
    text = common_pb2.LocalizedText(
        text="Found at the station",
        language="en",
        original_text="Gjetur në stacion",
        original_language="sq",
        translation_kind=codes_pb2.TRANSLATION_KIND_MACHINE,
    )
    message = messages_pb2.SocialInquiryRequest(circumstances=text)
    [field] = message_fields(message, CATALOGS.page("fr"))
    translated, original = field.values
    assert (translated.text, translated.lang, translated.note) == (
        "Found at the station",
        "en",
        "Traduction automatique, non vérifiée, en anglais",
    )
    assert (original.text, original.lang, original.note) == ("Gjetur në stacion", "sq", "Original, en albanais")
    assert translated.entered
    assert original.entered


def test_codes_dates_times_and_translated_labels() -> None:
    message = messages_pb2.SocialInquiryRequest(
        identification_status=messages_pb2.IDENTIFICATION_STATUS_PRESUMED_TRAFFICKED,
        identified_at_ms=AT_MS,
        response_due=common_pb2.Date(year=2026, month=12, day=7),
        do_not_contact_family=False,
        topics=[messages_pb2.INQUIRY_TOPIC_FAMILY_SITUATION, messages_pb2.INQUIRY_TOPIC_FAMILY_INVOLVEMENT],
    )
    fields = message_fields(message, CATALOGS.page("fr"))
    assert labels(fields) == [
        "Statut lors de l’identification",
        "Identifié le",
        "Points à examiner",
        "Réponse attendue le",
    ]
    assert all(f.label.lang == "" for f in fields)  # translated: in the page's language
    status, at, topics, due = fields
    assert status.values[0].text == "Presumed trafficked"
    assert "2026" in at.values[0].text
    # Codes whose names are also field labels share their translation ("Family situation").
    assert [v.text for v in topics.values] == ["Situation familiale", "Implication de la famille"]
    assert due.values[0].text == "7 décembre 2026"
    partial = message_fields(
        messages_pb2.SocialInquiryRequest(response_due=common_pb2.Date(year=2026)), CATALOGS.page("en")
    )
    assert partial[0].values[0].text == "2026"  # a partial date as written, never an error


def test_deadlines_overdue_and_guardian_breach_are_said_in_words() -> None:
    deadlines = local_pb2.CaseDeadlinesResponse(
        requests=[
            local_pb2.RequestDeadline(
                kind="social_inquiry_request",
                direction="we asked",
                urgency="URGENT",
                started_at_ms=AT_MS - 10 * DAY_MS,
                due_ms=AT_MS - 3 * DAY_MS,
                overdue_ms=3 * DAY_MS,
                levels_done=["REMINDER_L1"],
            ),
            local_pb2.RequestDeadline(kind="case_notification", direction="they asked", urgency="ROUTINE"),
        ],
        guardian=local_pb2.GuardianDeadline(identified_at_ms=AT_MS - 2 * DAY_MS, deadline_ms=AT_MS, breached=True),
    )
    shown = local_pb2.ShowCaseResponse(link=local_pb2.CaseSummary(our_side="IS", partner_state="AL"))
    page = case_page(shown, deadlines, CATALOGS.page("ar"))
    late, fresh = page.deadlines
    assert late.overdue == "3 أيام"
    assert [lvl.text for lvl in late.levels] == ["التذكير الأول للشريك"]
    assert (fresh.started, fresh.due, fresh.overdue) == ("", "", "")  # the clock has not started
    assert page.guardian is not None
    assert (page.guardian.breached, page.guardian.appointed) == (True, "")


def test_what_the_node_did_not_serve_is_not_shown() -> None:
    shown = local_pb2.ShowCaseResponse(
        link=local_pb2.CaseSummary(our_side="OS", partner_state="GR", stage="RECEIVED"),
        timeline=[local_pb2.CaseTimelineEntry(kind="case_notification", direction="received", at_ms=AT_MS)],
        view="ROUTING",
        side_states=["MISSING", "SOMETHING_NEW"],
    )
    page = case_page(shown, local_pb2.CaseDeadlinesResponse(), CATALOGS.page("en"))
    assert page.timeline[0].fields == ()
    assert (page.gate, page.gate_applies, page.guardian) == ((), False, None)
    assert page.view.text == "Routing only: no names, no content"
    assert [(s.text, s.lang) for s in page.side_states] == [("The child is missing", ""), ("SOMETHING_NEW", "")]


@given(st.text(max_size=300))
def test_a_link_id_from_the_address_is_checked_before_the_node_is_asked(text: str) -> None:
    try:
        assert check_link_id(text) == text
    except NotFound:
        return
    assert text.isascii()
    assert text.isalnum()
    assert 0 < len(text) <= 128


def test_a_condition_the_agreement_waives_is_said_to_be_waived_in_words(tmp_path: Path) -> None:
    """The gate row of a missing condition the node marks waived says "waived under the agreement"
    (translated), beside "missing"; a met condition is never shown as waived."""
    shown = local_pb2.ShowCaseResponse(
        link=local_pb2.CaseSummary(our_side="IS", partner_state="AL", stage="NEGOTIATION"),
        gate=[
            local_pb2.GateCheck(condition="G1_SOCIAL_INQUIRY", met=True),
            local_pb2.GateCheck(
                condition="G4_IDENTITY_NATIONALITY", met=False, reason="no identity verification reply", waived=True
            ),
            local_pb2.GateCheck(condition="G5_REINTEGRATION_PLAN", met=False, reason="no reintegration plan"),
        ],
        view="FULL",
    )
    page = case_page(shown, None, CATALOGS.page("en"))
    assert [(g.met, g.waived) for g in page.gate] == [(True, False), (False, True), (False, False)]
    config = tmp_path / "console.yaml"
    config.write_text("listen: {host: 127.0.0.1, port: 8443}\nnode: {local_api: '127.0.0.1:1'}\n", encoding="utf-8")
    console = Console(load_console_config(config))
    for tag, words in (("en", "waived under the agreement"), ("fr", "levée en vertu de l’accord")):
        request = Request(
            {
                "type": "http",
                "method": "GET",
                "path": "/cases/x",
                "query_string": b"",
                "scheme": "https",
                "server": ("console.test", 443),
                "headers": [(b"accept-language", tag.encode())],
            }
        )
        html = bytes(
            console.render(request, "case.html", case=case_page(shown, None, CATALOGS.page(tag))).body
        ).decode()
        items = re.findall(r"<li class=\"[^\"]*\">(.*?)</li>", html, flags=re.DOTALL)
        waived = [i for i in items if words in i]
        assert len(waived) == 1, tag
        assert 'class="missing waived"' in html


def test_every_ladder_level_is_said_in_words_the_due_tomorrow_one_too() -> None:
    """A level the node records and the console has no words for would show its code name."""
    assert {level.value for level in Level} <= set(LEVEL_LABELS)
    deadlines = local_pb2.CaseDeadlinesResponse(
        requests=[
            local_pb2.RequestDeadline(
                kind="social_inquiry_request",
                direction="they asked",
                urgency="ROUTINE",
                started_at_ms=AT_MS - 29 * DAY_MS,
                due_ms=AT_MS + DAY_MS,
                levels_done=["DUE_IN_24H", "REMIND_ASSIGNEE"],
            )
        ]
    )
    shown = local_pb2.ShowCaseResponse(link=local_pb2.CaseSummary(our_side="OS", partner_state="GR"))
    (row,) = case_page(shown, deadlines, CATALOGS.page("fr")).deadlines
    assert [lvl.text for lvl in row.levels] == [
        "Agent chargé du cas informé : échéance dans moins de 24 heures",
        "Rappel à l’agent chargé du cas",
    ]
