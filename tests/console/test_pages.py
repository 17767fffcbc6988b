"""The console against a real node's local API over its real gRPC, through httpx's ASGI transport
(no browser): login with the second factor, the session cookie's attributes, the worklist of
the officer's own unit only and its pages, CSRF and cross-site refusals, sessions the node ended,
French and Arabic pages, the headers of every response, and log lines free of tokens and cases."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from focalpoint.client import LocalClient
from focalpoint.console.app import create_app
from focalpoint.console.config import load_console_config
from focalpoint.console.security import CSP
from focalpoint.localnet import LocalNetwork
from focalpoint.localnet.people import People, Person
from focalpoint.node.ports import wall_clock_ms
from focalpoint.people.roles import Role
from focalpoint.server.config import load_config
from focalpoint.server.node import Node

GR, AL = "gr-ekka", "al-shss"
ATHENS, THESSALONIKI = "gr-ekka/athens", "gr-ekka/thessaloniki"
PAGE = 5
ORIGIN = "https://127.0.0.1"


@dataclass
class Clock:
    offset_ms: int = 0

    def __call__(self) -> int:
        return wall_clock_ms() + self.offset_ms


@dataclass
class Desk:
    node: Node
    people: People
    clock: Clock
    web: httpx.AsyncClient
    mine: list[str]  # case references of officer.1's unit, newest last
    theirs: str  # a case of another unit

    def fresh_code(self, person: Person) -> str:
        """An authenticator code the node has not seen yet (the clock moves a minute on)."""
        self.clock.offset_ms += 60_000
        return self.people.code(person)


@pytest.fixture
def logged() -> Iterator[list[str]]:
    """Every console log line (as JSON), at every level."""
    lines: list[str] = []

    def keep(_: object, __: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
        lines.append(json.dumps(event, default=str))
        raise structlog.DropEvent

    # The configuration is put back exactly as it was — the same processors list — so the loggers
    # other tests cached on first use still see what structlog.testing.capture_logs puts in it.
    before = structlog.get_config()
    structlog.configure(
        processors=[structlog.processors.add_log_level, keep],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        cache_logger_on_first_use=False,
    )
    yield lines
    structlog.configure(**before)


@pytest.fixture
async def desk(network: LocalNetwork, tmp_path: Path) -> AsyncIterator[Desk]:
    clock = Clock()
    node = await Node.open(load_config(network.nodes[GR].config_path), clock_ms=clock)
    await node.start()
    people = People(f"127.0.0.1:{node.local_port}", node.keyring.keys.local_api_token, unit=ATHENS, clock_ms=clock)
    try:
        officer = await people.client("officer.1")
        mine = [(await officer.open_case(AL, wall_clock_ms() - 3_600_000)).case_ref for _ in range(PAGE + 1)]
        other = await people.client("officer.9", unit=THESSALONIKI)
        theirs = (await other.open_case(AL, wall_clock_ms())).case_ref
        config_file = tmp_path / "console.yaml"
        config_file.write_text(
            f"listen: {{host: 127.0.0.1, port: 8443}}\nnode: {{local_api: '127.0.0.1:{node.local_port}'}}\n"
            f"page_size: {PAGE}\n",
            encoding="utf-8",
        )
        app = create_app(load_console_config(config_file))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as web:
            yield Desk(node, people, clock, web, mine, theirs)
    finally:
        await people.close()
        await node.stop(0)


def csrf_of(page: httpx.Response) -> str:
    [token] = re.findall(r'name="csrf" value="([0-9a-f]{64})"', page.text)
    return str(token)


async def log_in(desk: Desk, who: str = "officer.1", **change: str) -> httpx.Response:
    """``who`` logs in through the console's form (``change``: fields to type differently)."""
    person = desk.people.people[who]
    form = await desk.web.get("/login")
    fields = {"csrf": csrf_of(form), "user_id": who, "password": person.password, "code": desk.fresh_code(person)}
    fields.update(change)
    return await desk.web.post("/login", data=fields, headers={"sec-fetch-site": "same-origin"})


def session_cookie(desk: Desk) -> str:
    value: str | None = desk.web.cookies.get("__Host-fp-session", domain="127.0.0.1")
    return value or ""


def assert_secure_headers(response: httpx.Response) -> None:
    h = response.headers
    assert h["content-security-policy"] == CSP
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert h["cross-origin-opener-policy"] == "same-origin"
    assert h["cross-origin-resource-policy"] == "same-origin"
    assert "camera=()" in h["permissions-policy"]
    if h.get("content-type", "").startswith("text/html"):
        assert h["cache-control"] == "no-store"
    assert "server" not in h


async def test_an_officer_logs_in_with_the_code_and_sees_their_units_cases_only(desk: Desk, logged: list[str]) -> None:
    answer = await log_in(desk)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("__Host-fp-session="))
    attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert attributes == {"path=/", "secure", "httponly", "samesite=strict"}  # no Domain, no Max-Age
    token = session_cookie(desk)
    assert token

    home = await desk.web.get("/")
    assert (home.status_code, home.headers["location"]) == (303, "/worklist")
    first = await desk.web.get("/worklist")
    assert first.status_code == 200
    assert_secure_headers(first)
    assert desk.theirs not in first.text
    shown = re.findall(r"<bdi>(GR-[^<]+)</bdi>", first.text)
    assert shown == list(reversed(desk.mine))[:PAGE]  # newest update first
    assert "Albania" in first.text  # the partner State by its CLDR name
    assert "<bdi>officer.1</bdi>" in first.text
    [after] = re.findall(r'href="(/worklist\?after=[^"]+)"', first.text)
    second = await desk.web.get(after.replace("&amp;", "&"))
    assert re.findall(r"<bdi>(GR-[^<]+)</bdi>", second.text) == [desk.mine[0]]
    assert 'href="/worklist"' in second.text  # back to the first page
    assert "/worklist?after=" not in second.text
    bad = await desk.web.get("/worklist?after=nonsense")
    assert bad.status_code == 400
    assert_secure_headers(bad)

    # Nothing the console logged names the session, a case, the user or the password.
    assert logged
    secrets_ = [token, *desk.mine, desk.theirs, "officer.1", desk.people.people["officer.1"].password]
    for line in logged:
        for secret in secrets_:
            assert secret not in line, line
    assert any('"console_request"' in line and '"worklist"' in line for line in logged)


async def test_a_wrong_password_or_code_gives_one_message_and_no_cookie(desk: Desk) -> None:
    await desk.people.client("officer.1")
    messages = set()
    for change in ({"password": "not the password"}, {"code": "000000"}, {"user_id": "nobody.7"}):
        refused = await log_in(desk, **change)
        assert refused.status_code == 401
        assert_secure_headers(refused)
        assert not session_cookie(desk)
        assert "__Host-fp-session" not in " ".join(refused.headers.get_list("set-cookie"))
        [message] = re.findall(r'<p class="failure" role="alert">([^<]+)</p>', refused.text)
        messages.add(message)
        assert "not the password" not in refused.text
    assert len(messages) == 1
    assert "the user id, password or code is wrong" in messages.pop()

    # An empty form: every field's error at once, beside its field.
    form = await desk.web.get("/login")
    empty = await desk.web.post(
        "/login", data={"csrf": csrf_of(form), "user_id": " ", "password": "", "code": ""}, headers={}
    )
    assert empty.status_code == 400
    for field in ("user_id", "password", "code"):
        assert f'aria-describedby="{field}-error"' in empty.text
        assert f'id="{field}-error"' in empty.text


async def test_posts_without_a_token_or_from_another_site_are_refused(desk: Desk) -> None:
    await desk.people.client("officer.1")
    assert (await log_in(desk)).status_code == 303
    page = await desk.web.get("/worklist")
    token = csrf_of(page)

    no_token = await desk.web.post("/logout", data={}, headers={"sec-fetch-site": "same-origin"})
    assert no_token.status_code == 403
    assert_secure_headers(no_token)
    wrong = await desk.web.post("/logout", data={"csrf": "0" * 64}, headers={"sec-fetch-site": "same-origin"})
    assert wrong.status_code == 403
    cross = await desk.web.post("/logout", data={"csrf": token}, headers={"sec-fetch-site": "cross-site"})
    assert cross.status_code == 403
    elsewhere = await desk.web.post("/logout", data={"csrf": token}, headers={"origin": "https://evil.example"})
    assert elsewhere.status_code == 403
    login_cross = await desk.web.post("/login", data={}, headers={"sec-fetch-site": "same-site"})
    assert login_cross.status_code == 403
    assert (await desk.web.get("/worklist")).status_code == 200  # the session survived every refusal

    out = await desk.web.post("/logout", data={"csrf": token}, headers={"origin": ORIGIN})
    assert (out.status_code, out.headers["location"]) == (303, "/login?bye=1")
    assert not session_cookie(desk)
    assert (await desk.web.get("/worklist")).headers["location"] == "/login"


@pytest.mark.parametrize("how", ["logout at the node", "account disabled"])
async def test_a_session_the_node_ended_sends_the_person_to_login_with_a_notice(desk: Desk, how: str) -> None:
    await desk.people.client("officer.1")
    assert (await log_in(desk)).status_code == 303
    token = session_cookie(desk)
    if how == "logout at the node":
        async with LocalClient(desk.people.address, session=token) as same_session:
            await same_session.logout()
    else:
        await (await desk.people.operator()).disable_user("officer.1")
    ended = await desk.web.get("/worklist")
    assert (ended.status_code, ended.headers["location"]) == (303, "/login?ended=1")
    assert_secure_headers(ended)
    cleared = next(c for c in ended.headers.get_list("set-cookie") if c.startswith("__Host-fp-session="))
    assert "expires=" in cleared.lower() or "max-age=0" in cleared.lower()
    assert not session_cookie(desk)
    notice = await desk.web.get("/login?ended=1")
    assert "Your session has ended" in notice.text


async def test_french_and_arabic_pages(desk: Desk) -> None:
    french = await desk.web.get("/login", headers={"accept-language": "fr-CH, en;q=0.5"})
    assert '<html lang="fr" dir="ltr">' in french.text
    assert "Se connecter" in french.text
    assert 'href="#main">Aller au contenu principal</a>' in french.text

    chosen = await desk.web.get("/login?lang=ar")
    assert (chosen.status_code, chosen.headers["location"]) == (303, "/login")
    lang_cookie = next(c for c in chosen.headers.get_list("set-cookie") if c.startswith("__Host-fp-lang=ar"))
    assert "secure" in lang_cookie.lower()
    arabic = await desk.web.get("/login", headers={"accept-language": "fr"})  # the choice wins
    assert '<html lang="ar" dir="rtl">' in arabic.text
    assert "تسجيل الدخول" in arabic.text

    await desk.people.client("officer.1")
    assert (await log_in(desk)).status_code == 303
    worklist = await desk.web.get("/worklist")
    assert "قائمة العمل" in worklist.text
    assert "ألبانيا" in worklist.text  # Albania, from CLDR
    assert "<bdi>officer.1</bdi>" in worklist.text


async def test_other_roles_see_who_they_are_and_no_worklist(desk: Desk) -> None:
    await desk.people.client("admin.1", roles=(Role.DIRECTORY_ADMIN,))
    assert (await log_in(desk, "admin.1")).status_code == 303
    home = await desk.web.get("/")
    assert home.status_code == 200
    assert "<bdi>admin.1</bdi>" in home.text
    assert "<li>Directory administrator</li>" in home.text
    refused = await desk.web.get("/worklist")
    assert refused.status_code == 403
    assert "Not allowed" in refused.text


async def test_every_response_carries_the_headers(desk: Desk) -> None:
    for path, status in (("/login", 200), ("/static/app.css", 200), ("/nowhere", 404), ("/", 303)):
        response = await desk.web.get(path)
        assert response.status_code == status, path
        assert_secure_headers(response)
    css = await desk.web.get("/static/app.css")
    rules = re.sub(r"/\*.*?\*/", "", css.text, flags=re.DOTALL)
    physical = r"(margin|padding|border)-(left|right)|[^-](left|right)\s*:|text-align:\s*(left|right)"
    assert not re.search(physical, rules)  # logical properties only, so right-to-left pages mirror
    assert "margin-inline-start" in rules
    missing = await desk.web.get("/nowhere")
    assert "Page not found" in missing.text
    assert "Traceback" not in missing.text
    assert (await desk.web.put("/login")).status_code == 405


def test_no_template_has_inline_script_or_style() -> None:
    templates = Path(__file__).parents[2] / "focalpoint" / "console" / "templates"
    for page in templates.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<script|<style|\sstyle=|\son[a-z]+=", text, flags=re.IGNORECASE), page.name
