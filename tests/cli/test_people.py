"""``focalpoint login|logout|whoami|user …`` against a running node: the whole path of a person,
from the first operator's enrolment code to a case officer's logged-in worklist and logout, the
session file (0600, no password, refused when others may read it), and the access review.

The CLI runs in-process (click's CliRunner through ``main``, so exit codes and the one-line errors
are the real ones); prompts are answered with ``Typed``, whose authenticator codes are computed
from the secret ``user enrol`` has just printed, as a person reads it off the screen.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import re
import stat
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import click
import pyotp
import pytest
import yaml
from click.testing import CliRunner, Result

from focalpoint.cases.forms import form_of
from focalpoint.cli.main import main
from focalpoint.localnet import LocalNode, make_network
from focalpoint.localnet.samples import sample_body
from focalpoint.node.ports import wall_clock_ms
from tests.conftest import FAST_DELIVERY, SPECS, now_utc
from tests.support.procs import NodeProcess

GR, AL = "gr-ekka", "al-shss"
UNIT = "gr-ekka/athens"
Line = str | Callable[[], str]


class Typed(io.RawIOBase):
    """What a person types at the prompts, one line per read; a callable line is computed when its
    prompt reads it (the code an authenticator shows for a secret printed just before)."""

    def __init__(self, *lines: Line) -> None:
        self._lines = list(lines)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._lines or not len(buffer):  # read(0) probes the stream: it takes no line
            return 0
        line = self._lines.pop(0)
        data = ((line() if callable(line) else line) + "\n").encode()
        buffer[: len(data)] = data
        return len(data)


def printed() -> str:
    """What the command printed so far (inside CliRunner, stdout is a capturing stream)."""
    sys.stdout.flush()
    captured: Any = sys.stdout.buffer
    return bytes(captured.getvalue()).decode()


def authenticator(steps_ahead: int = 0) -> Callable[[], str]:
    """The current code for the last secret printed; ``steps_ahead`` 30-s steps later (a code just
    spent at enrolment is refused as a replay, the next one is accepted)."""

    def code() -> str:
        secret = re.findall(r"secret: ([A-Z2-7]+)", printed())[-1]
        return str(pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead))

    return code


@click.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def _entry(args: tuple[str, ...]) -> None:
    sys.argv = ["focalpoint", *args]
    main()


@dataclass
class Person:
    user_id: str
    secret: str = ""
    recovery: tuple[str, ...] = ()


@dataclass(frozen=True)
class Node:
    node: LocalNode
    config: str
    home: Path

    def run(self, *args: str, input: str | io.RawIOBase | None = None) -> Result:
        typed = cast("IO[Any] | str | None", input)  # a RawIOBase is a binary stream
        return CliRunner().invoke(_entry, list(args), input=typed, catch_exceptions=False)


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output + result.stderr
    return result.stdout


def one_line_error(result: Result, code: int, *fragments: str) -> str:
    assert result.exit_code == code, result.output + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("focalpoint: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    base = tmp_path_factory.mktemp("people")
    specs = [s for s in SPECS if s.node_id in (GR, AL)]
    network = make_network(base / "net", specs, now=now_utc(), delivery=FAST_DELIVERY, directory_refresh_s=0.2)
    proc = NodeProcess(network.nodes[GR])
    try:
        asyncio.run(proc.start())
        yield Node(network.nodes[GR], str(network.nodes[GR].config_path), base)
    finally:
        proc.kill()


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A fresh configuration directory: no one is logged in."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("FOCALPOINT_SESSION_FILE", raising=False)
    return tmp_path / "config"


def enrol(node: Node, code: str, password: str) -> Person:
    """``user enrol`` as the person does it: the code, a password twice, the authenticator's code."""
    out = ok(node.run("user", "enrol", "--config", node.config, input=Typed(code, password, password, authenticator())))
    user_id = re.search(r"^enrolling (\S+)$", out, re.M)
    secret = re.search(r"secret: ([A-Z2-7]+)", out)
    assert user_id, out
    assert secret, out
    assert "otpauth://totp/" in out
    assert "shown once: keep them offline" in out
    recovery = tuple(re.findall(r"^  (\S+)$", out.split("recovery codes", 1)[1], re.M))
    assert recovery
    assert f"{user_id[1]} enrolled" in out
    return Person(user_id[1], secret[1], recovery)


def login(node: Node, person: Person, password: str) -> str:
    code = pyotp.TOTP(person.secret).at(time.time() + 30)  # the enrolment spent the current one
    return ok(node.run("login", "--config", node.config, "--user", person.user_id, input=f"{password}\n{code}\n"))


def enrolment_code(out: str) -> str:
    found = re.search(r"enrolment code: (\S+) \(valid until", out)
    assert found, out
    return found[1]


def session_file(home: Path) -> Path:
    return home / "focalpoint" / "sessions" / f"{GR}.session"


@dataclass
class Accounts:
    operator: Person
    password: str
    officer_code: str
    recovery_used: list[str]


@pytest.fixture(scope="module")
def people(running: Node, tmp_path_factory: pytest.TempPathFactory) -> Accounts:
    """The first operator, added with the machine credential and enrolled through the CLI, who adds
    a case officer (not yet enrolled)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("operator-config")))
    mp.delenv("FOCALPOINT_SESSION_FILE", raising=False)
    try:
        first = ("user", "add", "operator.1", "--first-operator", "--unit", UNIT, "--config", running.config)
        added = ok(running.run(*first))
        assert "added operator.1; enrolment code: " in added
        assert "give it to operator.1, who runs focalpoint user enrol" in added
        password = "correct horse battery staple 1"
        operator = enrol(running, enrolment_code(added), password)
        assert operator.user_id == "operator.1"
        login(running, operator, password)
        again = running.run("user", "add", "operator.2", "--first-operator", "--unit", UNIT, "--config", running.config)
        assert again.exit_code != 0  # only while the node has no operator
        officer_added = ok(
            running.run(
                "user", "add", "officer.1", "--config", running.config, "--unit", UNIT,
                "--role", "case_officer", "--grant", "approve",
            )
        )  # fmt: skip
        return Accounts(operator, password, enrolment_code(officer_added), [])
    finally:
        mp.undo()


def test_a_person_enrols_logs_in_works_and_logs_out(
    running: Node, people: Accounts, home: Path, tmp_path: Path
) -> None:
    password = "another long passphrase 22"
    officer = enrol(running, people.officer_code, password)
    assert officer.user_id == "officer.1"

    logged = login(running, officer, password)
    assert f"\nlogged in to {GR} as officer.1 (case officer; may approve)" in logged
    path = session_file(home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    stored = json.loads(path.read_text())
    assert (stored["user_id"], stored["node_id"]) == ("officer.1", GR)
    assert stored["token"]
    assert password not in path.read_text()

    me = json.loads(ok(running.run("whoami", "--config", running.config, "--json")))
    assert (me["user_id"], me["unit"], me["roles"], me["grants"]) == ("officer.1", UNIT, ["case_officer"], ["approve"])
    assert me["session"]["file"] == str(path)
    assert "user:     officer.1" in ok(running.run("whoami", "--config", running.config))

    identified = (now_utc() - dt.timedelta(hours=6)).isoformat()
    opened = json.loads(
        ok(
            running.run(
                "case", "open", "--config", running.config, "--partner", AL,
                "--identified-at", identified, "--unit", UNIT, "--json",
            )
        )
    )  # fmt: skip
    listed = [json.loads(x) for x in ok(running.run("case", "list", "--config", running.config, "--json")).splitlines()]
    assert opened["link_id"] in [c["link_id"] for c in listed]

    # The access review finds a case through its messages: one notification (queued; AL is not running).
    form = tmp_path / "notification.yaml"
    body = sample_body("case_notification", case_ref=opened["case_ref"], at_ms=wall_clock_ms() - 1000)
    form.write_text(yaml.safe_dump(form_of(body), allow_unicode=True), encoding="utf-8")
    queued = ok(running.run("case", "send", opened["link_id"], "--form", str(form), "--config", running.config))
    assert queued.startswith("queued ")

    shown = ok(running.run("case", "show", opened["link_id"], "--config", running.config))
    assert "view served: FULL (purpose CASE_WORK)" in shown
    review = ok(running.run("case", "access-review", opened["case_ref"], "--config", running.config))
    reads = [line for line in review.splitlines() if " read " in line]
    assert reads, review
    assert all("officer.1" in line for line in reads), review
    as_json = [
        json.loads(x)
        for x in ok(
            running.run("case", "access-review", opened["case_ref"], "--config", running.config, "--json")
        ).splitlines()
    ]
    # the show (FULL) and the first review (itself a read, of the METADATA view)
    assert {(e["kind"], e["actor"], e["view"]) for e in as_json if e["kind"] == "read"} == {
        ("read", "officer.1", "FULL"),
        ("read", "officer.1", "METADATA"),
    }

    assert ok(running.run("logout", "--config", running.config)).startswith(f"logged out of {GR}")
    assert not path.exists()
    one_line_error(
        running.run("case", "list", "--config", running.config),
        2,
        f"not logged in to {GR}: run focalpoint login --config {running.config}",
    )


def test_a_session_file_others_may_read_is_refused(running: Node, home: Path) -> None:
    path = session_file(home)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"node_id": GR, "address": "x", "user_id": "u", "token": "t", "expires_ms": 0}))
    path.chmod(0o640)
    one_line_error(running.run("case", "list", "--config", running.config), 1, "chmod 600")


def test_a_session_the_node_ended_says_to_log_in_again(running: Node, home: Path) -> None:
    path = session_file(home)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"node_id": GR, "address": "x", "user_id": "u", "token": "gone", "expires_ms": 0}))
    path.chmod(0o600)
    one_line_error(
        running.run("case", "list", "--config", running.config), 1, "your session has ended; run focalpoint login"
    )
    ok(running.run("logout", "--config", running.config))  # an ended session: the file is still removed
    assert not path.exists()


def operator_session(node: Node, people: Accounts, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The first operator logged in, with a recovery code, into the file FOCALPOINT_SESSION_FILE names."""
    monkeypatch.setenv("FOCALPOINT_SESSION_FILE", str(tmp_path / "operator.session"))
    recovery = people.operator.recovery[len(people.recovery_used)]
    people.recovery_used.append(recovery)
    typed = f"{people.password}\n{recovery}\n"
    ok(node.run("login", "--config", node.config, "--user", "operator.1", input=typed))


def test_the_node_refuses_an_officer_who_is_also_an_operator(
    running: Node, people: Accounts, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    operator_session(running, people, monkeypatch, tmp_path)
    both = running.run(
        "user", "add", "double.1", "--config", running.config, "--unit", UNIT,
        "--role", "case_officer", "--role", "operator",
    )  # fmt: skip
    one_line_error(both, 2, "no account is both case officer and focal-point operator")


def test_an_operator_lists_shows_changes_and_resets_accounts(
    running: Node, people: Accounts, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    operator_session(running, people, monkeypatch, tmp_path)
    config = running.config
    added = ok(running.run("user", "add", "auditor.1", "--config", config, "--unit", UNIT, "--role", "auditor"))
    assert "added auditor.1; enrolment code:" in added
    listed = {
        u["user_id"]: u
        for u in map(json.loads, ok(running.run("user", "list", "--config", config, "--json")).splitlines())
    }
    assert listed["auditor.1"]["roles"] == ["auditor"]
    assert not listed["auditor.1"]["enrolled"]
    assert listed["operator.1"]["enrolled"]
    shown = ok(running.run("user", "show", "auditor.1", "--config", config))
    assert re.search(r"^roles: +auditor$", shown, re.M), shown
    changed = ok(running.run("user", "set-role", "auditor.1", "--config", config, "--role", "case_officer"))
    assert changed.startswith(("roles applied to auditor.1", "proposed: a second operator must confirm"))
    assert ok(running.run("user", "disable", "auditor.1", "--config", config)).startswith("disabled auditor.1")
    assert json.loads(ok(running.run("user", "show", "auditor.1", "--config", config, "--json")))["disabled"]
    ok(running.run("user", "enable", "auditor.1", "--config", config))
    reset = ok(running.run("user", "reset-second-factor", "auditor.1", "--config", config))
    assert "enrolment code:" in reset
    one_line_error(running.run("user", "show", "nobody.9", "--config", config), 2)


def test_a_wrong_code_is_one_message_whatever_failed(running: Node, people: Accounts, home: Path) -> None:
    typed = f"{people.password}\n000000\n"
    result = running.run("login", "--config", running.config, "--user", "operator.1", input=typed)
    one_line_error(result, 1, "login failed")
    assert not session_file(home).exists()


def test_a_mistyped_authenticator_code_at_enrolment_may_be_entered_again(
    running: Node, people: Accounts, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    operator_session(running, people, monkeypatch, tmp_path)
    added = ok(running.run("user", "add", "typo.1", "--config", running.config, "--unit", UNIT, "--role", "auditor"))
    monkeypatch.delenv("FOCALPOINT_SESSION_FILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "typo"))
    password = "a passphrase typed by hand"

    def wrong() -> str:
        right = authenticator()()
        return f"{(int(right) + 1) % 1_000_000:06d}"

    typed = Typed(enrolment_code(added), password, password, wrong, authenticator())
    result = running.run("user", "enrol", "--config", running.config, input=typed)
    assert "typo.1 enrolled" in ok(result)
    assert "the authenticator's code is wrong" in result.stderr


def test_contacts_preferences_and_the_on_call_list_from_the_command_line(
    running: Node, people: Accounts, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    operator_session(running, people, monkeypatch, tmp_path)
    config = running.config
    ok(running.run("user", "add", "duty.1", "--config", config, "--unit", UNIT, "--role", "case_officer"))
    contact = ok(running.run("user", "set-contact", "duty.1", "--config", config, "--email", "duty.1@gr.example"))
    assert contact.strip() == "duty.1: e-mail to an address, in en; families turned off: none"
    assert "in fr" in ok(running.run("user", "set-contact", "duty.1", "--config", config, "--language", "fr"))
    prefs = ok(
        running.run(
            "user", "set-notifications", "duty.1", "--config", config, "--off", "deadlines", "--off", "requests"
        )
    )
    assert "families turned off: deadlines, requests" in prefs
    assert "on call 24/7" in ok(running.run("user", "on-call", "duty.1", "--config", config, "--on"))
    listed = ok(running.run("user", "list", "--config", config))
    assert re.search(r"^duty\.1 .*on call 24/7", listed, re.M), listed
    shown = json.loads(ok(running.run("user", "show", "duty.1", "--config", config, "--json")))
    assert (shown["email"], shown["language"], shown["notifications_off"], shown["on_call"]) == (
        "duty.1@gr.example",
        "fr",
        ["deadlines", "requests"],
        True,
    )
    bad = one_line_error(
        running.run("user", "set-contact", "--config", config, "--email", "me at home"), 2, "e-mail address such as"
    )
    assert "me at home" not in bad
    one_line_error(
        running.run("user", "set-notifications", "--config", config, "--off", "security"),
        2,
        "security cannot be turned off",
    )
    one_line_error(running.run("user", "set-contact", "--config", config), 2, "give --email")
    assert "on call" not in ok(running.run("user", "on-call", "duty.1", "--config", config, "--off"))
