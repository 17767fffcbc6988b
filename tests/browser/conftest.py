"""A real headless browser for the console's tests: Debian's Chromium driven by Playwright's async API.

The browser is the distribution's ``chromium`` package, launched through ``executable_path``; nobody
runs ``playwright install`` (Debian patches its Chromium and ships its security updates, and the
test machines need no second browser download). ``scripts/ensure_chromium.sh`` installs it when it
is missing (``scripts/test.sh`` calls it; as root, which is how CI runs, it installs the package).
Without it the browser tests fail when ``CI`` is set and are skipped otherwise, with the command that
installs it — docs/architecture.md, "Browser tests".

Event loops (pytest-asyncio 1.5, ``asyncio_mode = "auto"``, default loop scope "function" for the
rest of the suite): starting Chromium once per session needs the browser fixture and every test
that uses it on one session-wide loop. So:

- ``browser`` is ``@pytest_asyncio.fixture(scope="session", loop_scope="session")``;
- ``page`` (and anything else async that touches the browser) is function-scoped but declared with
  ``loop_scope="session"``, so it runs on the browser's loop;
- every browser test module sets
  ``pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]``.

A test on the default function loop that asks for ``page`` fails with "attached to a different
loop" errors: the marker is what makes it work.

The nodes and consoles behind the pages are shared the same way: ``stage`` (session scope, session
loop; tests/browser/stage.py) starts Greece's and Albania's nodes, their people and a console in
front of each once for the whole browser suite, so no browser test starts a node of its own.

Helpers for the tests: :func:`axe_violations` runs the vendored axe-core (tests/browser/vendor/,
see its README) against the WCAG 2.1 A and AA rules, and :class:`ConsoleLog` records the page's
console, Content-Security-Policy violations included.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, NoReturn, cast

import pytest
import pytest_asyncio
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from tests.browser.stage import Stage, staged

VENDOR = Path(__file__).resolve().parent / "vendor"
INSTALL_HINT = "sudo ./scripts/ensure_chromium.sh (or: sudo apt-get install -y chromium)"

# Headless in containers and CI: no sandbox (often no user namespaces), no GPU, no /dev/shm limits,
# and no network chatter of its own (sync, component updates, QUIC), so a test sees only its pages.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
)

# The WCAG 2.1 A and AA rules: the console's accessibility target (issue 13).
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")

CSP_MARKER = "Content Security Policy"


def chromium_path() -> str | None:
    """Where Debian's Chromium is, or None when it is not installed."""
    return shutil.which("chromium")


def _missing_chromium() -> NoReturn:
    """Fail in CI (which must have installed Chromium), skip elsewhere with the command to install it."""
    message = f"chromium is not installed; run {INSTALL_HINT}"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and {message}", pytrace=False)
    pytest.skip(message)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the whole session (starting it costs about a second)."""
    executable = chromium_path()
    if executable is None:
        _missing_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, headless=True, args=list(CHROMIUM_ARGS))
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def stage(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stage]:
    """Greece's and Albania's nodes, their people and a console in front of each, for the session."""
    if chromium_path() is None:
        _missing_chromium()  # no browser: no reason to start nodes either
    async with staged(tmp_path_factory.mktemp("stage")) as started:
        yield started


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh page in a fresh context (no cookies, storage or cache shared between tests)."""
    context = await browser.new_context()
    try:
        yield await context.new_page()
    finally:
        await context.close()


@dataclass(slots=True)
class ConsoleLog:
    """What a page wrote to its console, in order, from the moment it was attached."""

    messages: list[str] = field(default_factory=list)

    def record(self, message: ConsoleMessage) -> None:
        self.messages.append(message.text)

    @property
    def csp_violations(self) -> list[str]:
        """The Content-Security-Policy violations Chromium reported (each blocked script, style, …)."""
        return [text for text in self.messages if CSP_MARKER in text]

    @classmethod
    def attach(cls, page: Page) -> ConsoleLog:
        """Start recording ``page``'s console; attach before navigating to see everything."""
        log = cls()

        # A plain function, not the bound method: Playwright stores a wrapper on a bound method's
        # object, which a slotted dataclass does not allow.
        def on_console(message: ConsoleMessage) -> None:
            log.record(message)

        page.on("console", on_console)
        return log


@pytest.fixture
def console_log(page: Page) -> ConsoleLog:
    """The console of the test's ``page``, recorded from before its first navigation."""
    return ConsoleLog.attach(page)


@cache
def _axe_source() -> str:
    return (VENDOR / "axe.min.js").read_text(encoding="utf-8")


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now (an empty list when there are none).

    axe is injected with ``page.evaluate``, not a ``<script>`` tag, so it runs under the strictest
    Content-Security-Policy and adds no CSP violation of its own.
    """
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(_axe_source())
    results = await page.evaluate(
        """async (tags) => {
            const results = await axe.run(document, {runOnly: {type: "tag", values: tags}});
            return results.violations;
        }""",
        list(AXE_TAGS),
    )
    return cast(list[dict[str, Any]], results)


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """One line per violation (rule, impact, the elements' selectors), for an assertion's message."""
    lines = []
    for violation in violations:
        targets = [", ".join(map(str, node.get("target", []))) for node in violation.get("nodes", [])]
        lines.append(f"{violation.get('id')} ({violation.get('impact')}): {violation.get('help')} at {targets}")
    return "\n".join(lines)
