"""The operator's pages against real nodes over their real gRPC, through httpx's ASGI transport (no
browser): a partner's case notification addressed to no unit waits in Albania's triage queue
without any name from it on the page; the operator gives it to a unit through the form (CSRF
checked, a unit not offered refused beside the form) and it leaves the queue; a case officer is
refused both pages; in Greece, the deadline dashboard shows an unanswered social inquiry overdue
once the clock has moved 35 days, with its SVG chart; the pages render in French and Arabic."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from focalpoint.console.app import create_app
from focalpoint.console.config import load_console_config
from focalpoint.localnet.people import OPERATOR, People
from focalpoint.server.node import Node
from focalpoint.v1 import messages_pb2
from tests.console.test_pages import ORIGIN, assert_secure_headers, csrf_of
from tests.server.test_ageing_api import DAY_MINUTES, SI, _routine
from tests.server.test_cases_api import AL, GR, ref_to
from tests.server.test_people import (
    World,
    world,  # noqa: F401 (the fixture)
)

KORCA = "al-shss/korca"
SAME = {"sec-fetch-site": "same-origin"}
NAMES = ("Arta", "Example", "fictitious")  # what the sample notification says of the child and family


def _to_no_unit(body: messages_pb2.Body) -> None:
    body.context.recipient_unit = ""


@asynccontextmanager
async def console_of(node: Node, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    config_file = tmp_path / f"console-{node.config.node_id}.yaml"
    config_file.write_text(
        f"listen: {{host: 127.0.0.1, port: 8443}}\nnode: {{local_api: '127.0.0.1:{node.local_port}'}}\n",
        encoding="utf-8",
    )
    transport = httpx.ASGITransport(app=create_app(load_console_config(config_file)))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as web:
        yield web


async def log_in(web: httpx.AsyncClient, at: World, people: People, who: str) -> None:
    """``who`` logs in through the console's form with a code the node has not seen yet."""
    at.clock.advance(1)
    person = people.people[who]
    form = await web.get("/login")
    fields = {"csrf": csrf_of(form), "user_id": who, "password": person.password, "code": people.code(person)}
    answer = await web.post("/login", data=fields, headers=SAME)
    assert answer.status_code == 303, answer.text


def refs_on(page: httpx.Response) -> list[str]:
    return re.findall(r'<th scope="row"><bdi>([A-Z]{2}-[^<]+)</bdi></th>', page.text)


def form_token(page: httpx.Response) -> str:
    [token] = set(re.findall(r'name="csrf" value="([0-9a-f]{64})"', page.text))
    return str(token)


async def test_an_operator_assigns_an_incoming_case_without_seeing_a_name(
    world: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    desk = world.desk
    addressed = await desk.open()
    await desk.send(GR, addressed.case_ref, "case_notification")  # to al-shss: not for triage
    opened = await desk.open()
    await desk.send(GR, opened.case_ref, "case_notification", _to_no_unit)
    people = desk.people[AL]
    operator = await people.operator()
    await people.client("officer.1")  # al-shss
    await people.client("co.korca", unit=KORCA)
    link = await desk.link_at(GR, opened.case_ref)  # GR's id; Albania's link has its own
    assert link

    async with console_of(world.nodes[AL], tmp_path) as web:
        await log_in(web, world, people, OPERATOR)
        home = await web.get("/")
        assert (home.status_code, home.headers["location"]) == (303, "/triage")
        queue = await web.get("/triage")
        assert queue.status_code == 200
        assert_secure_headers(queue)
        assert refs_on(queue) == [opened.case_ref]  # the addressed case is not waiting
        assert "Greece" in queue.text  # the partner State by its CLDR name
        for name in NAMES:
            assert name not in queue.text
        assert re.search(r'<label for="unit-1">Unit for case <bdi>GR-[^<]+</bdi></label>', queue.text)
        options = re.findall(r'<option value="([^"]+)">', queue.text)
        assert [o for o in options if o.startswith("al-")] == ["al-shss", KORCA]
        assert 'href="/triage" aria-current="page"' in queue.text
        assert 'href="/deadlines"' in queue.text
        assert 'href="/worklist"' not in queue.text
        [action] = re.findall(r'<form method="post" action="(/triage/[0-9a-f]+/assign)"', queue.text)
        token = form_token(queue)

        no_token = await web.post(action, data={"unit": KORCA}, headers=SAME)
        assert no_token.status_code == 403
        wrong = await web.post(action, data={"unit": KORCA, "csrf": "0" * 64}, headers=SAME)
        assert wrong.status_code == 403
        cross = await web.post(action, data={"unit": KORCA, "csrf": token}, headers={"sec-fetch-site": "cross-site"})
        assert cross.status_code == 403
        not_offered = await web.post(action, data={"unit": "al-shss/nowhere", "csrf": token}, headers=SAME)
        assert not_offered.status_code == 400
        assert 'aria-describedby="unit-1-error"' in not_offered.text
        assert re.search(r'<p class="field-error" id="unit-1-error">Choose one of the units', not_offered.text)
        assert refs_on(await web.get("/triage")) == [opened.case_ref]  # still waiting after every refusal

        given = await web.post(action, data={"unit": KORCA, "csrf": token}, headers=SAME)
        assert (given.status_code, given.headers["location"]) == (303, "/triage?assigned=1")
        after = await web.get("/triage?assigned=1")
        assert refs_on(after) == []
        assert '<p class="notice" role="status">The case was given to the unit you chose' in after.text
        assert "No incoming case is waiting for a unit." in after.text
        assert [c.case_ref for c in (await operator.list_cases(KORCA)).cases] == [opened.case_ref]
        again = await web.post(action, data={"unit": KORCA, "csrf": token}, headers=SAME)
        assert again.status_code == 303  # giving it to the unit it has is no change

        french = await web.get("/triage", headers={"accept-language": "fr"})
        assert '<html lang="fr" dir="ltr">' in french.text
        assert "Dossiers entrants à attribuer" in french.text
        assert "Aucun dossier entrant n’attend d’unité." in french.text
        await web.get("/triage?lang=ar")
        arabic = await web.get("/deadlines")
        assert '<html lang="ar" dir="rtl">' in arabic.text
        assert "المواعيد النهائية" in arabic.text
        assert "اليونان" in arabic.text  # Greece, from CLDR
        for name in NAMES:
            assert name not in arabic.text

    async with console_of(world.nodes[AL], tmp_path) as web:
        await log_in(web, world, people, "officer.1")
        for page in ("/triage", "/deadlines"):
            refused = await web.get(page)
            assert refused.status_code == 403, page
        worklist = await web.get("/worklist")
        assert 'href="/triage"' not in worklist.text


async def test_the_deadline_dashboard_shows_an_overdue_request_and_its_chart(
    world: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    desk = world.desk
    opened = await desk.open()
    notification = await desk.send(GR, opened.case_ref, "case_notification")
    await desk.send(AL, opened.case_ref, "acknowledgement", ref_to("acknowledgement.acknowledges", notification))
    await desk.send(GR, opened.case_ref, SI, _routine(world.clock()))
    people = desk.people[GR]

    async with console_of(world.nodes[GR], tmp_path) as web:
        await people.operator()
        await log_in(web, world, people, OPERATOR)
        on_time = await web.get("/deadlines")
        assert on_time.status_code == 200
        assert_secure_headers(on_time)
        assert not re.search(r"<tr class=\"overdue\">", on_time.text)

    world.clock.advance(35 * DAY_MINUTES)
    async with console_of(world.nodes[GR], tmp_path) as web:
        await log_in(web, world, people, OPERATOR)
        page = await web.get("/deadlines")
        assert page.status_code == 200
        text = page.text
        [row] = re.findall(r'<tr class="overdue">(.*?)</tr>', text, flags=re.DOTALL)
        assert f"<bdi>{opened.case_ref}</bdi>" in row
        assert "Social inquiry request" in row
        assert "Albania" in row
        assert re.search(r"<td><strong>(5|6)</strong></td>", row)  # days overdue
        assert "<bdi>gr-ekka/athens</bdi>" in row

        svg = re.search(r"<svg [^>]*>(.*?)</svg>", text, flags=re.DOTALL)
        assert svg is not None
        assert 'role="img"' in text[svg.start() : svg.start() + 300]
        assert re.search(r'<title id="age-chart-title">Open requests by age in days: \d+ in all</title>', svg.group(1))
        assert "31–60 days: 1" in svg.group(1)
        assert "style" not in svg.group(0)
        assert len(re.findall(r"<rect ", svg.group(1))) == 6

        bilateral = text[text.index("Open requests by partner State and kind") :]
        assert "Albania" in bilateral
        assert "Social inquiry request" in bilateral

        french = await web.get("/deadlines", headers={"accept-language": "fr"})
        assert "Échéances" in french.text
        assert "Demande d’enquête sociale" in french.text
        assert "Albanie" in french.text
        await web.get("/deadlines?lang=ar")
        arabic = await web.get("/deadlines")
        assert '<html lang="ar" dir="rtl">' in arabic.text
        assert "ألبانيا" in arabic.text
        assert "طلب تحقيق اجتماعي" in arabic.text


async def test_the_health_page_shows_the_partners_after_a_check_and_is_for_operators(
    world: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    people = world.desk.people[GR]
    async with console_of(world.nodes[GR], tmp_path) as web:
        await people.operator()
        await log_in(web, world, people, OPERATOR)
        page = await web.get("/health")
        assert page.status_code == 200
        assert_secure_headers(page)
        assert "Directory version" in page.text
        checked = await web.post("/health/check", data={"csrf": form_token(page)}, headers=SAME)
        assert checked.status_code == 200
        assert "The partners were checked just now." in checked.text
        assert f"<bdi>{AL}</bdi>" in checked.text  # the partner, reached, with its clock
        forged = await web.post("/health/check", data={"csrf": "0" * 64}, headers=SAME)
        assert forged.status_code == 403
        french = await web.get("/health?lang=fr", follow_redirects=True)
        assert '<html lang="fr"' in french.text
    async with console_of(world.nodes[GR], tmp_path) as web:
        await people.client("officer.1")
        await log_in(web, world, people, "officer.1")
        assert (await web.get("/health")).status_code == 403
