"""``focalpoint transfer``: sealed files, the courier transport for partners with poor
connectivity (docs/operations.md "Sealed files (courier transport)", docs/adr/0020).

``export`` writes everything queued for one partner (and the receipts owed to it) into one
sealed file; ``import`` reads a file from a partner and, when it carried messages, writes the
receipts file that goes back. Both run as the operator logged in; both print counts and
outcomes, never content. A file the node refuses is refused as a whole, with the reason, and
changes nothing (exit 2, as for any bad input).
"""

from __future__ import annotations

from pathlib import Path

import click

from focalpoint.cli._local import call
from focalpoint.errors import UsageError
from focalpoint.storage.files import read_file

__all__ = ["transfer"]

# A sealed file is an age file: the magic it starts with (anything else is not one, said before
# the node is asked).
_AGE_MAGIC = b"age-encryption.org/v1\n"


@click.group()
@click.version_option(package_name="focalpoint", prog_name="focalpoint")
def transfer() -> None:
    """Sealed files carried by hand to and from partners with no network route (docs/operators.md)."""


def _check_out(path: Path) -> None:
    if path.exists():
        raise UsageError(f"{path}: already exists; sealed files are never overwritten")
    if not path.parent.is_dir():
        raise UsageError(f"{path.parent}: no such directory")


def _write(path: Path, data: bytes) -> None:
    from focalpoint.storage.keyfiles import write_secret_file

    write_secret_file(path, data, what="a sealed file")


@transfer.command("export")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option("--to", "peer", required=True, help="The partner node the file is for, e.g. al-mlsp.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True, help="The sealed file to write.")
def transfer_export(config_path: Path, peer: str, out_path: Path) -> None:
    """Write every message queued for PEER, and the receipts owed to it, into one sealed file.

    The messages stay queued until the partner's receipts come back: if the file is lost,
    export again and the new file carries them too."""
    _check_out(out_path)
    r = call(config_path, lambda c: c.export_sealed(peer))
    if not r.file:
        more = f" ({r.left_out} queued messages do not fit in one file: raise sealed_files.max_file_bytes)"
        click.echo(f"nothing to carry to {peer}: no queued message, no receipt owed" + (more if r.left_out else ""))
        return
    _write(out_path, r.file)
    click.echo(
        f"wrote {out_path}: sealed file {r.file_id.hex()} number {r.sequence} for {peer},"
        f" {r.envelopes} messages and {r.receipts} receipts, {len(r.file)} bytes;"
        f" the partner must import it before {_when(r.not_after_ms)}"
    )
    if r.left_out:
        click.echo(
            f"{r.left_out} more queued messages did not fit in this file: export again once its receipts are back"
        )


@transfer.command("import")
@click.argument("file_path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option(
    "--receipts-out",
    "receipts_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the receipts for the sender to this file now; without it they travel in the next export to the sender.",
)
def transfer_import(file_path: Path, config_path: Path, receipts_path: Path | None) -> None:
    """Import a sealed file from a partner: its messages go through the same checks as over the
    network, its receipts close this node's sent messages."""
    data = read_file(file_path)
    if not data.startswith(_AGE_MAGIC):
        raise UsageError(f"{file_path}: not a sealed file (it is not an age-encrypted file)")
    if receipts_path is not None:
        _check_out(receipts_path)
    r = call(config_path, lambda c: c.import_sealed(data, receipts_file=receipts_path is not None))
    click.echo(
        f"imported {file_path}: sealed file {r.file_id.hex()} number {r.sequence} from {r.sender_node};"
        f" messages: {r.accepted} new, {r.duplicates} already held, {r.refused} refused;"
        f" receipts: {r.receipts} ({r.closed_delivered} delivered, {r.closed_refused} refused by the partner,"
        f" {r.retry} to send again, {r.already_closed} already closed, {r.unknown} unknown)"
    )
    if receipts_path is None:
        if r.accepted or r.duplicates or r.refused:
            click.echo(
                f"the receipts for {r.sender_node} were not written (no --receipts-out); they travel in the next"
                f" export to it: focalpoint transfer export --to {r.sender_node}"
            )
        return
    if not r.receipts_file and not (r.accepted or r.duplicates or r.refused):
        click.echo(f"no receipts file: the file carried no messages from {r.sender_node} to answer")
        return
    if not r.receipts_file:
        click.echo(
            f"the receipts file could not be sealed now (see the node's log); the receipts for {r.sender_node}"
            f" travel in the next export to it: focalpoint transfer export --to {r.sender_node}"
        )
        return
    _write(receipts_path, r.receipts_file)
    click.echo(
        f"wrote {receipts_path}: receipts file {r.receipts_file_id.hex()} number {r.receipts_file_sequence}"
        f" for {r.sender_node}; carry it back and import it there"
    )


def _when(ms: int) -> str:
    from focalpoint.audit.events import iso_time

    return iso_time(ms)
