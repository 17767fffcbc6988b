"""Checking the node entries that nodes export for their administrators (pure).

A node's ``node-entry.json`` carries its public entry and a proof that it holds the
signing key it lists; administrators check it before proposing the entry in their
State's document (``focalpoint directory propose --node-entry``).
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from directory.model import NodeInfo
from focalpoint.crypto.signing import Context, Ed25519Verifier
from focalpoint.errors import ConfigError, VerificationError
from focalpoint.v1 import directory_pb2

__all__ = ["check_entry_export"]


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
