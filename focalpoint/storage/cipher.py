"""Case data at rest: AES-256-GCM under the node's storage key.

The associated data binds a row's purpose (``OUTBOX_PURPOSE``, ``inbox_purpose(sender)``) and
its message id, so a sealed copy moved to another row, or to another sender's inbox, does not
open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from focalpoint.errors import DamagedData, StorageError

__all__ = ["OUTBOX_PURPOSE", "StorageCipher", "inbox_purpose"]

OUTBOX_PURPOSE = b"outbox"


def inbox_purpose(sender: str) -> bytes:
    return b"inbox:" + sender.encode()


class StorageCipher:
    """AES-256-GCM for case data at rest; the AAD binds a row's purpose and message id."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise StorageError("storage key must be 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, *, purpose: bytes, message_id: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext, purpose + b"\x00" + message_id)

    def open(self, sealed: bytes, *, purpose: bytes, message_id: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], purpose + b"\x00" + message_id)
        except (InvalidTag, ValueError, TypeError) as e:  # TypeError: a damaged row holding text, not bytes
            raise DamagedData("a stored message failed its integrity check (wrong key or corrupted row)") from e
