"""The case page in a real Chromium, with real nodes behind the console: an officer logs in through
the form, follows the worklist's link to a case on which a notification and a social inquiry
request were sent, and the page — in English and in Arabic (right to left) — has zero
Content-Security-Policy and zero axe-core violations; an address that cannot be a case link ends
on the console's 404 page, clean too.

The nodes and the console are the session's ``stage`` (tests/browser/stage.py), shared with every
browser test: this test opens its own case on them."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import ConsoleLog, axe_violations, describe_violations
from tests.browser.stage import GR, OFFICER, Stage

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def _clean(page: Page, log: ConsoleLog) -> None:
    assert log.csp_violations == [], log.csp_violations
    violations = await axe_violations(page)
    assert violations == [], describe_violations(violations)


async def test_the_case_page_is_clean_in_english_and_arabic(browser: Browser, stage: Stage) -> None:
    opened = await stage.open_case()
    for kind in ("case_notification", "social_inquiry_request"):
        await stage.send(GR, opened.case_ref, kind)
    url = stage.urls[GR]
    context = await stage.context(browser)
    try:
        page = await context.new_page()
        log = ConsoleLog.attach(page)
        await stage.log_in(page, GR, OFFICER)
        await page.wait_for_url(f"{url}/worklist")
        await _clean(page, log)
        await page.get_by_role("link", name=opened.case_ref).click()
        await page.wait_for_url(f"{url}/cases/{opened.link_id}")
        await expect(page.get_by_role("heading", level=1)).to_contain_text(opened.case_ref)
        kinds = page.locator(".timeline > li > h3")
        await expect(kinds).to_have_text(["Case notification", "Social inquiry request"])
        await _clean(page, log)

        await page.goto(f"{url}/cases/{opened.link_id}?lang=ar")
        assert await page.evaluate("document.documentElement.lang") == "ar"
        assert await page.evaluate("getComputedStyle(document.documentElement).direction") == "rtl"
        await expect(page.get_by_role("heading", level=2).first).to_have_text("ملخص")
        await _clean(page, log)

        missing = await page.goto(f"{url}/cases/not-a-link")
        assert missing is not None
        assert missing.status == 404
        await _clean(page, log)
    finally:
        await context.close()
