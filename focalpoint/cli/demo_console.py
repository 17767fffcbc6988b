"""``focalpoint demo --console``: after the demo's story, the web console on loopback against
Albania's node, with accounts made for it, until Ctrl-C.

Albania's node holds both of the story's children's links (a closed return and one the gate
blocked), an Albanian consul's view of them, and an operator. The console gets its own accounts,
made through the node's local API as an institution makes them (the story's operator adds each;
each enrols with a password and an authenticator secret): a case officer, a supervisor who
approves what another prepared, a consular officer, a second operator and an auditor. Each enrols
with the code of the 30-second step before the current one (the node accepts one step of drift),
so the code of the current step is still unspent and works at once in the login form; after that,
any authenticator app given the secret (or the otpauth URI) gives the codes, and each account's
recovery codes work once each.

Everything is printed, nothing written but the console's configuration file (in the demo's
directory, no secret in it). The console listens on 127.0.0.1 over plain HTTP, which browsers
accept for its Secure cookies on loopback only (docs/operations.md §15.3). Ctrl-C cancels the
demo: the console stops, then the nodes, then the demo's files go (unless ``--keep``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pyotp
import uvicorn

from focalpoint.client import LocalClient
from focalpoint.console.app import create_app
from focalpoint.console.config import load_console_config
from focalpoint.localnet.demo import AL, LiveDemo
from focalpoint.localnet.people import People
from focalpoint.node.ports import wall_clock_ms
from focalpoint.people.roles import Grant, Role
from focalpoint.v1 import local_pb2

__all__ = ["ACCOUNTS", "CONSOLE_NODE", "DemoConsole", "DemoLogin", "console_logins", "serve_demo_console"]

CONSOLE_NODE = AL
_STEP_S = 30
_ISSUER = "focalpoint demo"


@dataclass(frozen=True, slots=True)
class _Account:
    user_id: str
    role: str  # what the person does, in words
    roles: tuple[Role, ...]
    grants: tuple[Grant, ...] = ()
    unit: str = ""
    consular_state: str = ""
    district: tuple[str, ...] = ()


# The operator goes last: with two operators enrolled, every later account change needs a second.
ACCOUNTS = (
    _Account("officer.web", "case officer (worklist, case pages)", (Role.CASE_OFFICER,)),
    _Account("supervisor.web", "case officer who approves", (Role.CASE_OFFICER,), (Grant.APPROVE,)),
    _Account(
        "consul.web",
        "consular officer of Albania in Greece",
        (Role.CONSULAR_OFFICER,),
        unit="al-mfa/athens",
        consular_state="AL",
        district=("GR",),
    ),
    _Account("auditor.web", "auditor (indicators, ageing, audit log)", (Role.AUDITOR,)),
    _Account("operator.web", "operator (triage, deadlines)", (Role.OPERATOR,)),
)


@dataclass(frozen=True, slots=True)
class DemoLogin:
    """What a person types at the console's login form, and how to get their codes."""

    user_id: str
    role: str
    password: str
    totp_secret: str
    recovery_codes: tuple[str, ...]

    def code(self, at_s: int | None = None) -> str:
        """The authenticator code at ``at_s`` (now by default)."""
        totp = pyotp.TOTP(self.totp_secret)
        return totp.at(at_s if at_s is not None else wall_clock_ms() // 1000)

    @property
    def uri(self) -> str:
        """The otpauth URI an authenticator app reads (as a QR code, or typed)."""
        return pyotp.TOTP(self.totp_secret).provisioning_uri(name=self.user_id, issuer_name=_ISSUER)


@dataclass(frozen=True, slots=True)
class DemoConsole:
    """The running demo console: where it listens and who may log in."""

    url: str
    logins: tuple[DemoLogin, ...]


async def _enrol(address: str, operator: LocalClient, account: _Account, unit: str) -> DemoLogin:
    spec = local_pb2.UserSpec(
        user_id=account.user_id,
        unit=account.unit or unit,
        roles=[r.value for r in account.roles],
        grants=[g.value for g in account.grants],
        consular_state=account.consular_state,
        district=list(account.district),
    )
    added = await operator.add_user(spec)
    if not added.applied:
        raise RuntimeError("the demo node has two operators before the console's accounts were made")
    password = pyotp.random_base32(32)
    async with LocalClient(address) as anonymous:
        factor = await anonymous.begin_enrolment(added.enrolment_code, password)
        # The previous step's code (one step of drift is accepted): the current one stays unspent.
        previous = pyotp.TOTP(factor.secret).at(wall_clock_ms() // 1000 - _STEP_S)
        await anonymous.finish_enrolment(added.enrolment_code, previous)
    return DemoLogin(account.user_id, account.role, password, factor.secret, tuple(factor.recovery_codes))


async def console_logins(people: People, address: str) -> tuple[DemoLogin, ...]:
    """Make the console's accounts on the node ``people`` belong to (added by its first operator)."""
    operator = await people.operator()
    return tuple([await _enrol(address, operator, account, people.unit) for account in ACCOUNTS])


def _listening(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: Ctrl-C cancels the demo, which stops the server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def _serving(config_file: Path, sock: socket.socket) -> AsyncIterator[None]:
    """The console served on ``sock`` in this process until the block ends."""
    app = create_app(load_console_config(config_file))
    server = _Server(
        uvicorn.Config(app, access_log=False, log_config=None, server_header=False, lifespan="on", workers=1)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                await task  # it failed to start: say why
                raise RuntimeError("the console stopped before it started")
            await asyncio.sleep(0.02)
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)
        sock.close()


def _say(console: DemoConsole) -> None:
    click.echo(f"\nthe web console of {CONSOLE_NODE} (Albania's node) is at {console.url}")
    click.echo("log in as any of these (passwords and secrets are this run's only; nothing is stored):")
    for login in console.logins:
        click.echo(f"\n  {login.user_id}  — {login.role}")
        click.echo(f"    password        {login.password}")
        click.echo(f"    code now        {login.code()}  (unspent; a new one every 30 s)")
        click.echo(f"    TOTP secret     {login.totp_secret}")
        click.echo(f"    otpauth URI     {login.uri}")
        click.echo(f"    recovery codes  {', '.join(login.recovery_codes[:2])}  (each works once)")
    click.echo(
        "\nlater codes: add the secret or the otpauth URI to any authenticator app, or type a recovery code."
        "\nthe network and the console run until Ctrl-C."
    )


async def serve_demo_console(
    live: LiveDemo, port: int = 0, *, then: Callable[[DemoConsole], Awaitable[None]] | None = None
) -> None:
    """Serve the console against Albania's node of ``live`` on 127.0.0.1:``port`` (0: a free one),
    print the URL and the logins, and serve until cancelled (Ctrl-C), or until ``then`` returns."""
    address = live.addresses[CONSOLE_NODE]
    logins = await console_logins(live.peoples[CONSOLE_NODE], address)
    sock = _listening(port)
    bound = sock.getsockname()[1]
    config_file = live.root / "console.yaml"
    config_file.write_text(
        f"listen: {{host: 127.0.0.1, port: {bound}}}\nnode: {{local_api: '{address}'}}\nlogging: {{level: error}}\n",
        encoding="utf-8",
    )
    console = DemoConsole(f"http://127.0.0.1:{bound}/", logins)
    async with _serving(config_file, sock):
        _say(console)
        if then is not None:
            await then(console)
        else:
            await asyncio.Event().wait()  # until Ctrl-C cancels the demo
