"""The conventions operators expect of a service, shown on real processes: ``--version`` on every
command group, a JSON log in which every line of stderr is JSON (start-up, the libraries' own
``logging`` records, a configuration error), and systemd's readiness protocol (READY=1 once the
node listens, STOPPING=1 when it stops) received on a real datagram socket."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import logging
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import structlog
import yaml
from click.testing import CliRunner

import focalpoint.log
from focalpoint.cli import cli
from focalpoint.localnet import LocalNetwork, NodeSpec, make_network
from focalpoint.log import LOG_FORMAT_ENV, configure_logging
from focalpoint.server.systemd import notify, socket_address
from tests.support.procs import NodeProcess
from tests.support.procs import cli as run_cli

VERSION = importlib.metadata.version("focalpoint")
NODE = "gr-ekka"
RECEIVE_TIMEOUT_S = 30.0


# --- --version ----------------------------------------------------------------------------------


def groups() -> list[list[str]]:
    return [[], *([name] for name, cmd in sorted(cli.commands.items()) if isinstance(cmd, click.Group))]


@pytest.mark.parametrize("path", groups(), ids=lambda p: " ".join(p) or "focalpoint")
def test_every_command_group_answers_version_from_the_package_metadata(path: list[str]) -> None:
    result = CliRunner().invoke(cli, [*path, "--version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"focalpoint, version {VERSION}"


def test_there_are_command_groups_to_check() -> None:
    assert {"node", "directory", "case", "audit"} <= {p[0] for p in groups() if p}


# --- JSON logs, in process --------------------------------------------------------------------


@pytest.fixture
def restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """configure_logging changes process-wide state: put all of it back for the tests after
    (``is_json`` among it: the CLI's errors, tested in process elsewhere, follow it)."""
    monkeypatch.setattr(focalpoint.log, "_json", focalpoint.log.is_json())  # undone after the test
    root = logging.getLogger()
    handlers, level, config = list(root.handlers), root.level, structlog.get_config()
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)
    structlog.configure(**config)


@pytest.mark.usefixtures("restore_logging")
def test_library_logging_records_and_uncaught_errors_are_rendered_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(fmt="json", level="info")
    logging.getLogger("asyncio").error("Task exception was never retrieved")
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("grpc._cython.cygrpc").debug("below the level: not written")
    structlog.get_logger("focalpoint").info("node_started", peer_port=1)
    try:
        raise RuntimeError("kept off the log as raw text")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    worker = threading.Thread(target=lambda: 1 / 0, name="worker")
    worker.start()
    worker.join()
    lines = capsys.readouterr().err.splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["event"] for e in events] == [
        "Task exception was never retrieved",
        "Started server process",
        "node_started",
        "uncaught_exception",
        "uncaught_exception",
    ]
    assert events[0]["logger"] == "asyncio"
    assert events[0]["level"] == "error"
    assert "RuntimeError" in events[3]["exception"]
    assert events[4]["thread"] == "worker"
    assert "ZeroDivisionError" in events[4]["exception"]
    assert all("timestamp" in e for e in events)


# --- real node processes ----------------------------------------------------------------------


@pytest.fixture
def net(tmp_path: Path) -> LocalNetwork:
    network = make_network(
        tmp_path / "net",
        (NodeSpec(NODE, "GR", "EKKA", ("el", "en")), NodeSpec("al-shss", "AL", "SHSS", ("sq", "en"))),
        now=dt.datetime.now(dt.UTC),
        log_level="info",
    )
    path = network.nodes[NODE].config_path
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    config["logging"] = {"format": "json", "level": "info"}
    path.write_text(yaml.safe_dump(config))
    return network


def datagram_socket(address: str | bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(RECEIVE_TIMEOUT_S)
    return sock


@pytest.mark.slow
async def test_a_node_with_json_logs_writes_only_json_and_tells_systemd_when_ready_and_stopping(
    net: LocalNetwork, tmp_path: Path
) -> None:
    notify_path = tmp_path / "notify.sock"
    with datagram_socket(str(notify_path)) as sock:
        proc = NodeProcess(net.nodes[NODE], env={"NOTIFY_SOCKET": str(notify_path)})
        try:
            await proc.start()
            ready = sock.recv(4096).decode().split("\n")
            assert ready[0] == "READY=1"
            assert ready[1].startswith("STATUS=serving: peer port ")
            assert proc.terminate() == 0
            assert sock.recv(4096) == b"STOPPING=1"
        finally:
            proc.kill()
    lines = [line for line in proc.log.read_text().splitlines() if not line.startswith("--- start ")]
    events = [json.loads(line) for line in lines]  # every line parses, or this raises
    names = [e["event"] for e in events]
    assert {"descriptor_limit", "node_started", "node_ready", "node_stopped"} <= set(names), names
    assert names.index("node_started") < names.index("node_ready") < names.index("node_stopped")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_configuration_error_is_a_json_line_when_json_is_asked_for_before_the_file_is_read(
    tmp_path: Path, how: str
) -> None:
    bad = tmp_path / "node.yaml"
    bad.write_text("node: {surprise: 1}\n")
    args = ["node", "run", "--config", str(bad)]
    result = run_cli(*args, "--log-format", "json") if how == "option" else run_cli(*args, env={LOG_FORMAT_ENV: "json"})
    assert result.returncode == 1
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert events, "nothing on stderr"
    assert {e["event"] for e in events} == {"command_failed"}
    assert any("node.surprise: unknown key" in e["error"] for e in events)
    assert all(e["level"] == "error" and e["exit_code"] == 1 for e in events)


# --- systemd notification, unit -----------------------------------------------------------------


def test_notify_sends_nothing_without_a_supervisor() -> None:
    assert notify("READY=1", environ={}) is False


def test_notify_reaches_a_socket_in_the_abstract_namespace() -> None:
    name = f"focalpoint-test-{id(object())}"
    with datagram_socket(b"\0" + name.encode()) as sock:
        assert notify("READY=1", "STATUS=up", environ={"NOTIFY_SOCKET": "@" + name}) is True
        assert sock.recv(4096) == b"READY=1\nSTATUS=up"


def test_notify_to_a_socket_that_is_gone_is_reported_not_raised(tmp_path: Path) -> None:
    assert notify("READY=1", environ={"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}) is False


def test_socket_address_spells_the_abstract_namespace_with_a_nul_byte() -> None:
    assert socket_address("@sd/notify") == b"\0sd/notify"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"


# --- the example systemd unit -------------------------------------------------------------------


def test_the_example_unit_waits_for_readiness_and_lets_the_node_write_only_its_data_directory() -> None:
    root = Path(__file__).resolve().parents[2]
    settings: dict[str, list[str]] = {}
    for line in (root / "config" / "systemd" / "focalpoint-node.service").read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    assert settings["Type"] == ["notify"]
    assert settings["ExecStart"][0].endswith("focalpoint node run --config /srv/focalpoint/node.yaml")
    assert settings["Environment"] == [f"{LOG_FORMAT_ENV}=json"]
    example = yaml.safe_load((root / "config" / "node.example.yaml").read_text())
    data_dir = Path(settings["WorkingDirectory"][0]) / Path(example["storage"]["database"]).parent
    assert settings["ReadWritePaths"] == [str(data_dir)]
    for hardening in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "PrivateDevices"):
        assert settings[hardening] == ["yes"], hardening
    assert settings["ProtectSystem"] == ["strict"]
    assert "AF_UNIX" in settings["RestrictAddressFamilies"][0]  # the readiness notification's socket
