"""The console keeps one gRPC channel to its node for the whole process: every page and every login
calls on it with that person's session, a page's client closing leaves it open, and the server's
shutdown (its lifespan) closes it."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from focalpoint.client import LocalChannel, LocalClient
from focalpoint.console.app import Console
from tests.console.test_pages import Desk, desk, log_in  # noqa: F401 (the fixture)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The address of every gRPC channel opened from now on."""
    addresses: list[str] = []
    real = grpc.aio.insecure_channel

    def counting(target: str, *args: Any, **kwargs: Any) -> grpc.aio.Channel:
        addresses.append(target)
        return real(target, *args, **kwargs)

    monkeypatch.setattr(grpc.aio, "insecure_channel", counting)
    return addresses


async def test_many_pages_and_logins_share_one_channel(desk: Desk, opened: list[str]) -> None:  # noqa: F811
    answer = await log_in(desk)
    assert answer.status_code == 303
    for _ in range(12):
        assert (await desk.web.get("/worklist")).status_code == 200
    assert (await log_in(desk)).status_code == 303  # a second login on the same channel
    assert (await desk.web.get("/")).status_code == 303
    assert opened == [f"127.0.0.1:{desk.node.local_port}"]


async def test_a_shared_channel_outlives_its_clients_and_the_lifespan_closes_it(desk: Desk, opened: list[str]) -> None:  # noqa: F811
    """Closing a client on a shared channel leaves it usable; the app's lifespan opens it at start-up
    and closes it at shutdown."""
    address = f"127.0.0.1:{desk.node.local_port}"
    token = desk.node.keyring.keys.local_api_token
    async with LocalChannel(address) as channel:
        for _ in range(3):
            async with LocalClient(channel, token) as client:
                await client.get_health()
    assert len(opened) == 1
    async with LocalClient(address, token) as own:  # the CLI's way: a channel of its own, closed with it
        await own.get_health()
    assert len(opened) == 2

    guard = desk.web._transport.app  # type: ignore[attr-defined]
    console: Console = guard.console
    await console.close()  # the pages' channel, opened by no page here
    async with guard.app.router.lifespan_context(guard.app):  # as a server runs it (httpx's transport does not)
        assert console._channel is not None
        assert len(opened) == 3
    assert console._channel is None
