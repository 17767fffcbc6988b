"""Private key files of nodes and administrators.

A key file is a protobuf (``KeyFile`` / ``AdminKeyFile``) written once with mode
0600 (never overwritten), optionally sealed under a passphrase with scrypt +
AES-256-GCM. Loading refuses a file that others can read. Nothing here logs or
prints key material.

Raises ``ConfigError`` for every unusable file, naming the file and the problem.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from focalpoint.crypto.signing import AdminSigner, Context, Ed25519Signer
from focalpoint.crypto.suite import EncryptionPrivateKey
from focalpoint.crypto.tlsid import TlsIdentity, generate_tls_identity
from focalpoint.errors import ConfigError
from focalpoint.v1 import common_pb2, directory_pb2, keystore_pb2

__all__ = [
    "NodeKeys",
    "generate_admin_key",
    "generate_node_secrets",
    "init_node_dir",
    "keys_from_secrets",
    "load_admin_key",
    "load_node_keys",
    "node_entry_export",
    "passphrase_from_env",
    "read_secret_file",
    "rotate_key",
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


def generate_node_secrets(node_id: str, *, now: dt.datetime) -> keystore_pb2.NodeSecrets:
    now_ms = int(now.timestamp() * 1000)
    signer = Ed25519Signer.generate()
    enc = EncryptionPrivateKey.generate()
    log_key = AdminSigner.generate()
    tls = generate_tls_identity(node_id, now=now)
    return keystore_pb2.NodeSecrets(
        node_id=node_id,
        signing_keys=[
            keystore_pb2.SecretKey(
                key_id=signer.key_id,
                algorithm=common_pb2.KEY_ALGORITHM_ED25519,
                private_key=signer.seed(),
                created_at_ms=now_ms,
            )
        ],
        encryption_keys=[
            keystore_pb2.SecretKey(
                key_id=enc.key_id,
                algorithm=common_pb2.KEY_ALGORITHM_ML_KEM_768_X25519,
                private_key=enc.secret(),
                created_at_ms=now_ms,
            )
        ],
        tls_private_key_pem=tls.private_key_pem,
        tls_certificate_pem=tls.certificate_pem,
        storage_key=os.urandom(32),
        local_api_token=secrets.token_urlsafe(32),
        log_keys=[
            keystore_pb2.SecretKey(
                key_id=log_key.key_id,
                algorithm=common_pb2.KEY_ALGORITHM_ML_DSA_65,
                private_key=b"".join(log_key.seeds()),
                created_at_ms=now_ms,
            )
        ],
    )


S = TypeVar("S", keystore_pb2.NodeSecrets, keystore_pb2.AdminSecrets)


def _encode_key_file(
    kf: keystore_pb2.KeyFile | keystore_pb2.AdminKeyFile, secrets_msg: S, passphrase: str | None
) -> bytes:
    kf.format_version = FORMAT_VERSION
    if passphrase is None:
        kf.plain.CopyFrom(secrets_msg)  # type: ignore[arg-type]  # kf's plain field has secrets_msg's type
    else:
        kf.encrypted.CopyFrom(_seal(secrets_msg.SerializeToString(), passphrase))
    return kf.SerializeToString()


def _decode_key_file(
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
    return _encode_key_file(keystore_pb2.KeyFile(), node_secrets, passphrase)


def load_node_keys(path: Path, passphrase: str | None) -> NodeKeys:
    ns = _decode_key_file(path, passphrase, keystore_pb2.KeyFile(), keystore_pb2.NodeSecrets, "node")
    return _keys_from_secrets(ns, path)


def node_entry_export(
    keys: NodeKeys,
    *,
    state: str,
    institution: str,
    endpoint: str,
    languages: list[str],
    statuses: Mapping[str, int] | None = None,
) -> directory_pb2.NodeEntryExport:
    """The node's public directory entry with a proof that it holds the signing key.

    ``statuses`` maps key ids to a directory KeyStatus; keys not named are ACTIVE.
    """
    status = dict(statuses or {})
    entry = directory_pb2.NodeEntry(
        node_id=keys.node_id,
        state=state,
        institution=institution,
        endpoint=endpoint,
        tls_keys=[
            directory_pb2.TlsKey(
                spki_sha256=keys.tls.pin,
                certificate_der=keys.tls.certificate_der,
                status=directory_pb2.KEY_STATUS_ACTIVE,
            )
        ],
        signing_keys=[
            directory_pb2.PublicKeyEntry(
                key_id=s.key_id,
                algorithm=common_pb2.KEY_ALGORITHM_ED25519,
                public_key=s.public_key,
                status=status.get(s.key_id, directory_pb2.KEY_STATUS_ACTIVE),  # type: ignore[arg-type]
            )
            for s in keys.signers.values()
        ],
        encryption_keys=[
            directory_pb2.PublicKeyEntry(
                key_id=k.key_id,
                algorithm=common_pb2.KEY_ALGORITHM_ML_KEM_768_X25519,
                public_key=k.public.public_key,
                status=status.get(k.key_id, directory_pb2.KEY_STATUS_ACTIVE),  # type: ignore[arg-type]
            )
            for k in keys.decryption_keys.values()
        ],
        languages=languages,
        log_keys=[
            directory_pb2.PublicKeyEntry(
                key_id=k.key_id,
                algorithm=common_pb2.KEY_ALGORITHM_ML_DSA_65,
                public_key=k.verifier.ed25519_public_key + k.verifier.ml_dsa_65_public_key,
                status=status.get(k.key_id, directory_pb2.KEY_STATUS_ACTIVE),  # type: ignore[arg-type]
            )
            for k in keys.log_signers.values()
        ],
    )
    entry_bytes = entry.SerializeToString()
    return directory_pb2.NodeEntryExport(
        entry=entry,
        entry_bytes=entry_bytes,
        proof_of_possession=keys.signer.sign(Context.ENTRY_PROOF, entry_bytes),
    )


def generate_admin_key(*, state: str, name: str, passphrase: str | None) -> tuple[bytes, directory_pb2.AdminKey]:
    """A new administrator key: (key file bytes, public AdminKey)."""
    signer = AdminSigner.generate()
    ed_seed, ml_seed = signer.seeds()
    secrets_msg = keystore_pb2.AdminSecrets(
        key_id=signer.key_id, state=state, name=name, ed25519_seed=ed_seed, ml_dsa_65_seed=ml_seed
    )
    key_file = _encode_key_file(keystore_pb2.AdminKeyFile(), secrets_msg, passphrase)
    public = directory_pb2.AdminKey(
        key_id=signer.key_id,
        state=state,
        name=name,
        ed25519_public_key=signer.verifier.ed25519_public_key,
        ml_dsa_65_public_key=signer.verifier.ml_dsa_65_public_key,
    )
    return key_file, public


def load_admin_key(path: Path, passphrase: str | None) -> AdminSigner:
    s = _decode_key_file(path, passphrase, keystore_pb2.AdminKeyFile(), keystore_pb2.AdminSecrets, "administrator")
    signer = AdminSigner(s.ed25519_seed, s.ml_dsa_65_seed)
    if signer.key_id != s.key_id:
        raise ConfigError(f"{path}: administrator key does not match its stored id")
    return signer


@dataclass(frozen=True, slots=True)
class InitResult:
    key_file: Path
    token_file: Path
    entry_file: Path
    export: directory_pb2.NodeEntryExport


def init_node_dir(
    directory: Path,
    *,
    node_id: str,
    state: str,
    institution: str,
    endpoint: str,
    languages: list[str],
    passphrase: str | None,
    now: dt.datetime,
) -> InitResult:
    """Create a node's keys in ``directory`` (created 0700): node.keys, local-api.token, node-entry.json.

    Validates the public entry before writing anything; refuses to overwrite existing keys.
    """
    from directory.model import NodeInfo
    from focalpoint.errors import VerificationError

    ns = generate_node_secrets(node_id, now=now)
    keys_probe = _keys_from_secrets(ns, Path("<new>"))
    export = node_entry_export(keys_probe, state=state, institution=institution, endpoint=endpoint, languages=languages)
    try:
        NodeInfo.from_proto(export.entry)
    except VerificationError as e:
        raise ConfigError(str(e).replace("node ", "node entry ", 1)) from e
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_file = directory / "node.keys"
    token_file = directory / "local-api.token"
    entry_file = directory / "node-entry.json"
    for existing in (key_file, token_file):
        if existing.exists():
            raise ConfigError(f"{existing}: already exists; refusing to overwrite a key file")
    write_secret_file(key_file, encode_node_key_file(ns, passphrase))
    write_secret_file(token_file, ns.local_api_token.encode() + b"\n")
    entry_file.write_text(json_format.MessageToJson(export, indent=2) + "\n", encoding="utf-8")
    return InitResult(key_file, token_file, entry_file, export)


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


def rotate_key(home: Path, *, kind: str, passphrase: str | None, now: dt.datetime) -> directory_pb2.NodeEntryExport:
    """Add a new signing, encryption or audit log key to the node in ``home``; export the entry with it as NEXT.

    A node whose key file predates the audit log gets its first log key as ACTIVE.

    The key file is rewritten atomically (keys are only ever added; old ones stay so old
    messages remain readable and verifiable); ``node-entry.json`` is updated for the
    administrators, who publish the new key as NEXT, later make it ACTIVE and the old one
    RETIRED. A running node picks up the new key file by itself. Raises ConfigError.
    """
    if kind not in ("signing", "encryption", "log"):
        raise ConfigError(f"key kind must be 'signing', 'encryption' or 'log', got {kind!r}")
    key_file, entry_file = home / "node.keys", home / "node-entry.json"
    ns = _decode_key_file(key_file, passphrase, keystore_pb2.KeyFile(), keystore_pb2.NodeSecrets, "node")
    try:
        previous = json_format.Parse(entry_file.read_text(encoding="utf-8"), directory_pb2.NodeEntryExport()).entry
    except (OSError, json_format.ParseError) as e:
        raise ConfigError(f"{entry_file}: cannot read the node's current entry: {e}") from e
    now_ms = int(now.timestamp() * 1000)
    first_log_key = False
    if kind == "signing":
        signer = Ed25519Signer.generate()
        new = keystore_pb2.SecretKey(
            key_id=signer.key_id,
            algorithm=common_pb2.KEY_ALGORITHM_ED25519,
            private_key=signer.seed(),
            created_at_ms=now_ms,
        )
        ns.signing_keys.append(new)
    elif kind == "log":
        log_key = AdminSigner.generate()
        new = keystore_pb2.SecretKey(
            key_id=log_key.key_id,
            algorithm=common_pb2.KEY_ALGORITHM_ML_DSA_65,
            private_key=b"".join(log_key.seeds()),
            created_at_ms=now_ms,
        )
        first_log_key = not ns.log_keys
        ns.log_keys.append(new)
    else:
        enc = EncryptionPrivateKey.generate()
        new = keystore_pb2.SecretKey(
            key_id=enc.key_id,
            algorithm=common_pb2.KEY_ALGORITHM_ML_KEM_768_X25519,
            private_key=enc.secret(),
            created_at_ms=now_ms,
        )
        ns.encryption_keys.append(new)
    statuses: dict[str, int] = {
        k.key_id: k.status for k in [*previous.signing_keys, *previous.encryption_keys, *previous.log_keys]
    }
    statuses[new.key_id] = directory_pb2.KEY_STATUS_NEXT
    if kind == "log" and first_log_key:
        statuses[new.key_id] = directory_pb2.KEY_STATUS_ACTIVE
    export = node_entry_export(
        _keys_from_secrets(ns, key_file),
        state=previous.state,
        institution=previous.institution,
        endpoint=previous.endpoint,
        languages=list(previous.languages),
        statuses=statuses,
    )
    _replace_secret_file(key_file, _encode_key_file(keystore_pb2.KeyFile(), ns, passphrase))
    entry_file.write_text(json_format.MessageToJson(export, indent=2) + "\n", encoding="utf-8")
    return export


def _replace_secret_file(path: Path, data: bytes) -> None:
    """Atomically replace a key file (0600): a crash leaves either the old or the new file whole."""
    tmp = path.with_name(path.name + ".new")
    tmp.unlink(missing_ok=True)
    write_secret_file(tmp, data)
    tmp.replace(path)
