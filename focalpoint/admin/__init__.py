"""The directory administrators' tools, for the CLI and (later) the web console alike.

- ``repo``: the repository, a folder of every published root, State entry, agreement and
  timestamp and the current bundle; publishing checks what nodes will check;
- ``proposals``: the next version of a root (from a YAML spec), a State entry (with node
  entries and key statuses) or an agreement, and a directory's summary;
- ``keys``: administrators' hybrid signing keys.

Imports: ``directory``, ``focalpoint.storage`` (files, key files), the pure packages and the
foundation. It shares a floor with ``focalpoint.node`` and imports nothing of it.
"""

from focalpoint.admin.keys import generate_admin_key
from focalpoint.admin.proposals import (
    apply_key_statuses,
    parse_json,
    propose_agreement,
    propose_root,
    propose_state,
    root_from_spec,
    summary,
    verified_bundle,
)
from focalpoint.admin.repo import Repository, document_kind

__all__ = [
    "Repository",
    "apply_key_statuses",
    "document_kind",
    "generate_admin_key",
    "parse_json",
    "propose_agreement",
    "propose_root",
    "propose_state",
    "root_from_spec",
    "summary",
    "verified_bundle",
]
