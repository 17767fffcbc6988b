"""The consular officer's pages against three real nodes over their real gRPC, through httpx's ASGI
transport (no browser). An Albanian consul posted for Greece, with an account at Albania's node,
lands on their nationals' list; it holds the case of the Albanian child Greece identified (taken to
the return under way) and not the case of a Greek child Albania identified. The case page shows
the REPATRIATION view and says so: the plan, travel document and escort are there, and no value
the officer's FULL page shows from a field outside that view (the social inquiry, the child's
views, any free text) is anywhere on the consul's page; the Greek child's case is the 403 page.
When Albania answers that the child's nationality is not confirmed, the case leaves the list and
its page is refused. French and Arabic render; the console logs no reference."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from focalpoint.cases.views import project
from focalpoint.console.app import create_app
from focalpoint.console.case_view import case_page, serves_deadlines
from focalpoint.console.config import load_console_config
from focalpoint.console.consul import THIS_STATE, identifying_state, national_rows
from focalpoint.localnet.people import People
from focalpoint.localnet.samples import sample_body
from focalpoint.people.permissions import View
from focalpoint.server.node import Node
from focalpoint.v1 import local_pb2, messages_pb2
from tests.cases.test_views import _permitted, set_fields
from tests.console.test_case_page import _translated, section
from tests.console.test_case_view import CATALOGS
from tests.console.test_pages import ORIGIN, assert_secure_headers, csrf_of, logged  # noqa: F401
from tests.server.test_scenarios import _acknowledged
from tests.server.test_views_served import _consul, _to_return
from tests.server.test_views_served import officials as officials  # the fixture
from tests.support.scenario import AL, GR, Officials

SAME = {"sec-fetch-site": "same-origin"}


@asynccontextmanager
async def console_at(node: Node, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    config_file = tmp_path_factory.mktemp("console") / "console.yaml"
    config_file.write_text(
        f"listen: {{host: 127.0.0.1, port: 8443}}\nnode: {{local_api: '127.0.0.1:{node.local_port}'}}\n",
        encoding="utf-8",
    )
    transport = httpx.ASGITransport(app=create_app(load_console_config(config_file)))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as web:
        yield web


async def log_in(web: httpx.AsyncClient, people: People, who: str) -> None:
    """``who`` logs in through the console's form with a recovery code (the fixture spent the TOTP steps)."""
    person = people.people[who]
    form = await web.get("/login")
    fields = {"csrf": csrf_of(form), "user_id": who, "password": person.password, "code": person.recovery.pop()}
    answer = await web.post("/login", data=fields, headers=SAME)
    assert answer.status_code == 303, answer.text


def listed_refs(page: httpx.Response) -> list[str]:
    return re.findall(r'<a href="/cases/[0-9a-zA-Z]+"><bdi>([^<]+)</bdi></a>', page.text)


def outside_the_view(full: local_pb2.ShowCaseResponse) -> set[str]:
    """Every text value the FULL timeline holds in a field outside the REPATRIATION view (and in no
    field inside it), long enough not to occur on a page by chance."""
    outside: set[str] = set()
    inside: set[str] = set()
    for entry in full.timeline:
        for path, _, value in set_fields(entry.body):
            if isinstance(value, str) and len(value) >= 6:
                (inside if _permitted(View.REPATRIATION, path) else outside).add(value)
    return outside - inside


async def test_the_consul_follows_their_nationals_case_in_the_repatriation_view(
    officials: Officials,
    tmp_path_factory: pytest.TempPathFactory,
    logged: list[str],  # noqa: F811
) -> None:
    o = officials
    ref = await _to_return(o)
    greek, _ = await o.open(GR, at=AL)  # Albania identified a Greek child: not the consul's national
    link, greek_link = await o.link(AL, ref), await o.link(AL, greek)
    await _consul(o, "consul.1")
    officer = await o.api(AL)
    full = await officer.show_case(link, content=True)
    hidden = outside_the_view(full)
    assert hidden  # the social inquiry report, the child's views, free text…
    people = o.people(AL)

    async with console_at(o.nodes[AL], tmp_path_factory) as web:
        await log_in(web, people, "consul.1")
        home = await web.get("/")
        assert (home.status_code, home.headers["location"]) == (303, "/nationals")

        listing = await web.get("/nationals")
        assert listing.status_code == 200
        assert_secure_headers(listing)
        assert listed_refs(listing) == [ref]
        assert greek not in listing.text
        assert '<a href="/nationals" aria-current="page">Your nationals\' cases</a>' in listing.text
        row = listing.text.split(f"<bdi>{ref}</bdi>")[1].split("</tr>")[0]
        assert "<td>Greece</td>" in row  # the State that identified the child, by its CLDR name
        assert "Return in progress" in row
        assert f'href="/cases/{link}"' in listing.text

        page = await web.get(f"/cases/{link}")
        assert page.status_code == 200
        assert_secure_headers(page)
        text = page.text
        assert "What a return needs (consular view)" in section(text, "summary-heading")
        timeline = section(text, "timeline-heading")
        assert "Your view holds only some fields of each message" in timeline
        kinds = re.findall(r"<h3>([^<]+)</h3>", timeline)
        assert {"Repatriation plan", "Return status update", "Social inquiry report"} <= set(kinds)
        plan = timeline.split("<h3>Repatriation plan</h3>")[1].split("</li>\n  <li>")[0]
        for label in ("Travel document", "Escort", "Arrival", "Mode"):
            assert f"<dt>{label}</dt>" in plan, label
        # Nothing from a field outside the view: compared with what the officer's FULL view holds.
        leaked = sorted(v for v in hidden if html.escape(v) in text or v in text)
        assert leaked == []
        assert "Deadlines are not part of your view of this case." in section(text, "deadlines-heading")
        assert "checked by the State that identified the child" in section(text, "gate-heading")
        assert "is not part of your view" in section(text, "flags-heading")
        assert '<a href="/nationals">Back to your nationals\' cases</a>' in text

        refused = await web.get(f"/cases/{greek_link}")
        assert refused.status_code == 403
        assert "Not allowed" in refused.text

    # The officer's FULL page of the same case does show what the consul's leaves out.
    async with console_at(o.nodes[AL], tmp_path_factory) as web:
        await log_in(web, people, "officer.1")
        officers = await web.get(f"/cases/{link}")
        assert officers.status_code == 200
        assert any(html.escape(v) in officers.text for v in hidden)
        assert "Full case content" in officers.text
        assert (await web.get("/nationals")).status_code == 403  # not a consul

    console_lines = [line for line in logged if '"event": "console_' in line]
    assert any('"nationals"' in line for line in console_lines)
    for line in console_lines:  # the node's own log lines (same process here) are not the console's
        for secret in (link, ref, greek, greek_link):
            assert secret not in line, line


async def test_the_case_leaves_the_list_when_nationality_is_not_confirmed(
    officials: Officials,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    o = officials
    ref, _ = await _acknowledged(o)
    link = await o.link(AL, ref)
    await _consul(o, "consul.1")
    async with console_at(o.nodes[AL], tmp_path_factory) as web:
        await log_in(web, o.people(AL), "consul.1")
        assert listed_refs(await web.get("/nationals")) == [ref]
        assert (await web.get(f"/cases/{link}")).status_code == 200

        iv = await o.send(GR, AL, ref, "identity_verification_request")

        def not_a_national(body: messages_pb2.Body) -> None:
            reply = body.identity_verification_reply
            reply.nationality = messages_pb2.CONFIRMATION_NOT_CONFIRMED
            reply.travel_document_can_be_issued = False
            reply.suggested_state = "MK"

        await o.send(AL, GR, ref, "identity_verification_reply", not_a_national, answers=iv)
        listing = await web.get("/nationals")
        assert listed_refs(listing) == []
        assert "There are no open cases of your nationals that you may follow." in listing.text
        assert (await web.get(f"/cases/{link}")).status_code == 403

        # French and Arabic, on the (now empty) list and the 403 page.
        for lang, direction in (("fr", "ltr"), ("ar", "rtl")):
            await web.get(f"/nationals?lang={lang}")
            page = await web.get("/nationals")
            assert f'<html lang="{lang}" dir="{direction}">' in page.text
            for english in ("Your nationals' cases", "There are no open cases of your nationals that you may follow."):
                assert _translated(lang, english) in page.text, (lang, english)


@pytest.mark.parametrize(("lang", "direction", "greece"), [("fr", "ltr", "Grèce"), ("ar", "rtl", "اليونان")])
async def test_french_and_arabic(
    officials: Officials,
    tmp_path_factory: pytest.TempPathFactory,
    lang: str,
    direction: str,
    greece: str,
) -> None:
    o = officials
    ref, _ = await _acknowledged(o)
    link = await o.link(AL, ref)
    await _consul(o, "consul.1")
    async with console_at(o.nodes[AL], tmp_path_factory) as web:
        await log_in(web, o.people(AL), "consul.1")
        await web.get(f"/nationals?lang={lang}")
        listing = await web.get("/nationals")
        assert f'<html lang="{lang}" dir="{direction}">' in listing.text
        assert f"<bdi>{ref}</bdi>" in listing.text
        assert f"<td>{greece}</td>" in listing.text
        for english in ("Your nationals' cases", "State that identified the child", "Consular pages"):
            assert _translated(lang, english) in listing.text, english
        page = await web.get(f"/cases/{link}")
        assert page.status_code == 200
        for english in (
            "What a return needs (consular view)",
            "Deadlines are not part of your view of this case.",
            "Back to your nationals' cases",
        ):
            assert _translated(lang, english) in page.text, english


# --- the list's rows, pure ------------------------------------------------------------------------


def _case(side: str, partner: str = "GR") -> local_pb2.CaseSummary:
    return local_pb2.CaseSummary(
        link_id="ab12", case_ref="GR-0000000000-0", partner_state=partner, our_side=side, stage="AGREED", urgency=2
    )


def test_the_identifying_state_is_the_partner_or_a_district_of_one() -> None:
    en = CATALOGS.page("en")
    assert identifying_state(_case("OS"), ("GR", "CY"), en) == "Greece"
    assert identifying_state(_case("IS", partner="AL"), ("CY",), en) == "Cyprus"
    assert identifying_state(_case("IS", partner="AL"), ("CY", "GR"), en) == THIS_STATE
    fr = CATALOGS.page("fr")
    assert identifying_state(_case("OS"), (), fr) == "Grèce"
    assert identifying_state(_case("IS", partner="AL"), ("CY", "GR"), fr) == _translated("fr", THIS_STATE)


def test_rows_carry_what_the_list_shows_and_an_unreadable_link_says_so() -> None:
    user = local_pb2.UserInfo(user_id="consul.1", consular_state="AL", district=["GR"])
    damaged = local_pb2.CaseSummary(link_id="cd34", unreadable="damaged")
    [row, broken] = national_rows([_case("OS"), damaged], user, CATALOGS.page("en"))
    assert (row.case_ref, row.identifying_state, row.stage, row.urgency, row.urgent) == (
        "GR-0000000000-0",
        "Greece",
        "Agreed",
        "Urgent",
        True,
    )
    assert broken.unreadable
    assert broken.case_ref == ""


def test_a_repatriation_page_says_what_the_view_leaves_out_and_asks_for_no_deadlines() -> None:
    assert [serves_deadlines(v) for v in ("FULL", "ROUTING", "REPATRIATION", "METADATA")] == [True, True, False, False]
    report = project(View.REPATRIATION, sample_body("social_inquiry_report"))
    plan = project(View.REPATRIATION, sample_body("repatriation_plan"))
    shown = local_pb2.ShowCaseResponse(
        link=local_pb2.CaseSummary(case_ref="GR-X", partner_state="GR", our_side="OS", stage="RETURN_PREPARATION"),
        timeline=[
            local_pb2.CaseTimelineEntry(kind="social_inquiry_report", direction="sent", at_ms=1, body=report),
            local_pb2.CaseTimelineEntry(kind="repatriation_plan", direction="received", at_ms=2, body=plan),
        ],
        view="REPATRIATION",
    )
    page = case_page(shown, None, CATALOGS.page("en"))
    assert page.partial
    assert not page.deadlines_in_view
    assert (page.deadlines, page.guardian) == ((), None)
    assert page.view.text == "What a return needs (consular view)"
    [inquiry, planned] = page.timeline
    assert [f.label.text for f in inquiry.fields] in ([], ["Context"])  # the report's own fields are all outside
    assert "Travel document" in [f.label.text for f in planned.fields]
