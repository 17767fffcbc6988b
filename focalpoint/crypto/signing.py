"""Signing keys, key ids and domain-separated signatures (pure; no I/O).

Every signature covers ``context || 0x00 || exact bytes``: a signature made for
one purpose (a message, a receipt, a directory) never verifies for another.
Ed25519 signs every message; evidence meant to last (directory documents, later
log checkpoints) carries a hybrid Ed25519 + ML-DSA-65 signature whose two halves
must both verify (docs/adr/0001-crypto-suite.md).

Raises ``VerificationError`` on any failed check and ``ConfigError`` on unusable
key bytes.
"""

from __future__ import annotations

import enum
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa

from focalpoint.errors import ConfigError, VerificationError
from focalpoint.v1 import common_pb2

__all__ = [
    "AdminSigner",
    "AdminVerifier",
    "Checked",
    "Context",
    "Ed25519Signer",
    "Ed25519Verifier",
    "key_id_for",
    "threshold_signatures",
    "verify_all",
    "verify_threshold",
]

ED25519 = common_pb2.KEY_ALGORITHM_ED25519
ML_DSA_65 = common_pb2.KEY_ALGORITHM_ML_DSA_65


class Context(bytes, enum.Enum):
    """Signature purposes; the label is signed, so purposes cannot be confused."""

    MESSAGE = b"focalpoint/v1/message"
    RECEIPT = b"focalpoint/v1/receipt"
    RECEIPT_BATCH = b"focalpoint/v1/receipt-batch"
    DIRECTORY = b"focalpoint/v1/directory"
    ENTRY_PROOF = b"focalpoint/v1/node-entry"
    PING = b"focalpoint/v1/ping"
    PONG = b"focalpoint/v1/pong"
    CHECKPOINT = b"focalpoint/v1/checkpoint"
    COSIGNATURE = b"focalpoint/v1/cosignature"
    EVIDENCE = b"focalpoint/v1/evidence"
    RESTORE = b"focalpoint/v1/restore"
    SEALED_FILE = b"focalpoint/sealed-file/v1"


def _to_be_signed(context: Context, data: bytes) -> bytes:
    return context.value + b"\x00" + data


def key_id_for(algorithm: int, public_key: bytes) -> str:
    """A key id: the first 16 bytes of SHA-256(label, algorithm, public key), in hex."""
    digest = hashlib.sha256(b"focalpoint key id v1\x00" + algorithm.to_bytes(2, "big") + public_key)
    return digest.hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Ed25519Verifier:
    key_id: str
    public_key: bytes

    def __post_init__(self) -> None:
        if len(self.public_key) != 32:
            raise ConfigError(f"Ed25519 public key must be 32 bytes, got {len(self.public_key)}")

    def verify(self, context: Context, data: bytes, signature: bytes) -> None:
        """Raises VerificationError unless ``signature`` is valid for ``data`` under ``context``."""
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, _to_be_signed(context, data))
        except InvalidSignature as e:
            raise VerificationError(f"Ed25519 signature by key {self.key_id} does not verify") from e


class Ed25519Signer:
    """An Ed25519 private key with its key id."""

    __slots__ = ("_key", "key_id", "public_key")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ConfigError(f"Ed25519 seed must be 32 bytes, got {len(seed)}")
        self._key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = self._key.public_key().public_bytes_raw()
        self.key_id = key_id_for(ED25519, self.public_key)

    @classmethod
    def generate(cls) -> Ed25519Signer:
        return cls(ed25519.Ed25519PrivateKey.generate().private_bytes_raw())

    def seed(self) -> bytes:
        return self._key.private_bytes_raw()

    def verifier(self) -> Ed25519Verifier:
        return Ed25519Verifier(self.key_id, self.public_key)

    def sign(self, context: Context, data: bytes) -> common_pb2.Signature:
        return common_pb2.Signature(
            key_id=self.key_id, algorithm=ED25519, value=self._key.sign(_to_be_signed(context, data))
        )


@dataclass(frozen=True, slots=True)
class AdminVerifier:
    """An administrator's hybrid public key (Ed25519 + ML-DSA-65)."""

    key_id: str
    ed25519_public_key: bytes
    ml_dsa_65_public_key: bytes

    @classmethod
    def from_public_keys(cls, ed25519_public_key: bytes, ml_dsa_65_public_key: bytes) -> AdminVerifier:
        return cls(
            key_id=key_id_for(ML_DSA_65, ed25519_public_key + ml_dsa_65_public_key),
            ed25519_public_key=ed25519_public_key,
            ml_dsa_65_public_key=ml_dsa_65_public_key,
        )

    def __post_init__(self) -> None:
        expected = key_id_for(ML_DSA_65, self.ed25519_public_key + self.ml_dsa_65_public_key)
        if self.key_id != expected:
            raise ConfigError(f"admin key id {self.key_id!r} does not match its public keys")
        if len(self.ed25519_public_key) != 32 or len(self.ml_dsa_65_public_key) != 1952:
            raise ConfigError("admin key must hold a 32-byte Ed25519 and a 1952-byte ML-DSA-65 public key")

    def verify(self, context: Context, data: bytes, signatures: Iterable[common_pb2.Signature]) -> None:
        """Both halves must be present and valid; raises VerificationError otherwise."""
        self.valid_pair(context, data, signatures)

    def valid_pair(
        self, context: Context, data: bytes, signatures: Iterable[common_pb2.Signature]
    ) -> tuple[common_pb2.Signature, common_pb2.Signature]:
        """The first valid Ed25519 and the first valid ML-DSA-65 signature of this key (what a
        canonical copy of the document keeps); raises VerificationError unless both exist."""
        mine = [s for s in signatures if s.key_id == self.key_id]
        tbs = _to_be_signed(context, data)
        ed = ed25519.Ed25519PublicKey.from_public_bytes(self.ed25519_public_key)
        ml = mldsa.MLDSA65PublicKey.from_public_bytes(self.ml_dsa_65_public_key)
        # Any valid signature of each algorithm counts: junk added next to a valid one cannot cancel it.
        pair = []
        for algorithm, key in ((ED25519, ed), (ML_DSA_65, ml)):
            found = next((s for s in mine if s.algorithm == algorithm and _verifies(key, s.value, tbs)), None)
            if found is None:
                raise VerificationError(f"hybrid signature by admin key {self.key_id} does not verify")
            pair.append(found)
        return pair[0], pair[1]


def _verifies(key: ed25519.Ed25519PublicKey | mldsa.MLDSA65PublicKey, signature: bytes, tbs: bytes) -> bool:
    try:
        key.verify(signature, tbs)
    except (InvalidSignature, ValueError):
        return False
    return True


class AdminSigner:
    """An administrator's hybrid private key (Ed25519 + ML-DSA-65)."""

    __slots__ = ("_ed", "_ml", "verifier")

    def __init__(self, ed25519_seed: bytes, ml_dsa_65_seed: bytes) -> None:
        if len(ed25519_seed) != 32 or len(ml_dsa_65_seed) != 32:
            raise ConfigError("admin key seeds must be 32 bytes each")
        self._ed = ed25519.Ed25519PrivateKey.from_private_bytes(ed25519_seed)
        self._ml = mldsa.MLDSA65PrivateKey.from_seed_bytes(ml_dsa_65_seed)
        self.verifier = AdminVerifier.from_public_keys(
            self._ed.public_key().public_bytes_raw(), self._ml.public_key().public_bytes_raw()
        )

    @classmethod
    def generate(cls) -> AdminSigner:
        return cls(
            ed25519.Ed25519PrivateKey.generate().private_bytes_raw(),
            mldsa.MLDSA65PrivateKey.generate().private_bytes_raw(),
        )

    @property
    def key_id(self) -> str:
        return self.verifier.key_id

    def seeds(self) -> tuple[bytes, bytes]:
        return self._ed.private_bytes_raw(), self._ml.private_bytes_raw()

    def sign(self, context: Context, data: bytes) -> list[common_pb2.Signature]:
        tbs = _to_be_signed(context, data)
        return [
            common_pb2.Signature(key_id=self.key_id, algorithm=ED25519, value=self._ed.sign(tbs)),
            common_pb2.Signature(key_id=self.key_id, algorithm=ML_DSA_65, value=self._ml.sign(tbs)),
        ]


# Results of ``verify_all`` by (key id, exact data): the key's valid signature pair, or () if none.
Checked = Mapping[tuple[str, bytes], tuple[common_pb2.Signature, ...]]


def verify_threshold(
    *,
    context: Context,
    data: bytes,
    signatures: Iterable[common_pb2.Signature],
    trusted: Mapping[str, AdminVerifier],
    threshold: int,
    what: str,
    checked: Checked | None = None,
) -> frozenset[str]:
    """Return the ids of the trusted keys with a valid signature; raise unless there are ``threshold``.

    Unknown key ids and invalid signatures are not counted (TUF semantics), and one
    key counts once however many signatures it contributed. ``checked`` holds results
    computed earlier by ``verify_all`` for (key id, the exact data): the same check, done
    in parallel.
    """
    counted = threshold_signatures(
        context=context,
        data=data,
        signatures=signatures,
        trusted=trusted,
        threshold=threshold,
        what=what,
        checked=checked,
    )
    return frozenset(s.key_id for s in counted)


def threshold_signatures(
    *,
    context: Context,
    data: bytes,
    signatures: Iterable[common_pb2.Signature],
    trusted: Mapping[str, AdminVerifier],
    threshold: int,
    what: str,
    checked: Checked | None = None,
) -> tuple[common_pb2.Signature, ...]:
    """As ``verify_threshold``, but return the signatures that counted: one valid pair per counted
    key, in canonical order (key id, then algorithm), and nothing else (junk, other keys' signatures)."""
    if threshold < 1:
        raise ConfigError(f"{what}: threshold must be at least 1, got {threshold}")
    sigs = list(signatures)
    counted: list[common_pb2.Signature] = []
    keys = 0
    for key_id in sorted({s.key_id for s in sigs}):
        verifier = trusted.get(key_id)
        if verifier is None:
            continue
        pair = None if checked is None else checked.get((key_id, data))
        if pair is None:
            try:
                pair = verifier.valid_pair(context, data, sigs)
            except VerificationError:
                pair = ()
        if pair:
            keys += 1
            counted.extend(pair)
    if keys < threshold:
        raise VerificationError(f"{what}: {keys} valid signature(s) from trusted keys, threshold is {threshold}")
    return tuple(counted)


_POOL: ThreadPoolExecutor | None = None


def verify_all(
    context: Context, jobs: Iterable[tuple[AdminVerifier, bytes, Sequence[common_pb2.Signature]]]
) -> dict[tuple[str, bytes], tuple[common_pb2.Signature, ...]]:
    """Check many (key, data, signatures) at once, in threads (the crypto releases the GIL).

    Returns results keyed by (key id, data) for ``verify_threshold(checked=...)``: the key's
    valid signature pair, or an empty tuple.
    """
    global _POOL
    todo = list({(v.key_id, data): (v, data, sigs) for v, data, sigs in jobs}.values())

    def one(job: tuple[AdminVerifier, bytes, Sequence[common_pb2.Signature]]) -> tuple[common_pb2.Signature, ...]:
        verifier, data, sigs = job
        try:
            return verifier.valid_pair(context, data, sigs)
        except VerificationError:
            return ()

    if len(todo) < 32:
        results = [one(j) for j in todo]
    else:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="verify")
        results = list(_POOL.map(one, todo))
    return {(v.key_id, data): ok for (v, data, _), ok in zip(todo, results, strict=True)}
