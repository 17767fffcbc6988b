"""The console's login page in a real Chromium, served by uvicorn on loopback: English, French and
Arabic (right to left) each load with zero Content-Security-Policy violations and zero axe-core
violations (served by the session's console in front of Greece's node, tests/browser/stage.py); a
sign-in the node cannot answer (a console whose node is down) ends on the console's own error page,
still without a violation. The journeys behind the login are in test_journeys.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from focalpoint.console.app import create_app
from tests.browser.conftest import ConsoleLog, axe_violations, describe_violations
from tests.browser.stage import GR, Stage, console_config, dead_address, serve

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(loop_scope="session")
async def dead_console(tmp_path: Path) -> AsyncIterator[str]:
    """A console whose node is down (nothing listens at its address): no node to start for it."""
    async with serve(create_app(console_config(tmp_path / "console.yaml", dead_address()))) as url:
        yield url


async def _clean(page: Page, log: ConsoleLog) -> None:
    assert log.csp_violations == [], log.csp_violations
    violations = await axe_violations(page)
    assert violations == [], describe_violations(violations)


@pytest.mark.parametrize(
    ("lang", "direction", "heading"),
    [("en", "ltr", "Log in"), ("fr", "ltr", "Se connecter"), ("ar", "rtl", "تسجيل الدخول")],
)
async def test_the_login_page_is_clean_in_each_language(
    browser: Browser, stage: Stage, console_log: ConsoleLog, lang: str, direction: str, heading: str
) -> None:
    console_url = stage.urls[GR]
    context = await browser.new_context(locale=lang)
    try:
        page = await context.new_page()
        console_log.attach(page)
        await page.goto(f"{console_url}/login?lang={lang}")
        assert await page.evaluate("document.documentElement.lang") == lang
        assert await page.evaluate("getComputedStyle(document.documentElement).direction") == direction
        await expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
        await _clean(page, console_log)
    finally:
        await context.close()


async def test_a_sign_in_the_node_cannot_answer_ends_on_the_consoles_error_page(
    page: Page, dead_console: str, console_log: ConsoleLog
) -> None:
    console_url = dead_console
    console_log.attach(page)
    await page.goto(f"{console_url}/login?lang=en")
    fields = page.locator("form input:not([type=hidden])")
    assert await fields.count() >= 3  # user, password, code: each reachable by its label
    for i in range(await fields.count()):
        field = fields.nth(i)
        label = await field.evaluate("f => f.labels.length")
        assert label >= 1, await field.get_attribute("name")
    await fields.nth(0).fill("co.1")
    await fields.nth(1).fill("a password long enough")
    await fields.nth(2).fill("123456")
    await page.locator("form button[type=submit]").first.click()
    await page.wait_for_load_state()
    body = await page.locator("main").inner_text()
    assert "co.1" not in body  # the typed user id is never echoed on an error page
    assert console_log.csp_violations == []
