"""``focalpoint demo --console``, in this process: after the story, the console serves Albania's
node on loopback (a real uvicorn server, real HTTP); a person logs in with the password and the
current authenticator code the demo printed and reads their worklist, the consul their nationals'
list; when the demo ends, the console and the nodes stop."""

from __future__ import annotations

import asyncio
import re
import socket

import httpx
import pytest

from focalpoint.cli.demo_console import ACCOUNTS, DemoConsole, DemoLogin, serve_demo_console
from focalpoint.console.security import LOGIN_COOKIE, SESSION_COOKIE
from focalpoint.localnet.demo import LiveDemo, run_demo


def _cookie(response: httpx.Response, name: str) -> str:
    """A cookie the console set (httpx keeps no Secure cookie over plain HTTP; a browser on
    loopback does, so the test carries it by hand)."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError(f"no {name} cookie set")


async def _log_in(web: httpx.AsyncClient, url: str, login: DemoLogin) -> str:
    form = await web.get("/login")
    [csrf] = re.findall(r'name="csrf" value="([0-9a-f]{64})"', form.text)
    answer = await web.post(
        "/login",
        data={"csrf": csrf, "user_id": login.user_id, "password": login.password, "code": login.code()},
        headers={"origin": url.rstrip("/"), "cookie": f"{LOGIN_COOKIE}={_cookie(form, LOGIN_COOKIE)}"},
    )
    assert answer.status_code == 303, answer.text
    return _cookie(answer, SESSION_COOKIE)


async def test_demo_console_serves_the_printed_logins_until_the_demo_ends(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo sets the process's logging up for a terminal (errors only); structlog caches every
    # logger on first use, so in the suite that would silence the log tests that run after this one.
    monkeypatch.setattr("focalpoint.localnet.demo.configure_logging", lambda **_: None)
    seen: dict[str, list[str]] = {}

    async def check(console: DemoConsole) -> None:
        printed = capsys.readouterr().out
        assert console.url in printed
        logins = {login.user_id: login for login in console.logins}
        assert set(logins) == {a.user_id for a in ACCOUNTS}
        for login in console.logins:
            for shown in (login.password, login.totp_secret, login.uri):
                assert shown in printed
        async with httpx.AsyncClient(base_url=console.url, timeout=10) as web:
            session = await _log_in(web, console.url, logins["officer.web"])
            worklist = await web.get("/worklist", headers={"cookie": f"{SESSION_COOKIE}={session}"})
            assert worklist.status_code == 200
            seen["worklist"] = re.findall(r"<bdi>(GR-[^<]+)</bdi>", worklist.text)
            session = await _log_in(web, console.url, logins["consul.web"])
            nationals = await web.get("/nationals", headers={"cookie": f"{SESSION_COOKIE}={session}"})
            assert nationals.status_code == 200
        seen["url"] = [console.url]

    async def then(live: LiveDemo) -> None:
        await serve_demo_console(live, 0, then=check)

    async with asyncio.timeout(120):
        await run_demo(None, then=then)
    assert len(seen["worklist"]) == 1  # the child whose return the gate blocked
    port = int(seen["url"][0].rsplit(":", 1)[1].strip("/"))
    with socket.socket() as probe:  # the console stopped with the demo
        assert probe.connect_ex(("127.0.0.1", port)) != 0
