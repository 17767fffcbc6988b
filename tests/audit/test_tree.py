"""Stored-subtree tree heads and proofs (focalpoint.audit.tree) against RFC 6962 vectors and the reference."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focalpoint.audit import tree as audit_tree
from focalpoint.crypto import merkle
from tests.crypto.test_merkle import LEAVES, ROOTS

# (old size, new size, proof) from the RFC 6962 reference test data.
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


class Store:
    """Complete subtrees kept as an append-only log would keep them."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.size = 0

    def node(self, level: int, index: int) -> bytes:
        return self.nodes[(level, index)]

    def append(self, leaf_hash: bytes) -> None:
        for level, index, h in audit_tree.new_nodes(self.size, leaf_hash, self.node):
            self.nodes[(level, index)] = h
        self.size += 1


def store_of(leaves: list[bytes]) -> Store:
    s = Store()
    for leaf in leaves:
        s.append(merkle.leaf_hash(leaf))
    return s


def test_roots_match_the_reference_at_every_size() -> None:
    """Appending the reference leaves one by one gives the published tree head at each size."""
    s = Store()
    for n, leaf in enumerate(LEAVES, start=1):
        s.append(merkle.leaf_hash(leaf))
        assert audit_tree.tree_root(s.node, n).hex() == ROOTS[n]


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs_match_the_reference(old: int, new: int, proof: list[str]) -> None:
    """Our consistency proofs are the published ones, and they verify between the published roots."""
    s = store_of(LEAVES)
    assert [p.hex() for p in audit_tree.consistency_proof(s.node, old, new)] == proof
    assert merkle.verify_consistency(
        old, new, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]), s_proof(s, old, new)
    )


def s_proof(s: Store, old: int, new: int) -> list[bytes]:
    return audit_tree.consistency_proof(s.node, old, new)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=6), min_size=1, max_size=70), st.data())
def test_proofs_agree_with_the_reference_and_verify(leaves: list[bytes], data: st.DataObject) -> None:
    """For any log: inclusion paths equal the reference's; consistency verifies, and fails for a wrong root."""
    s = store_of(leaves)
    hashes = [merkle.leaf_hash(x) for x in leaves]
    n = len(leaves)
    i = data.draw(st.integers(0, n - 1))
    size = data.draw(st.integers(i + 1, n))
    assert audit_tree.inclusion_proof(s.node, i, size) == merkle.inclusion_path(i, hashes[:size])
    old = data.draw(st.integers(1, n))
    new = data.draw(st.integers(old, n))
    old_root, new_root = merkle.tree_root(hashes[:old]), merkle.tree_root(hashes[:new])
    proof = audit_tree.consistency_proof(s.node, old, new)
    assert merkle.verify_consistency(old, new, old_root, new_root, proof)
    if old < new:
        forged = bytes(b ^ 1 for b in old_root)
        assert not merkle.verify_consistency(old, new, forged, new_root, proof)
        assert not merkle.verify_consistency(old, new, old_root, new_root, proof[:-1])


def test_a_rewritten_history_is_not_consistent() -> None:
    """Changing one old leaf moves the old root: the honest proof no longer joins the signed old head."""
    honest = store_of(LEAVES)
    signed_old_root = audit_tree.tree_root(honest.node, 5)
    forged = store_of([*LEAVES[:2], b"rewritten", *LEAVES[3:]])
    proof = audit_tree.consistency_proof(forged.node, 5, 8)
    assert not merkle.verify_consistency(5, 8, signed_old_root, audit_tree.tree_root(forged.node, 8), proof)


@given(st.lists(st.binary(max_size=8), max_size=70))
def test_the_right_edge_alone_gives_the_tree_head_of_the_whole_log(leaves: list[bytes]) -> None:
    """Tail.root equals the reference root of every prefix, appended in any grouping."""
    tail = audit_tree.Tail(0, {})
    assert tail.root() == merkle.tree_root([])
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    for i, h in enumerate(hashes):
        tail, _ = tail.extend([h])
        assert tail.root() == merkle.tree_root(hashes[: i + 1])
