"""Using the code list: which codes a message uses that a version does not know, how a code reads, CLDR names."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from hypothesis import given, settings
from hypothesis import strategies as st

from directory.codelists import TIER1_LANGUAGES, CodeList
from focalpoint.cases.codes import (
    OutsideCode,
    codes_outside,
    country_name,
    describe,
    language_name,
    refuse_codes_outside,
)
from focalpoint.exchange.body import InvalidBody
from focalpoint.v1 import messages_pb2
from tests.support.codelists import code_list_doc

SEX = "focalpoint.v1.Sex"
URGENCY = "focalpoint.v1.Urgency"
EXPLOITATION = "focalpoint.v1.ExploitationForm"
# 2026.1 knows Sex 1-3 and Urgency 1-2; 2026.2 adds Sex 4 and Urgency 3, and ExploitationForm 1-2.
OLD = {SEX: {1: "SEX_FEMALE", 2: "SEX_MALE", 3: "SEX_OTHER"}, URGENCY: {1: "URGENCY_ROUTINE", 2: "URGENCY_URGENT"}}
NEW = {
    SEX: {**OLD[SEX], 4: "SEX_UNKNOWN"},
    URGENCY: {**OLD[URGENCY], 3: "URGENCY_EMERGENCY"},
    EXPLOITATION: {1: "EXPLOITATION_FORM_SEXUAL", 2: "EXPLOITATION_FORM_LABOUR"},
}
INTRODUCED = {c: "2026.1" for codes in OLD.values() for c in codes.values()}


def newer() -> CodeList:
    doc = code_list_doc(
        "2026.2", previous="2026.1", lists=NEW, introduced=INTRODUCED, languages=[*TIER1_LANGUAGES, "pt"]
    )
    return CodeList.from_proto(doc, "2026.2")


def request(sex: int = 0, urgency: int = 0, forms: tuple[int, ...] = ()) -> messages_pb2.Body:
    body = messages_pb2.Body(code_list_version="2026.1")
    r = body.social_inquiry_request
    r.case_ref = "GR-2026-0001"
    r.child.sex = sex  # type: ignore[assignment]
    r.urgency = urgency  # type: ignore[assignment]
    r.exploitation_forms.extend(forms)  # type: ignore[arg-type]
    return body


def test_codes_a_version_does_not_know_are_listed_with_their_field_path() -> None:
    """A newer code, a code of a newer list and a number no version has are found; known ones are not."""
    found = codes_outside(request(sex=4, urgency=2, forms=(1, 99)), "2026.1", newer())
    assert found == [
        OutsideCode("social_inquiry_request.child.sex", SEX, 4),
        OutsideCode("social_inquiry_request.exploitation_forms[0]", EXPLOITATION, 1),
        OutsideCode("social_inquiry_request.exploitation_forms[1]", EXPLOITATION, 99),
    ]
    assert codes_outside(request(sex=4, forms=(1,)), "2026.2", newer()) == []


def test_unspecified_is_not_given_and_never_a_code_outside() -> None:
    """Zero named *_UNSPECIFIED, singular or repeated, is never reported."""
    assert codes_outside(request(sex=0, forms=(0,)), "2026.1", newer()) == []


@given(sex=st.integers(0, 6), urgency=st.integers(0, 5), forms=st.lists(st.integers(0, 4), max_size=4))
@settings(max_examples=60, deadline=None)
def test_exactly_the_numbers_missing_from_the_version_are_reported(sex: int, urgency: int, forms: list[int]) -> None:
    """Property: a value is reported iff it is not zero and not a code the version has."""
    known = {SEX: set(OLD[SEX]), URGENCY: set(OLD[URGENCY]), EXPLOITATION: set()}
    expected = {(SEX, sex)} if sex and sex not in known[SEX] else set()
    expected |= {(URGENCY, urgency)} if urgency and urgency not in known[URGENCY] else set()
    expected |= {(EXPLOITATION, f) for f in forms if f}
    found = codes_outside(request(sex, urgency, tuple(forms)), "2026.1", newer())
    assert {(o.enum_name, o.number) for o in found} == expected


def test_a_sender_refuses_codes_its_partners_older_version_lacks() -> None:
    """Own 2026.2, partner 2026.1: a 2026.2 code is refused naming field and number; with both on 2026.2 it passes."""
    with pytest.raises(InvalidBody, match=r"social_inquiry_request\.child\.sex: code 4 of .* not in code list 2026\.1"):
        refuse_codes_outside(request(sex=4), own="2026.2", partner="2026.1", code_list=newer())
    refuse_codes_outside(request(sex=4), own="2026.2", partner="2026.2", code_list=newer())


def test_a_zero_with_a_real_meaning_is_checked_like_any_code() -> None:
    """An enum whose zero is a real code (no *_UNSPECIFIED) has its zero checked in repeated fields."""
    pool = descriptor_pool.DescriptorPool()
    f = descriptor_pb2.FileDescriptorProto(name="z.proto", package="z", syntax="proto3")
    rule = f.enum_type.add(name="FamilyContactRule")
    rule.value.add(name="FAMILY_CONTACT_RULE_CONSULT_SENDER_FIRST", number=0)
    rule.value.add(name="FAMILY_CONTACT_RULE_NO_CONTACT", number=1)
    msg = f.message_type.add(name="Holder")
    msg.field.add(
        name="rules",
        number=1,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_ENUM,
        type_name=".z.FamilyContactRule",
        label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
    )
    pool.Add(f)
    holder = message_factory.GetMessageClass(pool.FindMessageTypeByName("z.Holder"))()
    holder.rules.extend([0, 1])  # type: ignore[attr-defined]
    assert codes_outside(holder, "2026.1", newer()) == [
        OutsideCode("rules[0]", "z.FamilyContactRule", 0),
        OutsideCode("rules[1]", "z.FamilyContactRule", 1),
    ]


def test_describe_falls_back_to_a_general_tag_then_english_and_flags_drafts() -> None:
    """pt-BR reads the pt label, de the English one; every label of the test list is a machine draft."""
    code_list = newer()
    pt = describe(code_list, SEX, 1, "pt-BR")
    assert (pt.language, pt.known, pt.machine_draft) == ("pt", True, True)
    assert describe(code_list, SEX, 1, "de").language == "en"
    assert describe(code_list, SEX, 1, "ar").label == "sex_female (ar)"


@pytest.mark.parametrize(("number", "have_list"), [(9, True), (1, False)])
def test_an_unknown_code_reads_as_a_newer_versions_code_and_never_raises(number: int, have_list: bool) -> None:
    """A number the version lacks, or no version at all here: "code N of list L (newer version)", flagged."""
    text = describe(newer() if have_list else None, SEX, number, "fr")
    assert text.label == f"code {number} of list Sex (newer version)"
    assert text.known is False


def test_country_and_language_names_come_from_cldr() -> None:
    """CLDR names in the reader's language; English for a language CLDR lacks; the code for nothing known."""
    assert country_name("MA", "fr") == "Maroc"
    assert country_name("GR", "zh") == "希腊"
    assert country_name("GR", "xx") == "Greece"
    assert country_name("QZ", "en") == "QZ"
    assert language_name("fr", "ar") == "الفرنسية"
    assert language_name("sq", "ru") == "албанский"
    assert language_name("not a tag", "en") == "not a tag"
