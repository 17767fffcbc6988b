"""RFC 9162 / RFC 6962 Merkle hashing and inclusion proofs against the published reference vectors."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focalpoint.crypto.merkle import all_inclusion_paths, inclusion_path, leaf_hash, root_from_inclusion, tree_root

# The Certificate Transparency reference leaves and the roots of their prefixes (sizes 0..8).
LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                      "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (0-based leaf index, tree size, audit path) from the same reference test data.
INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_roots_match_the_reference_tree_heads(size: int) -> None:
    """The tree head of every prefix of the reference leaves is the published one."""
    assert tree_root([leaf_hash(x) for x in LEAVES[:size]]).hex() == ROOTS[size]


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    """RFC 9162 §2.1.1: MTH({}) = SHA-256()."""
    assert tree_root([]) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_paths_match_the_reference_proofs(index: int, size: int, path: list[str]) -> None:
    """Our audit paths are the published ones, and they verify to the published root."""
    hashes = [leaf_hash(x) for x in LEAVES[:size]]
    assert [p.hex() for p in inclusion_path(index, hashes)] == path
    assert all_inclusion_paths(hashes)[1][index] == [bytes.fromhex(p) for p in path]
    root = root_from_inclusion(index, size, hashes[index], [bytes.fromhex(p) for p in path])
    assert root is not None
    assert root.hex() == ROOTS[size]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=12), min_size=1, max_size=70), st.data())
def test_every_path_verifies_and_any_change_fails(leaves: list[bytes], data: st.DataObject) -> None:
    """For any tree: each leaf's path leads to the root; a changed leaf, hash or index does not."""
    hashes = [leaf_hash(x) for x in leaves]
    root, paths = all_inclusion_paths(hashes)
    assert root == tree_root(hashes)
    i = data.draw(st.integers(0, len(leaves) - 1))
    assert paths[i] == inclusion_path(i, hashes)
    assert root_from_inclusion(i, len(leaves), hashes[i], paths[i]) == root
    assert root_from_inclusion(i, len(leaves), leaf_hash(leaves[i] + b"x"), paths[i]) != root
    if paths[i]:
        j = data.draw(st.integers(0, len(paths[i]) - 1))
        bad = list(paths[i])
        bad[j] = bytes(b ^ 1 for b in bad[j])
        assert root_from_inclusion(i, len(leaves), hashes[i], bad) != root
    if len(leaves) > 1:
        other = (i + 1) % len(leaves)
        if hashes[other] != hashes[i]:
            assert root_from_inclusion(other, len(leaves), hashes[i], paths[i]) != root


def test_malformed_paths_are_rejected() -> None:
    """Indices outside the tree, hashes of the wrong length and paths of the wrong length give None."""
    hashes = [leaf_hash(x) for x in LEAVES]
    path = inclusion_path(3, hashes)
    assert root_from_inclusion(8, 8, hashes[3], path) is None
    assert root_from_inclusion(-1, 8, hashes[3], path) is None
    assert root_from_inclusion(3, 8, hashes[3], [*path[:-1], b"short"]) is None
    assert root_from_inclusion(3, 8, hashes[3], path[:-1]) is None
    assert root_from_inclusion(3, 8, hashes[3], [*path, path[0]]) is None
    with pytest.raises(ValueError, match="outside"):
        inclusion_path(8, hashes)
    with pytest.raises(ValueError, match="empty"):
        all_inclusion_paths([])
