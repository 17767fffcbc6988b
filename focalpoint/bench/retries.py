"""``focalpoint bench retries``: what a delivery retry writes to the database, our path against
the one that rewrote the whole message row (schema 2), as bytes and ratios.

Our path: ``SqliteStore.outbox.schedule_retry`` over M queued messages whose envelope and local
copy are S bytes each, in batches as delivery retries them; only the small ``outbox_delivery``
rows change. The baseline: the same retries as schema 2 made them, one ``UPDATE`` of the row that
also holds the two blobs, in a scratch database of that layout. It is measured twice: with the
error text unchanged (SQLite then overwrites the row in place and writes only the pages whose
bytes changed) and with an error text of another length, as when a failure changes (refused,
timed out, unreachable): the whole row, blobs included, is written again.

Bytes written are WAL frames: the WAL is emptied (``wal_checkpoint(TRUNCATE)``) before each
transaction and its size read after it; the checkpoint that later copies those pages into the
database file writes as many again, on both paths alike.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from focalpoint.storage.base import NewOutbox
from focalpoint.storage.sqlite import SqliteStore

__all__ = ["format_retries", "run_retries_bench"]

# Failures change between attempts; their texts differ in length (what decides a row rewrite).
_ERRORS = (
    "transport: al-shss unreachable: connection refused",
    "transport: al-shss did not answer within 30 s",
    "refused (retryable): unavailable: the node is stopping",
)
# The layout of schema 2: the message and its delivery state in one row.
_V2_OUTBOX = """
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id BLOB NOT NULL UNIQUE, client_request_id TEXT UNIQUE,
    recipient TEXT NOT NULL, peer_sequence INTEGER NOT NULL, envelope BLOB NOT NULL, digest BLOB NOT NULL,
    local_copy BLOB NOT NULL, created_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL,
    state INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_ms INTEGER NOT NULL,
    last_error TEXT NOT NULL DEFAULT '', receipt BLOB, delivered_at_ms INTEGER,
    case_ref TEXT NOT NULL DEFAULT '', message_kind TEXT NOT NULL DEFAULT '');
CREATE INDEX outbox_due ON outbox (state, recipient, next_attempt_ms);
"""
_V2_RETRY = (
    "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = v.column2, last_error = v.column3"
    " FROM (VALUES {values}) AS v WHERE outbox.message_id = v.column1 AND outbox.state = 1"
)


def _messages(count: int, size: int) -> list[NewOutbox]:
    return [
        NewOutbox(
            message_id=os.urandom(16),
            recipient="al-shss",
            peer_sequence=n,
            envelope=os.urandom(size),
            digest=os.urandom(32),
            local_copy=os.urandom(size),
            created_at_ms=_NOW_MS,
            expires_at_ms=_NOW_MS + 30 * 86_400_000,
        )
        for n in range(1, count + 1)
    ]


def _wal_emptied(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        raise RuntimeError(f"{path}: the WAL could not be emptied before a measured transaction")


def _wal_size(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


_NOW_MS = 1_780_000_000_000


def _plan(ids: list[bytes], round_: int, *, change: bool) -> list[tuple[bytes, int, str]]:
    """Round ``round_``'s retries: the next attempt 300 s on, the error of that round (or always the first)."""
    error = _ERRORS[(round_ + 1) % len(_ERRORS)] if change else _ERRORS[0]
    return [(mid, _NOW_MS + 300_000 * (round_ + 1), error) for mid in ids]


async def _ours(path: Path, messages: list[NewOutbox], rounds: int, batch: int) -> int:
    store = await SqliteStore.open(path)
    try:
        for start in range(0, len(messages), 256):
            await store.outbox.add(messages[start : start + 256])
        ids = [m.message_id for m in messages]
        written = 0
        for round_ in range(rounds):
            for start in range(0, len(ids), batch):
                _wal_emptied(path)
                await store.outbox.schedule_retry(_plan(ids[start : start + batch], round_, change=True))
                written += _wal_size(path)
        return written
    finally:
        await store.close()


def _v2_row(m: NewOutbox) -> tuple[object, ...]:
    """A queued row of schema 2, already retried a few times with the first error."""
    times = (m.created_at_ms, m.expires_at_ms, m.created_at_ms)
    return (m.message_id, m.recipient, m.peer_sequence, m.envelope, m.digest, m.local_copy, *times, _ERRORS[0])


def _baseline(path: Path, messages: list[NewOutbox], rounds: int, batch: int, *, change: bool) -> int:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_V2_OUTBOX)
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO outbox (message_id, recipient, peer_sequence, envelope, digest, local_copy, created_at_ms,"
            " expires_at_ms, state, attempts, next_attempt_ms, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, 5, ?, ?)",
            [_v2_row(m) for m in messages],
        )
        conn.execute("COMMIT")
        ids = [m.message_id for m in messages]
        written = 0
        for round_ in range(rounds):
            for start in range(0, len(ids), batch):
                plan = _plan(ids[start : start + batch], round_, change=change)
                _wal_emptied(path)
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(
                    _V2_RETRY.format(values=", ".join(["(?, ?, ?)"] * len(plan))), [x for item in plan for x in item]
                )
                conn.execute("COMMIT")
                written += _wal_size(path)
        return written


async def run_retries_bench(*, messages: int, payload_bytes: int, rounds: int, batch: int = 64) -> dict[str, Any]:
    """Bytes written per retry (one message, one attempt) on our path and on both baselines."""
    queued = _messages(messages, payload_bytes)
    retries = messages * rounds
    with tempfile.TemporaryDirectory(prefix="focalpoint-retries-") as tmp:
        ours = await _ours(Path(tmp) / "ours" / "node.sqlite", queued, rounds, batch) / retries
        same = _baseline(Path(tmp) / "same.sqlite", queued, rounds, batch, change=False) / retries
        changed = _baseline(Path(tmp) / "changed.sqlite", queued, rounds, batch, change=True) / retries
    # The case: 2,000 queued messages retried every 300 s (retry_max_seconds) for a day.
    per_day = 2_000 * (86_400 // 300)
    return {
        "messages": messages,
        "payload_bytes": payload_bytes,
        "rounds": rounds,
        "batch": batch,
        "ours_bytes_per_retry": round(ours),
        "rewrite_same_error_bytes_per_retry": round(same),
        "rewrite_new_error_bytes_per_retry": round(changed),
        "ratio_same_error": round(same / ours, 1),
        "ratio_new_error": round(changed / ours, 1),
        "day_of_2000_messages_gb": {
            "ours": round(ours * per_day / 1e9, 3),
            "rewrite_same_error": round(same * per_day / 1e9, 3),
            "rewrite_new_error": round(changed * per_day / 1e9, 3),
        },
    }


def format_retries(r: dict[str, Any]) -> str:
    day = r["day_of_2000_messages_gb"]
    return "\n".join(
        [
            f"{r['messages']} queued messages of 2 × {r['payload_bytes']} bytes, {r['rounds']} retry rounds"
            f" in batches of {r['batch']}: bytes written to the database per retry",
            f"  ours (delivery row only)              {r['ours_bytes_per_retry']:>10}",
            f"  row rewrite, same error text          {r['rewrite_same_error_bytes_per_retry']:>10}"
            f"  ({r['ratio_same_error']}× ours)",
            f"  row rewrite, error text changed       {r['rewrite_new_error_bytes_per_retry']:>10}"
            f"  ({r['ratio_new_error']}× ours)",
            f"a day of 2000 queued messages retried every 300 s: ours {day['ours']} GB,"
            f" rewriting {day['rewrite_same_error']}–{day['rewrite_new_error']} GB (WAL frames; the checkpoint"
            " writes as much again)",
        ]
    )
