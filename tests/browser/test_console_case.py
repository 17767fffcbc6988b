"""The case page in a real Chromium, with real nodes behind the console: an officer logs in through
the form, follows the worklist's link to a case on which a notification and a social inquiry
request were sent, and the page — in English and in Arabic (right to left) — has zero
Content-Security-Policy and zero axe-core violations; an address that cannot be a case link ends
on the console's 404 page, clean too.

The nodes, the console's uvicorn server and the browser share the session's event loop (see
tests/browser/conftest.py), so the nodes are started inside the test rather than by the
function-loop fixtures of tests/conftest.py."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, Page, expect

from focalpoint.console.app import create_app
from focalpoint.localnet import LocalNetwork
from focalpoint.localnet.people import People, Person
from focalpoint.localnet.samples import sample_body
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState
from tests.browser.conftest import ConsoleLog, axe_violations, describe_violations
from tests.browser.test_console_login import _config

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

GR, AL = "gr-ekka", "al-shss"


@contextlib.asynccontextmanager
async def serve(app: object) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_config=None, access_log=False, server_header=False)  # type: ignore[arg-type]
    )
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


async def _log_in(page: Page, url: str, person: Person) -> None:
    await page.goto(f"{url}/login")
    await page.get_by_label("User id").fill(person.user_id)
    await page.get_by_label("Password").fill(person.password)
    # The enrolment and the helper's own login spent this step's and the next step's codes.
    await page.get_by_label("Code from your authenticator app, or a recovery code").fill(person.recovery.pop())
    await page.locator("form.form button[type=submit]").click()
    await page.wait_for_url(f"{url}/worklist")


async def test_the_case_page_is_clean_in_english_and_arabic(
    browser: Browser, network: LocalNetwork, tmp_path: Path
) -> None:
    nodes = []
    try:
        for node_id in (GR, AL):
            node = await Node.open(load_config(network.nodes[node_id].config_path))
            await node.start()
            nodes.append(node)
        gr = nodes[0]
        people = People(f"127.0.0.1:{gr.local_port}", gr.keyring.keys.local_api_token, unit="gr-ekka/athens")
        try:
            officer = await people.client("officer.1")
            opened = await officer.open_case(AL, wall_clock_ms() - 3_600_000)
            for kind in ("case_notification", "social_inquiry_request"):
                body = sample_body(kind, case_ref=opened.case_ref, at_ms=wall_clock_ms() - 1000)
                sent = await officer.send_case(opened.link_id, body=body)
                assert await asyncio.wait_for(gr.delivery.wait_closed(sent.message_id), 20) is DeliveryState.DELIVERED
            config = replace(_config(tmp_path), node_local_api=f"127.0.0.1:{gr.local_port}")
            async with serve(create_app(config)) as url:
                context = await browser.new_context(locale="en")
                try:
                    page = await context.new_page()
                    log = ConsoleLog.attach(page)
                    await _log_in(page, url, people.people["officer.1"])
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
        finally:
            await people.close()
    finally:
        for node in nodes:
            await node.stop(0)
