"""Cryptographic primitives of the trust core (pure: no I/O, no clock reads, no grpc).

- ``signing``: domain-separated Ed25519 signatures, hybrid Ed25519 + ML-DSA-65 keys, key ids,
  threshold counting;
- ``suite``: the suite registry (HPKE ML-KEM-768+X25519 / HKDF-SHA256 / AES-256-GCM + Ed25519)
  and its start-up self-test;
- ``tlsid``: self-signed node certificates and their SPKI pins;
- ``merkle``: RFC 9162 Merkle tree hashes, inclusion paths and consistency proofs;
- ``age``: age v1 files with one ``mlkem768x25519`` recipient (the outer layer of courier
  files), bytes in and bytes out, with typed refusals (import it as ``focalpoint.crypto.age``).

Imports: only ``focalpoint.errors``, ``focalpoint.ids`` and ``focalpoint.v1`` (and the
``cryptography`` library). Everything else in focalpoint, and ``directory/``, builds on this.
"""

from focalpoint.crypto.merkle import leaf_hash, node_hash, root_from_inclusion, verify_consistency
from focalpoint.crypto.signing import (
    AdminSigner,
    AdminVerifier,
    Context,
    Ed25519Signer,
    Ed25519Verifier,
    key_id_for,
    threshold_signatures,
    verify_all,
    verify_threshold,
)
from focalpoint.crypto.suite import SUITE_V1, EncryptionPrivateKey, EncryptionPublicKey, Suite, get_suite, self_test
from focalpoint.crypto.tlsid import TlsIdentity, generate_tls_identity, spki_sha256

__all__ = [
    "SUITE_V1",
    "AdminSigner",
    "AdminVerifier",
    "Context",
    "Ed25519Signer",
    "Ed25519Verifier",
    "EncryptionPrivateKey",
    "EncryptionPublicKey",
    "Suite",
    "TlsIdentity",
    "generate_tls_identity",
    "get_suite",
    "key_id_for",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion",
    "self_test",
    "spki_sha256",
    "threshold_signatures",
    "verify_all",
    "verify_consistency",
    "verify_threshold",
]
