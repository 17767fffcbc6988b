"""RFC 9162 tree heads and proofs over stored complete subtrees (pure; storage passed in).

A log of n leaves keeps the hash of every *complete, aligned* subtree: node (level l,
index i) covers leaves [i·2^l, (i+1)·2^l). Appending leaf n adds at most log2 n such
nodes. Any tree head, inclusion proof (RFC 9162 §2.1.3) or consistency proof (§2.1.4)
then needs only O(log² n) node reads, which is what keeps proofs in milliseconds at
ten million leaves. ``node(level, index)`` is supplied by the store.

``focalpoint.crypto.merkle`` is the reference (whole-list) implementation; the tests check both
against each other and against the published RFC 6962 vectors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from focalpoint.crypto.merkle import node_hash

__all__ = [
    "EMPTY_ROOT",
    "NodeLookup",
    "SizedTree",
    "consistency_proof",
    "inclusion_proof",
    "new_nodes",
    "subtree_root",
    "tree_root",
]

NodeLookup = Callable[[int, int], bytes]
# The root of the empty tree (RFC 9162 §2.1.1: the hash of the empty string).
EMPTY_ROOT = hashlib.sha256(b"").digest()


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def subtree_root(node: NodeLookup, start: int, end: int) -> bytes:
    """MTH(D[start:end]) where ``start`` is aligned as RFC 9162's recursion produces it."""
    n = end - start
    if n <= 0:
        raise ValueError("an empty range has no subtree root")
    if n & (n - 1) == 0 and start % n == 0:
        return node(n.bit_length() - 1, start // n)
    k = _split(n)
    return node_hash(subtree_root(node, start, start + k), subtree_root(node, start + k, end))


def tree_root(node: NodeLookup, size: int) -> bytes:
    if size <= 0:
        raise ValueError("use SHA-256 of the empty string for the empty tree")
    return subtree_root(node, 0, size)


def inclusion_proof(node: NodeLookup, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]), leaf upwards (RFC 9162 §2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is outside a tree of {size} leaves")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(subtree_root(node, start + k, end))
            end = start + k
        else:
            path.append(subtree_root(node, start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(node: NodeLookup, old: int, new: int) -> list[bytes]:
    """PROOF(old, D[0:new]) (RFC 9162 §2.1.4.1); empty when old == new."""
    if not 0 < old <= new:
        raise ValueError(f"a consistency proof needs 0 < old ≤ new, got {old} and {new}")
    if old == new:
        return []
    return _subproof(node, old, 0, new, True)


def _subproof(node: NodeLookup, m: int, start: int, end: int, complete: bool) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if complete else [subtree_root(node, start, end)]
    k = _split(n)
    if m <= k:
        return [*_subproof(node, m, start, start + k, complete), subtree_root(node, start + k, end)]
    return [*_subproof(node, m - k, start + k, end, False), subtree_root(node, start, start + k)]


def new_nodes(index: int, leaf: bytes, node: NodeLookup) -> list[tuple[int, int, bytes]]:
    """The complete subtrees leaf ``index`` closes: (level, index, hash), the leaf itself first."""
    out = [(0, index, leaf)]
    level, i, h = 0, index, leaf
    while i % 2 == 1:
        h = node_hash(node(level, i - 1), h)
        level, i = level + 1, i // 2
        out.append((level, i, h))
    return out


@dataclass(frozen=True, slots=True)
class SizedTree:
    """Tree heads and proofs of a stored log of ``size`` leaves; asking beyond it is a ValueError."""

    node: NodeLookup
    size: int

    def _within(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"no tree of size {size}; the log has {self.size} leaves")

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        self._within(size)
        return EMPTY_ROOT if size == 0 else tree_root(self.node, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        self._within(size)
        return inclusion_proof(self.node, index, size)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = self.size if new is None else new
        self._within(new)
        return consistency_proof(self.node, old, new)


class Tail:
    """The right edge of a log: its size and the complete subtrees still waiting for a sibling.

    That is all an append needs (one node per set bit of the size), so a writer keeps it in
    memory and never reads the tree to grow it. ``extend`` is pure: it returns the new tail
    and the nodes to store, and the caller adopts the tail only once they are committed.
    """

    __slots__ = ("_edge", "size")

    def __init__(self, size: int, edge: dict[int, bytes]) -> None:
        self.size = size
        self._edge = edge  # level -> hash of node (level, (size >> level) - 1), for each set bit

    @classmethod
    def load(cls, size: int, node: NodeLookup) -> Tail:
        return cls(size, {lv: node(lv, (size >> lv) - 1) for lv in range(size.bit_length()) if size >> lv & 1})

    def root(self) -> bytes:
        """The tree head of the whole log, from the right edge alone (RFC 9162 §2.1.1)."""
        if self.size == 0:
            return EMPTY_ROOT
        acc: bytes | None = None
        for level in range(self.size.bit_length()):  # the smallest subtree is the rightmost
            if self.size >> level & 1:
                acc = self._edge[level] if acc is None else node_hash(self._edge[level], acc)
        assert acc is not None
        return acc

    def extend(self, leaf_hashes: list[bytes]) -> tuple[Tail, list[tuple[int, int, bytes]]]:
        edge = dict(self._edge)
        created: list[tuple[int, int, bytes]] = []
        for offset, h in enumerate(leaf_hashes):
            index = self.size + offset
            for level, i, node in new_nodes(index, h, lambda lv, _i: edge[lv]):
                created.append((level, i, node))
                edge[level] = node  # (level, i) is now the newest complete node of its level
        return Tail(self.size + len(leaf_hashes), edge), created
