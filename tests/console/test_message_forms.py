"""Structured message forms against two real nodes, through httpx's ASGI transport, the way a
browser without JavaScript uses them: the officer reads the form's own fields from the page and
posts them back. An incomplete form shows every problem at once beside its field and queues
nothing; a complete notification and social-inquiry request (filled field by field from valid
samples) are checked, signed and delivered; "Add another" adds an entry; a withdrawal of the
opening message waits for a second officer, who reads it and approves it; the preparer cannot;
an amendment starts from the whole original; the node's defaults (agreement, units, code list)
fill the context; French labels render; the console logs no content."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from focalpoint.console.app import create_app
from focalpoint.console.config import load_console_config
from focalpoint.console.forms import prefill
from focalpoint.localnet.people import People
from focalpoint.localnet.samples import sample_body
from focalpoint.node.ports import wall_clock_ms
from focalpoint.storage.base import DeliveryState
from tests.conftest import StartNode
from tests.console.test_pages import ORIGIN, logged  # noqa: F401

GR, AL = "gr-ekka", "al-shss"
ATHENS = "gr-ekka/athens"
SAME_SITE = {"sec-fetch-site": "same-origin"}


def csrf_of(page: httpx.Response) -> str:
    """The page's form token (the logout form and the page's own form carry the same one)."""
    tokens = set(re.findall(r'name="csrf" value="([0-9a-f]{64})"', page.text))
    assert len(tokens) == 1
    return str(tokens.pop())


class _Fields(HTMLParser):
    """The controls of the page's message form: name -> value as the page fills it."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.names: list[str] = []
        self._select: str | None = None
        self._textarea: str | None = None
        self.in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and "message-form" in a.get("class", ""):
            self.in_form = True
        if not self.in_form:
            return
        name = a.get("name", "")
        if tag == "input" and name and a.get("type") not in ("hidden", "submit"):
            if name not in self.names:
                self.names.append(name)
            if a.get("type") in ("checkbox", "radio"):
                if "checked" in a:
                    self.values[name] = a.get("value", "")
            elif a.get("value"):
                self.values[name] = a["value"]
        elif tag == "select" and name:
            self.names.append(name)
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self.names.append(name)
            self._textarea = name

    def handle_data(self, data: str) -> None:
        if self._textarea and data.strip():
            self.values[self._textarea] = data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self.in_form = False


def fields_of(page: str) -> _Fields:
    parser = _Fields()
    parser.feed(page)
    return parser


@dataclass
class Desk:
    people: People
    web: httpx.AsyncClient
    link_id: str
    case_ref: str
    node: object

    async def log_in(self, who: str) -> None:
        person = self.people.people[who]
        form = await self.web.get("/login")
        fields = {"csrf": csrf_of(form), "user_id": who, "password": person.password, "code": person.recovery.pop()}
        answer = await self.web.post("/login", data=fields, headers=SAME_SITE)
        assert answer.status_code == 303

    async def fill(self, kind: str, query: str = "", **answers: str) -> tuple[str, dict[str, str]]:
        """The form of ``kind`` as a browser gets it, completed from a valid sample of that kind
        wherever the page left a field empty; the attestation questions answered ``no``."""
        page = await self.web.get(f"/cases/{self.link_id}/messages/{kind}{query}")
        assert page.status_code == 200, page.text
        found = fields_of(page.text)
        sample = prefill(sample_body(kind, case_ref=self.case_ref, at_ms=wall_clock_ms() - 60_000))
        data = {"csrf": csrf_of(page)}
        for name in found.names:
            value = found.values.get(name) or sample.get(name, "")
            if name.startswith("context.attestation.") and name.rsplit(".", 1)[1] in (
                "relatives_under_threat",
                "family_suspected",
                "could_reveal_whereabouts",
            ):
                value = "no"
            if value:
                data[name] = value
        data.update(answers)
        return page.text, data

    async def timeline_kinds(self) -> list[str]:
        page = await self.web.get(f"/cases/{self.link_id}")
        match = re.search(r'<section aria-labelledby="timeline-heading">(.*?)</section>', page.text, re.DOTALL)
        assert match
        return re.findall(r"<h3>([^<]+)</h3>", match.group(1))


@pytest.fixture
async def desk(start_node: StartNode, tmp_path: Path) -> AsyncIterator[Desk]:
    gr = await start_node(GR)
    await start_node(AL)
    people = People(f"127.0.0.1:{gr.local_port}", gr.keyring.keys.local_api_token, unit=ATHENS, clock_ms=gr.clock_ms)
    try:
        officer = await people.client("officer.1")
        await people.client("officer.2")
        opened = await officer.open_case(AL, wall_clock_ms() - 3_600_000)
        config_file = tmp_path / "console.yaml"
        config_file.write_text(
            f"listen: {{host: 127.0.0.1, port: 8443}}\nnode: {{local_api: '127.0.0.1:{gr.local_port}'}}\n",
            encoding="utf-8",
        )
        app = create_app(load_console_config(config_file))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN) as web:
            yield Desk(people, web, opened.link_id, opened.case_ref, gr)
    finally:
        await people.close()


async def test_an_incomplete_form_shows_every_problem_beside_its_field_and_sends_nothing(
    desk: Desk,
    logged: list[str],  # noqa: F811
) -> None:
    await desk.log_in("officer.1")
    chooser = await desk.web.get(f"/cases/{desk.link_id}/messages")
    assert chooser.status_code == 200
    assert f'href="/cases/{desk.link_id}/messages/case_notification"' in chooser.text
    assert "messages/social_inquiry_report" not in chooser.text  # the State of origin's to send

    form = await desk.web.get(f"/cases/{desk.link_id}/messages/case_notification")
    page = form.text
    # The node's defaults fill the context: the agreement in force and the officer's unit.
    found = fields_of(page)
    assert found.values["context.agreement_id"]
    assert found.values["context.sender_unit"] == ATHENS
    assert "context.case_ref" not in found.names
    assert "context.attestation.attested_by" not in found.names
    assert "novalidate" in page  # the browser lets every problem reach the server at once

    data = {"csrf": csrf_of(form), "case_notification.child.given_names[0]": "Arta"}
    refused = await desk.web.post(f"/cases/{desk.link_id}/messages/case_notification", data=data, headers=SAME_SITE)
    assert refused.status_code == 400
    text = refused.text
    count = int(re.search(r"The form has (\d+) problems", text).group(1))  # type: ignore[union-attr]
    assert count >= 8
    for name in (
        "context.attestation.relatives_under_threat",
        "context.attestation.basis",
        "context.urgency",
        "case_notification.identification_status",
        "case_notification.exploitation_forms",
    ):
        widget_id = "f-" + re.sub(r"[^a-z0-9_-]", "-", name)
        assert f'id="{widget_id}-err"' in text, name
        assert f'href="#{widget_id}"' in text, name
    assert "Required: choose one." in text  # the rules' problems, said for a person
    assert 'value="Arta"' in text  # what was typed is kept
    assert await desk.timeline_kinds() == []
    assert not any("Arta" in line for line in logged)


async def test_complete_forms_are_sent_and_a_reply_and_a_list_entry_work(desk: Desk) -> None:
    await desk.log_in("officer.1")
    _, data = await desk.fill("case_notification")
    sent = await desk.web.post(f"/cases/{desk.link_id}/messages/case_notification", data=data, headers=SAME_SITE)
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"] == f"/cases/{desk.link_id}?done=sent"
    done = await desk.web.get(sent.headers["location"])
    assert "queued for the partner" in done.text
    assert await desk.timeline_kinds() == ["Case notification"]

    # "Add another" gives one more entry, checks nothing.
    _, data = await desk.fill("social_inquiry_request")
    more = await desk.web.post(
        f"/cases/{desk.link_id}/messages/social_inquiry_request",
        data={**data, "_add": "social_inquiry_request.topics"},
        headers=SAME_SITE,
    )
    assert more.status_code == 200
    topics = [n for n in fields_of(more.text).names if re.fullmatch(r"social_inquiry_request\.topics\[\d+\]", n)]
    assert len(topics) == len([k for k in data if re.fullmatch(r"social_inquiry_request\.topics\[\d+\]", k)]) + 1
    assert "The form has" not in more.text

    sent = await desk.web.post(f"/cases/{desk.link_id}/messages/social_inquiry_request", data=data, headers=SAME_SITE)
    assert sent.status_code == 303, re.findall(r'class="field-error"[^>]*>(.*?)</div>', sent.text)
    assert await desk.timeline_kinds() == ["Case notification", "Social inquiry request"]


async def test_a_withdrawal_of_the_opening_waits_for_a_second_officer_who_reads_and_approves_it(desk: Desk) -> None:
    await desk.log_in("officer.1")
    _, data = await desk.fill("case_notification")
    await desk.web.post(f"/cases/{desk.link_id}/messages/case_notification", data=data, headers=SAME_SITE)
    case = await desk.web.get(f"/cases/{desk.link_id}")
    [ref] = re.findall(r"messages/withdrawal\?ref=([0-9a-f]{32})", case.text)

    # The amendment form starts from the whole original.
    amend = await desk.web.get(f"/cases/{desk.link_id}/messages/amendment?ref={ref}")
    assert fields_of(amend.text).values["amendment.amends.message_id"] == ref
    assert fields_of(amend.text).values["amendment.replacement.case_notification.child.given_names[0]"] == "Arta"

    _, data = await desk.fill("withdrawal", f"?ref={ref}")
    assert data["withdrawal.withdraws.message_id"] == ref
    drafted = await desk.web.post(f"/cases/{desk.link_id}/messages/withdrawal", data=data, headers=SAME_SITE)
    assert drafted.status_code == 303, drafted.text
    assert drafted.headers["location"].endswith("?done=drafted")
    own = await desk.web.get(f"/cases/{desk.link_id}")
    assert "drafts-heading" in own.text, own.text[own.text.find("<main") :][:3000]
    assert "/approve" not in own.text  # the preparer is offered no approval

    await desk.web.post("/logout", data={"csrf": csrf_of(own)}, headers=SAME_SITE)
    await desk.log_in("officer.2")
    waiting = await desk.web.get("/approvals")
    assert f'href="/cases/{desk.link_id}#drafts-heading"' in waiting.text
    case = await desk.web.get(f"/cases/{desk.link_id}")
    assert "Read the message before approving it" in case.text
    [action] = re.findall(r'action="(/cases/[^"]+/approve)"', case.text)
    approved = await desk.web.post(action, data={"csrf": csrf_of(case)}, headers=SAME_SITE)
    assert approved.status_code == 303
    assert await desk.timeline_kinds() == ["Case notification", "Withdrawal"]


async def test_the_preparer_approving_their_own_draft_is_told_why(desk: Desk) -> None:
    await desk.log_in("officer.1")
    _, data = await desk.fill("case_notification")
    await desk.web.post(f"/cases/{desk.link_id}/messages/case_notification", data=data, headers=SAME_SITE)
    case = await desk.web.get(f"/cases/{desk.link_id}")
    [ref] = re.findall(r"messages/withdrawal\?ref=([0-9a-f]{32})", case.text)
    _, data = await desk.fill("withdrawal", f"?ref={ref}")
    await desk.web.post(f"/cases/{desk.link_id}/messages/withdrawal", data=data, headers=SAME_SITE)
    drafts = await (await desk.people.client("officer.1")).list_drafts(desk.link_id)
    [draft] = drafts.drafts
    refused = await desk.web.post(
        f"/cases/{desk.link_id}/drafts/{draft.draft_id}/approve", data={"csrf": csrf_of(case)}, headers=SAME_SITE
    )
    assert refused.status_code == 409
    assert "another officer must approve it" in refused.text, re.findall(
        r"class=\"failure\"[^>]*>(.*?)</p>", refused.text
    )


async def test_the_form_reads_in_french_and_refuses_a_forged_post(desk: Desk) -> None:
    await desk.log_in("officer.1")
    page = await desk.web.get(f"/cases/{desk.link_id}/messages/case_notification?lang=fr", follow_redirects=True)
    assert page.status_code == 200
    assert '<html lang="fr"' in page.text
    forged = await desk.web.post(
        f"/cases/{desk.link_id}/messages/case_notification", data={"csrf": "x"}, headers=SAME_SITE
    )
    assert forged.status_code == 403
    unknown = await desk.web.get(f"/cases/{desk.link_id}/messages/no_such_kind")
    assert unknown.status_code == 404


async def test_delivery_closes_for_a_form_sent_message(desk: Desk) -> None:
    await desk.log_in("officer.1")
    _, data = await desk.fill("case_notification")
    await desk.web.post(f"/cases/{desk.link_id}/messages/case_notification", data=data, headers=SAME_SITE)
    outbox = await (await desk.people.client("officer.1")).list_outbox()
    [entry] = outbox.entries
    node: object = desk.node
    state = await asyncio.wait_for(node.delivery.wait_closed(entry.message_id), 20)  # type: ignore[attr-defined]
    assert state is DeliveryState.DELIVERED
