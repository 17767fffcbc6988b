"""``focalpoint audit``, run as a real subprocess against real node processes over loopback mutual TLS.

One generated network (gr-ekka, al-shss) runs for the whole module; gr-ekka sends al-shss one
message and every test reads what that exchange left behind: the events on both sides, signed
checkpoints, an exported evidence file (verified with no node running, then damaged a byte at
a time) and the databases, verified offline as they are and after being edited or truncated.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import sqlite3
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format

from focalpoint.audit.evidence import MAGIC
from focalpoint.localnet import LocalNetwork, make_network
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.node.ports import wall_clock_ms
from focalpoint.people.roles import Role
from focalpoint.v1 import audit_pb2
from tests.conftest import FAST_DELIVERY, SPECS, now_utc
from tests.support.procs import NodeProcess, cli, ok, one_line_error
from tests.support.sessions import Account, log_in, session_env

SENDER, RECEIVER = "gr-ekka", "al-shss"
CASE = case_ref_for(42)
OTHER_CASE = case_ref_for(9999)  # no message of this case exists anywhere
ACTOR = "officer.17"  # the case officer who sends the message
AUDITOR = "auditor.1"  # who reads the logs and exports the evidence (the CLI calls as them by default)
WRITTEN_REQUEST = "WR-2026-0042"
PEOPLE = {ACTOR: Account(), AUDITOR: Account(roles=(Role.AUDITOR,), grants=())}
DELIVERED_WITHIN_S = 30.0
HEX = re.compile(r"^[0-9a-f]+$")
# What an event may carry when listed: identifiers, digests, codes and pseudonymous references only.
EVENT_KEYS = {
    "index",
    "at",
    "kind",
    "peer_node",
    "message_id",
    "envelope_sha256",
    "receipt_sha256",
    "case_ref",
    "message_kind",
    "sequence",
    "peer_log_index",
    "actor",
    "refusal",
    "status",
    "key_id",
    "document_kind",
    "document_name",
    "document_version",
    "document_sha256",
    "checkpoint_size",
    "checkpoint_root",
    # the accesses of people: the view served, how many calls a listing event sums up, and the
    # account an account change was about (a user id)
    "subject",
    "view",
    "purpose",
    "count",
}
HEX_KEYS = ("message_id", "envelope_sha256", "receipt_sha256", "document_sha256", "checkpoint_root")
CHECKPOINT_KEYS = {"log_node", "size", "root", "issued_at", "cosigned_by"}
VERIFY_USAGE = "give exactly one of --config (a running node) or --db (a database file, offline)"


# --- helpers ------------------------------------------------------------------------------


def json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def show(config: Path, *args: str) -> list[dict[str, Any]]:
    """``audit show --json``: the events, newest first."""
    return json_lines(ok(cli("audit", "show", "--config", str(config), "--json", *args)))


def log_size(config: Path) -> int:
    """The size ``audit show`` reports on its first line: the log as listed (reading it adds a LIST
    event after that)."""
    first = ok(cli("audit", "show", "--config", str(config), "--limit", "1")).splitlines()[0]
    match = re.fullmatch(r"log size (\d+)", first)
    assert match, first
    return int(match.group(1))


def create_checkpoint(config: Path) -> dict[str, Any]:
    signed: dict[str, Any] = json.loads(ok(cli("audit", "checkpoint", "--config", str(config), "--create")))
    return signed


def files_of(folder: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in names if (folder / name).exists()}


def verify_db(db: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``audit verify --db`` as text, and its ``--json`` result parsed (both must agree on the exit code)."""
    text = cli("audit", "verify", "--db", str(db))
    as_json = cli("audit", "verify", "--db", str(db), "--json")
    assert "Traceback" not in text.stderr + as_json.stderr
    assert as_json.returncode == text.returncode, as_json.stderr
    report: dict[str, Any] = json.loads(as_json.stdout)
    return text, report


def wait_delivered(config: Path, message_id: str, timeout_s: float = DELIVERED_WITHIN_S) -> None:
    """Poll ``message list --outbox`` (bounded in time and count) until the message says delivered."""
    deadline = time.monotonic() + timeout_s
    listed = ""
    for _ in range(int(timeout_s / 0.1)):
        listed = ok(cli("message", "list", "--config", str(config), "--outbox"))
        if any(x.startswith(message_id) and x.endswith("delivered") for x in listed.splitlines()):
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    raise AssertionError(f"{message_id} not delivered in {timeout_s} s: {listed!r}")


@contextlib.contextmanager
def stopped(proc: NodeProcess) -> Iterator[Path]:
    """Stop the node cleanly (SIGTERM), yield its database, and start it again whatever happened."""
    assert proc.terminate() == 0, proc.log.read_text(errors="replace")[-2000:]
    try:
        yield proc.database
    finally:
        asyncio.run(proc.start())


# --- the running network ------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    network: LocalNetwork
    procs: dict[str, NodeProcess]
    message_id: str
    body: dict[str, Any]
    scratch: Path

    def config(self, node_id: str) -> Path:
        return self.network.nodes[node_id].config_path

    @property
    def root(self) -> Path:
        return self.network.trusted_root_path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Both nodes running as processes, after gr-ekka sent al-shss one message of CASE through the CLI.

    Scheduled checkpoints and witness rounds are pushed out of the module's lifetime so that every
    checkpoint and event a test sees is one the test itself caused.
    """
    base = tmp_path_factory.mktemp("audit")
    specs = [s for s in SPECS if s.node_id in (SENDER, RECEIVER)]
    network = make_network(base / "net", specs, now=now_utc(), delivery=FAST_DELIVERY, directory_refresh_s=0.2)
    for node in network.nodes.values():
        config = yaml.safe_load(node.config_path.read_text(encoding="utf-8"))
        config["audit"] = {"checkpoint_interval_seconds": 3600, "witness_interval_seconds": 3600}
        node.config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    procs = {node_id: NodeProcess(node) for node_id, node in network.nodes.items()}
    env = pytest.MonkeyPatch()
    try:
        for p in procs.values():
            p.spawn()

        async def healthy() -> None:
            await asyncio.gather(*(p.wait_healthy() for p in procs.values()))

        asyncio.run(healthy())
        homes = {}
        for node_id, node in network.nodes.items():
            homes = log_in(node, f"{node_id}/triage", base / "people", PEOPLE)
        # Every CLI call of the module is the auditor's, but the officer's sending.
        env.setenv("XDG_CONFIG_HOME", str(homes[AUDITOR]))
        env.delenv("FOCALPOINT_SESSION_FILE", raising=False)
        request = social_inquiry_request(CASE, identified_at_ms=wall_clock_ms())
        request.context.sender_unit = f"{SENDER}/triage"  # the officer sends from their own unit
        body = json_format.MessageToDict(request)
        body_path = base / "body.json"
        body_path.write_text(json.dumps(body), encoding="utf-8")
        gr = network.nodes[SENDER].config_path
        send = ("message", "send", "--config", str(gr), "--to", RECEIVER, "--body", str(body_path))
        message_id = ok(cli(*send, env=session_env(homes[ACTOR])))
        message_id = message_id.strip()
        wait_delivered(gr, message_id)
        yield World(network, procs, message_id, body, base)
    finally:
        env.undo()
        for p in procs.values():
            p.kill()


@pytest.fixture(scope="module")
def evidence(world: World) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """gr-ekka's evidence file for CASE, exported once through the CLI by the auditor, answering a
    written request (tests copy it to damage it)."""
    out = world.scratch / "evidence" / f"{CASE}.fpe"
    out.parent.mkdir()
    export = ("audit", "export", "--config", str(world.config(SENDER)), "--case", CASE, "--out", str(out))
    return out, cli(*export, "--written-request", WRITTEN_REQUEST)


# --- audit show ---------------------------------------------------------------------------


def _assert_identifiers_only(events: list[dict[str, Any]], raw: str, world: World) -> None:
    child = world.body["socialInquiryRequest"]["child"]
    for secret in [*child["givenNames"], child["familyName"]]:
        assert secret not in raw
    for e in events:
        assert set(e) <= EVENT_KEYS, sorted(set(e) - EVENT_KEYS)
        for key in HEX_KEYS:
            if key in e:
                assert HEX.match(e[key]), (key, e[key])


def test_show_lists_sent_and_receipted_on_the_sender_and_delivered_on_the_receiver(world: World) -> None:
    """``show --case --json``: sent and receipted on gr-ekka, delivered on al-shss, all naming the one message,
    and the receipt on the sender names the receiver's delivered event by its log index."""
    gr, al = world.config(SENDER), world.config(RECEIVER)
    sender_raw = ok(cli("audit", "show", "--config", str(gr), "--case", CASE, "--json"))
    sender = json_lines(sender_raw)
    receiver_raw = ok(cli("audit", "show", "--config", str(al), "--case", CASE, "--json"))
    receiver = json_lines(receiver_raw)

    for events in (sender, receiver):
        assert {e["case_ref"] for e in events} == {CASE}
        indices = [e["index"] for e in events]
        assert indices == sorted(indices, reverse=True), "newest first"
    by_kind = {e["kind"]: e for e in sender if e["kind"] in ("sent", "receipted")}
    assert set(by_kind) == {"sent", "receipted"}, sender
    sent, receipted = by_kind["sent"], by_kind["receipted"]
    assert sent["message_id"] == receipted["message_id"] == world.message_id
    assert sent["peer_node"] == receipted["peer_node"] == RECEIVER
    assert sent["message_kind"] == "social_inquiry_request"
    assert sent["index"] < receipted["index"]
    assert sent["envelope_sha256"] == receipted["envelope_sha256"]

    [delivered] = [e for e in receiver if e["kind"] == "delivered"]
    assert delivered["message_id"] == world.message_id
    assert delivered["peer_node"] == SENDER
    assert delivered["message_kind"] == "social_inquiry_request"
    assert delivered["envelope_sha256"] == sent["envelope_sha256"]
    assert int(receipted["peer_log_index"]) == delivered["index"]
    assert not [e for e in receiver if e["kind"] in ("sent", "receipted")]

    _assert_identifiers_only(sender + receiver, sender_raw + receiver_raw, world)


def test_show_text_starts_with_the_log_size_and_names_identifiers_only(world: World) -> None:
    """Plain ``show`` prints ``log size N`` and one line per event; --case narrows it; no body content."""
    gr = world.config(SENDER)
    everything = ok(cli("audit", "show", "--config", str(gr)))
    lines = everything.splitlines()
    match = re.fullmatch(r"log size (\d+)", lines[0])
    assert match, lines[0]
    size = int(match.group(1))
    # Listing the log is itself recorded (a LIST event of the auditor): the size may count the
    # event of this very call, written as it is answered, which the listing did not include.
    newest = int(lines[1].split()[0])
    assert newest in (size - 1, size - 2)
    assert len(lines) - 1 == min(newest + 1, 50)
    assert [int(x.split()[0]) for x in lines[1:]] == list(range(newest, newest - (len(lines) - 1), -1))
    [sent] = [x for x in lines[1:] if x.split()[2] == "sent"]
    assert f"peer_node={RECEIVER}" in sent
    assert f"case_ref={CASE}" in sent
    assert f"message={world.message_id[:12]}…" in sent
    _assert_identifiers_only(show(gr), everything, world)

    case_only = ok(cli("audit", "show", "--config", str(gr), "--case", CASE)).splitlines()
    assert int(case_only[0].removeprefix("log size ")) >= size  # the size is the whole log's
    assert all(f"case_ref={CASE}" in x for x in case_only[1:])
    assert {"sent", "receipted"} <= {x.split()[2] for x in case_only[1:]}


def test_show_of_a_case_without_events_lists_nothing(world: World) -> None:
    """A case reference nobody used: no events, on either node (and still exit 0)."""
    for node_id in (SENDER, RECEIVER):
        assert show(world.config(node_id), "--case", OTHER_CASE) == []


def test_show_pages_with_limit_and_before(world: World) -> None:
    """``--limit`` caps the list and ``--before`` pages back from an index."""
    gr = world.config(SENDER)
    first = show(gr, "--limit", "2")
    assert len(first) == 2
    older = show(gr, "--limit", "2", "--before", str(first[-1]["index"]))
    assert [e["index"] for e in older] == [first[-1]["index"] - 1, first[-1]["index"] - 2]


# --- audit checkpoint ---------------------------------------------------------------------


def test_checkpoint_create_signs_the_log_and_a_plain_call_returns_the_same(world: World) -> None:
    """``--create`` prints JSON with size and root over the whole log; without it, the very same checkpoint."""
    gr = world.config(SENDER)
    size = log_size(gr)
    created = create_checkpoint(gr)
    assert set(created) == CHECKPOINT_KEYS
    assert created["log_node"] == SENDER
    assert created["size"] == size + 1  # and the LIST event of reading the size
    assert len(created["root"]) == 64
    assert HEX.match(created["root"])
    assert created["cosigned_by"] == []  # witness rounds are off in this module

    latest = json.loads(ok(cli("audit", "checkpoint", "--config", str(gr))))
    assert latest == created
    # The log has not grown, so asking for a new one returns the same checkpoint too.
    assert create_checkpoint(gr) == created


# --- audit export -------------------------------------------------------------------------


def test_export_writes_an_owner_only_file_once_and_never_overwrites_it(
    world: World, evidence: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    """The evidence file is 0600; exporting again to the same path is exit 2 and leaves it byte for byte."""
    out, result = evidence
    stdout = ok(result)
    assert stdout.startswith(f"wrote {out}: case {CASE}, "), stdout
    assert re.search(r", 1 messages, \d+ bytes$", stdout.strip()), stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    data = out.read_bytes()
    assert data.startswith(MAGIC)
    assert f"{len(data)} bytes" in stdout
    before = out.stat()

    again = cli("audit", "export", "--config", str(world.config(SENDER)), "--case", CASE, "--out", str(out))
    one_line_error(again, str(out), "already exists", "never overwritten")
    assert again.returncode == 2
    assert out.read_bytes() == data
    after = out.stat()
    assert (after.st_mtime_ns, after.st_size, stat.S_IMODE(after.st_mode)) == (
        before.st_mtime_ns,
        before.st_size,
        0o600,
    )


def test_export_is_logged_with_the_logged_in_user(
    world: World, evidence: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    """The export leaves an ``exported`` event of the case naming the user of the session."""
    exported = [e for e in show(world.config(SENDER), "--case", CASE) if e["kind"] == "exported"]
    assert [e.get("actor", "") for e in exported] == [AUDITOR]
    assert not [e for e in show(world.config(RECEIVER), "--case", CASE) if e["kind"] == "exported"]


def test_an_auditors_export_needs_a_written_request(world: World, tmp_path: Path) -> None:
    out = tmp_path / "out.fpe"
    result = cli("audit", "export", "--config", str(world.config(SENDER)), "--case", CASE, "--out", str(out))
    one_line_error(result, "written request")
    assert result.returncode == 2
    assert not out.exists()


@pytest.mark.parametrize(
    ("case_ref", "where", "fragments"),
    [
        pytest.param(OTHER_CASE, "out.fpe", ("holds no message of that case",), id="unknown-case"),
        pytest.param(CASE, "missing-dir/out.fpe", ("missing-dir", "no such directory"), id="missing-directory"),
    ],
)
def test_export_refusals_are_usage_errors_and_write_nothing(
    world: World, tmp_path: Path, case_ref: str, where: str, fragments: tuple[str, ...]
) -> None:
    """An unknown case reference, or an --out in a missing directory: one line, exit 2, no file."""
    out = tmp_path / where
    result = cli(
        "audit",
        "export",
        "--config",
        str(world.config(SENDER)),
        "--case",
        case_ref,
        "--out",
        str(out),
        "--written-request",
        WRITTEN_REQUEST,
    )
    one_line_error(result, *fragments)
    assert result.returncode == 2
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


# --- audit verify-bundle ------------------------------------------------------------------


def test_verify_bundle_from_the_trusted_root_verifies(
    world: World, evidence: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    """With the network's root, the exported file verifies with no node involved: text and ``--json``."""
    out, _ = evidence
    text = ok(cli("audit", "verify-bundle", str(out), "--root", str(world.root))).splitlines()
    assert text[0] == f"{out}: verifies"
    assert f"log of {SENDER}, case {CASE}, exported " in text[1]
    assert "trust anchor: the verifier's trusted root" in text[2]
    assert "1 messages, 1 with verified receipts" in "\n".join(text)

    report = json.loads(ok(cli("audit", "verify-bundle", str(out), "--root", str(world.root), "--json")))
    assert report["ok"] is True
    assert (report["node"], report["case_ref"]) == (SENDER, CASE)
    assert (report["messages"], report["receipted"]) == (1, 1)
    assert report["exported_by"] == AUDITOR
    # sent, receipted and the export itself (logged before the checkpoint the file is proved against)
    assert report["events"] == 3
    oldest = sorted(e["index"] for e in show(world.config(SENDER), "--case", CASE))[:3]
    assert report["checkpoint_size"] == oldest[-1] + 1


def test_verify_bundle_without_root_says_which_anchor_it_used(evidence: tuple[Path, Any]) -> None:
    """No --root: it still verifies, but the report says the anchor was the bundle's own oldest root."""
    out, _ = evidence
    report = json.loads(ok(cli("audit", "verify-bundle", str(out), "--json")))
    assert report["ok"] is True
    assert "no --root given" in report["trust_anchor"]


def test_verify_bundle_under_another_networks_root_fails_at_e2(evidence: tuple[Path, Any], tmp_path: Path) -> None:
    """A root of other administrators (fresh keys) does not anchor this file's directory: exit 1, step E2."""
    out, _ = evidence
    foreign = make_network(tmp_path / "foreign", SPECS[:1], now=now_utc())
    result = cli("audit", "verify-bundle", str(out), "--root", str(foreign.trusted_root_path))
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith(f"{out}: DOES NOT VERIFY: E2: "), result.stdout
    assert "Traceback" not in result.stderr


def _flipped(evidence_file: Path, tmp_path: Path, offset: int) -> Path:
    data = bytearray(evidence_file.read_bytes())
    data[offset % len(data)] ^= 0x01
    damaged = tmp_path / "damaged.fpe"
    damaged.write_bytes(bytes(data))
    return damaged


FLIP_OFFSETS = [
    pytest.param(0, "E1", id="magic"),
    pytest.param(len(MAGIC), "E", id="first-protobuf-byte"),
    pytest.param(-1, "E", id="last-byte"),
]


@pytest.mark.parametrize(("offset", "step"), FLIP_OFFSETS)
def test_verify_bundle_with_one_byte_flipped_fails_naming_the_step(
    world: World, evidence: tuple[Path, Any], tmp_path: Path, offset: int, step: str
) -> None:
    """One changed byte: exit 1 and ``DOES NOT VERIFY: E<n>: …`` naming the check that failed."""
    out, _ = evidence
    damaged = _flipped(out, tmp_path, offset)
    result = cli("audit", "verify-bundle", str(damaged), "--root", str(world.root))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    match = re.match(rf"^{re.escape(str(damaged))}: DOES NOT VERIFY: (E[1-8]): \S", result.stdout)
    assert match, result.stdout
    assert match.group(1).startswith(step)
    assert len(result.stdout.splitlines()) == 1


def test_verify_bundle_flipped_anywhere_fails_in_json(world: World, evidence: tuple[Path, Any], tmp_path: Path) -> None:
    """A byte flipped anywhere (sampled at odd tenths of the file, ``--json``) fails with ok false and a step."""
    out, _ = evidence
    size = out.stat().st_size
    for tenth in (1, 3, 5, 7, 9):
        damaged = _flipped(out, tmp_path, size * tenth // 10)
        result = cli("audit", "verify-bundle", str(damaged), "--root", str(world.root), "--json")
        assert result.returncode == 1, (tenth, result.stderr)
        report = json.loads(result.stdout)
        assert report["ok"] is False
        assert re.match(r"^E[1-8]: \S", report["error"]), report


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"hello, auditor\n", id="text"),
        pytest.param(MAGIC + b"\xff\xff\xff not protobuf", id="magic-then-garbage"),
        pytest.param(None, id="directory-root-file"),
    ],
)
def test_verify_bundle_of_a_file_that_is_not_evidence_fails_at_e1(
    world: World, tmp_path: Path, content: bytes | None
) -> None:
    """Not an evidence file at all: exit 1, step E1, one line on stdout."""
    path = tmp_path / "not-evidence.fpe"
    path.write_bytes(world.root.read_bytes() if content is None else content)
    result = cli("audit", "verify-bundle", str(path), "--root", str(world.root))
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith(f"{path}: DOES NOT VERIFY: E1: "), result.stdout
    assert "Traceback" not in result.stderr


def test_verify_bundle_of_a_missing_file_is_a_usage_error(world: World, tmp_path: Path) -> None:
    """A file that is not there: exit 2, one line naming it."""
    missing = tmp_path / "absent.fpe"
    result = cli("audit", "verify-bundle", str(missing), "--root", str(world.root))
    one_line_error(result, str(missing), "cannot read")
    assert result.returncode == 2


def test_verify_bundle_with_a_missing_root_file_fails_with_one_line(evidence: tuple[Path, Any], tmp_path: Path) -> None:
    """A --root that is not there: one line naming it, no traceback (exit code not pinned: see the report)."""
    out, _ = evidence
    missing = tmp_path / "absent-root.fpd"
    one_line_error(cli("audit", "verify-bundle", str(out), "--root", str(missing)), str(missing))


# --- audit verify: a running node ---------------------------------------------------------


@pytest.mark.parametrize("node_id", [SENDER, RECEIVER])
def test_verify_a_running_node_says_intact(world: World, node_id: str) -> None:
    """Online verification recomputes the whole log: exit 0, ``intact``, every stored checkpoint matches."""
    config = world.config(node_id)
    checkpoint = create_checkpoint(config)
    lines = ok(cli("audit", "verify", "--config", str(config))).splitlines()
    assert re.fullmatch(rf"audit log: {checkpoint['size']} leaves, intact", lines[0]), lines
    assert lines[1:] == [f"  checkpoint size {checkpoint['size']}: matches; signature valid"]

    report = json.loads(ok(cli("audit", "verify", "--config", str(config), "--json")))
    assert (report["ok"], report["size"], report["first_bad_index"], report["alarms"]) == (
        True,
        checkpoint["size"],
        0,
        [],
    )
    [stored] = report["checkpoints"]
    assert stored["matches"] is True
    assert (stored["size"], stored["root"]) == (checkpoint["size"], checkpoint["root"])


# --- audit verify --db: offline -----------------------------------------------------------

DB_FILES = ("node.sqlite", "node.sqlite-wal")


def test_verify_db_offline_on_a_stopped_nodes_database(world: World) -> None:
    """The stopped receiver's own database file: exit 0, intact, its checkpoint matches, nothing written."""
    al = world.procs[RECEIVER]
    checkpoint = create_checkpoint(world.config(RECEIVER))
    with stopped(al) as db:
        config = yaml.safe_load(world.config(RECEIVER).read_text(encoding="utf-8"))
        assert db == world.config(RECEIVER).parent / config["storage"]["database"]
        before = files_of(db.parent, DB_FILES)
        text, report = verify_db(db)
        after = files_of(db.parent, DB_FILES)
    lines = ok(text).splitlines()
    assert lines[0] == f"audit log: {checkpoint['size']} leaves, intact"
    # Offline, every checkpoint the node stored is checked (other tests may have signed earlier ones).
    assert f"  checkpoint size {checkpoint['size']}: matches; signature not checked (give --root)" in lines[1:]
    assert all(": matches;" in x for x in lines[1:]), lines
    assert (report["ok"], report["size"], report["first_bad_index"]) == (True, checkpoint["size"], 0)
    assert all(c["matches"] for c in report["checkpoints"])
    assert (report["checkpoints"][-1]["size"], report["checkpoints"][-1]["root"]) == (
        checkpoint["size"],
        checkpoint["root"],
    )
    assert after == before


@dataclass(frozen=True)
class Pristine:
    """A copy of the stopped receiver's database files, its log size and its latest checkpoint."""

    folder: Path
    size: int
    checkpoint: dict[str, Any]

    def copy_to(self, where: Path) -> Path:
        """A fresh copy with the WAL folded into the main file, ready to be tampered with."""
        where.mkdir()
        for name in DB_FILES:
            if (self.folder / name).exists():
                shutil.copy2(self.folder / name, where / name)
        db = where / DB_FILES[0]
        with contextlib.closing(sqlite3.connect(db)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return db


@pytest.fixture(scope="module")
def pristine(world: World, tmp_path_factory: pytest.TempPathFactory) -> Pristine:
    """Sign a checkpoint on al-shss, stop it, copy its database (and WAL), start it again."""
    checkpoint = create_checkpoint(world.config(RECEIVER))
    folder = tmp_path_factory.mktemp("pristine")
    with stopped(world.procs[RECEIVER]) as db:
        for name in DB_FILES:
            if (db.parent / name).exists():
                shutil.copy2(db.parent / name, folder / name)
    with contextlib.closing(sqlite3.connect(f"file:{folder / DB_FILES[0]}?mode=ro", uri=True)) as conn:
        size = int(conn.execute("SELECT COUNT(*) FROM audit_leaves").fetchone()[0])
    assert size == checkpoint["size"]
    assert size >= 6, "the tampering below needs a few leaves"
    return Pristine(folder, size, checkpoint)


def test_verify_db_of_an_untouched_copy_is_intact(pristine: Pristine, tmp_path: Path) -> None:
    """The control for the tampering below: the copy itself verifies."""
    text, report = verify_db(pristine.copy_to(tmp_path / "copy"))
    assert ok(text).splitlines()[0] == f"audit log: {pristine.size} leaves, intact"
    assert report["ok"] is True


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_verify_db_names_exactly_the_edited_leaf(pristine: Pristine, tmp_path: Path, where: str) -> None:
    """One leaf's bytes changed in place (UPDATE audit_leaves): exit 1, DAMAGED at exactly that index."""
    index = {"first": 0, "middle": pristine.size // 2, "last": pristine.size - 1}[where]
    db = pristine.copy_to(tmp_path / "edited")
    with contextlib.closing(sqlite3.connect(db)) as conn:
        (leaf,) = conn.execute("SELECT leaf FROM audit_leaves WHERE idx = ?", (index,)).fetchone()
        changed = bytearray(leaf)
        changed[len(changed) // 2] ^= 0x01
        with conn:
            cursor = conn.execute("UPDATE audit_leaves SET leaf = ? WHERE idx = ?", (bytes(changed), index))
            assert cursor.rowcount == 1

    text, report = verify_db(db)
    assert text.returncode == 1, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"audit log: {pristine.size} leaves, DAMAGED at leaf {index}: "), lines
    # A damaged log matches no checkpoint, the latest included.
    assert lines[-1].startswith(f"  checkpoint size {pristine.checkpoint['size']}: DOES NOT MATCH")
    assert all(": DOES NOT MATCH" in x for x in lines[1:]), lines
    assert (report["ok"], report["first_bad_index"], report["size"]) == (False, index, pristine.size)
    assert report["reason"]


def test_verify_db_reports_a_log_shorter_than_its_signed_checkpoint(pristine: Pristine, tmp_path: Path) -> None:
    """The last leaves and their subtrees deleted: the rest agrees with itself, but not with the checkpoint."""
    cut = 3
    kept = pristine.size - cut
    db = pristine.copy_to(tmp_path / "truncated")
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        assert conn.execute("DELETE FROM audit_leaves WHERE idx >= ?", (kept,)).rowcount == cut
        # Every subtree that covers a deleted leaf: node (level, idx) spans leaves [idx·2^level, (idx+1)·2^level).
        assert conn.execute("DELETE FROM audit_nodes WHERE (idx + 1) << level > ?", (kept,)).rowcount >= cut
        conn.execute("DELETE FROM audit_cases WHERE idx >= ?", (kept,))  # and the case index rows naming them

    text, report = verify_db(db)
    assert text.returncode == 1, text.stderr
    size = pristine.checkpoint["size"]
    lines = text.stdout.splitlines()
    # The reason names the smallest stored checkpoint beyond the cut (earlier tests may have signed one).
    damaged = re.fullmatch(
        rf"audit log: {kept} leaves, DAMAGED at leaf {kept}: "
        rf"the log no longer matches its signed checkpoint of size (\d+)",
        lines[0],
    )
    assert damaged, lines
    assert kept < int(damaged.group(1)) <= size
    assert lines[-1].startswith(f"  checkpoint size {size}: DOES NOT MATCH")
    assert (report["ok"], report["size"], report["first_bad_index"]) == (False, kept, kept)
    assert [c["matches"] for c in report["checkpoints"]] == [c["size"] <= kept for c in report["checkpoints"]]


def test_verify_db_reports_a_corrupt_checkpoint_row_without_a_traceback(pristine: Pristine, tmp_path: Path) -> None:
    """A stored checkpoint overwritten with garbage is damage to report (exit 1), not a crash."""
    db = pristine.copy_to(tmp_path / "checkpoint-row")
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        assert conn.execute("UPDATE audit_checkpoints SET raw = ?", (b"\xff\xff",)).rowcount >= 1
    result = cli("audit", "verify", "--db", str(db))
    assert "Traceback" not in result.stderr, result.stderr[-300:]
    assert result.returncode == 1
    assert "checkpoint" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("INSERT INTO audit_leaves (idx, leaf) SELECT MAX(idx) + 6, x'00' FROM audit_leaves", "is missing"),
        ("INSERT INTO audit_leaves (idx, leaf) VALUES (9223372036854775807, x'00')", "is missing"),
        ("INSERT INTO audit_leaves (idx, leaf) VALUES (-1, x'00')", "a leaf is stored at index -1"),
        ("INSERT INTO audit_nodes (level, idx, hash) VALUES (0, 1000000, zeroblob(32))", "a subtree (0, 1000000)"),
        ("INSERT INTO audit_cases (case_ref, idx) VALUES ('GR-2026-0999', 1000000)", "a case index row names leaf"),
        ("UPDATE audit_nodes SET hash = 'text' WHERE level = 0 AND idx = 2", "stored subtree (0, 2) does not match"),
        ("UPDATE audit_nodes SET level = 'text' WHERE level = 1 AND idx = 0", "stored subtree (1, 0) does not match"),
        ("UPDATE audit_leaves SET leaf = CAST(x'ff' AS TEXT) WHERE idx = 1", "leaf 1 is stored as text that is not"),
        ("DELETE FROM audit_nodes WHERE level = 1 AND idx = 1", "stored subtree (1, 1) does not match"),
        ("UPDATE audit_checkpoints SET raw = 'text'", "checkpoint"),
        ("UPDATE witness_alarms SET raw = 'text'", ""),
    ],
    ids=[
        *("leaf-after-a-gap", "leaf-at-a-huge-index", "leaf-at-a-negative-index", "stray-subtree", "stray-case-row"),
        *("subtree-hash-as-text", "subtree-level-as-text", "leaf-not-utf8", "subtree-missing", "checkpoint-as-text"),
        "alarm-as-text",
    ],
)
def test_verify_db_reports_damaged_and_planted_rows_as_damage_never_a_traceback(
    pristine: Pristine, tmp_path: Path, sql: str, fragment: str
) -> None:
    """Rows of the wrong type, missing subtrees and rows planted beyond the log's end: exit 1, the
    first line says DAMAGED and why (text and --json agree), nothing on stderr, no UNKNOWN."""
    db = pristine.copy_to(tmp_path / "damaged")
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        if "witness_alarms" in sql:
            conn.execute("INSERT INTO witness_alarms (log_node, raw, at_ms) VALUES ('it-dgi', x'00', 1)")
        conn.execute(sql)
    text, report = verify_db(db)
    assert text.returncode == 1, text.stdout + text.stderr
    assert text.stderr == ""
    first = text.stdout.splitlines()[0]
    if "witness_alarms" in sql:  # an alarm that does not parse is still an alarm on record
        assert report["alarms"] == [{"log_node": "?", "reason": "a stored alarm does not parse", "detected_by": ""}]
        return
    assert " leaves, DAMAGED at leaf " in first, first
    assert fragment in first, first
    assert report["ok"] is False
    assert fragment in report["reason"]
    assert "GR-0000000" not in text.stdout


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        ("DROP TABLE audit_nodes", "no such table: audit_nodes"),
        ("DROP TABLE audit_leaves", "no such table: audit_leaves"),
        ("ALTER TABLE audit_leaves RENAME COLUMN leaf TO data", "no such column: leaf"),
        ("not a database", "not a readable database"),
    ],
    ids=["subtrees-dropped", "leaves-dropped", "column-renamed", "not-sqlite"],
)
def test_verify_db_of_a_database_it_cannot_read_fails_with_one_line(
    pristine: Pristine, tmp_path: Path, damage: str, fragment: str
) -> None:
    """A dropped table or column, or a file that is not SQLite: one error line naming what is wrong, exit 1."""
    db = pristine.copy_to(tmp_path / "unreadable")
    if damage == "not a database":
        db.write_bytes(case_ref_for(1).encode() * 1000)
    else:
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            conn.execute(damage)
    for args in ((), ("--json",)):
        result = cli("audit", "verify", "--db", str(db), *args)
        assert result.returncode == 1
        one_line_error(result, str(db), fragment)
        assert "GR-0000000" not in result.stderr


def test_verify_db_with_a_root_checks_every_checkpoint_signature(
    world: World, pristine: Pristine, tmp_path: Path
) -> None:
    """With --root, each stored checkpoint's signature is checked against the node's stored directory:
    a checkpoint whose root was rewritten (signatures kept) is caught even when the leaves agree with it."""
    db = pristine.copy_to(tmp_path / "signed")
    checked = cli("audit", "verify", "--db", str(db), "--root", str(world.root))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert all(line.endswith("signature valid") for line in checked.stdout.splitlines()[1:])
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        size, raw = conn.execute("SELECT size, raw FROM audit_checkpoints ORDER BY size DESC LIMIT 1").fetchone()
        signed = audit_pb2.SignedCheckpoint.FromString(raw)
        cp = audit_pb2.Checkpoint.FromString(signed.checkpoint)
        cp.issued_at_ms += 1  # any change to the signed content
        signed.checkpoint = cp.SerializeToString()
        conn.execute("UPDATE audit_checkpoints SET raw = ? WHERE size = ?", (signed.SerializeToString(), size))
    forged = cli("audit", "verify", "--db", str(db), "--root", str(world.root))
    assert forged.returncode == 1
    assert f"checkpoint size {size}: matches; signature INVALID" in forged.stdout
    assert "does not verify" in forged.stdout.splitlines()[0]


def test_verify_db_of_a_missing_database_fails_with_one_line(tmp_path: Path) -> None:
    """A --db that is not there: one line naming it, and nothing created (exit code not pinned: see the report)."""
    missing = tmp_path / "absent.sqlite"
    one_line_error(cli("audit", "verify", "--db", str(missing)), str(missing), "no such database")
    assert list(tmp_path.iterdir()) == []


# --- audit verify: usage ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        pytest.param((), id="neither"),
        pytest.param(("--config", "node.yaml", "--db", "node.sqlite"), id="both"),
        pytest.param(("--json",), id="json-only"),
    ],
)
def test_verify_needs_exactly_one_of_config_or_db(tmp_path: Path, args: tuple[str, ...]) -> None:
    """Neither or both of --config/--db: exit 2, one line naming both options, nothing read or written."""
    absolute = [str(tmp_path / a) if a.startswith("node.") else a for a in args]
    result = cli("audit", "verify", *absolute)
    one_line_error(result, "--config", "--db", VERIFY_USAGE)
    assert result.returncode == 2
    assert list(tmp_path.iterdir()) == []


def test_a_text_line_shows_counts_and_lost_ranges() -> None:
    """Aggregated refusals and declared restores say in the text what `--json` gives in full."""
    from focalpoint.cli.audit import _line

    refused = {"index": 7, "at": "t", "kind": "refused", "peer_node": "al-shss", "count": 40}
    summary = {"index": 8, "at": "t", "kind": "refused", "count": 9, "refusal_counts": {"REPLAY": 2, "MALFORMED": 7}}
    restored = {"index": 9, "at": "t", "kind": "peer_restored", "log_epoch": 1, "lost_from": 12, "lost_to": 30}
    assert _line(refused).endswith("peer_node=al-shss  count=40")
    assert _line(summary).endswith("count=9  codes=MALFORMED:7,REPLAY:2")
    assert _line(restored).endswith("epoch=1  lost=12-30")
