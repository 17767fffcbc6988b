"""Code lists in the directory: signed by the root role (B8), left out when they break a rule, and
agreements whose working languages they do not label left out as not usable (B9)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from directory.codelists import TIER1_LANGUAGES
from directory.health import directory_health
from directory.publish import bundle, code_list_document, sign, timestamp_document
from directory.trust import TrustedDirectory, parse_signed
from focalpoint.errors import VerificationError
from focalpoint.server.provision import init_node_dir
from focalpoint.v1 import directory_pb2
from tests.directory.test_trust import DAY, NOW, Admin, World
from tests.support.codelists import code_list_doc

WORKING = ["en", "el", "sq"]  # the test world's agreement AL-GR-2006


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp: Path = tmp_path_factory.mktemp("codelists")
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


def signed_list(world: World, doc: directory_pb2.CodeListDocument, *signers: Admin) -> bytes:
    """A code list signed by root administrators (by default GR's and AL's: the threshold, two States)."""
    return sign(code_list_document(doc), [a.signer for a in (signers or (world.gr1, world.al))])


def with_lists(
    world: World,
    codelists: list[bytes],
    *,
    version: int = 1,
    agreements: list[bytes] | None = None,
    states: list[bytes] | None = None,
) -> directory_pb2.DirectoryBundle:
    root = world.signed_root()
    states = states if states is not None else [world.state("GR"), world.state("AL"), world.state("IT")]
    agreements = agreements if agreements is not None else [world.agreement()]
    ts = timestamp_document(
        version=version,
        issued_at_ms=NOW,
        expires_at_ms=NOW + DAY,
        root=root,
        states=states,
        agreements=agreements,
        codelists=codelists,
    )
    return bundle(
        roots=[root],
        timestamp=sign(ts, [world.ts.signer]),
        states=states,
        agreements=agreements,
        codelists=codelists,
    )


def test_a_code_list_signed_by_the_root_role_is_carried_with_its_labels(world: World) -> None:
    """The directory exposes the version, the newest, and labels with fallback; what it keeps is canonical."""
    extra = [*list(TIER1_LANGUAGES), "el", "sq"]
    raw = signed_list(world, code_list_doc(languages=extra))
    directory, fresh = TrustedDirectory(world.signed_root()).update(with_lists(world, [raw]), now_ms=NOW)
    assert ("codelist", "2026.1") in {(d.kind, d.name) for d in fresh}
    code_list = directory.code_list("2026.1")
    assert code_list is not None
    assert directory.newest_code_list is code_list
    label = directory.code_label("2026.1", "focalpoint.v1.Sex", 1, "sq-AL")
    assert label is not None
    assert label.language == "sq"
    assert directory.code_label("2025.1", "focalpoint.v1.Sex", 1, "en") is None
    kept = directory_pb2.DirectoryBundle.FromString(directory.raw).codelists
    assert [parse_signed(k, "kept").signed for k in kept] == [parse_signed(raw, "sent").signed]
    assert "agreement AL-GR-2006 version 1" not in directory.excluded


def test_a_code_list_without_the_root_threshold_refuses_the_bundle(world: World) -> None:
    """One root administrator, or a State administrator outside the root role, is not enough (B8)."""
    td = TrustedDirectory(world.signed_root())
    for signers in ((world.gr1,), (world.gr2, world.al)):
        with pytest.raises(VerificationError, match=r"code list 2026\.1 version 1"):
            td.update(with_lists(world, [signed_list(world, code_list_doc(), *signers)]), now_ms=NOW)
    assert td.accepted_version("codelist", "2026.1") == 0


def test_a_code_list_rollback_is_refused(world: World) -> None:
    """After document version 2 of 2026.1, a bundle pinning version 1 is refused."""
    td = TrustedDirectory(world.signed_root())
    labels = [*TIER1_LANGUAGES, "el", "sq"]
    td.update(with_lists(world, [signed_list(world, code_list_doc(version=2, languages=labels))]), now_ms=NOW)
    with pytest.raises(VerificationError, match=r"codelist 2026\.1: version 1 is older"):
        td.update(with_lists(world, [signed_list(world, code_list_doc(languages=labels))], version=2), now_ms=NOW)


def test_a_code_list_lacking_a_tier1_language_is_left_out_and_named(world: World) -> None:
    """An authentic list missing Arabic labels is not used (and so the agreement is not usable either)."""
    raw = signed_list(world, code_list_doc(languages=["en", "fr", "es", "ru", "zh", "el", "sq"]))
    directory, _ = TrustedDirectory(world.signed_root()).update(with_lists(world, [raw]), now_ms=NOW)
    assert directory.code_list("2026.1") is None
    assert "no ar label" in directory.excluded["code list 2026.1 version 1"]


def test_an_agreement_in_force_whose_working_languages_are_not_labelled_is_left_out(world: World) -> None:
    """B9: the parties declare 2026.1, which lacks el and sq: the agreement covers nothing, and says why;
    health lists the missing labels for the languages the agreement needs."""
    raw = signed_list(world, code_list_doc())
    td = TrustedDirectory(world.signed_root())
    directory, _ = td.update(with_lists(world, [raw]), now_ms=NOW)
    assert directory.agreement_covering("AL", "GR", "social_inquiry_request") is None
    why = directory.excluded["agreement AL-GR-2006 version 1"]
    assert "working language el is not labelled in code list 2026.1" in why
    assert "working language sq" in why
    report = directory_health(directory, td.root, now_ms=NOW)
    assert not report.healthy
    assert report.missing_labels == [("AL-GR-2006", "2026.1", "el", 7), ("AL-GR-2006", "2026.1", "sq", 7)]
    assert "  code list 2026.1 lacks el labels for 7 code(s), needed by agreement AL-GR-2006" in report.lines()


def test_an_agreement_only_signed_keeps_its_status_and_its_gaps_are_reported(world: World) -> None:
    """An agreement only signed is kept, its gaps named (it will need them); a terminated one needs none."""
    agreement = world.agreement(status=directory_pb2.AGREEMENT_STATUS_SIGNED)
    td = TrustedDirectory(world.signed_root())
    directory, _ = td.update(
        with_lists(world, [signed_list(world, code_list_doc())], agreements=[agreement]), now_ms=NOW
    )
    assert "AL-GR-2006" in directory.agreements
    assert [g.language for g in directory.label_gaps] == ["el", "sq"]
    ended = world.agreement(status=directory_pb2.AGREEMENT_STATUS_TERMINATED)
    bundle = with_lists(world, [signed_list(world, code_list_doc())], agreements=[ended])
    assert TrustedDirectory(world.signed_root()).update(bundle, now_ms=NOW)[0].label_gaps == ()


def test_a_party_declaring_a_version_the_directory_does_not_carry_makes_the_agreement_unusable(
    world: World,
) -> None:
    """Both parties declare 2026.1; the directory carries only 2026.2: nothing is labelled for them."""
    later = signed_list(world, code_list_doc("2026.2", languages=[*TIER1_LANGUAGES, "el", "sq"]))
    directory, _ = TrustedDirectory(world.signed_root()).update(with_lists(world, [later]), now_ms=NOW)
    assert "does not carry" in directory.excluded["agreement AL-GR-2006 version 1"]


def test_a_newer_version_that_renames_a_code_is_left_out_and_the_older_kept(world: World) -> None:
    """C2 between two versions in one bundle: 2026.2 renames number 1 of Sex; 2026.1 stays in use."""
    labels = [*TIER1_LANGUAGES, "el", "sq"]
    first = code_list_doc(languages=labels)
    second = code_list_doc("2026.2", previous="2026.1", languages=labels, introduced={})
    for entry in second.lists:
        for code in entry.codes:
            code.introduced_in = "2026.1"
    second.lists[0].codes[0].code = "SEX_WOMAN"
    raws = [signed_list(world, first), signed_list(world, second)]
    directory, _ = TrustedDirectory(world.signed_root()).update(with_lists(world, raws), now_ms=NOW)
    assert list(directory.code_lists) == ["2026.1"]
    assert "was SEX_FEMALE in 2026.1, now SEX_WOMAN" in directory.excluded["code list 2026.2 version 1"]
    assert directory.agreement_covering("AL", "GR", "social_inquiry_request") is not None


def test_an_expired_code_list_is_left_out(world: World) -> None:
    """An expired list is named; its root administrators must re-issue it."""
    raw = signed_list(world, code_list_doc(expires_at_ms=NOW - 1))
    directory, _ = TrustedDirectory(world.signed_root()).update(with_lists(world, [raw]), now_ms=NOW)
    assert directory.excluded["code list 2026.1 version 1"].startswith("expired")
