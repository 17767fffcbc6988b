"""Build and sign the TUF-style directory documents (pure; file handling is the CLI's).

Each ``*_document`` function returns the bytes administrators sign; ``sign`` turns them
into a SignedDocument with the given administrators' hybrid signatures (more can be
added later by others: signatures accumulate, the signed bytes never change).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from directory.trust import (
    AGREEMENT_TYPE,
    CODELIST_TYPE,
    ROOT_TYPE,
    SPEC_VERSION,
    STATE_TYPE,
    TIMESTAMP_TYPE,
    content_sha256,
    parse_signed,
)
from focalpoint.crypto.signing import AdminSigner, Context
from focalpoint.v1 import directory_pb2

__all__ = [
    "add_signatures",
    "agreement_document",
    "bundle",
    "code_list_document",
    "root_document",
    "sign",
    "state_document",
    "timestamp_document",
]

_Document = directory_pb2.StateEntry | directory_pb2.Agreement | directory_pb2.Root | directory_pb2.CodeListDocument


def root_document(
    *,
    version: int,
    issued_at_ms: int,
    expires_at_ms: int,
    keys: Sequence[directory_pb2.AdminKey],
    root_key_ids: Sequence[str],
    root_threshold: int,
    root_min_states: int,
    timestamp_key_ids: Sequence[str],
    timestamp_threshold: int,
    state_admins: Mapping[str, tuple[Sequence[str], int]],
) -> bytes:
    return directory_pb2.Root(
        type=ROOT_TYPE,
        spec_version=SPEC_VERSION,
        version=version,
        issued_at_ms=issued_at_ms,
        expires_at_ms=expires_at_ms,
        keys=keys,
        root=directory_pb2.RoleKeys(key_ids=root_key_ids, threshold=root_threshold),
        root_min_states=root_min_states,
        timestamp=directory_pb2.RoleKeys(key_ids=timestamp_key_ids, threshold=timestamp_threshold),
        states=[
            directory_pb2.StateDelegation(
                state=state, admins=directory_pb2.RoleKeys(key_ids=key_ids, threshold=threshold)
            )
            for state, (key_ids, threshold) in sorted(state_admins.items())
        ],
    ).SerializeToString()


def state_document(entry: directory_pb2.StateEntry) -> bytes:
    """The signed bytes of a State entry (type and spec version filled in)."""
    out = directory_pb2.StateEntry()
    out.CopyFrom(entry)
    out.type, out.spec_version = STATE_TYPE, SPEC_VERSION
    return out.SerializeToString()


def agreement_document(agreement: directory_pb2.Agreement) -> bytes:
    out = directory_pb2.Agreement()
    out.CopyFrom(agreement)
    out.type, out.spec_version = AGREEMENT_TYPE, SPEC_VERSION
    return out.SerializeToString()


def code_list_document(document: directory_pb2.CodeListDocument) -> bytes:
    """The signed bytes of a code-list version (type and spec version filled in)."""
    out = directory_pb2.CodeListDocument()
    out.CopyFrom(document)
    out.type, out.spec_version = CODELIST_TYPE, SPEC_VERSION
    return out.SerializeToString()


def timestamp_document(
    *,
    version: int,
    issued_at_ms: int,
    expires_at_ms: int,
    root: bytes,
    states: Sequence[bytes],
    agreements: Sequence[bytes],
    codelists: Sequence[bytes] = (),
) -> bytes:
    """A timestamp pinning the exact SignedDocument bytes given (root, State entries, agreements, code lists)."""

    def ref(raw: bytes, message: _Document) -> directory_pb2.DocumentRef:
        message.ParseFromString(parse_signed(raw, "document").signed)
        names = [getattr(message, f) for f in ("state", "agreement_id", "list_version") if hasattr(message, f)]
        name = names[0] if names else ""
        return directory_pb2.DocumentRef(name=name, version=message.version, sha256=content_sha256(raw))

    return directory_pb2.Timestamp(
        type=TIMESTAMP_TYPE,
        spec_version=SPEC_VERSION,
        version=version,
        issued_at_ms=issued_at_ms,
        expires_at_ms=expires_at_ms,
        root=ref(root, directory_pb2.Root()),
        states=[ref(r, directory_pb2.StateEntry()) for r in states],
        agreements=[ref(r, directory_pb2.Agreement()) for r in agreements],
        codelists=[ref(r, directory_pb2.CodeListDocument()) for r in codelists],
    ).SerializeToString()


def sign(signed: bytes, signers: Sequence[AdminSigner]) -> bytes:
    """A SignedDocument over ``signed`` with each signer's hybrid signature."""
    return add_signatures(directory_pb2.SignedDocument(signed=signed).SerializeToString(), signers)


def add_signatures(document: bytes, signers: Sequence[AdminSigner]) -> bytes:
    """Add signatures to a SignedDocument (an offline administrator's step); the signed bytes stay."""
    doc = parse_signed(document, "document")
    present = {s.key_id for s in doc.signatures}
    for signer in signers:
        if signer.key_id not in present:
            doc.signatures.extend(signer.sign(Context.DIRECTORY, doc.signed))
    return doc.SerializeToString()


def bundle(
    *,
    roots: Sequence[bytes],
    timestamp: bytes,
    states: Sequence[bytes],
    agreements: Sequence[bytes],
    codelists: Sequence[bytes] = (),
) -> directory_pb2.DirectoryBundle:
    return directory_pb2.DirectoryBundle(
        roots=roots, timestamp=timestamp, states=states, agreements=agreements, codelists=codelists
    )
