"""Shared fixtures: fresh keys, a signed directory and real nodes on loopback, generated per test."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from focalpoint.localnet import LocalNetwork, NodeSpec, make_network
from focalpoint.log import configure_logging
from focalpoint.server.config import load_config
from focalpoint.server.node import Node

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

# Under pytest-xdist each worker hands out ports from a slice of its own (focalpoint.localnet.free_port).
if (_worker := os.environ.get("PYTEST_XDIST_WORKER", "")).startswith("gw"):
    _count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    _span = 12000 // max(1, _count)
    _low = 20000 + int(_worker[2:]) * _span
    os.environ["FOCALPOINT_FREE_PORTS"] = f"{_low}-{_low + _span - 1}"
configure_logging(level="warning")

SPECS = (
    NodeSpec("gr-ekka", "GR", "EKKA", ("el", "en")),
    NodeSpec("al-shss", "AL", "SHSS", ("sq", "en")),
    NodeSpec("it-dgi", "IT", "DGI", ("it", "en")),
)

# Fast retries so outage tests finish quickly; the defaults are for production.
FAST_DELIVERY = {"retry_initial_seconds": 0.05, "retry_max_seconds": 0.5, "call_timeout_seconds": 5}


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def network(tmp_path: Path) -> LocalNetwork:
    """Three nodes' keys and configs plus a directory signed by a fresh administrator key."""
    return make_network(tmp_path / "net", SPECS, now=now_utc(), delivery=FAST_DELIVERY, directory_refresh_s=0.2)


StartNode = Callable[[str], Awaitable[Node]]


@pytest.fixture
async def start_node(network: LocalNetwork) -> AsyncIterator[StartNode]:
    """``await start_node("gr-ekka")`` opens and starts that node in this process; all are stopped after."""
    started: list[Node] = []

    async def start(node_id: str) -> Node:
        node = await Node.open(load_config(network.nodes[node_id].config_path))
        await node.start()
        started.append(node)
        return node

    yield start
    for node in started:
        await node.stop(0)


@pytest.fixture
async def nodes(network: LocalNetwork, start_node: StartNode) -> dict[str, Node]:
    """All three nodes running."""
    return {node_id: await start_node(node_id) for node_id in network.nodes}
