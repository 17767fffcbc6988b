"""Case references: minted per link, random, with a check character that catches a mistyped character."""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st

from focalpoint.cases.refs import CROCKFORD, check_case_ref, check_char, mint_case_ref


def test_a_minted_reference_has_the_state_ten_characters_and_a_valid_check() -> None:
    """GR-XXXXXXXXXX-C, accepted by the checker; two minted references differ."""
    ref = mint_case_ref("GR", os.urandom)
    assert ref.startswith("GR-")
    assert len(ref) == 15
    assert check_case_ref(ref) is None
    assert mint_case_ref("GR", os.urandom) != ref


@given(raw=st.binary(min_size=7, max_size=7), pos=st.integers(0, 9), sub=st.sampled_from(CROCKFORD))
def test_the_check_character_catches_any_single_substituted_character(raw: bytes, pos: int, sub: str) -> None:
    """Changing one of the ten characters always changes the check (mod 37 is prime, larger than the alphabet)."""
    ref = mint_case_ref("AL", lambda n: raw[:n])
    body = ref[3:13]
    if body[pos] == sub:
        return
    typo = body[:pos] + sub + body[pos + 1 :]
    assert check_char(typo) != check_char(body)
    assert check_case_ref(f"AL-{typo}-{ref[-1]}") is not None


def test_malformed_references_are_refused_without_echoing_them() -> None:
    """A name, a wrong State code or a bad shape is refused; the reason never repeats the value."""
    for bad in ("Arta Example", "ZZ-7KQ2M9XH4T-Q", "GR-1234567890", "gr-7kq2m9xh4t-q", "GR-7KQ2M9XH4I-Q"):
        problem = check_case_ref(bad)
        assert problem is not None
        assert bad not in problem
