"""GetCodeList against a real node: every role and the machine credential are served the directory's
newest code list, as the SignedDocument the verified bundle holds, and its bytes rebuild the same
``CodeList`` the node uses; nobody without a credential is; a directory without a code list gives
an empty answer, not an error."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from directory.codelists import CodeList
from directory.trust import carried_code_list, parse_signed
from focalpoint.client import LocalClient
from focalpoint.errors import Unauthenticated
from focalpoint.localnet import make_network
from focalpoint.localnet.people import People
from focalpoint.people.roles import Role
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.v1 import directory_pb2, messages_pb2
from tests.conftest import SPECS, StartNode

GR = "gr-ekka"
# One account per role (a consul needs a post; the others only a unit).
ROLES: dict[str, dict[str, object]] = {
    "co.1": {"roles": (Role.CASE_OFFICER,)},
    "ca.1": {"roles": (Role.CONSULAR_OFFICER,), "grants": (), "consular_state": "GR", "district": ("AL",)},
    "da.1": {"roles": (Role.DIRECTORY_ADMIN,), "grants": ()},
    "au.1": {"roles": (Role.AUDITOR,), "grants": ()},
}


def _rebuilt(raw: bytes) -> CodeList:
    doc = directory_pb2.CodeListDocument.FromString(parse_signed(raw, "code list").signed)
    return CodeList.from_proto(doc, "served code list")


async def test_every_role_and_the_machine_credential_read_the_code_list(start_node: StartNode) -> None:
    node = await start_node(GR)
    address = f"127.0.0.1:{node.local_port}"
    people = People(address, node.keyring.keys.local_api_token, unit="gr-ekka/athens", clock_ms=node.clock_ms)
    try:
        clients = [await people.operator()]
        for user_id, spec in ROLES.items():
            clients.append(await people.client(user_id, **spec))  # type: ignore[arg-type]
        async with LocalClient(address, node.keyring.keys.local_api_token) as machine:
            answers = [await c.code_list() for c in [*clients, machine]]
    finally:
        await people.close()

    newest = node.cache.current.newest_code_list
    assert newest is not None
    for answer in answers:
        assert (answer.list_version, answer.version) == (newest.list_version, newest.version)
        assert answer.signed_document == carried_code_list(node.cache.current, newest.list_version)
        assert parse_signed(answer.signed_document, "code list").signatures  # the root role's, kept
    rebuilt = _rebuilt(answers[0].signed_document)
    assert rebuilt == newest  # the same model the node checks codes against
    trafficked = rebuilt.label(
        messages_pb2.IdentificationStatus.DESCRIPTOR.full_name,
        messages_pb2.IDENTIFICATION_STATUS_PRESUMED_TRAFFICKED,
        "fr",
    )
    assert trafficked is not None
    assert trafficked.label == "Victime présumée de traite"


async def test_no_credential_is_refused(start_node: StartNode) -> None:
    node = await start_node(GR)
    async with LocalClient(f"127.0.0.1:{node.local_port}") as anonymous:
        with pytest.raises(Unauthenticated):
            await anonymous.code_list()


async def test_a_directory_without_a_code_list_gives_an_empty_answer(tmp_path: Path) -> None:
    network = make_network(tmp_path / "net", SPECS[:2], now=dt.datetime.now(dt.UTC), code_list=None)
    node = await Node.open(load_config(network.nodes[GR].config_path))
    await node.start()
    try:
        async with LocalClient(f"127.0.0.1:{node.local_port}", node.keyring.keys.local_api_token) as machine:
            answer = await machine.code_list()
        assert (answer.list_version, answer.version, answer.signed_document) == ("", 0, b"")
    finally:
        await node.stop(0)
