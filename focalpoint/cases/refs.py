"""Pseudonymous case references, one per link (docs/cases.md §References).

``GR-7KQ2M9XH4T-0``: the ISO 3166-1 code of the State whose node sent the link's first message,
ten random Crockford base-32 characters (50 bits: a reference says nothing about how many cases
a State has), and a check character (Crockford's mod 37), so a digit misheard over the phone is
caught before it names another child's case.
"""

from __future__ import annotations

from collections.abc import Callable

# The checks live on the foundation floor, so that the exchange can check the reference in every
# body; they are re-exported here, where the references are minted.
from focalpoint.ids import CROCKFORD, check_case_ref, check_char, state_problem

__all__ = ["CROCKFORD", "check_case_ref", "check_char", "mint_case_ref"]

_RANDOM_CHARS = 10


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
