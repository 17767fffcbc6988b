"""Administrators' logic for the signed directory, shared by the CLI and (later) the web console.

Proposals are unsigned documents with their next version number taken from the repository
(``repo.Repository``); each administrator then signs the proposal file, and ``publish``
checks the threshold as nodes will. Here: building a root from a YAML spec that names
administrators by their public key files, the next version of a State entry (with the
nodes' exported entries, checked for proof of possession, and key statuses the
administrators decide), of an agreement or of a code list (from its data file), and a plain-data
summary of a directory.
Every mistake is a UsageError naming the file or option at fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from google.protobuf import json_format
from google.protobuf.message import Message

from directory import CaseRules, Directory, check_entry_export
from directory.publish import agreement_document, code_list_document, root_document, state_document
from directory.trust import TrustedDirectory, read_bundle
from focalpoint.admin.codelists import build_document
from focalpoint.admin.repo import Repository
from focalpoint.errors import FocalpointError, UsageError, VerificationError
from focalpoint.storage.files import read_file
from focalpoint.v1 import codes_pb2, directory_pb2

__all__ = [
    "DAY_MS",
    "Proposal",
    "apply_key_statuses",
    "parse_json",
    "propose_agreement",
    "propose_code_list",
    "propose_root",
    "propose_state",
    "root_from_spec",
    "summary",
    "verified_bundle",
]

M = TypeVar("M", bound=Message)
DAY_MS = 86_400_000
# (the unsigned document's bytes, what it is in words)
Proposal = tuple[bytes, str]


def parse_json(path: Path, message: M) -> M:
    """A protobuf message from its JSON form in ``path``; raises UsageError naming the file."""
    try:
        return json_format.Parse(read_file(path).decode("utf-8"), message)
    except (json_format.ParseError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: not a {type(message).__name__} in protobuf JSON: {e}") from e


def _admin_public(path: Path) -> directory_pb2.AdminKey:
    return parse_json(path, directory_pb2.AdminKey())


def root_from_spec(spec_path: Path, version: int, now_ms: int) -> bytes:
    """Build a root from a YAML spec naming administrators by their public key files."""
    try:
        spec = yaml.safe_load(read_file(spec_path))
    except yaml.YAMLError as e:
        raise UsageError(f"{spec_path}: not valid YAML") from e
    if not isinstance(spec, dict):
        raise UsageError(f"{spec_path}: expected a mapping with keys root, timestamp, states")
    base = spec_path.parent

    def keys_of(section: Any, where: str) -> tuple[list[directory_pb2.AdminKey], int]:
        if not isinstance(section, dict) or not isinstance(section.get("keys"), list):
            raise UsageError(f"{spec_path}: {where}: expected keys (a list of public key files) and threshold")
        threshold = section.get("threshold", 1)
        if not isinstance(threshold, int) or isinstance(threshold, bool):
            raise UsageError(f"{spec_path}: {where}.threshold: expected an integer")
        return [_admin_public(base / str(p)) for p in section["keys"]], threshold

    root_keys, root_threshold = keys_of(spec.get("root"), "root")
    ts_keys, ts_threshold = keys_of(spec.get("timestamp"), "timestamp")
    states_spec = spec.get("states")
    if not isinstance(states_spec, dict) or not states_spec:
        raise UsageError(f"{spec_path}: states: expected a mapping of State code to keys and threshold")
    state_admins: dict[str, tuple[list[str], int]] = {}
    all_keys = {k.key_id: k for k in [*root_keys, *ts_keys]}
    for state, section in states_spec.items():
        keys, threshold = keys_of(section, f"states.{state}")
        state_admins[str(state)] = ([k.key_id for k in keys], threshold)
        all_keys.update({k.key_id: k for k in keys})
    valid_days = spec.get("valid_days", 365)
    min_states = spec.get("root_min_states", 2)
    if not isinstance(valid_days, int) or not isinstance(min_states, int):
        raise UsageError(f"{spec_path}: valid_days and root_min_states must be integers")
    return root_document(
        version=version,
        issued_at_ms=now_ms,
        expires_at_ms=now_ms + valid_days * DAY_MS,
        keys=list(all_keys.values()),
        root_key_ids=[k.key_id for k in root_keys],
        root_threshold=root_threshold,
        root_min_states=min_states,
        timestamp_key_ids=[k.key_id for k in ts_keys],
        timestamp_threshold=ts_threshold,
        state_admins=state_admins,
    )


def propose_root(repo: Repository, spec_path: Path, now_ms: int) -> Proposal:
    """The next root version, from a YAML spec."""
    version = len(repo.roots()) + 1
    return root_from_spec(spec_path, version, now_ms), f"root version {version}"


def propose_state(
    repo: Repository,
    entry: directory_pb2.StateEntry,
    node_entries: list[tuple[Path, directory_pb2.NodeEntryExport]],
    key_statuses: tuple[str, ...],
    *,
    valid_days: int,
    now_ms: int,
) -> Proposal:
    """The next version of a State entry with the nodes' exported entries (each checked for
    proof of possession) and the key statuses the administrators decide."""
    for path, export in node_entries:
        try:
            entry.nodes.append(check_entry_export(export))
        except FocalpointError as e:
            raise UsageError(f"{path}: {e}") from e
    apply_key_statuses(entry, key_statuses, now_ms)
    entry.version = repo.next_version("states", entry.state)
    entry.issued_at_ms, entry.expires_at_ms = now_ms, now_ms + valid_days * DAY_MS
    return state_document(entry), f"State entry {entry.state} version {entry.version}"


def propose_agreement(
    repo: Repository, agreement: directory_pb2.Agreement, *, valid_days: int, now_ms: int
) -> Proposal:
    """The next version of an agreement."""
    agreement.version = repo.next_version("agreements", agreement.agreement_id)
    agreement.issued_at_ms, agreement.expires_at_ms = now_ms, now_ms + valid_days * DAY_MS
    return agreement_document(agreement), f"agreement {agreement.agreement_id} version {agreement.version}"


def propose_code_list(repo: Repository, data: Path, *, valid_days: int, now_ms: int) -> Proposal:
    """The next document version of the code-list version in ``data`` (e.g. codelists/2026.1.yaml),
    checked as nodes will check it (every problem listed, naming list, code and language)."""
    doc = build_document(data)
    doc.version = repo.next_version("codelists", doc.list_version)
    doc.issued_at_ms, doc.expires_at_ms = now_ms, now_ms + valid_days * DAY_MS
    return code_list_document(doc), f"code list {doc.list_version} version {doc.version}"


def apply_key_statuses(entry: directory_pb2.StateEntry, statuses: tuple[str, ...], now_ms: int) -> None:
    """Administrators decide key statuses (a node's export proposes; the directory disposes)."""
    for item in statuses:
        key_id, _, status = item.partition("=")
        value = getattr(directory_pb2, f"KEY_STATUS_{status.upper()}", None) if status else None
        if value is None or status.upper() == "UNSPECIFIED":
            raise UsageError(f"--key-status {item!r}: expected KEY_ID=ACTIVE, NEXT, RETIRED or REVOKED")
        found = False
        for node in entry.nodes:
            for key in [*node.signing_keys, *node.encryption_keys, *node.log_keys]:
                if key.key_id == key_id:
                    key.status = value
                    if value == directory_pb2.KEY_STATUS_RETIRED and not key.not_after_ms:
                        key.not_after_ms = now_ms  # messages signed before now still verify
                    found = True
            for tls in node.tls_keys:
                if tls.spki_sha256.hex() == key_id:
                    tls.status = value
                    found = True
        if not found:
            raise UsageError(f"--key-status: no key {key_id!r} in the entry's nodes (TLS keys by their pin in hex)")


def verified_bundle(bundle: Path, root: Path, *, now_ms: int) -> tuple[Directory, TrustedDirectory]:
    """Verify ``bundle`` as a node trusting ``root`` would; errors name the file at fault (exit 1)."""
    try:
        trusted = TrustedDirectory(read_file(root))
    except VerificationError as e:
        raise VerificationError(f"{root}: {e}") from e
    parsed = read_bundle(read_file(bundle), str(bundle))  # names the file itself
    try:
        directory, _ = trusted.update(parsed, now_ms=now_ms)
    except VerificationError as e:
        raise VerificationError(f"{bundle}: {e}") from e
    return directory, trusted


def summary(d: Directory) -> dict[str, Any]:
    return {
        "version": d.version,
        "expires_at_ms": d.expires_at_ms,
        "states": {
            s.state: {
                "version": s.version,
                "focal_point_designated": s.focal_point_designated,
                "institutions": [json_format.MessageToDict(i) for i in s.entry.institutions],
                "contact_points": [json_format.MessageToDict(c) for c in s.entry.contact_points],
            }
            for s in d.states.values()
        },
        "nodes": {
            n.node_id: {
                "state": n.state,
                "institution": n.institution,
                "endpoint": n.endpoint,
                "tls_pins": {t.spki_sha256.hex(): t.status.name for t in n.tls_keys},
                "signing_keys": {k: v.status.name for k, v in n.signing_keys.items()},
                "encryption_keys": {k: v.status.name for k, v in n.encryption_keys.items()},
            }
            for n in d.nodes.values()
        },
        "agreements": {
            a.agreement_id: {
                "version": a.version,
                "parties": sorted(a.parties),
                "status": a.status.name,
                "kinds": sorted(a.kinds),
                "deadlines_days": dict(a.deadlines),
                "case_rules": _case_rules(a.case_rules),
            }
            for a in d.agreements.values()
        },
        "code_lists": {
            c.list_version: {
                "version": c.version,
                "codes": c.code_count,
                "lists": len(c.lists),
                "languages": c.languages(),
            }
            for c in d.code_lists.values()
        },
    }


def _case_rules(rules: CaseRules) -> dict[str, Any]:
    """The rules in force under an agreement, defaults applied (docs/protocol.md §11.5)."""
    names = codes_pb2.GateCondition.DESCRIPTOR.values_by_number
    return {
        "guardian_deadline_hours": rules.guardian_deadline_hours,
        "follow_up_months": list(rules.follow_up_months),
        "risk_assessment_max_age_days": rules.risk_assessment_max_age_days,
        "waivable": sorted(names[w].name for w in rules.waivable),
        "max_counter_rounds": rules.max_counter_rounds,
        "closure_response_days": rules.closure_response_days,
        "handover_confirmation_hours": rules.handover_confirmation_hours,
        "consular_copy_on_detention": rules.consular_copy_on_detention,
        "retention_years_after_closure": rules.retention_years_after_closure,
        "kinds_when_suspended": sorted(rules.kinds_when_suspended),
    }
