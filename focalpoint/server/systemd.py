"""systemd's readiness protocol (sd_notify), in a few lines of the standard library.

Under ``Type=notify`` systemd passes ``NOTIFY_SOCKET``, the path of a Unix datagram socket (or,
starting with ``@``, a name in the abstract namespace). The node sends ``READY=1`` once both of
its ports listen, so that ``systemctl start`` returns, and units ordered after it start, only
when the node can be reached; and ``STOPPING=1`` when it begins to shut down. Without the
variable (run by hand, in tests, under another supervisor) nothing is sent. A failure to send is
logged and otherwise ignored: readiness is a courtesy to the supervisor, never a reason to stop.
"""

from __future__ import annotations

import os
import socket

import structlog

__all__ = ["NOTIFY_SOCKET_ENV", "notify", "socket_address"]

NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"

log = structlog.get_logger(__name__)


def socket_address(value: str) -> str | bytes:
    """The address ``NOTIFY_SOCKET`` names: a filesystem path, or (``@name``) the abstract
    namespace, which Linux spells with a leading NUL byte."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


def notify(*states: str, environ: dict[str, str] | None = None) -> bool:
    """Send ``states`` (``READY=1``, ``STOPPING=1``, ``STATUS=…``) as one datagram to the socket
    in ``NOTIFY_SOCKET``. Returns whether a datagram was sent (False: no supervisor asked)."""
    value = (os.environ if environ is None else environ).get(NOTIFY_SOCKET_ENV, "")
    if not value or not states:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(socket_address(value))
            sock.sendall("\n".join(states).encode())
    except OSError as e:
        log.warning("systemd_notify_failed", error=e.strerror or type(e).__name__)
        return False
    return True
