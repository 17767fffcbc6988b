"""The auditor's pages against real nodes over their real gRPC, through httpx's ASGI transport (no
browser): a missed guardian deadline in Greece shows, once its quarter has ended, in the national
indicators as the ``<10`` marker with every indicator's method statement, and no count from 1 to 9
anywhere in a table, a figure or a chart; the running quarter is refused with a message beside the
period chooser; the ageing report's audit view and the audit log's verification (with and without a
signed checkpoint) render; a case officer and an operator are refused all three pages; French and
Arabic render."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from focalpoint.cases.indicators import DEFINITIONS
from focalpoint.localnet.people import OPERATOR
from focalpoint.people.roles import Role
from focalpoint.v1 import messages_pb2
from tests.console.test_operator_pages import console_of, log_in
from tests.console.test_pages import assert_secure_headers
from tests.server.test_cases_api import GR
from tests.server.test_people import (
    MINUTE_MS,
    World,
    world,  # noqa: F401 (the fixture)
)

AUDITOR = "au.1"
PAGES = ("/indicators", "/ageing-audit", "/audit")
HOUR_MS = 60 * MINUTE_MS


def _quarter(ms: int) -> str:
    at = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return f"{at.year}Q{(at.month - 1) // 3 + 1}"


def _to_next_quarter(at: World) -> None:
    now = dt.datetime.fromtimestamp(at.clock() / 1000, dt.UTC)
    start = dt.datetime(now.year + (now.month > 9), (((now.month - 1) // 3 + 1) % 4) * 3 + 1, 1, tzinfo=dt.UTC)
    at.clock.advance((start.timestamp() * 1000 - at.clock()) / MINUTE_MS + 60)


def _shown_values(html: str) -> list[str]:
    """Every table cell and every number written in an SVG chart."""
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", html, flags=re.DOTALL)]
    bars = re.findall(r'<text [^>]*font-size="14"[^>]*>([^<]*)</text>', html)
    return cells + [b.strip() for b in bars]


def _small_counts(values: list[str]) -> list[str]:
    return [v for v in values if re.fullmatch(r"[1-9](\s.*)?", v)]


async def test_an_auditor_sees_the_suppressed_national_output_of_an_ended_quarter(
    world: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    desk = world.desk
    opened = await desk.open()
    identified = world.clock() - HOUR_MS

    def no_guardian(body: messages_pb2.Body) -> None:
        body.case_notification.identified_at_ms = identified
        body.case_notification.ClearField("guardian")

    await desk.send(GR, opened.case_ref, "case_notification", no_guardian)
    quarter = _quarter(identified)
    world.clock.advance(25 * 60)  # the guardian deadline passes with no guardian
    people = desk.people[GR]
    await people.client(AUDITOR, (Role.AUDITOR,), grants=())

    async with console_of(world.nodes[GR], tmp_path) as web:
        await log_in(web, world, people, AUDITOR)
        home = await web.get("/")
        assert (home.status_code, home.headers["location"]) == (303, "/indicators")
        chooser = await web.get("/indicators")
        assert chooser.status_code == 200
        assert_secure_headers(chooser)
        assert '<input id="period" name="period"' in chooser.text
        assert 'href="/indicators" aria-current="page"' in chooser.text
        assert 'href="/ageing-audit"' in chooser.text
        assert 'href="/audit"' in chooser.text
        assert 'href="/triage"' not in chooser.text
        assert 'href="/worklist"' not in chooser.text

        running = await web.get("/indicators", params={"period": quarter})
        assert running.status_code == 409
        assert '<p class="field-error" id="period-error">National indicators are computed only for a period' in (
            running.text
        )
        assert 'aria-invalid="true"' in running.text
        assert "<section" not in running.text
        wrong = await web.get("/indicators", params={"period": "2026-07"})
        assert wrong.status_code == 400
        assert "Enter a calendar year such as 2026" in wrong.text

    _to_next_quarter(world)
    async with console_of(world.nodes[GR], tmp_path) as web:
        await log_in(web, world, people, AUDITOR)
        page = await web.get("/indicators", params={"period": quarter.lower()})
        assert page.status_code == 200, page.text
        assert_secure_headers(page)
        text = page.text
        assert f"Indicators for {quarter}" in text
        for d in DEFINITIONS:
            assert f'id="ind-{d.id}"' in text
            assert d.method.replace("'", "&#39;") in text
        i1 = text[text.index('id="ind-I1"') : text.index('id="ind-I2"')]
        assert "Guardian within the deadline" in i1
        assert "I1, version 1" in i1
        assert "Applied: some figures are withheld" in i1
        assert '<td class="withheld">&lt;10</td>' in i1
        assert "&lt;10: a count from 1 to 9 that is withheld" in text
        assert "<code>open_breaches</code>" in i1
        svgs = re.findall(r"<svg [^>]*>.*?</svg>", text, flags=re.DOTALL)
        assert svgs  # one per one-dimensional table
        for svg in svgs:
            assert 'role="img"' in svg
            assert "<title id=" in svg
            assert "style" not in svg
        assert any('stroke-dasharray="6 4"' in svg and ">&lt;10</text>" in svg for svg in svgs)
        assert _small_counts(_shown_values(text)) == []

        french = await web.get("/indicators", params={"period": quarter}, headers={"accept-language": "fr"})
        assert '<html lang="fr" dir="ltr">' in french.text
        assert "Indicateurs" in french.text
        assert "Tuteur désigné dans le délai" in french.text
        assert _small_counts(_shown_values(french.text)) == []
        await web.get("/indicators?lang=ar")
        arabic = await web.get("/indicators", params={"period": quarter})
        assert '<html lang="ar" dir="rtl">' in arabic.text
        assert "المؤشرات" in arabic.text
        assert '<p lang="en" dir="ltr">' in arabic.text  # the method statement, marked as English

        ageing = await web.get("/ageing-audit", headers={"accept-language": "en"})
        assert ageing.status_code == 200
        assert_secure_headers(ageing)
        assert "تقرير التقادم" in ageing.text  # the language cookie (Arabic) still wins
        assert _small_counts(_shown_values(ageing.text)) == []
        await web.get("/ageing-audit?lang=en")
        ageing = await web.get("/ageing-audit")
        assert "Open cases by partner State" in ageing.text
        assert "Albania" in ageing.text
        assert "&lt;10" in ageing.text
        assert opened.case_ref not in ageing.text
        assert opened.case_ref not in text


async def test_the_audit_page_shows_the_verification_and_the_latest_checkpoint(
    world: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    people = world.desk.people[GR]
    operator = await people.operator()
    await people.client(AUDITOR, (Role.AUDITOR,), grants=())

    async with console_of(world.nodes[GR], tmp_path) as web:
        await log_in(web, world, people, AUDITOR)
        before = await web.get("/audit")
        assert before.status_code == 200
        assert_secure_headers(before)
        assert "Verified: the stored log is whole and consistent." in before.text
        assert "This node has signed no checkpoint of its audit log yet." in before.text

        signed = await operator.checkpoint(create=True)
        assert signed.checkpoint
        page = await web.get("/audit")
        assert page.status_code == 200
        assert "Verified: the stored log is whole and consistent." in page.text
        [root] = re.findall(r"<dd><code><bdi>([0-9a-f]{64})</bdi></code></dd>", page.text)
        assert root
        assert "The log matches its latest checkpoint" in page.text
        assert re.search(r"<dt>Signatures</dt><dd><bdi>[A-Z0-9_, ]*ED25519", page.text)

        french = await web.get("/audit", headers={"accept-language": "fr"})
        assert "Journal d’audit" in french.text
        await web.get("/audit?lang=ar")
        arabic = await web.get("/audit")
        assert '<html lang="ar" dir="rtl">' in arabic.text
        assert "سجل التدقيق" in arabic.text


async def test_a_case_officer_and_an_operator_are_refused_the_auditor_pages(
    world: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    people = world.desk.people[GR]
    await people.operator()
    await people.client("officer.1")
    for who in ("officer.1", OPERATOR):
        async with console_of(world.nodes[GR], tmp_path) as web:
            await log_in(web, world, people, who)
            for page in PAGES:
                refused = await web.get(page, params={"period": "2025"} if page == "/indicators" else None)
                assert refused.status_code == 403, (who, page)
                assert_secure_headers(refused)
            home = await web.get("/", follow_redirects=True)
            assert 'href="/indicators"' not in home.text
