"""The directory model (directory.model) and entry exports (directory.build): the invariants a node relies on.

The trust rules that decide which documents become a directory (rollback, freeze, expiry,
thresholds, who may sign what) are in ``test_directory_trust.py``; here the model is built
from a real network's entries, directly with ``Directory.build`` where only the model matters.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from directory import (
    AgreementInfo,
    AgreementStatus,
    Directory,
    KeyInfo,
    KeyStatus,
    NodeInfo,
    check_entry_export,
)
from focalpoint.crypto.signing import Context, key_id_for
from focalpoint.crypto.suite import EncryptionPrivateKey
from focalpoint.crypto.tlsid import TlsIdentity, certificate_der_to_pem, generate_tls_identity
from focalpoint.errors import VerificationError
from focalpoint.localnet import NodeSpec
from focalpoint.server.provision import node_entry_export
from focalpoint.v1 import codes_pb2, common_pb2, directory_pb2
from tests.support.dirworld import EntryEdit, World, directory_of, make_world

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
NOW_MS = int(NOW.timestamp() * 1000)
HOUR_MS = 3600 * 1000
GR, AL = "gr-ekka", "al-shss"
ED25519 = common_pb2.KEY_ALGORITHM_ED25519
HYBRID_KEM = common_pb2.KEY_ALGORITHM_ML_KEM_768_X25519
REQUEST, REPORT = "social_inquiry_request", "social_inquiry_report"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Two nodes of two States, published through a real repository with an agreement between them."""
    return make_world(tmp_path_factory.mktemp("net"), [NodeSpec(GR, "GR", "EKKA"), NodeSpec(AL, "AL", "SHSS")], now=NOW)


@pytest.fixture(scope="module")
def spare_tls() -> TlsIdentity:
    """A TLS identity no node lists (a rotated-out or a second certificate)."""
    return generate_tls_identity(GR, now=NOW)


def tls_key(identity: TlsIdentity, status: KeyStatus) -> directory_pb2.TlsKey:
    return directory_pb2.TlsKey(spki_sha256=identity.pin, certificate_der=identity.certificate_der, status=status.value)


# --- A published directory ---------------------------------------------------------------------


def test_published_directory_lists_nodes_states_and_agreements(world: World) -> None:
    """The network's bundle, verified from root 1, holds both nodes, both State entries and their agreement."""
    directory = world.load()
    assert directory.version == world.net.version
    assert set(directory.nodes) == {GR, AL}
    assert set(directory.states) == {"GR", "AL"}
    assert set(directory.agreements) == {"AL-GR"}
    gr = directory.node(GR)
    assert gr is not None
    assert (gr.state, gr.institution) == ("GR", "EKKA")


def test_directory_lookups(world: World) -> None:
    """A loaded directory answers node, key and pin lookups, and None for anything it does not list."""
    directory = world.load()
    gr_signer = world.keys[GR].signer
    assert directory.knows(GR)
    assert not directory.knows("xx-nobody")
    assert directory.node("xx-nobody") is None
    assert directory.signing_key(GR, gr_signer.key_id, NOW_MS) == gr_signer.verifier()
    assert directory.signing_key(AL, gr_signer.key_id, NOW_MS) is None
    assert directory.signing_key("xx-nobody", gr_signer.key_id, NOW_MS) is None
    assert directory.evidence_key("xx-nobody", gr_signer.key_id, NOW_MS) is None
    assert directory.node_for_pin(world.keys[GR].tls.pin) == GR
    assert directory.node_for_pin(bytes(32)) is None
    assert directory.trust_store_pem(exclude=GR) == world.keys[AL].tls.certificate_pem


def test_republished_entry_edit_reaches_the_loaded_directory(world: World) -> None:
    """An entry edited and re-signed by its State's administrators is what the next verified version holds."""

    def rename(entries: dict[str, directory_pb2.NodeEntry]) -> None:
        entries[AL].institution = "SHSS regional office"

    before = world.load()
    edited = world.republish(rename)
    node = edited.node(AL)
    assert node is not None
    assert node.institution == "SHSS regional office"
    assert edited.version > before.version
    assert edited.states["AL"].version > before.states["AL"].version
    assert edited.states["GR"].version == before.states["GR"].version
    restored = world.load().node(AL)
    assert restored is not None
    assert restored.institution == "SHSS"


# --- Directory.build: ids and pins are unique ----------------------------------------------------


def test_duplicate_node_ids_are_refused(world: World) -> None:
    """Two entries with the same node id are refused."""
    with pytest.raises(VerificationError, match="appears twice"):
        directory_of([world.entry(GR), world.entry(GR)])


@pytest.mark.parametrize("owner_first", [True, False], ids=["owner-first", "thief-first"])
@pytest.mark.parametrize(
    ("owner_status", "thief_status"),
    [
        pytest.param(KeyStatus.ACTIVE, KeyStatus.ACTIVE, id="both-active"),
        pytest.param(KeyStatus.ACTIVE, KeyStatus.REVOKED, id="thief-copy-revoked"),
        pytest.param(KeyStatus.REVOKED, KeyStatus.ACTIVE, id="owner-copy-revoked"),
        pytest.param(KeyStatus.REVOKED, KeyStatus.REVOKED, id="both-revoked"),
    ],
)
def test_tls_key_shared_between_nodes_is_refused(
    world: World, spare_tls: TlsIdentity, owner_status: KeyStatus, thief_status: KeyStatus, owner_first: bool
) -> None:
    """Two nodes may not list the same TLS key, whatever its status in either and in whatever order.

    The pin decides who a peer is; a pin revoked for one node must not become live for another.
    """
    shared = world.keys[GR].tls

    def owner_edit(entry: directory_pb2.NodeEntry) -> None:
        entry.tls_keys[0].status = owner_status.value
        entry.tls_keys.append(tls_key(spare_tls, KeyStatus.ACTIVE))  # GR keeps an active key

    def thief_edit(entry: directory_pb2.NodeEntry) -> None:
        entry.tls_keys.append(tls_key(shared, thief_status))

    owner, thief = world.entry(GR, owner_edit), world.entry(AL, thief_edit)
    entries = [owner, thief] if owner_first else [thief, owner]
    with pytest.raises(VerificationError, match="reuses another node's TLS key"):
        directory_of(entries)


def test_revoked_tls_key_is_not_trusted(world: World, spare_tls: TlsIdentity) -> None:
    """A revoked TLS key stays listed but maps to no node and is left out of the trust store."""
    directory = directory_of(
        [world.entry(GR, lambda e: e.tls_keys.append(tls_key(spare_tls, KeyStatus.REVOKED))), world.entry(AL)]
    )
    gr = directory.node(GR)
    assert gr is not None
    assert len(gr.tls_keys) == 2
    assert directory.node_for_pin(spare_tls.pin) is None
    assert directory.node_for_pin(world.keys[GR].tls.pin) == GR
    revoked_pem = certificate_der_to_pem(spare_tls.certificate_der)
    assert revoked_pem not in gr.certificates_pem()
    assert revoked_pem not in directory.trust_store_pem()
    assert world.keys[GR].tls.certificate_pem in directory.trust_store_pem()


def test_second_active_tls_key_is_trusted(world: World, spare_tls: TlsIdentity) -> None:
    """During a certificate rotation both ACTIVE (and NEXT) pins map to the node and both are in the trust store."""
    directory = directory_of([world.entry(GR, lambda e: e.tls_keys.append(tls_key(spare_tls, KeyStatus.NEXT)))])
    assert directory.node_for_pin(spare_tls.pin) == GR
    assert directory.node_for_pin(world.keys[GR].tls.pin) == GR
    assert certificate_der_to_pem(spare_tls.certificate_der) in directory.trust_store_pem()


# --- NodeInfo.from_proto: the node invariants ----------------------------------------------------


def set_attr(path: str, value: object) -> EntryEdit:
    """Set a dotted attribute path on the entry, e.g. ``signing_keys.0.key_id``."""

    def edit(entry: directory_pb2.NodeEntry) -> None:
        *parents, name = path.split(".")
        target: Any = entry
        for part in parents:
            target = target[int(part)] if part.isdigit() else getattr(target, part)
        setattr(target, name, value)

    return edit


def duplicate_tls_pin_revoked(entry: directory_pb2.NodeEntry) -> None:
    """The same TLS key listed twice, once ACTIVE and once REVOKED."""
    copy = entry.tls_keys.add()
    copy.CopyFrom(entry.tls_keys[0])
    copy.status = directory_pb2.KEY_STATUS_REVOKED


def duplicate_signing_key(entry: directory_pb2.NodeEntry) -> None:
    entry.signing_keys.append(entry.signing_keys[0])


def duplicate_encryption_key(entry: directory_pb2.NodeEntry) -> None:
    entry.encryption_keys.append(entry.encryption_keys[0])


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


def no_tls_keys(entry: directory_pb2.NodeEntry) -> None:
    del entry.tls_keys[:]


def add_language(tag: str) -> EntryEdit:
    def edit(entry: directory_pb2.NodeEntry) -> None:
        entry.languages.append(tag)

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param(set_attr("node_id", "GR-EKKA"), "node id must be a lowercase DNS label", id="id-uppercase"),
        pytest.param(set_attr("node_id", "gr_ekka"), "node id must be a lowercase DNS label", id="id-underscore"),
        pytest.param(set_attr("node_id", "-gr"), "node id must be a lowercase DNS label", id="id-leading-dash"),
        pytest.param(set_attr("node_id", ""), "node id must be a lowercase DNS label", id="id-empty"),
        pytest.param(set_attr("node_id", "a" * 64), "node id must be a lowercase DNS label", id="id-too-long"),
        pytest.param(set_attr("node_id", "gr-ekka\n"), "node id must be a lowercase DNS label", id="id-newline"),
        pytest.param(set_attr("state", "gr"), "state 'gr': expected an ISO 3166-1 alpha-2", id="state-lowercase"),
        pytest.param(set_attr("state", "GRC"), "state 'GRC': expected an ISO 3166-1 alpha-2", id="state-alpha-3"),
        pytest.param(set_attr("state", "GR\n"), "expected an ISO 3166-1 alpha-2", id="state-newline"),
        pytest.param(set_attr("state", "UK"), "state 'UK': expected an officially assigned", id="state-UK"),
        pytest.param(set_attr("state", "ZZ"), "state 'ZZ': .*user-assigned", id="state-ZZ"),
        pytest.param(
            add_language("en_GB"), "languages: 'en_GB': expected a BCP 47 .*not well formed", id="lang-underscore"
        ),
        pytest.param(add_language("xx"), "languages: 'xx': expected a BCP 47 .*unregistered", id="lang-unregistered"),
        pytest.param(add_language("en-UK"), "languages: 'en-UK': .*unregistered", id="lang-UK-region"),
        pytest.param(set_attr("tls_keys.0.certificate_der", b"junk"), "not valid DER X.509", id="certificate-junk"),
        pytest.param(set_attr("endpoint", "localhost"), "endpoint must be host:port", id="endpoint-no-port"),
        pytest.param(set_attr("endpoint", "127.0.0.1:0"), r"port in \[1, 65535\]", id="endpoint-port-0"),
        pytest.param(set_attr("endpoint", "127.0.0.1:65536"), r"port in \[1, 65535\]", id="endpoint-port-65536"),
        pytest.param(set_attr("endpoint", "127.0.0.1:123456"), r"port in \[1, 65535\]", id="endpoint-port-6-digits"),
        pytest.param(set_attr("endpoint", "127.0.0.1:-1"), r"port in \[1, 65535\]", id="endpoint-port-negative"),
        pytest.param(set_attr("tls_keys.0.spki_sha256", bytes(32)), "TLS pin does not match", id="pin-mismatch"),
        pytest.param(set_attr("tls_keys.0.status", KeyStatus.REVOKED), "no active TLS key", id="no-active-tls"),
        pytest.param(set_attr("tls_keys.0.status", KeyStatus.NEXT), "no active TLS key", id="only-next-tls"),
        pytest.param(no_tls_keys, "no active TLS key", id="no-tls"),
        pytest.param(set_attr("signing_keys.0.key_id", "0" * 32), "does not match its public key", id="signing-key-id"),
        pytest.param(
            set_attr("encryption_keys.0.key_id", "0" * 32), "does not match its public key", id="encryption-key-id"
        ),
        pytest.param(set_attr("signing_keys.0.algorithm", HYBRID_KEM), "has algorithm", id="signing-algorithm"),
        pytest.param(signing_key_as_encryption_key, "has algorithm", id="encryption-algorithm"),
        pytest.param(set_attr("signing_keys.0.status", 99), "not a known status", id="unknown-key-status"),
        pytest.param(set_attr("tls_keys.0.status", 99), "not a known status", id="unknown-tls-status"),
        pytest.param(duplicate_tls_pin_revoked, "duplicate TLS pins", id="duplicate-tls-pin"),
        pytest.param(duplicate_signing_key, "duplicate key ids", id="duplicate-signing-key-id"),
        pytest.param(duplicate_encryption_key, "duplicate key ids", id="duplicate-encryption-key-id"),
        pytest.param(short_encryption_key, "expected 1216 bytes", id="encryption-key-length"),
        pytest.param(short_signing_key, "must be 32 bytes", id="signing-key-length"),
    ],
)
def test_node_invariant_violations_are_refused(world: World, edit: EntryEdit, message: str) -> None:
    """Each broken node invariant is a VerificationError saying which rule was broken."""
    with pytest.raises(VerificationError, match=message):
        NodeInfo.from_proto(world.entry(GR, edit))


@pytest.mark.parametrize(
    "endpoint", ["gr.example.org:7401", "127.0.0.1:1", "127.0.0.1:65535", "[2001:db8::1]:7401", "localhost:443"]
)
def test_valid_endpoints_are_accepted(world: World, endpoint: str) -> None:
    """Host names, IPv4 and bracketed IPv6 literals with a port in [1, 65535] are valid endpoints."""
    assert NodeInfo.from_proto(world.entry(GR, set_attr("endpoint", endpoint))).endpoint == endpoint


def test_valid_entry_becomes_a_node(world: World) -> None:
    """A published entry converts field by field, with its keys indexed by key id."""
    node = NodeInfo.from_proto(world.entry(GR))
    assert (node.node_id, node.state, node.institution) == (GR, "GR", "EKKA")
    assert node.endpoint == world.entries[GR].endpoint
    assert set(node.signing_keys) == {world.keys[GR].signer.key_id}
    assert set(node.encryption_keys) == set(world.keys[GR].decryption_keys)
    assert [t.spki_sha256 for t in node.tls_keys] == [world.keys[GR].tls.pin]


# --- Key validity ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("not_before", "not_after", "status", "at", "allow_retired", "valid"),
    [
        pytest.param(0, 0, KeyStatus.ACTIVE, NOW_MS, True, True, id="open-window"),
        pytest.param(NOW_MS, 0, KeyStatus.ACTIVE, NOW_MS, True, True, id="at-not-before"),
        pytest.param(NOW_MS, 0, KeyStatus.ACTIVE, NOW_MS - 1, True, False, id="before-not-before"),
        pytest.param(0, NOW_MS, KeyStatus.ACTIVE, NOW_MS - 1, True, True, id="before-not-after"),
        pytest.param(0, NOW_MS, KeyStatus.ACTIVE, NOW_MS, True, False, id="at-not-after"),
        pytest.param(0, 0, KeyStatus.REVOKED, NOW_MS, True, False, id="revoked"),
        pytest.param(0, 0, KeyStatus.RETIRED, NOW_MS, True, True, id="retired-as-evidence"),
        pytest.param(0, 0, KeyStatus.NEXT, NOW_MS, True, True, id="next"),
        pytest.param(NOW_MS - 1, NOW_MS + 1, KeyStatus.REVOKED, NOW_MS, True, False, id="revoked-in-window"),
        pytest.param(0, 0, KeyStatus.ACTIVE, NOW_MS, False, True, id="active-new-message"),
        pytest.param(0, 0, KeyStatus.NEXT, NOW_MS, False, True, id="next-new-message"),
        pytest.param(0, 0, KeyStatus.RETIRED, NOW_MS, False, False, id="retired-open-window-new-message"),
        pytest.param(0, NOW_MS + 1, KeyStatus.RETIRED, NOW_MS, False, True, id="retired-before-retirement-time"),
        pytest.param(0, NOW_MS, KeyStatus.RETIRED, NOW_MS, False, False, id="retired-at-retirement-time"),
        pytest.param(0, NOW_MS, KeyStatus.RETIRED, NOW_MS, True, False, id="retired-evidence-after-window"),
        pytest.param(NOW_MS - 1, NOW_MS + 1, KeyStatus.REVOKED, NOW_MS, False, False, id="revoked-new-message"),
    ],
)
def test_key_valid_at(
    not_before: int, not_after: int, status: KeyStatus, at: int, allow_retired: bool, valid: bool
) -> None:
    """Usable unless revoked, inside [not_before, not_after) (0 = open); RETIRED signs only before its not_after."""
    key = KeyInfo("k", ED25519, bytes(32), not_before, not_after, status)
    assert key.valid_at(at, allow_retired=allow_retired) is valid


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
    """evidence_key accepts a RETIRED signing key (receipts), signing_key only ACTIVE or NEXT; REVOKED neither."""
    signer = world.keys[GR].signer
    directory = directory_of([world.entry(GR, set_attr("signing_keys.0.status", status.value))])
    evidence = directory.evidence_key(GR, signer.key_id, NOW_MS)
    new_message = directory.signing_key(GR, signer.key_id, NOW_MS)
    assert (evidence is not None) is for_evidence
    assert (new_message is not None) is for_new_messages
    if evidence is not None:
        assert evidence == signer.verifier()


@pytest.mark.parametrize(
    ("field", "value", "at"),
    [
        pytest.param("status", KeyStatus.REVOKED, NOW_MS, id="revoked"),
        pytest.param("not_before_ms", NOW_MS + 1, NOW_MS, id="not-yet-valid"),
        pytest.param("not_after_ms", NOW_MS, NOW_MS, id="ended"),
    ],
)
def test_signing_verifier_withheld_outside_validity(world: World, field: str, value: int, at: int) -> None:
    """No verifier is handed out for a revoked key, outside its window, or for an unknown key id."""
    key_id = world.keys[GR].signer.key_id
    unedited = NodeInfo.from_proto(world.entry(GR))
    node = NodeInfo.from_proto(world.entry(GR, set_attr(f"signing_keys.0.{field}", value)))
    for allow_retired in (True, False):
        assert unedited.signing_verifier(key_id, at, allow_retired=allow_retired) is not None
        assert node.signing_verifier(key_id, at, allow_retired=allow_retired) is None
        assert node.signing_verifier("unknown", NOW_MS, allow_retired=allow_retired) is None


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

    node = NodeInfo.from_proto(world.entry(GR, add_keys))

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


@pytest.mark.parametrize("status", [KeyStatus.RETIRED, KeyStatus.NEXT, KeyStatus.REVOKED], ids=lambda s: s.name)
def test_no_active_encryption_key_gives_none(world: World, status: KeyStatus) -> None:
    """A node whose only encryption key is not ACTIVE has no key to encrypt to."""
    node = NodeInfo.from_proto(world.entry(GR, set_attr("encryption_keys.0.status", status.value)))
    assert node.active_encryption_key(NOW_MS) is None


# --- Agreements --------------------------------------------------------------------------------------


def agreement(
    agreement_id: str = "AL-GR-2006",
    *,
    parties: tuple[str, ...] = ("AL", "GR"),
    status: AgreementStatus = AgreementStatus.IN_FORCE,
    kinds: tuple[str, ...] = (REQUEST, REPORT),
) -> AgreementInfo:
    return AgreementInfo(
        agreement_id=agreement_id,
        version=1,
        title=f"Agreement {agreement_id}",
        parties=frozenset(parties),
        status=status,
        kinds=frozenset(kinds),
        deadlines={REQUEST: 30},
        working_languages=("en",),
        return_costs=codes_pb2.RETURN_COSTS_SHARED,
    )


def with_agreements(world: World, *agreements: AgreementInfo) -> Directory:
    return directory_of(world.copies().values(), agreements={a.agreement_id: a for a in agreements})


@pytest.mark.parametrize(
    ("state_a", "state_b", "kind", "covered"),
    [
        pytest.param("GR", "AL", REQUEST, True, id="covered"),
        pytest.param("AL", "GR", REPORT, True, id="either-direction"),
        pytest.param("GR", "AL", "case_closure", False, id="kind-not-covered"),
        pytest.param("GR", "IT", REQUEST, False, id="other-pair"),
        pytest.param("GR", "GR", REQUEST, False, id="same-state"),
    ],
)
def test_agreement_in_force_covers_its_kinds_between_its_parties(
    world: World, state_a: str, state_b: str, kind: str, covered: bool
) -> None:
    """An agreement IN FORCE covers exactly its kinds between its parties, in either direction."""
    bilateral = agreement()
    found = with_agreements(world, bilateral).agreement_covering(state_a, state_b, kind)
    assert found == (bilateral if covered else None)


@pytest.mark.parametrize(("state_a", "state_b"), [("AL", "GR"), ("GR", "IT"), ("IT", "AL")])
def test_regional_agreement_covers_every_pair_of_its_parties(world: World, state_a: str, state_b: str) -> None:
    """An agreement among three States covers each of the three pairs."""
    regional = agreement("SEE-2008", parties=("AL", "GR", "IT"))
    directory = with_agreements(world, regional)
    assert directory.agreement_covering(state_a, state_b, REQUEST) == regional
    assert directory.agreement_covering(state_a, "XK", REQUEST) is None


@pytest.mark.parametrize(
    "status", [AgreementStatus.SIGNED, AgreementStatus.SUSPENDED, AgreementStatus.TERMINATED], ids=lambda s: s.name
)
def test_agreement_not_in_force_never_covers(world: World, status: AgreementStatus) -> None:
    """A signed, suspended or terminated agreement covers nothing; one in force beside it still does."""
    alone = with_agreements(world, agreement(status=status))
    beside_one_in_force = with_agreements(
        world, agreement(status=status), agreement("SEE-2008", parties=("AL", "GR", "IT"))
    )
    for kind in (REQUEST, REPORT):
        assert alone.agreement_covering("GR", "AL", kind) is None
        found = beside_one_in_force.agreement_covering("GR", "AL", kind)
        assert found is not None
        assert found.agreement_id == "SEE-2008"


def test_no_agreements_covers_nothing(world: World) -> None:
    """A directory without agreements covers no pair."""
    assert directory_of(world.copies().values()).agreement_covering("GR", "AL", REQUEST) is None


def test_published_agreement_covers_every_kind(world: World) -> None:
    """localnet's agreement between the two States reaches the loaded directory and is in force."""
    directory = world.load()
    found = directory.agreement_covering("GR", "AL", REQUEST)
    assert found is not None
    assert found.agreement_id == "AL-GR"
    assert found.status is AgreementStatus.IN_FORCE
    assert found.parties == {"AL", "GR"}


# --- Entry exports ---------------------------------------------------------------------------------


def export_of(world: World, node_id: str = AL, **overrides: Any) -> directory_pb2.NodeEntryExport:
    args: dict[str, Any] = {"state": "AL", "institution": "SHSS", "endpoint": "127.0.0.1:2", "languages": ["sq"]}
    args.update(overrides)
    return node_entry_export(world.keys[node_id], **args)


def test_check_entry_export_returns_the_signed_entry(world: World) -> None:
    """A node's own export passes and yields exactly the entry it signed."""
    export = export_of(world)
    entry = check_entry_export(export)
    assert entry.SerializeToString() == export.entry_bytes
    assert entry.node_id == AL


def test_check_entry_export_refuses_garbage(world: World) -> None:
    """entry_bytes that do not parse are refused."""
    export = directory_pb2.NodeEntryExport(entry_bytes=b"\xff\xff\xff")
    with pytest.raises(VerificationError, match="not a NodeEntry"):
        check_entry_export(export)


def test_check_entry_export_refuses_tampered_entry(world: World) -> None:
    """An entry changed after the node signed it (here: the endpoint) is refused."""
    export = export_of(world)
    entry = directory_pb2.NodeEntry.FromString(export.entry_bytes)
    entry.endpoint = "203.0.113.7:7401"
    export.entry_bytes = entry.SerializeToString()
    with pytest.raises(VerificationError, match="does not verify"):
        check_entry_export(export)


def test_check_entry_export_refuses_proof_by_an_unlisted_key(world: World) -> None:
    """A proof signed by a key the entry does not list (another node's) is refused."""
    export = export_of(world)
    export.proof_of_possession.CopyFrom(world.keys[GR].signer.sign(Context.ENTRY_PROOF, export.entry_bytes))
    with pytest.raises(VerificationError, match="does not list"):
        check_entry_export(export)


def test_check_entry_export_refuses_another_key_under_the_listed_id(world: World) -> None:
    """A proof by another key that claims the listed key's id does not verify."""
    export = export_of(world)
    forged = world.keys[GR].signer.sign(Context.ENTRY_PROOF, export.entry_bytes)
    forged.key_id = world.keys[AL].signer.key_id
    export.proof_of_possession.CopyFrom(forged)
    with pytest.raises(VerificationError, match="does not verify"):
        check_entry_export(export)


def test_check_entry_export_refuses_proof_for_another_purpose(world: World) -> None:
    """A signature the node made for a message over the same bytes is not a proof (domain separation)."""
    export = export_of(world)
    export.proof_of_possession.CopyFrom(world.keys[AL].signer.sign(Context.MESSAGE, export.entry_bytes))
    with pytest.raises(VerificationError, match="does not verify"):
        check_entry_export(export)


def test_check_entry_export_malformed_key_is_a_verification_error(world: World) -> None:
    """An export listing a malformed signing key is refused as a verification failure, like any bad proof."""
    export = export_of(world, GR, state="GR", institution="EKKA", endpoint="127.0.0.1:1", languages=[])
    entry = directory_pb2.NodeEntry.FromString(export.entry_bytes)
    entry.signing_keys[0].public_key = bytes(31)
    export.entry_bytes = entry.SerializeToString()
    with pytest.raises(VerificationError, match="32 bytes"):
        check_entry_export(export)


def test_check_entry_export_refuses_a_signed_entry_breaking_an_invariant(world: World) -> None:
    """A correctly signed entry that no node would accept (a State that is not alpha-2) is still refused."""
    export = export_of(world, state="Albania")
    with pytest.raises(VerificationError, match="ISO 3166-1 alpha-2"):
        check_entry_export(export)
