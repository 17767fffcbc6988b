"""The node's directory cache (focalpoint.node.directory_cache) over the fakes: a validly signed State
entry whose node is malformed costs that node only, never the node's start; and what the node stores,
serves and exports is the directory it verified, rebuilt, never the bytes a sender made up."""

from __future__ import annotations

import pytest

from focalpoint.errors import ConfigError
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
