"""Build and sign directory documents (pure; the CLI does the file handling).

An administrator collects the nodes' exported entries, checks each entry's proof of
possession, builds the next version and signs it with their hybrid key. This is the
single-signer first step of the threshold workflow in DESIGN.md §3.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import DecodeError

from directory.model import Directory, NodeInfo
from directory.verify import DOCUMENT_TYPE, SPEC_VERSION
from focalpoint.errors import ConfigError, VerificationError
from focalpoint.signing import AdminSigner, Context, Ed25519Verifier
from focalpoint.v1 import directory_pb2

__all__ = ["build_directory", "check_entry_export", "sign_document"]


def check_entry_export(export: directory_pb2.NodeEntryExport) -> directory_pb2.NodeEntry:
    """Verify that the node holds the signing key its entry lists; return the entry.

    Raises VerificationError when the proof is missing, by another key, or invalid.
    """
    entry = directory_pb2.NodeEntry()
    try:
        entry.ParseFromString(export.entry_bytes)
    except DecodeError as e:
        raise VerificationError("node entry export: entry_bytes is not a NodeEntry") from e
    proof = export.proof_of_possession
    key = next((k for k in entry.signing_keys if k.key_id == proof.key_id), None)
    if key is None:
        raise VerificationError(f"node entry {entry.node_id!r}: proof is signed by a key the entry does not list")
    try:
        verifier = Ed25519Verifier(key.key_id, key.public_key)
    except ConfigError as e:
        raise VerificationError(f"node entry {entry.node_id!r}: {e}") from e
    verifier.verify(Context.ENTRY_PROOF, export.entry_bytes, proof.value)
    NodeInfo.from_proto(entry)
    return entry


def build_directory(
    entries: Sequence[directory_pb2.NodeEntry], *, version: int, issued_at_ms: int, expires_at_ms: int
) -> bytes:
    """The serialized Directory (the bytes administrators sign)."""
    if version < 1:
        raise VerificationError("directory version must be at least 1")
    if expires_at_ms <= issued_at_ms:
        raise VerificationError("directory must expire after it is issued")
    # The same invariants a node checks on load (D6), so no administrator signs a document nodes refuse.
    Directory.build(
        version=version,
        issued_at_ms=issued_at_ms,
        expires_at_ms=expires_at_ms,
        nodes=[NodeInfo.from_proto(e) for e in entries],
        raw=b"",
    )
    return directory_pb2.Directory(
        type=DOCUMENT_TYPE,
        spec_version=SPEC_VERSION,
        version=version,
        issued_at_ms=issued_at_ms,
        expires_at_ms=expires_at_ms,
        nodes=sorted(entries, key=lambda e: e.node_id),
    ).SerializeToString()


def sign_document(signed: bytes, signers: Sequence[AdminSigner]) -> bytes:
    """A SignedDocument over ``signed`` with every signer's hybrid signature."""
    doc = directory_pb2.SignedDocument(signed=signed)
    for signer in signers:
        doc.signatures.extend(signer.sign(Context.DIRECTORY, signed))
    return doc.SerializeToString()
