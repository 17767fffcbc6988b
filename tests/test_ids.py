"""The one rule for State codes and language tags (focalpoint.ids): checked against ISO 3166-1 and the
BCP 47 registry, and a refusal says what was expected and what arrived without repeating the value."""

from __future__ import annotations

import pytest
from langcodes import Language

from focalpoint.ids import is_language_tag, is_state, language_problem, state_problem


@pytest.mark.parametrize("code", ["GB", "GR", "AL", "IT", "DE", "JP", "AQ", "KP"])
def test_officially_assigned_state_codes_are_accepted(code: str) -> None:
    """Codes ISO 3166-1 assigns to a country or territory pass."""
    assert state_problem(code) is None
    assert is_state(code)


@pytest.mark.parametrize(
    ("code", "why"),
    [
        pytest.param("UK", "does not assign", id="UK-exceptionally-reserved"),
        pytest.param("EU", "does not assign", id="EU-not-a-State"),
        pytest.param("ZZ", "user-assigned", id="ZZ-user-assigned"),
        pytest.param("XK", "user-assigned", id="XK-user-assigned"),
        pytest.param("AA", "user-assigned", id="AA-user-assigned"),
        pytest.param("QM", "user-assigned", id="QM-user-assigned"),
        pytest.param("gr", "two capital letters", id="lowercase"),
        pytest.param("GRC", "two capital letters", id="alpha-3"),
        pytest.param("", "empty", id="empty"),
        pytest.param("GR\n", "two capital letters", id="trailing-newline"),
        pytest.param("Albania", "7 characters", id="a-name"),
    ],
)
def test_unassigned_or_malformed_state_codes_are_refused_saying_why_without_the_value(code: str, why: str) -> None:
    """UK, ZZ, XK, lowercase, alpha-3 and names are refused; the reason names the rule, not the value."""
    problem = state_problem(code)
    assert problem is not None
    assert not is_state(code)
    assert "expected" in problem
    assert why in problem
    if code:
        assert code not in problem


@pytest.mark.parametrize(
    "tag",
    [
        *("en", "el", "sq", "EN", "en-GB", "sr-Latn-RS", "zh-Hant-TW", "es-419", "de-CH-1996", "gsw", "fil"),
        *("und", "qaa", "en-US-u-ca-gregory", "el-polyton", "en-a-bbb-x-a-ccc", "iw"),
    ],
)
def test_well_formed_valid_language_tags_are_accepted(tag: str) -> None:
    """Tags of registered subtags in the RFC 5646 shape pass, in any letter case."""
    assert language_problem(tag) is None
    assert is_language_tag(tag)


@pytest.mark.parametrize(
    ("tag", "why"),
    [
        pytest.param("en_GB", "not well formed", id="underscore"),
        pytest.param("en--gb", "not well formed", id="empty-subtag"),
        pytest.param("en\n", "not well formed", id="trailing-newline"),
        pytest.param("", "not well formed", id="empty"),
        pytest.param("English", "not registered", id="a-language-name"),
        pytest.param("en-GB-GB", "not well formed", id="two-regions"),
        pytest.param("x-private", "not well formed", id="private-use-only"),
        pytest.param("i-klingon", "not well formed", id="grandfathered-irregular"),
        pytest.param("en-" + "a" * 70, "not well formed", id="too-long"),
        pytest.param("xx", "not registered", id="unregistered-language"),
        pytest.param("zzz", "not registered", id="unregistered-3-letter-language"),
        pytest.param("en-UK", "not registered", id="UK-region"),
        pytest.param("es-999", "not registered", id="unregistered-numeric-region"),
        pytest.param("de-1996-1996", "repeated", id="repeated-variant"),
        pytest.param("en-a-bbb-a-ccc", "repeated", id="repeated-extension"),
        pytest.param("Maria-Smith", "not registered", id="a-name-shaped-like-a-tag"),
    ],
)
def test_malformed_or_unregistered_language_tags_are_refused_saying_why_without_the_value(tag: str, why: str) -> None:
    """Underscores, names, unregistered or repeated subtags are refused; the reason never repeats the tag."""
    problem = language_problem(tag)
    assert problem is not None
    assert not is_language_tag(tag)
    assert "expected a BCP 47 language tag" in problem
    assert why.replace("not registered", "unregistered") in problem
    if len(tag.strip()) > 3:  # shorter ones are parts of words
        assert tag.strip() not in problem


def test_checking_many_distinct_language_tags_keeps_the_library_memo_bounded() -> None:
    """Whatever tags arrive, the parser's memo of them stays below its bound."""
    for i in range(10_500):
        language_problem(f"en-{i:05d}x")  # well formed, each distinct, none registered
    memo = getattr(Language, "_PARSE_CACHE", {})
    assert len(memo) <= 10_001
