"""Whose signatures a directory document carries, which count and what is still needed
(focalpoint.admin.signatures), and a document shown in full (focalpoint.admin.documents): the
rules nodes apply (T3, T4, T6, B5, B6), told to administrators before they publish."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from directory.publish import agreement_document, root_document, sign, state_document
from focalpoint.admin.documents import show_document
from focalpoint.admin.repo import Repository
from focalpoint.admin.signatures import NotCounted, add_signature, describe, signature_status
from focalpoint.crypto.signing import AdminSigner
from focalpoint.errors import UsageError
from focalpoint.v1 import codes_pb2, directory_pb2

NOW = 1_790_000_000_000
YEAR_MS = 365 * 86_400_000
# Administrators: two of GR, one of AL (together the root role: 2 of 3, from 2 States), a timestamp key.
ADMINS = {"gr1": "GR", "gr2": "GR", "al1": "AL", "fr1": "FR", "ts": "ZZ"}


@dataclass(frozen=True)
class Admins:
    signers: dict[str, AdminSigner]
    public: dict[str, directory_pb2.AdminKey]

    def id(self, name: str) -> str:
        return self.signers[name].key_id

    def root(self, version: int, root_role: tuple[str, ...] = ("gr1", "gr2", "al1")) -> bytes:
        """An unsigned root: GR (threshold 2) and AL (threshold 1) delegated; FR only if in the root role."""
        names = [*root_role, "ts", *(n for n in ("gr1", "gr2", "al1") if n not in root_role)]
        return sign(
            root_document(
                version=version,
                issued_at_ms=NOW,
                expires_at_ms=NOW + YEAR_MS,
                keys=[self.public[n] for n in dict.fromkeys(names)],
                root_key_ids=[self.id(n) for n in root_role],
                root_threshold=2,
                root_min_states=2,
                timestamp_key_ids=[self.id("ts")],
                timestamp_threshold=1,
                state_admins={"GR": ([self.id("gr1"), self.id("gr2")], 2), "AL": ([self.id("al1")], 1)},
            ),
            [],
        )


@pytest.fixture(scope="module")
def admins() -> Admins:
    signers = {name: AdminSigner.generate() for name in ADMINS}
    public = {
        name: directory_pb2.AdminKey(
            key_id=s.key_id,
            state=ADMINS[name],
            name=f"administrator {name}",
            ed25519_public_key=s.verifier.ed25519_public_key,
            ml_dsa_65_public_key=s.verifier.ml_dsa_65_public_key,
        )
        for name, s in signers.items()
    }
    return Admins(signers, public)


@pytest.fixture
def repo(admins: Admins, tmp_path: Path) -> Repository:
    """A repository with root 1 published (signed by the whole root role)."""
    r = Repository(tmp_path / "repo")
    r.publish(with_signatures(admins, admins.root(1), "gr1", "gr2", "al1"))
    return r


def with_signatures(admins: Admins, raw: bytes, *names: str) -> bytes:
    for name in names:
        raw, _, _ = add_signature(raw, admins.signers[name], None, even_if_not_counted=True)
    return raw


def state_proposal(state: str = "GR", version: int = 1) -> bytes:
    entry = directory_pb2.StateEntry(
        state=state, version=version, issued_at_ms=NOW, expires_at_ms=NOW + YEAR_MS, focal_point_designated=False
    )
    return sign(state_document(entry), [])


def agreement_proposal(parties: tuple[str, ...] = ("AL", "GR")) -> bytes:
    agreement = directory_pb2.Agreement(
        agreement_id="AL-GR-2026", version=1, issued_at_ms=NOW, expires_at_ms=NOW + YEAR_MS, parties=parties
    )
    return sign(agreement_document(agreement), [])


def test_a_first_root_is_judged_by_its_own_root_role_threshold_and_states(admins: Admins) -> None:
    """Root 1 needs no repository: 2 of its root role's 3 keys, from 2 States; two GR keys are not enough."""
    raw = admins.root(1)
    unsigned = signature_status(raw, None)
    assert (unsigned.known, unsigned.signing, unsigned.ready) == (True, "unsigned", False)
    [role] = unsigned.requirements
    assert (role.who, role.threshold, role.min_states, role.missing) == (
        "the root role of root version 1 (itself)",
        2,
        2,
        2,
    )
    both_gr = signature_status(with_signatures(admins, raw, "gr1", "gr2"), None)
    assert both_gr.requirements[0].missing == 1
    assert both_gr.requirements[0].needs == "1 more, from 1 more State(s)"
    assert both_gr.signing == "partly signed"
    assert "still needed: 1 more, from 1 more State(s) from the root role of root version 1 (itself)" in both_gr.lines()
    done = signature_status(with_signatures(admins, raw, "gr1", "al1"), None)
    assert (done.ready, done.signing) == (True, "fully signed")
    assert done.lines()[-1] == "ready to publish: every threshold is met"


def test_a_state_entry_counts_only_its_own_administrators(admins: Admins, repo: Repository) -> None:
    """On GR's entry an AL administrator's valid signature counts for nothing; each signature names its key's holder."""
    raw = with_signatures(admins, state_proposal("GR"), "al1", "gr1")
    status = signature_status(raw, repo.trusted().root)
    assert [(s.key_id, s.name, s.state, s.valid, s.counts_for) for s in status.signatures] == [
        (admins.id("al1"), "administrator al1", "AL", True, ()),
        (admins.id("gr1"), "administrator gr1", "GR", True, ("the administrators of GR",)),
    ]
    [gr] = status.requirements
    assert (gr.signed, gr.missing) == ((admins.id("gr1"),), 1)
    lines = status.lines()
    assert f"  {admins.id('al1')}  administrator al1 (AL): does not count for this document" in lines
    assert "the administrators of GR: 1 of threshold 2 signed: 1 more needed" in lines
    assert lines[-1] == "still needed: 1 more from the administrators of GR"


def test_an_agreement_needs_the_threshold_of_every_party(admins: Admins, repo: Repository) -> None:
    """Both GR administrators meet GR's threshold; AL's is still missing, and the status says so."""
    status = signature_status(with_signatures(admins, agreement_proposal(), "gr1", "gr2"), repo.trusted().root)
    assert [(r.who, r.met) for r in status.requirements] == [
        ("the administrators of AL", False),
        ("the administrators of GR", True),
    ]
    assert status.lines()[-1] == "still needed: 1 more from the administrators of AL"
    assert not status.ready


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        pytest.param(state_proposal("FR"), "the root delegates no administrators for FR", id="undelegated-State"),
        pytest.param(agreement_proposal(("GR", "GR")), "needs at least two distinct parties", id="one-party"),
    ],
)
def test_what_no_signature_can_fix_is_named(admins: Admins, repo: Repository, raw: bytes, problem: str) -> None:
    """A document that cannot be published whoever signs says why."""
    status = signature_status(raw, repo.trusted().root)
    assert any(problem in p for p in status.problems)
    assert any(line.startswith("cannot be published: ") and problem in line for line in status.lines())


def test_a_new_root_needs_the_current_and_its_own_root_role(admins: Admins, repo: Repository) -> None:
    """Root 2 with FR in its root role: FR's key counts for the new root role only (T4), GR's for both (T3 and T4)."""
    raw = with_signatures(admins, admins.root(2, root_role=("gr1", "fr1", "al1")), "fr1", "gr1")
    status = signature_status(raw, repo.trusted().root)
    assert [r.who for r in status.requirements] == [
        "the root role of the current root (version 1)",
        "the root role of root version 2 (itself)",
    ]
    counts = {s.key_id: s.counts_for for s in status.signatures}
    assert counts[admins.id("fr1")] == ("the root role of root version 2 (itself)",)
    assert len(counts[admins.id("gr1")]) == 2
    assert [r.missing for r in status.requirements] == [1, 0]
    skipped = signature_status(admins.root(3), repo.trusted().root)
    assert "the root in force is version 1; roots go one by one" in skipped.problems


def test_signing_with_a_key_that_does_not_count_is_refused_and_changes_nothing(
    admins: Admins, repo: Repository
) -> None:
    """An AL key on GR's entry is refused, naming who counts (with names); asked to anyway, it signs and says it
    does not count."""
    raw = state_proposal("GR")
    root = repo.trusted().root
    with pytest.raises(NotCounted) as refused:
        add_signature(raw, admins.signers["al1"], root)
    message = str(refused.value)
    assert message.startswith(f"key {admins.id('al1')} does not count for State entry GR version 1: only ")
    assert f"{admins.id('gr1')} (administrator gr1, GR)" in message
    assert message.endswith("nothing was signed")
    signed, status, added = add_signature(raw, admins.signers["al1"], root, even_if_not_counted=True)
    assert added
    assert signed != raw
    assert describe(status, admins.id("al1"), added).endswith("it does NOT count for this document")


def test_signing_without_the_root_in_force_is_refused_for_anything_but_a_first_root(admins: Admins) -> None:
    """Without a repository, who counts for a State entry cannot be told: nothing is signed unless asked to anyway."""
    with pytest.raises(NotCounted, match=r"cannot tell whether key \w+ counts without the root in force") as refused:
        add_signature(state_proposal("GR"), admins.signers["gr1"], None)
    assert refused.value.status.known is False
    _, status, added = add_signature(state_proposal("GR"), admins.signers["gr1"], None, even_if_not_counted=True)
    assert added
    assert "who counts: unknown without the root in force (the repository)" in status.lines()


def test_signing_twice_with_one_key_adds_nothing_and_says_so(admins: Admins, repo: Repository) -> None:
    """A second signature by the same key leaves the document as it was, and the line says it had signed already."""
    once, _, _ = add_signature(state_proposal("GR"), admins.signers["gr1"], repo.trusted().root)
    again, status, added = add_signature(once, admins.signers["gr1"], repo.trusted().root)
    assert (again, added) == (once, False)
    line = describe(status, admins.id("gr1"), added)
    assert line.startswith(f"key {admins.id('gr1')} (administrator gr1, GR) had signed State entry GR version 1")
    assert "nothing was added" in line


def test_a_signature_that_does_not_verify_is_shown_invalid_and_not_counted(admins: Admins, repo: Repository) -> None:
    """A damaged signature is listed as INVALID and does not count towards the threshold."""
    doc = directory_pb2.SignedDocument.FromString(with_signatures(admins, state_proposal("GR"), "gr1"))
    broken = bytearray(doc.signatures[0].value)
    broken[0] ^= 1
    doc.signatures[0].value = bytes(broken)
    status = signature_status(doc.SerializeToString(), repo.trusted().root)
    assert status.signatures[0].valid is False
    assert status.requirements[0].signed == ()
    assert status.lines()[1].endswith("INVALID signature: does not count")


def test_a_proposal_is_shown_in_full_and_labelled_until_it_is_published(admins: Admins, repo: Repository) -> None:
    """Every field shows, unset ones too (focal point not designated); the title says proposal, what it is and how
    far the signing has got, and 'published' once the repository holds it."""
    raw = with_signatures(admins, state_proposal("GR"), "gr1")
    view = show_document(raw, current_root=repo.trusted().root, judged_by="root 1", repository=repo)
    assert view.title == "PROPOSAL (not published): State entry GR version 1: partly signed"
    assert "  focal_point_designated: false" in view.field_lines
    assert "  institutions: []" in view.field_lines
    assert "  expires_at_ms: 2027-09-21T14:13:20Z (1821536000000)" in view.field_lines
    data = view.as_dict()
    assert data["content"]["focal_point_designated"] is False
    assert set(data["content"]) == {f.name for f in directory_pb2.StateEntry.DESCRIPTOR.fields}
    assert (data["proposal"], data["kind"], data["name"], data["version"]) == (True, "state", "GR", 1)
    full = with_signatures(admins, raw, "gr2")
    repo.publish(full)
    shown = show_document(full, current_root=repo.trusted().root, judged_by="root 1", repository=repo)
    assert shown.title == "published document: State entry GR version 1 (fully signed)"


def test_a_proposal_whose_version_the_repository_published_differently_says_it_cannot_be_published(
    admins: Admins, repo: Repository
) -> None:
    """Another GR entry 1 published first: this proposal's version is taken, and the view says so."""
    repo.publish(with_signatures(admins, state_proposal("GR"), "gr1", "gr2"))
    other = directory_pb2.StateEntry(state="GR", version=1, issued_at_ms=NOW + 1, expires_at_ms=NOW + YEAR_MS)
    view = show_document(
        sign(state_document(other), []), current_root=repo.trusted().root, judged_by="root 1", repository=repo
    )
    assert view.published is False
    assert "the repository has published a different State entry GR version 1; propose again" in view.status.problems


def test_a_root_shows_whose_key_each_key_id_is(admins: Admins) -> None:
    """Roles list key ids; the view names the administrator and State of each."""
    view = show_document(admins.root(1), current_root=None, judged_by="itself")
    assert f"      - {admins.id('al1')}  (administrator al1, AL)" in view.field_lines


def test_an_agreement_whose_case_rules_nodes_would_leave_out_is_not_published(admins: Admins, repo: Repository) -> None:
    """Fully signed, but waiving G1 of the return gate: refused before it reaches any node, naming the rule."""
    agreement = directory_pb2.Agreement(
        agreement_id="AL-GR-2026",
        version=1,
        issued_at_ms=NOW,
        expires_at_ms=NOW + YEAR_MS,
        parties=["AL", "GR"],
        status=directory_pb2.AGREEMENT_STATUS_IN_FORCE,
        case_rules=directory_pb2.CaseRules(waivable=[codes_pb2.GATE_CONDITION_G1_SOCIAL_INQUIRY]),
    )
    raw = with_signatures(admins, sign(agreement_document(agreement), []), "gr1", "gr2", "al1")
    with pytest.raises(UsageError, match=r"not published: agreement AL-GR-2026: .*only G4 and G5"):
        repo.publish(raw)
    assert repo.latest_agreements() == []
