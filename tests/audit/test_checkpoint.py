"""Checkpoints and cosignatures (focalpoint.audit.checkpoint), pure: a cosignature dated beyond the
receiver's clock-skew window is refused when there is a clock to compare with, and accepted when
there is none (old evidence); a checkpoint larger than any log is refused."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from focalpoint.audit.checkpoint import (
    checked_cosignature,
    cosign,
    make_checkpoint,
    verify_checkpoint,
    verify_cosignature,
)
from focalpoint.crypto.signing import AdminSigner, AdminVerifier, Context
from focalpoint.errors import VerificationError
from focalpoint.ids import MAX_INT64
from focalpoint.v1 import audit_pb2, common_pb2

NOW = 1_790_000_000_000
SKEW = 300_000
LOG, WITNESS = "gr-ekka", "al-shss"


@dataclass(frozen=True)
class Keys:
    """Each node's one log key, valid at any time (``LogKeys``)."""

    by_node: dict[str, AdminSigner]

    def log_key(self, node_id: str, key_id: str, at_ms: int) -> AdminVerifier | None:
        signer = self.by_node.get(node_id)
        return signer.verifier if signer is not None and signer.key_id == key_id else None


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys({LOG: AdminSigner.generate(), WITNESS: AdminSigner.generate()})


def _checkpoint(keys: Keys, size: int = 3) -> audit_pb2.SignedCheckpoint:
    return make_checkpoint(keys.by_node[LOG], log_node=LOG, size=size, root=bytes(32), issued_at_ms=NOW)


@pytest.mark.parametrize(
    ("dated", "accepted"),
    [
        pytest.param(NOW - 86_400_000, True, id="a-day-ago"),
        pytest.param(NOW, True, id="now"),
        pytest.param(NOW + SKEW, True, id="at-the-edge-of-the-skew"),
        pytest.param(NOW + SKEW + 1, False, id="just-past-the-skew"),
        pytest.param(NOW + 10 * 365 * 86_400_000, False, id="ten-years-ahead"),
    ],
)
def test_a_cosignature_dated_past_the_receivers_clock_skew_is_refused(keys: Keys, dated: int, accepted: bool) -> None:
    """Against the receiver's clock: up to now + skew passes, later is refused saying by how much."""
    signed = _checkpoint(keys)
    c = cosign(keys.by_node[WITNESS], witness=WITNESS, checkpoint=signed.checkpoint, at_ms=dated)
    if accepted:
        assert (
            verify_cosignature(c, keys, checkpoint=signed.checkpoint, now_ms=NOW, skew_ms=SKEW).witness_node == WITNESS
        )
    else:
        with pytest.raises(VerificationError, match=rf"dated {dated - NOW} ms after this node's clock; at most {SKEW}"):
            verify_cosignature(c, keys, checkpoint=signed.checkpoint, now_ms=NOW, skew_ms=SKEW)


def test_without_a_clock_a_future_dated_cosignature_still_verifies(keys: Keys) -> None:
    """Evidence read later has no clock to compare with: the signature alone is checked."""
    signed = _checkpoint(keys)
    c = cosign(keys.by_node[WITNESS], witness=WITNESS, checkpoint=signed.checkpoint, at_ms=NOW + 10**12)
    assert verify_cosignature(c, keys, checkpoint=signed.checkpoint).cosigned_at_ms == NOW + 10**12


def test_a_checked_cosignature_keeps_only_the_witnesss_valid_pair(keys: Keys) -> None:
    """Junk next to the valid signatures, another key's signature and unknown fields are not kept."""
    signed = _checkpoint(keys)
    c = cosign(keys.by_node[WITNESS], witness=WITNESS, checkpoint=signed.checkpoint, at_ms=NOW)
    valid = list(c.signatures)
    c.signatures.insert(0, common_pb2.Signature(key_id=valid[0].key_id, algorithm=valid[0].algorithm, value=b"junk"))
    c.signatures.extend(keys.by_node[LOG].sign(Context.COSIGNATURE, c.content))
    c.MergeFromString(b"\x98\x06\x01")
    _, kept = checked_cosignature(c, keys, checkpoint=signed.checkpoint, now_ms=NOW)
    assert list(kept.signatures) == valid
    assert kept.SerializeToString() == audit_pb2.Cosignature(content=c.content, signatures=valid).SerializeToString()


def test_a_checkpoint_larger_than_any_log_is_refused(keys: Keys) -> None:
    """Size 2^63 and above names no log (and no store could look it up); 2^63 − 1 is the largest."""
    assert verify_checkpoint(_checkpoint(keys, MAX_INT64), keys).size == MAX_INT64
    with pytest.raises(VerificationError, match="checkpoint size must be at most"):
        verify_checkpoint(_checkpoint(keys, MAX_INT64 + 1), keys)
