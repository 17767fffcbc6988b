"""The code-list rules (C1–C6) on documents and models built at test time, with property tests for C2–C4."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from hypothesis import given, settings
from hypothesis import strategies as st

from directory.codelists import (
    TIER1_LANGUAGES,
    CodeList,
    CodeStatus,
    body_lists,
    enum_codes,
    label_gaps,
    language_fallbacks,
    list_version_key,
    older_list_version,
    reissue_problems,
    succession_problems,
)
from focalpoint.errors import VerificationError
from focalpoint.v1 import directory_pb2
from tests.support.codelists import code_list_doc, model

ACTIVE, DEPRECATED = CodeStatus.ACTIVE, CodeStatus.DEPRECATED
Entry = tuple[str, CodeStatus, str, str]


def test_a_document_labelled_in_every_tier1_language_builds_the_model() -> None:
    """A complete document verifies; codes, labels with their fallback and per-language counts are there."""
    doc = code_list_doc(languages=[*TIER1_LANGUAGES, "pt"])
    cl = CodeList.from_proto(doc, "code list")
    assert cl.code_count == 7
    assert cl.code("focalpoint.v1.Sex", 1) is not None
    female = cl.label("focalpoint.v1.Sex", 1, "pt-BR")
    assert female is not None
    assert female.language == "pt"
    german = cl.label("focalpoint.v1.Sex", 1, "de")
    assert german is not None
    assert german.language == "en"
    assert cl.languages() == {lang: 7 for lang in sorted([*TIER1_LANGUAGES, "pt"])}
    assert cl.covers("pt-BR")
    assert not cl.covers("sq")


def _break(change: Callable[[directory_pb2.CodeListDocument], None]) -> directory_pb2.CodeListDocument:
    doc = code_list_doc()
    change(doc)
    return doc


def _code(doc: directory_pb2.CodeListDocument, i: int = 0) -> directory_pb2.Code:
    return doc.lists[0].codes[i]


@pytest.mark.parametrize(
    ("name", "change", "match"),
    [
        ("version", lambda d: setattr(d, "list_version", "2026-1"), "not YYYY.N"),
        ("previous", lambda d: setattr(d, "previous_list_version", "2027.1"), "not older"),
        ("list name", lambda d: setattr(d.lists[0], "name", "Sex"), "full name"),
        ("list twice", lambda d: d.lists.append(d.lists[0]), "appears twice"),
        ("number twice", lambda d: setattr(_code(d, 1), "number", 1), "appears twice"),
        ("code twice", lambda d: setattr(_code(d, 1), "code", _code(d).code), "appears twice"),
        ("unspecified", lambda d: setattr(_code(d), "code", "SEX_UNSPECIFIED"), "UNSPECIFIED"),
        ("status", lambda d: setattr(_code(d), "status", 0), "not ACTIVE or DEPRECATED"),
        ("introduced later", lambda d: setattr(_code(d), "introduced_in", "2026.2"), "after this version"),
        ("first version", lambda d: setattr(_code(d), "introduced_in", "2025.1"), "first version"),
        ("deprecated", lambda d: setattr(_code(d), "status", 2), "SEX_FEMALE.*deprecated_since: code-list version"),
        (
            "deprecated early",
            lambda d: _code(d).MergeFrom(
                directory_pb2.Code(status=directory_pb2.CODE_STATUS_DEPRECATED, deprecated_since="2026.1")
            ),
            "not after its introduction",
        ),
        ("replaced active", lambda d: setattr(_code(d), "replaced_by", "SEX_MALE"), "ACTIVE code has no"),
        ("language", lambda d: setattr(_code(d).labels[0], "language", "en-UK"), "label 'en-UK'"),
        ("language twice", lambda d: setattr(_code(d).labels[1], "language", "EN"), "two labels"),
        ("no definition", lambda d: setattr(_code(d).labels[0], "definition", ""), "definition is empty"),
        ("two lines", lambda d: setattr(_code(d).labels[0], "label", "a\nb"), "one line"),
        ("label status", lambda d: setattr(_code(d).labels[0], "status", 0), "label status"),
        ("no reviewer", lambda d: setattr(_code(d).labels[0], "status", 3), "reviewer is empty"),
        ("tier 1", lambda d: _code(d, 2).labels.pop(3), "focalpoint.v1.Sex SEX_OTHER \\(3\\): no ar label"),
    ],
)
def test_a_document_that_breaks_c1_is_refused_naming_what(
    name: str, change: Callable[[directory_pb2.CodeListDocument], None], match: str
) -> None:
    """Every per-document rule has its refusal, and the error names the list, code or label at fault."""
    with pytest.raises(VerificationError, match=match):
        CodeList.from_proto(_break(change), "code list 2026.1 version 1")


def test_a_missing_tier1_label_names_every_gap_up_to_three_and_counts_the_rest() -> None:
    """A document labelled in English only names its first gaps and how many more there are."""
    with pytest.raises(VerificationError, match=r"35 missing label\(s\): .*; and 32 more"):
        CodeList.from_proto(code_list_doc(languages=["en"]), "code list")


@pytest.mark.parametrize(
    ("tag", "chain"),
    [
        ("fr", ("fr", "en")),
        ("zh-Hant-TW", ("zh-hant-tw", "zh-hant", "zh", "en")),
        ("en-GB", ("en-gb", "en")),
        ("de-a-bbb-x-ccc", ("de-a-bbb-x-ccc", "de-a-bbb", "de", "en")),
    ],
)
def test_labels_fall_back_to_a_more_general_tag_then_english(tag: str, chain: tuple[str, ...]) -> None:
    """RFC 4647 lookup (never ending on a singleton), then English."""
    assert language_fallbacks(tag) == chain


def test_list_versions_order_by_year_then_number() -> None:
    """2026.10 is newer than 2026.9; the sender's version is the older of its own and its partner's."""
    assert list_version_key("2026.10") > list_version_key("2026.9")
    assert older_list_version("2027.1", "2026.12") == "2026.12"
    with pytest.raises(VerificationError, match=r"YYYY\.N"):
        list_version_key("2026.0")


# --- C2–C4: property tests over generated histories ------------------------------------------------

_LISTS = ("focalpoint.v1.Alpha", "focalpoint.v1.Beta")
_Lists = dict[str, dict[int, Entry]]
# (major version?, codes to add, which code to deprecate, which deprecated code to drop)
_Step = tuple[bool, int, int, int]
steps = st.lists(st.tuples(st.booleans(), st.integers(0, 3), st.integers(0, 9), st.integers(0, 9)), max_size=6)


def _chain(plan: list[_Step]) -> list[CodeList]:
    """A history that follows every rule: minor versions only add; major ones also deprecate, and drop
    a code deprecated at least two versions before."""
    lists: _Lists = {n: {i: (f"{n[-4:].upper()}_{i}", ACTIVE, "2026.1", "") for i in (1, 2, 3)} for n in _LISTS}
    used = {n: {1, 2, 3} for n in _LISTS}
    chain = [model("2026.1", lists)]
    year, number = 2026, 1
    for major, adds, deprecate, drop in plan:
        previous = f"{year}.{number}"
        year, number = (year + 1, 1) if major else (year, number + 1)
        version = f"{year}.{number}"
        lists = {n: dict(codes) for n, codes in lists.items()}
        for i in range(adds):
            name = _LISTS[i % 2]
            new = max(used[name]) + 1
            used[name].add(new)
            lists[name][new] = (f"{name[-4:].upper()}_{new}", ACTIVE, version, "")
        if major:
            active = [(n, k) for n in _LISTS for k, e in sorted(lists[n].items()) if e[1] is ACTIVE and e[2] != version]
            if active:
                n, k = active[deprecate % len(active)]
                lists[n][k] = (lists[n][k][0], DEPRECATED, lists[n][k][2], version)
            old = [
                (n, k)
                for n in _LISTS
                for k, e in sorted(lists[n].items())
                if e[1] is DEPRECATED
                and sum(list_version_key(c.list_version) > list_version_key(e[3]) for c in chain) >= 2
            ]
            if old:
                n, k = old[drop % len(old)]
                del lists[n][k]
        chain.append(model(version, lists, previous=previous))
    return chain


@given(steps)
@settings(max_examples=60, deadline=None)
def test_a_history_that_only_adds_deprecates_in_major_versions_and_drops_late_passes(plan: list[_Step]) -> None:
    """Any history built by the allowed steps passes C2–C4 at every version."""
    chain = _chain(plan)
    for i in range(1, len(chain)):
        assert succession_problems(chain[:i], chain[i]) == []


def _lists_of(c: CodeList) -> _Lists:
    return {
        n: {k: (e.code, e.status, e.introduced_in, e.deprecated_since) for k, e in codes.items()}
        for n, codes in c.lists.items()
    }


@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 3), st.integers(0, 9), st.integers(0, 9)), min_size=1), st.data()
)
@settings(max_examples=80, deadline=None)
def test_one_forbidden_change_in_the_newest_version_is_always_found(plan: list[_Step], data: st.DataObject) -> None:
    """Renaming, renumbering, dropping an active code, undoing a deprecation, reusing a dropped number, or
    deprecating in a minor version: each is named by succession_problems."""
    chain = _chain(plan[:5])
    prev, last = chain[-2], chain[-1]
    lists = _lists_of(last)
    minor = list_version_key(prev.list_version)[0] == list_version_key(last.list_version)[0]
    shared = [(n, k) for n in _LISTS for k in sorted(prev.lists[n]) if k in last.lists[n]]
    active = [(n, k) for n, k in shared if prev.lists[n][k].status is ACTIVE]
    deprecated = [(n, k) for n, k in shared if prev.lists[n][k].status is DEPRECATED]
    dropped = [(n, k) for c in chain[:-1] for n in _LISTS for k in c.lists[n] if k not in last.lists[n]]
    options: list[str] = ["rename", "renumber", "drop active"]
    options += ["undeprecate"] if deprecated else []
    options += ["reuse"] if dropped else []
    options += ["deprecate in minor"] if minor else []
    change = data.draw(st.sampled_from(options))
    if change == "reuse":
        n, k = data.draw(st.sampled_from(dropped))
        lists[n][k] = (f"OTHER_{k}", ACTIVE, last.list_version, "")
    elif change == "undeprecate":
        n, k = data.draw(st.sampled_from(deprecated))
        lists[n][k] = (lists[n][k][0], ACTIVE, lists[n][k][2], "")
    else:
        n, k = data.draw(st.sampled_from(active if change != "rename" else shared))
        code = lists[n].pop(k)
        if change == "rename":
            lists[n][k] = (code[0] + "_RENAMED", *code[1:])
        elif change == "renumber":
            lists[n][1000] = code
        elif change == "deprecate in minor":
            lists[n][k] = (code[0], DEPRECATED, code[2], last.list_version)
    broken = model(last.list_version, lists, previous=last.previous_list_version)
    assert succession_problems(chain[:-1], broken) != [], change


def test_dropping_a_deprecated_code_one_version_after_its_deprecation_is_refused() -> None:
    """C4: deprecated in 2027.1, still there in 2027.2, gone in 2028.1: one version kept, not two."""
    a = {"focalpoint.v1.Alpha": {1: ("A_1", ACTIVE, "2026.1", ""), 2: ("A_2", ACTIVE, "2026.1", "")}}
    b = {"focalpoint.v1.Alpha": {1: ("A_1", DEPRECATED, "2026.1", "2027.1"), 2: ("A_2", ACTIVE, "2026.1", "")}}
    chain = [model("2026.1", a), model("2027.1", b, previous="2026.1"), model("2027.2", b, previous="2027.1")]
    gone = model("2028.1", {"focalpoint.v1.Alpha": {2: ("A_2", ACTIVE, "2026.1", "")}}, previous="2027.2")
    assert any("stays receivable for 2 later versions" in p for p in succession_problems(chain, gone))
    kept = model("2028.1", b, previous="2027.2")
    later = model("2029.1", {"focalpoint.v1.Alpha": {2: ("A_2", ACTIVE, "2026.1", "")}}, previous="2028.1")
    assert succession_problems([*chain, kept], later) == []


def test_a_reissue_may_change_labels_but_not_codes() -> None:
    """C5: document version 2 of 2026.1 may add a language; changing a code needs a new list version."""
    one = CodeList.from_proto(code_list_doc(), "v1")
    two = CodeList.from_proto(code_list_doc(version=2, languages=[*TIER1_LANGUAGES, "sq"]), "v2")
    assert reissue_problems(one, two) == []
    changed = code_list_doc(version=2)
    changed.lists[0].codes[0].code = "SEX_F"
    assert any("codes changed" in p for p in reissue_problems(one, CodeList.from_proto(changed, "v2")))


def test_an_agreement_needs_its_working_languages_in_each_declared_version() -> None:
    """C6: a language the declared version lacks is a gap with its count; an undeclared version is named."""
    cl = CodeList.from_proto(code_list_doc(languages=[*TIER1_LANGUAGES, "el"]), "v1")
    gaps = label_gaps(
        agreement_id="AL-GR",
        working_languages=["en", "el", "sq"],
        declared={"AL": "2026.1", "GR": "2026.1", "IT": "2026.2"},
        code_lists={"2026.1": cl},
    )
    assert [(g.list_version, g.language, g.parties, g.missing_codes) for g in gaps] == [
        ("2026.1", "sq", ("AL", "GR"), 7),
        ("2026.2", "", ("IT",), -1),
    ]
    assert "does not carry" in gaps[1].why()


def test_every_enum_reachable_from_body_is_a_code_list() -> None:
    """The lists are found by walking Body's fields: today's eleven enums at least, none of the directory's."""
    found = set(body_lists())
    today = {
        "Sex",
        "IdentityDocumentType",
        "Relationship",
        "ExploitationForm",
        "IdentificationStatus",
        "InquiryTopic",
        "Urgency",
        "Confirmation",
        "CaregiverAvailability",
        "Finding",
        "DurableSolution",
    }
    assert {f"focalpoint.v1.{n}" for n in today} <= found
    assert "focalpoint.v1.KeyStatus" not in found


def test_a_zero_with_a_real_meaning_is_a_code_and_unspecified_is_not() -> None:
    """``enum_codes`` leaves out a zero named *_UNSPECIFIED and keeps a zero that means something."""
    pool = descriptor_pool.DescriptorPool()
    f = descriptor_pb2.FileDescriptorProto(name="t.proto", package="t", syntax="proto3")
    rule = f.enum_type.add(name="FamilyContactRule")
    for number, name in ((0, "FAMILY_CONTACT_RULE_CONSULT_SENDER_FIRST"), (1, "FAMILY_CONTACT_RULE_NO_CONTACT")):
        rule.value.add(name=name, number=number)
    pool.Add(f)
    assert enum_codes(pool.FindEnumTypeByName("t.FamilyContactRule")) == [
        (0, "FAMILY_CONTACT_RULE_CONSULT_SENDER_FIRST"),
        (1, "FAMILY_CONTACT_RULE_NO_CONTACT"),
    ]
    assert (0, "SEX_UNSPECIFIED") not in enum_codes(body_lists()["focalpoint.v1.Sex"])
