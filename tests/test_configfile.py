"""The section reader shared by the node's and the console's configuration
(focalpoint.configfile): one pass records every problem with its key path, unknown keys come
first with the key they resemble, and each file's two choices (whether what follows from a
problem is reported too, whether a bare section is an empty one) hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from focalpoint.configfile import Problems, SectionReader
from focalpoint.errors import ConfigError

FILE = Path("/etc/focalpoint/x.yaml")


def reader(data: dict[Any, Any], **policy: bool) -> tuple[Problems, SectionReader]:
    problems = Problems(FILE, **policy)
    return problems, SectionReader(problems, data)


def test_values_are_read_and_resolved_and_nothing_is_reported() -> None:
    problems, root = reader({"a": {"name": "x", "n": 3, "file": "keys.bin"}, "top": 1.5})
    a = root.section("a")
    assert (a.string("name"), a.number("n", default=1, low=0, high=9, integer=True)) == ("x", 3)
    assert a.path("file") == Path("/etc/focalpoint/keys.bin")
    assert a.number("absent", default=7, low=0, high=9) == 7
    a.finish()
    assert root.number("top", default=1, low=0, high=2) == 1.5
    assert root.section("optional", required=False).get("k", "d") == "d"
    root.finish()
    assert problems.lines() == []
    problems.raise_any()  # nothing to raise


def test_every_problem_is_listed_with_its_key_path_unknown_keys_first() -> None:
    problems, root = reader({"a": {"name": 5, "n": True, "file": " ", "nmae": 1}, "b": [1], True: 1})
    a = root.section("a")
    assert a.string("name") is None
    assert a.number("n", default=1, low=0, high=9, integer=True) is None  # a bool is not a number
    assert a.path("file") is None
    assert a.string("gone") is None
    a.finish()
    root.section("b", required=False)
    root.section("c")
    problems.add("a.name", "must differ from b")
    root.finish()
    assert problems.lines() == [
        f"{FILE}: a.nmae: unknown key (did you mean name?)",
        f"{FILE}: True: unknown key",
        f"{FILE}: a.name: expected a string, got 5",
        f"{FILE}: a.n: expected an integer in [0, 9], got True",
        f"{FILE}: a.file: expected a non-empty file path, got ' '",
        f"{FILE}: a.gone: required key is missing",
        f"{FILE}: b: expected a mapping, got [1]",
        f"{FILE}: c: required key is missing",
        f"{FILE}: a.name: must differ from b",
    ]
    with pytest.raises(ConfigError) as refused:
        problems.raise_any()
    assert str(refused.value).splitlines() == problems.lines()


@pytest.mark.parametrize("consequences", [False, True])
def test_what_follows_from_a_reported_problem_is_reported_only_when_asked(consequences: bool) -> None:
    """A missing or broken section's required keys, and a missing key that an unknown key was
    suggested for: the node's file leaves them out, the console's reports them."""
    problems, root = reader({"broken": "x", "typo": {"keys-file": "k"}}, consequences=consequences)
    for name in ("missing", "broken"):
        section = root.section(name)
        assert section.get("inner") is None
        assert section.present is consequences
    typo = root.section("typo")
    assert typo.path("keys_file") is None
    typo.finish()
    reported = [
        f"{FILE}: typo.keys-file: unknown key (did you mean keys_file?)",
        f"{FILE}: missing: required key is missing",
        f"{FILE}: missing.inner: required key is missing",
        f"{FILE}: broken: expected a mapping, got 'x'",
        f"{FILE}: broken.inner: required key is missing",
        f"{FILE}: typo.keys_file: required key is missing",
    ]
    followers = {reported[2], reported[4], reported[5]}
    assert problems.lines() == [line for line in reported if consequences or line not in followers]


@pytest.mark.parametrize("bare_sections", [False, True])
def test_a_bare_section_is_empty_only_when_asked(bare_sections: bool) -> None:
    problems, root = reader({"tls": None}, bare_sections=bare_sections)
    assert root.section("tls", required=False).get("certificate", None) is None
    expected = [] if bare_sections else [f"{FILE}: tls: expected a mapping, got None"]
    assert problems.lines() == expected


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers(), max_size=6), st.sets(st.text(max_size=8)))
def test_every_key_not_read_is_reported_once_as_unknown(data: dict[str, int], read: set[str]) -> None:
    problems, root = reader(dict(data))
    for key in read:
        root.get(key, None)
    root.finish()
    assert [key for key, _ in problems.unknown] == sorted(set(data) - read)
    assert len(problems.lines()) == len(set(data) - read)
