"""What the node keeps, and how: the I/O plumbing below the node's parts.

- ``base``: the rows and the Protocols per aggregate (outbox, inbox, directory documents,
  audit log) that make up one ``Store``, and the rules every implementation keeps;
- ``sqlite``: the node's implementation (one database file, one transaction per write, the
  audit log in the same file);
- ``memory``: an in-memory implementation with the same behaviour, for fast tests;
- ``cipher``: case data at rest (AES-256-GCM under the node's storage key);
- ``batching``: group commit (concurrent callers share one transaction);
- ``keyfiles``: private key files of nodes and administrators.

Imports: the pure packages (``focalpoint.audit``, ``focalpoint.exchange``, ``focalpoint.crypto``)
and the foundation. Nothing here knows about the network or the node.
"""

from focalpoint.storage.base import (
    AuditStore,
    AuditView,
    Delivered,
    DeliveryState,
    DirectoryStore,
    InboxOutcome,
    InboxRow,
    InboxStore,
    NewInbox,
    NewOutbox,
    OutboxRow,
    OutboxStore,
    ReceiptSigner,
    Store,
)
from focalpoint.storage.batching import GroupCommit
from focalpoint.storage.cipher import OUTBOX_PURPOSE, StorageCipher, inbox_purpose

__all__ = [
    "OUTBOX_PURPOSE",
    "AuditStore",
    "AuditView",
    "Delivered",
    "DeliveryState",
    "DirectoryStore",
    "GroupCommit",
    "InboxOutcome",
    "InboxRow",
    "InboxStore",
    "NewInbox",
    "NewOutbox",
    "OutboxRow",
    "OutboxStore",
    "ReceiptSigner",
    "StorageCipher",
    "Store",
    "inbox_purpose",
]
