"""The console's journeys in a real Chromium, on the session's two nodes (tests/browser/stage.py).

- The official (English): logs in with password and authenticator code, opens the case from the
  worklist, sends a case notification through its form — first incomplete, every problem shown at
  once (a summary of links, each field marked invalid and described by its message) — and a social
  inquiry request; Albania answers (through its API) and the report arrives on the timeline. A
  durable-solution agreement waits as a draft for a second officer, whose approval the return gate
  refuses while the risk assessment and the child's views are missing (the case page's checklist
  says so); once Greece has sent both, the second officer approves it from "Approvals waiting for
  you" and it leaves. On the way, the official gives an address for notifications on their own
  Notifications page.
- The same official in French and in Arabic (right to left): login, the incomplete form's problems,
  a sent notification and the case page.
- Albania's consul sees the repatriation view of their national's case and the 403 page for a Greek
  child's; Albania's operator gives an incoming case to a unit with no name on the page; Greece's
  auditor reads the indicators of an ended quarter with a withheld count.
- Security: a form posted without its CSRF token is the 403 page; a session the node ended sends the
  next page to the login with the "session has ended" notice.

Every page visited has zero Content-Security-Policy violations and zero axe-core (WCAG 2.1 AA)
violations. With $FOCALPOINT_SCREENSHOTS set, the journeys save the role guides' images there
(scripts/screenshots.sh)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from focalpoint.client import LocalClient
from focalpoint.console.forms import prefill
from focalpoint.console.security import SESSION_COOKIE
from focalpoint.localnet.samples import sample_body
from focalpoint.v1 import messages_pb2
from tests.browser.conftest import ConsoleLog, axe_violations, describe_violations
from tests.browser.stage import AL, APPROVER, AUDITOR, CONSUL, GR, OFFICER, UNITS, Stage, screenshot
from tests.support.scenario import evidence

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

NAMES = ("Arta", "Example")  # the sample child's given and family names
# The attestation's three questions: "no" to each, so nothing waits for a supervisor's review.
NOT_ENDANGERING = ("relatives_under_threat", "family_suspected", "could_reveal_whereabouts")

# Fills the message form in the page: every empty control from the sample's values (a
# datetime-local input takes its minutes only), what ``answers`` says first, the attestation's
# questions "no". Run through the DevTools protocol, like axe: the page's CSP does not apply.
_FILL = """({sample, answers, no}) => {
  const form = document.querySelector("form.message-form");
  for (const el of form.elements) {
    const name = el.name;
    if (!name || name.startsWith("_") || el.type === "hidden" || el.type === "submit") continue;
    let value = name in answers ? answers[name] : null;
    if (value === null && name.startsWith("context.attestation.") && no.includes(name.split(".").pop())) {
      value = "no";
    }
    if (el.type === "radio") {
      if (value === null && form.querySelector(`input[name="${name}"]:checked`)) continue;
      if (value === null) value = sample[name] ?? null;
      if (value !== null && el.value === value) el.checked = true;
      continue;
    }
    if (el.type === "checkbox") {
      if (value === null) value = sample[name] ?? null;
      if (value !== null) el.checked = value === "true";
      continue;
    }
    if (value === null) {
      if (el.value) continue;
      value = sample[name] ?? null;
    }
    if (value === null) continue;
    el.value = el.type === "datetime-local" ? value.slice(0, 16) : value;
  }
}"""


async def clean(page: Page, log: ConsoleLog) -> None:
    """No CSP violation so far, and none of axe's WCAG 2.1 AA rules broken on the page as it is."""
    assert log.csp_violations == [], log.csp_violations
    violations = await axe_violations(page)
    assert violations == [], f"{page.url}\n{describe_violations(violations)}"


async def fill(page: Page, stage: Stage, kind: str, case_ref: str, answers: dict[str, str] | None = None) -> None:
    sample = prefill(sample_body(kind, case_ref=case_ref, at_ms=stage.clock() - 60_000))
    await page.evaluate(_FILL, {"sample": sample, "answers": answers or {}, "no": list(NOT_ENDANGERING)})


async def send_form(page: Page, stage: Stage, kind: str, case_ref: str, answers: dict[str, str] | None = None) -> None:
    """Fill the open form of ``kind`` completely and send it: back on the case page with a notice."""
    await fill(page, stage, kind, case_ref, answers)
    await page.get_by_role("button", name=re.compile("Check and send|Vérifier|تحقق")).click()
    await page.wait_for_url(re.compile(r"/cases/[0-9a-f]+\?done=(sent|drafted)$"))


async def every_problem_at_once(page: Page) -> int:
    """After an incomplete form was posted: the summary lists every problem as a link to its field;
    each field named is marked invalid (a control) or described (a group) by its own message."""
    summary = page.locator(".error-summary[role=alert]")
    await expect(summary).to_be_visible()
    problems = summary.locator("li")
    count = await problems.count()
    assert count >= 5
    assert re.search(str(count), await summary.locator("h2").inner_text())
    links = summary.locator("li a")
    assert await links.count() >= 5
    for i in range(await links.count()):
        anchor = (await links.nth(i).get_attribute("href") or "").removeprefix("#")
        target = page.locator(f"[id='{anchor}']")
        await expect(target).to_have_count(1)
        tag = await target.evaluate("e => e.tagName")
        if tag != "FIELDSET":
            await expect(target).to_have_attribute("aria-invalid", "true")
        await expect(target).to_have_attribute("aria-describedby", f"{anchor}-err")
        message = page.locator(f"[id='{anchor}-err']")
        await expect(message).to_be_visible()
        assert (await message.inner_text()).strip()
    return count


async def timeline(page: Page) -> list[str]:
    return [t.strip() for t in await page.locator(".timeline > li > h3").all_inner_texts()]


async def test_an_official_sends_through_forms_and_the_gate_holds_a_return_until_its_evidence_is_in(
    browser: Browser, stage: Stage
) -> None:
    opened = await stage.open_case()
    ref, url = opened.case_ref, stage.urls[GR]
    context = await stage.context(browser)
    try:
        page = await context.new_page()
        log = ConsoleLog.attach(page)
        await stage.log_in(page, GR, OFFICER)
        await page.wait_for_url(f"{url}/worklist")
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
        await clean(page, log)
        await screenshot(page, "officer-worklist")

        # Their own notifications: an address to be e-mailed at, saved with a notice.
        await page.get_by_role("link", name="Notifications").click()
        await page.wait_for_url(f"{url}/account/notifications")
        await clean(page, log)
        await page.get_by_label("E-mail address for notifications").fill("duty.officer@example.org")
        await page.get_by_role("button", name="Save the notification settings").click()
        await page.wait_for_url(f"{url}/account/notifications?saved=1")
        await expect(page.locator("p.notice[role=status]")).to_be_visible()
        await expect(page.get_by_label("E-mail address for notifications")).to_have_value("duty.officer@example.org")
        await clean(page, log)
        await page.goto(f"{url}/worklist")

        await page.get_by_role("link", name=ref).click()
        await page.wait_for_url(f"{url}/cases/{opened.link_id}")
        await clean(page, log)
        await page.get_by_role("link", name="New message").click()
        await clean(page, log)
        await page.get_by_role("link", name="Case notification").click()
        await page.wait_for_url(f"{url}/cases/{opened.link_id}/messages/case_notification")
        await clean(page, log)

        # Incomplete: one name typed, nothing else; every problem comes back at once.
        await page.locator("[name='case_notification.child.given_names[0]']").fill("Arta")
        await page.get_by_role("button", name="Check and send").click()
        await page.wait_for_load_state()
        await every_problem_at_once(page)
        await expect(page.locator("[name='case_notification.child.given_names[0]']")).to_have_value("Arta")
        await clean(page, log)
        await screenshot(page, "officer-form-errors")

        # Addressed to the Albanian unit whose officers answer through the API below.
        await send_form(page, stage, "case_notification", ref, {"context.recipient_unit": UNITS[AL]})
        await expect(page.locator("p.notice[role=status]")).to_be_visible()
        assert await timeline(page) == ["Case notification"]
        await clean(page, log)

        await page.goto(f"{url}/cases/{opened.link_id}/messages/social_inquiry_request")
        await page.get_by_role("button", name="Check and send").click()
        await page.wait_for_load_state()
        await every_problem_at_once(page)
        await send_form(page, stage, "social_inquiry_request", ref)
        assert await timeline(page) == ["Case notification", "Social inquiry request"]

        # Albania answers through its API: the social inquiry, identity, its reintegration plan, and
        # (two Albanian officers) a proposal to return the child, resting on that evidence.
        asked = await stage.received(AL, ref, "social_inquiry_request")
        report = await stage.send(AL, ref, "social_inquiry_report", answers=asked)
        identity = await stage.send(GR, ref, "identity_verification_request")
        await stage.send(
            AL,
            ref,
            "identity_verification_reply",
            answers=await stage.received(AL, ref, "identity_verification_request"),
        )
        plan = await stage.send(AL, ref, "reintegration_plan")
        proposal = await stage.send(AL, ref, "durable_solution_proposal", evidence(report, plan))
        assert identity
        await stage.received(GR, ref, "durable_solution_proposal")

        await page.reload()
        assert "Social inquiry report" in await timeline(page)
        await clean(page, log)

        # The agreement to return waits for a second officer; it crosses a border: the gate applies.
        await page.goto(f"{url}/cases/{opened.link_id}/messages/durable_solution_agreement?ref={proposal.hex()}")
        await clean(page, log)
        await send_form(page, stage, "durable_solution_agreement", ref)
        await expect(page.locator("#drafts-heading")).to_be_visible()
        await expect(page.get_by_role("button", name="Approve and send")).to_have_count(0)

        second = await stage.context(browser)
        try:
            other = await second.new_page()
            other_log = ConsoleLog.attach(other)
            await stage.log_in(other, GR, APPROVER)
            await other.get_by_role("link", name="Approvals waiting for you").click()
            await other.wait_for_url(f"{url}/approvals")
            row = other.get_by_role("row").filter(has_text=ref)
            await expect(row).to_contain_text("Durable solution agreement")
            await expect(row).to_contain_text(OFFICER)
            await clean(other, other_log)
            await screenshot(other, "officer-approvals")

            await row.get_by_role("link", name=ref).click()
            await other.wait_for_url(re.compile(rf"/cases/{opened.link_id}#drafts-heading$"))
            await other.get_by_text("Read the message before approving it").click()
            await clean(other, other_log)
            await other.get_by_role("button", name="Approve and send").click()
            await other.wait_for_load_state()
            refusal = other.locator("p.failure[role=alert]")
            await expect(refusal).to_contain_text("the return gate is not met")
            missing = other.locator(".checklist li.missing")
            await expect(missing).to_have_count(2)  # the risk assessment and the child's views
            await clean(other, other_log)
            await other.locator("#gate-heading").scroll_into_view_if_needed()
            await screenshot(other, "officer-case-gate")

            # What the gate needs: a pre-return risk assessment (API) and the child's views (the form).
            await stage.send(GR, ref, "risk_assessment_report")
            await page.goto(f"{url}/cases/{opened.link_id}/messages/child_views_record")
            await clean(page, log)
            await send_form(page, stage, "child_views_record", ref)
            await expect(page.locator(".checklist li.missing")).to_have_count(0)

            await other.goto(f"{url}/cases/{opened.link_id}")
            await other.get_by_role("button", name="Approve and send").click()
            await other.wait_for_url(f"{url}/cases/{opened.link_id}?done=approved")
            await expect(other.locator("p.notice[role=status]")).to_be_visible()
            assert "Durable solution agreement" in await timeline(other)
            await expect(other.locator("#drafts-heading")).to_have_count(0)
            await clean(other, other_log)
        finally:
            await second.close()
    finally:
        await context.close()


@pytest.mark.parametrize(("lang", "direction"), [("fr", "ltr"), ("ar", "rtl")])
async def test_the_official_works_in_french_and_arabic(
    browser: Browser, stage: Stage, lang: str, direction: str
) -> None:
    opened = await stage.open_case()
    url = stage.urls[GR]
    context = await stage.context(browser, lang)
    try:
        page = await context.new_page()
        log = ConsoleLog.attach(page)
        await page.goto(f"{url}/login?lang={lang}")
        assert await page.evaluate("document.documentElement.lang") == lang
        assert await page.evaluate("document.documentElement.dir") == direction
        await clean(page, log)
        await stage.log_in(page, GR, OFFICER)
        await page.wait_for_url(f"{url}/worklist")
        assert await page.evaluate("document.documentElement.dir") == direction
        await clean(page, log)

        await page.goto(f"{url}/cases/{opened.link_id}/messages/case_notification")
        await page.locator("form.message-form button[name=_send]").click()
        await page.wait_for_load_state()
        await every_problem_at_once(page)
        assert await page.evaluate("document.documentElement.lang") == lang
        heading = await page.locator(".error-summary h2").inner_text()
        assert "The form has" not in heading  # said in the page's language
        await clean(page, log)

        await fill(page, stage, "case_notification", opened.case_ref)
        await page.locator("form.message-form button[name=_send]").click()
        await page.wait_for_url(f"{url}/cases/{opened.link_id}?done=sent")
        await expect(page.locator("p.notice[role=status]")).to_be_visible()
        await expect(page.locator(".timeline > li")).to_have_count(1)
        assert await page.evaluate("getComputedStyle(document.documentElement).direction") == direction
        await clean(page, log)
        if lang == "ar":
            await screenshot(page, "officer-case-ar")
    finally:
        await context.close()


async def test_the_consul_sees_their_nationals_case_and_is_refused_another(browser: Browser, stage: Stage) -> None:
    national = await stage.open_case()
    await stage.send(GR, national.case_ref, "case_notification")
    greek = await stage.open_case(at=AL, partner=GR)  # a Greek child Albania identified
    link = await stage.link(AL, national.case_ref)
    url = stage.urls[AL]
    context = await stage.context(browser)
    try:
        page = await context.new_page()
        log = ConsoleLog.attach(page)
        await stage.log_in(page, AL, CONSUL)
        await page.wait_for_url(f"{url}/nationals")
        await expect(page.get_by_role("link", name=national.case_ref)).to_be_visible()
        await expect(page.get_by_role("link", name=greek.case_ref)).to_have_count(0)
        await clean(page, log)
        await screenshot(page, "consul-nationals")

        await page.get_by_role("link", name=national.case_ref).click()
        await page.wait_for_url(f"{url}/cases/{link}")
        await expect(page.locator("section[aria-labelledby=summary-heading]")).to_contain_text(
            "What a return needs (consular view)"
        )
        await clean(page, log)

        refused = await page.goto(f"{url}/cases/{greek.link_id}")
        assert refused is not None
        assert refused.status == 403
        await expect(page.get_by_role("heading", level=1)).to_contain_text("Not allowed")
        assert greek.case_ref not in await page.content()
        await clean(page, log)
    finally:
        await context.close()


async def test_the_operator_gives_an_incoming_case_to_a_unit_without_seeing_a_name(
    browser: Browser, stage: Stage
) -> None:
    opened = await stage.open_case()

    def to_no_unit(body: messages_pb2.Body) -> None:
        body.context.recipient_unit = ""

    await stage.send(GR, opened.case_ref, "case_notification", to_no_unit)  # delivered: waiting at Albania
    url = stage.urls[AL]
    context = await stage.context(browser)
    try:
        page = await context.new_page()
        log = ConsoleLog.attach(page)
        await stage.log_in(page, AL, "operator.1")
        await page.wait_for_url(f"{url}/triage")
        row = page.get_by_role("row").filter(has_text=opened.case_ref)
        await expect(row).to_have_count(1)
        text = await page.locator("main").inner_text()
        for name in NAMES:
            assert name not in text
        await clean(page, log)
        await screenshot(page, "operator-triage")

        await page.get_by_label(re.compile(f"Unit for case {re.escape(opened.case_ref)}")).select_option(
            "al-shss/elbasan"
        )
        await row.get_by_role("button").click()
        await page.wait_for_url(f"{url}/triage?assigned=1")
        await expect(page.locator("p.notice[role=status]")).to_be_visible()
        await expect(page.get_by_role("row").filter(has_text=opened.case_ref)).to_have_count(0)
        await clean(page, log)

        # The operator's other pages: deadlines, and the partners' reachability after a check.
        await page.goto(f"{url}/deadlines")
        await clean(page, log)
        await page.goto(f"{url}/health")
        await page.get_by_role("button", name="Check the partners now").click()
        await expect(page.locator("p.notice[role=status]")).to_be_visible()
        await expect(page.get_by_role("row").filter(has_text=GR)).to_have_count(1)
        await clean(page, log)

        # The 24/7 on-call list: put an account on it, see it listed, take it off again (the
        # shared stage's list is as it was for the other tests).
        await page.goto(f"{url}/on-call")
        choice = page.get_by_label("Active account")
        user_id = await choice.input_value()
        await page.get_by_role("button", name="Put on the list").click()
        await page.wait_for_url(f"{url}/on-call?done=added")
        listed = page.get_by_role("row").filter(has_text=user_id)
        await expect(listed).to_have_count(1)
        await clean(page, log)
        await listed.get_by_role("button").click()
        await page.wait_for_url(f"{url}/on-call?done=removed")
        await expect(page.get_by_role("row").filter(has_text=user_id)).to_have_count(0)
    finally:
        await context.close()


async def test_the_auditor_reads_an_ended_quarters_indicators_with_a_withheld_count(
    browser: Browser, stage: Stage
) -> None:
    url = stage.urls[GR]
    context = await stage.context(browser)
    try:
        page = await context.new_page()
        log = ConsoleLog.attach(page)
        await stage.log_in(page, GR, AUDITOR)
        await page.wait_for_url(f"{url}/indicators")
        await clean(page, log)
        await page.locator("#period").fill(stage.audited_period)
        await page.locator("form.period button[type=submit]").click()
        await page.wait_for_url(re.compile(r"/indicators\?period="))
        await expect(page.get_by_role("heading", level=2).first).to_contain_text(stage.audited_period)
        withheld = page.locator("td.withheld")
        assert await withheld.count() >= 1
        await expect(withheld.first).to_have_text("<10")
        await clean(page, log)
        await page.locator("td.withheld").first.scroll_into_view_if_needed()
        await screenshot(page, "auditor-indicators")

        # The auditor's other pages, aggregates and metadata only.
        for path in ("/ageing-audit", "/audit", "/access-review"):
            await page.goto(f"{url}{path}")
            await clean(page, log)
        await page.locator("input[name=case_ref]").fill("not a reference")
        await page.locator("main form button[type=submit]").click()
        await expect(page.locator("[aria-invalid=true]")).to_have_count(1)
        await clean(page, log)
    finally:
        await context.close()


async def test_a_form_without_its_token_is_refused_and_an_ended_session_returns_to_the_login(
    browser: Browser, stage: Stage
) -> None:
    opened = await stage.open_case()
    url = stage.urls[GR]
    context = await stage.context(browser)
    try:
        page = await context.new_page()
        log = ConsoleLog.attach(page)
        await stage.log_in(page, GR, OFFICER)
        await page.goto(f"{url}/cases/{opened.link_id}/messages/case_notification")
        await page.evaluate("document.querySelector('form.message-form input[name=csrf]').remove()")
        async with page.expect_navigation() as posted:
            await page.locator("form.message-form button[name=_send]").click()
        response = await posted.value
        assert response is not None
        assert response.status == 403
        await expect(page.get_by_role("heading", level=1)).to_contain_text("Not allowed")
        await clean(page, log)

        # The node ends the session (as an idle timeout or a logout elsewhere would).
        [session] = [c["value"] for c in await context.cookies() if c["name"] == SESSION_COOKIE]
        async with LocalClient(stage.people[GR].address, session=session) as ended:
            await ended.logout()
        await page.goto(f"{url}/worklist")
        await page.wait_for_url(f"{url}/login?ended=1")
        await expect(page.locator("main")).to_contain_text("Your session has ended")
        await clean(page, log)
    finally:
        await context.close()
