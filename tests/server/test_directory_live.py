"""The directory in a running network: rotation, revocation, cache, rollback and expiry, without restarts."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
from collections.abc import Callable

import pytest

from focalpoint.errors import UsageError
from focalpoint.localnet import LocalNetwork
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.server.provision import rotate_key
from focalpoint.storage.base import DeliveryState
from focalpoint.storage.cipher import inbox_purpose
from focalpoint.v1 import directory_pb2, envelope_pb2
from tests.conftest import StartNode, now_utc

GR, AL = "gr-ekka", "al-shss"
ACTIVE, NEXT, RETIRED, REVOKED = (
    directory_pb2.KEY_STATUS_ACTIVE,
    directory_pb2.KEY_STATUS_NEXT,
    directory_pb2.KEY_STATUS_RETIRED,
    directory_pb2.KEY_STATUS_REVOKED,
)


async def _wait(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10.0
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def _publish(
    network: LocalNetwork,
    nodes: list[Node],
    mutate: Callable[[dict[str, directory_pb2.NodeEntry]], None] | None = None,
) -> None:
    network.publish(now=now_utc(), mutate=mutate)
    for node in nodes:
        await _wait(functools.partial(_has_version, node, network.version), f"{node.node_id} to refresh")


def _has_version(node: Node, version: int) -> bool:
    return node.cache.current.version >= version


async def _send(sender: Node, recipient: str, case: str = case_ref_for(200)) -> bytes:
    sent = await sender.outbox.submit(recipient, social_inquiry_request(case, identified_at_ms=wall_clock_ms()))
    state = await asyncio.wait_for(sender.delivery.wait_closed(sent.message_id), 15)
    assert state is DeliveryState.DELIVERED, f"ended {state.name}"
    return sent.message_id


async def _signature_key(receiver: Node, sender: str, message_id: bytes) -> str:
    row = await receiver.store.inbox.get(sender, message_id)
    assert row is not None
    payload = receiver.cipher.open(row.local_copy, purpose=inbox_purpose(sender), message_id=message_id)
    return envelope_pb2.SealedPayload.FromString(payload).signatures[0].key_id


def _set_status(
    node_id: str, kind: str, statuses: dict[str, directory_pb2.KeyStatus.ValueType], not_after_ms: int = 0
) -> Callable[[dict[str, directory_pb2.NodeEntry]], None]:
    def mutate(entries: dict[str, directory_pb2.NodeEntry]) -> None:
        for key in getattr(entries[node_id], f"{kind}_keys"):
            if key.key_id in statuses:
                key.status = statuses[key.key_id]
                if statuses[key.key_id] == RETIRED:
                    key.not_after_ms = not_after_ms

    return mutate


async def test_signing_key_rotation_takes_effect_without_restart(network: LocalNetwork, nodes: dict[str, Node]) -> None:
    """NEXT, then ACTIVE with the old key RETIRED: the running sender switches keys and mail flows."""
    gr, al = nodes[GR], nodes[AL]
    old = gr.keyring.keys.signer.key_id
    export = rotate_key(network.nodes[GR].home / "keys", kind="signing", passphrase=None, now=now_utc())
    new = next(k.key_id for k in export.entry.signing_keys if k.status == NEXT)
    network.entries[GR] = export.entry
    await _publish(network, [gr, al])
    await _wait(lambda: new in gr.keyring.keys.signers, "the running node to load its new key")
    assert await _signature_key(al, GR, await _send(gr, AL)) == old  # NEXT is announced, not yet used
    await _publish(network, [gr, al], mutate=_set_status(GR, "signing", {new: ACTIVE, old: RETIRED}, wall_clock_ms()))
    assert await _signature_key(al, GR, await _send(gr, AL, case_ref_for(201))) == new


async def test_encryption_key_rotation_takes_effect_without_restart(
    network: LocalNetwork, nodes: dict[str, Node]
) -> None:
    """The receiver's new encryption key becomes ACTIVE: senders seal to it, the receiver opens it."""
    gr, al = nodes[GR], nodes[AL]
    old = next(iter(al.keyring.keys.decryption_keys))
    export = rotate_key(network.nodes[AL].home / "keys", kind="encryption", passphrase=None, now=now_utc())
    new = next(k.key_id for k in export.entry.encryption_keys if k.status == NEXT)
    network.entries[AL] = export.entry
    await _publish(network, [gr, al])
    await _wait(lambda: new in al.keyring.keys.decryption_keys, "the running node to load its new key")
    await _publish(network, [gr, al], mutate=_set_status(AL, "encryption", {new: ACTIVE, old: RETIRED}, 0))
    message_id = await _send(gr, AL)
    row = await al.store.inbox.get(GR, message_id)
    assert row is not None
    header = envelope_pb2.EnvelopeHeader.FromString(envelope_pb2.Envelope.FromString(row.envelope).header)
    assert header.recipient_key_id == new


async def test_a_revoked_signing_key_is_refused_at_once(network: LocalNetwork, nodes: dict[str, Node]) -> None:
    """After the revocation reaches the receiver, the sender's messages fail with BAD_SIGNATURE."""
    gr, al = nodes[GR], nodes[AL]
    key = gr.keyring.keys.signer.key_id
    await _publish(network, [gr, al], mutate=_set_status(GR, "signing", {key: REVOKED}))
    sent = await gr.outbox.submit(AL, social_inquiry_request(case_ref_for(202), identified_at_ms=wall_clock_ms()))
    assert await asyncio.wait_for(gr.delivery.wait_closed(sent.message_id), 15) is DeliveryState.FAILED
    row = await gr.store.outbox.get(sent.message_id)
    assert row is not None
    assert "bad_signature" in row.last_error
    assert await al.store.inbox.get(GR, sent.message_id) is None


async def test_a_node_keeps_working_from_its_cached_directory(network: LocalNetwork, start_node: StartNode) -> None:
    """With the bundle source gone, a restarted node loads its last verified directory and still delivers."""
    gr = await start_node(GR)
    await start_node(AL)
    await _send(gr, AL)
    version = gr.cache.current.version
    await gr.stop(0)
    network.bundle_path.rename(network.bundle_path.with_suffix(".away"))
    again = await Node.open(load_config(network.nodes[GR].config_path))
    await again.start()
    try:
        assert again.cache.current.version == version
        await _send(again, AL, case_ref_for(203))
    finally:
        await again.stop(0)


async def test_rollback_is_refused_across_a_restart(network: LocalNetwork, start_node: StartNode) -> None:
    """An older bundle put back in place after a restart is refused; the node keeps the newer one."""
    old_bundle = network.bundle_path.read_bytes()
    gr = await start_node(GR)
    await _publish(network, [gr])
    await _publish(network, [gr])
    newest = gr.cache.current.version
    await gr.stop(0)
    network.bundle_path.write_bytes(old_bundle)
    again = await Node.open(load_config(network.nodes[GR].config_path))
    try:
        assert again.cache.current.version == newest
        assert again.cache.trusted.accepted_version("timestamp") == newest
    finally:
        await again.stop(0)


async def test_an_expired_directory_refuses_to_send_with_a_clear_reason(network: LocalNetwork) -> None:
    """Past the timestamp's expiry (and with no fresh one), the node starts from its cache but sends nothing."""
    config = load_config(network.nodes[GR].config_path)
    node = await Node.open(config)  # stores the bundle
    await node.stop(0)
    later = wall_clock_ms() + int(dt.timedelta(days=31).total_seconds() * 1000)
    frozen = await Node.open(config, clock_ms=lambda: later)
    try:
        with pytest.raises(UsageError, match="has expired"):
            await frozen.outbox.submit(AL, social_inquiry_request(case_ref_for(204), identified_at_ms=later))
    finally:
        await frozen.stop(0)
