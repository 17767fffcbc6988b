"""The suite registry (docs/architecture.md principle P2, docs/adr/0001-crypto-suite.md).

A suite fixes every algorithm of an envelope: the HPKE KEM, KDF and AEAD that
encrypt it and the signature algorithm that signs it. Envelopes name their suite
by number; a node refuses a number it does not know, and refuses to start when a
suite it is configured for fails its self-test (fail closed: no silent fallback
to weaker algorithms).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from focalpoint.crypto.signing import key_id_for
from focalpoint.errors import ConfigError, Refusal, RefusalError
from focalpoint.v1 import common_pb2

__all__ = [
    "PROTOCOL_VERSION",
    "SUITE_V1",
    "EncryptionPrivateKey",
    "EncryptionPublicKey",
    "Suite",
    "get_suite",
    "self_test",
]

PROTOCOL_VERSION = 1

_MLKEM768_PUBLIC_LEN = 1184
_X25519_LEN = 32
_MLKEM_SEED_LEN = 64


@dataclass(frozen=True, slots=True)
class Suite:
    suite_id: int
    name: str
    kem_algorithm: int
    signature_algorithm: int
    _hpke: hpke.Suite = field(repr=False, compare=False)

    def seal(self, plaintext: bytes, public_key: EncryptionPublicKey, info: bytes) -> bytes:
        return self._hpke.encrypt(plaintext, public_key.hpke_key, info=info)

    def open(self, ciphertext: bytes, private_key: EncryptionPrivateKey, info: bytes) -> bytes:
        """Raises cryptography's InvalidTag (or ValueError) when the ciphertext or info was altered."""
        return self._hpke.decrypt(ciphertext, private_key.hpke_key, info=info)


SUITE_V1 = Suite(
    suite_id=1,
    name="HPKE(ML-KEM-768+X25519, HKDF-SHA256, AES-256-GCM) + Ed25519",
    kem_algorithm=common_pb2.KEY_ALGORITHM_ML_KEM_768_X25519,
    signature_algorithm=common_pb2.KEY_ALGORITHM_ED25519,
    _hpke=hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM),
)

_REGISTRY: dict[int, Suite] = {SUITE_V1.suite_id: SUITE_V1}


def get_suite(suite_id: int) -> Suite:
    """Raises RefusalError(UNSUPPORTED_SUITE) for an unknown suite id."""
    try:
        return _REGISTRY[suite_id]
    except KeyError:
        known = ", ".join(str(k) for k in sorted(_REGISTRY))
        raise RefusalError(
            Refusal.UNSUPPORTED_SUITE, f"suite {suite_id} is not supported; this node supports {known}"
        ) from None


@dataclass(frozen=True, slots=True)
class EncryptionPublicKey:
    """A recipient's ML-KEM-768+X25519 public key: 1184-byte ML-KEM || 32-byte X25519."""

    key_id: str
    public_key: bytes
    hpke_key: hpke.MLKEM768X25519PublicKey = field(repr=False, compare=False)

    @classmethod
    def from_bytes(cls, key_id: str, public_key: bytes) -> EncryptionPublicKey:
        """Raises ConfigError when the bytes are not a valid hybrid public key."""
        if len(public_key) != _MLKEM768_PUBLIC_LEN + _X25519_LEN:
            raise ConfigError(
                f"encryption key {key_id}: expected {_MLKEM768_PUBLIC_LEN + _X25519_LEN} bytes, got {len(public_key)}"
            )
        try:
            key = hpke.MLKEM768X25519PublicKey(
                mlkem.MLKEM768PublicKey.from_public_bytes(public_key[:_MLKEM768_PUBLIC_LEN]),
                x25519.X25519PublicKey.from_public_bytes(public_key[_MLKEM768_PUBLIC_LEN:]),
            )
        except ValueError as e:
            raise ConfigError(f"encryption key {key_id} is not a valid ML-KEM-768+X25519 key") from e
        return cls(key_id, public_key, key)


class EncryptionPrivateKey:
    """A node's ML-KEM-768+X25519 private key (64-byte ML-KEM seed || 32-byte X25519 key)."""

    __slots__ = ("_secret", "hpke_key", "public")

    def __init__(self, key_id: str, secret: bytes) -> None:
        if len(secret) != _MLKEM_SEED_LEN + _X25519_LEN:
            raise ConfigError(f"encryption private key {key_id}: expected 96 bytes, got {len(secret)}")
        kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(secret[:_MLKEM_SEED_LEN])
        dh = x25519.X25519PrivateKey.from_private_bytes(secret[_MLKEM_SEED_LEN:])
        self._secret = secret
        self.hpke_key = hpke.MLKEM768X25519PrivateKey(kem, dh)
        public = kem.public_key().public_bytes_raw() + dh.public_key().public_bytes_raw()
        self.public = EncryptionPublicKey.from_bytes(key_id, public)

    @property
    def key_id(self) -> str:
        return self.public.key_id

    @classmethod
    def generate(cls) -> EncryptionPrivateKey:
        secret = (
            mlkem.MLKEM768PrivateKey.generate().private_bytes_raw()
            + x25519.X25519PrivateKey.generate().private_bytes_raw()
        )
        probe = cls("probe", secret)
        return cls(key_id_for(SUITE_V1.kem_algorithm, probe.public.public_key), secret)

    def secret(self) -> bytes:
        return self._secret


def self_test(suite: Suite) -> None:
    """Seal and open a random payload; raises ConfigError when the suite does not work here."""
    try:
        key = EncryptionPrivateKey.generate()
        payload = os.urandom(64)
        if suite.open(suite.seal(payload, key.public, b"self-test"), key, b"self-test") != payload:
            raise ConfigError(f"suite {suite.suite_id} self-test returned different bytes")
    except ConfigError:
        raise
    except Exception as e:  # fail closed on anything the backend raises
        raise ConfigError(f"suite {suite.suite_id} ({suite.name}) is unavailable: {e}") from e
