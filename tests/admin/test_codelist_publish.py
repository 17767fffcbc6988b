"""Publishing code lists through the administrators' repository, as a local network does."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from directory.codelists import TIER1_LANGUAGES
from directory.publish import agreement_document, code_list_document, sign
from focalpoint.admin.codelists import build_document
from focalpoint.admin.documents import show_document
from focalpoint.admin.signatures import signature_status
from focalpoint.errors import UsageError
from focalpoint.localnet import LocalNetwork, NodeSpec, make_network
from focalpoint.localnet.network import CODE_LIST
from focalpoint.v1 import directory_pb2

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
NOW_MS = int(NOW.timestamp() * 1000)


@pytest.fixture
def net(tmp_path: Path) -> LocalNetwork:
    specs = [NodeSpec("gr-ekka", "GR", "EKKA"), NodeSpec("al-shss", "AL", "SHSS")]
    return make_network(tmp_path / "net", specs, now=NOW)


def _reissue(version: int, extra: dict[str, str] | None = None) -> directory_pb2.CodeListDocument:
    """Document ``version`` of 2026.1, with each code also labelled in the ``extra`` languages (tag -> word)."""
    doc = build_document(CODE_LIST, version=version, issued_at_ms=NOW_MS, expires_at_ms=NOW_MS + 10**10)
    for entry in doc.lists:
        for code in entry.codes:
            for lang, word in (extra or {}).items():
                code.labels.add(
                    language=lang,
                    label=f"{word} {code.number}",
                    definition=f"{word} {code.code}",
                    status=directory_pb2.LABEL_STATUS_MACHINE_DRAFT,
                )
    return doc


def test_a_local_network_carries_the_code_list_and_its_agreements_stay_in_force(net: LocalNetwork) -> None:
    """The demo's directory has code list 2026.1 (every tier-1 language complete) and nothing left out;
    the repository serves the published document by kind, list version and document version."""
    directory = net.load(NOW_MS)
    code_list = directory.code_list("2026.1")
    assert code_list is not None
    assert all(code_list.covers(lang) for lang in TIER1_LANGUAGES)
    assert directory.excluded == {}
    assert directory.agreement_covering("AL", "GR", "social_inquiry_request") is not None
    assert directory.states["GR"].code_list_version == "2026.1"
    assert net.repository.document("codelist", "2026.1", 1) is not None  # what GetDocument serves


def test_a_code_list_needs_the_root_roles_threshold(net: LocalNetwork) -> None:
    """One root administrator's signature is not enough; the repository says which role must sign."""
    raw = sign(code_list_document(_reissue(2)), [net.admins["GR"]])
    with pytest.raises(UsageError, match=r"not published: code list 2026\.1 version 2 .*threshold of the root role"):
        net.repository.publish(raw)
    status = signature_status(raw, net.repository.trusted().root)
    assert [r.who for r in status.requirements] == ["the root role of the current root (version 1)"]
    assert status.requirements[0].missing == 1


def test_a_reissue_may_add_a_language_but_not_change_a_code(net: LocalNetwork) -> None:
    """Document version 2 with Albanian labels is published; one that renames a code is refused (C5)."""
    admins = [net.admins["AL"], net.admins["GR"]]
    renamed = _reissue(2)
    renamed.lists[0].codes[0].code = "SEX_WOMAN"
    with pytest.raises(UsageError, match=r"was SEX_FEMALE in 2026\.1|codes changed"):
        net.repository.publish(sign(code_list_document(renamed), admins))
    assert net.repository.publish(sign(code_list_document(_reissue(2, {"sq": "sq"})), admins)) == (
        "codelist",
        "2026.1",
        2,
    )


def test_an_agreement_in_force_in_a_language_the_code_list_lacks_is_not_published(net: LocalNetwork) -> None:
    """Working language sq is not labelled in 2026.1: the agreement is refused naming it, until a re-issue adds sq."""
    agreement = directory_pb2.Agreement()
    agreement.CopyFrom(net.agreements["AL-GR"])
    agreement.version += 1
    agreement.working_languages.append("sq")
    raw = sign(agreement_document(agreement), [net.admins["AL"], net.admins["GR"]])
    with pytest.raises(UsageError, match=r"working language sq is not labelled in code list 2026\.1"):
        net.repository.publish(raw)
    net.repository.publish(sign(code_list_document(_reissue(2, {"sq": "sq"})), [net.admins["AL"], net.admins["GR"]]))
    assert net.repository.publish(raw) == ("agreement", "AL-GR", 2)


def test_show_presents_a_code_list_by_its_lists_and_languages(net: LocalNetwork) -> None:
    """``directory show`` of a code list: its own fields and the summary; the plain data has every label."""
    raw = sign(code_list_document(_reissue(2)), [])
    view = show_document(raw, current_root=net.repository.trusted().root, judged_by="test", repository=net.repository)
    lines = view.lines()
    assert lines[0] == "PROPOSAL (not published): code list 2026.1 version 2: unsigned"
    assert "  list_version: 2026.1" in lines
    lists, codes = _counts()
    assert any(
        line.startswith(f"  code list 2026.1 (document version 2): {lists} list(s), {codes} code(s)") for line in lines
    )
    assert view.as_dict()["content"]["summary"]["languages"]["ar"]["complete"] is True
    assert len(view.as_dict()["content"]["lists"]) == lists


def _counts() -> tuple[int, int]:
    """How many lists and codes the data file holds (the show view must count the same)."""
    import yaml

    from focalpoint.admin.codelists import CODELISTS_DIR

    data = yaml.safe_load((CODELISTS_DIR / "2026.1.yaml").read_text(encoding="utf-8"))
    return len(data["lists"]), sum(len(codes) for codes in data["lists"].values())
