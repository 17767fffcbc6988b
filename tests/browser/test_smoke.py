"""The browser-test machinery works before any console page relies on it: Chromium starts, the
console log sees a Content-Security-Policy violation, axe-core finds an accessibility problem when
there is one (and none on a clean page), and a right-to-left page lays out right to left."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page

from tests.browser.conftest import ConsoleLog, axe_violations, describe_violations

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

STRICT_CSP = "default-src 'none'; script-src 'self'; style-src 'self'"

# The inline script would set the title if it ran; the strict policy must block it.
INLINE_SCRIPT_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>blocked</title></head>
<body><main><p>An inline script follows.</p>
<script>document.title = "ran"; window.inlineRan = true;</script>
</main></body></html>
"""

ACCESSIBLE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<header><p>focalpoint</p></header>
<nav aria-label="Main"><a href="#form">Sign in</a></nav>
<main id="form">
  <h1>Sign in</h1>
  <form method="post" action="#">
    <label for="user">User name</label>
    <input id="user" name="user" type="text" autocomplete="username">
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password">
    <label for="code">One-time code</label>
    <input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code">
    <button type="submit">Sign in</button>
  </form>
</main>
<footer><p>Secure messaging between focal points</p></footer>
</body></html>
"""

UNLABELLED_INPUT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Search</title></head>
<body><main><h1>Search</h1><form><input type="text" name="q"><button type="submit">Go</button></form></main>
</body></html>
"""

RTL_PAGE = """<!doctype html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>تسجيل الدخول</title></head>
<body><main><h1>تسجيل الدخول</h1><p>مرحبا <bdi>Anna</bdi></p></main></body></html>
"""


async def _serve_one_page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer ``GET /`` with the inline-script page under the strict policy, anything else with 404."""
    try:
        request_line = await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass  # headers: not needed
        found = request_line.split(b" ")[1:2] == [b"/"]
        body = INLINE_SCRIPT_PAGE if found else b"not found"
        head = [
            b"HTTP/1.1 200 OK" if found else b"HTTP/1.1 404 Not Found",
            b"Content-Type: text/html; charset=utf-8" if found else b"Content-Type: text/plain",
            b"Content-Security-Policy: " + STRICT_CSP.encode(),
            b"Content-Length: " + str(len(body)).encode(),
            b"Connection: close",
        ]
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        await writer.drain()
    finally:
        writer.close()


@pytest_asyncio.fixture(loop_scope="session")
async def strict_site() -> AsyncIterator[str]:
    """A tiny HTTP server on loopback (ephemeral port) serving one page with the strict policy."""
    server = await asyncio.start_server(_serve_one_page, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.close()
        await server.wait_closed()


async def test_the_browser_starts_and_says_its_version(browser: Browser) -> None:
    """Debian's Chromium starts headless under Playwright and reports a version."""
    assert browser.is_connected()
    major = browser.version.split(".")[0]
    assert major.isdigit(), browser.version


async def test_a_strict_policy_blocks_inline_script_and_the_console_says_so_once(
    page: Page, console_log: ConsoleLog, strict_site: str
) -> None:
    """The strict policy blocks an inline script, and the console log records exactly that one violation."""
    response = await page.goto(strict_site)
    assert response is not None
    assert response.ok
    assert response.headers["content-security-policy"] == STRICT_CSP
    assert await page.title() == "blocked"
    assert await page.evaluate("() => window.inlineRan === undefined")
    assert len(console_log.csp_violations) == 1, console_log.messages
    assert "script-src" in console_log.csp_violations[0]
    # axe runs under the same policy (injected through the protocol, not a script tag) and adds none.
    assert await axe_violations(page) == []
    assert len(console_log.csp_violations) == 1, console_log.messages


async def test_axe_finds_nothing_on_an_accessible_page(page: Page, console_log: ConsoleLog) -> None:
    """A page with a language, a title, landmarks and labelled fields passes WCAG 2.1 AA in axe."""
    await page.set_content(ACCESSIBLE_PAGE)
    violations = await axe_violations(page)
    assert violations == [], describe_violations(violations)
    assert console_log.csp_violations == []


async def test_axe_finds_an_input_without_a_label(page: Page) -> None:
    """axe reports the missing label, so a clean result means something."""
    await page.set_content(UNLABELLED_INPUT_PAGE)
    violations = await axe_violations(page)
    assert "label" in {violation["id"] for violation in violations}, describe_violations(violations)


async def test_a_right_to_left_page_lays_out_right_to_left(page: Page) -> None:
    """dir="rtl" on the root lays the page out right to left, and <bdi> isolates an embedded name."""
    await page.set_content(RTL_PAGE)
    direction = await page.evaluate("() => getComputedStyle(document.documentElement).direction")
    assert direction == "rtl"
    assert await page.evaluate("() => getComputedStyle(document.querySelector('bdi')).unicodeBidi") == "isolate"
