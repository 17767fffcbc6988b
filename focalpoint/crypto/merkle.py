"""RFC 9162 (Certificate Transparency v2) Merkle tree hashing and inclusion proofs (pure).

    leaf hash  = SHA-256(0x00 || leaf)
    node hash  = SHA-256(0x01 || left || right)
    MTH of n > 1 leaves splits at k, the largest power of two < n (RFC 9162 §2.1.1).

Used for batch receipts and as the reference the audit log (focalpoint.audit.tree) is tested against.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "all_inclusion_paths",
    "inclusion_path",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion",
    "tree_root",
    "verify_consistency",
]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def tree_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves; the empty tree's root is SHA-256 of the empty string."""
    n = len(leaf_hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(tree_root(leaf_hashes[:k]), tree_root(leaf_hashes[k:]))


def inclusion_path(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1, ordered from the leaf upwards."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise ValueError(f"leaf index {index} is outside a tree of {n} leaves")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_path(index, leaf_hashes[:k]), tree_root(leaf_hashes[k:])]
    return [*inclusion_path(index - k, leaf_hashes[k:]), tree_root(leaf_hashes[:k])]


def all_inclusion_paths(leaf_hashes: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """The root and every leaf's inclusion path in one pass: O(n log n), not O(n² log n)."""
    n = len(leaf_hashes)
    if n == 0:
        raise ValueError("an empty tree has no inclusion paths")
    if n == 1:
        return leaf_hashes[0], [[]]
    k = _split(n)
    left_root, left_paths = all_inclusion_paths(leaf_hashes[:k])
    right_root, right_paths = all_inclusion_paths(leaf_hashes[k:])
    for path in left_paths:
        path.append(right_root)
    for path in right_paths:
        path.append(left_root)
    return node_hash(left_root, right_root), left_paths + right_paths


def root_from_inclusion(index: int, tree_size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root the path leads to from ``leaf`` (a leaf hash), or None if the path has the wrong shape.

    RFC 9162 §2.1.3.2; the caller compares the result with the root it trusts.
    """
    if not 0 <= index < tree_size:
        return None
    fn, sn = index, tree_size - 1
    r = leaf
    for p in path:
        if len(p) != 32 or sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: does ``proof`` show the tree of ``old_size`` is a prefix of ``new_size``'s?"""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    path = list(proof)
    if not path or any(len(p) != 32 for p in path):
        return False
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a node of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
