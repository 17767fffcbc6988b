"""The ``focalpoint`` command line, run as a real subprocess: results on stdout, one-line errors, no tracebacks."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format

from focalpoint.localnet import LocalNetwork, NodeSpec, make_network
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.node.ports import wall_clock_ms
from focalpoint.v1 import directory_pb2
from tests.conftest import FAST_DELIVERY
from tests.support.procs import cli, ok, running
from tests.support.sessions import Account, alog_in, session_env

SENDER, RECEIVER = "gr-ekka", "al-shss"
GR_UNIT, AL_UNIT = "gr-ekka/athens", "al-shss"
MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")
CONFIG_FAILS_WITHIN_S = 20.0


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Non-zero exit, no traceback, exactly one ``focalpoint: error: …`` line containing each fragment
    (nothing else on stderr: no line of gRPC's own either)."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("focalpoint: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def node_init(
    home: Path,
    node_id: str = "gr-test",
    *,
    state: str = "GR",
    institution: str = "Test institution",
    endpoint: str = "127.0.0.1:7401",
    languages: tuple[str, ...] = ("en",),
) -> subprocess.CompletedProcess[str]:
    args = ["--dir", str(home), "--node-id", node_id, "--state", state, "--institution", institution]
    args += ["--endpoint", endpoint, *(x for lang in languages for x in ("--language", lang))]
    return cli("node", "init", *args)


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
    (
        "removed directory key",
        _set(("directory", "trusted_keys"), ["admin.pub.json"]),
        ("directory.trusted_keys", "unknown key"),
    ),
    (
        "missing root file",
        _set(("directory", "root"), "missing-root.fpd"),
        ("missing-root.fpd", "cannot read the trusted root"),
    ),
]
# These name the file that is missing rather than the configuration file.
NAMES_ANOTHER_FILE = {"missing key file", "missing root file"}


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
        named = "" if case in NAMES_ANOTHER_FILE else str(broken)
    started = time.monotonic()
    result = cli("node", "run", "--config", str(broken), timeout_s=CONFIG_FAILS_WITHIN_S)
    assert time.monotonic() - started < CONFIG_FAILS_WITHIN_S
    assert_one_line_error(result, named, *fragments)
    assert result.returncode == 1
    assert "ready" not in result.stderr
    assert _port_is_free(ln.local_address)
    assert _port_is_free(ln.peer_address)


def test_node_run_with_several_config_problems_prints_each_on_its_own_line_unknown_keys_first(
    network: LocalNetwork,
) -> None:
    """Every problem of the configuration at once, one ``focalpoint: error:`` line each, a typo first with its
    suggestion; exit 1, nothing listens."""
    ln = network.nodes[SENDER]
    config = yaml.safe_load(ln.config_path.read_text(encoding="utf-8"))
    config["node"]["keys-file"] = config["node"].pop("keys_file")
    config["listen"]["local"] = "localhost"
    broken = ln.config_path.with_name("broken.yaml")
    broken.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = cli("node", "run", "--config", str(broken), timeout_s=CONFIG_FAILS_WITHIN_S)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"focalpoint: error: {broken}: node.keys-file: unknown key (did you mean keys_file?)",
        f"focalpoint: error: {broken}: listen.local: expected host:port, e.g. 127.0.0.1:7401, got 'localhost'",
    ]
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
    assert_one_line_error(result, address)
    assert result.returncode == 1


# What an operator's shell might hold to debug gRPC: the CLI must still print only its own line.
GRPC_LOUD = {"GRPC_VERBOSITY": "DEBUG", "GRPC_TRACE": "all"}


def test_grpc_adds_no_line_of_its_own_even_when_the_environment_asks_for_them(network: LocalNetwork) -> None:
    """With GRPC_VERBOSITY=DEBUG and GRPC_TRACE=all, a call to a node that is down and a node on a port in use
    each still print exactly one line, focalpoint's own."""
    ln = network.nodes[SENDER]
    down = cli("message", "list", "--config", str(ln.config_path), env=GRPC_LOUD)
    assert_one_line_error(down, "not reachable", "is the node running?")
    assert down.returncode == 1
    host, port = ln.peer_address.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind((host, int(port)))
        squatter.listen()
        taken = cli("node", "run", "--config", str(ln.config_path), env=GRPC_LOUD, timeout_s=CONFIG_FAILS_WITHIN_S)
    assert_one_line_error(taken, ln.peer_address)


def test_the_command_line_imports_no_grpc_before_main_has_quietened_it() -> None:
    """Importing ``focalpoint.cli`` (what the ``focalpoint`` script does before ``main``) leaves gRPC unimported,
    so the variables ``main`` sets are the ones gRPC reads."""
    probe = "import sys, focalpoint.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'grpc'))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_focalpoint_grpc_verbosity_turns_grpcs_own_lines_back_on_for_debugging(network: LocalNetwork) -> None:
    """FOCALPOINT_GRPC_VERBOSITY=ERROR is the one way to see gRPC's own lines (here: why it could not bind)."""
    ln = network.nodes[SENDER]
    host, port = ln.peer_address.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind((host, int(port)))
        squatter.listen()
        result = cli(
            "node",
            "run",
            "--config",
            str(ln.config_path),
            env={"FOCALPOINT_GRPC_VERBOSITY": "ERROR"},
            timeout_s=CONFIG_FAILS_WITHIN_S,
        )
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("focalpoint: error: cannot listen on "), result.stderr
    assert any("add_port" in line for line in lines[:-1]), result.stderr


@pytest.mark.parametrize("group", [(), ("node",), ("directory",), ("message",), ("audit",), ("report",)])
def test_a_command_group_without_a_command_prints_its_whole_help_and_exits_2(group: tuple[str, ...]) -> None:
    """``focalpoint`` (or one of its groups) alone prints the help as click formats it, one item a line, on stderr,
    with exit 2 (nothing was done); never the help squashed into one error line."""
    result = cli(*group)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"Usage: focalpoint {' '.join(group)}".rstrip() + " [OPTIONS] COMMAND [ARGS]...")
    assert "Commands:" in lines
    assert "focalpoint: error" not in result.stderr
    assert len(lines) > 6, result.stderr


def _write_body(path: Path, case_ref: str) -> Path:
    """A body from gr-ekka's Athens unit to al-shss's (whose officers read it in full)."""
    body = social_inquiry_request(case_ref, identified_at_ms=wall_clock_ms())
    body.context.recipient_unit = AL_UNIT
    path.write_text(json_format.MessageToJson(body), encoding="utf-8")
    return path


async def acli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(cli, *args, env=env)


async def officers(
    network: LocalNetwork, folder: Path, node_ids: tuple[str, ...] = (SENDER, RECEIVER)
) -> dict[str, str]:
    """officer.1 of gr-ekka's Athens unit and of al-shss's, logged in on the running nodes: the
    environment that makes the CLI call as them."""
    units = {SENDER: GR_UNIT, RECEIVER: AL_UNIT}
    homes = [await alog_in(network.nodes[n], units[n], folder, {"officer.1": Account()}) for n in node_ids]
    return session_env(homes[0]["officer.1"])


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
    body = _write_body(tmp_path / "body.json", case_ref_for(7))
    async with running(network, [SENDER, RECEIVER]):
        env = await officers(network, tmp_path / "people")
        sent = await acli(
            "message", "send", "--config", str(gr), "--to", RECEIVER, "--body", str(body), "--request-id", "cli-1",
            env=env,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        message_id = sent.stdout.strip()
        assert MESSAGE_ID.match(message_id)
        again = await acli(
            "message", "send", "--config", str(gr), "--to", RECEIVER, "--body", str(body), "--request-id", "cli-1",
            env=env,
        )  # fmt: skip
        assert again.stdout.strip() == message_id

        line = await _wait_delivered(gr, message_id)
        assert f"to {RECEIVER}" in line
        assert "social_inquiry_request" in line

        inbox = await acli("message", "list", "--config", str(al))
        assert inbox.returncode == 0, inbox.stderr
        assert [x.split()[0] for x in inbox.stdout.splitlines()] == [message_id]
        assert f"from {SENDER}" in inbox.stdout

        shown = await acli("message", "show", "--config", str(al), message_id, env=env)
        assert shown.returncode == 0, shown.stderr
        received = json.loads(shown.stdout)
        assert received["message_id"] == message_id  # hex, as `send` and `list` print it
        assert received["sender_node"] == SENDER
        assert received["recipient_node"] == RECEIVER
        assert received["body"]["social_inquiry_request"]["case_ref"] == case_ref_for(7)
        assert received["body"]["social_inquiry_request"]["child"]["given_names"] == ["Arta"]

        mine = await acli("message", "show", "--config", str(gr), "--outbox", message_id, env=env)
        assert mine.returncode == 0, mine.stderr
        assert json.loads(mine.stdout)["state"] == "DELIVERY_STATE_DELIVERED"


async def test_node_health_exits_0_when_all_is_well_and_1_when_a_partner_is_unreachable(tmp_path: Path) -> None:
    """``node health --check-now`` exits 0 saying healthy while its one partner answers, and 1 (text and --json)
    once that partner is down, naming it."""
    pair = (NodeSpec(SENDER, "GR", "EKKA"), NodeSpec(RECEIVER, "AL", "SHSS"))
    net = make_network(tmp_path / "net", pair, now=dt.datetime.now(dt.UTC), delivery=FAST_DELIVERY)
    gr = str(net.nodes[SENDER].config_path)
    async with running(net, [SENDER, RECEIVER]) as procs:
        well = await acli("node", "health", "--config", gr, "--check-now")
        assert well.returncode == 0, well.stderr
        assert well.stdout.splitlines() == ["directory version 1: healthy"]
        procs[RECEIVER].kill()
        down = await acli("node", "health", "--config", gr, "--check-now")
        assert down.returncode == 1, down.stderr
        assert down.stdout.splitlines()[0] == "directory version 1: needs attention"
        assert f"node {RECEIVER} unreachable" in down.stdout
        as_json = await acli("node", "health", "--config", gr, "--json")
        assert as_json.returncode == 1, as_json.stderr
        assert json.loads(as_json.stdout)["healthy"] is False


async def test_message_send_with_an_invalid_body_fails_clearly(network: LocalNetwork, tmp_path: Path) -> None:
    """A body the node rejects (case_ref with a space) is a one-line error and nothing is queued."""
    gr = network.nodes[SENDER].config_path
    spaced = _write_body(tmp_path / "spaced.json", "GR 2026 0001")
    async with running(network, [SENDER]):
        env = await officers(network, tmp_path / "people", (SENDER,))
        refused = await acli("message", "send", "--config", str(gr), "--to", RECEIVER, "--body", str(spaced), env=env)
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


# --- directory: the administrators' workflow ----------------------------------------------
#
# Two States: GR with two administrators (threshold 2), AL with one; a root role of all three
# (threshold 2, from 2 States) and a timestamp key. Each State has one node. Everything goes
# through `focalpoint directory …` subprocesses, as administrators would run it.

ADMIN_STATES = {"gr1": "GR", "gr2": "GR", "al1": "AL", "ts": "ZZ"}  # ZZ: the timestamp key
STATE_ADMINS = {"GR": ("gr1", "gr2"), "AL": ("al1",)}
# State -> (node id, institution, languages, endpoint)
STATE_NODES = {
    "GR": ("gr-ekka", "EKKA", ("el", "en"), "127.0.0.1:7401"),
    "AL": ("al-shss", "SHSS", ("sq", "en"), "127.0.0.1:7411"),
}
AGREEMENT_ID = "AL-GR-2006"
ROOT_ROLE_ADMINS = ("gr1", "gr2", "al1")
HEALTH_KEYS = {
    "version",
    "healthy",
    "no_focal_point",
    "stale_contact_points",
    "expiring_keys",
    "expiring_documents",
    "excluded_documents",
    "unreachable_nodes",
    "clock_offsets",
    "node_problems",
    "missing_labels",
}


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to show that nothing was written)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def keygen(folder: Path, name: str, state: str, *extra: str) -> subprocess.CompletedProcess[str]:
    private, public = folder / f"{name}.key", folder / f"{name}.pub.json"
    return cli(
        "directory",
        "keygen",
        "--out",
        str(private),
        "--public-out",
        str(public),
        "--state",
        state,
        "--name",
        name,
        *extra,
    )


def sign(proposal: Path, *keys: Path, repo: Path | None = None, anyway: bool = False) -> str:
    """Sign with each key in turn (``repo``: whose root decides who counts); the last command's output."""
    out = ""
    for key in keys:
        extra = [*(["--repo", str(repo)] if repo is not None else []), *(["--even-if-not-counted"] if anyway else [])]
        out = ok(cli("directory", "sign", str(proposal), "--key", str(key), *extra))
    return out


def publish(repo: Path, *proposals: Path, timestamp_key: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = [] if timestamp_key is None else ["--timestamp-key", str(timestamp_key)]
    return cli("directory", "publish", "--repo", str(repo), *map(str, proposals), *extra)


def propose(repo: Path, out: Path, *source: str) -> Path:
    ok(cli("directory", "propose", "--repo", str(repo), *source, "--out", str(out)))
    return out


def write_state_json(path: Path, state: str) -> Path:
    """A StateEntry in protobuf JSON as a State's administrators would write it (contacts verified today)."""
    _, institution, languages, _ = STATE_NODES[state]
    today = dt.datetime.now(dt.UTC).date()
    entry = {
        "state": state,
        "focal_point_designated": True,
        "institutions": [{"id": "fp", "name": institution, "kind": "INSTITUTION_KIND_NATIONAL_FOCAL_POINT"}],
        "contact_points": [
            {
                "id": "duty",
                "institution_id": "fp",
                "role": "duty officer",
                "languages": list(languages),
                "urgent_24_7": True,
                "email": f"duty@{state.lower()}.example",
                "last_verified": {"year": today.year, "month": today.month, "day": today.day},
            }
        ],
        "code_list_version": "2026.1",
    }
    path.write_text(json.dumps(entry), encoding="utf-8")
    return path


def write_agreement_json(path: Path, status: str) -> Path:
    """The AL–GR agreement in protobuf JSON, covering social inquiry requests with a 30-day deadline."""
    agreement = {
        "agreement_id": AGREEMENT_ID,
        "title": "Agreement between AL and GR on the protection of children",
        "parties": ["AL", "GR"],
        "status": status,
        "kinds": ["social_inquiry_request"],
        "deadlines": [{"kind": "social_inquiry_request", "response_days": 30}],
        "working_languages": ["en"],
        "return_costs": "RETURN_COSTS_SHARED",
    }
    path.write_text(json.dumps(agreement), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Admins:
    """The administrators' key files, the root spec naming them, the nodes' exports, and root 1."""

    base: Path
    spec: Path
    node_entries: dict[str, Path]  # State -> that State's node-entry.json
    root_only: Path  # a repository holding roots/1.fpd only: copy it, never write to it
    unsigned_root: Path  # root version 1 as proposed, before anyone signed it

    def key(self, name: str) -> Path:
        return self.base / f"{name}.key"

    def fresh_repo(self, where: Path) -> Path:
        return Path(shutil.copytree(self.root_only, where / "repo"))


@pytest.fixture(scope="module")
def admins(tmp_path_factory: pytest.TempPathFactory) -> Admins:
    """Keys from `directory keygen`, a root spec, both nodes' `node init` exports and root 1 published."""
    base = tmp_path_factory.mktemp("admins")
    for name, state in ADMIN_STATES.items():
        ok(keygen(base, name, state))
    spec = {
        "root": {"keys": [f"{n}.pub.json" for n in ROOT_ROLE_ADMINS], "threshold": 2},
        "root_min_states": 2,
        "timestamp": {"keys": ["ts.pub.json"], "threshold": 1},
        "states": {
            state: {"keys": [f"{n}.pub.json" for n in names], "threshold": len(names)}
            for state, names in STATE_ADMINS.items()
        },
        "valid_days": 365,
    }
    spec_path = base / "root.yaml"
    spec_path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    node_entries = {}
    for state, (node_id, institution, languages, endpoint) in STATE_NODES.items():
        home = base / node_id
        ok(node_init(home, node_id, state=state, institution=institution, endpoint=endpoint, languages=languages))
        node_entries[state] = home / "node-entry.json"
    unsigned = base / "root.unsigned.fpd"
    ok(cli("directory", "init-root", "--spec", str(spec_path), "--out", str(unsigned)))
    proposal = Path(shutil.copy(unsigned, base / "root.proposal.fpd"))
    sign(proposal, *(base / f"{n}.key" for n in ROOT_ROLE_ADMINS))
    ok(publish(base / "root-only", proposal))
    return Admins(base, spec_path, node_entries, base / "root-only", unsigned)


def test_keygen_writes_a_private_key_and_its_public_admin_key(
    admins: Admins, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``keygen`` writes a 0600 key and a public AdminKey of the State; signing with it needs its passphrase."""
    monkeypatch.setenv("FP_TEST_PASSPHRASE", "correct horse battery staple")
    out = ok(keygen(tmp_path, "locked", "GR", "--passphrase-env", "FP_TEST_PASSPHRASE"))
    private = tmp_path / "locked.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    public = json_format.Parse((tmp_path / "locked.pub.json").read_text(encoding="utf-8"), directory_pb2.AdminKey())
    assert (public.state, public.name) == ("GR", "locked")
    assert public.key_id in out
    assert public.ed25519_public_key
    assert public.ml_dsa_65_public_key

    proposal = Path(shutil.copy(admins.unsigned_root, tmp_path / "root.fpd"))
    assert_one_line_error(cli("directory", "sign", str(proposal), "--key", str(private)), "passphrase")
    assert proposal.read_bytes() == admins.unsigned_root.read_bytes()
    args = ["--passphrase-env", "FP_TEST_PASSPHRASE", "--even-if-not-counted"]
    signed = ok(cli("directory", "sign", str(proposal), "--key", str(private), *args))
    assert signed.splitlines()[0] == (
        f"signed root version 1 with key {public.key_id}: it does NOT count for this document"
    )


def test_keygen_with_an_unset_passphrase_variable_writes_nothing(tmp_path: Path) -> None:
    """A passphrase variable that is not set is a one-line error naming it, and no key file is written."""
    result = keygen(tmp_path, "admin", "GR", "--passphrase-env", "FP_TEST_SURELY_UNSET")
    assert_one_line_error(result, "FP_TEST_SURELY_UNSET", "not set")
    assert list(tmp_path.iterdir()) == []


def test_root_is_published_only_with_its_threshold_from_enough_states(admins: Admins, tmp_path: Path) -> None:
    """Root 1 needs 2 root-role signatures from 2 States: each shortfall is one line and writes nothing."""
    repo = tmp_path / "repo"
    proposal = Path(shutil.copy(admins.unsigned_root, tmp_path / "root.fpd"))
    steps = [
        ("gr1", ("trusted root", "1 valid signature(s)", "threshold is 2")),
        ("gr2", ("trusted root", "administrators of 1 State(s)", "needs 2")),
    ]
    for name, fragments in steps:
        sign(proposal, admins.key(name))
        assert_one_line_error(publish(repo, proposal), "not published", *fragments)
        assert files_of(repo) == {}
    sign(proposal, admins.key("al1"))
    assert "published root version 1" in ok(publish(repo, proposal))
    assert files_of(repo) == {"roots/1.fpd": proposal.read_bytes()}
    assert_one_line_error(publish(repo, proposal), "root: expected version 2, got 1")
    assert files_of(repo) == {"roots/1.fpd": proposal.read_bytes()}


@pytest.mark.parametrize(
    ("state", "foreign"),
    [pytest.param("GR", "al1", id="GR-threshold-2"), pytest.param("AL", "gr1", id="AL-threshold-1")],
)
def test_state_entry_is_published_only_when_its_administrators_threshold_is_met(
    admins: Admins, tmp_path: Path, state: str, foreign: str
) -> None:
    """Each signature short of the State's threshold (another State's does not count) is one line, nothing written."""
    repo = admins.fresh_repo(tmp_path)
    before = files_of(repo)
    proposal = propose(
        repo,
        tmp_path / "state.fpd",
        "--state",
        str(write_state_json(tmp_path / "state.json", state)),
        "--node-entry",
        str(admins.node_entries[state]),
    )
    names = STATE_ADMINS[state]
    threshold = f"threshold is {len(names)}"
    sign(proposal, admins.key(foreign), repo=repo, anyway=True)
    for valid, name in enumerate(names):
        refused = publish(repo, proposal)
        assert_one_line_error(refused, "not published", f"administrators of {state}", f"{valid} valid", threshold)
        assert files_of(repo) == before
        sign(proposal, admins.key(name), repo=repo)
    assert f"published state {state} version 1" in ok(publish(repo, proposal))
    assert (repo / "states" / state / "1.fpd").read_bytes() == proposal.read_bytes()
    published = files_of(repo)
    assert_one_line_error(
        publish(repo, proposal), f"state {state}: version 1 is not newer than the published version 1"
    )
    assert files_of(repo) == published


def key_id(admins: Admins, name: str) -> str:
    return str(json.loads((admins.base / f"{name}.pub.json").read_text(encoding="utf-8"))["keyId"])


def gr_proposal(admins: Admins, tmp_path: Path) -> tuple[Path, Path]:
    """A fresh repository (root 1) and GR's entry proposed in it, unsigned."""
    repo = admins.fresh_repo(tmp_path)
    state = write_state_json(tmp_path / "gr.json", "GR")
    proposal = propose(repo, tmp_path / "gr.fpd", "--state", str(state), "--node-entry", str(admins.node_entries["GR"]))
    return repo, proposal


def test_sign_says_whether_the_key_counts_whose_signatures_are_in_and_what_is_still_needed(
    admins: Admins, tmp_path: Path
) -> None:
    """Each ``sign`` prints whether the key counts, every signature with its administrator's name and State, and how
    many more the document's threshold needs, until it is ready to publish."""
    repo, proposal = gr_proposal(admins, tmp_path)
    gr1 = key_id(admins, "gr1")
    assert sign(proposal, admins.key("gr1"), repo=repo).splitlines() == [
        f"signed State entry GR version 1 with key {gr1} (gr1, GR): it counts for the administrators of GR",
        "signatures (1):",
        f"  {gr1}  gr1 (GR): counts for the administrators of GR",
        "the administrators of GR: 1 of threshold 2 signed: 1 more needed",
        "still needed: 1 more from the administrators of GR",
    ]
    assert sign(proposal, admins.key("gr2"), repo=repo).splitlines()[-2:] == [
        "the administrators of GR: 2 of threshold 2 signed: met",
        "ready to publish: every threshold is met",
    ]


def test_sign_refuses_a_key_that_does_not_count_and_leaves_the_file_as_it_was(admins: Admins, tmp_path: Path) -> None:
    """An AL key on GR's entry, or any key without the repository to tell, is a usage error (exit 2) naming who
    counts; the proposal file is not touched."""
    repo, proposal = gr_proposal(admins, tmp_path)
    before = proposal.read_bytes()
    foreign = cli("directory", "sign", str(proposal), "--key", str(admins.key("al1")), "--repo", str(repo))
    assert_one_line_error(
        foreign,
        f"key {key_id(admins, 'al1')} does not count for State entry GR version 1",
        f"{key_id(admins, 'gr1')} (gr1, GR)",
        "nothing was signed",
    )
    assert foreign.returncode == 2
    unknown = cli("directory", "sign", str(proposal), "--key", str(admins.key("gr1")))
    assert_one_line_error(unknown, "cannot tell whether key", "give --repo")
    assert unknown.returncode == 2
    assert proposal.read_bytes() == before


def test_show_prints_a_proposal_in_full_labelled_with_its_signatures(admins: Admins, tmp_path: Path) -> None:
    """``show`` of a proposal (not a bundle) prints what it is and how far it is signed, every field of the entry, and
    whose signatures are in; ``--json`` the same as data."""
    repo, proposal = gr_proposal(admins, tmp_path)
    sign(proposal, admins.key("gr1"), repo=repo)
    lines = ok(cli("directory", "show", str(proposal), "--repo", str(repo))).splitlines()
    assert lines[0] == "PROPOSAL (not published): State entry GR version 1: partly signed"
    for field in ("  state: GR", "  version: 1", "  focal_point_designated: true", "      email: duty@gr.example"):
        assert field in lines
    assert "    - node_id: gr-ekka" in lines
    assert f"  {key_id(admins, 'gr1')}  gr1 (GR): counts for the administrators of GR" in lines
    assert lines[-1] == "still needed: 1 more from the administrators of GR"
    shown = json.loads(ok(cli("directory", "show", str(proposal), "--repo", str(repo), "--json")))
    assert (shown["proposal"], shown["kind"], shown["name"], shown["version"]) == (True, "state", "GR", 1)
    assert shown["content"]["contact_points"][0]["email"] == "duty@gr.example"
    assert [s["name"] for s in shown["signatures"]] == ["gr1"]
    assert shown["requirements"][0]["missing"] == 1


def test_show_of_a_bundle_without_a_root_is_a_usage_error(published: Published) -> None:
    """A bundle is only shown verified: without --root, one line saying so, exit 2."""
    result = cli("directory", "show", str(published.suspended))
    assert_one_line_error(result, "showing a bundle needs --root")
    assert result.returncode == 2


@pytest.mark.parametrize(
    ("signers", "short"),
    [
        pytest.param(("gr1", "gr2"), "administrators of AL): 0 valid signature(s)", id="GR-only"),
        pytest.param(("gr1", "al1"), "administrators of GR): 1 valid signature(s)", id="one-GR-admin"),
        pytest.param(("al1",), "administrators of GR): 0 valid signature(s)", id="AL-only"),
    ],
)
def test_agreement_needs_the_threshold_of_every_party(
    admins: Admins, tmp_path: Path, signers: tuple[str, ...], short: str
) -> None:
    """An agreement binds both States: it is published only once each party's administrators' threshold is met."""
    repo = admins.fresh_repo(tmp_path)
    before = files_of(repo)
    agreement = write_agreement_json(tmp_path / "agreement.json", "AGREEMENT_STATUS_IN_FORCE")
    proposal = propose(repo, tmp_path / "agreement.fpd", "--agreement", str(agreement))
    sign(proposal, *map(admins.key, signers), repo=repo)
    assert_one_line_error(publish(repo, proposal), "not published", f"agreement {AGREEMENT_ID} version 1", short)
    assert files_of(repo) == before
    sign(proposal, *map(admins.key, ROOT_ROLE_ADMINS), repo=repo)
    assert f"published agreement {AGREEMENT_ID} version 1" in ok(publish(repo, proposal))
    assert (repo / "agreements" / AGREEMENT_ID / "1.fpd").is_file()


@dataclass(frozen=True)
class Published:
    """A repository after the whole workflow, with the bundle as it stood after each timestamp."""

    repo: Path
    gr_only: Path  # timestamp 1: GR's entry only
    in_force: Path  # timestamp 2: both States and the agreement in force
    suspended: Path  # timestamp 3: the agreement suspended (what the repository now serves)

    @property
    def root(self) -> Path:
        return self.repo / "roots" / "1.fpd"


@pytest.fixture(scope="module")
def published(admins: Admins, tmp_path_factory: pytest.TempPathFactory) -> Published:
    """GR and AL publish their entries, a timestamp is issued, then the agreement in force and then suspended."""
    work = tmp_path_factory.mktemp("published")
    repo = admins.fresh_repo(work)
    ts = admins.key("ts")

    def publish_state(state: str) -> None:
        source = ["--state", str(write_state_json(work / f"{state}.json", state))]
        proposal = propose(repo, work / f"{state}.fpd", *source, "--node-entry", str(admins.node_entries[state]))
        sign(proposal, *map(admins.key, STATE_ADMINS[state]), repo=repo)
        ok(publish(repo, proposal))

    def keep_bundle(name: str) -> Path:
        return Path(shutil.copy(repo / "bundle.fpd", work / name))

    def publish_agreement(status: str, name: str) -> Path:
        agreement = write_agreement_json(work / f"{name}.json", status)
        proposal = propose(repo, work / f"{name}.proposal.fpd", "--agreement", str(agreement))
        sign(proposal, *map(admins.key, ROOT_ROLE_ADMINS), repo=repo)
        ok(publish(repo, proposal, timestamp_key=ts))
        return keep_bundle(f"{name}.fpd")

    publish_state("GR")
    assert "timestamp version 1 issued" in ok(cli("directory", "timestamp", "--repo", str(repo), "--key", str(ts)))
    gr_only = keep_bundle("gr-only.fpd")
    publish_state("AL")
    in_force = publish_agreement("AGREEMENT_STATUS_IN_FORCE", "in-force")
    suspended = publish_agreement("AGREEMENT_STATUS_SUSPENDED", "suspended")
    return Published(repo, gr_only, in_force, suspended)


@pytest.mark.parametrize(
    ("which", "expected"),
    [
        pytest.param("gr_only", "directory version 1: 1 State(s), 1 node(s), 0 agreement(s)", id="gr-only"),
        pytest.param("in_force", "directory version 2: 2 State(s), 2 node(s), 1 agreement(s)", id="in-force"),
        pytest.param("suspended", "directory version 3: 2 State(s), 2 node(s), 1 agreement(s)", id="suspended"),
    ],
)
def test_verify_accepts_each_published_bundle_from_root_1(published: Published, which: str, expected: str) -> None:
    """Every bundle the workflow published verifies from root 1, as a node configured with it would."""
    out = ok(cli("directory", "verify", str(getattr(published, which)), "--root", str(published.root)))
    assert out.startswith(f"OK: {expected}; valid until "), out
    assert len(out.splitlines()) == 1


@pytest.mark.parametrize(
    ("which", "version", "status"),
    [
        pytest.param("in_force", 1, "IN_FORCE", id="in-force"),
        pytest.param("suspended", 2, "SUSPENDED", id="suspended"),
    ],
)
def test_show_json_lists_states_nodes_and_the_agreement(
    admins: Admins, published: Published, which: str, version: int, status: str
) -> None:
    """``show --json`` gives both States, each node exactly as its State exported it, and the agreement's status."""
    shown = json.loads(
        ok(cli("directory", "show", str(getattr(published, which)), "--root", str(published.root), "--json"))
    )
    assert set(shown["states"]) == {"GR", "AL"}
    for state, (node_id, institution, languages, endpoint) in STATE_NODES.items():
        entry = shown["states"][state]
        assert (entry["version"], entry["focal_point_designated"]) == (1, True)
        assert [i["name"] for i in entry["institutions"]] == [institution]
        assert [(c["email"], c["languages"]) for c in entry["contact_points"]] == [
            (f"duty@{state.lower()}.example", list(languages))
        ]
        export = json.loads(admins.node_entries[state].read_text(encoding="utf-8"))["entry"]
        node = shown["nodes"][node_id]
        assert (node["state"], node["institution"], node["endpoint"]) == (state, institution, endpoint)
        assert node["signing_keys"] == {k["keyId"]: "ACTIVE" for k in export["signingKeys"]}
        assert node["encryption_keys"] == {k["keyId"]: "ACTIVE" for k in export["encryptionKeys"]}
        assert list(node["tls_pins"].values()) == ["ACTIVE"]
    assert set(shown["nodes"]) == {"gr-ekka", "al-shss"}
    assert shown["agreements"] == {
        AGREEMENT_ID: {
            "version": version,
            "parties": ["AL", "GR"],
            "status": status,
            "kinds": ["social_inquiry_request"],
            "deadlines_days": {"social_inquiry_request": 30},
            "case_rules": {  # the agreement sets none: the network defaults (docs/protocol.md §11.5)
                "guardian_deadline_hours": 24,
                "follow_up_months": [3, 6, 12],
                "risk_assessment_max_age_days": 90,
                "waivable": [],
                "max_counter_rounds": 3,
                "closure_response_days": 30,
                "handover_confirmation_hours": 24,
                "consular_copy_on_detention": True,
                "retention_years_after_closure": None,
                "kinds_when_suspended": ["protection_alert", "withdrawal"],
            },
        }
    }


def test_show_text_names_states_nodes_and_agreement(published: Published) -> None:
    """Plain ``show`` prints one line per State, node and agreement."""
    out = ok(cli("directory", "show", str(published.suspended), "--root", str(published.root)))
    lines = out.splitlines()
    assert lines[0] == "directory version 3"
    assert sum("focal point designated" in x for x in lines) == 2
    assert any(re.search(r"node gr-ekka\s+GR\s+127\.0\.0\.1:7401\s+EKKA$", x) for x in lines), out
    assert any(re.search(rf"agreement {AGREEMENT_ID}\s+AL-GR\s+suspended$", x) for x in lines), out


@pytest.mark.parametrize(
    ("which", "extra", "no_focal_point", "expiring"),
    [
        pytest.param("suspended", (), [], [], id="all-designated"),
        pytest.param("gr_only", (), ["AL"], [], id="AL-missing"),
        pytest.param(
            "suspended",
            ("--expiring-days", "400"),
            [],
            [
                "root version 1",
                "State entry AL version 1",
                "State entry GR version 1",
                f"agreement {AGREEMENT_ID} version 2",
            ],
            id="expiring-within-400-days",
        ),
    ],
)
def test_health_json_reports_missing_focal_points_and_expiry(
    published: Published, which: str, extra: tuple[str, ...], no_focal_point: list[str], expiring: list[str]
) -> None:
    """``health --json`` has every documented key; a delegated State without entry, and near expiry, are flagged;
    it exits 0 only when nothing needs attention, 1 otherwise."""
    args = ["directory", "health", str(getattr(published, which)), "--root", str(published.root), "--json", *extra]
    result = cli(*args)
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert set(report) == HEALTH_KEYS
    assert report["no_focal_point"] == no_focal_point
    assert [d["document"] for d in report["expiring_documents"]] == expiring
    assert report["stale_contact_points"] == []
    assert report["excluded_documents"] == []
    assert report["unreachable_nodes"] == []
    assert report["healthy"] is (not no_focal_point and not expiring)
    assert result.returncode == (0 if report["healthy"] else 1)


def test_health_text_says_healthy(published: Published) -> None:
    """Plain ``health`` prints a one-line verdict for a directory that needs nothing."""
    out = ok(cli("directory", "health", str(published.suspended), "--root", str(published.root)))
    assert out.splitlines() == ["directory version 3: healthy"]


def test_health_text_needing_attention_says_why_and_exits_1(published: Published) -> None:
    """Plain ``health`` of a directory with a State missing prints the verdict and the reason, and exits 1."""
    result = cli("directory", "health", str(published.gr_only), "--root", str(published.root))
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == ["directory version 1: needs attention", "  no focal point designated: AL"]
    assert result.stderr == ""


def test_diff_shows_the_suspended_agreement(published: Published) -> None:
    """``diff`` between the bundles before and after the suspension lists exactly what changed."""
    out = ok(cli("directory", "diff", str(published.in_force), str(published.suspended), "--root", str(published.root)))
    assert out.splitlines() == [
        f"~ agreements.{AGREEMENT_ID}.status: IN_FORCE -> SUSPENDED",
        f"~ agreements.{AGREEMENT_ID}.version: 1 -> 2",
        "~ version: 2 -> 3",
        "3 change(s)",
    ]


def test_diff_shows_a_state_joining(published: Published) -> None:
    """``diff`` from GR alone to both States shows AL's entry, node and the agreement added, nothing removed."""
    out = ok(cli("directory", "diff", str(published.gr_only), str(published.in_force), "--root", str(published.root)))
    lines = out.splitlines()
    assert "+ states.AL.focal_point_designated = True" in lines
    assert "+ nodes.al-shss.endpoint = 127.0.0.1:7411" in lines
    assert f"+ agreements.{AGREEMENT_ID}.status = IN_FORCE" in lines
    assert not [x for x in lines if x.startswith(("- ", "~ states.", "~ nodes."))]


def test_diff_of_a_bundle_with_itself_is_empty(published: Published) -> None:
    """Nothing changed, nothing listed."""
    same = str(published.suspended)
    assert ok(cli("directory", "diff", same, same, "--root", str(published.root))).splitlines() == ["0 change(s)"]


@pytest.fixture(scope="module")
def foreign_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid root 1 of other administrators (same State codes, other keys): not the root the nodes trust."""
    base = tmp_path_factory.mktemp("foreign")
    ok(keygen(base, "x", "GR"))
    ok(keygen(base, "t", "ZZ"))
    spec = {
        "root": {"keys": ["x.pub.json"], "threshold": 1},
        "root_min_states": 1,
        "timestamp": {"keys": ["t.pub.json"], "threshold": 1},
        "states": {"GR": {"keys": ["x.pub.json"], "threshold": 1}},
    }
    (base / "root.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    proposal = base / "root.fpd"
    ok(cli("directory", "init-root", "--spec", str(base / "root.yaml"), "--out", str(proposal)))
    sign(proposal, base / "x.key")
    ok(publish(base / "repo", proposal))
    return base / "repo" / "roots" / "1.fpd"


@pytest.mark.parametrize("command", ["verify", "show", "health", "diff"])
def test_every_reading_command_refuses_a_bundle_under_an_untrusted_root(
    published: Published, foreign_root: Path, command: str
) -> None:
    """Against a root the bundle was not signed under, each command fails with one line and prints nothing."""
    bundle = str(published.suspended)
    args = [bundle, bundle] if command == "diff" else [bundle]
    result = cli("directory", command, *args, "--root", str(foreign_root))
    assert_one_line_error(result, bundle, "timestamp", "0 valid signature(s)")
    assert result.stdout == ""


def _swap_in_old_agreement(published: Published, tmp: Path) -> Path:
    """The current bundle with the agreement's version 1 in place of version 2 (a mix-and-match replay)."""
    out = tmp / "bundle.fpd"
    bundle = directory_pb2.DirectoryBundle.FromString(published.suspended.read_bytes())
    del bundle.agreements[:]
    bundle.agreements.append((published.repo / "agreements" / AGREEMENT_ID / "1.fpd").read_bytes())
    out.write_bytes(bundle.SerializeToString())
    return out


def _truncated(published: Published, tmp: Path) -> Path:
    out = tmp / "bundle.fpd"
    out.write_bytes(published.suspended.read_bytes()[:500])
    return out


BundleMaker = Callable[[Published, Path], Path]


@pytest.mark.parametrize(
    ("make_bundle", "unsigned_root", "fragments"),
    [
        pytest.param(lambda p, _: p.suspended, True, ("trusted root", "0 valid signature(s)"), id="unsigned-root"),
        pytest.param(_truncated, False, ("not a directory bundle",), id="truncated-bundle"),
        pytest.param(lambda p, _: p.root, False, ("timestamp",), id="root-given-as-bundle"),
        pytest.param(_swap_in_old_agreement, False, (f"agreement {AGREEMENT_ID}",), id="old-agreement-swapped-in"),
        pytest.param(lambda _, tmp: tmp / "absent.fpd", False, ("file not found",), id="missing-bundle"),
    ],
)
def test_verify_refuses_what_a_node_would_refuse(
    admins: Admins,
    published: Published,
    tmp_path: Path,
    make_bundle: BundleMaker,
    unsigned_root: bool,
    fragments: tuple[str, ...],
) -> None:
    """A root nobody signed, a damaged bundle or a replayed part: one line naming the file at fault, exit 1."""
    bundle = make_bundle(published, tmp_path)
    root = admins.unsigned_root if unsigned_root else published.root
    result = cli("directory", "verify", str(bundle), "--root", str(root))
    assert_one_line_error(result, str(root if unsigned_root else bundle), *fragments)
    # A file that fails verification exits 1; a file that is not there is a usage mistake (2).
    assert result.returncode == (1 if bundle.exists() else 2)
    assert result.stdout == ""


UNKNOWN_FIELD_INPUTS = ["message send --body", "directory propose --state", "directory propose --agreement"]
UNKNOWN_FIELD_INPUTS += ["directory propose --node-entry"]


@pytest.mark.parametrize("command", UNKNOWN_FIELD_INPUTS)
def test_a_json_file_with_an_unknown_field_is_a_one_line_error(
    request: pytest.FixtureRequest, admins: Admins, tmp_path: Path, command: str
) -> None:
    """A JSON input with a field its message type lacks is named in one line (exit 2), and nothing is written."""
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"no_such_field": 1}', encoding="utf-8")
    out = tmp_path / "proposal.fpd"
    repo = admins.fresh_repo(tmp_path)
    before = files_of(repo)
    propose_args = ["directory", "propose", "--repo", str(repo), "--out", str(out)]
    if command == "message send --body":
        network: LocalNetwork = request.getfixturevalue("network")
        args = ["message", "send", "--config", str(network.nodes[SENDER].config_path), "--to", RECEIVER]
        args += ["--body", str(wrong)]
    elif command == "directory propose --node-entry":
        state = write_state_json(tmp_path / "state.json", "GR")
        args = [*propose_args, "--state", str(state), "--node-entry", str(wrong)]
    else:
        args = [*propose_args, command.rsplit(" ", 1)[1], str(wrong)]
    result = cli(*args)
    assert_one_line_error(result, str(wrong), "no_such_field")
    assert result.returncode == 2
    assert not out.exists()
    assert files_of(repo) == before


@pytest.mark.parametrize(
    "sources",
    [
        pytest.param(("--state", "--agreement"), id="state-and-agreement"),
        pytest.param(("--root-spec", "--state"), id="root-and-state"),
        pytest.param(("--root-spec", "--agreement"), id="root-and-agreement"),
        pytest.param((), id="none"),
    ],
)
def test_propose_needs_exactly_one_kind_of_document(admins: Admins, tmp_path: Path, sources: tuple[str, ...]) -> None:
    """``propose`` with two of --root-spec/--state/--agreement (or none) is a usage error (exit 2), nothing written."""
    files = {
        "--state": write_state_json(tmp_path / "state.json", "GR"),
        "--agreement": write_agreement_json(tmp_path / "agreement.json", "AGREEMENT_STATUS_IN_FORCE"),
        "--root-spec": admins.spec,
    }
    repo, out = admins.fresh_repo(tmp_path), tmp_path / "proposal.fpd"
    before = files_of(repo)
    args = [x for option in sources for x in (option, str(files[option]))]
    result = cli("directory", "propose", "--repo", str(repo), *args, "--out", str(out))
    assert_one_line_error(result, "exactly one of --root-spec, --state or --agreement")
    assert result.returncode == 2
    assert not out.exists()
    assert files_of(repo) == before


def test_a_state_entry_listing_another_states_node_is_not_published(admins: Admins, tmp_path: Path) -> None:
    """Publishing refuses what nodes would refuse: GR's entry may not list AL's node, even fully signed."""
    repo = admins.fresh_repo(tmp_path)
    before = files_of(repo)
    state = write_state_json(tmp_path / "state.json", "GR")
    proposal = propose(repo, tmp_path / "gr.fpd", "--state", str(state), "--node-entry", str(admins.node_entries["AL"]))
    sign(proposal, *map(admins.key, STATE_ADMINS["GR"]), repo=repo)
    assert_one_line_error(publish(repo, proposal), "al-shss", "another State")
    assert files_of(repo) == before


def test_demo_prints_a_timeline_ending_in_done() -> None:
    """``focalpoint demo`` exits 0 and narrates the case, including signed receipts, the approvals, the
    gate's refusal and the refusal outside any agreement, then both sides' timelines."""
    result = cli("demo", timeout_s=60)
    assert result.returncode == 0, result.stderr
    assert "signed receipt" in result.stdout
    assert re.search(r"^done: ", result.stdout, re.MULTILINE)
    assert len(re.findall(r"^\s+\+\s*\d+\.\d ms ", result.stdout, re.MULTILINE)) >= 5
    assert "approved by supervisor.2" in result.stdout
    assert "the return gate is not met: G2_RISK_ASSESSMENT" in result.stdout
    assert "a case with it-dgi refused: no agreement in force" in result.stdout
    assert re.search(r"^gr-ekka sees:$", result.stdout, re.MULTILINE)
    assert re.search(r"^al-shss sees:$", result.stdout, re.MULTILINE)
    assert len(re.findall(r"durable_solution_agreement +RETURN_PREPARATION$", result.stdout, re.MULTILINE)) == 2
    assert "Traceback" not in result.stderr


def test_demo_json_prints_one_object_with_both_sides_stages_and_the_gate() -> None:
    """``demo --json``: exactly one JSON object; the returned child's link is CLOSED on both sides, the
    unassessed one stuck in NEGOTIATION on both (the gate blocked it), and Italy holds no link."""
    result = cli("demo", "--json", timeout_s=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    data = json.loads(lines[0])
    assert data["converged"] is True
    assert data["gate_blocked"] is True
    assert data["outside_agreement_refused"] is True
    ref, blocked = data["case_ref"], data["blocked_case_ref"]
    for node_id in ("gr-ekka", "al-shss"):
        assert data["stages"][node_id][ref] == "CLOSED"
        assert data["stages"][node_id][blocked] == "NEGOTIATION"
    assert set(data["stages"]["gr-ekka"]) == {ref, blocked}  # no link with Italy: refused when opened
    assert data["stages"]["it-dgi"] == {}
    assert data["messages"] >= 25


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


async def test_node_backup_and_restore_from_the_command_line(network: LocalNetwork, tmp_path: Path) -> None:
    """``node backup`` copies a running node's database (0600) and never overwrites; ``node restore``
    refuses while the node runs, then puts the backup back and says what comes next."""
    gr = str(network.nodes[SENDER].config_path)
    out = tmp_path / "gr.backup"
    async with running(network, [SENDER]) as procs:
        taken = await acli("node", "backup", "--config", gr, "--out", str(out))
        assert taken.returncode == 0, taken.stderr
        assert taken.stdout.startswith(f"backup written: {out} (")
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        again = await acli("node", "backup", "--config", gr, "--out", str(out))
        assert again.returncode == 2
        assert_one_line_error(again, "already exists; a backup never overwrites a file")
        busy = await acli("node", "restore", "--config", gr, "--from", str(out))
        assert_one_line_error(busy, "in use by another process", "stop it first")
        procs[SENDER].terminate()
    restored = await acli("node", "restore", "--config", gr, "--from", str(out))
    assert restored.returncode == 0, restored.stderr
    assert "the files it replaced are in" in restored.stdout
    assert "next: start the node; it declares the restore" in restored.stdout
    wrong = await acli("node", "restore", "--config", gr, "--from", str(tmp_path / "none"))
    assert wrong.returncode == 2
    assert_one_line_error(wrong, "no such backup file")
