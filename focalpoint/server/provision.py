"""Provisioning a node: new keys, the node's directory entry, rotation.

``focalpoint node init`` and ``rotate-key`` call these; the key-file format itself is
``focalpoint.storage.keyfiles``, and administrators' keys are ``focalpoint.admin.keys``.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import json_format

from focalpoint.crypto.signing import AdminSigner, Context, Ed25519Signer
from focalpoint.crypto.suite import EncryptionPrivateKey
from focalpoint.crypto.tlsid import generate_tls_identity
from focalpoint.errors import ConfigError
from focalpoint.storage.keyfiles import (
    NodeKeys,
    decode_key_file,
    encode_key_file,
    encode_node_key_file,
    keys_from_secrets,
    replace_secret_file,
    write_secret_file,
)
from focalpoint.v1 import common_pb2, directory_pb2, keystore_pb2

__all__ = [
    "InitResult",
    "generate_node_secrets",
    "init_node_dir",
    "node_entry_export",
    "rotate_key",
]


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
    keys_probe = keys_from_secrets(ns, Path("<new>"))
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
    ns = decode_key_file(key_file, passphrase, keystore_pb2.KeyFile(), keystore_pb2.NodeSecrets, "node")
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
        keys_from_secrets(ns, key_file),
        state=previous.state,
        institution=previous.institution,
        endpoint=previous.endpoint,
        languages=list(previous.languages),
        statuses=statuses,
    )
    replace_secret_file(key_file, encode_key_file(keystore_pb2.KeyFile(), ns, passphrase))
    entry_file.write_text(json_format.MessageToJson(export, indent=2) + "\n", encoding="utf-8")
    return export
