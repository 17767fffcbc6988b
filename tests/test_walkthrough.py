"""docs/operations.md §0, "From a fresh host to a monitored node", run as written.

Each fenced ``sh`` block of §0 carries a marker: ``<!-- walkthrough -->`` (run here),
``<!-- walkthrough: skip (why) -->`` or ``<!-- walkthrough: systemd (…) -->``. The blocks that run
are run in order, each as one ``bash -euo pipefail`` script, with the guide's paths and ports
replaced by a temporary directory and free loopback ports; each must exit 0. So a renamed option,
a moved file or a changed default breaks this test, not an operator's first day.

What cannot run here, and what stands in for it:

- 0.1's root block (useradd, pip from the network): the test makes the directories it would, and
  ``/opt/focalpoint/bin`` is a directory of two scripts running this checkout's ``focalpoint`` and
  Python;
- the directory administrators' part of 0.3 (between the operator's blocks): the test signs a
  directory holding the ``node-entry.json`` that 0.2 wrote (``focalpoint.localnet``) and puts
  ``root.1.fpd`` and ``bundle.fpd`` where 0.3 says they arrive;
- 0.5's systemctl: the test runs the example unit's ``ExecStart=`` (config/systemd/) with its
  ``WorkingDirectory=`` and ``Environment=``, waits for its ``READY=1`` on a ``NOTIFY_SOCKET``,
  and stops it with the unit's ``KillSignal=`` at the end (it must exit 0);
- 0.6's contact and on-call commands: they need the operator's session (enrolment and login ask
  for a password and a TOTP code); tests/cli/test_people.py runs the same commands;
- grpcurl (0.7), promtool and Prometheus (0.8), journald (0.10): not installed here. In their
  place the test checks that every series the alert rules of §7.1 name is one the node serves,
  and that every line the node wrote under the unit's environment is one JSON object.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from directory.build import check_entry_export
from focalpoint.admin.proposals import parse_json
from focalpoint.localnet import NodeSpec, free_port, make_network
from focalpoint.v1 import directory_pb2

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "operations.md"
UNIT = ROOT / "config" / "systemd" / "focalpoint-node.service"
MARKER = re.compile(r"<!-- walkthrough(?:: (?P<kind>skip|systemd)\b[^>]*)? -->\n```sh\n(?P<body>.*?)```\n", re.S)
BLOCK_TIMEOUT_S = 30
SMTP_PASSWORD = "an smtp password typed in\n"
BASH = shutil.which("bash") or "/bin/bash"


@dataclass(frozen=True)
class Block:
    kind: str  # "run", "skip" or "systemd"
    body: str


def section_zero() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index("## 0. From a fresh host to a monitored node")
    return text[start : text.index("\n## 1. ", start)]


def blocks() -> list[Block]:
    return [Block(m["kind"] or "run", m["body"]) for m in MARKER.finditer(section_zero())]


def test_every_shell_block_of_the_walkthrough_is_marked() -> None:
    section = section_zero()
    assert section.count("```sh\n") == len(blocks())
    kinds = [b.kind for b in blocks()]
    assert kinds.count("systemd") == 1
    assert kinds.count("run") >= 8


@dataclass
class Host:
    """The guide's paths and ports on this machine."""

    tmp: Path
    srv: Path
    backups: Path
    bin: Path
    peer: int
    local: int
    metrics: int

    def substitute(self, text: str) -> str:
        for old, new in (
            ("/srv/focalpoint", str(self.srv)),
            ("/backups/focalpoint", str(self.backups)),
            ("/opt/focalpoint/bin", str(self.bin)),
            ("0.0.0.0:7401", f"127.0.0.1:{self.peer}"),
            ("7401", str(self.peer)),
            ("7402", str(self.local)),
            ("9464", str(self.metrics)),
        ):
            text = text.replace(old, new)
        return text

    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("FOCALPOINT_", "NOTIFY_SOCKET"))}
        return keep | {"PATH": f"{self.bin}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": str(self.tmp)}


@pytest.fixture
def host(tmp_path: Path) -> Host:
    """What 0.1's root block leaves: the directories (0700) and /opt/focalpoint/bin."""
    srv, backups, shim = tmp_path / "srv" / "focalpoint", tmp_path / "backups" / "focalpoint", tmp_path / "opt-bin"
    for d in (srv, srv / "data", backups, shim):
        d.mkdir(parents=True, mode=0o700)
    for name, run in (("focalpoint", f'{sys.executable} -m focalpoint "$@"'), ("python", f'{sys.executable} "$@"')):
        script = shim / name
        script.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec {run}\n')
        script.chmod(0o755)
    return Host(tmp_path, srv, backups, shim, free_port(), free_port(), free_port())


def publish_directory(host: Host) -> None:
    """The administrators' part of 0.3: a directory holding the entry 0.2 wrote, delivered as the
    guide says (root.1.fpd and bundle.fpd in /srv/focalpoint/directory/)."""
    now = dt.datetime.now(dt.UTC)
    admins = make_network(host.tmp / "administrators", [NodeSpec("gr-ekka", "GR", "EKKA")], now=now)
    entry = check_entry_export(parse_json(host.srv / "keys" / "node-entry.json", directory_pb2.NodeEntryExport()))
    admins.publish(now=now, valid_for=dt.timedelta(days=60), mutate=lambda e: e.__setitem__("gr-ekka", entry))
    directory = host.srv / "directory"
    directory.mkdir(mode=0o755)  # 0.3's block makes it 0700
    shutil.copyfile(admins.trusted_root_path, directory / "root.1.fpd")
    shutil.copyfile(admins.bundle_path, directory / "bundle.fpd")


def unit_settings() -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, value)
    return settings


@dataclass
class Running:
    process: subprocess.Popen[str]
    stderr: Path


def start_unit(host: Host) -> Running:
    """0.5 without systemd: the unit's ExecStart= as its User= would run it, told to notify."""
    unit = unit_settings()
    argv = host.substitute(unit["ExecStart"]).replace("/opt/focalpoint/bin", str(host.bin)).split()
    env_key, _, env_value = unit["Environment"].partition("=")
    sock_path = host.tmp / "notify.sock"
    stderr = host.tmp / "node.stderr"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(sock_path))
        sock.settimeout(0.5)
        process = subprocess.Popen(
            argv,
            cwd=host.substitute(unit["WorkingDirectory"]),
            env=host.env() | {env_key: env_value, "NOTIFY_SOCKET": str(sock_path)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr.open("w"),
            text=True,
        )
        deadline = time.monotonic() + BLOCK_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if "READY=1" in sock.recv(4096).decode():
                    return Running(process, stderr)
            except TimeoutError:
                if process.poll() is not None:
                    break
        process.kill()
        process.wait()
        raise AssertionError(f"the node did not become ready: {stderr.read_text()[-3000:]}")


def run_block(host: Host, block: Block) -> None:
    script = host.substitute(block.body)
    done = subprocess.run(
        [BASH, "-euo", "pipefail", "-c", script],
        cwd=host.tmp,
        env=host.env(),
        input=SMTP_PASSWORD,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"{block.body}\nexit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


def metric_families(host: Host) -> set[str]:
    """Every family the node's /metrics declares (a family with no sample still has its TYPE line)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{host.metrics}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {m[1] for m in re.finditer(r"^# TYPE (\S+) (\S+)$", text, re.M)}


def alert_rule_series() -> Iterator[str]:
    """The focalpoint_* series named by the alert rules of §7.1."""
    text = GUIDE.read_text(encoding="utf-8")
    [rules] = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if b.startswith("# focalpoint-alerts.yml")]
    for group in yaml.safe_load(rules)["groups"]:
        for rule in group["rules"]:
            yield from re.findall(r"\bfocalpoint_[a-z_]+", rule["expr"])


def test_the_walkthrough_runs_from_a_fresh_host_to_a_monitored_node(host: Host) -> None:
    started = time.monotonic()
    running: Running | None = None
    ran = 0
    try:
        for block in blocks():
            if block.kind == "skip":
                continue
            if block.kind == "systemd":
                running = start_unit(host)
                continue
            if "directory verify" in block.body:
                publish_directory(host)
            run_block(host, block)
            ran += 1
        assert running is not None
        served = metric_families(host)
        named = set(alert_rule_series())
        assert "focalpoint_deadlines_overdue" in named
        # A counter's samples end in _total; its family is declared without it.
        assert {n.removesuffix("_total") for n in named} <= served, named - served
    finally:
        if running is not None:
            running.process.send_signal(getattr(signal, unit_settings()["KillSignal"]))
            code = running.process.wait(timeout=BLOCK_TIMEOUT_S)
    assert ran >= 8
    assert code == 0, running.stderr.read_text()[-3000:]
    lines = running.stderr.read_text().splitlines()
    assert lines
    events = [json.loads(line) for line in lines]  # 0.10: every line one JSON object
    assert any(e.get("event") == "node_started" for e in events)
    assert oct((host.srv / "secrets" / "smtp-password").stat().st_mode & 0o777) == "0o600"
    assert (host.srv / "secrets" / "smtp-password").read_text() == SMTP_PASSWORD
    assert not (host.srv / "drill").exists()
    assert len(list(host.backups.glob("node-*.sqlite"))) == 1
    assert time.monotonic() - started < 60
