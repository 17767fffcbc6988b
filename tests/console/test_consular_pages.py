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

import datetime as dt
import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from focalpoint.cases.consular import visit_problems
from focalpoint.cases.views import project
from focalpoint.console import visits as console_visits
from focalpoint.console.app import create_app
from focalpoint.console.case_view import case_page, serves_deadlines
from focalpoint.console.config import load_console_config
from focalpoint.console.consul import THIS_STATE, identifying_state, national_rows
from focalpoint.console.visits import may_record, read_visit_form, visit_form, visit_section
from focalpoint.localnet.people import People
from focalpoint.localnet.samples import sample_body
from focalpoint.people.permissions import View
from focalpoint.server.node import Node
from focalpoint.v1 import common_pb2, local_pb2, messages_pb2
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


# --- consular visits: recorded from the case page, listed on it -------------------------------------


def visit_section_of(page: httpx.Response) -> str:
    return section(page.text, "visits-heading")


def visit_token(page: httpx.Response, link: str) -> str:
    form = page.text.split(f'action="/cases/{link}/consular-visit"')[1]
    [token] = re.findall(r'name="csrf" value="([0-9a-f]{64})"', form.split("</form>")[0])
    return str(token)


def _day(days_from_today: int) -> str:
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days_from_today)).isoformat()


GOOD_VISIT = {
    "visited_on": _day(-1),
    "place": "SHELTER",
    "child_seen": "yes",
    "interpreter_used": "no",
    "travel_document": "APPLIED",
    "next_visit_on": _day(14),
    "concerns": ["DOCUMENTS", "WISHES_ABOUT_RETURN"],
}


async def test_a_consul_records_a_visit_and_sees_it_on_the_case_page(
    officials: Officials,
    tmp_path_factory: pytest.TempPathFactory,
    logged: list[str],  # noqa: F811
) -> None:
    o = officials
    ref, _ = await _acknowledged(o)
    link = await o.link(AL, ref)
    await _consul(o, "consul.1")
    async with console_at(o.nodes[AL], tmp_path_factory) as web:
        await log_in(web, o.people(AL), "consul.1")
        page = await web.get(f"/cases/{link}")
        visits = visit_section_of(page)
        assert "No consular visit has been recorded on this case." in visits
        assert "Record a consular visit" in visits
        # Every field labelled; the date cannot be chosen in the future; no inline style or script.
        for field_id in re.findall(r'<(?:input|select) id="(visit-[^"]+)"', visits):
            assert f'<label for="{field_id}">' in visits, field_id
        assert f'max="{(dt.datetime.now(dt.UTC) + dt.timedelta(hours=14)).date().isoformat()}"' in visits
        assert "style=" not in page.text
        assert "<script" not in page.text
        token = visit_token(page, link)
        action = f"/cases/{link}/consular-visit"

        # A wrong form: every error at once, beside its field, with what was typed kept.
        wrong = {
            "csrf": token,
            "visited_on": _day(3),
            "travel_document": "ISSUED",
            "interpreter_used": "yes",
            "concerns": ["NONE", "HEALTH"],
        }
        refused = await web.post(action, data=wrong, headers=SAME)
        assert refused.status_code == 400
        assert_secure_headers(refused)
        visits = visit_section_of(refused)
        assert "The visit was not recorded: correct the fields marked below." in visits
        for name, text in (
            ("visited_on", "The day of the visit is in the future: record a visit once it has taken place."),
            ("place", "Choose where the visit took place."),
            ("child_seen", "Say whether the child was seen."),
            ("concerns", html.escape("“None raised” cannot be chosen with a concern.", quote=False)),
        ):
            assert f'<p class="field-error" id="visit-{name}-error">{text}</p>' in visits, name
            assert f'aria-describedby="visit-{name}-error"' in visits, name
        assert 'id="visit-interpreter_used-error"' not in visits
        assert f'value="{_day(3)}" aria-invalid="true"' in visits
        assert '<option value="ISSUED" selected>Document issued</option>' in visits
        assert (
            'id="visit-interpreter_used-yes" name="interpreter_used" type="radio" value="yes" required checked'
            in visits
        )
        assert "No consular visit has been recorded on this case." in visits

        # A date that is no date.
        bad_date = await web.post(action, data={**GOOD_VISIT, "visited_on": "2026-02-30", "csrf": token}, headers=SAME)
        assert bad_date.status_code == 400
        assert (
            '<p class="field-error" id="visit-visited_on-error">Enter a real date: year, month and day.</p>'
            in visit_section_of(bad_date)
        )

        # No token, or a cross-site post: refused before anything is read.
        assert (await web.post(action, data=GOOD_VISIT, headers=SAME)).status_code == 403
        cross = await web.post(action, data={**GOOD_VISIT, "csrf": token}, headers={"sec-fetch-site": "cross-site"})
        assert cross.status_code == 403

        # The right form: recorded, then back to the case page with a notice (PRG).
        done = await web.post(action, data={**GOOD_VISIT, "csrf": token}, headers=SAME)
        assert (done.status_code, done.headers["location"]) == (303, f"/cases/{link}?visit=recorded#visits-heading")
        shown = await web.get(f"/cases/{link}?visit=recorded")
        visits = visit_section_of(shown)
        assert "The consular visit was recorded." in visits
        row = visits.split("<tbody>")[1].split("</tbody>")[0]
        for text in ("Shelter", "Yes", "No", "Applied for", "Identity or travel documents", "<bdi>consul.1</bdi>"):
            assert text in row, text
        assert "The child&#39;s wishes about return" in row or "The child's wishes about return" in row
        assert "The consular visit was recorded." not in visit_section_of(await web.get(f"/cases/{link}"))

        # In French.
        await web.get(f"/cases/{link}?lang=fr")
        french = visit_section_of(await web.get(f"/cases/{link}"))
        for english in ("Consular visits", "Shelter", "Applied for", "Record a consular visit", "Was the child seen?"):
            assert html.escape(_translated("fr", english), quote=False) in french, english

    # Never sent: the partner's page of the case shows no visit; the owning unit's officer sees it.
    assert list((await o.show(GR, ref)).consular_visits) == []
    async with console_at(o.nodes[AL], tmp_path_factory) as web:
        await log_in(web, o.people(AL), "officer.1")
        officers = visit_section_of(await web.get(f"/cases/{link}"))
        assert "<bdi>consul.1</bdi>" in officers
        assert "Record a consular visit" in officers  # a case officer of the owning unit may record too

    for line in (line for line in logged if '"event": "console_' in line):
        assert link not in line
        assert ref not in line
    assert any("console_consular_visit_recorded" in line for line in logged)


async def test_readers_who_may_not_record_see_no_form_and_are_refused(
    officials: Officials,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    o = officials
    ref, _ = await _acknowledged(o)
    link = await o.link(AL, ref)
    await o.people(AL).operator()  # enrols the first operator, who logs in below
    async with console_at(o.nodes[AL], tmp_path_factory) as web:
        await log_in(web, o.people(AL), "operator.1")
        page = await web.get(f"/cases/{link}")
        assert page.status_code == 200
        assert 'aria-labelledby="visits-heading"' not in page.text  # ROUTING: no visits in the view
        token = re.findall(r'name="csrf" value="([0-9a-f]{64})"', page.text)[0]
        action = f"/cases/{link}/consular-visit"
        for form in ({**GOOD_VISIT, "csrf": token}, {"csrf": token, "visited_on": "soon"}):
            answer = await web.post(action, data=form, headers=SAME)
            assert answer.status_code == 403
            assert "Not allowed" in answer.text
            assert "visit-visited_on-error" not in answer.text  # nothing judged for who may not record
    assert list((await o.show(AL, ref)).consular_visits) == []


# --- the section and the form, pure -----------------------------------------------------------------


def _shown(view: str, *, closed: bool = False, unit: str = "al-shss") -> local_pb2.ShowCaseResponse:
    return local_pb2.ShowCaseResponse(
        link=local_pb2.CaseSummary(link_id="ab12", case_ref="GR-X", our_side="OS", unit=unit, closed=closed),
        view=view,
        consular_visits=[
            local_pb2.RecordedConsularVisit(
                visit=local_pb2.ConsularVisit(
                    visited_on=common_pb2.Date(year=2026, month=5, day=2),
                    place=local_pb2.CONSULAR_VISIT_PLACE_DETENTION,
                    child_seen=False,
                    interpreter_used=True,
                    travel_document=local_pb2.TRAVEL_DOCUMENT_PROGRESS_REFUSED,
                    concerns=[local_pb2.CONSULAR_CONCERN_DETENTION_CONDITIONS, 99],  # type: ignore[list-item]
                ),
                recorded_by="consul.1",
                recorded_at_ms=1_777_000_000_000,
            )
        ],
    )


def test_who_is_offered_the_form() -> None:
    consul = local_pb2.UserInfo(user_id="consul.1", roles=["consular_officer"], unit="al-mfa/athens")
    officer = local_pb2.UserInfo(user_id="officer.1", roles=["case_officer"], unit="al-shss")
    other = local_pb2.UserInfo(user_id="officer.9", roles=["case_officer"], unit="al-shss/korca")
    operator = local_pb2.UserInfo(user_id="op", roles=["operator"], unit="al-shss")
    assert may_record(_shown("REPATRIATION"), consul)
    assert may_record(_shown("FULL"), officer)
    assert not may_record(_shown("FULL"), other)  # another unit's case, read by break-glass
    assert not may_record(_shown("FULL", unit=""), officer)
    assert not may_record(_shown("ROUTING"), operator)
    assert not may_record(_shown("REPATRIATION", closed=True), consul)
    en = CATALOGS.page("en")
    section_ = visit_section(_shown("ROUTING"), operator, None, en)
    assert (section_.in_view, section_.form) == (False, None)


def test_a_visit_reads_in_the_page_language() -> None:
    consul = local_pb2.UserInfo(user_id="consul.1", roles=["consular_officer"])
    form = visit_form("ab12", "t" * 64, CATALOGS.page("en"), now_ms=1_777_000_000_000)
    [row] = visit_section(_shown("REPATRIATION"), consul, form, CATALOGS.page("en")).rows
    assert (row.visited_on, row.place, row.child_seen, row.interpreter_used, row.travel_document) == (
        "May 2, 2026",
        "Place of detention",
        "No",
        "Yes",
        "Document refused",
    )
    assert row.next_visit_on == ""
    assert row.concerns == ("Conditions of detention", "99")  # a code the console does not know, as its number
    [ar] = visit_section(_shown("REPATRIATION"), consul, form, CATALOGS.page("ar")).rows
    assert ar.place == _translated("ar", "Place of detention")


def test_the_form_is_read_and_judged_field_by_field() -> None:
    now = int(dt.datetime(2026, 5, 28, 12, tzinfo=dt.UTC).timestamp() * 1000)
    good = {
        "visited_on": ["2026-05-27"],
        "place": ["HOSPITAL"],
        "child_seen": ["no"],
        "interpreter_used": ["yes"],
        "travel_document": ["NOT_NEEDED"],
        "next_visit_on": [""],
        "concerns": ["NONE"],
    }
    visit, errors = read_visit_form(good, now_ms=now)
    assert errors == {}
    assert visit_problems(visit, now_ms=now) == {}
    assert (visit.place, visit.child_seen, visit.interpreter_used) == (
        local_pb2.CONSULAR_VISIT_PLACE_HOSPITAL,
        False,
        True,
    )
    assert not visit.HasField("next_visit_on")
    assert list(visit.concerns) == [local_pb2.CONSULAR_CONCERN_NONE]

    _, errors = read_visit_form({}, now_ms=now)
    assert set(errors) == {"visited_on", "place", "child_seen", "interpreter_used", "travel_document", "concerns"}
    _, errors = read_visit_form(
        {**good, "visited_on": ["yesterday"], "place": ["MOON"], "child_seen": ["maybe"], "concerns": ["GOSSIP"]},
        now_ms=now,
    )
    assert errors == {
        "visited_on": "Enter a real date: year, month and day.",
        "place": "Choose where the visit took place.",
        "child_seen": "Say whether the child was seen.",
        "concerns": "Choose concerns from the list.",
    }
    _, errors = read_visit_form({**good, "next_visit_on": ["2026-05-27"]}, now_ms=now)
    assert errors == {"next_visit_on": "The next visit must be after the day of this visit."}
    _, errors = read_visit_form({**good, "visited_on": ["1999-05-27"]}, now_ms=now)
    assert errors == {"visited_on": "The day of the visit is before 2000: check the year."}
    _, errors = read_visit_form({**good, "concerns": ["HEALTH", "HEALTH"]}, now_ms=now)
    assert errors == {"concerns": "Choose each concern once."}


def test_every_problem_the_node_can_name_has_its_own_message() -> None:
    """Each (field, problem) ``visit_problems`` gives reads as its own message on the page, not the fallback."""
    now = int(dt.datetime(2026, 5, 28, 12, tzinfo=dt.UTC).timestamp() * 1000)
    base = local_pb2.ConsularVisit(
        visited_on=common_pb2.Date(year=2026, month=5, day=27),
        place=local_pb2.CONSULAR_VISIT_PLACE_HOSPITAL,
        child_seen=True,
        interpreter_used=True,
        travel_document=local_pb2.TRAVEL_DOCUMENT_PROGRESS_APPLIED,
        concerns=[local_pb2.CONSULAR_CONCERN_HEALTH],
    )

    def dated(field: str, year: int, month: int, day: int) -> local_pb2.ConsularVisit:
        v = local_pb2.ConsularVisit()
        v.CopyFrom(base)
        getattr(v, field).CopyFrom(common_pb2.Date(year=year, month=month, day=day))
        return v

    def concerned(*more: local_pb2.ConsularConcern.ValueType) -> local_pb2.ConsularVisit:
        v = local_pb2.ConsularVisit()
        v.CopyFrom(base)
        v.concerns.extend(more)
        return v

    variants = [
        local_pb2.ConsularVisit(),
        dated("visited_on", 2026, 2, 30),
        dated("visited_on", 2027, 1, 1),
        dated("visited_on", 1999, 1, 1),
        dated("next_visit_on", 2026, 2, 30),
        dated("next_visit_on", 2026, 5, 1),
        dated("next_visit_on", 2028, 1, 1),
        concerned(local_pb2.CONSULAR_CONCERN_HEALTH),
        concerned(local_pb2.CONSULAR_CONCERN_NONE),
    ]
    named = {(f, p) for v in variants for f, p in visit_problems(v, now_ms=now).items()}
    assert len(named) >= 13
    assert named <= set(console_visits._PROBLEMS), named - set(console_visits._PROBLEMS)
