"""The signed directory of focal points: a pure model, its TUF-style verification and signing.

- ``model``: verified domain objects whose constructors enforce the invariants (rule B7);
- ``codelists``: the network code list (what each enum number means, in several languages) and
  its rules (C1–C6);
- ``trust``: what a node has accepted and the rules for accepting more (T1–T6, B1–B7);
- ``publish``: building and signing documents and bundles;
- ``build``: checking a node's exported entry;
- ``health``: the directory health report.

Pure (docs/architecture.md, principle P1): no network code, no file I/O, no clock reads;
nodes, mirrors and the administrators' repository read, write and distribute the bytes.
Imports only ``focalpoint.crypto``, ``focalpoint.errors``, ``focalpoint.ids`` and ``focalpoint.v1``
(the Body kinds a ``CaseRules`` may name come from ``focalpoint.v1``, not ``focalpoint.exchange``).
"""

from directory.build import check_entry_export
from directory.codelists import Code, CodeList, CodeStatus, Label, LabelGap, LabelStatus
from directory.model import (
    AgreementInfo,
    AgreementStatus,
    CaseRules,
    Directory,
    KeyInfo,
    KeyStatus,
    KindDeadline,
    NodeInfo,
    StateInfo,
    TlsKeyInfo,
)
from directory.trust import AcceptedDocument, TrustedDirectory, read_bundle

__all__ = [
    "AcceptedDocument",
    "AgreementInfo",
    "AgreementStatus",
    "CaseRules",
    "Code",
    "CodeList",
    "CodeStatus",
    "Directory",
    "KeyInfo",
    "KeyStatus",
    "KindDeadline",
    "Label",
    "LabelGap",
    "LabelStatus",
    "NodeInfo",
    "StateInfo",
    "TlsKeyInfo",
    "TrustedDirectory",
    "check_entry_export",
    "read_bundle",
]
