"""Shapes of identifiers that cross trust boundaries (node ids, key ids, States, endpoints).

Patterns end in ``\\Z``, not ``$``: ``$`` also matches before a trailing newline.
"""

from __future__ import annotations

import re

__all__ = ["ACTOR", "ACTOR_METADATA", "ENDPOINT", "KEY_ID", "NODE_ID", "STATE"]

# A lowercase DNS label: also the SAN of the node's TLS certificate.
NODE_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
# focalpoint.crypto.signing.key_id_for: 16 bytes of SHA-256 in hex.
KEY_ID = re.compile(r"^[0-9a-f]{32}\Z")
# ISO 3166-1 alpha-2.
STATE = re.compile(r"^[A-Z]{2}\Z")
ENDPOINT = re.compile(r"^(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})\Z")
# A local user id as recorded in the audit log (pseudonymous; never a display name).
ACTOR = re.compile(r"^[A-Za-z0-9._@-]{1,128}\Z")
# The local API metadata key in which a client names the user it acts for.
ACTOR_METADATA = "fp-actor"
