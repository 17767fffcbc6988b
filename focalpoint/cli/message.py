"""``focalpoint message``: send and read messages through a running node's local API."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import click
from google.protobuf import json_format

from focalpoint.cli._local import call, hex_id
from focalpoint.errors import UsageError
from focalpoint.storage.files import read_file

__all__ = ["message"]


@click.group()
@click.version_option(package_name="focalpoint", prog_name="focalpoint")
def message() -> None:
    """Send and read messages through a running node's local API."""


@message.command("send")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option("--to", "recipient", required=True, help="Recipient node id.")
@click.option("--body", "body_path", type=click.Path(path_type=Path), required=True, help="Body as protobuf JSON.")
@click.option("--in-reply-to", default=None, help="Message id (hex) this answers.")
@click.option("--request-id", default=None, help="Idempotency key: retrying with it never sends twice.")
def message_send(
    config_path: Path, recipient: str, body_path: Path, in_reply_to: str | None, request_id: str | None
) -> None:
    """Queue a message; prints its id once it is durable in the outbox."""
    from focalpoint.v1 import local_pb2, messages_pb2

    try:
        body = json_format.Parse(read_file(body_path).decode("utf-8"), messages_pb2.Body())
    except (json_format.ParseError, UnicodeDecodeError) as e:
        raise UsageError(f"{body_path}: not a message body (protobuf JSON of focalpoint.v1.Body): {e}") from e
    req = local_pb2.SubmitRequest(
        recipient_node=recipient,
        body=body,
        in_reply_to=hex_id(in_reply_to, "--in-reply-to") if in_reply_to else b"",
        client_request_id=request_id or "",
    )

    resp = call(config_path, lambda c: c.submit(req))
    click.echo(resp.message_id.hex())


@message.command("list")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option("--outbox", is_flag=True, help="List sent messages instead of received ones.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
def message_list(config_path: Path, outbox: bool, limit: int) -> None:
    """List the inbox (or the outbox, with delivery state).

    A stored message that cannot be read is listed as UNREADABLE with the reason; the others are
    listed as usual, then a warning line goes to stderr and the exit code is 1.
    """
    from focalpoint.v1 import local_pb2

    resp: Any = call(config_path, lambda c: c.list_outbox(limit) if outbox else c.list_inbox(limit), "machine")
    unreadable = 0
    for e in resp.entries:
        if e.unreadable:
            unreadable += 1
            peer = f"to {e.recipient_node or '?':<14}" if outbox else f"from {e.sender_node or '?':<12}"
            shown = e.message_id.hex() or "?" * 32
            click.echo(f"{shown}  {peer} UNREADABLE (row {e.seq}): {' '.join(e.unreadable.split())}")
        elif outbox:
            state = local_pb2.DeliveryState.Name(e.state).removeprefix("DELIVERY_STATE_").lower()
            extra = f"  ({e.last_error})" if e.last_error and state != "delivered" else ""
            click.echo(f"{e.message_id.hex()}  to {e.recipient_node:<14} {e.kind:<24} {state}{extra}")
        else:
            click.echo(f"{e.message_id.hex()}  from {e.sender_node:<12} {e.kind}")
    if unreadable:
        # As `ls` with an entry it cannot read: everything else is listed, and the exit code says so.
        where = "outbox" if outbox else "inbox"
        click.echo(
            f"focalpoint: warning: {unreadable} {where} message(s) could not be read (damaged rows);"
            " see docs/operations.md §8",
            err=True,
        )
        sys.exit(1)


@message.command("show")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.argument("message_id")
@click.option("--outbox", is_flag=True)
@click.option("--from", "peer", default="", help="Sender node (inbox only), when ids collide.")
def message_show(config_path: Path, message_id: str, outbox: bool, peer: str) -> None:
    """Print one message as JSON (decrypted for the duration of the call)."""
    from focalpoint.v1 import local_pb2

    mid = hex_id(message_id, "MESSAGE_ID")
    direction = local_pb2.DIRECTION_OUTBOX if outbox else local_pb2.DIRECTION_INBOX

    got = call(config_path, lambda c: c.get_message(direction, mid, peer))
    shown = json_format.MessageToDict(got, preserving_proto_field_name=True)
    for key in ("message_id", "in_reply_to"):
        if key in shown:  # ids are shown in hex everywhere in the CLI
            shown[key] = base64.b64decode(shown[key]).hex()
    click.echo(json.dumps(shown, indent=2, ensure_ascii=False))
