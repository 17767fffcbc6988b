"""The case page against two real nodes (the partner's receipts start the deadlines' clocks),
through httpx's ASGI transport: an officer opens a case on which a notification and a social
inquiry request were sent and sees both messages in order with their content, the gate's missing
conditions and the inquiry's due date; another unit's officer is refused; an unknown link is not
found; French and Arabic render; a code reads as the signed code list labels it in the page's
language, or by its schema name when the node cannot give the list; the console logs no case
content. The worklist links each row to its case page."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from focalpoint.client import LocalClient
from focalpoint.console.app import create_app
from focalpoint.console.config import load_console_config
from focalpoint.console.i18n import LOCALE_DIR
from focalpoint.errors import TransportError
from focalpoint.localnet.people import People
from focalpoint.localnet.samples import sample_body
from focalpoint.node.ports import wall_clock_ms
from focalpoint.storage.base import DeliveryState
from tests.conftest import StartNode
from tests.console.test_pages import ORIGIN, assert_secure_headers, csrf_of, logged  # noqa: F401

GR, AL = "gr-ekka", "al-shss"
ATHENS, THESSALONIKI = "gr-ekka/athens", "gr-ekka/thessaloniki"
CONSOLE = Path(__file__).parents[2] / "focalpoint" / "console"


@dataclass
class Desk:
    people: People
    web: httpx.AsyncClient
    link_id: str
    case_ref: str
    theirs: str  # a link of another unit

    async def log_in(self, who: str = "officer.1") -> None:
        person = self.people.people[who]
        form = await self.web.get("/login")
        fields = {"csrf": csrf_of(form), "user_id": who, "password": person.password}
        answer = await self.web.post(
            # The enrolment and the fixture's own login spent this step's and the next step's codes.
            "/login",
            data={**fields, "code": person.recovery.pop()},
            headers={"sec-fetch-site": "same-origin"},
        )
        assert answer.status_code == 303


@pytest.fixture
async def desk(start_node: StartNode, tmp_path: Path) -> AsyncIterator[Desk]:
    gr = await start_node(GR)
    await start_node(AL)
    people = People(f"127.0.0.1:{gr.local_port}", gr.keyring.keys.local_api_token, unit=ATHENS, clock_ms=gr.clock_ms)
    try:
        officer = await people.client("officer.1")
        opened = await officer.open_case(AL, wall_clock_ms() - 3_600_000)
        for kind in ("case_notification", "social_inquiry_request"):
            body = sample_body(kind, case_ref=opened.case_ref, at_ms=wall_clock_ms() - 1000)
            sent = await officer.send_case(opened.link_id, body=body)
            state = await asyncio.wait_for(gr.delivery.wait_closed(sent.message_id), 20)
            assert state is DeliveryState.DELIVERED  # the partner's receipt starts the clock
        other = await people.client("officer.9", unit=THESSALONIKI)
        theirs = (await other.open_case(AL, wall_clock_ms())).link_id
        config_file = tmp_path / "console.yaml"
        config_file.write_text(
            f"listen: {{host: 127.0.0.1, port: 8443}}\nnode: {{local_api: '127.0.0.1:{gr.local_port}'}}\n",
            encoding="utf-8",
        )
        app = create_app(load_console_config(config_file))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN) as web:
            yield Desk(people, web, opened.link_id, opened.case_ref, theirs)
    finally:
        await people.close()


def section(page: str, heading_id: str) -> str:
    """The text of the page's section labelled by ``heading_id``."""
    match = re.search(rf'<section aria-labelledby="{heading_id}">(.*?)</section>', page, flags=re.DOTALL)
    assert match, heading_id
    return match.group(1)


async def test_the_officer_sees_the_case_its_messages_gate_and_deadlines(desk: Desk, logged: list[str]) -> None:  # noqa: F811
    await desk.log_in()
    worklist = await desk.web.get("/worklist")
    assert f'<a href="/cases/{desk.link_id}"><bdi>{desk.case_ref}</bdi></a>' in worklist.text

    page = await desk.web.get(f"/cases/{desk.link_id}")
    assert page.status_code == 200
    assert_secure_headers(page)
    text = page.text
    assert f"<h1>Case <bdi>{desk.case_ref}</bdi></h1>" in text
    summary = section(text, "summary-heading")
    assert "Albania" in summary
    assert "Assessment" in summary
    assert "Full case content" in summary

    timeline = section(text, "timeline-heading")
    assert re.findall(r"<h3>([^<]+)</h3>", timeline) == ["Case notification", "Social inquiry request"]
    assert timeline.count("Sent by us") == 2
    assert "Applied; stage after it: Notified" in timeline
    # The content, field by field, user-entered values isolated; the free text in its language.
    assert "<dt>Given names</dt>" in timeline
    assert "<dd><bdi>Arta</bdi></dd>" in timeline
    assert '<bdi lang="en">Found begging at a railway station' in timeline
    # A code reads as the signed code list labels it, its definition one click away.
    assert '<details class="code-meaning"><summary>Presumed victim of trafficking' in timeline
    assert "There are reasonable grounds to believe the child is a victim of trafficking" in timeline
    assert "<dt>Context</dt>" in timeline

    gate = section(text, "gate-heading")
    assert gate.count('class="missing"') == 5
    assert "<strong>Social inquiry report</strong> –\n    missing – no social inquiry report" in gate

    deadlines = section(text, "deadlines-heading")
    rows = re.findall(r'<th scope="row">([^<]+)</th>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>', deadlines)
    assert rows == [("Case notification", "We asked", "Routine"), ("Social inquiry request", "We asked", "Urgent")]
    inquiry = deadlines.split("Social inquiry request")[1]
    due = re.findall(r"<td>([^<]*\d{4}[^<]*)</td>", inquiry)
    assert len(due) == 2  # the clock's start (the receipt) and the due date, in the locale's format
    assert "Overdue" not in deadlines
    assert "Guardian deadline" in deadlines

    assert "No side state is in force." in section(text, "flags-heading")

    # The console's log names the route and status, never the link, the reference or the content.
    assert any('"case_page"' in line for line in logged)
    for line in logged:
        for secret in (desk.link_id, desk.case_ref, "Arta", "begging"):
            assert secret not in line, line


async def test_another_units_case_is_refused_and_an_unknown_one_not_found(desk: Desk) -> None:
    await desk.log_in()
    refused = await desk.web.get(f"/cases/{desk.theirs}")
    assert refused.status_code == 403
    assert_secure_headers(refused)
    assert "Not allowed" in refused.text
    for missing in ("0" * 32, "not-a-link-id", "x" * 200):
        answer = await desk.web.get(f"/cases/{missing}")
        assert answer.status_code == 404, missing
        assert "Page not found" in answer.text
    assert (await desk.web.get(f"/cases/{desk.link_id}")).status_code == 200


async def test_no_login_goes_to_the_login_page(desk: Desk) -> None:
    answer = await desk.web.get(f"/cases/{desk.link_id}")
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")


def _translated(lang: str, text: str) -> str:
    """``text`` as the console's catalog for ``lang`` has it (the kinds' names are shared by pages)."""
    with (CONSOLE / "locale" / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        message = read_po(f).get(text)
    assert message is not None, text
    assert message.string, text
    return str(message.string)


@pytest.mark.parametrize(
    ("lang", "direction", "words"),
    [
        ("fr", "ltr", ("Albanie", "manquante", "Urgent", "Victime présumée de traite")),
        ("ar", "rtl", ("ألبانيا", "ناقص", "عاجل", "ضحية مفترضة للاتجار")),
    ],
)
async def test_french_and_arabic(desk: Desk, lang: str, direction: str, words: tuple[str, ...]) -> None:
    await desk.log_in()
    await desk.web.get(f"/cases/{desk.link_id}?lang={lang}")
    page = await desk.web.get(f"/cases/{desk.link_id}")
    assert f'<html lang="{lang}" dir="{direction}">' in page.text
    kinds = (_translated(lang, "Case notification"), _translated(lang, "Social inquiry request"))
    for word in (*words, *kinds):
        assert html.escape(word, quote=False) in page.text or word in page.text, word
    assert f"<bdi>{desk.case_ref}</bdi>" in page.text


async def test_a_code_reads_as_the_code_list_labels_it_in_french(desk: Desk) -> None:
    await desk.log_in()
    await desk.web.get(f"/cases/{desk.link_id}?lang=fr")
    timeline = section((await desk.web.get(f"/cases/{desk.link_id}")).text, "timeline-heading")
    status = timeline.split("Victime présumée de traite", 1)
    assert len(status) == 2, "the French label of IDENTIFICATION_STATUS_PRESUMED_TRAFFICKED"
    assert status[0].endswith('<details class="code-meaning"><summary>')  # in French: no lang mark
    meaning = status[1].split("</details>", 1)[0]
    assert html.escape("Il existe des motifs raisonnables de croire", quote=False) in meaning
    assert "Ne pas confondre avec :" in meaning
    # The network's French labels are machine drafts so far: said discreetly.
    assert '<small class="draft-label">(libellé provisoire)</small>' in meaning


async def test_a_node_that_cannot_give_the_code_list_still_shows_the_page(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(self: LocalClient) -> object:
        raise TransportError("the node's local API is not reachable")

    monkeypatch.setattr(LocalClient, "code_list", unreachable)
    await desk.log_in()
    page = await desk.web.get(f"/cases/{desk.link_id}")
    assert page.status_code == 200
    timeline = section(page.text, "timeline-heading")
    assert "<dd>Presumed trafficked</dd>" in timeline  # the code's name in the schema, as before
    assert "code-meaning" not in timeline


def test_every_console_string_is_translated_in_french_and_arabic() -> None:
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    ids = set()
    for _, _, message, _, _ in extract_from_dir(CONSOLE, method_map, options, keywords={"N_": None, "_": None}):
        ids.add(message if isinstance(message, str) else message[0])
    for tag in ("fr", "ar"):
        with (LOCALE_DIR / tag / "LC_MESSAGES" / "messages.po").open("rb") as f:
            catalog = read_po(f, locale=tag)
        untranslated = sorted(i for i in ids if not getattr(catalog.get(i), "string", ""))
        assert untranslated == [], (tag, untranslated)
