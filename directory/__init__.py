"""The signed directory of focal-point nodes: a pure model, its verification and signing.

No network code lives here (DESIGN.md §1); nodes and mirrors distribute the bytes.
"""

from directory.build import build_directory, check_entry_export, sign_document
from directory.model import Directory, KeyInfo, KeyStatus, NodeInfo, TlsKeyInfo
from directory.verify import TrustRoot, load_directory

__all__ = [
    "Directory",
    "KeyInfo",
    "KeyStatus",
    "NodeInfo",
    "TlsKeyInfo",
    "TrustRoot",
    "build_directory",
    "check_entry_export",
    "load_directory",
    "sign_document",
]
