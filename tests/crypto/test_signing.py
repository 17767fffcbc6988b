"""Signing keys, key ids, domain separation and threshold verification (focalpoint.crypto.signing)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focalpoint.crypto.signing import (
    AdminSigner,
    AdminVerifier,
    Context,
    Ed25519Signer,
    Ed25519Verifier,
    key_id_for,
    verify_threshold,
)
from focalpoint.errors import ConfigError, VerificationError
from focalpoint.v1 import common_pb2

ED25519 = common_pb2.KEY_ALGORITHM_ED25519
ML_DSA_65 = common_pb2.KEY_ALGORITHM_ML_DSA_65
DISTINCT_CONTEXTS = list(itertools.permutations(Context, 2))


@pytest.fixture(scope="module")
def signer() -> Ed25519Signer:
    return Ed25519Signer.generate()


@pytest.fixture(scope="module")
def admins() -> tuple[AdminSigner, AdminSigner, AdminSigner]:
    return AdminSigner.generate(), AdminSigner.generate(), AdminSigner.generate()


def flip(data: bytes, index: int, mask: int) -> bytes:
    out = bytearray(data)
    out[index % len(out)] ^= mask
    return bytes(out)


# --- Key ids -----------------------------------------------------------------------------


def test_key_id_is_32_hex_chars_and_depends_on_algorithm() -> None:
    """A key id is 16 bytes of hex, and the same bytes under another algorithm get another id."""
    key_id = key_id_for(ED25519, bytes(32))
    assert len(key_id) == 32
    int(key_id, 16)
    assert key_id != key_id_for(ML_DSA_65, bytes(32))
    assert key_id != key_id_for(ED25519, bytes(31) + b"\x01")


def test_ed25519_signer_from_seed_is_deterministic(signer: Ed25519Signer) -> None:
    """The same seed yields the same public key and key id; the id is derived from the public key."""
    again = Ed25519Signer(signer.seed())
    assert again.public_key == signer.public_key
    assert again.key_id == signer.key_id == key_id_for(ED25519, signer.public_key)
    assert signer.verifier() == Ed25519Verifier(signer.key_id, signer.public_key)


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_ed25519_seed_of_wrong_length_is_refused(length: int) -> None:
    """Ed25519 seeds are exactly 32 bytes."""
    with pytest.raises(ConfigError, match="32 bytes"):
        Ed25519Signer(bytes(length))


@pytest.mark.parametrize("length", [0, 31, 33])
def test_ed25519_public_key_of_wrong_length_is_refused(length: int) -> None:
    """Ed25519 public keys are exactly 32 bytes."""
    with pytest.raises(ConfigError, match="32 bytes"):
        Ed25519Verifier("k", bytes(length))


def test_signature_names_key_and_algorithm(signer: Ed25519Signer) -> None:
    """A Signature carries the signer's key id and the Ed25519 algorithm."""
    sig = signer.sign(Context.MESSAGE, b"data")
    assert sig.key_id == signer.key_id
    assert sig.algorithm == common_pb2.KEY_ALGORITHM_ED25519
    assert len(sig.value) == 64


# --- Ed25519 sign/verify -----------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(context=st.sampled_from(list(Context)), data=st.binary(max_size=512))
def test_ed25519_sign_verify_round_trip(signer: Ed25519Signer, context: Context, data: bytes) -> None:
    """A signature verifies for the exact data and purpose it was made for."""
    signer.verifier().verify(context, data, signer.sign(context, data).value)


@settings(max_examples=50, deadline=None)
@given(
    context=st.sampled_from(list(Context)),
    data=st.binary(min_size=1, max_size=256),
    index=st.integers(min_value=0),
    mask=st.integers(min_value=1, max_value=255),
    target=st.sampled_from(["signature", "data"]),
)
def test_ed25519_flipped_byte_fails(
    signer: Ed25519Signer, context: Context, data: bytes, index: int, mask: int, target: str
) -> None:
    """Changing any byte of the signature or of the data makes verification fail."""
    value = signer.sign(context, data).value
    if target == "signature":
        value = flip(value, index, mask)
    else:
        data = flip(data, index, mask)
    with pytest.raises(VerificationError):
        signer.verifier().verify(context, data, value)


@pytest.mark.parametrize(("signed_for", "checked_for"), DISTINCT_CONTEXTS, ids=lambda c: c.name)
def test_ed25519_signature_does_not_cross_purposes(
    signer: Ed25519Signer, signed_for: Context, checked_for: Context
) -> None:
    """A signature made for one purpose never verifies for another (domain separation)."""
    value = signer.sign(signed_for, b"same bytes").value
    with pytest.raises(VerificationError):
        signer.verifier().verify(checked_for, b"same bytes", value)


def test_ed25519_signature_by_other_key_fails(signer: Ed25519Signer) -> None:
    """Another key's signature does not verify, and the error names the expected key id only."""
    other = Ed25519Signer.generate()
    with pytest.raises(VerificationError, match=signer.key_id):
        signer.verifier().verify(Context.MESSAGE, b"data", other.sign(Context.MESSAGE, b"data").value)


@pytest.mark.parametrize("value", [b"", b"short", bytes(64), bytes(65)])
def test_ed25519_malformed_signature_is_a_verification_error(signer: Ed25519Signer, value: bytes) -> None:
    """Empty, short, zero or overlong signature values fail as VerificationError, not another exception."""
    with pytest.raises(VerificationError):
        signer.verifier().verify(Context.MESSAGE, b"data", value)


def test_domain_separator_prevents_context_data_confusion(signer: Ed25519Signer) -> None:
    """The 0x00 separator keeps (context, data) pairs apart even when their concatenation could collide."""
    value = signer.sign(Context.MESSAGE, b"x").value
    with pytest.raises(VerificationError):
        signer.verifier().verify(Context.MESSAGE, b"\x00x", value)


# --- Hybrid administrator keys ---------------------------------------------------------------


def test_admin_signer_from_seeds_is_deterministic(admins: tuple[AdminSigner, ...]) -> None:
    """Re-creating an admin key from its seeds gives the same public keys and id."""
    admin = admins[0]
    again = AdminSigner(*admin.seeds())
    assert again.verifier == admin.verifier
    assert admin.key_id == key_id_for(
        ML_DSA_65, admin.verifier.ed25519_public_key + admin.verifier.ml_dsa_65_public_key
    )


def test_admin_signs_with_both_algorithms_under_one_key_id(admins: tuple[AdminSigner, ...]) -> None:
    """A hybrid signature is one Ed25519 and one ML-DSA-65 signature, both under the admin key id."""
    sigs = admins[0].sign(Context.DIRECTORY, b"doc")
    assert sorted(s.algorithm for s in sigs) == [ED25519, ML_DSA_65]
    assert {s.key_id for s in sigs} == {admins[0].key_id}


@settings(max_examples=15, deadline=None)
@given(
    data=st.binary(max_size=256),
    index=st.integers(min_value=0),
    mask=st.integers(min_value=1, max_value=255),
    half=st.sampled_from([ED25519, ML_DSA_65]),
)
def test_admin_sign_verify_round_trip_and_flipped_half_fails(
    admins: tuple[AdminSigner, ...], data: bytes, index: int, mask: int, half: int
) -> None:
    """Both halves verify for the exact data; a flipped byte in either half, or in the data, fails."""
    admin = admins[0]
    sigs = admin.sign(Context.DIRECTORY, data)
    admin.verifier.verify(Context.DIRECTORY, data, sigs)
    tampered = [
        common_pb2.Signature(key_id=s.key_id, algorithm=s.algorithm, value=flip(s.value, index, mask))
        if s.algorithm == half
        else s
        for s in sigs
    ]
    with pytest.raises(VerificationError):
        admin.verifier.verify(Context.DIRECTORY, data, tampered)
    with pytest.raises(VerificationError):
        admin.verifier.verify(Context.DIRECTORY, data + b"!", sigs)


@pytest.mark.parametrize("kept", [ED25519, ML_DSA_65], ids=["ed25519-only", "ml-dsa-only"])
def test_admin_signature_needs_both_halves(admins: tuple[AdminSigner, ...], kept: int) -> None:
    """One valid half alone does not verify: both algorithms are required."""
    sigs = [s for s in admins[0].sign(Context.DIRECTORY, b"doc") if s.algorithm == kept]
    with pytest.raises(VerificationError):
        admins[0].verifier.verify(Context.DIRECTORY, b"doc", sigs)


def test_admin_signature_under_another_key_id_is_ignored(admins: tuple[AdminSigner, ...]) -> None:
    """Signatures labelled with another key id are not considered for this key."""
    sigs = [
        common_pb2.Signature(key_id=admins[1].key_id, algorithm=s.algorithm, value=s.value)
        for s in admins[0].sign(Context.DIRECTORY, b"doc")
    ]
    with pytest.raises(VerificationError):
        admins[0].verifier.verify(Context.DIRECTORY, b"doc", sigs)


def test_admin_halves_from_different_keys_fail(admins: tuple[AdminSigner, ...]) -> None:
    """Mixing one admin's Ed25519 half with another's ML-DSA half does not verify as either key."""
    a, b = admins[0], admins[1]
    ed = next(s for s in a.sign(Context.DIRECTORY, b"doc") if s.algorithm == ED25519)
    ml = next(s for s in b.sign(Context.DIRECTORY, b"doc") if s.algorithm == ML_DSA_65)
    mixed = [ed, common_pb2.Signature(key_id=a.key_id, algorithm=ML_DSA_65, value=ml.value)]
    with pytest.raises(VerificationError):
        a.verifier.verify(Context.DIRECTORY, b"doc", mixed)


@pytest.mark.parametrize(("signed_for", "checked_for"), DISTINCT_CONTEXTS, ids=lambda c: c.name)
def test_admin_signature_does_not_cross_purposes(
    admins: tuple[AdminSigner, ...], signed_for: Context, checked_for: Context
) -> None:
    """An admin signature for one purpose never verifies for another."""
    with pytest.raises(VerificationError):
        admins[0].verifier.verify(checked_for, b"doc", admins[0].sign(signed_for, b"doc"))


def test_admin_verifier_refuses_mismatched_key_id(admins: tuple[AdminSigner, ...]) -> None:
    """An AdminVerifier whose id does not hash its public keys is refused at construction."""
    v = admins[0].verifier
    with pytest.raises(ConfigError, match="does not match"):
        AdminVerifier(admins[1].key_id, v.ed25519_public_key, v.ml_dsa_65_public_key)


def test_admin_verifier_refuses_wrong_key_lengths() -> None:
    """Public keys must be 32 (Ed25519) and 1952 (ML-DSA-65) bytes."""
    with pytest.raises(ConfigError, match="1952-byte"):
        AdminVerifier.from_public_keys(bytes(32), bytes(100))


@pytest.mark.parametrize(("ed", "ml"), [(31, 32), (32, 31), (33, 33)])
def test_admin_seed_of_wrong_length_is_refused(ed: int, ml: int) -> None:
    """Admin seeds are 32 bytes each."""
    with pytest.raises(ConfigError, match="32 bytes"):
        AdminSigner(bytes(ed), bytes(ml))


# --- Threshold ---------------------------------------------------------------------------


def trusted_of(*signers: AdminSigner) -> dict[str, AdminVerifier]:
    return {s.key_id: s.verifier for s in signers}


def test_threshold_met_returns_the_valid_key_ids(admins: tuple[AdminSigner, ...]) -> None:
    """Two of three trusted keys signing meets a threshold of 2; the ids of both are returned."""
    a, b, c = admins
    sigs = a.sign(Context.DIRECTORY, b"doc") + b.sign(Context.DIRECTORY, b"doc")
    valid = verify_threshold(
        context=Context.DIRECTORY, data=b"doc", signatures=sigs, trusted=trusted_of(a, b, c), threshold=2, what="doc"
    )
    assert valid == frozenset({a.key_id, b.key_id})


def test_threshold_not_met_names_the_count(admins: tuple[AdminSigner, ...]) -> None:
    """One signature for a threshold of two fails, saying how many were valid."""
    a, b, c = admins
    with pytest.raises(VerificationError, match=r"directory: 1 valid signature\(s\).*threshold is 2"):
        verify_threshold(
            context=Context.DIRECTORY,
            data=b"doc",
            signatures=a.sign(Context.DIRECTORY, b"doc"),
            trusted=trusted_of(a, b, c),
            threshold=2,
            what="directory",
        )


def test_threshold_counts_one_key_once(admins: tuple[AdminSigner, ...]) -> None:
    """The same key signing twice still counts as one key."""
    a, b, _ = admins
    sigs = a.sign(Context.DIRECTORY, b"doc") + a.sign(Context.DIRECTORY, b"doc")
    with pytest.raises(VerificationError):
        verify_threshold(
            context=Context.DIRECTORY, data=b"doc", signatures=sigs, trusted=trusted_of(a, b), threshold=2, what="doc"
        )


def test_threshold_ignores_untrusted_keys(admins: tuple[AdminSigner, ...]) -> None:
    """A valid signature by a key outside the trusted set does not count."""
    a, b, c = admins
    sigs = a.sign(Context.DIRECTORY, b"doc") + c.sign(Context.DIRECTORY, b"doc")
    with pytest.raises(VerificationError):
        verify_threshold(
            context=Context.DIRECTORY, data=b"doc", signatures=sigs, trusted=trusted_of(a, b), threshold=2, what="doc"
        )


def test_threshold_skips_invalid_signatures_and_counts_the_rest(admins: tuple[AdminSigner, ...]) -> None:
    """An invalid signature by one trusted key is not counted, and does not stop others counting."""
    a, b, _ = admins
    bad = [
        common_pb2.Signature(key_id=s.key_id, algorithm=s.algorithm, value=flip(s.value, 0, 1))
        for s in a.sign(Context.DIRECTORY, b"doc")
    ]
    valid = verify_threshold(
        context=Context.DIRECTORY,
        data=b"doc",
        signatures=bad + b.sign(Context.DIRECTORY, b"doc"),
        trusted=trusted_of(a, b),
        threshold=1,
        what="doc",
    )
    assert valid == frozenset({b.key_id})


@pytest.mark.parametrize("threshold", [0, -1])
def test_threshold_below_one_is_a_config_error(admins: tuple[AdminSigner, ...], threshold: int) -> None:
    """A threshold below one would accept unsigned documents; it is refused as configuration."""
    with pytest.raises(ConfigError, match="at least 1"):
        verify_threshold(
            context=Context.DIRECTORY,
            data=b"doc",
            signatures=[],
            trusted=trusted_of(admins[0]),
            threshold=threshold,
            what="doc",
        )
