"""E-mail notifications (adapters.mail) from the durable queue (focalpoint.node.notify) through a
real SMTP server (aiosmtpd) on the test loop, with STARTTLS and AUTH, across a restart too; and
every template in every language holds nothing but the event in words, the case reference and the
console's link."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.protobuf.message import Message

from adapters.mail import LANGUAGES, TEMPLATES, MailChannel, MailConfig, Recipient, render, template_key
from focalpoint.localnet.samples import SAMPLE_AT_MS, SAMPLE_CASE_REF, case_ref_for, social_inquiry_request
from focalpoint.node.notify import NoticeProfile, NotificationSender, QueuedNotifier, RetryPolicy
from focalpoint.people.roles import Role
from focalpoint.storage.base import Store
from focalpoint.storage.memory import MemoryStore
from focalpoint.storage.sqlite import SqliteStore

USER, PASSWORD = "focalpoint", "s3cret-smtp"
CONSOLE = "https://focalpoint.example.org/"

# Every event the node emits today (see focalpoint.node.deadlines, accounts, server.door).
EVENTS = (
    "break_glass",
    "deadline:75%",
    "deadline:24h",
    "deadline:overdue",
    "deadline:reminder-L1",
    "deadline:reminder-L2",
    "deadline:reminder-L3",
    "guardian:12h",
    "guardian:20h",
    "guardian:breach",
    "guardian:daily",
    "handover:overdue",
    "emergency:unacknowledged:al-cp-24x7",
    "anomaly:read_without_assignment",
    "anomaly:bulk_reads",
    "anomaly:restricted_read",
    "anomaly:read_after_closure",
    "emergency:alert",
    "request:new",
    "something:new",
)


# --- a self-signed certificate for 127.0.0.1, made now -----------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    d = tmp_path_factory.mktemp("smtp-tls")
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(d / "cert.pem", d / "key.pem")
    client = ssl.create_default_context(cafile=str(d / "cert.pem"))
    return server, client


# --- the SMTP server ---------------------------------------------------------------------------


@dataclass
class Inbox:
    messages: list[tuple[list[str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        self.arrived.set()
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    if isinstance(data, LoginPassword) and data.login == USER.encode() and data.password == PASSWORD.encode():
        return AuthResult(success=True)
    return AuthResult(success=False, handled=False)  # handled=True would leave the client waiting


@dataclass
class Server:
    port: int
    inbox: Inbox


@pytest.fixture
async def smtp(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> AsyncIterator[Server]:
    inbox = Inbox()
    loop = asyncio.get_running_loop()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # aiosmtpd's AUTH warns about its own API
        server = await loop.create_server(
            lambda: SMTP(
                inbox,
                hostname="127.0.0.1",
                require_starttls=True,
                tls_context=tls[0],
                authenticator=_authenticate,
                auth_require_tls=True,
            ),
            "127.0.0.1",
            0,
        )
    port = server.sockets[0].getsockname()[1]
    try:
        yield Server(port, inbox)
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture(autouse=True)
def _no_deprecation_noise() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="aiosmtpd")
        yield


def _config(port: int, **over: Any) -> MailConfig:
    cfg = MailConfig(
        host="127.0.0.1",
        port=port,
        username=USER,
        password_file=Path("/nonexistent"),  # the channel is handed the password
        sender="focalpoint@example.org",
        console_url=CONSOLE,
        timeout_seconds=5,
    )
    return replace(cfg, **over)


FAST = RetryPolicy(initial_s=1.0, max_s=3.0, attempts=3)
ADDRESSES = {
    "u-claire": Recipient("claire@example.org", "fr"),
    "u-samira": Recipient("samira@example.org", "ar"),
    "u-ann": Recipient("ann@example.org", "en"),
}


@dataclass
class Book:
    """The node's accounts as the queue and the mail channel see them: who has an address."""

    addresses: dict[str, Recipient] = field(default_factory=lambda: dict(ADDRESSES))

    async def address(self, user_id: str) -> Recipient | None:
        return self.addresses.get(user_id)

    async def notice_profile(self, user_id: str) -> NoticeProfile | None:
        if user_id not in self.addresses:
            return None
        return NoticeProfile(user_id, True, frozenset(), False, frozenset({Role.CASE_OFFICER}), frozenset(), False)


@dataclass
class Clock:
    now: int = 1_800_000_000_000

    def __call__(self) -> int:
        return self.now


@dataclass
class Mail:
    """The durable queue, the notifier that fills it and the sender that drains it to SMTP."""

    store: Store
    notifier: QueuedNotifier
    sender: NotificationSender
    clock: Clock

    async def drain(self, rounds: int = 10) -> None:
        """Send what is due, moving the clock to the next retry, until the queue is empty or given up."""
        for _ in range(rounds):
            await self.sender.send_due()
            next_ms = await self.store.notifications.next_due_ms("email")
            if next_ms is None:
                return
            self.clock.now = max(self.clock.now, next_ms)


def _mail(
    port: int,
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
    *,
    store: Store | None = None,
    password: str = PASSWORD,
    retry: RetryPolicy = FAST,
    book: Book | None = None,
    **over: Any,
) -> Mail:
    store = store or MemoryStore()
    book = book or Book()
    clock = Clock()
    channel = MailChannel(_config(port, **over), password, contacts=book, tls_context=tls[1])
    sender = NotificationSender(queue=store.notifications, channel=channel, clock_ms=clock, retry=retry)
    notifier = QueuedNotifier(queue=store.notifications, people=book, clock_ms=clock, email=True)
    return Mail(store, notifier, sender, clock)


def _subject(raw: bytes) -> str:
    return str(make_header(decode_header(message_from_bytes(raw)["Subject"])))


def _body(raw: bytes) -> str:
    msg = message_from_bytes(raw)
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(msg.get_content_charset() or "utf-8")


# --- delivery ----------------------------------------------------------------------------------


async def test_delivered_from_the_queue_over_starttls_with_auth_in_each_users_language(
    smtp: Server, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    mail = _mail(smtp.port, tls)
    await mail.notifier.notify(["u-claire", "u-samira", "u-nobody"], "deadline:75%", case_ref=SAMPLE_CASE_REF)
    rows = await mail.store.notifications.rows("email")
    assert sorted(r.destination for r in rows) == ["u-claire", "u-samira"]  # no address, nothing queued
    assert all("@" not in r.destination for r in rows)  # the queue holds user ids, never an address
    await mail.drain()
    by_rcpt = {rcpt[0]: raw for rcpt, raw in smtp.inbox.messages}
    assert sorted(by_rcpt) == ["claire@example.org", "samira@example.org"]
    assert _subject(by_rcpt["claire@example.org"]) == "[focalpoint] " + TEMPLATES["fr"]["deadline:75%"][0]
    assert _subject(by_rcpt["samira@example.org"]) == "[focalpoint] " + TEMPLATES["ar"]["deadline:75%"][0]
    body = _body(by_rcpt["samira@example.org"])
    assert SAMPLE_CASE_REF in body
    assert CONSOLE in body
    assert body == render("deadline:75%", "ar", case_ref=SAMPLE_CASE_REF, console_url=CONSOLE).body
    assert await mail.store.notifications.rows() == []  # delivered rows leave the queue


async def test_a_queued_mail_survives_a_restart_and_is_sent_by_the_next_start(
    smtp: Server, tls: tuple[ssl.SSLContext, ssl.SSLContext], tmp_path: Path
) -> None:
    path = tmp_path / "node.sqlite"
    store = await SqliteStore.open(path)
    first = _mail(smtp.port, tls, store=store)
    await first.notifier.notify(["u-ann"], "emergency:alert", case_ref=SAMPLE_CASE_REF)
    await store.close()  # the node stops before its sender ran
    assert smtp.inbox.messages == []
    store = await SqliteStore.open(path)
    try:
        again = _mail(smtp.port, tls, store=store)
        await again.drain()
        assert [rcpt for rcpt, _ in smtp.inbox.messages] == [["ann@example.org"]]
        assert _subject(smtp.inbox.messages[0][1]) == "[focalpoint] " + TEMPLATES["en"]["emergency:alert"][0]
        assert await store.notifications.rows() == []
    finally:
        await store.close()


async def test_a_wrong_password_is_logged_retried_then_given_up_and_crashes_nothing(
    smtp: Server, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    mail = _mail(smtp.port, tls, password="wrong")
    with structlog.testing.capture_logs() as logs:
        await mail.notifier.notify(["u-ann"], "break_glass", case_ref=SAMPLE_CASE_REF)
        await mail.drain()
    assert smtp.inbox.messages == []
    failed = [e for e in logs if e["event"] == "notification_failed"]
    assert len(failed) == 2
    assert all(e["notification"] == "break_glass" and e["channel"] == "email" for e in failed)
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["notification_given_up"]
    (row,) = await mail.store.notifications.rows()
    assert (row.attempts, row.last_error_class, row.given_up_ms > 0) == (3, "TransportError", True)
    assert await mail.store.notifications.counts() == {"email": (0, 1)}
    text = repr(logs)
    assert SAMPLE_CASE_REF not in text
    assert "ann@example.org" not in text
    assert "u-ann" not in text
    assert "wrong" not in text


async def test_a_server_without_starttls_gets_no_password(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    seen: list[Any] = []

    def auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        seen.append(data)
        return AuthResult(success=True)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Inbox(), authenticator=auth, auth_require_tls=False), "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        mail = _mail(port, tls, retry=RetryPolicy(attempts=1))
        with structlog.testing.capture_logs() as logs:
            await mail.notifier.notify(["u-ann"], "break_glass")
            await mail.drain()
    finally:
        server.close()
        await server.wait_closed()
    assert seen == []
    assert [e["event"] for e in logs] == ["notification_given_up"]


async def test_an_unreachable_server_is_retried_with_doubling_waits_a_bounded_number_of_times(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    mail = _mail(1, tls, retry=RetryPolicy(initial_s=1.0, max_s=3.0, attempts=4), timeout_seconds=1)
    await mail.notifier.notify(["u-ann"], "guardian:breach", case_ref=SAMPLE_CASE_REF)
    waits = []
    for _ in range(3):
        await mail.sender.send_due()
        (row,) = await mail.store.notifications.rows()
        waits.append(row.next_attempt_ms - mail.clock.now)
        mail.clock.now = row.next_attempt_ms
    assert waits == [1000, 2000, 3000]
    await mail.sender.send_due()
    (row,) = await mail.store.notifications.rows()
    assert (row.attempts, row.given_up_ms > 0) == (4, True)


async def test_a_row_older_than_its_maximum_age_is_given_up(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    mail = _mail(1, tls, retry=RetryPolicy(initial_s=1.0, attempts=50, max_age_s=60), timeout_seconds=1)
    await mail.notifier.notify(["u-ann"], "break_glass")
    mail.clock.now += 61_000
    await mail.sender.send_due()
    (row,) = await mail.store.notifications.rows()
    assert (row.attempts, row.given_up_ms > 0) == (1, True)


async def test_a_user_whose_address_was_removed_meanwhile_is_given_up_not_retried(
    smtp: Server, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    book = Book()
    mail = _mail(smtp.port, tls, book=book)
    await mail.notifier.notify(["u-ann", "u-claire"], "request:new", case_ref=SAMPLE_CASE_REF)
    del book.addresses["u-ann"]
    await mail.drain()
    assert [rcpt for rcpt, _ in smtp.inbox.messages] == [["claire@example.org"]]
    (row,) = await mail.store.notifications.rows()
    assert (row.destination, row.attempts, row.last_error_class) == ("u-ann", 1, "UsageError")


async def test_notify_returns_once_the_rows_are_queued_and_wakes_the_sender() -> None:
    store = MemoryStore()
    woken: list[str] = []
    notifier = QueuedNotifier(queue=store.notifications, people=Book(), clock_ms=Clock(), email=True, wake=woken.append)
    await notifier.notify(["u-ann"], "break_glass")
    await notifier.notify(["u-nobody"], "break_glass")  # nobody with an address: nothing queued, nobody woken
    assert woken == ["email"]
    assert len(await store.notifications.rows()) == 1


# --- no case content, in any template, in any language -----------------------------------------


def _strings(msg: Message) -> Iterator[str]:
    for fd, value in msg.ListFields():
        values = value if fd.is_repeated else [value]
        for v in values:
            if isinstance(v, Message):
                yield from _strings(v)
            elif isinstance(v, str):
                yield v


def _sample_texts() -> set[str]:
    body = social_inquiry_request(SAMPLE_CASE_REF, identified_at_ms=SAMPLE_AT_MS)
    return {s for s in _strings(body) if len(s) >= 3 and s != SAMPLE_CASE_REF}


def test_the_samples_have_content_to_look_for() -> None:
    assert {"Arta", "Example"} <= _sample_texts()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("event", EVENTS)
def test_no_template_holds_anything_but_the_event_the_reference_and_the_link(event: str, language: str) -> None:
    other_ref, other_url = case_ref_for(0x0BADCAFE, "AL"), "https://other.example.net/console"
    one = render(event, language, case_ref=SAMPLE_CASE_REF, console_url=CONSOLE)
    two = render(event, language, case_ref=other_ref, console_url=other_url)
    # Only the two slots vary: everything else is the template's fixed text.
    assert one.subject == two.subject
    assert one.body.replace(SAMPLE_CASE_REF, "<ref>").replace(CONSOLE, "<url>") == two.body.replace(
        other_ref, "<ref>"
    ).replace(other_url, "<url>")
    subject, words = TEMPLATES[language][template_key(event)]
    assert one.subject == f"[focalpoint] {subject}"
    assert one.body.splitlines()[0] == words
    assert one.body.count(SAMPLE_CASE_REF) == 1
    assert one.body.count(CONSOLE) == 1
    text = one.subject + one.body
    for sample in _sample_texts():
        assert sample not in text, f"{event}/{language} holds a field of a case"
    assert "al-cp-24x7" not in text  # an event's detail (the partner's contact) is not case content to send
    for rule in ("read_without_assignment", "bulk_reads", "restricted_read", "read_after_closure"):
        assert rule not in text


def test_a_malformed_reference_is_left_out() -> None:
    r = render("break_glass", "en", case_ref="Arta Example, born 2012", console_url=CONSOLE)
    assert "Arta" not in r.body
    assert r.body == render("break_glass", "en", case_ref="", console_url=CONSOLE).body


def test_every_language_has_every_template() -> None:
    assert {lang: set(t) for lang, t in TEMPLATES.items()} == {lang: set(TEMPLATES["en"]) for lang in LANGUAGES}


def test_every_event_the_node_emits_has_its_own_template() -> None:
    from focalpoint.node.deadlines import _EVENTS
    from focalpoint.people.notices import EMERGENCY_ALERT, NEW_REQUEST
    from focalpoint.people.watch import RULES

    emitted = [
        *_EVENTS.values(),
        "break_glass",
        "emergency:unacknowledged:x",
        EMERGENCY_ALERT,
        NEW_REQUEST,
        *(f"anomaly:{r}" for r in RULES),
    ]
    assert [e for e in emitted if template_key(e) == "other"] == []
    assert set(emitted) - {"emergency:unacknowledged:x"} <= set(EVENTS)
