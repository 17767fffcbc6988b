"""The node's directory cache (focalpoint.node.directory_cache) over the fakes: a validly signed State
entry whose node is malformed costs that node only, never the node's start; and what the node stores,
serves and exports is the directory it verified, rebuilt, never the bytes a sender made up."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from directory.publish import root_document, sign
from directory.trust import parse_signed
from focalpoint.audit.evidence import verify_evidence
from focalpoint.crypto.signing import AdminSigner
from focalpoint.errors import ConfigError
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import directory_pb2
from tests.node.conftest import Fabric
from tests.support.dirworld import signed_past_the_checks

GR, AL, IT = "gr-ekka", "al-shss", "it-dgi"
LEFT_OUT = f"node '{AL}' of state entry AL version 2"


def _junk_certificate(entry: directory_pb2.StateEntry) -> None:
    entry.nodes[0].tls_keys[0].certificate_der = b"\x30\x03junk"


async def test_a_malformed_certificate_costs_its_node_only_and_the_stored_bundle_reopens(fabric: Fabric) -> None:
    """The bundle is accepted without al-shss (named in ``excluded``), stored, and a restart starts from it."""
    bad = signed_past_the_checks(fabric.files, now_ms=fabric.clock(), state="AL", edit=_junk_certificate)
    gr = fabric.nodes[GR]
    assert await gr.cache.offer(bad.SerializeToString(), fabric.clock(), where="test")
    version = gr.cache.current.version
    assert set(gr.cache.current.nodes) == {GR, IT}
    assert "not valid DER X.509" in gr.cache.current.excluded[LEFT_OUT]
    await fabric.close(GR)
    reopened = await fabric.open(GR)
    assert reopened.cache.current.version == version
    assert set(reopened.cache.current.nodes) == {GR, IT}
    assert LEFT_OUT in reopened.cache.current.excluded


async def test_a_node_whose_directory_file_holds_a_malformed_certificate_still_starts(fabric: Fabric) -> None:
    """Restarted with such a bundle as its source, the node starts, on it, without the broken node."""
    bad = signed_past_the_checks(fabric.files, now_ms=fabric.clock(), state="AL", edit=_junk_certificate)
    fabric.files.bundle_path.write_bytes(bad.SerializeToString())
    await fabric.close(GR)
    gr = await fabric.open(GR)
    assert AL not in gr.cache.current.nodes
    assert IT in gr.cache.current.nodes
    assert LEFT_OUT in gr.cache.current.excluded


async def test_a_node_whose_own_entry_is_left_out_refuses_to_start_saying_why(fabric: Fabric) -> None:
    """Its own entry unusable, the node does not start, and the error names the reason it was left out."""
    bad = signed_past_the_checks(fabric.files, now_ms=fabric.clock(), state="AL", edit=_junk_certificate)
    fabric.files.bundle_path.write_bytes(bad.SerializeToString())
    await fabric.close(AL)
    with pytest.raises(ConfigError, match=r"not in directory version \d+ \(its entry was left out: .*X\.509"):
        await fabric.open(AL)


def _replaced_root() -> bytes:
    """A root 1 signed by a stranger's key: what a sender could put in front of a bundle's roots."""
    stranger = AdminSigner.generate()
    key = directory_pb2.AdminKey(
        key_id=stranger.key_id,
        state="GR",
        ed25519_public_key=stranger.verifier.ed25519_public_key,
        ml_dsa_65_public_key=stranger.verifier.ml_dsa_65_public_key,
    )
    body = root_document(
        version=1,
        issued_at_ms=0,
        expires_at_ms=2**62,
        keys=[key],
        root_key_ids=[stranger.key_id],
        root_threshold=1,
        root_min_states=1,
        timestamp_key_ids=[stranger.key_id],
        timestamp_threshold=1,
        state_admins={"GR": ([stranger.key_id], 1)},
    )
    return sign(body, [stranger])


async def test_a_bundle_with_additions_is_stored_served_and_exported_as_verified(fabric: Fabric) -> None:
    """A replaced root in front and an unknown field: accepted for what verifies; what the node stores,
    serves to peers and copies into evidence is the rebuilt bundle, and that evidence verifies later
    anchored on the first root inside it."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    published = directory_pb2.DirectoryBundle.FromString(
        fabric.files.publish(now=dt.datetime.fromtimestamp(fabric.clock() / 1000, dt.UTC))
    )
    replaced = _replaced_root()
    published.roots.insert(0, replaced)
    data = published.SerializeToString() + b"\x98\x06\x01"  # and field 99, which parsers skip
    assert await gr.cache.offer(data, fabric.clock(), where="test")
    directory = gr.cache.current
    kept = directory_pb2.DirectoryBundle.FromString(directory.raw)
    assert replaced not in kept.roots
    assert kept.SerializeToString(deterministic=True) == directory.raw
    trusted = parse_signed(fabric.files.trusted_root_path.read_bytes(), "root")
    assert [parse_signed(r, "root").signed for r in kept.roots] == [trusted.signed]
    assert (await gr.store.directory.load())[2] == directory.raw  # stored
    assert await al.transport.fetch_bundle(GR, 0) == (directory.version, directory.raw)  # served

    sent = await gr.outbox.submit(AL, social_inquiry_request(case_ref_for(901), identified_at_ms=fabric.clock()))
    assert await asyncio.wait_for(gr.delivery.wait_closed(sent.message_id), 1) is DeliveryState.DELIVERED
    evidence, _, _ = await gr.exporter.export_case(case_ref_for(901), "auditor.1")
    report = verify_evidence(evidence)  # no root given: the oldest root inside is the anchor
    assert report.anchor.startswith("the oldest root inside")
    assert report.messages == 1
