"""Two console pages against real nodes (httpx's ASGI transport, no browser): the worklist shows,
for each link, the date by which we owe the partner an answer and by which they owe us one, in the
locale's date format, and says "Overdue" in words once a date has passed; the auditor's access
review checks a reference before asking the node (its form, its check character), says when the
node knows no such case, lists who saw a known one (time, event, who, view, purpose, partner), is
itself recorded in the node's audit log, is linked from the auditor's pages and refused to a case
officer, and logs no case reference."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog
from babel.dates import format_date

from focalpoint.audit import events as audit_events
from focalpoint.ids import check_char
from focalpoint.people.roles import Role
from focalpoint.v1 import audit_pb2
from tests.console.test_operator_pages import console_of, log_in
from tests.console.test_pages import assert_secure_headers
from tests.server.test_ageing_api import DAY_MINUTES, SI, _routine
from tests.server.test_cases_api import AL, GR, ref_to
from tests.server.test_people import (
    World,
    world,  # noqa: F401 (the fixture)
)

AUDITOR = "au.1"
Kind = audit_pb2.AuditEventKind


@pytest.fixture
def lines() -> Iterator[list[str]]:
    """Every console log line (as JSON)."""
    kept: list[str] = []

    def keep(_: object, __: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
        kept.append(json.dumps(event, default=str))
        raise structlog.DropEvent

    before = structlog.get_config()
    structlog.configure(
        processors=[structlog.processors.add_log_level, keep],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        cache_logger_on_first_use=False,
    )
    yield kept
    structlog.configure(**before)


def _day(ms: int, tag: str) -> str:
    return format_date(dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date(), format="medium", locale=tag)


async def test_the_worklist_shows_who_owes_an_answer_by_when_and_says_overdue_in_words(
    world: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    desk = world.desk
    opened = await desk.open()
    notification = await desk.send(GR, opened.case_ref, "case_notification")
    await desk.send(AL, opened.case_ref, "acknowledgement", ref_to("acknowledgement.acknowledges", notification))
    await desk.send(GR, opened.case_ref, SI, _routine(world.clock()))
    link = await desk.link_at(GR, opened.case_ref)
    [due] = [r.due_ms for r in (await (await desk.api(GR)).case_deadlines(link)).requests if r.kind == SI]

    async with console_of(world.nodes[GR], tmp_path) as web:
        await log_in(web, world, desk.people[GR], "officer.1")
        page = await web.get("/worklist")
        assert page.status_code == 200
        assert_secure_headers(page)
        assert "The partner owes us an answer by" in page.text
        assert _day(due, "en") in page.text
        assert "Overdue" not in page.text
        french = await web.get("/worklist", headers={"accept-language": "fr"})
        assert _day(due, "fr") in french.text
        assert "Le partenaire doit nous répondre avant le" in french.text

    world.clock.advance(35 * DAY_MINUTES)
    async with console_of(world.nodes[GR], tmp_path) as web:
        await log_in(web, world, desk.people[GR], "officer.1")
        late = await web.get("/worklist")
        assert late.status_code == 200
        assert f'<td class="overdue">{_day(due, "en")} <strong>Overdue: 1</strong></td>' in late.text
        assert "style=" not in late.text


async def test_an_auditor_reviews_who_saw_a_case_and_the_review_is_itself_audited(
    world: World,  # noqa: F811
    tmp_path: Path,
    lines: list[str],
) -> None:
    desk = world.desk
    opened = await desk.open()
    link = await desk.link_at(GR, opened.case_ref)
    await (await desk.api(GR, "reader.7")).show_case(link)
    people = desk.people[GR]
    await people.client(AUDITOR, (Role.AUDITOR,), grants=())
    gr = world.nodes[GR]

    async with console_of(gr, tmp_path) as web:
        await log_in(web, world, people, AUDITOR)
        form = await web.get("/access-review")
        assert form.status_code == 200
        assert_secure_headers(form)
        assert '<label for="case_ref">Case reference</label>' in form.text
        assert 'href="/access-review" aria-current="page"' in form.text
        assert 'href="/access-review"' in (await web.get("/", follow_redirects=True)).text

        malformed = await web.get("/access-review", params={"case_ref": "not a reference"})
        assert malformed.status_code == 400
        assert "This is not a case reference." in malformed.text
        assert 'aria-invalid="true"' in malformed.text
        ref = opened.case_ref
        mistyped = ref[:-1] + ("0" if ref[-1] != "0" else "1")
        wrong = await web.get("/access-review", params={"case_ref": mistyped})
        assert wrong.status_code == 400
        assert "does not match the rest" in wrong.text
        unknown_body = "0000000000"
        unknown = await web.get("/access-review", params={"case_ref": f"GR-{unknown_body}-{check_char(unknown_body)}"})
        assert unknown.status_code == 404
        assert "No case with this reference is known to this node." in unknown.text

        before = gr.store.audit.size
        page = await web.get("/access-review", params={"case_ref": f"  {ref.lower()} "})
        assert page.status_code == 200, page.text
        assert f"Accesses to case <bdi>{ref}</bdi>" in page.text
        assert "<td><bdi>reader.7</bdi></td>" in page.text
        assert "<td>Case work</td>" in page.text
        assert f"<td><bdi>{AL}</bdi></td>" in page.text
        reviews = [
            audit_events.decode(leaf)
            for i, leaf in await gr.store.audit.events(100, 0, ref)
            if i >= before and audit_events.decode(leaf).kind == Kind.AUDIT_EVENT_KIND_READ
        ]
        assert [(e.actor, e.view, e.purpose) for e in reviews] == [(AUDITOR, "METADATA", "AUDIT")]

        arabic = await web.get("/access-review", params={"case_ref": ref}, headers={"accept-language": "ar"})
        assert "مراجعة الوصول" in arabic.text

    assert lines
    assert not [line for line in lines if ref in line or mistyped in line or ref.lower() in line]

    await people.client("officer.1")
    async with console_of(gr, tmp_path) as web:
        await log_in(web, world, people, "officer.1")
        refused = await web.get("/access-review", params={"case_ref": ref})
        assert refused.status_code == 403
