"""``focalpoint audit``: verify a node's log (running, or its database offline), show recent
events, sign a checkpoint, export a case's evidence and verify an evidence file anywhere."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from focalpoint.audit.events import event_summary, iso_time
from focalpoint.audit.verify import CheckpointCheck, LogReport, check_log, checkpoint_summary, stored_directory
from focalpoint.cli._local import call
from focalpoint.errors import UsageError, VerificationError
from focalpoint.storage.files import read_file
from focalpoint.storage.sqlite.audit_log import AuditLog
from focalpoint.v1 import audit_pb2

__all__ = ["audit"]

Kind = audit_pb2.AuditEventKind


@click.group()
@click.version_option(package_name="focalpoint", prog_name="focalpoint")
def audit() -> None:
    """The tamper-evident audit log (docs/auditors.md)."""


def _line(e: dict[str, Any]) -> str:
    parts = [f"{e['index']:>8}", e["at"], f"{e['kind']:<20}"]
    for key in (
        "peer_node",
        "case_ref",
        "actor",
        "subject",
        "view",
        "purpose",
        "message_kind",
        "refusal",
        "status",
        "reason_code",
        "key_id",
    ):
        if key in e:
            parts.append(f"{key}={e[key]}")
    if "message_id" in e:
        parts.append(f"message={e['message_id'][:12]}…")
    if "document_kind" in e:
        parts.append(f"document={e['document_kind']}:{e.get('document_name', '')}@{e.get('document_version', 0)}")
    if "checkpoint_size" in e:
        parts.append(f"size={e['checkpoint_size']}")
    if "count" in e:  # refusals of one call, or a window's summary
        parts.append(f"count={e['count']}")
    if "refusal_counts" in e:
        parts.append("codes=" + ",".join(f"{code}:{n}" for code, n in sorted(e["refusal_counts"].items())))
    if "log_epoch" in e:  # a declared restore
        parts.append(f"epoch={e['log_epoch']}")
    if "lost_from" in e:
        parts.append(f"lost={e['lost_from']}-{e.get('lost_to', e['lost_from'])}")
    return "  ".join(parts)


@audit.command("show")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option("--case", "case_ref", default="", help="Only the events of this case reference.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--before", type=click.IntRange(0), default=0, help="Only events with a lower index (paging).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def audit_show(config_path: Path, case_ref: str, limit: int, before: int, as_json: bool) -> None:
    """Recent events, newest first (identifiers and codes only; never names or content)."""
    response = call(config_path, lambda c: c.list_audit(limit, before, case_ref))
    if not as_json:
        click.echo(f"log size {response.size}")
    for entry in response.entries:
        e = event_summary(entry.index, entry.leaf)
        click.echo(json.dumps(e, sort_keys=True) if as_json else _line(e))


@audit.command("checkpoint")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option("--create", is_flag=True, help="Sign a new checkpoint now if the log has grown.")
def audit_checkpoint(config_path: Path, create: bool) -> None:
    """The node's latest signed checkpoint and who cosigned it, as JSON."""
    click.echo(
        json.dumps(checkpoint_summary(call(config_path, lambda c: c.checkpoint(create=create), "machine")), indent=2)
    )


@audit.command("verify")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None, help="A running node's config.")
@click.option("--db", "db_path", type=click.Path(path_type=Path), default=None, help="A node database, offline.")
@click.option(
    "--root",
    "root_path",
    type=click.Path(path_type=Path),
    default=None,
    help="With --db: the directory root you trust, to check checkpoint signatures.",
)
@click.option("--json", "as_json", is_flag=True)
def audit_verify(config_path: Path | None, db_path: Path | None, root_path: Path | None, as_json: bool) -> None:
    """Recompute the whole log from its leaves and check it against its signed checkpoints.

    Names the first bad index. Exit 1 if the log is damaged or a witness alarm is on record.
    """
    if (config_path is None) == (db_path is None):
        raise UsageError("give exactly one of --config (a running node) or --db (a database file, offline)")
    if db_path is not None:
        if not db_path.is_file():
            raise UsageError(f"{db_path}: no such database file")
        result = _verify_offline(db_path, read_file(root_path) if root_path is not None else None)
    else:
        if root_path is not None:
            raise UsageError("--root goes with --db; a running node checks against its own directory")
        result = _verify_online(config_path)  # type: ignore[arg-type]
    if as_json:
        click.echo(json.dumps(result, sort_keys=True))
    else:
        status = "intact" if result["ok"] else f"DAMAGED at leaf {result['first_bad_index']}: {result['reason']}"
        click.echo(f"audit log: {result['size']} leaves, {status}")
        for line in result.get("checkpoints", []):
            state = "matches" if line["matches"] else "DOES NOT MATCH"
            signature = line.get("signature", "")
            click.echo(f"  checkpoint size {line['size']}: {state}{'; signature ' + signature if signature else ''}")
        for alarm in result.get("alarms", []):
            click.echo(f"  WITNESS ALARM about {alarm['log_node']}: {alarm['reason']}")
    if not result["ok"] or result.get("alarms"):
        sys.exit(1)


def _verify_online(config_path: Path) -> dict[str, Any]:
    r = call(config_path, lambda c: c.verify_audit(), "machine")
    report = LogReport(ok=r.ok, size=r.size, first_bad_index=r.first_bad_index, reason=r.reason, alarms=list(r.alarms))
    if r.HasField("checkpoint"):
        size = audit_pb2.Checkpoint.FromString(r.checkpoint.checkpoint).size
        error = r.checkpoint_signature_error
        report.checkpoints.append(CheckpointCheck(size, r.checkpoint, r.checkpoint_matches, True, error))
    return report.as_dict()


def _verify_offline(db_path: Path, trusted_root: bytes | None) -> dict[str, Any]:
    """The same check as a running node's (``focalpoint.audit.verify``), on a database copy, in
    one snapshot: every checkpoint it stored and, with a trusted root, their signatures against
    the directory it stored. A log it cannot read raises StorageError (DamagedData), one line."""
    log = AuditLog(db_path, readonly=True)
    try:
        with log.snapshot():
            try:
                directory = None if trusted_root is None else stored_directory(log.stored_bundle(), trusted_root)
            except VerificationError as e:
                raise UsageError(str(e)) from e
            return check_log(log, directory=directory).as_dict()
    finally:
        log.close()


@audit.command("export")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option("--case", "case_ref", required=True, help="The pseudonymous case reference.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True, help="Evidence file to write.")
@click.option(
    "--written-request",
    default="",
    help="The reference of the written request an auditor's export answers (required for an auditor).",
)
def audit_export(config_path: Path, case_ref: str, out_path: Path, written_request: str) -> None:
    """Write a case's evidence bundle (verifiable offline with `audit verify-bundle`).

    The node records the logged-in user as the one who exported it; an auditor names the written
    request the export answers."""
    from focalpoint.storage.keyfiles import write_secret_file

    if out_path.exists():
        raise UsageError(f"{out_path}: already exists; evidence files are never overwritten")
    if not out_path.parent.is_dir():
        raise UsageError(f"{out_path.parent}: no such directory")

    r = call(config_path, lambda c: c.export_case(case_ref, written_request=written_request))
    write_secret_file(out_path, r.evidence, what="an evidence file")
    click.echo(f"wrote {out_path}: case {case_ref}, {r.events} events, {r.messages} messages, {len(r.evidence)} bytes")


@audit.command("verify-bundle")
@click.argument("bundle_path", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--root", "root_path", type=click.Path(path_type=Path), default=None, help="The directory root you trust."
)
@click.option("--json", "as_json", is_flag=True)
def audit_verify_bundle(bundle_path: Path, root_path: Path | None, as_json: bool) -> None:
    """Check an evidence file with no node running. Exit 1, naming the failed step, if it does not verify."""
    from focalpoint.audit.evidence import verify_evidence

    data = read_file(bundle_path)
    root = read_file(root_path) if root_path is not None else None
    try:
        report = verify_evidence(data, trusted_root=root)
    except VerificationError as e:
        if as_json:
            click.echo(json.dumps({"ok": False, "error": str(e)}))
        else:
            click.echo(f"{bundle_path}: DOES NOT VERIFY: {e}")
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(report.as_dict(), sort_keys=True))
        return
    click.echo(f"{bundle_path}: verifies")
    click.echo(f"  log of {report.node}, case {report.case_ref}, exported {iso_time(report.exported_at_ms)}")
    click.echo(f"  by {report.exported_by}; trust anchor: {report.anchor}")
    click.echo(f"  {report.events} events in the log at checkpoint size {report.checkpoint_size}")
    click.echo(f"  {report.messages} messages, {report.receipted} with verified receipts")
    if report.receiver_logged:
        click.echo(f"  {report.receiver_logged} outgoing deliveries proved in the receivers' own signed logs")
    if report.witnesses:
        click.echo(f"  first {report.witnessed_size} leaves witnessed by {', '.join(report.witnesses)}")
    for note in report.notes:
        click.echo(f"  note: {note}")
