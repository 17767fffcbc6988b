"""Whose signatures a directory document carries, which of them count, and how many are still
needed: the rules nodes apply (``directory.trust``; docs/protocol.md §5) told to the people who
sign, before they publish.

- A root needs a threshold of its **own** root role (T4) and, after root 1, of the **current**
  root's root role (T3), each from at least that root's ``root_min_states`` States (T6).
- A State entry needs a threshold of that State's own administrators (B5): no other key counts.
- An agreement needs a threshold of the administrators of **every** party (B6).
- A code list needs a threshold of the current root's root role, from ``root_min_states`` States (B8).

``signature_status`` answers for a proposal (or a published document) against the root in force;
``add_signature`` signs only with a key that counts, and says so otherwise. Used by
``directory sign`` and ``directory show``, and later the web console.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from directory.publish import add_signatures
from directory.trust import parse_signed
from focalpoint.admin.repo import document_kind
from focalpoint.crypto.signing import AdminSigner, AdminVerifier, Context
from focalpoint.errors import ConfigError, UsageError, VerificationError
from focalpoint.v1 import common_pb2, directory_pb2

__all__ = [
    "NotCounted",
    "Requirement",
    "Signature",
    "SignatureStatus",
    "add_signature",
    "describe",
    "signature_status",
]


@dataclass(frozen=True, slots=True)
class Requirement:
    """One threshold the document must meet: ``who`` signs, out of ``key_ids``."""

    who: str  # e.g. "the administrators of GR", "the root role of root version 2 (itself)"
    key_ids: tuple[str, ...]
    threshold: int
    min_states: int  # root roles: the signatures counted must come from this many States (T6); else 0
    signed: tuple[str, ...]  # the keys of ``key_ids`` whose signature is valid
    signed_states: tuple[str, ...]  # the States of those keys

    @property
    def missing(self) -> int:
        """Signatures still needed (each new key adds at most one State)."""
        return max(self.threshold - len(self.signed), self.min_states - len(self.signed_states), 0)

    @property
    def met(self) -> bool:
        return self.missing == 0

    @property
    def needs(self) -> str:
        """What is still needed, in words ("" when met)."""
        if self.met:
            return ""
        states = self.min_states - len(self.signed_states)
        return f"{self.missing} more" + (f", from {states} more State(s)" if states > 0 else "")

    def line(self) -> str:
        states = ""
        if self.min_states:
            states = f", from at least {self.min_states} State(s) ({len(self.signed_states)} so far)"
        verdict = f"{self.needs} needed" if self.needs else "met"
        return f"{self.who}: {len(self.signed)} of threshold {self.threshold} signed{states}: {verdict}"


@dataclass(frozen=True, slots=True)
class Signature:
    """One key's signature on the document."""

    key_id: str
    name: str  # the administrator's name as a root lists it; "" when no root consulted lists the key
    state: str
    valid: bool | None  # None: the key is in no root consulted, so its signature cannot be checked
    counts_for: tuple[str, ...]  # the ``Requirement.who`` it counts towards

    def line(self) -> str:
        who = f"{self.name} ({self.state})" if self.name or self.state else "a key no root lists"
        if self.valid is False:
            verdict = "INVALID signature: does not count"
        elif self.counts_for:
            verdict = "counts for " + " and ".join(self.counts_for)
        else:
            verdict = "does not count for this document"
        return f"{self.key_id}  {who}: {verdict}"


@dataclass(frozen=True, slots=True)
class SignatureStatus:
    kind: str  # "root", "state", "agreement" or "codelist"
    name: str  # the State, agreement id or list version; "" for a root
    version: int
    signatures: tuple[Signature, ...]
    requirements: tuple[Requirement, ...]
    # What stops publication whatever is signed (a root that skips a version, an undelegated State).
    problems: tuple[str, ...]
    # False when who counts cannot be told: a document other than root 1 judged without a root in force.
    known: bool
    # Every key id the roots consulted list -> "name, State".
    names: Mapping[str, str]

    @property
    def what(self) -> str:
        if self.kind == "root":
            return f"root version {self.version}"
        kinds = {"state": "State entry", "agreement": "agreement", "codelist": "code list"}
        return f"{kinds.get(self.kind, self.kind)} {self.name} version {self.version}"

    @property
    def ready(self) -> bool:
        """Every threshold is met and nothing else stops publication."""
        return self.known and not self.problems and all(r.met for r in self.requirements)

    @property
    def signing(self) -> str:
        """How far the signing has got, in words: unsigned, partly signed, or fully signed (every
        threshold met; ``problems`` may still stop publication)."""
        if not self.signatures:
            return "unsigned"
        return "fully signed" if self.known and all(r.met for r in self.requirements) else "partly signed"

    def counts(self, key_id: str) -> bool:
        """Would a (valid) signature by ``key_id`` count towards any threshold of this document?"""
        return any(key_id in r.key_ids for r in self.requirements)

    def signature(self, key_id: str) -> Signature | None:
        return next((s for s in self.signatures if s.key_id == key_id), None)

    def counted_keys(self) -> str:
        """Who may sign, in words, e.g. "the administrators of GR (keys 95a1…, 77c0…)"."""

        def key(k: str) -> str:
            return f"{k} ({self.names[k]})" if k in self.names else k

        return "; ".join(f"{r.who} (keys {', '.join(map(key, r.key_ids))})" for r in self.requirements) or "no key"

    def lines(self) -> list[str]:
        out = [f"signatures ({len(self.signatures)}):"]
        out += [f"  {s.line()}" for s in self.signatures] or ["  none yet"]
        if not self.known:
            out.append("who counts: unknown without the root in force (the repository)")
        out += [r.line() for r in self.requirements]
        out += [f"cannot be published: {p}" for p in self.problems]
        if self.ready:
            out.append("ready to publish: every threshold is met")
        elif self.known and not self.problems:
            needed = [f"{r.needs} from {r.who}" for r in self.requirements if not r.met]
            out.append("still needed: " + "; ".join(needed))
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "signing": self.signing,
            "ready": self.ready,
            "known": self.known,
            "problems": list(self.problems),
            "signatures": [
                {
                    "key_id": s.key_id,
                    "name": s.name,
                    "state": s.state,
                    "valid": s.valid,
                    "counts_for": list(s.counts_for),
                }
                for s in self.signatures
            ],
            "requirements": [
                {
                    "who": r.who,
                    "key_ids": list(r.key_ids),
                    "threshold": r.threshold,
                    "min_states": r.min_states,
                    "signed": list(r.signed),
                    "missing": r.missing,
                }
                for r in self.requirements
            ],
        }


class NotCounted(UsageError):
    """The key would sign a document it does not count for, or one for which who counts cannot
    be told (``status.known`` is False); nothing was signed."""

    def __init__(self, message: str, status: SignatureStatus) -> None:
        super().__init__(message)
        self.status = status


def signature_status(raw: bytes, current_root: directory_pb2.Root | None) -> SignatureStatus:
    """Who signed ``raw`` (a SignedDocument of a root, State entry, agreement or code list), which signatures
    count and what is still needed, against ``current_root`` (the root in force: the repository's
    newest; None judges a root 1 on its own and anything else as unknown). Raises UsageError for
    bytes that are not such a document."""
    kind, name, version = document_kind(raw)
    doc = parse_signed(raw, "document")
    keys = {k.key_id: k for k in current_root.keys} if current_root is not None else {}
    if kind == "root":
        proposed = directory_pb2.Root.FromString(doc.signed)
        keys.update({k.key_id: k for k in proposed.keys})
        roles, problems, known = _root_roles(proposed, current_root)
    elif current_root is None:
        roles, problems, known = [], [], False
    elif kind == "codelist":
        who = f"the root role of the current root (version {current_root.version})"
        roles, problems, known = [(who, current_root.root, current_root.root_min_states)], [], True
    else:
        agreement = kind == "agreement"
        parties = sorted(set(directory_pb2.Agreement.FromString(doc.signed).parties)) if agreement else [name]
        roles, problems, known = _party_roles(parties, current_root, agreement=agreement)
    valid = _valid_signers(doc.signed, doc.signatures, keys)
    requirements = tuple(_requirement(who, role, min_states, valid, keys) for who, role, min_states in roles)
    signatures = tuple(
        Signature(
            key_id=key_id,
            name=keys[key_id].name if key_id in keys else "",
            state=keys[key_id].state if key_id in keys else "",
            valid=valid.get(key_id),
            counts_for=tuple(r.who for r in requirements if key_id in r.signed),
        )
        for key_id in _in_order(s.key_id for s in doc.signatures)
    )
    names = {k: f"{v.name}, {v.state}" for k, v in keys.items()}
    return SignatureStatus(kind, name, version, signatures, requirements, tuple(problems), known, names)


# ([(who, role, min States)], problems, known)
_Roles = tuple[list[tuple[str, directory_pb2.RoleKeys, int]], list[str], bool]


def _root_roles(proposed: directory_pb2.Root, current: directory_pb2.Root | None) -> _Roles:
    """T3 (the current root's root role, after root 1) and T4 (its own), each with T6."""
    version = proposed.version
    roles: list[tuple[str, directory_pb2.RoleKeys, int]] = []
    problems: list[str] = []
    if current is not None:
        who = f"the root role of the current root (version {current.version})"
        roles.append((who, current.root, current.root_min_states))
        if current.version != version - 1:
            problems.append(f"the root in force is version {current.version}; roots go one by one")
    roles.append((f"the root role of root version {version} (itself)", proposed.root, proposed.root_min_states))
    return roles, problems, current is not None or version == 1


def _party_roles(parties: list[str], current: directory_pb2.Root, *, agreement: bool) -> _Roles:
    """B5, B6: the administrators of each party (the one State of a State entry)."""
    delegations = {d.state: d.admins for d in current.states}
    roles: list[tuple[str, directory_pb2.RoleKeys, int]] = []
    problems = ["an agreement needs at least two distinct parties"] if agreement and len(parties) < 2 else []
    for state in parties:
        if state in delegations:
            roles.append((f"the administrators of {state}", delegations[state], 0))
        else:
            problems.append(f"the root delegates no administrators for {state}")
    return roles, problems, True


def add_signature(
    raw: bytes, signer: AdminSigner, current_root: directory_pb2.Root | None, *, even_if_not_counted: bool = False
) -> tuple[bytes, SignatureStatus, bool]:
    """``raw`` with ``signer``'s signature added, its status after, and whether a signature was
    added (False: this key had signed already). Raises NotCounted, signing nothing, when the key
    counts for nothing here or who counts cannot be told (no root in force given), unless
    ``even_if_not_counted`` (e.g. for a State whose delegation a root still being signed will add);
    UsageError for bytes that are not a document."""
    before = signature_status(raw, current_root)
    if not before.known and not even_if_not_counted:
        raise NotCounted(
            f"{before.what}: cannot tell whether key {signer.key_id} counts without the root in force"
            " (the directory repository, or a copy of its roots/ folder); nothing was signed",
            before,
        )
    if before.known and not before.counts(signer.key_id) and not even_if_not_counted:
        raise NotCounted(
            f"key {signer.key_id} does not count for {before.what}: only {before.counted_keys()} count;"
            " nothing was signed",
            before,
        )
    if before.signature(signer.key_id) is not None:
        return raw, before, False
    signed = add_signatures(raw, [signer])
    return signed, signature_status(signed, current_root), True


def describe(status: SignatureStatus, key_id: str, added: bool) -> str:
    """One line on what signing with ``key_id`` did, for the person who signed."""
    mine = status.signature(key_id)
    who = f"key {key_id}" + (f" ({mine.name}, {mine.state})" if mine is not None and mine.name else "")
    if mine is None or not mine.counts_for:
        counts = "it does NOT count for this document"
    else:
        counts = f"it counts for {' and '.join(mine.counts_for)}"
    if added:
        return f"signed {status.what} with {who}: {counts}"
    return f"{who} had signed {status.what} already; nothing was added ({counts})"


def _in_order(key_ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(key_ids))


def _valid_signers(
    data: bytes, signatures: Sequence[common_pb2.Signature], keys: Mapping[str, directory_pb2.AdminKey]
) -> dict[str, bool]:
    """Each signing key a root lists -> whether both halves of its hybrid signature verify."""
    out: dict[str, bool] = {}
    for key_id in _in_order(s.key_id for s in signatures):
        key = keys.get(key_id)
        if key is None:
            continue
        try:
            AdminVerifier(key.key_id, key.ed25519_public_key, key.ml_dsa_65_public_key).verify(
                Context.DIRECTORY, data, signatures
            )
            out[key_id] = True
        except (VerificationError, ConfigError):
            out[key_id] = False
    return out


def _requirement(
    who: str,
    role: directory_pb2.RoleKeys,
    min_states: int,
    valid: Mapping[str, bool],
    keys: Mapping[str, directory_pb2.AdminKey],
) -> Requirement:
    signed = tuple(k for k in role.key_ids if valid.get(k))
    states = tuple(sorted({keys[k].state for k in signed if k in keys}))
    return Requirement(who, tuple(role.key_ids), role.threshold, min_states, signed, states)
