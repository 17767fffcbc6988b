"""What every console response and every form submission is checked against: pure functions.

- Cookies: the node's opaque session token is the only thing the console keeps about a person,
  in ``__Host-fp-session`` (Secure, HttpOnly, SameSite=Strict, Path=/, no Domain: the ``__Host-``
  prefix makes the browser refuse it otherwise). Before login, ``__Host-fp-login`` holds a random
  token for the login form's double submit.
- CSRF: every POST form carries ``csrf`` = HMAC-SHA256(the console's secret, purpose and the
  session token, or the pre-session token on the login form). The secret is drawn when the
  process starts, so a restart invalidates open forms, never sessions (people reload the page).
  A POST is refused when its token does not match, or when the browser says it came from another
  site (``Sec-Fetch-Site`` other than ``same-origin`` or ``none``; where the header is absent, an
  ``Origin`` other than ours).
- Headers: a strict Content-Security-Policy (no inline script or style anywhere), no sniffing,
  no referrer, isolated from other origins, no powerful features, no caching of HTML pages, and
  HSTS when the console is reached over TLS.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

__all__ = [
    "CSP",
    "LANG_COOKIE",
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "cross_site",
    "csrf_token",
    "csrf_valid",
    "security_headers",
]

SESSION_COOKIE = "__Host-fp-session"
LOGIN_COOKIE = "__Host-fp-login"
LANG_COOKIE = "__Host-fp-lang"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'"
)
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)
HSTS = "max-age=31536000; includeSubDomains"


def csrf_token(secret: bytes, purpose: str, value: str) -> str:
    """The form token binding a form to ``value`` (a session token, or the pre-session token of
    the login form); ``purpose`` keeps one kind from standing in for the other."""
    return hmac.new(secret, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret: bytes, purpose: str, value: str | None, sent: str | None) -> bool:
    if not value or not sent:
        return False
    return hmac.compare_digest(csrf_token(secret, purpose, value), sent)


def cross_site(headers: Mapping[str, str], own_origin: str) -> bool:
    """Whether a request says it comes from another site: ``Sec-Fetch-Site`` when the browser
    sends it, else ``Origin`` compared with ours (a request with neither is judged by its token)."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = headers.get("origin")
    if origin is None:
        return False
    return origin.rstrip("/").lower() != own_origin.rstrip("/").lower()


def security_headers(*, html: bool, tls: bool) -> list[tuple[str, str]]:
    """The headers every response carries; ``no-store`` on HTML pages, HSTS over TLS."""
    headers = [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        ("permissions-policy", PERMISSIONS_POLICY),
        ("x-frame-options", "DENY"),
    ]
    if html:
        headers.append(("cache-control", "no-store"))
    if tls:
        headers.append(("strict-transport-security", HSTS))
    return headers
