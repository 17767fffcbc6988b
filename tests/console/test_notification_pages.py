"""The notification pages against real nodes over their real gRPC, through httpx's ASGI transport:
an official sets their address and language and turns deadlines off, sees them on the page, and
the node's account holds them; a malformed address is refused beside its field with nothing
changed; a family their duty needs is not offered, and a forged form turning it off is refused
with the reason; an operator puts a user on call and takes them off; an official gets 403 on the
on-call list; a form without its token is 403; French and Arabic render; the address never
reaches the console's log."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from focalpoint.console import notifications
from focalpoint.localnet.people import OPERATOR
from tests.console.test_operator_pages import SAME, console_of, form_token, log_in
from tests.console.test_pages import (
    assert_secure_headers,
    logged,  # noqa: F401 (the fixture)
)
from tests.server.test_cases_api import AL
from tests.server.test_people import (
    World,
    world,  # noqa: F401 (the fixture)
)

ADDRESS = "arta.duty-desk@example.org"  # distinctive: searched for in the log


def _checked(page: str) -> list[str]:
    return re.findall(r'<input type="checkbox" id="n-family-(\w+)" name="on" value="\w+" checked', page)


def _fixed(page: str) -> list[str]:
    return re.findall(r'<input type="hidden" name="on" value="(\w+)">', page)


async def test_an_official_sets_their_address_language_and_families(
    world: World,  # noqa: F811
    tmp_path: Path,
    logged: list[str],  # noqa: F811
) -> None:
    people = world.desk.people[AL]
    operator = await people.operator()
    await people.client("officer.1")  # a supervisor: the approve grant
    await people.client("officer.2", grants=())

    async with console_of(world.nodes[AL], tmp_path) as web:
        await log_in(web, world, people, "officer.2")
        page = await web.get("/account/notifications")
        assert page.status_code == 200
        assert_secure_headers(page)
        assert 'href="/account/notifications" aria-current="page"' in page.text
        assert 'value=""' in page.text  # no address yet
        assert _checked(page.text) == ["deadlines", "requests", "emergency", "security"]
        assert _fixed(page.text) == []
        assert "You are not on the 24/7 on-call list." in page.text
        token = form_token(page)

        no_token = await web.post("/account/notifications", data={"email": ADDRESS, "language": "fr"}, headers=SAME)
        assert no_token.status_code == 403
        bad = {"csrf": token, "email": "arta at example", "language": "fr", "on": ["requests"]}
        refused = await web.post("/account/notifications", data=bad, headers=SAME)
        assert refused.status_code == 400
        assert re.search(r'<p class="field-error" id="n-email-err">Enter an e-mail address such as', refused.text)
        assert 'aria-invalid="true"' in refused.text
        assert '<a href="#n-email">' in refused.text  # the error summary links to the field
        assert 'value="arta at example"' in refused.text  # what was typed is kept
        assert _checked(refused.text) == ["requests"]  # as posted
        unchanged = await operator.show_user("officer.2")
        assert (unchanged.email, unchanged.language, list(unchanged.notifications_off)) == ("", "en", [])

        good = {"csrf": token, "email": ADDRESS, "language": "fr", "on": ["requests", "emergency", "security"]}
        saved = await web.post("/account/notifications", data=good, headers=SAME)
        assert (saved.status_code, saved.headers["location"]) == (303, "/account/notifications?saved=1")
        after = await web.get("/account/notifications?saved=1")
        assert '<p class="notice" role="status">Your notification settings were saved.' in after.text
        assert f'value="{ADDRESS}"' in after.text
        assert '<option value="fr" lang="fr" selected>' in after.text
        assert _checked(after.text) == ["requests", "emergency", "security"]
        account = await operator.show_user("officer.2")
        assert (account.email, account.language, list(account.notifications_off)) == (ADDRESS, "fr", ["deadlines"])

        again = await web.post("/account/notifications", data=good, headers=SAME)
        assert again.headers["location"] == "/account/notifications?saved=0"  # nothing to change: nothing sent

        emptied = {**good, "email": ""}
        assert (await web.post("/account/notifications", data=emptied, headers=SAME)).status_code == 303
        assert (await operator.show_user("officer.2")).email == ""

        french = await web.get("/account/notifications", headers={"accept-language": "fr"})
        assert '<html lang="fr" dir="ltr">' in french.text
        assert "Enregistrer les réglages de notification" in french.text
        await web.get("/account/notifications?lang=ar")
        arabic = await web.get("/account/notifications")
        assert '<html lang="ar" dir="rtl">' in arabic.text
        assert "حفظ إعدادات الإشعارات" in arabic.text

        refused_on_call = await web.get("/on-call")
        assert refused_on_call.status_code == 403
        assert 'href="/on-call"' not in page.text

    assert any('"console_notifications_saved"' in line for line in logged)
    for line in logged:
        assert "arta.duty-desk" not in line  # the address, nor its local part


async def test_a_family_the_duty_needs_is_fixed_and_a_forged_form_is_refused(
    world: World,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    people = world.desk.people[AL]
    operator = await people.operator()
    await people.client("officer.1")  # case officer with the approve grant: a supervisor

    async with console_of(world.nodes[AL], tmp_path) as web:
        await log_in(web, world, people, "officer.1")
        page = await web.get("/account/notifications")
        assert _fixed(page.text) == ["security"]
        assert 'id="n-family-security"' in page.text
        assert 'type="checkbox" id="n-family-security"' not in page.text
        assert "Always on: operators and supervisors are always told of break-glass" in page.text
        forged = {"csrf": form_token(page), "email": "", "language": "en", "on": ["requests", "emergency"]}
        refused = await web.post("/account/notifications", data=forged, headers=SAME)
        assert refused.status_code == 409
        assert "The node refused these settings; nothing was saved." in refused.text
        assert "Break-glass and access anomalies cannot be turned off" in refused.text
        assert list((await operator.show_user("officer.1")).notifications_off) == []

        # The node checks the address again: with the console's own check out of the way, a bad
        # address reaches it and is refused beside its field (after the families were saved, so said).
        monkeypatch.setattr(notifications, "check_address", lambda _: None)
        token = form_token(page)
        bad = {"csrf": token, "email": "not an address", "language": "en", "on": ["requests", "emergency", "security"]}
        node_refused = await web.post("/account/notifications", data=bad, headers=SAME)
        assert node_refused.status_code == 409
        assert "Your choice of families was saved, but the node refused the address" in node_refused.text
        assert '<p class="field-error" id="n-email-err">The node refused this e-mail address.' in node_refused.text
        account = await operator.show_user("officer.1")
        assert (account.email, list(account.notifications_off)) == ("", ["deadlines"])

    await operator.set_on_call("officer.1", True)
    async with console_of(world.nodes[AL], tmp_path) as web:
        await log_in(web, world, people, "officer.1")
        page = await web.get("/account/notifications")
        assert _fixed(page.text) == ["emergency", "security"]
        assert "You are on the 24/7 on-call list" in page.text


async def test_an_operator_puts_a_user_on_call_and_takes_them_off(
    world: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    people = world.desk.people[AL]
    operator = await people.operator()
    await people.client("officer.1")
    await people.client("consul.1", grants=())  # any account may be on call
    await operator.set_contact("consul.1", email="consul.one@example.org")

    async with console_of(world.nodes[AL], tmp_path) as web:
        await log_in(web, world, people, OPERATOR)
        page = await web.get("/on-call")
        assert page.status_code == 200
        assert_secure_headers(page)
        assert 'href="/on-call" aria-current="page"' in page.text
        assert "Nobody is on call." in page.text
        options = re.findall(r'<option value="([^"]+)">', page.text)
        assert {"officer.1", "consul.1", OPERATOR} <= set(options)
        token = form_token(page)

        no_token = await web.post("/on-call", data={"user_id": "officer.1", "on_call": "1"}, headers=SAME)
        assert no_token.status_code == 403
        nowhere = await web.post("/on-call", data={"csrf": token, "user_id": "nobody.9", "on_call": "1"}, headers=SAME)
        assert nowhere.status_code == 400
        assert "Choose one of the active accounts in the list." in nowhere.text

        for who in ("officer.1", "consul.1"):
            put = await web.post("/on-call", data={"csrf": token, "user_id": who, "on_call": "1"}, headers=SAME)
            assert (put.status_code, put.headers["location"]) == (303, "/on-call?done=added")
        listed = await web.get("/on-call?done=added")
        assert "The account was put on the on-call list." in listed.text
        assert "Nobody is on call." not in listed.text
        rows = re.findall(r'<th scope="row"><bdi>([^<]+)</bdi>.*?</tr>', listed.text, flags=re.DOTALL)
        assert rows == ["consul.1", "officer.1"]
        officer_row = listed.text[listed.text.index("<bdi>officer.1</bdi>") :].split("</tr>")[0]
        assert "No address: cannot be e-mailed" in officer_row
        consul_row = listed.text[listed.text.index("<bdi>consul.1</bdi>") :].split("</tr>")[0]
        assert "Has an address" in consul_row
        assert "consul.one@example.org" not in listed.text  # whether there is one, never the address
        assert (await operator.show_user("officer.1")).on_call

        off = await web.post("/on-call", data={"csrf": token, "user_id": "officer.1", "on_call": "0"}, headers=SAME)
        assert off.headers["location"] == "/on-call?done=removed"
        assert not (await operator.show_user("officer.1")).on_call
        assert (await operator.show_user("consul.1")).on_call

        arabic = await web.get("/on-call", headers={"accept-language": "ar"})
        assert '<html lang="ar" dir="rtl">' in arabic.text
        assert "قائمة المناوبة" in arabic.text
