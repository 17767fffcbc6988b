"""The node database's schema, one version of it, and the steps that bring an older file up to
that version in place, inside one transaction (``prepare``).

    version 1  issue 2/3 builds: outbox and inbox without case columns
    version 2  ``case_ref`` and ``message_kind`` on outbox and inbox
    version 3  an outbox message's delivery state (state, attempts, next attempt, last error,
               receipt) in its own small row, ``outbox_delivery``: the message's row, with its
               envelope and local copy, is written once and never again, so a retry rewrites a
               small row instead of the whole message (docs/adr/0010)
    version 4  the case tables: ``case_links`` (one case with one partner State, with the columns
               the worklist reads), ``case_events``, ``case_cursors``, ``case_parked``
               (docs/adr/0014); new tables only, so the step from 3 creates them and copies nothing
    version 5  the local users' accounts: ``users``, ``user_sessions``, ``user_pending`` (changes
               waiting for a second operator), ``break_glass``, ``link_restrictions``,
               ``link_assignments``; new tables only, as for version 4
    version 6  ``case_summaries``: one row per link with its sealed summary, the generation of the
               link's data it was built from, and when it must be built again (docs/adr/0019);
               the step from 5 creates it with a row, without a summary, for every link
    version 7  ``user_contacts`` (each user's e-mail address, language, notification preferences and
               whether they are on call) and ``notification_queue`` (the durable queue of
               notifications to send, docs/adr/0021); the sealed files' tables (docs/adr/0020):
               ``sealed_imports`` (each sender's files imported, by id and by number: the replay
               table), ``sealed_exports`` (the files written, one number per peer), ``sealed_owed``
               (delivery results owed to a file-only partner); new tables only

Synchronous sqlite3, run on the writer connection's thread by ``db.Database``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from focalpoint.errors import StorageError
from focalpoint.storage.sqlite.audit_log import SCHEMA as AUDIT_SCHEMA

__all__ = ["SCHEMA_VERSION", "prepare"]

SCHEMA_VERSION = 7

# The message as submitted: written once, never updated (its blobs last, so that reading the
# small columns does not walk their overflow pages).
_OUTBOX = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id BLOB NOT NULL UNIQUE,
    client_request_id TEXT UNIQUE,
    recipient TEXT NOT NULL,
    peer_sequence INTEGER NOT NULL,
    digest BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    case_ref TEXT NOT NULL DEFAULT '',
    message_kind TEXT NOT NULL DEFAULT '',
    envelope BLOB NOT NULL,
    local_copy BLOB NOT NULL
)"""
# What delivery did with each outbox message (same seq; recipient and expiry repeated for the
# indexes): the only outbox row a retry, a receipt, a refusal or expiry writes.
_OUTBOX_DELIVERY = """
CREATE TABLE IF NOT EXISTS outbox_delivery (
    seq INTEGER PRIMARY KEY,
    recipient TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    state INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    receipt BLOB,
    delivered_at_ms INTEGER
)"""

# A link: one local case with one partner State. Its identity (never changed) first, then the
# columns each application of its events sets (what the worklist sorts and filters on), then its
# sealed local-only data (docs/adr/0014).
_CASE_LINKS = """
CREATE TABLE IF NOT EXISTS case_links (
    link_id TEXT NOT NULL PRIMARY KEY,
    case_id TEXT NOT NULL,
    case_ref TEXT NOT NULL,
    partner_node TEXT NOT NULL,
    partner_state TEXT NOT NULL,
    our_side TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    unit TEXT NOT NULL,
    stage TEXT NOT NULL,
    stage_since_ms INTEGER NOT NULL,
    urgency INTEGER NOT NULL,
    gate_missing TEXT NOT NULL,
    next_due_ms INTEGER,
    flagged INTEGER NOT NULL,
    closed INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    payload BLOB NOT NULL,
    UNIQUE (case_ref, partner_node)
)"""
# Each link's events, once per (link, message id): the order columns in the clear, the event sealed.
_CASE_EVENTS = """
CREATE TABLE IF NOT EXISTS case_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    link_id TEXT NOT NULL,
    message_id BLOB NOT NULL,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    sender_node TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    payload BLOB NOT NULL,
    UNIQUE (link_id, message_id)
)"""
# A link's summary for reports and the deadline scan (focalpoint.node.summaries), rebuilt when
# ``generation`` (bumped by every write that changes the link's data) moves past ``built_from``.
_CASE_SUMMARIES = """
CREATE TABLE IF NOT EXISTS case_summaries (
    link_id TEXT NOT NULL PRIMARY KEY,
    partner_state TEXT NOT NULL,
    generation INTEGER NOT NULL,
    built_from INTEGER NOT NULL,
    context TEXT NOT NULL,
    wake_at_ms INTEGER,
    summary BLOB NOT NULL,
    case_id TEXT NOT NULL DEFAULT '',
    first_ms INTEGER NOT NULL DEFAULT 0,
    last_ms INTEGER NOT NULL DEFAULT 0
)"""
_CASE_TABLES = (
    _CASE_LINKS,
    _CASE_EVENTS,
    _CASE_SUMMARIES,
    # How far the inbox and the outbox have been applied to the links (source -> row number).
    "CREATE TABLE IF NOT EXISTS case_cursors (source TEXT NOT NULL PRIMARY KEY, position INTEGER NOT NULL)"
    " WITHOUT ROWID",
    # Received case messages whose case reference names no link, kept for the operator.
    """
CREATE TABLE IF NOT EXISTS case_parked (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sender TEXT NOT NULL,
    message_id BLOB NOT NULL,
    case_ref TEXT NOT NULL,
    kind TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    reason TEXT NOT NULL,
    UNIQUE (sender, message_id)
)""",
)
# The worklist, newest update first, a page of it without sorting (focalpoint.storage.sqlite.cases
# names each in its query; tests/storage/test_schema.py holds the queries to them): open links of a
# unit, of every unit, and the same with the closed ones.
_CASE_INDEXES = (
    "CREATE INDEX IF NOT EXISTS case_links_case ON case_links (case_id)",
    "CREATE INDEX IF NOT EXISTS case_worklist_unit ON case_links (unit, updated_at_ms, link_id) WHERE closed = 0",
    "CREATE INDEX IF NOT EXISTS case_worklist ON case_links (updated_at_ms, link_id) WHERE closed = 0",
    "CREATE INDEX IF NOT EXISTS case_links_unit ON case_links (unit, updated_at_ms, link_id)",
    "CREATE INDEX IF NOT EXISTS case_links_updated ON case_links (updated_at_ms, link_id)",
    # The summaries to build again: stale ones, woken ones, those of one partner under old rules.
    "CREATE INDEX IF NOT EXISTS case_summaries_stale ON case_summaries (link_id) WHERE built_from != generation",
    "CREATE INDEX IF NOT EXISTS case_summaries_wake ON case_summaries (wake_at_ms) WHERE wake_at_ms IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS case_summaries_context ON case_summaries (partner_state, context)",
)

# The local users (focalpoint.node.accounts). Secrets only as what cannot give them back: the
# password's Argon2id hash, SHA-256 of the enrolment and recovery codes (the recovery hashes
# concatenated, 32 bytes each), the second-factor seed sealed under the storage key.
_USERS = """
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT NOT NULL PRIMARY KEY,
    unit TEXT NOT NULL,
    roles TEXT NOT NULL,
    grants TEXT NOT NULL,
    consular_state TEXT NOT NULL,
    district TEXT NOT NULL,
    disabled INTEGER NOT NULL,
    password_hash TEXT NOT NULL,
    totp_seed BLOB NOT NULL,
    totp_last_step INTEGER NOT NULL,
    recovery_hashes BLOB NOT NULL,
    failures INTEGER NOT NULL,
    locked_until_ms INTEGER NOT NULL,
    enrol_code_hash BLOB NOT NULL,
    enrol_expires_ms INTEGER NOT NULL,
    enrolled INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    last_login_ms INTEGER NOT NULL,
    version INTEGER NOT NULL
)"""
_ACCOUNT_TABLES = (
    _USERS,
    # A session by the SHA-256 of its token (the token itself is never stored).
    "CREATE TABLE IF NOT EXISTS user_sessions (token_hash BLOB NOT NULL PRIMARY KEY, user_id TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL, source TEXT NOT NULL) WITHOUT ROWID",
    # A change waiting for a second operator, one per user.
    "CREATE TABLE IF NOT EXISTS user_pending (user_id TEXT NOT NULL PRIMARY KEY, kind TEXT NOT NULL,"
    " proposed_by TEXT NOT NULL, unit TEXT NOT NULL, roles TEXT NOT NULL, grants TEXT NOT NULL,"
    " consular_state TEXT NOT NULL, district TEXT NOT NULL, at_ms INTEGER NOT NULL)",
    # Every break-glass window opened (the reason's text sealed), kept for the access review.
    "CREATE TABLE IF NOT EXISTS break_glass (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL,"
    " link_id TEXT NOT NULL, reason_code TEXT NOT NULL, reason BLOB NOT NULL, opened_ms INTEGER NOT NULL,"
    " until_ms INTEGER NOT NULL)",
    # Links restricted to named officers (comma-joined user ids), and the officers assigned to a link.
    "CREATE TABLE IF NOT EXISTS link_restrictions (link_id TEXT NOT NULL PRIMARY KEY, users TEXT NOT NULL,"
    " set_by TEXT NOT NULL, at_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS link_assignments (link_id TEXT NOT NULL, user_id TEXT NOT NULL,"
    " PRIMARY KEY (link_id, user_id)) WITHOUT ROWID",
    # How each user is reached outside the console (families turned off comma-joined).
    "CREATE TABLE IF NOT EXISTS user_contacts (user_id TEXT NOT NULL PRIMARY KEY, email TEXT NOT NULL,"
    " language TEXT NOT NULL, off TEXT NOT NULL, on_call INTEGER NOT NULL, updated_ms INTEGER NOT NULL)",
)
# The notifications still to send (and those given up, kept to be counted): written when their
# event happens, deleted once delivered (focalpoint.storage.sqlite.notifications).
_NOTIFICATION_QUEUE = """
CREATE TABLE IF NOT EXISTS notification_queue (
    notice_id TEXT NOT NULL PRIMARY KEY,
    channel TEXT NOT NULL,
    destination TEXT NOT NULL,
    event TEXT NOT NULL,
    case_ref TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    last_error_class TEXT NOT NULL,
    given_up_ms INTEGER NOT NULL
)"""
_ACCOUNT_INDEXES = (
    "CREATE INDEX IF NOT EXISTS users_enrolment ON users (enrol_code_hash) WHERE enrol_code_hash != x''",
    "CREATE INDEX IF NOT EXISTS user_sessions_user ON user_sessions (user_id)",
    "CREATE INDEX IF NOT EXISTS break_glass_user_link ON break_glass (user_id, link_id, id)",
)

# Sealed files (focalpoint.storage.sqlite.sealed).
_SEALED_TABLES = (
    "CREATE TABLE IF NOT EXISTS sealed_imports (sender TEXT NOT NULL, file_id BLOB NOT NULL,"
    " sequence INTEGER NOT NULL, imported_at_ms INTEGER NOT NULL, PRIMARY KEY (sender, file_id),"
    " UNIQUE (sender, sequence)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS sealed_exports (peer TEXT NOT NULL, sequence INTEGER NOT NULL,"
    " file_id BLOB NOT NULL, created_at_ms INTEGER NOT NULL, envelopes INTEGER NOT NULL,"
    " receipts INTEGER NOT NULL, PRIMARY KEY (peer, sequence)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS sealed_owed (peer TEXT NOT NULL, message_id BLOB NOT NULL,"
    " result BLOB NOT NULL, expires_at_ms INTEGER NOT NULL, at_ms INTEGER NOT NULL,"
    " PRIMARY KEY (peer, message_id)) WITHOUT ROWID",
)

_TABLES = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    _OUTBOX,
    _OUTBOX_DELIVERY,
    """
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sender TEXT NOT NULL,
    message_id BLOB NOT NULL,
    envelope BLOB NOT NULL,
    digest BLOB NOT NULL,
    local_copy BLOB NOT NULL,
    received_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    receipt BLOB NOT NULL,
    case_ref TEXT NOT NULL DEFAULT '',
    message_kind TEXT NOT NULL DEFAULT '',
    UNIQUE (sender, message_id)
)""",
    "CREATE INDEX IF NOT EXISTS inbox_message ON inbox (message_id)",
    # Every directory document version this node accepted (kept so old signatures stay checkable),
    # plus the last verified bundle (kind 'bundle'), which the node reloads when its source is down.
    """
CREATE TABLE IF NOT EXISTS directory_documents (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    raw BLOB NOT NULL,
    accepted_at_ms INTEGER NOT NULL,
    PRIMARY KEY (kind, name, version)
)""",
    """
CREATE TRIGGER IF NOT EXISTS directory_keep_last_bundle AFTER INSERT ON directory_documents
WHEN NEW.kind = 'bundle'
BEGIN
    DELETE FROM directory_documents WHERE kind = 'bundle' AND version < NEW.version;
END""",
    # The audit log (focalpoint.storage.sqlite.audit_log) lives in the same file, so events commit
    # with their rows. Which leaves concern which case (derived from the leaves).
    *(s for s in AUDIT_SCHEMA.split(";") if s.strip()),
    """
CREATE TABLE IF NOT EXISTS audit_cases (
    case_ref TEXT NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (case_ref, idx)
) WITHOUT ROWID""",
    # This node's signed checkpoints (without cosignatures) and the cosignatures witnesses returned.
    "CREATE TABLE IF NOT EXISTS audit_checkpoints (size INTEGER PRIMARY KEY, raw BLOB NOT NULL,"
    " issued_at_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_cosignatures (size INTEGER NOT NULL, witness TEXT NOT NULL,"
    " raw BLOB NOT NULL, PRIMARY KEY (size, witness))",
    # As a witness: the latest checkpoint of each partner's log this node cosigned (with its cosignature).
    "CREATE TABLE IF NOT EXISTS witnessed (log_node TEXT PRIMARY KEY, size INTEGER NOT NULL, raw BLOB NOT NULL,"
    " at_ms INTEGER NOT NULL)",
    # Conflicting checkpoints found while witnessing (ConflictEvidence), kept for good.
    "CREATE TABLE IF NOT EXISTS witness_alarms (id INTEGER PRIMARY KEY AUTOINCREMENT, log_node TEXT NOT NULL,"
    " raw BLOB NOT NULL, at_ms INTEGER NOT NULL)",
    # Partners' declared restores this node recorded while witnessing (RestoreEvidence), kept for good.
    "CREATE TABLE IF NOT EXISTS witness_restores (id INTEGER PRIMARY KEY AUTOINCREMENT, log_node TEXT NOT NULL,"
    " raw BLOB NOT NULL, at_ms INTEGER NOT NULL)",
    *_CASE_TABLES,
    *_ACCOUNT_TABLES,
    _NOTIFICATION_QUEUE,
    *_SEALED_TABLES,
)
_INDEXES = (
    # Due and next-due lookups of a recipient's queued entries (focalpoint.storage.sqlite.outbox).
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox_delivery (state, recipient, next_attempt_ms)",
    "CREATE INDEX IF NOT EXISTS outbox_case ON outbox (case_ref)",
    "CREATE INDEX IF NOT EXISTS inbox_case ON inbox (case_ref)",
    *_CASE_INDEXES,
    *_ACCOUNT_INDEXES,
    # A channel's rows still to send, by when they are due.
    "CREATE INDEX IF NOT EXISTS notification_due ON notification_queue (channel, next_attempt_ms)"
    " WHERE given_up_ms = 0",
)

_1_TO_2 = (
    "ALTER TABLE outbox ADD COLUMN case_ref TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE outbox ADD COLUMN message_kind TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE inbox ADD COLUMN case_ref TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE inbox ADD COLUMN message_kind TEXT NOT NULL DEFAULT ''",
)
_MESSAGE_COLUMNS = (
    "seq, message_id, client_request_id, recipient, peer_sequence, digest, created_at_ms, expires_at_ms,"
    " case_ref, message_kind, envelope, local_copy"
)
_DELIVERY_COLUMNS = (
    "seq, recipient, expires_at_ms, state, attempts, next_attempt_ms, last_error, receipt, delivered_at_ms"
)
# The outbox is copied once into its two new tables (the only time its blobs are rewritten).
_2_TO_3 = (
    _OUTBOX.replace("IF NOT EXISTS outbox", "outbox_v3"),
    f"INSERT INTO outbox_v3 ({_MESSAGE_COLUMNS}) SELECT {_MESSAGE_COLUMNS} FROM outbox ORDER BY seq",
    _OUTBOX_DELIVERY.replace("IF NOT EXISTS ", ""),
    f"INSERT INTO outbox_delivery ({_DELIVERY_COLUMNS}) SELECT {_DELIVERY_COLUMNS} FROM outbox ORDER BY seq",
    # AUTOINCREMENT's counter goes along: a number spent on an ignored insert is never reused.
    "DELETE FROM sqlite_sequence WHERE name = 'outbox_v3'",
    "INSERT INTO sqlite_sequence (name, seq) SELECT 'outbox_v3', seq FROM sqlite_sequence WHERE name = 'outbox'",
    "DROP TABLE outbox",  # with its indexes (outbox_due, outbox_case) and its counter row
    "ALTER TABLE outbox_v3 RENAME TO outbox",
)
# Version 4 adds tables only: ``prepare`` creates them (with the rest of whatever an older file lacks).
_3_TO_4: tuple[str, ...] = ()
# So does version 5 (the accounts' tables).
_4_TO_5: tuple[str, ...] = ()
# Version 6 adds the summaries' table, with a row (no summary yet) for every link already stored.
_5_TO_6 = (
    _CASE_LINKS,  # (a file from before version 4 has none yet: ``prepare`` creates the rest later)
    _CASE_SUMMARIES,
    "INSERT INTO case_summaries (link_id, partner_state, generation, built_from, context, wake_at_ms, summary)"
    " SELECT link_id, partner_state, 1, -1, '', NULL, x'' FROM case_links",
)
# Version 7 adds tables only (contacts, the notification queue, the sealed files'), as 4 and 5 did.
_6_TO_7: tuple[str, ...] = ()
_STEPS = {1: _1_TO_2, 2: _2_TO_3, 3: _3_TO_4, 4: _4_TO_5, 5: _5_TO_6, 6: _6_TO_7}


def _version(conn: sqlite3.Connection, path: Path) -> int | None:
    """The schema version the file records; None for a file without the node's tables."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "outbox" not in tables:
        return None
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() if "meta" in tables else None
    if row is None or not str(row[0]).isdigit():
        found = "none" if row is None else "not a number"
        raise StorageError(f"{path}: the database records no usable schema version ({found}); it is damaged")
    return int(row[0])


def prepare(conn: sqlite3.Connection, path: Path) -> int | None:
    """Inside the caller's write transaction: create the schema in a new file, or migrate an older
    one to ``SCHEMA_VERSION``; returns the version found (None: a new file). Raises StorageError
    for a version this code does not know."""
    found = _version(conn, path)
    if found is not None and not 1 <= found <= SCHEMA_VERSION:
        raise StorageError(f"{path}: database schema version {found}, this node expects {SCHEMA_VERSION}")
    for version in range(found or SCHEMA_VERSION, SCHEMA_VERSION):
        for statement in _STEPS[version]:
            conn.execute(statement)
    for statement in (*_TABLES, *_INDEXES):  # whatever an older version lacked (version 1: the audit tables)
        conn.execute(statement)
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (str(SCHEMA_VERSION),),
    )
    return found
