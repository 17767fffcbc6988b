"""Pseudonymous case references, one per link (docs/cases.md §References).

``GR-7KQ2M9XH4T-Q``: the ISO 3166-1 code of the State whose node sent the link's first message,
ten random Crockford base-32 characters (50 bits: a reference says nothing about how many cases
a State has), and a check character (Crockford's mod 37), so a digit misheard over the phone is
caught before it names another child's case.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from focalpoint.ids import state_problem

__all__ = ["CROCKFORD", "check_case_ref", "check_char", "mint_case_ref"]

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Crockford's check symbols: the 32 digits, then * ~ $ = U for 32–36.
_CHECK = CROCKFORD + "*~$=U"
_RANDOM_CHARS = 10
_SHAPE = re.compile(r"^([A-Z]{2})-([0-9A-HJKMNP-TV-Z]{10})-([0-9A-HJKMNP-TV-Z*~$=U])\Z")


def check_char(payload: str) -> str:
    """Crockford's mod-37 check character of a base-32 string."""
    value = 0
    for ch in payload:
        value = value * 32 + CROCKFORD.index(ch)
    return _CHECK[value % 37]


def mint_case_ref(state: str, random_bytes: Callable[[int], bytes]) -> str:
    """A fresh reference for a link opened by a node of ``state``.

    ``random_bytes`` is ``os.urandom`` in the node (passed in: the core reads no entropy itself).
    Raises ValueError if ``state`` is not an ISO 3166-1 alpha-2 code.
    """
    if problem := state_problem(state):
        raise ValueError(f"state: {problem}")
    raw = int.from_bytes(random_bytes(7), "big") >> 6  # 50 bits
    body = "".join(CROCKFORD[(raw >> (5 * i)) & 31] for i in reversed(range(_RANDOM_CHARS)))
    return f"{state}-{body}-{check_char(body)}"


def check_case_ref(ref: str) -> str | None:
    """None if ``ref`` is a well-formed link reference, else what is wrong (never the value)."""
    m = _SHAPE.match(ref)
    if m is None:
        return "a case reference looks like GR-7KQ2M9XH4T-Q (State code, 10 characters, check character)"
    if problem := state_problem(m.group(1)):
        return f"the case reference's State code: {problem}"
    if check_char(m.group(2)) != m.group(3):
        return "the case reference's check character does not match (a character was mistyped)"
    return None
