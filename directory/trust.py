"""The TUF-style directory: what a node has accepted, and the rules for accepting more (pure).

Like python-tuf's ``TrustedMetadataSet``: bytes in, verified objects out, or a
``VerificationError`` that says which rule failed. No I/O; the time is passed in.
Steps (docs/protocol.md §5), numbered as in the code:

  Root (``update_root``), for each root newer than the trusted one, in order:
    T1 parse; type and spec version known;
    T2 version is exactly the trusted version + 1;
    T3 a threshold of the *trusted* root's root role signed it;
    T4 a threshold of its *own* root role signed it (a new key set proves itself);
    T5 its roles are well formed (keys exist, thresholds reachable, States unique);
    T6 the signatures counted for T3 and T4 each come from ≥ ``root_min_states`` States.
  Bundle (``update``):
    B1 the final root has not expired;
    B2 the timestamp is signed by the root's timestamp role, has not expired (freeze), and its
       version is not lower than the last accepted one (rollback; equal means identical);
    B3 it names the current root (version and hash);
    B4 each State entry and agreement it lists is in the bundle with exactly that hash and
       version (no mix-and-match) and no lower version than accepted before;
    B5 a State entry is signed by a threshold of that State's own administrators, and only
       theirs count (another State's administrator cannot sign it); it names its own State and
       only nodes of that State; an expired entry is left out (``Directory.excluded``), and so
       is a contact point with a malformed language tag;
    B6 an agreement is signed by a threshold of the administrators of every party; it has
       at least two distinct parties, all delegated States; an expired one, or one with a
       malformed working language or case rules that break a limit (``CaseRules``), is left out;
    B7 the resulting directory's invariants hold (``directory.model``): a node entry that breaks
       one on its own is left out; nodes that conflict (an id or a TLS key twice) fail the bundle;
    B8 a code list is signed by a threshold of the root's root role, from ≥ ``root_min_states``
       States (as T4 and T6); an expired one, one that breaks C1 on its own, or one that breaks
       C2–C4 against an older version in the bundle is left out (``directory.codelists``);
    B9 once the directory carries a code list, an agreement IN FORCE whose working languages are
       not all labelled in the code-list version each party declares (C6) is left out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from directory.codelists import CodeList, LabelGap, label_gaps, list_version_key, succession_problems
from directory.model import (
    AgreementInfo,
    AgreementStatus,
    CaseRules,
    Directory,
    KindDeadline,
    NodeInfo,
    StateInfo,
    check_languages,
)
from focalpoint.crypto.signing import AdminVerifier, Checked, Context, threshold_signatures, verify_all
from focalpoint.errors import ConfigError, VerificationError
from focalpoint.ids import state_problem
from focalpoint.v1 import common_pb2, directory_pb2

__all__ = [
    "SPEC_VERSION",
    "AcceptedDocument",
    "TrustedDirectory",
    "canonical_document",
    "carried_code_list",
    "content_sha256",
    "parse_signed",
    "read_bundle",
]

M = TypeVar("M", bound=Message)

SPEC_VERSION = 1
ROOT_TYPE = "focalpoint.root"
STATE_TYPE = "focalpoint.state"
AGREEMENT_TYPE = "focalpoint.agreement"
TIMESTAMP_TYPE = "focalpoint.timestamp"
CODELIST_TYPE = "focalpoint.codelist"


def content_sha256(raw: bytes) -> bytes:
    """The hash a timestamp pins: SHA-256 of a SignedDocument's signed bytes.

    The content, not the whole document: administrators may add signatures to a published
    version (and ML-DSA signatures differ each time), which must not change what is pinned.
    Raises VerificationError for bytes that are not a SignedDocument.
    """
    return hashlib.sha256(parse_signed(raw, "document").signed).digest()


def read_bundle(data: bytes, where: str) -> directory_pb2.DirectoryBundle:
    """Parse a bundle's bytes (not yet verified); raises VerificationError naming ``where``."""
    bundle = directory_pb2.DirectoryBundle()
    try:
        bundle.ParseFromString(data)
    except DecodeError as e:
        raise VerificationError(f"{where}: not a directory bundle") from e
    return bundle


def carried_code_list(directory: Directory, list_version: str) -> bytes | None:
    """The SignedDocument of code-list version ``list_version`` exactly as ``directory`` carries it
    (from the bundle it was verified from, at the document version it uses), or None when it
    carries no such version. For serving the list to clients; the bundle is already verified."""
    code_list = directory.code_lists.get(list_version)
    if code_list is None or not directory.raw:
        return None
    for raw in read_bundle(directory.raw, "the verified directory").codelists:
        body = directory_pb2.CodeListDocument()
        try:
            body.ParseFromString(parse_signed(raw, "code list").signed)
        except DecodeError:
            continue
        if body.list_version == list_version and body.version == code_list.version:
            return raw
    return None


def parse_signed(raw: bytes, what: str) -> directory_pb2.SignedDocument:
    doc = directory_pb2.SignedDocument()
    try:
        doc.ParseFromString(raw)
    except DecodeError as e:
        raise VerificationError(f"{what}: not a SignedDocument") from e
    return doc


def canonical_document(signed: bytes, signatures: Iterable[common_pb2.Signature]) -> bytes:
    """A SignedDocument holding only what was verified: the exact signed bytes and the signatures
    that counted, each once, in canonical order (key id, algorithm, value), with no other field."""
    unique = {(s.key_id, s.algorithm, s.value) for s in signatures}
    return directory_pb2.SignedDocument(
        signed=signed,
        signatures=[common_pb2.Signature(key_id=k, algorithm=a, value=v) for k, a, v in sorted(unique)],
    ).SerializeToString(deterministic=True)


def _parse_body(doc: directory_pb2.SignedDocument, message: M, doc_type: str, what: str) -> M:
    try:
        message.ParseFromString(doc.signed)
    except DecodeError as e:
        raise VerificationError(f"{what}: signed bytes do not parse") from e
    found_type = getattr(message, "type", "")
    spec = getattr(message, "spec_version", 0)
    if found_type != doc_type or spec != SPEC_VERSION:
        raise VerificationError(f"{what}: expected a {doc_type} document of spec {SPEC_VERSION}, got {found_type!r}")
    return message


@dataclass(frozen=True, slots=True)
class AcceptedDocument:
    """A document version this node accepted: kept so old signatures stay checkable."""

    kind: str  # "root", "timestamp", "state", "agreement" or "codelist"
    name: str  # the State code, agreement id or list version ("2026.1"); "" for root and timestamp
    version: int
    raw: bytes


@dataclass(frozen=True, slots=True)
class _Root:
    body: directory_pb2.Root
    raw: bytes
    keys: Mapping[str, AdminVerifier]
    delegations: Mapping[str, directory_pb2.StateDelegation]

    def role_keys(self, role: directory_pb2.RoleKeys) -> dict[str, AdminVerifier]:
        return {k: self.keys[k] for k in role.key_ids}


def _check_root_shape(root: directory_pb2.Root, what: str) -> _Root:
    """T5: every key id used exists, thresholds are reachable, delegations are unique."""
    keys: dict[str, AdminVerifier] = {}
    states_of: dict[str, str] = {}
    for k in root.keys:
        try:
            keys[k.key_id] = AdminVerifier(k.key_id, k.ed25519_public_key, k.ml_dsa_65_public_key)
        except ConfigError as e:
            raise VerificationError(f"{what}: {e}") from e
        states_of[k.key_id] = k.state
    if len(keys) != len(root.keys):
        raise VerificationError(f"{what}: a key is listed twice")

    def role(r: directory_pb2.RoleKeys, name: str) -> None:
        unknown = [k for k in r.key_ids if k not in keys]
        if unknown:
            raise VerificationError(f"{what}: role {name} names unknown key {unknown[0]}")
        if len(set(r.key_ids)) != len(r.key_ids):
            raise VerificationError(f"{what}: role {name} lists a key twice")
        if not 1 <= r.threshold <= len(r.key_ids):
            raise VerificationError(f"{what}: role {name} has threshold {r.threshold} for {len(r.key_ids)} key(s)")

    role(root.root, "root")
    role(root.timestamp, "timestamp")
    root_states = {states_of[k] for k in root.root.key_ids}
    if not 1 <= root.root_min_states <= len(root_states):
        raise VerificationError(
            f"{what}: root_min_states is {root.root_min_states}, "
            f"but the root role has keys of {len(root_states)} State(s)"
        )
    delegations: dict[str, directory_pb2.StateDelegation] = {}
    for d in root.states:
        if problem := state_problem(d.state):
            raise VerificationError(f"{what}: delegation for {d.state[:64]!r}: {problem}")
        if d.state in delegations:
            raise VerificationError(f"{what}: State {d.state} is delegated twice")
        role(d.admins, f"admins of {d.state}")
        foreign = [k for k in d.admins.key_ids if states_of[k] != d.state]
        if foreign:
            raise VerificationError(f"{what}: the administrators of {d.state} include a key of another State")
        delegations[d.state] = d
    return _Root(root, b"", keys, delegations)


def _signers_from_states(root: _Root, signers: Iterable[str], minimum: int, what: str) -> None:
    """T6: the signatures that met the threshold come from enough different States."""
    states = {k.state for k in root.body.keys if k.key_id in set(signers)}
    if len(states) < minimum:
        raise VerificationError(
            f"{what}: signed by administrators of {len(states)} State(s); the root role needs {minimum}"
        )


class TrustedDirectory:
    """What this node trusts now. Start from a root it trusts (its configuration)."""

    def __init__(self, trusted_root: bytes, *, accepted: Mapping[tuple[str, str], int] | None = None) -> None:
        """``trusted_root``: a SignedDocument of a Root, checked against its own root role.

        ``accepted``: the highest versions accepted before ((kind, name) -> version), so that
        rollback protection survives a restart. Raises VerificationError.
        """
        doc = parse_signed(trusted_root, "trusted root")
        body = _parse_body(doc, directory_pb2.Root(), ROOT_TYPE, "trusted root")
        root = _check_root_shape(body, "trusted root")
        counted = threshold_signatures(
            context=Context.DIRECTORY,
            data=doc.signed,
            signatures=doc.signatures,
            trusted=root.role_keys(body.root),
            threshold=body.root.threshold,
            what="trusted root",
        )
        _signers_from_states(root, _key_ids(counted), body.root_min_states, "trusted root")
        canonical = canonical_document(doc.signed, counted)
        self._root = _Root(body, canonical, root.keys, root.delegations)
        # The roots this node can vouch for, oldest first: the one it was given and each it accepted.
        self._chain: list[bytes] = [canonical]
        self._accepted: dict[tuple[str, str], int] = dict(accepted or {})
        self._timestamp_signed: bytes | None = None
        self._current: Directory | None = None

    @property
    def root(self) -> directory_pb2.Root:
        return self._root.body

    @property
    def current(self) -> Directory | None:
        return self._current

    def accepted_version(self, kind: str, name: str = "") -> int:
        return self._accepted.get((kind, name), 0)

    def update_root(self, raw: bytes) -> AcceptedDocument:
        """Accept the next root (T1–T6); raises VerificationError naming the failed rule."""
        current = self._root
        what = f"root version {current.body.version + 1}"
        # T1
        doc = parse_signed(raw, what)
        body = _parse_body(doc, directory_pb2.Root(), ROOT_TYPE, what)
        # T2
        if body.version != current.body.version + 1:
            raise VerificationError(
                f"root: expected version {current.body.version + 1}, got {body.version} (roots go one by one)"
            )
        # T5 (before counting signatures with the new keys)
        new = _check_root_shape(body, what)
        # T3: the trusted root's root role
        old_counted = threshold_signatures(
            context=Context.DIRECTORY,
            data=doc.signed,
            signatures=doc.signatures,
            trusted=current.role_keys(current.body.root),
            threshold=current.body.root.threshold,
            what=f"{what} (threshold of the current root's keys)",
        )
        # T4: its own root role
        new_counted = threshold_signatures(
            context=Context.DIRECTORY,
            data=doc.signed,
            signatures=doc.signatures,
            trusted=new.role_keys(body.root),
            threshold=body.root.threshold,
            what=f"{what} (threshold of its own keys)",
        )
        # T6
        _signers_from_states(current, _key_ids(old_counted), current.body.root_min_states, what)
        _signers_from_states(new, _key_ids(new_counted), body.root_min_states, what)
        canonical = canonical_document(doc.signed, (*old_counted, *new_counted))
        self._root = _Root(body, canonical, new.keys, new.delegations)
        self._chain.append(canonical)
        self._accepted[("root", "")] = body.version
        return AcceptedDocument("root", "", body.version, canonical)

    def update(
        self, bundle: directory_pb2.DirectoryBundle, *, now_ms: int, reload_expired: bool = False
    ) -> tuple[Directory, list[AcceptedDocument]]:
        """Verify a bundle (roots, timestamp, parts); return the directory and what was newly accepted.

        Nothing changes unless everything verifies. ``reload_expired`` is only for a node
        re-reading the bundle it accepted earlier from its own store: every check runs
        except expiry, so it can keep receiving and say clearly that sending waits for a
        fresh directory (``Directory.expires_at_ms`` is the real expiry). Raises VerificationError.
        """
        saved = (self._root, dict(self._accepted), list(self._chain))
        try:
            return self._update(bundle, now_ms, reload_expired)
        except BaseException:
            self._root, self._accepted, self._chain = saved
            raise

    def _update(
        self, bundle: directory_pb2.DirectoryBundle, now_ms: int, reload_expired: bool
    ) -> tuple[Directory, list[AcceptedDocument]]:
        expiry_now = -1 if reload_expired else now_ms
        fresh: list[AcceptedDocument] = []
        for raw in bundle.roots:
            version = _peek_version(raw, directory_pb2.Root())
            if version is not None and version > self._root.body.version:
                fresh.append(self.update_root(raw))
        root = self._root
        # B1
        if root.body.expires_at_ms <= expiry_now:
            raise VerificationError(f"root version {root.body.version} has expired; a new root must be published")
        # B2
        ts_doc = parse_signed(bundle.timestamp, "timestamp")
        timestamp = _parse_body(ts_doc, directory_pb2.Timestamp(), TIMESTAMP_TYPE, "timestamp")
        ts_canonical = canonical_document(
            ts_doc.signed,
            threshold_signatures(
                context=Context.DIRECTORY,
                data=ts_doc.signed,
                signatures=ts_doc.signatures,
                trusted=root.role_keys(root.body.timestamp),
                threshold=root.body.timestamp.threshold,
                what=f"timestamp version {timestamp.version}",
            ),
        )
        last = self.accepted_version("timestamp")
        if timestamp.version < last:
            raise VerificationError(
                f"timestamp version {timestamp.version} is older than the accepted version {last} (rollback refused)"
            )
        if timestamp.version == last and self._timestamp_signed not in (None, ts_doc.signed):
            raise VerificationError(
                f"timestamp version {timestamp.version} differs from the accepted timestamp of the same version"
            )
        if timestamp.expires_at_ms <= expiry_now:
            raise VerificationError(
                f"timestamp version {timestamp.version} has expired: the directory may be frozen; "
                "a fresh timestamp is needed"
            )
        # B3
        if timestamp.root.version != root.body.version or timestamp.root.sha256 != content_sha256(root.raw):
            raise VerificationError(
                f"timestamp version {timestamp.version} names root version {timestamp.root.version}, "
                f"not the trusted root version {root.body.version}"
            )
        # B4–B6
        state_docs = self._pinned(timestamp.states, bundle.states, "state")
        agreement_docs = self._pinned(timestamp.agreements, bundle.agreements, "agreement")
        codelist_docs = self._pinned(timestamp.codelists, bundle.codelists, "codelist")
        checked = _precheck(root, state_docs, agreement_docs)
        excluded: dict[str, str] = {}
        canonical_states: list[bytes] = []
        canonical_agreements: list[bytes] = []
        canonical_codelists: list[bytes] = []
        states = self._states(state_docs, root, expiry_now, fresh, checked, excluded, canonical_states)
        # B8
        code_lists = self._code_lists(codelist_docs, root, expiry_now, fresh, excluded, canonical_codelists)
        gaps: list[LabelGap] = []
        agreements = self._agreements(
            agreement_docs, root, expiry_now, fresh, checked, excluded, canonical_agreements, (states, code_lists, gaps)
        )
        # B7
        nodes = _nodes(states, excluded)
        directory = Directory.build(
            version=timestamp.version,
            issued_at_ms=timestamp.issued_at_ms,
            expires_at_ms=min(
                [timestamp.expires_at_ms, root.body.expires_at_ms] + [s.entry.expires_at_ms for s in states.values()]
            ),
            nodes=nodes,
            # What this node stores, serves and exports: rebuilt from what verified, so nothing a
            # sender added (unknown fields, roots it cannot vouch for, unlisted documents, signatures
            # that did not count) is ever kept or passed on.
            raw=directory_pb2.DirectoryBundle(
                roots=self._chain,
                timestamp=ts_canonical,
                states=canonical_states,
                agreements=canonical_agreements,
                codelists=canonical_codelists,
            ).SerializeToString(deterministic=True),
            signed=ts_doc.signed,
            states=states,
            agreements=agreements,
            excluded=excluded,
            code_lists=code_lists,
            label_gaps=tuple(gaps),
        )
        if timestamp.version > last:
            fresh.append(AcceptedDocument("timestamp", "", timestamp.version, ts_canonical))
        self._accepted[("timestamp", "")] = timestamp.version
        self._timestamp_signed = ts_doc.signed
        self._current = directory
        return directory, fresh

    def _note_accepted(self, kind: str, name: str, version: int, raw: bytes, fresh: list[AcceptedDocument]) -> None:
        if version > self.accepted_version(kind, name):
            fresh.append(AcceptedDocument(kind, name, version, raw))
            self._accepted[(kind, name)] = version

    def check_signed_by_states(self, raw: bytes, states: Sequence[str], what: str) -> None:
        """Does the current root's delegation of each State sign this document? (For publishers.)"""
        _signed_by_states(self._root, parse_signed(raw, what), states, what, {})

    def check_signed_by_root_role(self, raw: bytes, what: str) -> None:
        """Does the current root's root role sign this document (a code list, B8)? (For publishers.)"""
        doc = parse_signed(raw, what)
        root = self._root
        counted = threshold_signatures(
            context=Context.DIRECTORY,
            data=doc.signed,
            signatures=doc.signatures,
            trusted=root.role_keys(root.body.root),
            threshold=root.body.root.threshold,
            what=f"{what} (threshold of the root role)",
        )
        _signers_from_states(root, _key_ids(counted), root.body.root_min_states, what)

    def _pinned(
        self, refs: Sequence[directory_pb2.DocumentRef], raws: Sequence[bytes], kind: str
    ) -> list[tuple[directory_pb2.DocumentRef, bytes]]:
        """B4: each listed document by hash; version never lower than accepted before."""
        by_hash: dict[bytes, bytes] = {}
        for r in raws:
            by_hash.setdefault(content_sha256(r), r)
        names = [ref.name for ref in refs]
        if len(set(names)) != len(names):
            raise VerificationError(f"timestamp lists a {kind} twice")
        out = []
        for ref in refs:
            raw = by_hash.get(ref.sha256)
            if raw is None:
                raise VerificationError(
                    f"timestamp lists {kind} {ref.name} version {ref.version} "
                    f"(sha256 {ref.sha256.hex()[:16]}…) but the bundle does not hold it"
                )
            accepted = self.accepted_version(kind, ref.name)
            if ref.version < accepted:
                raise VerificationError(
                    f"{kind} {ref.name}: version {ref.version} is older than the accepted version {accepted} "
                    "(rollback refused)"
                )
            out.append((ref, raw))
        return out

    def _states(
        self,
        docs: list[tuple[directory_pb2.DocumentRef, bytes]],
        root: _Root,
        now_ms: int,
        fresh: list[AcceptedDocument],
        checked: Checked,
        excluded: dict[str, str],
        canonical: list[bytes],
    ) -> dict[str, StateInfo]:
        states: dict[str, StateInfo] = {}
        for ref, raw in docs:
            what = f"state entry {ref.name} version {ref.version}"
            doc = parse_signed(raw, what)
            entry = _parse_body(doc, directory_pb2.StateEntry(), STATE_TYPE, what)
            if entry.state != ref.name or entry.version != ref.version:
                raise VerificationError(f"{what}: the document is {entry.state} version {entry.version}")
            # B5
            kept = canonical_document(doc.signed, _signed_by_states(root, doc, [entry.state], what, checked))
            foreign = [n.node_id for n in entry.nodes if n.state != entry.state]
            if foreign:
                raise VerificationError(f"{what}: lists node {foreign[0]!r} of another State")
            canonical.append(kept)
            self._note_accepted("state", entry.state, entry.version, kept, fresh)
            if entry.expires_at_ms <= now_ms:
                # Left out, not fatal: one State's lapse must not stop the whole network. Its nodes
                # are unknown until its administrators re-sign the entry (health reports it).
                excluded[what] = f"expired; {entry.state}'s administrators must re-sign it"
                continue
            _usable_contact_points(entry, what, excluded)
            states[entry.state] = StateInfo(
                state=entry.state,
                version=entry.version,
                focal_point_designated=entry.focal_point_designated,
                code_list_version=entry.code_list_version,
                entry=entry,
            )
        return states

    def _code_lists(
        self,
        docs: list[tuple[directory_pb2.DocumentRef, bytes]],
        root: _Root,
        now_ms: int,
        fresh: list[AcceptedDocument],
        excluded: dict[str, str],
        canonical: list[bytes],
    ) -> dict[str, CodeList]:
        """B8: the root role's threshold signed each; C1 on its own, C2–C4 against the older ones."""
        candidates: list[tuple[str, CodeList]] = []
        for ref, raw in docs:
            what = f"code list {ref.name} version {ref.version}"
            doc = parse_signed(raw, what)
            body = _parse_body(doc, directory_pb2.CodeListDocument(), CODELIST_TYPE, what)
            if body.list_version != ref.name or body.version != ref.version:
                raise VerificationError(f"{what}: the document is {body.list_version} version {body.version}")
            counted = threshold_signatures(
                context=Context.DIRECTORY,
                data=doc.signed,
                signatures=doc.signatures,
                trusted=root.role_keys(root.body.root),
                threshold=root.body.root.threshold,
                what=f"{what} (threshold of the root role)",
            )
            _signers_from_states(root, _key_ids(counted), root.body.root_min_states, what)
            kept = canonical_document(doc.signed, counted)
            canonical.append(kept)
            self._note_accepted("codelist", body.list_version, body.version, kept, fresh)
            if body.expires_at_ms <= now_ms:
                excluded[what] = "expired; the root administrators must re-issue it"
                continue
            try:
                candidates.append((what, CodeList.from_proto(body, what)))
            except VerificationError as e:
                excluded[what] = f"{str(e).removeprefix(what + ': ')}; the root administrators must correct it"
        usable: dict[str, CodeList] = {}
        for what, code_list in sorted(candidates, key=lambda c: list_version_key(c[1].list_version)):
            problems = succession_problems(list(usable.values()), code_list)
            if problems:
                excluded[what] = f"{'; '.join(problems)}; the root administrators must correct it"
                continue
            usable[code_list.list_version] = code_list
        return usable

    def _agreements(
        self,
        docs: list[tuple[directory_pb2.DocumentRef, bytes]],
        root: _Root,
        now_ms: int,
        fresh: list[AcceptedDocument],
        checked: Checked,
        excluded: dict[str, str],
        canonical: list[bytes],
        labels: tuple[Mapping[str, StateInfo], Mapping[str, CodeList], list[LabelGap]],
    ) -> dict[str, AgreementInfo]:
        agreements: dict[str, AgreementInfo] = {}
        for ref, raw in docs:
            what = f"agreement {ref.name} version {ref.version}"
            doc = parse_signed(raw, what)
            a = _parse_body(doc, directory_pb2.Agreement(), AGREEMENT_TYPE, what)
            if a.agreement_id != ref.name or a.version != ref.version:
                raise VerificationError(f"{what}: the document is {a.agreement_id} version {a.version}")
            # B6
            parties = set(a.parties)
            if len(parties) < 2 or len(parties) != len(a.parties):
                raise VerificationError(f"{what}: needs at least two distinct parties")
            kept = canonical_document(doc.signed, _signed_by_states(root, doc, sorted(parties), what, checked))
            try:
                status = AgreementStatus(a.status)
            except ValueError:
                raise VerificationError(f"{what}: unknown status {a.status}") from None
            canonical.append(kept)
            self._note_accepted("agreement", a.agreement_id, a.version, kept, fresh)
            if a.expires_at_ms <= now_ms:
                excluded[what] = "expired; nothing may be exchanged under it until its parties re-sign it"
                continue
            try:
                check_languages(a.working_languages, "working_languages")
                case_rules = CaseRules.from_proto(a.case_rules if a.HasField("case_rules") else None)
            except VerificationError as e:
                excluded[what] = f"{e}; nothing may be exchanged under it until its parties correct and re-sign it"
                continue
            # B9
            if _unlabelled(a, status, labels, what, excluded):
                continue
            agreements[a.agreement_id] = AgreementInfo(
                agreement_id=a.agreement_id,
                version=a.version,
                title=a.title,
                parties=frozenset(parties),
                status=status,
                kinds=frozenset(a.kinds),
                deadlines={d.kind: d.response_days for d in a.deadlines},
                working_languages=tuple(a.working_languages),
                return_costs=a.return_costs,
                expires_at_ms=a.expires_at_ms,
                case_rules=case_rules,
                kind_deadlines={d.kind: KindDeadline.from_proto(d) for d in a.deadlines},
            )
        return agreements


def _unlabelled(
    a: directory_pb2.Agreement,
    status: AgreementStatus,
    labels: tuple[Mapping[str, StateInfo], Mapping[str, CodeList], list[LabelGap]],
    what: str,
    excluded: dict[str, str],
) -> bool:
    """B9 (C6): note the agreement's label gaps; True when it is IN FORCE with one (it is left out).

    A directory that carries no code list yet (one published before code lists existed) is not
    judged: its agreements stay as they were until the first code list is published.
    """
    states, code_lists, gaps = labels
    if not code_lists or status is AgreementStatus.TERMINATED:
        return False  # a terminated agreement needs no labels any more
    declared = {p: states[p].code_list_version for p in a.parties if p in states}
    found = label_gaps(
        agreement_id=a.agreement_id, working_languages=a.working_languages, declared=declared, code_lists=code_lists
    )
    gaps += found
    if not found or status is not AgreementStatus.IN_FORCE:
        return False
    excluded[what] = (
        "in force, but " + "; ".join(g.why() for g in found) + "; nothing may be exchanged under it until the code "
        "list labels every working language (or its parties declare a version that does)"
    )
    return True


def _nodes(states: Mapping[str, StateInfo], excluded: dict[str, str]) -> list[NodeInfo]:
    """B7, per node: a node entry that breaks an invariant on its own is left out, not fatal.

    Its State's administrators signed it, so it is theirs to correct; refusing the whole bundle
    would keep every other State on the previous version until the timestamps expire.
    """
    nodes = []
    for state in states.values():
        for pb in state.entry.nodes:
            try:
                nodes.append(NodeInfo.from_proto(pb))
            except VerificationError as e:
                what = f"node {pb.node_id[:64]!r} of state entry {state.state} version {state.version}"
                excluded[what] = f"{e}; {state.state}'s administrators must correct it and re-sign the entry"
    return nodes


def _usable_contact_points(entry: directory_pb2.StateEntry, what: str, excluded: dict[str, str]) -> None:
    """B5: a contact point with a malformed language tag is left out of the entry (and listed)."""
    kept = []
    for cp in entry.contact_points:
        try:
            check_languages(cp.languages, "languages")
        except VerificationError as e:
            excluded[f"contact point {cp.id[:64]!r} of {what}"] = (
                f"{e}; {entry.state}'s administrators must correct it and re-sign the entry"
            )
        else:
            kept.append(cp)
    if len(kept) != len(entry.contact_points):
        del entry.contact_points[:]
        entry.contact_points.extend(kept)


def _signed_by_states(
    root: _Root,
    doc: directory_pb2.SignedDocument,
    states: Sequence[str],
    what: str,
    checked: Checked,
) -> tuple[common_pb2.Signature, ...]:
    """B5/B6: a threshold of each State's own administrators signed; no other key counts.

    Returns the signatures that counted, for every State.
    """
    counted: list[common_pb2.Signature] = []
    for state in states:
        delegation = root.delegations.get(state)
        if delegation is None:
            raise VerificationError(f"{what}: the root delegates no administrators for {state}")
        counted += threshold_signatures(
            context=Context.DIRECTORY,
            data=doc.signed,
            signatures=doc.signatures,
            trusted=root.role_keys(delegation.admins),
            threshold=delegation.admins.threshold,
            what=f"{what} (administrators of {state})",
            checked=checked,
        )
    return tuple(counted)


def _precheck(
    root: _Root,
    states: list[tuple[directory_pb2.DocumentRef, bytes]],
    agreements: list[tuple[directory_pb2.DocumentRef, bytes]],
) -> dict[tuple[str, bytes], tuple[common_pb2.Signature, ...]]:
    """Check, in parallel, every delegated administrator signature the B5/B6 rules will count.

    Only a speed-up: the rules below still decide which keys count for which document.
    """

    def state_party(signed: bytes) -> list[str]:
        return [directory_pb2.StateEntry.FromString(signed).state]

    def agreement_parties(signed: bytes) -> list[str]:
        return list(directory_pb2.Agreement.FromString(signed).parties)

    jobs = []
    parties_of: Callable[[bytes], list[str]]
    for docs, parties_of in ((states, state_party), (agreements, agreement_parties)):
        for _, raw in docs:
            try:
                doc = directory_pb2.SignedDocument.FromString(raw)
                parties = parties_of(doc.signed)
            except DecodeError:
                continue  # refused with a clear message by the rule itself
            signers = {sig.key_id for sig in doc.signatures}
            for party in parties:
                delegation = root.delegations.get(party)
                for key_id in delegation.admins.key_ids if delegation else ():
                    if key_id in signers:
                        jobs.append((root.keys[key_id], doc.signed, list(doc.signatures)))
    return verify_all(Context.DIRECTORY, jobs)


def _key_ids(signatures: Iterable[common_pb2.Signature]) -> frozenset[str]:
    return frozenset(s.key_id for s in signatures)


def _peek_version(raw: bytes, message: directory_pb2.Root) -> int | None:
    """The version a document claims, before any check (only used to skip roots already trusted)."""
    try:
        message.ParseFromString(directory_pb2.SignedDocument.FromString(raw).signed)
    except DecodeError:
        return None
    return message.version
