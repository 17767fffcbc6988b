"""The directory as verified domain objects (pure).

Built only by ``directory.trust.TrustedDirectory`` from bytes that passed the trust
checks; constructors enforce the invariants a node relies on (unique ids, key ids
that match their keys, pins that match their certificates). Lookups are dict-based
and constant time.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from directory.codelists import CodeList, Label, LabelGap, list_version_key
from focalpoint.crypto.signing import AdminVerifier, Ed25519Verifier, key_id_for
from focalpoint.crypto.suite import EncryptionPublicKey
from focalpoint.crypto.tlsid import certificate_der_to_pem, spki_sha256
from focalpoint.errors import ConfigError, VerificationError
from focalpoint.ids import ENDPOINT, NODE_ID, language_problem, state_problem
from focalpoint.v1 import codes_pb2, common_pb2, directory_pb2, messages_pb2

__all__ = [
    "AgreementInfo",
    "AgreementStatus",
    "CaseRules",
    "Directory",
    "KeyInfo",
    "KeyStatus",
    "KindDeadline",
    "NodeInfo",
    "StateInfo",
    "TlsKeyInfo",
    "check_languages",
]


def check_languages(tags: Iterable[str], where: str) -> None:
    """Every tag a well-formed, valid BCP 47 language tag (``focalpoint.ids``); raises VerificationError."""
    for tag in tags:
        if problem := language_problem(tag):
            raise VerificationError(f"{where}: {tag[:64]!r}: {problem}")


class KeyStatus(enum.IntEnum):
    ACTIVE = directory_pb2.KEY_STATUS_ACTIVE
    NEXT = directory_pb2.KEY_STATUS_NEXT
    RETIRED = directory_pb2.KEY_STATUS_RETIRED
    REVOKED = directory_pb2.KEY_STATUS_REVOKED


def _status(value: int, where: str) -> KeyStatus:
    try:
        return KeyStatus(value)
    except ValueError:
        raise VerificationError(f"{where}: key status {value} is not a known status") from None


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_id: str
    algorithm: int
    public_key: bytes
    not_before_ms: int
    not_after_ms: int
    status: KeyStatus

    def valid_at(self, at_ms: int, *, allow_retired: bool = True) -> bool:
        """Usable at ``at_ms``: not revoked and inside its window (0 = open).

        A RETIRED key counts as evidence (receipts, ``allow_retired``) inside its window; for
        new messages only when its window has an end (``not_after_ms``, the retirement time)
        and ``at_ms`` is before it — messages signed before a rotation still verify, nothing
        signed later does.
        """
        if self.status is KeyStatus.REVOKED:
            return False
        if self.status is KeyStatus.RETIRED and not allow_retired and not self.not_after_ms:
            return False
        if self.not_before_ms and at_ms < self.not_before_ms:
            return False
        return not (self.not_after_ms and at_ms >= self.not_after_ms)

    @classmethod
    def from_proto(cls, pb: directory_pb2.PublicKeyEntry, *, algorithm: int, where: str) -> KeyInfo:
        if pb.algorithm != algorithm:
            raise VerificationError(f"{where}: key {pb.key_id!r} has algorithm {pb.algorithm}, expected {algorithm}")
        if pb.key_id != key_id_for(pb.algorithm, pb.public_key):
            raise VerificationError(f"{where}: key id {pb.key_id!r} does not match its public key")
        return cls(
            key_id=pb.key_id,
            algorithm=pb.algorithm,
            public_key=pb.public_key,
            not_before_ms=pb.not_before_ms,
            not_after_ms=pb.not_after_ms,
            status=_status(pb.status, where),
        )


@dataclass(frozen=True, slots=True)
class TlsKeyInfo:
    spki_sha256: bytes
    certificate_der: bytes
    status: KeyStatus


@dataclass(frozen=True, slots=True)
class NodeInfo:
    node_id: str
    state: str
    institution: str
    endpoint: str
    tls_keys: tuple[TlsKeyInfo, ...]
    signing_keys: Mapping[str, KeyInfo]
    encryption_keys: Mapping[str, KeyInfo]
    languages: tuple[str, ...]
    _verifiers: Mapping[str, Ed25519Verifier] = field(repr=False, compare=False)
    _encryption: Mapping[str, EncryptionPublicKey] = field(repr=False, compare=False)
    # Hybrid keys signing audit checkpoints and cosignatures (may be empty in old entries).
    log_keys: Mapping[str, KeyInfo] = field(default_factory=dict)
    _log_verifiers: Mapping[str, AdminVerifier] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_proto(cls, pb: directory_pb2.NodeEntry) -> NodeInfo:
        where = f"node {pb.node_id!r}"
        if not NODE_ID.match(pb.node_id):
            raise VerificationError(f"{where}: node id must be a lowercase DNS label")
        if problem := state_problem(pb.state):
            raise VerificationError(f"{where}: state {pb.state[:64]!r}: {problem}")
        check_languages(pb.languages, f"{where}: languages")
        endpoint = ENDPOINT.match(pb.endpoint)
        if endpoint is None or not 1 <= int(endpoint.group(1)) <= 65535:
            raise VerificationError(f"{where}: endpoint must be host:port with a port in [1, 65535]")
        tls = []
        if len({t.spki_sha256 for t in pb.tls_keys}) != len(pb.tls_keys):
            # Two statuses for one key would let a revoked copy be trusted through the other.
            raise VerificationError(f"{where}: duplicate TLS pins")
        for t in pb.tls_keys:
            try:
                pin = spki_sha256(t.certificate_der)
            except ConfigError as e:  # bytes from a signed document: a failed check, not a configuration
                raise VerificationError(f"{where}: {e}") from e
            if pin != t.spki_sha256:
                raise VerificationError(f"{where}: TLS pin does not match its certificate")
            tls.append(TlsKeyInfo(t.spki_sha256, t.certificate_der, _status(t.status, where)))
        signing = {
            k.key_id: KeyInfo.from_proto(k, algorithm=common_pb2.KEY_ALGORITHM_ED25519, where=where)
            for k in pb.signing_keys
        }
        encryption = {
            k.key_id: KeyInfo.from_proto(k, algorithm=common_pb2.KEY_ALGORITHM_ML_KEM_768_X25519, where=where)
            for k in pb.encryption_keys
        }
        log_keys = {
            k.key_id: KeyInfo.from_proto(k, algorithm=common_pb2.KEY_ALGORITHM_ML_DSA_65, where=where)
            for k in pb.log_keys
        }
        if (
            len(signing) != len(pb.signing_keys)
            or len(encryption) != len(pb.encryption_keys)
            or len(log_keys) != len(pb.log_keys)
        ):
            raise VerificationError(f"{where}: duplicate key ids")
        if not any(t.status is KeyStatus.ACTIVE for t in tls):
            raise VerificationError(f"{where}: no active TLS key")
        try:
            verifiers = {k: Ed25519Verifier(k, v.public_key) for k, v in signing.items()}
            enc = {k: EncryptionPublicKey.from_bytes(k, v.public_key) for k, v in encryption.items()}
            log_verifiers = {k: AdminVerifier(k, v.public_key[:32], v.public_key[32:]) for k, v in log_keys.items()}
        except ConfigError as e:
            raise VerificationError(f"{where}: {e}") from e
        return cls(
            node_id=pb.node_id,
            state=pb.state,
            institution=pb.institution,
            endpoint=pb.endpoint,
            tls_keys=tuple(tls),
            signing_keys=signing,
            encryption_keys=encryption,
            languages=tuple(pb.languages),
            _verifiers=verifiers,
            _encryption=enc,
            log_keys=log_keys,
            _log_verifiers=log_verifiers,
        )

    def signing_verifier(self, key_id: str, at_ms: int, *, allow_retired: bool) -> Ed25519Verifier | None:
        info = self.signing_keys.get(key_id)
        if info is None or not info.valid_at(at_ms, allow_retired=allow_retired):
            return None
        return self._verifiers[key_id]

    def log_verifier(self, key_id: str, at_ms: int) -> AdminVerifier | None:
        """A log key whose signature made at ``at_ms`` counts (RETIRED included, REVOKED never)."""
        info = self.log_keys.get(key_id)
        if info is None or not info.valid_at(at_ms, allow_retired=True):
            return None
        return self._log_verifiers[key_id]

    def active_encryption_key(self, at_ms: int) -> EncryptionPublicKey | None:
        """The ACTIVE encryption key valid at ``at_ms`` with the latest start, or None."""
        candidates = [k for k in self.encryption_keys.values() if k.status is KeyStatus.ACTIVE and k.valid_at(at_ms)]
        if not candidates:
            return None
        best = max(candidates, key=lambda k: (k.not_before_ms, k.key_id))
        return self._encryption[best.key_id]

    def certificates_pem(self) -> bytes:
        """PEM certificates of every non-revoked TLS key (the trust store entries for this node)."""
        return b"".join(
            certificate_der_to_pem(t.certificate_der) for t in self.tls_keys if t.status is not KeyStatus.REVOKED
        )


class AgreementStatus(enum.IntEnum):
    SIGNED = directory_pb2.AGREEMENT_STATUS_SIGNED
    IN_FORCE = directory_pb2.AGREEMENT_STATUS_IN_FORCE
    SUSPENDED = directory_pb2.AGREEMENT_STATUS_SUSPENDED
    TERMINATED = directory_pb2.AGREEMENT_STATUS_TERMINATED


# Every Body kind of the wire format (the oneof's member names), whether or not this version sends it yet.
_BODY_KINDS = frozenset(f.name for f in messages_pb2.Body.DESCRIPTOR.oneofs_by_name["kind"].fields)
_FOLLOW_UP_MINIMUM = (3, 6, 12)
_FOLLOW_UP_ALLOWED = frozenset({1, 3, 6, 12, 24})
_WAIVABLE = frozenset(
    {codes_pb2.GATE_CONDITION_G4_IDENTITY_NATIONALITY, codes_pb2.GATE_CONDITION_G5_REINTEGRATION_PLAN}
)


@dataclass(frozen=True, slots=True)
class CaseRules:
    """An agreement's case-workflow rules, with the network defaults where it is silent (docs/protocol.md §11.5).

    ``CaseRules()`` is an agreement without a ``case_rules`` field. Zero and empty fields of the
    document mean "the default"; ``consular_copy_on_detention`` has explicit presence, so unset is
    true (docs/adr/0012-protective-zero.md).
    """

    guardian_deadline_hours: int = 24
    follow_up_months: tuple[int, ...] = _FOLLOW_UP_MINIMUM
    risk_assessment_max_age_days: int = 90
    # GateCondition codes the agreement waives: a subset of {G4, G5}.
    waivable: frozenset[int] = frozenset()
    max_counter_rounds: int = 3
    closure_response_days: int = 30
    handover_confirmation_hours: int = 24
    consular_copy_on_detention: bool = True
    # None: the agreement sets no retention; the node's own (national) rule applies.
    retention_years_after_closure: int | None = None
    kinds_when_suspended: frozenset[str] = frozenset({"withdrawal", "protection_alert"})

    @classmethod
    def from_proto(cls, pb: directory_pb2.CaseRules | None) -> CaseRules:
        """The rules of a signed agreement; raises VerificationError naming the first rule a value breaks."""
        if pb is None:
            return cls()
        default = cls()
        if pb.guardian_deadline_hours > default.guardian_deadline_hours:
            raise VerificationError(
                f"case_rules.guardian_deadline_hours is {pb.guardian_deadline_hours}; an agreement may shorten "
                f"the {default.guardian_deadline_hours}-hour guardian deadline, never lengthen it"
            )
        return cls(
            guardian_deadline_hours=pb.guardian_deadline_hours or default.guardian_deadline_hours,
            follow_up_months=_follow_up_months(pb.follow_up_months),
            risk_assessment_max_age_days=pb.risk_assessment_max_age_days or default.risk_assessment_max_age_days,
            waivable=_waivable(pb.waivable),
            max_counter_rounds=pb.max_counter_rounds or default.max_counter_rounds,
            closure_response_days=pb.closure_response_days or default.closure_response_days,
            handover_confirmation_hours=pb.handover_confirmation_hours or default.handover_confirmation_hours,
            consular_copy_on_detention=(
                pb.consular_copy_on_detention if pb.HasField("consular_copy_on_detention") else True
            ),
            retention_years_after_closure=pb.retention_years_after_closure or None,
            kinds_when_suspended=_kinds_when_suspended(pb.kinds_when_suspended) or default.kinds_when_suspended,
        )


def _follow_up_months(months: Iterable[int]) -> tuple[int, ...]:
    chosen = set(months)
    if not chosen:
        return _FOLLOW_UP_MINIMUM
    if unknown := sorted(chosen - _FOLLOW_UP_ALLOWED):
        raise VerificationError(
            f"case_rules.follow_up_months: {unknown[0]} is not a follow-up visit; expected months among "
            f"{sorted(_FOLLOW_UP_ALLOWED)}"
        )
    if missing := sorted(set(_FOLLOW_UP_MINIMUM) - chosen):
        raise VerificationError(
            f"case_rules.follow_up_months leaves out month {missing[0]}; an agreement may add months 1 and 24 "
            f"to {list(_FOLLOW_UP_MINIMUM)}, never drop one"
        )
    return tuple(sorted(chosen))


def _waivable(conditions: Iterable[int]) -> frozenset[int]:
    chosen = frozenset(conditions)
    if bad := sorted(chosen - _WAIVABLE):
        value = codes_pb2.GateCondition.DESCRIPTOR.values_by_number.get(bad[0])
        name = value.name if value is not None else f"code {bad[0]}"
        raise VerificationError(
            f"case_rules.waivable lists {name}; an agreement may waive only G4 and G5 of the return gate"
        )
    return chosen


def _kinds_when_suspended(kinds: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(kinds)
    if unknown := sorted(chosen - _BODY_KINDS):
        raise VerificationError(f"case_rules.kinds_when_suspended: {unknown[0][:64]!r} is not a message kind")
    return chosen


@dataclass(frozen=True, slots=True)
class KindDeadline:
    """An agreement's deadlines for one kind; None where it is silent (the network default applies)."""

    response_days: int | None = None
    acknowledge_hours: int | None = None
    urgent_response_hours: int | None = None
    emergency_response_hours: int | None = None

    @classmethod
    def from_proto(cls, pb: directory_pb2.KindDeadline) -> KindDeadline:
        return cls(
            response_days=pb.response_days or None,
            acknowledge_hours=pb.acknowledge_hours or None,
            urgent_response_hours=pb.urgent_response_hours or None,
            emergency_response_hours=pb.emergency_response_hours or None,
        )


@dataclass(frozen=True, slots=True)
class AgreementInfo:
    agreement_id: str
    version: int
    title: str
    parties: frozenset[str]
    status: AgreementStatus
    kinds: frozenset[str]
    # Body kind -> days within which the answer is due.
    deadlines: Mapping[str, int]
    working_languages: tuple[str, ...]
    return_costs: int
    expires_at_ms: int = 0
    case_rules: CaseRules = field(default_factory=CaseRules)
    # Body kind -> every deadline the agreement sets for it (``deadlines`` keeps the response days alone).
    kind_deadlines: Mapping[str, KindDeadline] = field(default_factory=dict)

    def covers(self, state_a: str, state_b: str, kind: str) -> bool:
        return {state_a, state_b} <= self.parties and kind in self.kinds


@dataclass(frozen=True, slots=True)
class StateInfo:
    state: str
    version: int
    focal_point_designated: bool
    code_list_version: str
    # The verified StateEntry (institutions, contact points) for display and health reports.
    entry: directory_pb2.StateEntry = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Directory:
    """A verified directory version. Implements ``focalpoint.exchange.envelope.PeerKeys``."""

    version: int
    issued_at_ms: int
    expires_at_ms: int
    nodes: Mapping[str, NodeInfo]
    # The DirectoryBundle this version was verified from (what the node serves to others).
    raw: bytes = field(repr=False)
    # The signed bytes of the bundle's timestamp (what "this version" means, exactly).
    signed: bytes = field(repr=False)
    _by_pin: Mapping[bytes, str] = field(repr=False, compare=False)
    # Empty in a single-document (first-issue) directory.
    states: Mapping[str, StateInfo] = field(default_factory=dict, repr=False, compare=False)
    agreements: Mapping[str, AgreementInfo] = field(default_factory=dict, repr=False, compare=False)
    # Authentic parts left out, and why (e.g. an expired State entry or agreement).
    excluded: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    # Every pair of parties -> the agreements between them (a regional agreement indexes all its pairs).
    _by_pair: Mapping[frozenset[str], tuple[AgreementInfo, ...]] = field(
        default_factory=dict, repr=False, compare=False
    )
    # The code-list versions carried (list version -> the newest document of it), and each
    # agreement's working languages that a party's declared version does not label (rule C6).
    code_lists: Mapping[str, CodeList] = field(default_factory=dict, repr=False, compare=False)
    label_gaps: tuple[LabelGap, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def build(
        cls,
        *,
        version: int,
        issued_at_ms: int,
        expires_at_ms: int,
        nodes: list[NodeInfo],
        raw: bytes,
        signed: bytes = b"",
        states: Mapping[str, StateInfo] | None = None,
        agreements: Mapping[str, AgreementInfo] | None = None,
        excluded: Mapping[str, str] | None = None,
        code_lists: Mapping[str, CodeList] | None = None,
        label_gaps: tuple[LabelGap, ...] = (),
    ) -> Directory:
        by_id: dict[str, NodeInfo] = {}
        by_pin: dict[bytes, str] = {}
        seen_pins: dict[bytes, str] = {}
        for node in nodes:
            if node.node_id in by_id:
                raise VerificationError(f"node id {node.node_id!r} appears twice")
            by_id[node.node_id] = node
            for t in node.tls_keys:
                # Any status counts: a pin revoked for one node may not be live for another.
                if seen_pins.get(t.spki_sha256, node.node_id) != node.node_id:
                    raise VerificationError(f"node {node.node_id!r} reuses another node's TLS key")
                seen_pins[t.spki_sha256] = node.node_id
                if t.status is not KeyStatus.REVOKED:
                    by_pin[t.spki_sha256] = node.node_id
        by_pair: dict[frozenset[str], list[AgreementInfo]] = {}
        for agreement in (agreements or {}).values():
            parties = sorted(agreement.parties)
            for i, a in enumerate(parties):
                for b in parties[i + 1 :]:
                    by_pair.setdefault(frozenset((a, b)), []).append(agreement)
        return cls(
            version,
            issued_at_ms,
            expires_at_ms,
            by_id,
            raw,
            signed,
            by_pin,
            states or {},
            agreements or {},
            excluded or {},
            {pair: tuple(items) for pair, items in by_pair.items()},
            dict(sorted((code_lists or {}).items(), key=lambda kv: list_version_key(kv[0]))),
            label_gaps,
        )

    def knows(self, node_id: str) -> bool:
        return node_id in self.nodes

    def node(self, node_id: str) -> NodeInfo | None:
        return self.nodes.get(node_id)

    def signing_key(self, node_id: str, key_id: str, at_ms: int) -> Ed25519Verifier | None:
        """A key that may sign a new message at ``at_ms`` (ACTIVE or NEXT, in its window)."""
        node = self.nodes.get(node_id)
        return None if node is None else node.signing_verifier(key_id, at_ms, allow_retired=False)

    def evidence_key(self, node_id: str, key_id: str, at_ms: int) -> Ed25519Verifier | None:
        """A key whose signature made at ``at_ms`` still counts as evidence (RETIRED included)."""
        node = self.nodes.get(node_id)
        return None if node is None else node.signing_verifier(key_id, at_ms, allow_retired=True)

    def log_key(self, node_id: str, key_id: str, at_ms: int) -> AdminVerifier | None:
        """A key of ``node_id`` whose audit checkpoint or cosignature made at ``at_ms`` counts."""
        node = self.nodes.get(node_id)
        return None if node is None else node.log_verifier(key_id, at_ms)

    def agreement_covering(self, state_a: str, state_b: str, kind: str) -> AgreementInfo | None:
        """The agreement IN FORCE between the two States that covers ``kind``, if any."""
        for agreement in self._by_pair.get(frozenset((state_a, state_b)), ()):
            if agreement.status is AgreementStatus.IN_FORCE and kind in agreement.kinds:
                return agreement
        return None

    def code_list(self, list_version: str) -> CodeList | None:
        """The code-list version ``list_version`` (its newest document), if the directory carries it."""
        return self.code_lists.get(list_version)

    @property
    def newest_code_list(self) -> CodeList | None:
        """The newest code-list version carried (it knows every code still receivable), or None."""
        versions = list(self.code_lists.values())
        return versions[-1] if versions else None

    def code_label(self, list_version: str, list_name: str, number: int, language: str) -> Label | None:
        """A code's label and definition in ``list_version``, in ``language`` or its fallback (a more
        general tag, then English); None when that version or code is not known here."""
        code_list = self.code_lists.get(list_version)
        return None if code_list is None else code_list.label(list_name, number, language)

    def node_for_pin(self, spki_sha256: bytes) -> str | None:
        """The node whose non-revoked TLS key has this pin, or None."""
        return self._by_pin.get(spki_sha256)

    def trust_store_pem(self, *, exclude: str | None = None) -> bytes:
        """Every node's non-revoked certificates, for the mutual-TLS trust store."""
        return b"".join(n.certificates_pem() for n in self.nodes.values() if n.node_id != exclude)
