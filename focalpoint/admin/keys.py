"""Administrators' keys: hybrid Ed25519 + ML-DSA-65 signing keys, one per administrator.

The key file's format (mode 0600, optional passphrase) is ``focalpoint.storage.keyfiles``.
"""

from __future__ import annotations

from focalpoint.crypto.signing import AdminSigner
from focalpoint.storage.keyfiles import encode_key_file
from focalpoint.v1 import directory_pb2, keystore_pb2

__all__ = ["generate_admin_key"]


def generate_admin_key(*, state: str, name: str, passphrase: str | None) -> tuple[bytes, directory_pb2.AdminKey]:
    """A new administrator key: (key file bytes, public AdminKey)."""
    signer = AdminSigner.generate()
    ed_seed, ml_seed = signer.seeds()
    secrets_msg = keystore_pb2.AdminSecrets(
        key_id=signer.key_id, state=state, name=name, ed25519_seed=ed_seed, ml_dsa_65_seed=ml_seed
    )
    key_file = encode_key_file(keystore_pb2.AdminKeyFile(), secrets_msg, passphrase)
    public = directory_pb2.AdminKey(
        key_id=signer.key_id,
        state=state,
        name=name,
        ed25519_public_key=signer.verifier.ed25519_public_key,
        ml_dsa_65_public_key=signer.verifier.ml_dsa_65_public_key,
    )
    return key_file, public
