"""The ``focalpoint`` command line, run as a real subprocess: results on stdout, one-line errors, no tracebacks."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format

from focalpoint.localnet import LocalNetwork
from focalpoint.node import wall_clock_ms
from focalpoint.samples import social_inquiry_request
from tests.procs import cli, running

SENDER, RECEIVER = "gr-ekka", "al-shss"
MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")
CONFIG_FAILS_WITHIN_S = 20.0


GRPC_CORE_LOG = re.compile(r"^[EWI]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\] ")


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], *fragments: str, grpc_core_log: bool = False
) -> str:
    """Non-zero exit, no traceback, exactly one ``focalpoint: error: …`` line containing each fragment.

    With ``grpc_core_log``, lines gRPC's C core logs itself (``E1123 19:01:50.24 8840 add_port.cc:83] …``)
    are set aside: they are gRPC's, not the CLI's.
    """
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    if grpc_core_log:
        lines = [line for line in lines if not GRPC_CORE_LOG.match(line)]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("focalpoint: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def node_init(home: Path, node_id: str = "gr-test") -> subprocess.CompletedProcess[str]:
    return cli(
        "node",
        "init",
        "--dir",
        str(home),
        "--node-id",
        node_id,
        "--state",
        "GR",
        "--institution",
        "Test institution",
        "--endpoint",
        "127.0.0.1:7401",
    )


def keygen(tmp_path: Path, name: str) -> tuple[Path, Path]:
    private, public = tmp_path / f"{name}.key", tmp_path / f"{name}.pub.json"
    result = cli(
        "directory", "keygen", "--out", str(private), "--public-out", str(public), "--state", "ZZ", "--name", name
    )
    assert result.returncode == 0, result.stderr
    return private, public


def test_node_init_creates_private_keys_and_refuses_to_overwrite(tmp_path: Path) -> None:
    """``node init`` writes 0600 key and token files; a second run fails with one line and leaves them as they were."""
    home = tmp_path / "keys"
    first = node_init(home)
    assert first.returncode == 0, first.stderr
    for name in ("node.keys", "local-api.token"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600
    assert (home / "node-entry.json").is_file()
    before = (home / "node.keys").read_bytes()

    second = node_init(home)
    assert_one_line_error(second, "node.keys", "already exists")
    assert (home / "node.keys").read_bytes() == before


def test_directory_keygen_build_verify_show(tmp_path: Path) -> None:
    """An administrator key signs a directory built from a node's export; verify and show accept it."""
    assert node_init(tmp_path / "keys").returncode == 0
    private, public = keygen(tmp_path, "admin")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    doc = tmp_path / "directory.fpd"

    built = cli(
        "directory",
        "build",
        "--entry",
        str(tmp_path / "keys" / "node-entry.json"),
        "--admin-key",
        str(private),
        "--version",
        "1",
        "--out",
        str(doc),
    )
    assert built.returncode == 0, built.stderr
    assert doc.is_file()

    verified = cli("directory", "verify", str(doc), "--trusted", str(public))
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("OK: directory version 1, 1 node(s)")

    shown = cli("directory", "show", str(doc), "--trusted", str(public), "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["version"] == 1
    assert [n["node_id"] for n in data["nodes"]] == ["gr-test"]
    node = data["nodes"][0]
    assert (node["state"], node["endpoint"]) == ("GR", "127.0.0.1:7401")
    assert node["tls_pins"]
    assert node["signing_keys"]
    assert node["encryption_keys"]


def test_directory_verify_with_the_wrong_trusted_key_fails_clearly(tmp_path: Path) -> None:
    """A directory signed by one administrator does not verify against another's key: one line, exit 1."""
    assert node_init(tmp_path / "keys").returncode == 0
    private, _ = keygen(tmp_path, "admin")
    _, other_public = keygen(tmp_path, "stranger")
    doc = tmp_path / "directory.fpd"
    entry = str(tmp_path / "keys" / "node-entry.json")
    built = cli(
        "directory", "build", "--entry", entry, "--admin-key", str(private), "--version", "1", "--out", str(doc)
    )
    assert built.returncode == 0, built.stderr
    result = cli("directory", "verify", str(doc), "--trusted", str(other_public))
    assert_one_line_error(result, "signature")
    assert result.returncode == 1
    assert result.stdout == ""


def _drop(path: tuple[str, ...]) -> Callable[[dict[str, Any]], None]:
    def mutate(config: dict[str, Any]) -> None:
        section: dict[str, Any] = config
        for key in path[:-1]:
            section = section[key]
        del section[path[-1]]

    return mutate


def _set(path: tuple[str, ...], value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(config: dict[str, Any]) -> None:
        section: dict[str, Any] = config
        for key in path[:-1]:
            section = section.setdefault(key, {})
        section[path[-1]] = value

    return mutate


BROKEN_CONFIGS: list[tuple[str, Callable[[dict[str, Any]], None] | str, tuple[str, ...]]] = [
    ("missing key", _drop(("listen", "peer")), ("listen.peer", "required key is missing")),
    ("missing section", _drop(("storage",)), ("storage", "required key is missing")),
    ("unknown key", _set(("delivery", "retry_intial_seconds"), 1), ("delivery.retry_intial_seconds", "unknown key")),
    ("bad value", _set(("listen", "local"), "localhost"), ("listen.local", "host:port")),
    ("bad YAML", "node: {id: gr-ekka\nlisten: [\n", ("not valid YAML", "line")),
    ("missing key file", _set(("node", "keys_file"), "keys/missing.keys"), ("missing.keys", "not found")),
]


def _port_is_free(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.connect((host, int(port)))
        except OSError:
            return True
    return False


@pytest.mark.parametrize(("case", "breakage", "fragments"), BROKEN_CONFIGS, ids=[c[0] for c in BROKEN_CONFIGS])
def test_node_run_with_a_broken_config_exits_quickly_naming_file_and_key(
    network: LocalNetwork,
    case: str,
    breakage: Callable[[dict[str, Any]], None] | str,
    fragments: tuple[str, ...],
) -> None:
    """``node run`` with a broken config exits non-zero within seconds, one line naming file and key, never listens."""
    ln = network.nodes[SENDER]
    broken = ln.config_path.with_name("broken.yaml")
    if isinstance(breakage, str):
        broken.write_text(breakage, encoding="utf-8")
        named = str(broken)
    else:
        config = yaml.safe_load(ln.config_path.read_text(encoding="utf-8"))
        breakage(config)
        broken.write_text(yaml.safe_dump(config), encoding="utf-8")
        named = "" if case == "missing key file" else str(broken)
    started = time.monotonic()
    result = cli("node", "run", "--config", str(broken), timeout_s=CONFIG_FAILS_WITHIN_S)
    assert time.monotonic() - started < CONFIG_FAILS_WITHIN_S
    assert_one_line_error(result, named, *fragments)
    assert result.returncode == 1
    assert "ready" not in result.stderr
    assert _port_is_free(ln.local_address)
    assert _port_is_free(ln.peer_address)


@pytest.mark.parametrize("which", ["peer", "local"])
def test_node_run_on_a_port_in_use_fails_with_one_line(network: LocalNetwork, which: str) -> None:
    """A listen address already taken is a one-line error naming it, not a traceback."""
    ln = network.nodes[SENDER]
    address = ln.peer_address if which == "peer" else ln.local_address
    host, port = address.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind((host, int(port)))
        squatter.listen()
        result = cli("node", "run", "--config", str(ln.config_path), timeout_s=CONFIG_FAILS_WITHIN_S)
    assert_one_line_error(result, address, grpc_core_log=True)
    assert result.returncode == 1


def _write_body(path: Path, case_ref: str) -> Path:
    body = social_inquiry_request(case_ref, identified_at_ms=wall_clock_ms())
    path.write_text(json_format.MessageToJson(body), encoding="utf-8")
    return path


async def acli(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(cli, *args)


async def _wait_delivered(config: Path, message_id: str, timeout_s: float = 30.0) -> str:
    """Poll ``message list --outbox`` until the message's line says delivered; return that line."""
    deadline = time.monotonic() + timeout_s
    while True:
        listed = await acli("message", "list", "--config", str(config), "--outbox")
        assert listed.returncode == 0, listed.stderr
        line = next((x for x in listed.stdout.splitlines() if x.startswith(message_id)), "")
        if line.endswith("delivered"):
            return line
        if time.monotonic() > deadline:
            raise AssertionError(f"not delivered in {timeout_s} s: {listed.stdout!r}")
        await asyncio.sleep(0.2)


async def test_message_send_list_show_against_running_nodes(network: LocalNetwork, tmp_path: Path) -> None:
    """send prints a durable id (the same on retry with --request-id); list shows it; show prints the decrypted body."""
    gr, al = network.nodes[SENDER].config_path, network.nodes[RECEIVER].config_path
    body = _write_body(tmp_path / "body.json", "GR-2026-0007")
    async with running(network, [SENDER, RECEIVER]):
        sent = await acli(
            "message", "send", "--config", str(gr), "--to", RECEIVER, "--body", str(body), "--request-id", "cli-1"
        )
        assert sent.returncode == 0, sent.stderr
        message_id = sent.stdout.strip()
        assert MESSAGE_ID.match(message_id)
        again = await acli(
            "message", "send", "--config", str(gr), "--to", RECEIVER, "--body", str(body), "--request-id", "cli-1"
        )
        assert again.stdout.strip() == message_id

        line = await _wait_delivered(gr, message_id)
        assert f"to {RECEIVER}" in line
        assert "social_inquiry_request" in line

        inbox = await acli("message", "list", "--config", str(al))
        assert inbox.returncode == 0, inbox.stderr
        assert [x.split()[0] for x in inbox.stdout.splitlines()] == [message_id]
        assert f"from {SENDER}" in inbox.stdout

        shown = await acli("message", "show", "--config", str(al), message_id)
        assert shown.returncode == 0, shown.stderr
        received = json.loads(shown.stdout)
        assert received["message_id"] == message_id  # hex, as `send` and `list` print it
        assert received["sender_node"] == SENDER
        assert received["recipient_node"] == RECEIVER
        assert received["body"]["social_inquiry_request"]["case_ref"] == "GR-2026-0007"
        assert received["body"]["social_inquiry_request"]["child"]["given_names"] == ["Arta"]

        mine = await acli("message", "show", "--config", str(gr), "--outbox", message_id)
        assert mine.returncode == 0, mine.stderr
        assert json.loads(mine.stdout)["state"] == "DELIVERY_STATE_DELIVERED"


async def test_message_send_with_an_invalid_body_fails_clearly(network: LocalNetwork, tmp_path: Path) -> None:
    """A body the node rejects (case_ref with a space) is a one-line error and nothing is queued."""
    gr = network.nodes[SENDER].config_path
    spaced = _write_body(tmp_path / "spaced.json", "GR 2026 0001")
    async with running(network, [SENDER]):
        refused = await acli("message", "send", "--config", str(gr), "--to", RECEIVER, "--body", str(spaced))
        assert_one_line_error(refused, "INVALID_ARGUMENT", "case_ref")
        assert refused.stdout == ""

        outbox = await acli("message", "list", "--config", str(gr), "--outbox")
        assert outbox.returncode == 0, outbox.stderr
        assert outbox.stdout == ""


def test_message_send_with_a_json_file_that_is_not_json_fails_clearly(network: LocalNetwork, tmp_path: Path) -> None:
    """A body file that is not JSON is refused locally (no node needed) with one line naming the file."""
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json", encoding="utf-8")
    gr = network.nodes[SENDER].config_path
    result = cli("message", "send", "--config", str(gr), "--to", RECEIVER, "--body", str(garbage))
    assert_one_line_error(result, str(garbage), "not a message body")
    assert result.returncode == 2


@pytest.mark.parametrize("command", ["message send", "directory build"])
def test_a_json_file_with_an_unknown_field_is_a_one_line_error(
    network: LocalNetwork, tmp_path: Path, command: str
) -> None:
    """A JSON input with a field its message type lacks is named in one line, not a multi-line parser dump."""
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"no_such_field": 1}', encoding="utf-8")
    if command == "message send":
        args = ["message", "send", "--config", str(network.nodes[SENDER].config_path), "--to", RECEIVER]
        args += ["--body", str(wrong)]
    else:
        args = ["directory", "build", "--entry", str(wrong), "--admin-key", str(network.admin_key)]
        args += ["--version", "9", "--out", str(tmp_path / "out.fpd")]
    result = cli(*args)
    assert_one_line_error(result, str(wrong), "no_such_field")


def test_demo_prints_a_timeline_ending_in_done() -> None:
    """``focalpoint demo`` exits 0 and narrates the exchange, including the signed receipt."""
    result = cli("demo", timeout_s=60)
    assert result.returncode == 0, result.stderr
    assert "signed receipt" in result.stdout
    assert re.search(r"^done: ", result.stdout, re.MULTILINE)
    assert len(re.findall(r"^\s+\+\s*\d+\.\d ms ", result.stdout, re.MULTILINE)) >= 5
    assert "Traceback" not in result.stderr


BENCH_KEYS = {
    "echo_rps",
    "exchange_rps",
    "throughput_ratio",
    "echo_p50_ms",
    "exchange_p50_ms",
    "p50_ratio",
    "payload_bytes",
    "messages",
}


def test_bench_exchange_json_prints_one_object() -> None:
    """``bench exchange --json`` prints exactly one JSON object with the ratio keys (values not judged)."""
    result = cli("bench", "exchange", "--messages", "100", "--light", "10", "--json", timeout_s=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    data = json.loads(lines[0])
    assert isinstance(data, dict)
    assert data.keys() >= BENCH_KEYS
    for key in BENCH_KEYS:
        assert isinstance(data[key], int | float), key
        assert not isinstance(data[key], bool), key
    assert data["messages"] == 100
