"""Administrators set node key statuses when proposing a State entry (``propose --key-status``)."""

from __future__ import annotations

import pytest

from focalpoint.admin.proposals import apply_key_statuses
from focalpoint.errors import UsageError
from focalpoint.v1 import directory_pb2

NOW = 1_790_000_000_000


def entry() -> directory_pb2.StateEntry:
    node = directory_pb2.NodeEntry(
        node_id="gr-ekka",
        state="GR",
        signing_keys=[
            directory_pb2.PublicKeyEntry(key_id="a" * 32, status=directory_pb2.KEY_STATUS_ACTIVE),
            directory_pb2.PublicKeyEntry(key_id="b" * 32, status=directory_pb2.KEY_STATUS_NEXT),
        ],
        tls_keys=[directory_pb2.TlsKey(spki_sha256=bytes(range(32)), status=directory_pb2.KEY_STATUS_ACTIVE)],
    )
    return directory_pb2.StateEntry(state="GR", nodes=[node])


def test_a_rotation_switch_in_one_proposal() -> None:
    """NEXT becomes ACTIVE and the old key RETIRED as of now, so earlier messages still verify."""
    e = entry()
    apply_key_statuses(e, ("b" * 32 + "=active", "a" * 32 + "=RETIRED"), NOW)
    old, new = e.nodes[0].signing_keys
    assert (old.status, old.not_after_ms) == (directory_pb2.KEY_STATUS_RETIRED, NOW)
    assert (new.status, new.not_after_ms) == (directory_pb2.KEY_STATUS_ACTIVE, 0)


def test_tls_keys_are_named_by_their_pin() -> None:
    """A TLS key is revoked by giving its SPKI pin in hex."""
    e = entry()
    apply_key_statuses(e, (bytes(range(32)).hex() + "=revoked",), NOW)
    assert e.nodes[0].tls_keys[0].status == directory_pb2.KEY_STATUS_REVOKED


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("a" * 32, "expected KEY_ID=ACTIVE"),
        ("a" * 32 + "=LOST", "expected KEY_ID=ACTIVE"),
        ("a" * 32 + "=unspecified", "expected KEY_ID=ACTIVE"),
        ("c" * 32 + "=REVOKED", "no key"),
    ],
)
def test_bad_key_status_options_are_usage_errors(item: str, message: str) -> None:
    """A malformed option or an unknown key id is refused with the option named."""
    with pytest.raises(UsageError, match=message):
        apply_key_statuses(entry(), (item,), NOW)
