"""A real node configured with notifications (``notifications:``: a webhook to a real receiver on
the test loop, e-mail to a server that is down): an emergency alert from its partner, over mutual
TLS, reaches the receiver signed and holding only the event's type, the case reference and the
console's link; the on-call user's e-mail waits in the durable queue, by user id, and is still
there after the node restarts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from focalpoint.localnet import LocalNetwork
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from tests.server.test_cases_api import AL, GR, Desk, _acknowledged
from tests.server.test_notify_people import _emergency
from tests.support.webhooks import SECRET, Receiver, serving

CONSOLE = "https://focalpoint.al.example/"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serving() as r:
        yield r


def _configure(network: LocalNetwork, receiver: Receiver) -> Path:
    config_path = network.nodes[AL].config_path
    secrets = config_path.parent / "secrets"
    secrets.mkdir(exist_ok=True)
    for name, text in (("smtp", "pw\n"), ("hook", SECRET + "\n")):
        (secrets / name).write_text(text, encoding="utf-8")
        (secrets / name).chmod(0o600)
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["notifications"] = {
        "console_url": CONSOLE,
        "email": {
            "host": "127.0.0.1",
            "port": 1,  # nobody listens: the e-mail stays queued
            "username": "focalpoint",
            "password_file": "secrets/smtp",
            "from": "focalpoint@al.example",
            "timeout_seconds": 1,
        },
        "webhooks": [{"url": receiver.url, "secret_file": "secrets/hook", "events": ["emergency"]}],
        "retry": {"initial_seconds": 30, "attempts": 5},
    }
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return config_path


async def _until(check: object, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.05)


async def test_an_emergency_alert_reaches_the_webhook_and_queues_the_on_call_users_email(
    network: LocalNetwork, receiver: Receiver
) -> None:
    config_path = _configure(network, receiver)
    nodes = {
        GR: await Node.open(load_config(network.nodes[GR].config_path)),
        AL: await Node.open(load_config(config_path)),
    }
    for node in nodes.values():
        await node.start()
    try:
        async with contextlib.AsyncExitStack() as stack:
            desk = Desk(nodes, stack)
            people = desk.people[AL]
            operator = await people.operator()
            duty = await people.client("duty.a", grants=())
            await duty.set_contact(email="duty.a@al.example", language="fr")
            await operator.set_on_call("duty.a", True)
            ref, _ = await _acknowledged(desk)
            await desk.send(GR, ref, "protection_alert", _emergency)

            async def hooked() -> bool:
                return any(json.loads(g.body)["type"] == "emergency:alert" for g in receiver.got)

            await _until(hooked)
            (got,) = [g for g in receiver.got if json.loads(g.body)["type"] == "emergency:alert"]
            assert got.verified == "ok"
            assert json.loads(got.body)["data"] == {"case_ref": ref, "console_url": CONSOLE}

            async def queued() -> bool:
                rows = await nodes[AL].store.notifications.rows("email")
                return any(r.event == "emergency:alert" and r.attempts >= 1 for r in rows)

            await _until(queued)
            rows = [r for r in await nodes[AL].store.notifications.rows("email") if r.event == "emergency:alert"]
            assert [(r.destination, r.case_ref, r.given_up_ms) for r in rows] == [("duty.a", ref, 0)]
            assert rows[0].last_error_class == "TransportError"
    finally:
        for node in nodes.values():
            await node.stop(0)
    again = await Node.open(load_config(config_path))  # not started: its queue is read as stored
    try:
        rows = await again.store.notifications.rows("email")
        assert [r.destination for r in rows if r.event == "emergency:alert"] == ["duty.a"]
    finally:
        await again.stop(0)
