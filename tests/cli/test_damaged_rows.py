"""``message list`` against a node whose database holds a damaged row: every message is listed, the
damaged one as UNREADABLE with why (one line, no traceback, no content), a warning on stderr, exit 1."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess

from focalpoint.localnet import LocalNetwork
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.node.ports import wall_clock_ms
from focalpoint.storage.base import DeliveryState
from focalpoint.storage.sqlite import SqliteStore
from tests.conftest import StartNode
from tests.support.procs import cli

GR, AL = "gr-ekka", "al-shss"


async def acli(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(cli, *args)


async def test_message_list_shows_the_unreadable_rows_among_the_others_and_exits_1(
    network: LocalNetwork, start_node: StartNode
) -> None:
    """Outbox and inbox: three messages, one damaged in each list; three lines each (the damaged one
    UNREADABLE with its row and reason), one warning line on stderr, exit 1; undamaged lists exit 0."""
    gr, al = await start_node(GR), await start_node(AL)
    ids = []
    for i in range(3):
        body = social_inquiry_request(case_ref_for(800 + i), identified_at_ms=wall_clock_ms())
        sent = await gr.outbox.submit(AL, body)
        assert await gr.delivery.wait_closed(sent.message_id) is DeliveryState.DELIVERED
        ids.append(sent.message_id)
    before = await acli("message", "list", "--config", str(network.nodes[AL].config_path))
    assert (before.returncode, before.stderr) == (0, "")
    for node, sql in (
        (gr, "UPDATE outbox SET local_copy = 'GR-2026-081 edited' WHERE message_id = ?"),
        (al, "UPDATE inbox SET envelope = 'GR-2026-081 edited' WHERE message_id = ?"),
    ):
        assert isinstance(node.store, SqliteStore)
        with contextlib.closing(sqlite3.connect(node.store.path, timeout=10)) as conn, conn:
            assert conn.execute(sql, (ids[1],)).rowcount == 1

    for node_id, flag, reason in (
        (GR, ["--outbox"], "column local_copy holds text, not bytes"),
        (AL, [], "column envelope holds text, not bytes"),
    ):
        listed = await acli("message", "list", "--config", str(network.nodes[node_id].config_path), *flag)
        assert listed.returncode == 1, listed.stdout + listed.stderr
        assert "Traceback" not in listed.stderr
        lines = listed.stdout.splitlines()
        assert [line[:32] for line in lines] == [m.hex() for m in reversed(ids)]
        damaged = lines[1]
        assert " UNREADABLE (row " in damaged
        assert reason in damaged
        assert "GR-0000000" not in listed.stdout
        assert all("social_inquiry_request" in line for line in (lines[0], lines[2]))
        [warning] = listed.stderr.strip().splitlines()
        assert warning.startswith("focalpoint: warning: 1 ")
        assert "could not be read" in warning
