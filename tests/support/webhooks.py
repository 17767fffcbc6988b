"""A real webhook receiver for tests: a minimal HTTP/1.1 server on 127.0.0.1 (port 0) that checks
each request's Standard Webhooks signature with ``SECRET`` (``adapters.webhook.verify``) and answers
with the statuses it is given."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from adapters.webhook import verify
from focalpoint.errors import VerificationError

__all__ = ["SECRET", "Received", "Receiver", "serving"]

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: str  # "ok" or what verification said


@dataclass
class Receiver:
    """A minimal HTTP/1.1 server: answers each POST with the next of ``statuses`` (then 200)."""

    statuses: list[int] = field(default_factory=list)
    got: list[Received] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
        content = await reader.readexactly(int(headers.get("content-length", "0")))
        try:
            verify(SECRET, headers, content)
            verified = "ok"
        except VerificationError as e:
            verified = str(e)
        self.got.append(Received(headers, content, verified))
        status = self.statuses.pop(0) if self.statuses else 200
        writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/focalpoint"


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[Receiver]:
    """A receiver listening until the block ends."""
    r = Receiver()
    server = await asyncio.start_server(r.handle, "127.0.0.1", 0)
    r.port = server.sockets[0].getsockname()[1]
    try:
        yield r
    finally:
        server.close()
        await server.wait_closed()
