"""The TUF-style directory: every acceptance rule (R1–R6, B1–B7) on real signed documents."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from directory.health import directory_health
from directory.model import KindDeadline
from directory.publish import (
    add_signatures,
    agreement_document,
    bundle,
    root_document,
    sign,
    state_document,
    timestamp_document,
)
from directory.trust import TrustedDirectory, canonical_document, parse_signed
from focalpoint.crypto.signing import AdminSigner, Context
from focalpoint.errors import VerificationError
from focalpoint.server.provision import init_node_dir
from focalpoint.v1 import codes_pb2, common_pb2, directory_pb2

NOW = 1_790_000_000_000
DAY = 86_400_000


@dataclass
class Admin:
    state: str
    signer: AdminSigner = field(default_factory=AdminSigner.generate)

    @property
    def key(self) -> directory_pb2.AdminKey:
        v = self.signer.verifier
        return directory_pb2.AdminKey(
            key_id=v.key_id,
            state=self.state,
            name=f"admin {self.state}",
            ed25519_public_key=v.ed25519_public_key,
            ml_dsa_65_public_key=v.ml_dsa_65_public_key,
        )


@dataclass
class World:
    """Administrators of GR (two, threshold 2), AL and IT; a timestamp key; a node per State."""

    gr1: Admin
    gr2: Admin
    al: Admin
    it: Admin
    ts: Admin
    nodes: dict[str, directory_pb2.NodeEntry]

    def root(self, version: int = 1, *, expires: int = NOW + 365 * DAY, **overrides: object) -> bytes:
        admins = [self.gr1, self.gr2, self.al, self.it, self.ts]
        args: dict[str, object] = {
            "version": version,
            "issued_at_ms": NOW - DAY,
            "expires_at_ms": expires,
            "keys": [a.key for a in admins],
            "root_key_ids": [self.gr1.signer.key_id, self.al.signer.key_id, self.it.signer.key_id],
            "root_threshold": 2,
            "root_min_states": 2,
            "timestamp_key_ids": [self.ts.signer.key_id],
            "timestamp_threshold": 1,
            "state_admins": {
                "GR": ([self.gr1.signer.key_id, self.gr2.signer.key_id], 2),
                "AL": ([self.al.signer.key_id], 1),
                "IT": ([self.it.signer.key_id], 1),
            },
        }
        args.update(overrides)
        return root_document(**args)  # type: ignore[arg-type]

    def signed_root(self, *signers: Admin, **kw: object) -> bytes:
        return sign(self.root(**kw), [a.signer for a in (signers or (self.gr1, self.al))])  # type: ignore[arg-type]

    def state(self, state: str, version: int = 1, *, signers: tuple[Admin, ...] | None = None, **kw: object) -> bytes:
        entry = directory_pb2.StateEntry(
            state=state,
            version=version,
            issued_at_ms=NOW - DAY,
            expires_at_ms=kw.pop("expires", NOW + 30 * DAY),  # type: ignore[arg-type]
            focal_point_designated=state != "IT",
            institutions=[
                directory_pb2.Institution(
                    id="fp", name=f"{state} focal point", kind=directory_pb2.INSTITUTION_KIND_NATIONAL_FOCAL_POINT
                )
            ],
            contact_points=[
                directory_pb2.ContactPoint(
                    id="duty",
                    institution_id="fp",
                    role="duty officer",
                    languages=["en"],
                    urgent_24_7=True,
                    email=f"duty@{state.lower()}.example",
                    last_verified=common_pb2.Date(year=2026, month=11, day=1),
                )
            ],
            nodes=kw.pop("nodes", [self.nodes[state]] if state in self.nodes else []),  # type: ignore[arg-type]
            code_list_version="2026.1",
        )
        default = {"GR": (self.gr1, self.gr2), "AL": (self.al,), "IT": (self.it,)}[state]
        return sign(state_document(entry), [a.signer for a in (signers or default)])

    def agreement(
        self,
        *,
        status: int = directory_pb2.AGREEMENT_STATUS_IN_FORCE,
        signers: tuple[Admin, ...] | None = None,
        parties: tuple[str, ...] = ("AL", "GR"),
        version: int = 1,
        expires: int = NOW + 365 * DAY,
    ) -> bytes:
        a = directory_pb2.Agreement(
            agreement_id="AL-GR-2006",
            version=version,
            issued_at_ms=NOW - DAY,
            expires_at_ms=expires,
            title="Agreement on the protection and assistance of children victims of trafficking",
            parties=parties,
            status=status,  # type: ignore[arg-type]
            kinds=["social_inquiry_request", "social_inquiry_report"],
            deadlines=[directory_pb2.KindDeadline(kind="social_inquiry_request", response_days=30)],
            working_languages=["en", "el", "sq"],
            return_costs=codes_pb2.RETURN_COSTS_SHARED,
        )
        return sign(agreement_document(a), [s.signer for s in (signers or (self.gr1, self.gr2, self.al))])

    def timestamp(
        self,
        version: int,
        *,
        root: bytes,
        states: list[bytes],
        agreements: list[bytes],
        expires: int = NOW + DAY,
        signer: Admin | None = None,
    ) -> bytes:
        signed = timestamp_document(
            version=version,
            issued_at_ms=NOW,
            expires_at_ms=expires,
            root=root,
            states=states,
            agreements=agreements,
        )
        return sign(signed, [(signer or self.ts).signer])

    def bundle(
        self,
        version: int = 1,
        *,
        roots: list[bytes] | None = None,
        states: list[bytes] | None = None,
        agreements: list[bytes] | None = None,
        listed_states: list[bytes] | None = None,
        **ts: object,
    ) -> directory_pb2.DirectoryBundle:
        roots = roots or [self.signed_root()]
        states = states if states is not None else [self.state("GR"), self.state("AL"), self.state("IT")]
        agreements = agreements if agreements is not None else [self.agreement()]
        timestamp = self.timestamp(
            version,
            root=roots[-1],
            states=listed_states if listed_states is not None else states,
            agreements=agreements,
            **ts,  # type: ignore[arg-type]
        )
        return bundle(roots=roots, timestamp=timestamp, states=states, agreements=agreements)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp: Path = tmp_path_factory.mktemp("trust")
    now = dt.datetime.fromtimestamp(NOW / 1000, dt.UTC)
    nodes = {}
    for i, (node_id, state) in enumerate((("gr-ekka", "GR"), ("al-shss", "AL"))):
        result = init_node_dir(
            tmp / node_id,
            node_id=node_id,
            state=state,
            institution=f"{state} focal point",
            endpoint=f"127.0.0.1:{7400 + i}",
            languages=["en"],
            passphrase=None,
            now=now,
        )
        nodes[state] = result.export.entry
    return World(Admin("GR"), Admin("GR"), Admin("AL"), Admin("IT"), Admin("ZZ"), nodes)


def trusted(world: World) -> TrustedDirectory:
    return TrustedDirectory(world.signed_root())


def refused(world: World, b: directory_pb2.DirectoryBundle, match: str, td: TrustedDirectory | None = None) -> None:
    td = td or trusted(world)
    before = {k: td.accepted_version(*k) for k in (("timestamp", ""), ("state", "GR"), ("root", ""))}
    with pytest.raises(VerificationError, match=match):
        td.update(b, now_ms=NOW)
    after = {k: td.accepted_version(*k) for k in before}
    assert before == after, "a refused bundle must change nothing"


def test_a_valid_bundle_gives_states_nodes_and_agreements(world: World) -> None:
    """The whole directory verifies: nodes of each State, a State without focal point, the agreement."""
    directory, fresh = trusted(world).update(world.bundle(), now_ms=NOW)
    assert directory.version == 1
    assert set(directory.nodes) == {"gr-ekka", "al-shss"}
    assert directory.states["IT"].focal_point_designated is False
    assert directory.states["GR"].entry.contact_points[0].urgent_24_7
    assert {(d.kind, d.name) for d in fresh} == {
        ("timestamp", ""),
        ("state", "GR"),
        ("state", "AL"),
        ("state", "IT"),
        ("agreement", "AL-GR-2006"),
    }
    agreement = directory.agreement_covering("GR", "AL", "social_inquiry_request")
    assert agreement is not None
    assert agreement.deadlines["social_inquiry_request"] == 30


@pytest.mark.parametrize(
    ("status", "kind", "pair", "covered"),
    [
        (directory_pb2.AGREEMENT_STATUS_IN_FORCE, "social_inquiry_report", ("AL", "GR"), True),
        (directory_pb2.AGREEMENT_STATUS_SIGNED, "social_inquiry_request", ("AL", "GR"), False),
        (directory_pb2.AGREEMENT_STATUS_SUSPENDED, "social_inquiry_request", ("AL", "GR"), False),
        (directory_pb2.AGREEMENT_STATUS_TERMINATED, "social_inquiry_request", ("AL", "GR"), False),
        (directory_pb2.AGREEMENT_STATUS_IN_FORCE, "case_closure", ("AL", "GR"), False),
        (directory_pb2.AGREEMENT_STATUS_IN_FORCE, "social_inquiry_request", ("IT", "GR"), False),
    ],
)
def test_only_an_agreement_in_force_covering_the_kind_counts(
    world: World, status: int, kind: str, pair: tuple[str, str], covered: bool
) -> None:
    """Signed-but-not-in-force, suspended, terminated, another kind or another pair: not covered."""
    directory, _ = trusted(world).update(world.bundle(agreements=[world.agreement(status=status)]), now_ms=NOW)
    assert (directory.agreement_covering(*pair, kind) is not None) is covered


def test_timestamp_rollback_is_refused(world: World) -> None:
    """After version 2 a node refuses version 1 of the timestamp."""
    td = trusted(world)
    td.update(world.bundle(2), now_ms=NOW)
    refused(world, world.bundle(1), "rollback", td)


def test_rollback_survives_a_restart(world: World) -> None:
    """Accepted versions handed back after a restart still stop an older timestamp."""
    td = TrustedDirectory(world.signed_root(), accepted={("timestamp", ""): 5})
    refused(world, world.bundle(4), "rollback", td)


def test_state_entry_rollback_is_refused(world: World) -> None:
    """A newer timestamp may not bring back an older State entry."""
    td = trusted(world)
    states_v2 = [world.state("GR", 2), world.state("AL"), world.state("IT")]
    td.update(world.bundle(1, states=states_v2), now_ms=NOW)
    refused(world, world.bundle(2), "state GR: version 1 is older than the accepted version 2", td)


def test_same_timestamp_version_with_other_content_is_refused(world: World) -> None:
    """Version N, once accepted, cannot later mean something else."""
    td = trusted(world)
    td.update(world.bundle(3), now_ms=NOW)
    refused(world, world.bundle(3, expires=NOW + 2 * DAY), "differs from the accepted timestamp", td)


def test_expired_timestamp_is_a_freeze(world: World) -> None:
    """A timestamp past its expiry is refused: the directory may be frozen."""
    refused(world, world.bundle(expires=NOW - 1), "frozen")


def test_an_expired_root_refuses_the_bundle(world: World) -> None:
    """The root's expiry stops everything: a new root must be published."""
    old_root = world.signed_root(expires=NOW - 1)
    refused(world, world.bundle(roots=[old_root]), "root version 1 has expired", TrustedDirectory(old_root))


def test_an_expired_state_entry_is_left_out_not_fatal(world: World) -> None:
    """GR's expired entry: the rest of the directory verifies; GR and its node are out, and named."""
    states = [world.state("GR", expires=NOW - 1), world.state("AL"), world.state("IT")]
    directory, _ = trusted(world).update(world.bundle(states=states), now_ms=NOW)
    assert "GR" not in directory.states
    assert set(directory.nodes) == {"al-shss"}
    assert directory.excluded == {"state entry GR version 1": "expired; GR's administrators must re-sign it"}


def test_an_expired_agreement_allows_nothing(world: World) -> None:
    """An expired agreement is left out: nothing is covered by it, and the reason is kept."""
    directory, _ = trusted(world).update(world.bundle(agreements=[world.agreement(expires=NOW - 1)]), now_ms=NOW)
    assert directory.agreement_covering("GR", "AL", "social_inquiry_request") is None
    assert list(directory.excluded) == ["agreement AL-GR-2006 version 1"]


def test_missing_threshold_is_refused(world: World) -> None:
    """GR needs both of its administrators; one signature is not enough."""
    states = [world.state("GR", signers=(world.gr1,)), world.state("AL"), world.state("IT")]
    refused(world, world.bundle(states=states), r"administrators of GR\): 1 valid signature.*threshold is 2")


def test_another_states_administrator_cannot_sign_an_entry(world: World) -> None:
    """AL's entry signed by GR's administrators (who do meet GR's threshold) is refused."""
    states = [world.state("GR"), world.state("AL", signers=(world.gr1, world.gr2)), world.state("IT")]
    refused(world, world.bundle(states=states), r"administrators of AL\): 0 valid")


def test_an_entry_cannot_list_a_node_of_another_state(world: World) -> None:
    """AL's administrators cannot publish a node that claims to be Greek."""
    states = [world.state("GR"), world.state("AL", nodes=[world.nodes["GR"]]), world.state("IT")]
    refused(world, world.bundle(states=states, agreements=[]), "lists node 'gr-ekka' of another State")


def test_an_agreement_needs_every_party(world: World) -> None:
    """An agreement signed by GR alone is refused: AL's administrators have not signed it."""
    refused(
        world,
        world.bundle(agreements=[world.agreement(signers=(world.gr1, world.gr2))]),
        r"agreement AL-GR-2006 version 1 \(administrators of AL\)",
    )


def test_an_agreement_needs_two_parties(world: World) -> None:
    """An 'agreement' with one party is not an agreement."""
    refused(world, world.bundle(agreements=[world.agreement(parties=("GR",), signers=(world.gr1, world.gr2))]), "two")


def test_mix_and_match_is_refused(world: World) -> None:
    """The timestamp pins GR version 2 by hash; a bundle carrying GR version 1 in its place is refused."""
    listed = [world.state("GR", 2), world.state("AL"), world.state("IT")]
    carried = [world.state("GR", 1), world.state("AL"), world.state("IT")]
    refused(world, world.bundle(states=carried, listed_states=listed), "lists state GR version 2.*does not hold it")


def test_a_timestamp_by_another_key_is_refused(world: World) -> None:
    """Only the timestamp role signs timestamps, even an administrator's signature does not count."""
    refused(world, world.bundle(signer=world.gr1), "timestamp version 1: 0 valid signature")


def test_tampered_signed_bytes_are_refused(world: World) -> None:
    """Changing the signed bytes of a State entry breaks its signatures (and its pinned hash)."""
    b = world.bundle()
    doc = directory_pb2.SignedDocument.FromString(b.states[1])
    doc.signed = doc.signed.replace(b"duty@al.example", b"duty@xx.example")
    b.states[1] = doc.SerializeToString()
    refused(world, b, "does not hold it")


# --- root rotation ----------------------------------------------------------------------------


def _next_root(world: World, new_root_keys: list[Admin], signers: list[Admin]) -> bytes:
    body = world.root(
        2,
        root_key_ids=[a.signer.key_id for a in new_root_keys],
        root_threshold=2,
        root_min_states=2,
    )
    return sign(body, [a.signer for a in signers])


def test_root_rotation_with_both_thresholds_is_accepted(world: World) -> None:
    """Root 2 moves the root role to GR2+IT; signed by old (GR1, AL) and new (GR2, IT) thresholds."""
    td = trusted(world)
    root2 = _next_root(world, [world.gr2, world.it], [world.gr1, world.al, world.gr2, world.it])
    directory, fresh = td.update(world.bundle(roots=[world.signed_root(), root2]), now_ms=NOW)
    assert td.root.version == 2
    assert ("root", "", 2) in {(d.kind, d.name, d.version) for d in fresh}
    assert directory.version == 1


@pytest.mark.parametrize(
    ("signers", "match"),
    [
        (["gr2", "it"], "threshold of the current root's keys"),
        (["gr1", "al"], "threshold of its own keys"),
    ],
    ids=["new-keys-only", "old-keys-only"],
)
def test_root_rotation_without_both_thresholds_is_refused(world: World, signers: list[str], match: str) -> None:
    """A new root signed only by the new keys, or only by the old ones, is refused."""
    root2 = _next_root(world, [world.gr2, world.it], [getattr(world, s) for s in signers])
    refused(world, world.bundle(roots=[world.signed_root(), root2]), match)


def test_root_versions_cannot_be_skipped(world: World) -> None:
    """Root 3 directly after root 1 is refused: every root is checked by its predecessor."""
    root3 = sign(world.root(3), [world.gr1.signer, world.al.signer, world.it.signer])
    with pytest.raises(VerificationError, match="expected version 2, got 3"):
        trusted(world).update_root(root3)


def test_root_signatures_must_span_several_states(world: World) -> None:
    """A root role threshold met by administrators of one State only is refused (root_min_states = 2)."""
    body = world.root(
        2,
        root_key_ids=[world.gr1.signer.key_id, world.gr2.signer.key_id, world.al.signer.key_id],
        root_threshold=2,
        root_min_states=2,
    )
    td = TrustedDirectory(
        sign(
            world.root(
                root_key_ids=[world.gr1.signer.key_id, world.gr2.signer.key_id, world.al.signer.key_id],
                root_threshold=2,
                root_min_states=2,
            ),
            [world.gr1.signer, world.al.signer],
        )
    )
    with pytest.raises(VerificationError, match="administrators of 1 State"):
        td.update_root(sign(body, [world.gr1.signer, world.gr2.signer]))


def test_signatures_accumulate_offline(world: World) -> None:
    """Administrators sign a proposal one after the other; the document verifies once all have."""
    proposal = sign(state_document(directory_pb2.StateEntry(state="GR", version=1, expires_at_ms=NOW + DAY)), [])
    first = add_signatures(proposal, [world.gr1.signer])
    both = add_signatures(first, [world.gr2.signer, world.gr1.signer])
    assert len(directory_pb2.SignedDocument.FromString(both).signatures) == 4  # two hybrid signatures
    states = [both, world.state("AL"), world.state("IT")]
    directory, _ = trusted(world).update(world.bundle(states=states, agreements=[]), now_ms=NOW)
    assert directory.states["GR"].version == 1


MakeBundle = Callable[[World], directory_pb2.DirectoryBundle]


def test_a_signature_made_for_another_purpose_does_not_count(world: World) -> None:
    """A hybrid signature with the message context over a State entry's bytes is not a directory signature."""
    signed = state_document(directory_pb2.StateEntry(state="AL", version=1, expires_at_ms=NOW + DAY))
    doc = directory_pb2.SignedDocument(signed=signed)
    doc.signatures.extend(world.al.signer.sign(Context.MESSAGE, signed))
    states = [world.state("GR"), doc.SerializeToString(), world.state("IT")]
    refused(world, world.bundle(states=states, agreements=[]), r"administrators of AL\): 0 valid")


def _broken_al_node(world: World, edit: Callable[[directory_pb2.NodeEntry], None]) -> directory_pb2.NodeEntry:
    broken = directory_pb2.NodeEntry()
    broken.CopyFrom(world.nodes["AL"])
    edit(broken)
    return broken


def _set_certificate(der: bytes) -> Callable[[directory_pb2.NodeEntry], None]:
    def edit(entry: directory_pb2.NodeEntry) -> None:
        entry.tls_keys[0].certificate_der = der

    return edit


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        pytest.param(lambda n: setattr(n.tls_keys[0], "spki_sha256", bytes(32)), "TLS pin does not match", id="pin"),
        pytest.param(_set_certificate(b"\x30\x03garbage"), "not valid DER X.509", id="certificate-garbage"),
        pytest.param(_set_certificate(b""), "not valid DER X.509", id="certificate-empty"),
        pytest.param(lambda n: n.languages.append("en_GB"), "BCP 47", id="language-underscore"),
        pytest.param(lambda n: n.languages.append("xx"), "BCP 47", id="language-unregistered"),
        pytest.param(lambda n: setattr(n, "endpoint", "nowhere"), "endpoint", id="endpoint"),
    ],
)
def test_a_validly_signed_node_entry_that_breaks_an_invariant_is_left_out_not_fatal(
    world: World, edit: Callable[[directory_pb2.NodeEntry], None], why: str
) -> None:
    """B7 per node: the bundle verifies without that node (never a ConfigError), which is named with the reason."""
    states = [world.state("GR"), world.state("AL", nodes=[_broken_al_node(world, edit)]), world.state("IT")]
    directory, fresh = trusted(world).update(world.bundle(states=states), now_ms=NOW)
    assert set(directory.nodes) == {"gr-ekka"}
    assert directory.states["AL"].version == 1  # the entry itself is authentic and accepted
    assert ("state", "AL") in {(d.kind, d.name) for d in fresh}
    [(what, reason)] = directory.excluded.items()
    assert what == "node 'al-shss' of state entry AL version 1"
    assert why in reason
    assert "AL's administrators must correct it" in reason


def test_nodes_that_conflict_with_each_other_still_refuse_the_bundle(world: World) -> None:
    """A TLS key claimed by two nodes is not one node's mistake: which claim is genuine is unknown."""
    thief = _broken_al_node(world, lambda n: n.tls_keys.append(world.nodes["GR"].tls_keys[0]))
    states = [world.state("GR"), world.state("AL", nodes=[thief]), world.state("IT")]
    refused(world, world.bundle(states=states, agreements=[]), "reuses another node's TLS key")


def test_a_contact_point_with_a_malformed_language_is_left_out_of_its_entry(world: World) -> None:
    """The contact point is dropped and named; the State, its node and its other contact points stay."""
    signed = directory_pb2.StateEntry.FromString(directory_pb2.SignedDocument.FromString(world.state("AL")).signed)
    good = signed.contact_points[0]
    bad = directory_pb2.ContactPoint()
    bad.CopyFrom(good)
    bad.id, bad.languages[:] = "night", ["en", "Albanian"]
    signed.contact_points.append(bad)
    al = sign(state_document(signed), [world.al.signer])
    directory, _ = trusted(world).update(world.bundle(states=[world.state("GR"), al, world.state("IT")]), now_ms=NOW)
    assert set(directory.nodes) == {"gr-ekka", "al-shss"}
    assert [cp.id for cp in directory.states["AL"].entry.contact_points] == ["duty"]
    assert list(directory.excluded) == ["contact point 'night' of state entry AL version 1"]
    assert "BCP 47" in directory.excluded["contact point 'night' of state entry AL version 1"]


def test_an_agreement_with_a_malformed_working_language_is_left_out(world: World) -> None:
    """Like an expired agreement: nothing is covered by it until its parties correct and re-sign it."""
    body = directory_pb2.Agreement.FromString(directory_pb2.SignedDocument.FromString(world.agreement()).signed)
    body.working_languages.append("en-UK")
    agreement = sign(agreement_document(body), [world.gr1.signer, world.gr2.signer, world.al.signer])
    directory, _ = trusted(world).update(world.bundle(agreements=[agreement]), now_ms=NOW)
    assert directory.agreement_covering("GR", "AL", "social_inquiry_request") is None
    assert "registered" in directory.excluded["agreement AL-GR-2006 version 1"]


def _agreement_with_rules(world: World, rules: directory_pb2.CaseRules) -> bytes:
    body = directory_pb2.Agreement.FromString(directory_pb2.SignedDocument.FromString(world.agreement()).signed)
    body.case_rules.CopyFrom(rules)
    return sign(agreement_document(body), [world.gr1.signer, world.gr2.signer, world.al.signer])


def test_an_agreement_whose_case_rules_break_a_limit_is_left_out_and_named(world: World) -> None:
    """A 48-hour guardian deadline is never in force: the agreement covers nothing and the reason is shown."""
    agreement = _agreement_with_rules(world, directory_pb2.CaseRules(guardian_deadline_hours=48))
    directory, _ = trusted(world).update(world.bundle(agreements=[agreement]), now_ms=NOW)
    assert directory.agreement_covering("GR", "AL", "social_inquiry_request") is None
    assert "never lengthen" in directory.excluded["agreement AL-GR-2006 version 1"]


def test_an_agreement_carries_its_case_rules_with_the_defaults_applied(world: World) -> None:
    """The verified agreement exposes what it sets and the defaults for what it leaves out."""
    rules = directory_pb2.CaseRules(guardian_deadline_hours=12, consular_copy_on_detention=False)
    directory, _ = trusted(world).update(world.bundle(agreements=[_agreement_with_rules(world, rules)]), now_ms=NOW)
    found = directory.agreements["AL-GR-2006"].case_rules
    assert (found.guardian_deadline_hours, found.consular_copy_on_detention) == (12, False)
    assert found.follow_up_months == (3, 6, 12)
    plain, _ = trusted(world).update(world.bundle(), now_ms=NOW)
    assert plain.agreements["AL-GR-2006"].case_rules.consular_copy_on_detention is True


def test_an_agreement_carries_every_deadline_it_sets_per_kind(world: World) -> None:
    """``kind_deadlines`` keeps all four deadlines as signed, None where the agreement is silent;
    ``deadlines`` still gives the response days alone."""
    body = directory_pb2.Agreement.FromString(directory_pb2.SignedDocument.FromString(world.agreement()).signed)
    del body.deadlines[:]
    body.deadlines.append(
        directory_pb2.KindDeadline(
            kind="social_inquiry_request", response_days=21, acknowledge_hours=24, urgent_response_hours=120
        )
    )
    signed = sign(agreement_document(body), [world.gr1.signer, world.gr2.signer, world.al.signer])
    directory, _ = trusted(world).update(world.bundle(agreements=[signed]), now_ms=NOW)
    agreement = directory.agreements["AL-GR-2006"]
    assert agreement.kind_deadlines == {
        "social_inquiry_request": KindDeadline(response_days=21, acknowledge_hours=24, urgent_response_hours=120)
    }
    assert agreement.deadlines == {"social_inquiry_request": 21}


@pytest.mark.parametrize("code", ["UK", "ZZ", "EU"])
def test_a_root_delegating_a_code_iso_has_not_assigned_is_refused(world: World, code: str) -> None:
    """T5: a delegated State is an officially assigned ISO 3166-1 code (UK is GB; ZZ and EU name no State)."""
    admins = {"GR": ([world.gr1.signer.key_id, world.gr2.signer.key_id], 2), code: ([world.it.signer.key_id], 1)}
    with pytest.raises(VerificationError, match=f"delegation for '{code}'.*officially assigned"):
        TrustedDirectory(world.signed_root(state_admins=admins))


def test_health_names_what_was_left_out(world: World) -> None:
    """The health report lists an expired (left out) entry, so administrators see why a State vanished."""
    td = trusted(world)
    states = [world.state("GR", expires=NOW - 1), world.state("AL"), world.state("IT")]
    directory, _ = td.update(world.bundle(states=states), now_ms=NOW)
    report = directory_health(directory, td.root, now_ms=NOW)
    assert report.excluded_documents == [("state entry GR version 1", "expired; GR's administrators must re-sign it")]
    assert not report.healthy
    assert any("is not in use" in line for line in report.lines())


# --- what is kept: the canonical bundle -----------------------------------------------------------


def _with_unknown_field(raw: bytes) -> bytes:
    return raw + b"\x98\x06\x01"  # field 99, varint 1: any parser skips it, a re-serialization keeps it


def _padded(raw: bytes, *junk: common_pb2.Signature) -> bytes:
    doc = directory_pb2.SignedDocument.FromString(raw)
    doc.signatures.extend(junk)
    doc.signatures.extend(doc.signatures[:2])  # a counted pair, twice
    return _with_unknown_field(doc.SerializeToString())


def test_what_a_sender_adds_to_a_bundle_is_verified_around_and_never_kept(world: World) -> None:
    """Unknown fields, a replaced root in front, an unlisted document, junk and repeated signatures: the
    bundle verifies for what is signed, and Directory.raw and the accepted documents are rebuilt from that."""
    root = world.signed_root()
    clean = world.bundle(roots=[root], agreements=[])
    forger = Admin("GR")
    replaced_root = sign(world.root(keys=[forger.key], root_key_ids=[forger.signer.key_id], root_min_states=1,
                                    root_threshold=1, state_admins={}, timestamp_key_ids=[forger.signer.key_id]),
                         [forger.signer])  # fmt: skip
    junk = common_pb2.Signature(key_id=world.it.signer.key_id, algorithm=common_pb2.KEY_ALGORITHM_ED25519, value=b"x")
    tampered = directory_pb2.DirectoryBundle()
    tampered.CopyFrom(clean)
    tampered.roots.insert(0, replaced_root)
    tampered.states[0] = _padded(tampered.states[0], junk, *world.it.signer.sign(Context.DIRECTORY, b"other"))
    tampered.states.append(world.state("IT", 7))  # carried, but the timestamp does not list it
    tampered.timestamp = _padded(tampered.timestamp, junk)
    tampered.ParseFromString(_with_unknown_field(tampered.SerializeToString()))

    expected, _ = TrustedDirectory(root).update(clean, now_ms=NOW)
    directory, fresh = TrustedDirectory(root).update(tampered, now_ms=NOW)
    assert directory.raw == expected.raw
    kept = directory_pb2.DirectoryBundle.FromString(directory.raw)
    assert kept.SerializeToString(deterministic=True) == directory.raw
    given = parse_signed(root, "root")
    assert list(kept.roots) == [canonical_document(given.signed, given.signatures)]
    assert len(kept.states) == 3
    for raw in [kept.timestamp, *kept.states, *(d.raw for d in fresh)]:
        doc = directory_pb2.SignedDocument.FromString(raw)
        assert doc.SerializeToString(deterministic=True) == raw  # nothing unknown, anywhere
        keys = [(s.key_id, s.algorithm) for s in doc.signatures]
        assert keys == sorted(set(keys)), "each counted key's pair once, in canonical order"
    for raw in (kept.timestamp, kept.states[0]):  # IT's administrator counts for neither
        assert world.it.signer.key_id not in {s.key_id for s in parse_signed(raw, "doc").signatures}


def test_roots_a_node_cannot_vouch_for_are_left_out_and_its_own_chain_is_kept(world: World) -> None:
    """Only the trusted root and the roots accepted after it are served; a later verifier anchored on
    the same trusted root (or on the first root inside) gets the same directory."""
    root2 = _next_root(world, [world.gr2, world.it], [world.gr1, world.al, world.gr2, world.it])
    td = trusted(world)
    directory, _ = td.update(world.bundle(roots=[world.signed_root(), root2]), now_ms=NOW)
    kept = directory_pb2.DirectoryBundle.FromString(directory.raw)
    assert [directory_pb2.Root.FromString(parse_signed(r, "root").signed).version for r in kept.roots] == [1, 2]
    again, _ = TrustedDirectory(kept.roots[0]).update(kept, now_ms=NOW)
    assert again.raw == directory.raw
    # A node that starts from root 2 cannot vouch for root 1, so it does not pass it on.
    from_two, _ = TrustedDirectory(root2).update(world.bundle(roots=[world.signed_root(), root2]), now_ms=NOW)
    assert len(directory_pb2.DirectoryBundle.FromString(from_two.raw).roots) == 1


def test_health_shows_a_time_past_any_date_instead_of_failing(world: World) -> None:
    """A key valid "for ever" (not_after_ms 2^62) inside a wide horizon is reported, not a crash."""
    node = _broken_al_node(world, lambda n: setattr(n.signing_keys[0], "not_after_ms", 1 << 62))
    td = trusted(world)
    directory, _ = td.update(world.bundle(states=[world.state("GR"), world.state("AL", nodes=[node])]), now_ms=NOW)
    report = directory_health(directory, td.root, now_ms=NOW, expiring_days=(1 << 62) // DAY)
    assert {
        "node": "al-shss",
        "kind": "signing",
        "key_id": node.signing_keys[0].key_id,
        "expires": "after 9999-12-31",
    } in (
        report.as_dict()["expiring_keys"]  # type: ignore[operator]
    )
