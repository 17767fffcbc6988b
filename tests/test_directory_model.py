"""The signed directory (directory/): building, signing, loading steps D1–D6 and the model's invariants."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from directory import (
    Directory,
    KeyInfo,
    KeyStatus,
    NodeInfo,
    TrustRoot,
    build_directory,
    check_entry_export,
    load_directory,
    sign_document,
)
from focalpoint.directory_cache import load_trust_root
from focalpoint.errors import ConfigError, VerificationError
from focalpoint.keystore import NodeKeys, load_admin_key, load_node_keys, node_entry_export
from focalpoint.localnet import NodeSpec, make_network
from focalpoint.signing import AdminSigner, Context, key_id_for
from focalpoint.suite import EncryptionPrivateKey
from focalpoint.tlsid import certificate_der_to_pem, generate_tls_identity
from focalpoint.v1 import common_pb2, directory_pb2

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
NOW_MS = int(NOW.timestamp() * 1000)
HOUR_MS = 3600 * 1000
EXPIRES = NOW_MS + 30 * 24 * HOUR_MS
GR, AL = "gr-ekka", "al-shss"
ED25519 = common_pb2.KEY_ALGORITHM_ED25519
HYBRID_KEM = common_pb2.KEY_ALGORITHM_ML_KEM_768_X25519

EntryEdit = Callable[[directory_pb2.NodeEntry], None]


@dataclass(frozen=True)
class World:
    entries: Mapping[str, directory_pb2.NodeEntry]
    keys: Mapping[str, NodeKeys]
    admin: AdminSigner
    others: tuple[AdminSigner, AdminSigner]
    trust: TrustRoot
    published: bytes

    def copies(self) -> dict[str, directory_pb2.NodeEntry]:
        out: dict[str, directory_pb2.NodeEntry] = {}
        for node_id, entry in self.entries.items():
            copy = directory_pb2.NodeEntry()
            copy.CopyFrom(entry)
            out[node_id] = copy
        return out

    def entry(self, node_id: str = GR, edit: EntryEdit | None = None) -> directory_pb2.NodeEntry:
        entry = self.copies()[node_id]
        if edit is not None:
            edit(entry)
        return entry

    def document(
        self,
        entries: list[directory_pb2.NodeEntry] | None = None,
        *,
        version: int = 1,
        issued_at_ms: int = NOW_MS,
        expires_at_ms: int = EXPIRES,
        signers: list[AdminSigner] | None = None,
    ) -> bytes:
        signed = build_directory(
            entries if entries is not None else list(self.copies().values()),
            version=version,
            issued_at_ms=issued_at_ms,
            expires_at_ms=expires_at_ms,
        )
        return sign_document(signed, signers if signers is not None else [self.admin])

    def unchecked_document(self, entries: list[directory_pb2.NodeEntry]) -> bytes:
        """A signed document built without build_directory's checks, as a careless or hostile signer could."""
        body = directory_pb2.Directory(
            type="focalpoint.directory",
            spec_version=1,
            version=1,
            issued_at_ms=NOW_MS,
            expires_at_ms=EXPIRES,
            nodes=entries,
        )
        return sign_document(body.SerializeToString(), [self.admin])

    def load(
        self, data: bytes, *, trust: TrustRoot | None = None, now_ms: int = NOW_MS, previous: Directory | None = None
    ) -> Directory:
        return load_directory(data, trust=trust or self.trust, now_ms=now_ms, previous=previous)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Two nodes' keys and entries, the network's administrator and two more administrator keys."""
    net = make_network(
        tmp_path_factory.mktemp("net"), [NodeSpec(GR, "GR", "EKKA"), NodeSpec(AL, "AL", "SHSS")], now=NOW
    )
    keys = {n: load_node_keys(node.home / "keys" / "node.keys", None) for n, node in net.nodes.items()}
    return World(
        entries=dict(net.entries),
        keys=keys,
        admin=load_admin_key(net.admin_key, None),
        others=(AdminSigner.generate(), AdminSigner.generate()),
        trust=load_trust_root((net.admin_public,), 1),
        published=net.directory_path.read_bytes(),
    )


def trust_of(*signers: AdminSigner, threshold: int = 1) -> TrustRoot:
    return TrustRoot({s.key_id: s.verifier for s in signers}, threshold)


def resign(data: bytes, edit: Callable[[directory_pb2.SignedDocument], None]) -> bytes:
    doc = directory_pb2.SignedDocument.FromString(data)
    edit(doc)
    return doc.SerializeToString()


# --- A valid directory -------------------------------------------------------------------------


def test_published_directory_loads(world: World) -> None:
    """The document localnet publishes loads with the trust root read from the admin's public key file."""
    directory = world.load(world.published)
    assert directory.version == 1
    assert set(directory.nodes) == {GR, AL}
    assert directory.raw == world.published


def test_directory_lookups(world: World) -> None:
    """A loaded directory answers node, key and pin lookups, and None for anything it does not list."""
    directory = world.load(world.document())
    gr_signer = world.keys[GR].signer
    assert directory.knows(GR)
    assert not directory.knows("xx-nobody")
    assert directory.node("xx-nobody") is None
    assert directory.signing_key(GR, gr_signer.key_id, NOW_MS) == gr_signer.verifier()
    assert directory.signing_key(AL, gr_signer.key_id, NOW_MS) is None
    assert directory.signing_key("xx-nobody", gr_signer.key_id, NOW_MS) is None
    assert directory.node_for_pin(world.keys[GR].tls.pin) == GR
    assert directory.node_for_pin(bytes(32)) is None
    assert directory.trust_store_pem(exclude=GR) == world.keys[AL].tls.certificate_pem
    gr = directory.node(GR)
    assert gr is not None
    assert (gr.state, gr.institution) == ("GR", "EKKA")


def test_build_directory_sorts_nodes_and_sets_the_type(world: World) -> None:
    """The built document lists nodes by id and carries the document type and spec version."""
    signed = build_directory([world.entry(GR), world.entry(AL)], version=3, issued_at_ms=NOW_MS, expires_at_ms=EXPIRES)
    body = directory_pb2.Directory.FromString(signed)
    assert [n.node_id for n in body.nodes] == [AL, GR]
    assert (body.type, body.spec_version, body.version) == ("focalpoint.directory", 1, 3)


@pytest.mark.parametrize(
    ("version", "issued", "expires", "message"),
    [
        pytest.param(0, NOW_MS, EXPIRES, "at least 1", id="version-0"),
        pytest.param(1, NOW_MS, NOW_MS, "expire after", id="expires-at-issue"),
        pytest.param(1, NOW_MS, NOW_MS - 1, "expire after", id="expires-before-issue"),
    ],
)
def test_build_directory_refuses_bad_metadata(
    world: World, version: int, issued: int, expires: int, message: str
) -> None:
    """build_directory refuses a version below 1 or an expiry not after issue."""
    with pytest.raises(VerificationError, match=message):
        build_directory([world.entry()], version=version, issued_at_ms=issued, expires_at_ms=expires)


def test_build_directory_refuses_invalid_entry(world: World) -> None:
    """An entry breaking a node invariant is refused before anything is signed."""
    bad = world.entry(edit=lambda e: setattr(e, "state", "Greece"))
    with pytest.raises(VerificationError, match="state"):
        build_directory([bad], version=1, issued_at_ms=NOW_MS, expires_at_ms=EXPIRES)


def test_sign_document_adds_both_halves_per_signer(world: World) -> None:
    """Each signer contributes an Ed25519 and an ML-DSA-65 signature over the same bytes."""
    doc = directory_pb2.SignedDocument.FromString(world.document(signers=[world.admin, world.others[0]]))
    assert len(doc.signatures) == 4
    assert {s.key_id for s in doc.signatures} == {world.admin.key_id, world.others[0].key_id}


# --- D1–D5 ---------------------------------------------------------------------------------


def test_d1_garbage_is_refused(world: World) -> None:
    """Bytes that are not a SignedDocument are refused at D1."""
    with pytest.raises(VerificationError, match="not a SignedDocument"):
        world.load(b"\xff\xff\xff")


def test_d2_untrusted_signer_is_refused(world: World) -> None:
    """A document signed only by an administrator the node does not trust is refused."""
    with pytest.raises(VerificationError, match="0 valid signature"):
        world.load(world.document(signers=[world.others[0]]))


def test_d2_unsigned_document_is_refused(world: World) -> None:
    """A document without signatures is refused."""
    with pytest.raises(VerificationError, match="0 valid signature"):
        world.load(resign(world.document(), lambda d: d.ClearField("signatures")))


@pytest.mark.parametrize("index", [0, 7, -1])
def test_d2_tampered_signed_bytes_are_refused(world: World, index: int) -> None:
    """Changing any byte of the signed bytes invalidates the administrators' signatures."""

    def tamper(doc: directory_pb2.SignedDocument) -> None:
        signed = bytearray(doc.signed)
        signed[index] ^= 0x01
        doc.signed = bytes(signed)

    with pytest.raises(VerificationError, match="0 valid signature"):
        world.load(resign(world.document(), tamper))


def test_d2_signatures_of_another_document_are_refused(world: World) -> None:
    """Signatures lifted from another (older) document do not sign this one."""
    older = directory_pb2.SignedDocument.FromString(world.document(version=1))
    newer = world.document(version=2, signers=[])
    with pytest.raises(VerificationError, match="0 valid signature"):
        world.load(resign(newer, lambda d: d.signatures.extend(older.signatures)))


def test_d2_threshold_counts_distinct_trusted_keys(world: World) -> None:
    """With a 2-of-3 trust root one signature fails and two distinct trusted signers pass."""
    a, b = world.others
    trust = trust_of(world.admin, a, b, threshold=2)
    with pytest.raises(VerificationError, match="1 valid signature"):
        world.load(world.document(signers=[world.admin]), trust=trust)
    with pytest.raises(VerificationError, match="1 valid signature"):
        world.load(world.document(signers=[world.admin, world.admin]), trust=trust)
    assert world.load(world.document(signers=[world.admin, b]), trust=trust).version == 1


def sign_body(world: World, body: directory_pb2.Directory | bytes) -> bytes:
    signed = body if isinstance(body, bytes) else body.SerializeToString()
    return sign_document(signed, [world.admin])


def test_d3_signed_bytes_that_are_not_a_directory_are_refused(world: World) -> None:
    """Validly signed bytes that do not parse as a Directory are refused at D3."""
    with pytest.raises(VerificationError, match="signed bytes are not a Directory"):
        world.load(sign_body(world, b"\xff\xff\xff"))


@pytest.mark.parametrize(
    ("doc_type", "spec_version"),
    [
        pytest.param("focalpoint.revocations", 1, id="other-type"),
        pytest.param("", 1, id="no-type"),
        pytest.param("focalpoint.directory", 2, id="future-spec"),
        pytest.param("focalpoint.directory", 0, id="no-spec"),
    ],
)
def test_d3_wrong_document_type_is_refused(world: World, doc_type: str, spec_version: int) -> None:
    """A validly signed document of another type or spec version is not taken for a directory."""
    body = directory_pb2.Directory(
        type=doc_type, spec_version=spec_version, version=1, issued_at_ms=NOW_MS, expires_at_ms=EXPIRES
    )
    with pytest.raises(VerificationError, match=re.escape("expected type 'focalpoint.directory' version 1")):
        world.load(sign_body(world, body))


def test_d4_expired_directory_is_refused(world: World) -> None:
    """A directory is refused from its expiry time on, and accepted one millisecond before."""
    data = world.document()
    assert world.load(data, now_ms=EXPIRES - 1).version == 1
    with pytest.raises(VerificationError, match="has expired"):
        world.load(data, now_ms=EXPIRES)


def test_d5_rollback_is_refused(world: World) -> None:
    """A version older than the accepted one is refused."""
    current = world.load(world.document(version=5))
    with pytest.raises(VerificationError, match="rollback refused"):
        world.load(world.document(version=4), previous=current)


def test_d5_same_version_different_bytes_is_refused(world: World) -> None:
    """Two different documents with the same version are refused (equivocation)."""
    current = world.load(world.document(version=5))
    other = world.document(version=5, issued_at_ms=NOW_MS + 1)
    with pytest.raises(VerificationError, match="differs from the accepted document"):
        world.load(other, previous=current)


def test_d5_same_bytes_and_newer_versions_are_accepted(world: World) -> None:
    """Re-reading the accepted bytes, or a newer version, is accepted."""
    data = world.document(version=5)
    current = world.load(data)
    assert world.load(data, previous=current).version == 5
    assert world.load(world.document(version=6), previous=current).version == 6


# --- D6 and the node invariants ---------------------------------------------------------------


def test_d6_duplicate_node_ids_are_refused(world: World) -> None:
    """Two entries with the same node id are refused when loading."""
    data = world.unchecked_document([world.entry(GR), world.entry(GR)])
    with pytest.raises(VerificationError, match="appears twice"):
        world.load(data)


def test_d6_tls_key_shared_between_nodes_is_refused(world: World) -> None:
    """Two nodes may not present the same TLS key (the pin decides who a peer is)."""

    def steal_gr_tls(entry: directory_pb2.NodeEntry) -> None:
        entry.tls_keys[0].CopyFrom(world.entries[GR].tls_keys[0])

    data = world.unchecked_document([world.entry(GR), world.entry(AL, steal_gr_tls)])
    with pytest.raises(VerificationError, match="reuses another node's TLS key"):
        world.load(data)


def test_d6_invalid_node_in_signed_document_is_refused(world: World) -> None:
    """A signed document whose node breaks an invariant is refused at load, not only at build."""
    bad = world.entry(edit=lambda e: setattr(e.tls_keys[0], "spki_sha256", bytes(32)))
    body = directory_pb2.Directory(
        type="focalpoint.directory", spec_version=1, version=1, issued_at_ms=NOW_MS, expires_at_ms=EXPIRES, nodes=[bad]
    )
    with pytest.raises(VerificationError, match="TLS pin does not match"):
        world.load(sign_body(world, body))


def set_attr(path: str, value: object) -> EntryEdit:
    """Set a dotted attribute path on the entry, e.g. ``signing_keys.0.key_id``."""

    def edit(entry: directory_pb2.NodeEntry) -> None:
        *parents, name = path.split(".")
        target: Any = entry
        for part in parents:
            target = target[int(part)] if part.isdigit() else getattr(target, part)
        setattr(target, name, value)

    return edit


def duplicate_signing_key(entry: directory_pb2.NodeEntry) -> None:
    entry.signing_keys.append(entry.signing_keys[0])


def short_encryption_key(entry: directory_pb2.NodeEntry) -> None:
    key = entry.encryption_keys[0]
    key.public_key = bytes(100)
    key.key_id = key_id_for(HYBRID_KEM, key.public_key)


def short_signing_key(entry: directory_pb2.NodeEntry) -> None:
    key = entry.signing_keys[0]
    key.public_key = bytes(31)
    key.key_id = key_id_for(ED25519, key.public_key)


def signing_key_as_encryption_key(entry: directory_pb2.NodeEntry) -> None:
    entry.encryption_keys.append(entry.signing_keys[0])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param(set_attr("node_id", "GR-EKKA"), "node id must be a lowercase DNS label", id="id-uppercase"),
        pytest.param(set_attr("node_id", "gr_ekka"), "node id must be a lowercase DNS label", id="id-underscore"),
        pytest.param(set_attr("node_id", "-gr"), "node id must be a lowercase DNS label", id="id-leading-dash"),
        pytest.param(set_attr("node_id", ""), "node id must be a lowercase DNS label", id="id-empty"),
        pytest.param(set_attr("node_id", "a" * 64), "node id must be a lowercase DNS label", id="id-too-long"),
        pytest.param(set_attr("state", "gr"), "state must be an ISO 3166-1 alpha-2 code", id="state-lowercase"),
        pytest.param(set_attr("state", "GRC"), "state must be an ISO 3166-1 alpha-2 code", id="state-alpha-3"),
        pytest.param(set_attr("endpoint", "localhost"), "endpoint must be host:port", id="endpoint-no-port"),
        pytest.param(set_attr("tls_keys.0.spki_sha256", bytes(32)), "TLS pin does not match", id="pin-mismatch"),
        pytest.param(set_attr("tls_keys.0.status", KeyStatus.REVOKED), "no active TLS key", id="no-active-tls"),
        pytest.param(set_attr("signing_keys.0.key_id", "0" * 32), "does not match its public key", id="signing-key-id"),
        pytest.param(
            set_attr("encryption_keys.0.key_id", "0" * 32), "does not match its public key", id="encryption-key-id"
        ),
        pytest.param(set_attr("signing_keys.0.algorithm", HYBRID_KEM), "has algorithm", id="signing-algorithm"),
        pytest.param(signing_key_as_encryption_key, "has algorithm", id="encryption-algorithm"),
        pytest.param(set_attr("signing_keys.0.status", 99), "not a known status", id="unknown-key-status"),
        pytest.param(set_attr("tls_keys.0.status", 99), "not a known status", id="unknown-tls-status"),
        pytest.param(duplicate_signing_key, "duplicate key ids", id="duplicate-key-id"),
        pytest.param(short_encryption_key, "expected 1216 bytes", id="encryption-key-length"),
        pytest.param(short_signing_key, "must be 32 bytes", id="signing-key-length"),
    ],
)
def test_node_invariant_violations_are_refused(world: World, edit: EntryEdit, message: str) -> None:
    """Each broken node invariant is a VerificationError saying which rule was broken."""
    with pytest.raises(VerificationError, match=message):
        NodeInfo.from_proto(world.entry(edit=edit))


@pytest.mark.parametrize("endpoint", ["gr.example.org:7401", "127.0.0.1:1", "[2001:db8::1]:7401"])
def test_valid_endpoints_are_accepted(world: World, endpoint: str) -> None:
    """Host names, IPv4 and bracketed IPv6 literals with a port are valid endpoints."""
    assert NodeInfo.from_proto(world.entry(edit=set_attr("endpoint", endpoint))).endpoint == endpoint


def test_revoked_tls_key_is_not_trusted(world: World) -> None:
    """A revoked TLS key stays listed but maps to no node and is left out of the trust store."""
    old = generate_tls_identity(GR, now=NOW)

    def add_revoked(entry: directory_pb2.NodeEntry) -> None:
        entry.tls_keys.append(
            directory_pb2.TlsKey(
                spki_sha256=old.pin, certificate_der=old.certificate_der, status=directory_pb2.KEY_STATUS_REVOKED
            )
        )

    directory = world.load(world.document([world.entry(GR, add_revoked), world.entry(AL)]))
    gr = directory.node(GR)
    assert gr is not None
    assert len(gr.tls_keys) == 2
    assert directory.node_for_pin(old.pin) is None
    assert directory.node_for_pin(world.keys[GR].tls.pin) == GR
    revoked_pem = certificate_der_to_pem(old.certificate_der)
    assert revoked_pem not in gr.certificates_pem()
    assert revoked_pem not in directory.trust_store_pem()
    assert world.keys[GR].tls.certificate_pem in directory.trust_store_pem()


# --- Key validity ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("not_before", "not_after", "status", "at", "valid"),
    [
        pytest.param(0, 0, KeyStatus.ACTIVE, NOW_MS, True, id="open-window"),
        pytest.param(NOW_MS, 0, KeyStatus.ACTIVE, NOW_MS, True, id="at-not-before"),
        pytest.param(NOW_MS, 0, KeyStatus.ACTIVE, NOW_MS - 1, False, id="before-not-before"),
        pytest.param(0, NOW_MS, KeyStatus.ACTIVE, NOW_MS - 1, True, id="before-not-after"),
        pytest.param(0, NOW_MS, KeyStatus.ACTIVE, NOW_MS, False, id="at-not-after"),
        pytest.param(0, 0, KeyStatus.REVOKED, NOW_MS, False, id="revoked"),
        pytest.param(0, 0, KeyStatus.RETIRED, NOW_MS, True, id="retired"),
        pytest.param(0, 0, KeyStatus.NEXT, NOW_MS, True, id="next"),
        pytest.param(NOW_MS - 1, NOW_MS + 1, KeyStatus.REVOKED, NOW_MS, False, id="revoked-in-window"),
    ],
)
def test_key_valid_at(not_before: int, not_after: int, status: KeyStatus, at: int, valid: bool) -> None:
    """A key is usable when not revoked and inside [not_before, not_after), where 0 leaves a side open."""
    key = KeyInfo("k", ED25519, bytes(32), not_before, not_after, status)
    assert key.valid_at(at) is valid


@pytest.mark.parametrize(
    ("status", "for_evidence", "for_new_messages"),
    [
        pytest.param(KeyStatus.ACTIVE, True, True, id="active"),
        pytest.param(KeyStatus.NEXT, True, True, id="next"),
        pytest.param(KeyStatus.RETIRED, True, False, id="retired"),
        pytest.param(KeyStatus.REVOKED, False, False, id="revoked"),
    ],
)
def test_retired_keys_count_only_as_evidence(
    world: World, status: KeyStatus, for_evidence: bool, for_new_messages: bool
) -> None:
    """A RETIRED signing key still verifies evidence (receipts) but signs no new message; REVOKED does neither."""
    key_id = world.keys[GR].signer.key_id
    key = KeyInfo("k", ED25519, bytes(32), 0, 0, status)
    assert key.valid_at(NOW_MS, allow_retired=True) is for_evidence
    assert key.valid_at(NOW_MS, allow_retired=False) is for_new_messages

    def set_status(entries: list[directory_pb2.NodeEntry]) -> list[directory_pb2.NodeEntry]:
        for entry in entries:
            for k in entry.signing_keys:
                k.status = status.value
        return entries

    directory = world.load(world.document(set_status(list(world.copies().values()))))
    assert (directory.evidence_key(GR, key_id, NOW_MS) is not None) is for_evidence
    assert (directory.signing_key(GR, key_id, NOW_MS) is not None) is for_new_messages


def encryption_entry(
    key: EncryptionPrivateKey, status: KeyStatus, not_before: int = 0, not_after: int = 0
) -> directory_pb2.PublicKeyEntry:
    return directory_pb2.PublicKeyEntry(
        key_id=key.key_id,
        algorithm=HYBRID_KEM,
        public_key=key.public.public_key,
        not_before_ms=not_before,
        not_after_ms=not_after,
        status=status.value,
    )


def test_active_encryption_key_prefers_the_latest_valid_active_key(world: World) -> None:
    """Senders encrypt to the ACTIVE key with the latest start that is valid now; NEXT and REVOKED are never chosen."""
    current_id = world.entries[GR].encryption_keys[0].key_id
    rotated, upcoming, revoked, ended = (EncryptionPrivateKey.generate() for _ in range(4))

    def add_keys(entry: directory_pb2.NodeEntry) -> None:
        entry.encryption_keys.extend(
            [
                encryption_entry(rotated, KeyStatus.ACTIVE, not_before=NOW_MS + HOUR_MS),
                encryption_entry(upcoming, KeyStatus.NEXT, not_before=NOW_MS + 2 * HOUR_MS),
                encryption_entry(revoked, KeyStatus.REVOKED, not_before=NOW_MS + 3 * HOUR_MS),
                encryption_entry(ended, KeyStatus.ACTIVE, not_before=NOW_MS - HOUR_MS, not_after=NOW_MS),
            ]
        )

    node = NodeInfo.from_proto(world.entry(edit=add_keys))

    def chosen(at_ms: int) -> str | None:
        key = node.active_encryption_key(at_ms)
        return None if key is None else key.key_id

    assert chosen(NOW_MS - 1) == ended.key_id
    assert chosen(NOW_MS) == current_id
    assert chosen(NOW_MS + HOUR_MS) == rotated.key_id
    assert chosen(NOW_MS + 4 * HOUR_MS) == rotated.key_id
    active = node.active_encryption_key(NOW_MS + HOUR_MS)
    assert active is not None
    assert active.public_key == rotated.public.public_key


def test_no_active_encryption_key_gives_none(world: World) -> None:
    """A node whose only encryption key is retired has no key to encrypt to."""
    node = NodeInfo.from_proto(world.entry(edit=set_attr("encryption_keys.0.status", KeyStatus.RETIRED)))
    assert node.active_encryption_key(NOW_MS) is None


@pytest.mark.parametrize(
    ("field", "value", "at"),
    [
        pytest.param("status", KeyStatus.REVOKED, NOW_MS, id="revoked"),
        pytest.param("not_before_ms", NOW_MS + 1, NOW_MS, id="not-yet-valid"),
        pytest.param("not_after_ms", NOW_MS, NOW_MS, id="ended"),
    ],
)
def test_signing_verifier_withheld_outside_validity(world: World, field: str, value: int, at: int) -> None:
    """No verifier is handed out for a revoked key or outside its window."""
    key_id = world.keys[GR].signer.key_id
    node = NodeInfo.from_proto(world.entry(edit=set_attr(f"signing_keys.0.{field}", value)))
    for allow_retired in (True, False):
        assert node.signing_verifier(key_id, at, allow_retired=allow_retired) is None
        assert node.signing_verifier("unknown", NOW_MS, allow_retired=allow_retired) is None


# --- Trust root and entry exports ------------------------------------------------------------


@pytest.mark.parametrize("threshold", [0, 2])
def test_trust_root_threshold_must_be_reachable(world: World, threshold: int) -> None:
    """A trust root needs 1 ≤ threshold ≤ number of keys."""
    with pytest.raises(ConfigError, match="between 1 and the 1 trusted key"):
        trust_of(world.admin, threshold=threshold)


def test_check_entry_export_returns_the_signed_entry(world: World) -> None:
    """A node's own export passes and yields exactly the entry it signed."""
    export = node_entry_export(world.keys[AL], state="AL", institution="SHSS", endpoint="127.0.0.1:2", languages=["sq"])
    entry = check_entry_export(export)
    assert entry.SerializeToString() == export.entry_bytes
    assert entry.node_id == AL


def test_check_entry_export_refuses_garbage(world: World) -> None:
    """entry_bytes that do not parse are refused."""
    export = directory_pb2.NodeEntryExport(entry_bytes=b"\xff\xff\xff")
    with pytest.raises(VerificationError, match="not a NodeEntry"):
        check_entry_export(export)


def test_check_entry_export_malformed_key_is_a_verification_error(world: World) -> None:
    """An export listing a malformed signing key is refused as a verification failure, like any bad proof."""
    export = node_entry_export(world.keys[GR], state="GR", institution="EKKA", endpoint="127.0.0.1:1", languages=[])
    entry = directory_pb2.NodeEntry.FromString(export.entry_bytes)
    entry.signing_keys[0].public_key = bytes(31)
    export.entry_bytes = entry.SerializeToString()
    with pytest.raises(VerificationError):
        check_entry_export(export)


def test_build_directory_refuses_duplicate_node_ids(world: World) -> None:
    """The builder refuses a document that every node would refuse (two entries with one node id)."""
    with pytest.raises(VerificationError, match="appears twice"):
        build_directory([world.entry(GR), world.entry(GR)], version=1, issued_at_ms=NOW_MS, expires_at_ms=EXPIRES)


def test_node_id_with_trailing_newline_is_refused(world: World) -> None:
    """A node id is a DNS label only: a trailing newline is refused."""
    with pytest.raises(VerificationError, match="node id"):
        NodeInfo.from_proto(world.entry(edit=set_attr("node_id", "gr-ekka\n")))


def test_message_signature_is_not_a_directory_signature(world: World) -> None:
    """Signatures made for another purpose over the directory bytes do not count (domain separation)."""
    signed = build_directory([world.entry()], version=1, issued_at_ms=NOW_MS, expires_at_ms=EXPIRES)
    doc = directory_pb2.SignedDocument(signed=signed, signatures=world.admin.sign(Context.MESSAGE, signed))
    with pytest.raises(VerificationError, match="0 valid signature"):
        world.load(doc.SerializeToString())
