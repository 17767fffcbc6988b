"""Webhook notifications (adapters.webhook) from the durable queue to a real HTTP receiver on the
test loop (127.0.0.1, port 0) that checks each request's Standard Webhooks signature with the
endpoint's secret; and every body, for every event, holds nothing but the event's type, its time,
the case reference and the console's link."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import structlog

from adapters.webhook import WebhookChannel, WebhookEndpoint, body, sign, url_problem, verify
from focalpoint.errors import ConfigError, VerificationError
from focalpoint.localnet.samples import SAMPLE_AT_MS, SAMPLE_CASE_REF, social_inquiry_request
from focalpoint.node.notify import NotificationSender, QueuedNotifier, RetryPolicy, WebhookRoute
from focalpoint.people.notices import EVENT_TYPES, event_type
from focalpoint.storage.memory import MemoryStore
from tests.adapters.test_mail import EVENTS, _sample_texts
from tests.support.webhooks import SECRET, Receiver, serving

CONSOLE = "https://focalpoint.example.org/"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serving() as r:
        yield r


@dataclass
class Hooks:
    store: MemoryStore
    notifier: QueuedNotifier
    sender: NotificationSender
    now: list[int]

    async def drain(self) -> None:
        for _ in range(10):
            await self.sender.send_due()
            next_ms = await self.store.notifications.next_due_ms("webhook")
            if next_ms is None:
                return
            self.now[0] = max(self.now[0], next_ms)


class _NoPeople:
    async def notice_profile(self, user_id: str) -> None:
        return None


def _hooks(url: str, families: frozenset[str] = frozenset(), attempts: int = 5) -> Hooks:
    store, now = MemoryStore(), [1_800_000_000_000]
    channel = WebhookChannel([WebhookEndpoint(url, SECRET, families, 5.0)], console_url=CONSOLE)
    retry = RetryPolicy(initial_s=1.0, max_s=2.0, attempts=attempts)
    sender = NotificationSender(queue=store.notifications, channel=channel, clock_ms=lambda: now[0], retry=retry)
    notifier = QueuedNotifier(
        queue=store.notifications,
        people=_NoPeople(),
        clock_ms=lambda: now[0],
        email=False,
        webhooks=[WebhookRoute(url, families)],
    )
    return Hooks(store, notifier, sender, now)


async def test_delivered_signed_and_holding_only_the_type_the_reference_and_the_link(receiver: Receiver) -> None:
    hooks = _hooks(receiver.url)
    await hooks.notifier.notify(["u-ann"], "emergency:unacknowledged:al-cp-24x7", case_ref=SAMPLE_CASE_REF)
    await hooks.drain()
    (got,) = receiver.got
    assert got.verified == "ok"
    assert got.headers["webhook-id"].startswith("msg_")
    assert got.headers["content-type"] == "application/json"
    assert json.loads(got.body) == {
        "type": "emergency:unacknowledged",
        "timestamp": "2027-01-15T08:00:00.000Z",
        "data": {"case_ref": SAMPLE_CASE_REF, "console_url": CONSOLE},
    }
    assert b"al-cp-24x7" not in got.body  # the event's detail does not leave
    assert await hooks.store.notifications.rows() == []


async def test_a_500_then_a_200_delivers_the_same_webhook_id_twice(receiver: Receiver) -> None:
    receiver.statuses = [500]
    hooks = _hooks(receiver.url)
    await hooks.notifier.notify([], "request:new", case_ref=SAMPLE_CASE_REF)
    await hooks.drain()
    assert len(receiver.got) == 2
    assert receiver.got[0].headers["webhook-id"] == receiver.got[1].headers["webhook-id"]
    assert receiver.got[0].body == receiver.got[1].body  # the same body, re-signed for its new attempt
    assert [g.verified for g in receiver.got] == ["ok", "ok"]
    assert await hooks.store.notifications.rows() == []


@pytest.mark.parametrize("status", [408, 429, 503])
async def test_a_busy_receiver_is_retried(receiver: Receiver, status: int) -> None:
    receiver.statuses = [status]
    hooks = _hooks(receiver.url)
    await hooks.notifier.notify([], "break_glass")
    await hooks.drain()
    assert len(receiver.got) == 2


async def test_410_is_given_up_at_once_and_nothing_private_is_logged(receiver: Receiver) -> None:
    receiver.statuses = [410]
    hooks = _hooks(receiver.url)
    with structlog.testing.capture_logs() as logs:
        await hooks.notifier.notify(["u-ann"], "break_glass", case_ref=SAMPLE_CASE_REF)
        await hooks.drain()
    assert len(receiver.got) == 1
    (row,) = await hooks.store.notifications.rows()
    assert (row.attempts, row.last_error_class, row.given_up_ms > 0) == (1, "UsageError", True)
    assert [e["event"] for e in logs] == ["notification_given_up"]
    text = repr(logs)
    for private in (SAMPLE_CASE_REF, SECRET, SECRET[6:], str(receiver.port), "u-ann"):
        assert private not in text


async def test_an_unreachable_endpoint_is_retried_then_given_up() -> None:
    hooks = _hooks("http://127.0.0.1:1/hook", attempts=3)
    await hooks.notifier.notify([], "break_glass")
    await hooks.drain()
    (row,) = await hooks.store.notifications.rows()
    assert (row.attempts, row.last_error_class, row.given_up_ms > 0) == (3, "TransportError", True)


async def test_an_endpoint_takes_only_the_families_it_asked_for(receiver: Receiver) -> None:
    hooks = _hooks(receiver.url, frozenset({"emergency"}))
    await hooks.notifier.notify(["u-ann"], "deadline:75%", case_ref=SAMPLE_CASE_REF)
    await hooks.notifier.notify(["u-ann"], "emergency:alert", case_ref=SAMPLE_CASE_REF)
    await hooks.drain()
    assert [json.loads(g.body)["type"] for g in receiver.got] == ["emergency:alert"]


async def test_a_tampered_body_id_or_timestamp_fails_verification(receiver: Receiver) -> None:
    hooks = _hooks(receiver.url)
    await hooks.notifier.notify([], "break_glass", case_ref=SAMPLE_CASE_REF)
    await hooks.drain()
    (got,) = receiver.got
    stamp = int(got.headers["webhook-timestamp"])
    verify(SECRET, got.headers, got.body, now=stamp)
    with pytest.raises(VerificationError, match="no webhook-signature matches"):
        verify(SECRET, got.headers, got.body.replace(b"break_glass", b"anomaly"), now=stamp)
    with pytest.raises(VerificationError, match="no webhook-signature matches"):
        verify(SECRET, got.headers | {"webhook-timestamp": str(stamp + 1)}, got.body, now=stamp)
    with pytest.raises(VerificationError, match="no webhook-signature matches"):
        verify(SECRET, got.headers | {"webhook-id": "msg_other"}, got.body, now=stamp)
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(VerificationError, match="no webhook-signature matches"):
        verify(other, got.headers, got.body, now=stamp)
    with pytest.raises(VerificationError, match="more than 300 s"):
        verify(SECRET, got.headers, got.body, now=stamp + 301)
    with pytest.raises(VerificationError, match="needs webhook-id"):
        verify(SECRET, {k: v for k, v in got.headers.items() if k != "webhook-signature"}, got.body, now=stamp)


def test_the_signature_is_the_standard_webhooks_one() -> None:
    """The example of the Standard Webhooks specification (its secret, id, timestamp and body)."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    key = base64.b64decode(secret[6:])
    content = b'{"test": 2432232314}'
    assert sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, content) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.example.org/x", True),
        ("http://127.0.0.1:8080/x", True),
        ("http://localhost/x", True),
        ("http://hooks.example.org/x", False),
        ("ftp://hooks.example.org/x", False),
        ("https:///x", False),
    ],
)
def test_https_is_required_except_to_loopback(url: str, ok: bool) -> None:
    assert (url_problem(url) is None) == ok
    if not ok:
        with pytest.raises(ConfigError):
            WebhookChannel([WebhookEndpoint(url, SECRET)], console_url=CONSOLE)


@pytest.mark.parametrize("secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_c2hvcnQ="])
def test_a_malformed_secret_is_refused_without_repeating_it(secret: str) -> None:
    with pytest.raises(ConfigError) as e:
        WebhookChannel([WebhookEndpoint("https://hooks.example.org/", secret)], console_url=CONSOLE)
    assert secret not in str(e.value)


@pytest.mark.parametrize("event", EVENTS)
def test_no_webhook_body_holds_anything_but_the_type_the_time_the_reference_and_the_link(event: str) -> None:
    raw = body(event, SAMPLE_CASE_REF, CONSOLE, SAMPLE_AT_MS)
    parsed = json.loads(raw)
    assert set(parsed) == {"type", "timestamp", "data"}
    assert parsed["data"] == {"case_ref": SAMPLE_CASE_REF, "console_url": CONSOLE}
    assert parsed["type"] == event_type(event)
    assert parsed["type"] in EVENT_TYPES or parsed["type"] == "other"
    text = raw.decode()
    for sample in _sample_texts():
        assert sample not in text, f"{event} holds a field of a case"
    assert "al-cp-24x7" not in text
    case = social_inquiry_request(SAMPLE_CASE_REF, identified_at_ms=SAMPLE_AT_MS)
    assert case.context.case_ref == SAMPLE_CASE_REF  # the one field of a case that may appear


def test_a_malformed_reference_is_left_out_of_the_body() -> None:
    parsed = json.loads(body("break_glass", "Arta Example, born 2012", CONSOLE, SAMPLE_AT_MS))
    assert parsed["data"]["case_ref"] == ""
