"""The rules table (focalpoint.exchange.rules): complete, and printed into the protocol so it cannot drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from focalpoint.exchange.rules import (
    KINDS,
    PERSONAL_DATA_KINDS,
    RULES,
    code_name,
    kind_type,
    rules_markdown,
    short_code,
)
from focalpoint.v1 import codes_pb2, common_pb2, messages_pb2

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def test_the_protocol_holds_the_rules_table_generated_from_the_code() -> None:
    """docs/protocol.md §11.6 contains rules_markdown() verbatim: change a rule and this fails until the doc follows."""
    assert rules_markdown() in PROTOCOL.read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_rules_and_its_section_in_the_table(kind: str) -> None:
    """Each kind's message type has a Spec, and the printed table has its heading, marked ● when attested."""
    assert kind_type(kind).name in RULES
    mark = " ●" if kind in PERSONAL_DATA_KINDS else ""
    assert f"**`{kind}`** (`{kind_type(kind).name}`){mark}:" in rules_markdown()


def test_every_field_the_table_names_exists_and_required_never_means_a_boolean() -> None:
    """A misspelt field in the table would silently check nothing; a required bool is spelt `true` instead."""
    descriptors = {d.name: d for d in messages_pb2.DESCRIPTOR.message_types_by_name.values()}
    descriptors.update(common_pb2.DESCRIPTOR.message_types_by_name)
    for type_name, spec in RULES.items():
        fields = descriptors[type_name].fields_by_name
        for attr in ("required", "true", "states", "subdivisions", "languages", "units", "actors", "case_refs", "past"):
            for name in getattr(spec, attr):
                assert name in fields, (type_name, attr, name)
        for name in spec.required:
            assert fields[name].type != fields[name].TYPE_BOOL, (type_name, name)
        for name, kinds in spec.refers_to:
            assert name in fields, (type_name, name)
            assert set(kinds) <= set(KINDS), (type_name, name)


def test_codes_are_read_by_short_or_full_name_and_written_short() -> None:
    """SUSPECTED and FINDING_SUSPECTED name the same code; an unknown number is written as its number."""
    finding = messages_pb2.Finding.DESCRIPTOR
    assert code_name(finding, "SUSPECTED") == code_name(finding, "FINDING_SUSPECTED") == messages_pb2.FINDING_SUSPECTED
    assert code_name(finding, "MAYBE") is None
    assert short_code(codes_pb2.FamilyContactRule.DESCRIPTOR, 0) == "CONSULT_SENDER_FIRST"
    assert short_code(finding, 99) == "99"
