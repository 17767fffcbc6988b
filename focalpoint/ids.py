"""Shapes of identifiers that cross trust boundaries (node ids, key ids, States, languages, endpoints).

Patterns end in ``\\Z``, not ``$``: ``$`` also matches before a trailing newline.

State codes and language tags have one rule each, used at every door where they enter
(directory documents, ``focalpoint node init``, message bodies), checked against maintained
lists rather than a shape (docs/adr/0008-canonical-bytes-and-identifiers.md):

- ``state_problem``: an ISO 3166-1 alpha-2 code that ISO has *officially assigned* (the
  ``iso3166`` package's list, less the user-assigned ranges AA, QM–QZ, XA–XZ and ZZ):
  ``GB`` is one, ``UK`` (exceptionally reserved) and ``ZZ`` are not;
- ``language_problem``: a BCP 47 language tag (RFC 5646) that is well formed (the ``langtag``
  production, checked here) and valid (every language, script, region and variant subtag
  registered, no variant or extension twice; the ``langcodes`` package, without normalizing,
  so ``en-UK`` or ``iw`` are not silently read as ``en-GB`` or ``he``).

A link's case reference (``GR-7KQ2M9XH4T-0``, docs/adr/0015) is checked here too
(``check_case_ref``), because every body carries one and the exchange checks bodies; minting
one is the case core's (``focalpoint.cases.refs``).

Each returns None when the value is good, or what was expected and what arrived *without
repeating the value* (a body's field may hold personal data by mistake); a caller whose
values are public (a signed directory document, an operator's own command line) adds it.
This module is on the foundation floor: it raises nothing of its own.
"""

from __future__ import annotations

import re

import iso3166
from langcodes import Language
from langcodes.tag_parser import LanguageTagError

__all__ = [
    "ACTOR",
    "ACTOR_METADATA",
    "CROCKFORD",
    "ENDPOINT",
    "KEY_ID",
    "MAX_INT64",
    "NODE_ID",
    "STATE",
    "STATE_CODES",
    "check_case_ref",
    "check_char",
    "is_language_tag",
    "is_state",
    "language_problem",
    "state_problem",
]

# A lowercase DNS label: also the SAN of the node's TLS certificate.
NODE_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
# focalpoint.crypto.signing.key_id_for: 16 bytes of SHA-256 in hex.
KEY_ID = re.compile(r"^[0-9a-f]{32}\Z")
# The shape of an ISO 3166-1 alpha-2 code; whether ISO assigned it is ``state_problem``.
STATE = re.compile(r"^[A-Z]{2}\Z")
ENDPOINT = re.compile(r"^(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})\Z")
# A local user id as recorded in the audit log (pseudonymous; never a display name).
ACTOR = re.compile(r"^[A-Za-z0-9._@-]{1,128}\Z")
# The local API metadata key in which a client names the user it acts for.
ACTOR_METADATA = "fp-actor"
# The largest integer SQLite stores (and protobuf's int64 holds): a sequence number, log index,
# log size or document version a caller sends beyond it names nothing a node can have.
MAX_INT64 = (1 << 63) - 1

# ISO 3166-1 §8.1.3: codes left to users, never assigned to a country (``iso3166`` lists XK,
# which the European Commission uses for Kosovo; ISO has not assigned it).
_USER_ASSIGNED = re.compile(r"^(?:AA|Q[M-Z]|X[A-Z]|ZZ)\Z")
_STATES: frozenset[str] = frozenset(
    code for code in iso3166.countries_by_alpha2 if STATE.match(code) and not _USER_ASSIGNED.match(code)
)
# Every officially assigned code, sorted (249 in iso3166 3.0.0).
STATE_CODES: tuple[str, ...] = tuple(sorted(_STATES))

# RFC 5646 §2.1, the ``langtag`` production (a tag that names a language; private-use-only and
# grandfathered tags are not accepted here), ASCII letters in any case.
_LANGTAG = re.compile(
    r"""^
    (?:[a-z]{2,3}(?:-[a-z]{3}){0,3} | [a-z]{4} | [a-z]{5,8})   # language [-extlang]
    (?:-[a-z]{4})?                                            # script
    (?:-(?:[a-z]{2}|[0-9]{3}))?                               # region
    (?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*                  # variants
    (?:-[0-9a-wy-z](?:-[a-z0-9]{2,8})+)*                      # extensions
    (?:-x(?:-[a-z0-9]{1,8})+)?                                # private use
    \Z""",
    re.IGNORECASE | re.ASCII | re.VERBOSE,
)
# Longer than any tag a person writes (RFC 5646 §4.4.1 asks for at least 35), short enough
# that checking one costs nothing.
MAX_LANGUAGE_TAG = 64
# langcodes memoizes every tag it parses, valid or not; emptied past this many so that a node's
# memory stays bounded whatever tags its peers and users send (a few MB at most).
_LANGCODES_MEMO_LIMIT = 10_000


def state_problem(code: str) -> str | None:
    """None for an officially assigned ISO 3166-1 alpha-2 code; otherwise what is wrong."""
    if not STATE.match(code):
        return (
            "expected an ISO 3166-1 alpha-2 code (two capital letters, e.g. 'GB'); "
            f"got {_described(code)} that is not two capital letters"
        )
    if code in _STATES:
        return None
    if _USER_ASSIGNED.match(code):
        return (
            "expected an officially assigned ISO 3166-1 alpha-2 code (e.g. 'GB'); "
            "got a user-assigned code (ISO 3166-1 leaves these to users; none names a State)"
        )
    return (
        "expected an officially assigned ISO 3166-1 alpha-2 code (e.g. 'GB' for the United Kingdom); "
        "got two capital letters that ISO 3166-1 does not assign"
    )


def is_state(code: str) -> bool:
    return state_problem(code) is None


def language_problem(tag: str) -> str | None:
    """None for a well-formed and valid BCP 47 language tag; otherwise what is wrong."""
    if len(tag) > MAX_LANGUAGE_TAG or not _LANGTAG.match(tag):
        return (
            "expected a BCP 47 language tag such as 'en', 'sq' or 'sr-Latn-RS'; "
            f"got {_described(tag)} that is not well formed (RFC 5646 syntax, at most {MAX_LANGUAGE_TAG} characters)"
        )
    if not _registered(tag.lower()):
        return (
            "expected a BCP 47 language tag whose subtags are registered (IANA language subtag registry); "
            "got a well-formed tag with an unregistered or repeated subtag"
        )
    return None


def is_language_tag(tag: str) -> bool:
    return language_problem(tag) is None


def _registered(tag: str) -> bool:
    memo = getattr(Language, "_PARSE_CACHE", None), getattr(Language, "_INSTANCES", None)
    for cache in memo:
        if isinstance(cache, dict) and len(cache) > _LANGCODES_MEMO_LIMIT:
            cache.clear()
    try:
        return bool(Language.get(tag, normalize=False).is_valid())
    except LanguageTagError:
        return False


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Crockford's check symbols: the 32 digits, then * ~ $ = U for 32–36.
_CHECK = CROCKFORD + "*~$=U"
_CASE_REF = re.compile(r"^([A-Z]{2})-([0-9A-HJKMNP-TV-Z]{10})-([0-9A-HJKMNP-TV-Z*~$=U])\Z")


def check_char(payload: str) -> str:
    """Crockford's mod-37 check character of a base-32 string."""
    value = 0
    for ch in payload:
        value = value * 32 + CROCKFORD.index(ch)
    return _CHECK[value % 37]


def check_case_ref(ref: str) -> str | None:
    """None if ``ref`` is a well-formed link reference, else what is wrong (never the value)."""
    m = _CASE_REF.match(ref)
    if m is None:
        return "a case reference looks like GR-7KQ2M9XH4T-0 (State code, 10 characters, check character)"
    if problem := state_problem(m.group(1)):
        return f"the case reference's State code: {problem}"
    if check_char(m.group(2)) != m.group(3):
        return "the case reference's check character does not match (a character was mistyped)"
    return None


def _described(value: str) -> str:
    """What arrived, without the value itself: its length in characters."""
    return "an empty value" if not value else f"a value of {len(value)} character{'s' * (len(value) != 1)}"
