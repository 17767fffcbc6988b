"""``focalpoint transfer export | import`` against two node processes that reach each other only by
sealed files: counts and outcomes in words, a one-line error and exit 2 for a file the node
refuses (or that is not one), exit 1 for a caller the node does not allow."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format

from focalpoint.localnet import LocalNetwork, make_network
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.node.ports import wall_clock_ms
from focalpoint.people.roles import Role
from tests.conftest import FAST_DELIVERY, SPECS, now_utc
from tests.support.procs import NodeProcess, cli, ok, one_line_error
from tests.support.sessions import Account, log_in, session_env

GR, AL = "gr-ekka", "al-shss"
OFFICER, OPERATOR = "officer.17", "operator.1"
PEOPLE = {OFFICER: Account(), OPERATOR: Account(roles=(Role.OPERATOR,), grants=())}


@dataclass
class World:
    network: LocalNetwork
    homes: dict[str, Path]
    scratch: Path

    def config(self, node_id: str) -> str:
        return str(self.network.nodes[node_id].config_path)

    def run(self, *args: str, who: str = OPERATOR) -> subprocess.CompletedProcess[str]:
        return cli(*args, env=session_env(self.homes[who]))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """gr and al as processes, each naming the other file-only, with an officer and an operator
    logged in at each; gr's officer has sent al one message (queued: no network route)."""
    base = tmp_path_factory.mktemp("transfer")
    specs = [s for s in SPECS if s.node_id in (GR, AL)]
    network = make_network(base / "net", specs, now=now_utc(), delivery=FAST_DELIVERY, directory_refresh_s=0.2)
    for node_id, node in network.nodes.items():
        config = yaml.safe_load(node.config_path.read_text(encoding="utf-8"))
        config["sealed_files"] = {"file_only": [AL if node_id == GR else GR]}
        node.config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    procs = {node_id: NodeProcess(node) for node_id, node in network.nodes.items()}
    try:
        for p in procs.values():
            p.spawn()

        async def healthy() -> None:
            await asyncio.gather(*(p.wait_healthy() for p in procs.values()))

        asyncio.run(healthy())
        homes: dict[str, Path] = {}
        for node_id, node in network.nodes.items():
            homes = log_in(node, f"{node_id}/triage", base / "people", PEOPLE)
        request = social_inquiry_request(case_ref_for(77), identified_at_ms=wall_clock_ms())
        request.context.sender_unit = f"{GR}/triage"
        body_path = base / "body.json"
        body_path.write_text(json.dumps(json_format.MessageToDict(request)), encoding="utf-8")
        world = World(network, homes, base)
        send = ("message", "send", "--config", world.config(GR), "--to", AL, "--body", str(body_path))
        ok(world.run(*send, who=OFFICER))
        yield world
    finally:
        for p in procs.values():
            p.kill()


def test_a_message_and_its_receipt_carried_by_the_cli(world: World) -> None:
    out, receipts = world.scratch / "to-al-1.fpseal", world.scratch / "receipts-1.fpseal"
    said = ok(world.run("transfer", "export", "--config", world.config(GR), "--to", AL, "--out", str(out)))
    assert f"wrote {out}: sealed file " in said
    assert "number 1 for al-shss, 1 messages and 0 receipts" in said
    assert out.stat().st_mode & 0o777 == 0o600
    one_line_error(
        world.run("transfer", "export", "--config", world.config(GR), "--to", AL, "--out", str(out)),
        "already exists; sealed files are never overwritten",
        code=2,
    )
    imported = ok(
        world.run("transfer", "import", str(out), "--config", world.config(AL), "--receipts-out", str(receipts))
    )
    assert "from gr-ekka; messages: 1 new, 0 already held, 0 refused" in imported
    assert f"wrote {receipts}: receipts file " in imported
    one_line_error(
        world.run("transfer", "import", str(out), "--config", world.config(AL)),
        "sealed file refused: this file from gr-ekka was already imported on",
        code=2,
    )
    closed = ok(world.run("transfer", "import", str(receipts), "--config", world.config(GR)))
    assert "receipts: 1 (1 delivered, 0 refused by the partner, 0 to send again, 0 already closed, 0 unknown)" in closed
    nothing = ok(world.run("transfer", "export", "--config", world.config(GR), "--to", AL, "--out", str(out) + ".2"))
    assert nothing.strip() == "nothing to carry to al-shss: no queued message, no receipt owed"
    assert not Path(str(out) + ".2").exists()


def test_bad_input_is_one_clear_line(world: World) -> None:
    missing = world.scratch / "nowhere.fpseal"
    one_line_error(
        world.run("transfer", "import", str(missing), "--config", world.config(AL)), "file not found", code=2
    )
    junk = world.scratch / "junk.fpseal"
    junk.write_bytes(b"PK\x03\x04 not a sealed file")
    one_line_error(
        world.run("transfer", "import", str(junk), "--config", world.config(AL)), "not a sealed file", code=2
    )
    mine = world.scratch / "for-al.fpseal"
    ok(world.run("transfer", "export", "--config", world.config(AL), "--to", GR, "--out", str(mine)))
    one_line_error(
        world.run("transfer", "import", str(mine), "--config", world.config(AL)),
        "sealed file refused: it is not addressed to this node",
        code=2,
    )
    damaged = world.scratch / "damaged.fpseal"
    data = bytearray(mine.read_bytes())
    data[-20] ^= 0x01
    damaged.write_bytes(bytes(data))
    one_line_error(
        world.run("transfer", "import", str(damaged), "--config", world.config(GR)),
        "sealed file refused: the file was altered or damaged",
        code=2,
    )
    one_line_error(
        world.run("transfer", "export", "--config", world.config(GR), "--to", "xx-nobody", "--out", str(missing)),
        "'xx-nobody' is not a node of directory version",
        code=2,
    )


def test_only_an_operator_may_carry_files(world: World) -> None:
    out = world.scratch / "officer.fpseal"
    one_line_error(
        world.run("transfer", "export", "--config", world.config(GR), "--to", AL, "--out", str(out), who=OFFICER),
        "PERMISSION_DENIED",
        code=1,
    )
    assert not out.exists()


def test_without_receipts_out_the_receipts_wait_for_the_next_export(world: World, tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    request = social_inquiry_request(case_ref_for(78), identified_at_ms=wall_clock_ms())
    request.context.sender_unit = f"{GR}/triage"
    body.write_text(json.dumps(json_format.MessageToDict(request)), encoding="utf-8")
    ok(world.run("message", "send", "--config", world.config(GR), "--to", AL, "--body", str(body), who=OFFICER))
    out = tmp_path / "to-al.fpseal"
    ok(world.run("transfer", "export", "--config", world.config(GR), "--to", AL, "--out", str(out)))
    said = ok(world.run("transfer", "import", str(out), "--config", world.config(AL)))
    assert "messages: 1 new" in said
    assert "the receipts for gr-ekka were not written (no --receipts-out); they travel in the next export" in said
    back = tmp_path / "to-gr.fpseal"
    exported = ok(world.run("transfer", "export", "--config", world.config(AL), "--to", GR, "--out", str(back)))
    assert "0 messages and" in exported
    closed = ok(world.run("transfer", "import", str(back), "--config", world.config(GR)))
    assert "(1 delivered," in closed
