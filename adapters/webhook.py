"""Webhook notifications: a ``NotificationChannel`` (``focalpoint.node.ports``) over HTTPS, in the
form of Standard Webhooks 1.0 (https://www.standardwebhooks.com/), so any receiver built for it
can check what it gets.

Each queued webhook is one POST of a JSON body holding only the event's type, its time and
``data: {case_ref, console_url}`` (``body``): never a name, never a field of a message. Three
headers go with it: ``webhook-id`` (the queue row's id, the same on every retry, so a receiver
drops a repeat), ``webhook-timestamp`` (this attempt's time, Unix seconds) and
``webhook-signature`` (``v1,`` and the base64 HMAC-SHA256, keyed with the endpoint's secret, of
``id.timestamp.body``). The secret is ``whsec_`` and base64, read by the node from a file only its
owner may read; it is never logged nor written anywhere else.

HTTPS is required, except to a loopback address (tests, a relay on the same host). A 2xx answer
is delivered; a 4xx other than 408 and 429 is refused for good (``UsageError``: the queue gives it
up); anything else, a timeout or a connection failure is ``TransportError`` (retried with
backoff). ``verify`` is what a receiver runs on what it got (the tests' receiver uses it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from focalpoint.configfile import is_loopback
from focalpoint.errors import ConfigError, TransportError, UsageError, VerificationError
from focalpoint.ids import check_case_ref
from focalpoint.people.notices import event_type

__all__ = [
    "MAX_SKEW_S",
    "SECRET_PREFIX",
    "WebhookChannel",
    "WebhookEndpoint",
    "body",
    "parse_secret",
    "sign",
    "url_problem",
    "verify",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
MAX_SKEW_S = 300  # a receiver refuses a timestamp further than this from its clock


def parse_secret(secret: str) -> bytes:
    """The key of a ``whsec_``-prefixed base64 secret (ConfigError, without the secret, if malformed)."""
    text = secret.strip()
    if not text.startswith(SECRET_PREFIX):
        raise ConfigError(f"a webhook secret starts with {SECRET_PREFIX} followed by base64")
    try:
        key = base64.b64decode(text[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"a webhook secret is {SECRET_PREFIX} followed by base64: it does not decode") from None
    if not 24 <= len(key) <= 64:
        raise ConfigError("a webhook secret's key is 24 to 64 bytes (e.g. 32 random bytes, base64)")
    return key


def url_problem(url: object) -> str | None:
    """None for an endpoint URL accepted (https, or http to a loopback address); else what is wrong."""
    if not isinstance(url, str) or any(c.isspace() for c in url):
        return "an https:// URL (http:// only to a loopback address)"
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and host and is_loopback(host):
        return None
    return "an https:// URL (http:// only to a loopback address)"


def body(event: str, case_ref: str, console_url: str, at_ms: int) -> bytes:
    """The JSON body of a webhook: the event's type, its time, the case reference (a well-formed
    one only) and the console's link. Nothing else, ever."""
    ref = case_ref if case_ref and check_case_ref(case_ref) is None else ""
    stamp = datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    payload = {"type": event_type(event), "timestamp": stamp, "data": {"case_ref": ref, "console_url": console_url}}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def sign(key: bytes, msg_id: str, timestamp: int, content: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body``."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secret: str, headers: Mapping[str, str], content: bytes, now: float | None = None) -> None:
    """Check a received webhook as a receiver must: the three headers present, the timestamp within
    ``MAX_SKEW_S`` of ``now`` (Unix seconds; default: the clock), and one ``v1`` signature matching
    (compared in constant time). Raises VerificationError saying what failed."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, signatures = (lower.get(h, "") for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not msg_id or not stamp or not signatures:
        raise VerificationError("a webhook needs webhook-id, webhook-timestamp and webhook-signature headers")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise VerificationError("webhook-timestamp is not whole Unix seconds") from None
    now_s = time.time() if now is None else now
    if abs(now_s - timestamp) > MAX_SKEW_S:
        raise VerificationError(f"webhook-timestamp is more than {MAX_SKEW_S} s from this clock: refused as a replay")
    key = parse_secret(secret)
    expected = sign(key, msg_id, timestamp, content)
    if not any(hmac.compare_digest(expected, s) for s in signatures.split()):
        raise VerificationError("no webhook-signature matches: the body, the id or the timestamp was changed")


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """One ``notifications.webhooks`` entry, with its secret read (the node reads the file)."""

    url: str
    secret: str
    families: frozenset[str] = frozenset()
    timeout_seconds: float = 10.0


class WebhookChannel:
    """A ``NotificationChannel`` ("webhook"): the queue row's destination is the endpoint's URL."""

    name = "webhook"

    def __init__(
        self,
        endpoints: Sequence[WebhookEndpoint],
        *,
        console_url: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        for e in endpoints:
            if problem := url_problem(e.url):
                raise ConfigError(f"a webhook endpoint must be {problem}")
        self._endpoints = {e.url: (e, parse_secret(e.secret)) for e in endpoints}
        self._console_url = console_url
        self._transport = transport

    async def send(self, notice_id: str, destination: str, event: str, case_ref: str, created_ms: int) -> None:
        found = self._endpoints.get(destination)
        if found is None:
            raise UsageError("the webhook endpoint is no longer configured: nothing to send")
        endpoint, key = found
        # The body's time is the event's (the row's): the same body on every retry.
        content = body(event, case_ref, self._console_url, created_ms)
        stamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": notice_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(key, notice_id, stamp, content),
        }
        try:
            async with httpx.AsyncClient(
                transport=self._transport, timeout=endpoint.timeout_seconds, follow_redirects=False
            ) as client:
                response = await client.post(endpoint.url, content=content, headers=headers)
        except httpx.HTTPError as e:
            raise TransportError(f"the webhook endpoint could not be reached ({type(e).__name__})") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        if 400 <= status < 500 and status not in (408, 429):
            raise UsageError(f"the webhook endpoint refused the notification for good (HTTP {status})")
        raise TransportError(f"the webhook endpoint answered HTTP {status}: try again later")
