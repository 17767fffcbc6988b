"""The code-list data files: the repository's own data is complete, and a file that is not refuses to build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from directory.codelists import TIER1_LANGUAGES, CodeList, body_lists, enum_codes
from focalpoint.admin.codelists import (
    CODELISTS_DIR,
    build_document,
    code_list_lines,
    code_list_summary,
    completeness_problems,
)
from focalpoint.errors import UsageError

NEWEST = max(CODELISTS_DIR.glob("*.yaml"), key=lambda p: tuple(int(x) for x in p.stem.split(".")))


def test_the_newest_code_list_labels_and_defines_every_code_of_every_list_in_every_tier1_language() -> None:
    """Every enum reachable from Body has every code, each with a label and a definition in en, fr, es,
    ar, ru and zh; a failure names every missing code and language, so the data file is filled in one go."""
    problems = completeness_problems(NEWEST)
    assert problems == [], f"{NEWEST} is incomplete:\n" + "\n".join(problems)


def test_the_newest_code_list_builds_a_document_nodes_accept() -> None:
    """The data builds a CodeListDocument that passes C1, with every list and code of the proto."""
    doc = build_document(NEWEST, expires_at_ms=1 << 62)
    built = CodeList.from_proto(doc, str(NEWEST))
    for name, descriptor in body_lists().items():
        assert sorted(built.lists[name]) == sorted(n for n, _ in enum_codes(descriptor)), name


def test_trafficking_is_defined_apart_from_smuggling_in_every_tier1_language() -> None:
    """The presumed-trafficking code says, in each language, what it must not be mistaken for."""
    built = CodeList.from_proto(build_document(NEWEST, expires_at_ms=1 << 62), str(NEWEST))
    code = built.code("focalpoint.v1.IdentificationStatus", 1)
    assert code is not None
    for lang in TIER1_LANGUAGES:
        label = code.label(lang, fallback_to_english=False)
        assert label is not None
        assert label.not_to_be_confused_with, lang


def _data() -> dict[str, Any]:
    loaded = yaml.safe_load(NEWEST.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _write(folder: Path, data: dict[str, Any], name: str | None = None) -> Path:
    path = folder / f"{name or data['list_version']}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_a_file_missing_labels_refuses_to_build_and_names_every_gap(tmp_path: Path) -> None:
    """Two definitions and a whole code removed: the error names each, by list, code, number and language."""
    data = _data()
    sex = data["lists"]["focalpoint.v1.Sex"]
    del sex["SEX_FEMALE"]["labels"]["ar"]
    sex["SEX_MALE"]["labels"]["zh"]["definition"] = ""
    del data["lists"]["focalpoint.v1.Urgency"]["URGENCY_EMERGENCY"]
    path = _write(tmp_path, data)
    with pytest.raises(UsageError) as e:
        build_document(path)
    message = str(e.value)
    assert "focalpoint.v1.Sex SEX_FEMALE (1): no ar label and definition" in message
    assert "focalpoint.v1.Sex SEX_MALE (2): no zh label and definition" in message
    assert "focalpoint.v1.Urgency URGENCY_EMERGENCY (3): missing" in message
    assert len(completeness_problems(path)) == 3


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d["lists"]["focalpoint.v1.Sex"]["SEX_FEMALE"].update(number=7), "number 7, but the proto says 1"),
        (lambda d: d["lists"].update({"focalpoint.v1.KeyStatus": {}}), "not an enum reachable"),
        (lambda d: d["lists"]["focalpoint.v1.Sex"].update(SEX_NEITHER={"number": 9}), "has no such value"),
        (lambda d: d.update(list_version="2026.2"), "differs from the file name"),
        (lambda d: d["lists"]["focalpoint.v1.Sex"]["SEX_FEMALE"].update(colour="red"), "expected deprecated_since"),
        (
            lambda d: d["lists"]["focalpoint.v1.Sex"]["SEX_FEMALE"]["labels"]["en"].update(status="GUESSED"),
            "labels.en.status: expected MACHINE_DRAFT",
        ),
    ],
)
def test_a_file_that_does_not_match_the_proto_refuses_to_build(tmp_path: Path, change: Any, match: str) -> None:
    """Numbers, lists and codes come from focalpoint.v1; the file's shape is checked field by field."""
    data = _data()
    change(data)
    with pytest.raises(UsageError, match=match):
        build_document(_write(tmp_path, data, name=NEWEST.stem))


def test_a_key_given_twice_is_refused_not_silently_overwritten(tmp_path: Path) -> None:
    """YAML keeps the last of two equal keys; the loader refuses, naming the line."""
    text = NEWEST.read_text(encoding="utf-8").replace("    SEX_MALE:", "    SEX_FEMALE:", 1)
    path = tmp_path / NEWEST.name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=r"line \d+: 'SEX_FEMALE' is given twice"):
        build_document(path)


def test_a_minor_version_keeps_introduced_in_and_may_not_deprecate(tmp_path: Path) -> None:
    """2026.2 follows 2026.1: its codes keep introduced_in 2026.1; deprecating one in a minor version is refused."""
    first = _data()
    _write(tmp_path, first)
    second = {**first, "list_version": "2026.2", "previous_list_version": first["list_version"]}
    doc = build_document(_write(tmp_path, second))
    assert {c.introduced_in for e in doc.lists for c in e.codes} == {first["list_version"]}
    second["lists"]["focalpoint.v1.Sex"]["SEX_OTHER"].update(status="DEPRECATED", deprecated_since="2026.2")
    with pytest.raises(UsageError, match=r"minor version of 2026\.1"):
        build_document(_write(tmp_path, second))


def test_show_lists_each_list_and_each_languages_completeness() -> None:
    """The summary counts codes per list and labels per language, tier-1 languages first."""
    lines = code_list_lines(code_list_summary(build_document(NEWEST, expires_at_ms=1 << 62)))
    assert lines[0].startswith(f"  code list {NEWEST.stem} (document version 1): ")
    assert any(line.strip().startswith("focalpoint.v1.Sex: 4 code(s)") for line in lines)
    languages = [line.split()[1] for line in lines if line.strip().startswith("language")]
    assert languages[:6] == sorted(TIER1_LANGUAGES)
