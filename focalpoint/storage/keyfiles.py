"""Private key files of nodes and administrators: their format, reading and writing.

A key file is a protobuf (``KeyFile`` / ``AdminKeyFile``) written once with mode
0600 (never overwritten), optionally sealed under a passphrase with scrypt +
AES-256-GCM. Loading refuses a file that others can read. Nothing here logs or
prints key material.

Raises ``ConfigError`` for every unusable file, naming the file and the problem. Making new
keys is ``focalpoint.server.provision`` (nodes) and the administrators' tools.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from google.protobuf.message import DecodeError

from focalpoint.crypto.signing import AdminSigner, Ed25519Signer
from focalpoint.crypto.suite import EncryptionPrivateKey
from focalpoint.crypto.tlsid import TlsIdentity
from focalpoint.errors import ConfigError
from focalpoint.v1 import keystore_pb2

__all__ = [
    "NodeKeys",
    "decode_key_file",
    "encode_key_file",
    "encode_node_key_file",
    "keys_from_secrets",
    "load_admin_key",
    "load_node_keys",
    "passphrase_from_env",
    "read_secret_file",
    "replace_secret_file",
    "write_secret_file",
]

FORMAT_VERSION = 1
_AAD = b"focalpoint key file v1"
_SCRYPT_LOG2_N = 15
_SCRYPT_R = 8
_SCRYPT_P = 1


@dataclass(frozen=True, slots=True)
class NodeKeys:
    node_id: str
    signer: Ed25519Signer
    signers: dict[str, Ed25519Signer]
    decryption_keys: dict[str, EncryptionPrivateKey]
    tls: TlsIdentity
    storage_key: bytes
    local_api_token: str
    # Hybrid audit log keys (checkpoints, cosignatures, evidence files); empty in old key files.
    log_signers: dict[str, AdminSigner] = field(default_factory=dict)


def _derive(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p).derive(passphrase.encode())


def _seal(plain: bytes, passphrase: str) -> keystore_pb2.EncryptedSecrets:
    salt, nonce = os.urandom(16), os.urandom(12)
    key = _derive(passphrase, salt, _SCRYPT_LOG2_N, _SCRYPT_R, _SCRYPT_P)
    return keystore_pb2.EncryptedSecrets(
        salt=salt,
        scrypt_log2_n=_SCRYPT_LOG2_N,
        scrypt_r=_SCRYPT_R,
        scrypt_p=_SCRYPT_P,
        nonce=nonce,
        ciphertext=AESGCM(key).encrypt(nonce, plain, _AAD),
    )


def _unseal(enc: keystore_pb2.EncryptedSecrets, passphrase: str | None, path: Path) -> bytes:
    if passphrase is None:
        raise ConfigError(f"{path}: key file is passphrase-protected; set the passphrase environment variable")
    # Bounded so an edited file cannot make loading allocate unbounded memory (128·r·N bytes ≤ 256 MiB).
    if (
        not 10 <= enc.scrypt_log2_n <= 20
        or not 1 <= enc.scrypt_r <= 16
        or not 1 <= enc.scrypt_p <= 4
        or 128 * enc.scrypt_r * (1 << enc.scrypt_log2_n) > 256 << 20
    ):
        raise ConfigError(f"{path}: key file has out-of-range scrypt parameters")
    key = _derive(passphrase, enc.salt, enc.scrypt_log2_n, enc.scrypt_r, enc.scrypt_p)
    try:
        return AESGCM(key).decrypt(enc.nonce, enc.ciphertext, _AAD)
    except (InvalidTag, ValueError):
        raise ConfigError(f"{path}: wrong passphrase, or the key file is corrupted") from None


def passphrase_from_env(env: str | None) -> str | None:
    """The passphrase in environment variable ``env`` (never an argument: others can read those)."""
    if env is None:
        return None
    value = os.environ.get(env)
    if value is None:
        raise ConfigError(f"--passphrase-env names {env}, which is not set")
    return value


def write_secret_file(path: Path, data: bytes, *, what: str = "a key file") -> None:
    """Create ``path`` with mode 0600, on disk (fsync) before returning; refuse to overwrite
    (keys and evidence are never silently replaced); a failed write leaves no partial file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path}: already exists; refusing to overwrite {what}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot create: {e.strerror}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError:
        path.unlink(missing_ok=True)
        raise


def read_secret_file(path: Path) -> bytes:
    """Read a secret file, refusing one that group or others may read."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{path}: key file not found") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path}: key file is accessible to other users (mode {stat.S_IMODE(st.st_mode):o}); run chmod 600 on it"
        )
    return path.read_bytes()


S = TypeVar("S", keystore_pb2.NodeSecrets, keystore_pb2.AdminSecrets)


def encode_key_file(
    kf: keystore_pb2.KeyFile | keystore_pb2.AdminKeyFile, secrets_msg: S, passphrase: str | None
) -> bytes:
    kf.format_version = FORMAT_VERSION
    if passphrase is None:
        kf.plain.CopyFrom(secrets_msg)  # type: ignore[arg-type]  # kf's plain field has secrets_msg's type
    else:
        kf.encrypted.CopyFrom(_seal(secrets_msg.SerializeToString(), passphrase))
    return kf.SerializeToString()


def decode_key_file(
    path: Path,
    passphrase: str | None,
    kf: keystore_pb2.KeyFile | keystore_pb2.AdminKeyFile,
    secrets_type: type[S],
    what: str,
) -> S:
    try:
        kf.ParseFromString(read_secret_file(path))
    except DecodeError as e:
        raise ConfigError(f"{path}: not a focalpoint {what} key file") from e
    if kf.format_version != FORMAT_VERSION:
        raise ConfigError(f"{path}: key file format {kf.format_version}, expected {FORMAT_VERSION}")
    which = kf.WhichOneof("secrets")
    if which == "plain":
        return cast(S, kf.plain)
    if which == "encrypted":
        try:
            return secrets_type.FromString(_unseal(kf.encrypted, passphrase, path))
        except DecodeError as e:
            raise ConfigError(f"{path}: {what} key file decrypts to something unreadable") from e
    raise ConfigError(f"{path}: {what} key file holds no secrets")


def encode_node_key_file(node_secrets: keystore_pb2.NodeSecrets, passphrase: str | None) -> bytes:
    return encode_key_file(keystore_pb2.KeyFile(), node_secrets, passphrase)


def load_node_keys(path: Path, passphrase: str | None) -> NodeKeys:
    ns = decode_key_file(path, passphrase, keystore_pb2.KeyFile(), keystore_pb2.NodeSecrets, "node")
    return _keys_from_secrets(ns, path)


def load_admin_key(path: Path, passphrase: str | None) -> AdminSigner:
    s = decode_key_file(path, passphrase, keystore_pb2.AdminKeyFile(), keystore_pb2.AdminSecrets, "administrator")
    signer = AdminSigner(s.ed25519_seed, s.ml_dsa_65_seed)
    if signer.key_id != s.key_id:
        raise ConfigError(f"{path}: administrator key does not match its stored id")
    return signer


def keys_from_secrets(ns: keystore_pb2.NodeSecrets, path: Path | str = "<memory>") -> NodeKeys:
    """Usable keys from decoded secrets; ``path`` only names them in errors. Raises ConfigError."""
    return _keys_from_secrets(ns, path)


def _keys_from_secrets(ns: keystore_pb2.NodeSecrets, path: Path | str) -> NodeKeys:
    if not ns.signing_keys or not ns.encryption_keys or len(ns.storage_key) != 32:
        raise ConfigError(f"{path}: key file lacks a signing key, an encryption key or the storage key")
    signers = {k.key_id: Ed25519Signer(k.private_key) for k in ns.signing_keys}
    for key_id, s in signers.items():
        if s.key_id != key_id:
            raise ConfigError(f"{path}: signing key {key_id} does not match its stored id")
    decryption = {k.key_id: EncryptionPrivateKey(k.key_id, k.private_key) for k in ns.encryption_keys}
    log_signers: dict[str, AdminSigner] = {}
    for k in ns.log_keys:
        if len(k.private_key) != 64:
            raise ConfigError(f"{path}: log key {k.key_id} must hold two 32-byte seeds")
        log_signer = AdminSigner(k.private_key[:32], k.private_key[32:])
        if log_signer.key_id != k.key_id:
            raise ConfigError(f"{path}: log key {k.key_id} does not match its stored id")
        log_signers[k.key_id] = log_signer
    newest = max(ns.signing_keys, key=lambda k: k.created_at_ms)
    return NodeKeys(
        node_id=ns.node_id,
        signer=signers[newest.key_id],
        signers=signers,
        decryption_keys=decryption,
        tls=TlsIdentity(ns.tls_private_key_pem, ns.tls_certificate_pem),
        storage_key=ns.storage_key,
        local_api_token=ns.local_api_token,
        log_signers=log_signers,
    )


def replace_secret_file(path: Path, data: bytes) -> None:
    """Atomically replace a key file (0600): a crash leaves either the old or the new file whole."""
    tmp = path.with_name(path.name + ".new")
    tmp.unlink(missing_ok=True)
    write_secret_file(tmp, data)
    tmp.replace(path)
