"""People on a running node for tests: ``people_of(node)`` makes accounts through the node's
real local API (``focalpoint.localnet.people.People``); close it when done."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from focalpoint.localnet.people import People
from focalpoint.server.node import Node

__all__ = ["people_of"]


@contextlib.asynccontextmanager
async def people_of(node: Node, unit: str = "triage") -> AsyncIterator[People]:
    people = People(
        f"127.0.0.1:{node.local_port}", node.keyring.keys.local_api_token, unit=unit, clock_ms=node.clock_ms
    )
    try:
        yield people
    finally:
        await people.close()
