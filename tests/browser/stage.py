"""The stage every browser test plays on: two real nodes, their people and a console in front of
each, started once per test session (the ``stage`` fixture of tests/browser/conftest.py).

Starting nodes, enrolling people and serving the console cost seconds; a browser journey costs
less than that. So the session starts Greece's node (the identifying State, ``gr-ekka``) and
Albania's (the State of origin, ``al-shss``) once, each with the console's uvicorn server on a
loopback socket bound to an ephemeral port, and every browser test opens its own case on them.
A test must therefore never rely on being alone: it finds its case by the reference it opened,
never by position in a list.

The people (accounts made through the real local API, ``focalpoint.localnet.people``): at Greece
a case officer and a second officer who approves (``officer.1``, ``supervisor.2``) and an auditor
(``au.1``); at Albania the same two officers, the first operator (``operator.1``) and an Albanian
consular officer posted for Greece (``consul.1``, docs/consuls.md: the consul's account is at
their own State's node), each node's console serving its own people.

Both nodes run on one movable clock. The session starts two days before the current quarter
began, opens a case there whose guardian deadline passes unmet, then jumps to the present: the
auditor finds an ended quarter with a count to withhold, and no test moves time backwards. A
browser login advances the clock a minute (two authenticator steps), so each login types a code
the node has not seen yet, as a person would (:meth:`Stage.log_in`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from playwright.async_api import Browser, BrowserContext, Page

from focalpoint.client import LocalClient
from focalpoint.console.app import create_app
from focalpoint.console.config import ConsoleConfig
from focalpoint.localnet import LocalNetwork, NodeSpec, make_network
from focalpoint.localnet.people import OPERATOR, People
from focalpoint.localnet.samples import sample_body
from focalpoint.node.ports import wall_clock_ms
from focalpoint.people.roles import Role
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import local_pb2, messages_pb2

GR, AL = "gr-ekka", "al-shss"
UNITS = {GR: "gr-ekka/athens", AL: "al-shss/elbasan"}
SPECS = (NodeSpec(GR, "GR", "EKKA", ("el", "en")), NodeSpec(AL, "AL", "SHSS", ("sq", "en")))
OFFICER, APPROVER, AUDITOR, CONSUL = "officer.1", "supervisor.2", "au.1", "consul.1"
MINUTE_MS, HOUR_MS = 60_000, 3_600_000
VIEWPORT = {"width": 1280, "height": 800}
FAST_DELIVERY = {"retry_initial_seconds": 0.05, "retry_max_seconds": 0.5, "call_timeout_seconds": 5}
SCREENSHOTS = "FOCALPOINT_SCREENSHOTS"
_POLLS, _POLL_S = 400, 0.05

Edit = Callable[[messages_pb2.Body], None]


@dataclass
class MovableClock:
    """The nodes' clock: the wall clock plus an offset that only grows while tests run."""

    offset_ms: int = 0

    def __call__(self) -> int:
        return wall_clock_ms() + self.offset_ms

    def advance(self, minutes: float) -> None:
        self.offset_ms += int(minutes * MINUTE_MS)


def console_config(source: Path, node_local_api: str) -> ConsoleConfig:
    """A console in English, French and Arabic in front of the node at ``node_local_api``."""
    return ConsoleConfig(
        source=source,
        host="127.0.0.1",
        port=0,
        tls_certificate=None,
        tls_private_key=None,
        node_local_api=node_local_api,
        node_timeout_seconds=5.0,
        languages=("en", "fr", "ar"),
        default_language="en",
        public_origin="",
        timezone="UTC",
        page_size=25,
        log_format="console",
        log_level="warning",
    )


def dead_address() -> str:
    """A loopback address nothing listens on (a node that is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


@contextlib.asynccontextmanager
async def serve(app: object) -> AsyncIterator[str]:
    """``app`` served by uvicorn on a loopback socket bound to an ephemeral port; its base URL."""
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


def _quarter(at: dt.datetime) -> str:
    return f"{at.year}Q{(at.month - 1) // 3 + 1}"


@dataclass
class Stage:
    """The running nodes, their people and consoles, and what the tests do on them through the API."""

    network: LocalNetwork
    nodes: dict[str, Node]
    clock: MovableClock
    people: dict[str, People]
    urls: dict[str, str] = field(default_factory=dict)
    audited_period: str = ""  # an ended quarter holding a missed guardian deadline at Greece

    # --- through the local API ------------------------------------------------------------------

    async def api(self, node_id: str, user_id: str = OFFICER) -> LocalClient:
        return await self.people[node_id].client(user_id)

    async def open_case(self, at: str = GR, partner: str = AL) -> local_pb2.OpenCaseResponse:
        """A case ``at`` opens with ``partner``, the child identified six hours ago."""
        return await (await self.api(at)).open_case(partner, self.clock() - 6 * HOUR_MS, UNITS[at])

    def body(self, sender: str, kind: str, case_ref: str, edit: Edit | None = None) -> messages_pb2.Body:
        """A complete sample of ``kind`` from ``sender``, dated by the nodes' clock."""
        recipient = AL if sender == GR else GR
        body = sample_body(kind, case_ref=case_ref, at_ms=self.clock() - 1000)
        body.context.agreement_id = "AL-GR"
        body.context.sender_unit = UNITS[sender]
        body.context.recipient_unit = UNITS[recipient]
        part = getattr(body, kind)
        if "approval" in part.DESCRIPTOR.fields_by_name:
            part.ClearField("approval")  # recorded by the node when a second person approves
        if edit is not None:
            edit(body)
        return body

    async def send(
        self, sender: str, case_ref: str, kind: str, edit: Edit | None = None, *, answers: bytes = b""
    ) -> bytes:
        """Send ``kind`` (a second officer approves it when the node keeps a draft); wait for its receipt."""
        link = await self.link(sender, case_ref)
        sent = await (await self.api(sender)).send_case(
            link, body=self.body(sender, kind, case_ref, edit), in_reply_to=answers
        )
        if sent.draft_id:
            sent = await (await self.api(sender, APPROVER)).approve_draft(link, sent.draft_id)
        await self.delivered(sender, sent.message_id)
        return sent.message_id

    async def delivered(self, node_id: str, message_id: bytes) -> None:
        state = await asyncio.wait_for(self.nodes[node_id].delivery.wait_closed(message_id), 20)
        assert state is DeliveryState.DELIVERED, state

    async def link(self, node_id: str, case_ref: str) -> str:
        """The link ``node_id`` holds for ``case_ref``, waiting for it to arrive (bounded)."""
        for _ in range(_POLLS):
            listed = await (await self.api(node_id)).list_cases(include_closed=True, limit=1000)
            found = [c.link_id for c in listed.cases if c.case_ref == case_ref]
            if found:
                return found[0]
            await asyncio.sleep(_POLL_S)
        raise AssertionError(f"{node_id} holds no link for the case")

    async def received(self, node_id: str, case_ref: str, kind: str) -> bytes:
        """The id of the latest ``kind`` ``node_id`` received on the case, waiting for it (bounded)."""
        link = await self.link(node_id, case_ref)
        for _ in range(_POLLS):
            shown = await (await self.api(node_id)).show_case(link)
            found = [e.message_id for e in shown.timeline if e.kind == kind and e.direction == "received"]
            if found:
                return found[-1]
            await asyncio.sleep(_POLL_S)
        raise AssertionError(f"{node_id} received no {kind}")

    # --- in the browser ---------------------------------------------------------------------------

    async def context(self, browser: Browser, lang: str = "en") -> BrowserContext:
        """A fresh browser context (no cookies) at the screenshots' size, in ``lang``."""
        return await browser.new_context(locale=lang, viewport=VIEWPORT)  # type: ignore[arg-type]

    async def log_in(self, page: Page, node_id: str, user_id: str, *, lang: str = "") -> None:
        """``user_id`` logs in at ``node_id``'s console through the form: user id, password and the
        authenticator code of the moment (the clock moved a minute, so the node has not seen it)."""
        url = self.urls[node_id]
        people = self.people[node_id]
        person = people.people[user_id]
        self.clock.advance(1)
        await page.goto(f"{url}/login" + (f"?lang={lang}" if lang else ""))
        await page.locator("input[name=user_id]").fill(user_id)
        await page.locator("input[name=password]").fill(person.password)
        await page.locator("input[name=code]").fill(people.code(person))
        await page.locator("form.form button[type=submit]").click()
        await page.wait_for_url(lambda address: "/login" not in address)


def screenshot_path(name: str) -> Path | None:
    """Where the role guides' image ``name`` goes: ``<name>.png`` in $FOCALPOINT_SCREENSHOTS, or
    None when that is not set (a plain test run saves nothing)."""
    where = os.environ.get(SCREENSHOTS)
    if not where:
        return None
    folder = Path(where)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"


async def screenshot(page: Page, name: str) -> None:
    """Save the visible page (1280x800) for the role guides, when $FOCALPOINT_SCREENSHOTS is set."""
    path = screenshot_path(name)
    if path is not None:
        await page.screenshot(path=path, full_page=False)


@contextlib.asynccontextmanager
async def staged(root: Path) -> AsyncIterator[Stage]:
    """Both nodes, their people, an ended quarter with data and a console per node (see the module)."""
    now = dt.datetime.now(dt.UTC)
    quarter_began = dt.datetime(now.year, (now.month - 1) // 3 * 3 + 1, 1, tzinfo=dt.UTC)
    past = quarter_began - dt.timedelta(days=2)
    network = make_network(
        root / "net", SPECS, now=past - dt.timedelta(hours=1), delivery=FAST_DELIVERY, directory_refresh_s=0.2
    )
    clock = MovableClock(int(past.timestamp() * 1000) - wall_clock_ms())
    nodes: dict[str, Node] = {}
    people: dict[str, People] = {}
    try:
        for node_id, local in network.nodes.items():
            node = await Node.open(load_config(local.config_path), clock_ms=clock)
            await node.start()
            nodes[node_id] = node
            address = f"127.0.0.1:{node.local_port}"
            people[node_id] = People(address, node.keyring.keys.local_api_token, unit=UNITS[node_id], clock_ms=clock)
        stage = Stage(network, nodes, clock, people, audited_period=_quarter(past))
        await _missed_guardian_deadline(stage)
        clock.offset_ms = 0  # the present: the quarter above has ended
        await _renewed(stage)
        await _enrol(stage)
        async with contextlib.AsyncExitStack() as consoles:
            for node_id, node in nodes.items():
                config = console_config(root / f"console-{node_id}.yaml", f"127.0.0.1:{node.local_port}")
                stage.urls[node_id] = await consoles.enter_async_context(serve(create_app(config)))
            yield stage
    finally:
        for each in people.values():
            await each.close()
        for node in nodes.values():
            await node.stop(0)


async def _missed_guardian_deadline(stage: Stage) -> None:
    """In the quarter before this one: a child identified an hour ago, no guardian appointed, and
    the deadline passes (the auditor's indicators withhold that count of one)."""
    opened = await stage.open_case()
    identified = stage.clock() - HOUR_MS

    def no_guardian(body: messages_pb2.Body) -> None:
        body.case_notification.identified_at_ms = identified
        body.case_notification.ClearField("guardian")

    await stage.send(GR, opened.case_ref, "case_notification", no_guardian)
    stage.clock.advance(25 * 60)


async def _renewed(stage: Stage) -> None:
    """The directory published in the past has expired by now: publish its renewal and wait until
    both nodes hold it (they poll the repository every 0.2 s)."""
    stage.network.publish(now=dt.datetime.now(dt.UTC))
    for _ in range(_POLLS):
        if all(n.cache.current.version >= stage.network.version for n in stage.nodes.values()):
            return
        await asyncio.sleep(_POLL_S)
    raise AssertionError("the nodes did not load the renewed directory")


async def _enrol(stage: Stage) -> None:
    for node_id in (GR, AL):
        await stage.api(node_id, APPROVER)
    await stage.people[GR].client(AUDITOR, (Role.AUDITOR,), grants=())
    await stage.people[AL].operator()
    await stage.people[AL].client(
        CONSUL, (Role.CONSULAR_OFFICER,), unit="al-mfa/athens", consular_state="AL", district=("GR",)
    )
    await stage.api(AL)
    assert OPERATOR in stage.people[AL].people
