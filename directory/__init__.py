"""The signed directory of focal points: a pure model, its TUF-style verification and signing.

No network code lives here (DESIGN.md §1); nodes and mirrors distribute the bytes.
"""

from directory.build import check_entry_export
from directory.model import (
    AgreementInfo,
    AgreementStatus,
    Directory,
    KeyInfo,
    KeyStatus,
    NodeInfo,
    StateInfo,
    TlsKeyInfo,
)
from directory.trust import AcceptedDocument, TrustedDirectory

__all__ = [
    "AcceptedDocument",
    "AgreementInfo",
    "AgreementStatus",
    "Directory",
    "KeyInfo",
    "KeyStatus",
    "NodeInfo",
    "StateInfo",
    "TlsKeyInfo",
    "TrustedDirectory",
    "check_entry_export",
]
