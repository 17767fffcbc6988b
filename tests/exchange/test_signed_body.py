"""The exact signed bytes of a body are cut from the signed content, never re-serialized."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from focalpoint.exchange.envelope import signed_body_bytes
from focalpoint.v1 import envelope_pb2, messages_pb2


@given(version=st.text(max_size=8), seq=st.integers(0, 2**64 - 1), mid=st.binary(max_size=16))
def test_the_body_bytes_are_exactly_the_serialized_body_inside_the_signed_content(
    version: str, seq: int, mid: bytes
) -> None:
    """Whatever surrounds it, the cut bytes parse to the body and re-serialize to themselves."""
    body = messages_pb2.Body(code_list_version=version)
    raw_body = body.SerializeToString()
    content = envelope_pb2.SignedContent(sender_node="gr", message_id=mid, sequence=seq, body=body)
    assert signed_body_bytes(content.SerializeToString()) == raw_body


def test_a_body_given_twice_or_truncated_content_is_refused() -> None:
    """Two body fields (a merge a verifier would not see) or cut-off bytes raise ValueError."""
    one = envelope_pb2.SignedContent(body=messages_pb2.Body(code_list_version="2026.1")).SerializeToString()
    with pytest.raises(ValueError, match="twice"):
        signed_body_bytes(one + one)
    with pytest.raises(ValueError, match="truncated"):
        signed_body_bytes(one[:-1])
