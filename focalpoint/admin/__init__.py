"""The directory administrators' tools, for the CLI and (later) the web console alike.

- ``repo``: the repository, a folder of every published root, State entry, agreement and
  timestamp and the current bundle; publishing checks what nodes will check;
- ``proposals``: the next version of a root (from a YAML spec), a State entry (with node
  entries and key statuses), an agreement or a code list, and a directory's summary;
- ``codelists``: the code-list data files (one YAML file per list version), checked against the
  ``focalpoint.v1`` enums and built into the signed document;
- ``signatures``: whose signatures a document carries, which count (the rules nodes apply),
  how many are still needed, and signing only with a key that counts;
- ``documents``: a root, State entry, agreement or code list in full (every field), for ``directory show``;
- ``keys``: administrators' hybrid signing keys.

Imports: ``directory``, ``focalpoint.storage`` (files, key files), the pure packages and the
foundation. It shares a floor with ``focalpoint.node`` and imports nothing of it.
"""

from focalpoint.admin.codelists import build_document, completeness_problems
from focalpoint.admin.documents import DocumentView, show_document
from focalpoint.admin.keys import generate_admin_key
from focalpoint.admin.proposals import (
    apply_key_statuses,
    parse_json,
    propose_agreement,
    propose_code_list,
    propose_root,
    propose_state,
    root_from_spec,
    summary,
    verified_bundle,
)
from focalpoint.admin.repo import Repository, document_kind
from focalpoint.admin.signatures import NotCounted, SignatureStatus, add_signature, signature_status

__all__ = [
    "DocumentView",
    "NotCounted",
    "Repository",
    "SignatureStatus",
    "add_signature",
    "apply_key_statuses",
    "build_document",
    "completeness_problems",
    "document_kind",
    "generate_admin_key",
    "parse_json",
    "propose_agreement",
    "propose_code_list",
    "propose_root",
    "propose_state",
    "root_from_spec",
    "show_document",
    "signature_status",
    "summary",
    "verified_bundle",
]
