"""Load a signed directory: bytes in, a verified ``Directory`` out, or an exception (pure).

Steps (docs/protocol.md §5), numbered as in the code:
  D1 parse the SignedDocument;
  D2 a threshold of trusted administrator keys signed the exact ``signed`` bytes;
  D3 parse the Directory from those bytes; type and spec version are known;
  D4 not expired at ``now_ms``;
  D5 no rollback: version ≥ the last accepted one, and an equal version has identical signed
     content (more signatures on the same content are fine);
  D6 the content's invariants hold (ids, key ids, pins; see ``directory.model``).
Raises ``VerificationError`` naming the failed step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from directory.model import Directory, NodeInfo
from focalpoint.errors import ConfigError, VerificationError
from focalpoint.signing import AdminVerifier, Context, verify_threshold
from focalpoint.v1 import directory_pb2

__all__ = ["DOCUMENT_TYPE", "SPEC_VERSION", "TrustRoot", "load_directory"]

DOCUMENT_TYPE = "focalpoint.directory"
SPEC_VERSION = 1


@dataclass(frozen=True, slots=True)
class TrustRoot:
    """The administrator keys a node trusts and how many must sign."""

    keys: Mapping[str, AdminVerifier]
    threshold: int

    def __post_init__(self) -> None:
        if not 1 <= self.threshold <= len(self.keys):
            raise ConfigError(
                f"directory threshold {self.threshold} must be between 1 and the {len(self.keys)} trusted key(s)"
            )


def load_directory(data: bytes, *, trust: TrustRoot, now_ms: int, previous: Directory | None = None) -> Directory:
    # D1
    doc = directory_pb2.SignedDocument()
    try:
        doc.ParseFromString(data)
    except DecodeError as e:
        raise VerificationError("directory: not a SignedDocument") from e
    # D2
    verify_threshold(
        context=Context.DIRECTORY,
        data=doc.signed,
        signatures=doc.signatures,
        trusted=trust.keys,
        threshold=trust.threshold,
        what="directory",
    )
    # D3
    body = directory_pb2.Directory()
    try:
        body.ParseFromString(doc.signed)
    except DecodeError as e:
        raise VerificationError("directory: signed bytes are not a Directory") from e
    if body.type != DOCUMENT_TYPE or body.spec_version != SPEC_VERSION:
        raise VerificationError(
            f"directory: expected type {DOCUMENT_TYPE!r} version {SPEC_VERSION}, "
            f"got {body.type!r} version {body.spec_version}"
        )
    # D4
    if body.expires_at_ms <= now_ms:
        raise VerificationError(f"directory: version {body.version} has expired")
    # D5
    if previous is not None:
        if body.version < previous.version:
            raise VerificationError(
                f"directory: version {body.version} is older than the accepted version {previous.version} "
                "(rollback refused)"
            )
        if body.version == previous.version and doc.signed != previous.signed:
            raise VerificationError(
                f"directory: version {body.version} differs from the accepted document of the same version"
            )
    # D6
    return Directory.build(
        version=body.version,
        issued_at_ms=body.issued_at_ms,
        expires_at_ms=body.expires_at_ms,
        nodes=[NodeInfo.from_proto(n) for n in body.nodes],
        raw=data,
        signed=doc.signed,
    )
