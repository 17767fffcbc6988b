"""``focalpoint case open|list|show|deadlines|send|approve|drafts|parked|access-review|break-glass|restrict|assign``:
working cases through a running node's local API (docs/cases.md §Working from the command line).

Every command calls as the person logged in (``focalpoint login``); the node records the
session's user in the audit log with every read, and as the person who prepared or approved a
message: there is no option to name someone else. What a person is served depends on their
roles (docs/permissions.md); ``case show`` says which view it was. A form is read and checked
here first (``focalpoint.cases.forms.parse_form``): every problem is printed with its path, one
``focalpoint: error:`` line each, and nothing reaches the node (exit 1). Times are shown in ISO
8601 UTC; message, draft and link ids in hex. Case references are shown to the official, never
logged.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from google.protobuf import json_format

from focalpoint.audit.events import iso_time
from focalpoint.cases.forms import parse_form
from focalpoint.cli._forms import load_form
from focalpoint.cli._local import call, fail, hex_id, now_ms
from focalpoint.errors import UsageError
from focalpoint.exchange.body import InvalidBody
from focalpoint.ids import check_case_ref

if TYPE_CHECKING:
    from focalpoint.v1 import local_pb2

__all__ = ["COMMANDS"]

_LINK_ID = re.compile(r"^[0-9a-f]{32}\Z")

config_option = click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
json_option = click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")


def _link_id(value: str) -> str:
    if not _LINK_ID.match(value):
        raise UsageError("LINK must be a link id (32 hex digits; focalpoint case list shows them)")
    return value


def _when(ms: int) -> str:
    return iso_time(ms) if ms else "-"


def _summary(c: local_pb2.CaseSummary) -> dict[str, Any]:
    if c.unreadable:
        return {"link_id": c.link_id, "unreadable": c.unreadable}
    return {
        "link_id": c.link_id,
        "case_ref": c.case_ref,
        "partner_node": c.partner_node,
        "partner_state": c.partner_state,
        "our_side": c.our_side,
        "stage": c.stage,
        "stage_since": _when(c.stage_since_ms),
        "days_in_stage": c.days_in_stage,
        "urgency": c.urgency,
        "gate_missing": list(c.gate_missing),
        "flagged": c.flagged,
        "updated": _when(c.updated_at_ms),
        "closed": c.closed,
        "unit": c.unit,
    }


def _draft(d: local_pb2.CaseDraft) -> dict[str, Any]:
    return {
        "draft_id": d.draft_id,
        "link_id": d.link_id,
        "case_ref": d.case_ref,
        "kind": d.kind,
        "prepared_by": d.prepared_by,
        "at": _when(d.at_ms),
    }


def _sent_line(resp: local_pb2.SendCaseResponse, link: str) -> str:
    if resp.draft_id:
        return (
            f"draft {resp.draft_id} ({resp.kind}): a second person must approve it:"
            f" focalpoint case approve {link} {resp.draft_id}, logged in as themselves"
        )
    return f"queued {resp.message_id.hex()}"


@click.command("open")
@config_option
@click.option("--partner", required=True, help="The partner State's node id (e.g. al-shss).")
@click.option("--identified-at", default="", help="When the child was first identified: ISO 8601 with offset.")
@click.option("--unit", default="", help="Your unit in charge (a directory institution id, e.g. ekka/athens).")
@click.option(
    "--tracing", is_flag=True, help="This State is the child's home State and asks PARTNER to trace the child."
)
@json_option
def case_open(config_path: Path, partner: str, identified_at: str, unit: str, tracing: bool, as_json: bool) -> None:
    """Open a case with its first link to PARTNER (this State identified the child, or with --tracing
    this State is the child's home State looking for the child abroad)."""
    if tracing:
        if identified_at:
            raise UsageError("--identified-at is for a child this State identified; a tracing case has none")
        opened = call(config_path, lambda c: c.open_case(partner, 0, unit, tracing=True))
        if as_json:
            click.echo(json.dumps({"case_ref": opened.case_ref, "link_id": opened.link_id, "case_id": opened.case_id}))
            return
        click.echo(f"opened {opened.case_ref} (tracing) with {partner}: link {opened.link_id}")
        return
    if not identified_at:
        raise UsageError("--identified-at is required (when the child was first identified), or use --tracing")
    try:
        moment = dt.datetime.fromisoformat(identified_at)
    except ValueError:
        raise UsageError("--identified-at must be ISO 8601, e.g. 2026-11-20T09:30:00+01:00") from None
    if moment.tzinfo is None:
        raise UsageError("--identified-at needs a UTC offset (e.g. +01:00 or Z), so the time is not ambiguous")
    at_ms = int(moment.timestamp() * 1000)
    opened = call(config_path, lambda c: c.open_case(partner, at_ms, unit))
    if as_json:
        click.echo(json.dumps({"case_ref": opened.case_ref, "link_id": opened.link_id, "case_id": opened.case_id}))
        return
    click.echo(f"opened {opened.case_ref} with {partner}: link {opened.link_id}")


@click.command("list")
@config_option
@click.option("--unit", default=None, help="Only this unit's links ('' for links not assigned).")
@click.option("--all", "include_closed", is_flag=True, help="Closed, refused and withdrawn links too.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def case_list(config_path: Path, unit: str | None, include_closed: bool, limit: int, as_json: bool) -> None:
    """The worklist: your links, most recently changed first (no names, no content)."""
    resp = call(config_path, lambda c: c.list_cases(unit, include_closed=include_closed, limit=limit))
    for c in resp.cases:
        s = _summary(c)
        if as_json:
            click.echo(json.dumps(s, sort_keys=True))
        elif c.unreadable:
            click.echo(f"{c.link_id or '?' * 32}  UNREADABLE: {' '.join(c.unreadable.split())}")
        else:
            gate = ",".join(g[:2] for g in c.gate_missing) or "-"
            click.echo(
                f"{c.link_id}  {c.case_ref:<15}  {c.partner_node:<12} {c.our_side}  {c.stage:<18}"
                f" {c.days_in_stage:>3}d  urgency {c.urgency}  gate missing {gate:<14}"
                f" flagged {c.flagged}  updated {_when(c.updated_at_ms)}"
            )


def _link_or_ref(link_or_ref: str, partner: str) -> dict[str, str]:
    """The link a command names: by id, or by case reference and partner node."""
    if _LINK_ID.match(link_or_ref):
        return {"link_id": link_or_ref}
    if check_case_ref(link_or_ref) is None:
        if not partner:
            raise UsageError("a case reference names a link only with its partner: add --partner NODE")
        return {"case_ref": link_or_ref, "partner_node": partner}
    raise UsageError("LINK_OR_REF must be a link id (32 hex digits) or a case reference like GR-7KQ2M9XH4T-0")


def _body(e: local_pb2.CaseTimelineEntry) -> dict[str, Any] | None:
    """A timeline entry's body as protobuf JSON (only when it was served)."""
    if not e.HasField("body"):
        return None
    return json_format.MessageToDict(e.body, preserving_proto_field_name=True)


@click.command("show")
@config_option
@click.argument("link_or_ref")
@click.option("--partner", default="", help="The partner node, when LINK_OR_REF is a case reference.")
@click.option("--content", is_flag=True, help="Each message's body too, as JSON, in the view you are served.")
@json_option
def case_show(config_path: Path, link_or_ref: str, partner: str, content: bool, as_json: bool) -> None:
    """A link's timeline: each message with its stage after it, the gate as a checklist, open drafts,
    and the view of the case you were served (it depends on your roles).

    LINK_OR_REF is a link id, or a case reference with --partner. Reading it is logged, naming you."""
    args = _link_or_ref(link_or_ref, partner)
    shown = call(config_path, lambda c: c.show_case(**args, content=content))
    if as_json:
        timeline = []
        for e in shown.timeline:
            entry: dict[str, Any] = {
                "at": _when(e.at_ms),
                "kind": e.kind,
                "direction": e.direction,
                "message_id": e.message_id.hex(),
                "stage_after": e.stage_after,
                "flagged": e.flagged,
            }
            if content:
                entry["body"] = _body(e)
            timeline.append(entry)
        data = {
            "link": _summary(shown.link),
            "view": shown.view,
            "purpose": shown.purpose,
            "timeline": timeline,
            "gate": [{"condition": g.condition, "met": g.met, "reason": g.reason} for g in shown.gate],
            "side_states": list(shown.side_states),
            "drafts": [_draft(d) for d in shown.drafts],
        }
        click.echo(json.dumps(data, sort_keys=True, ensure_ascii=False))
        return
    click.echo("\n".join(timeline_text(shown, content=content)))


def _days(ms: int) -> str:
    return f"{ms / 86_400_000:.1f} d"


def deadlines_data(shown: local_pb2.CaseDeadlinesResponse) -> dict[str, Any]:
    """A link's deadlines as plain data (``--json``): times in ISO 8601 UTC, ids in hex."""
    data: dict[str, Any] = {
        "link_id": shown.link_id,
        "case_ref": shown.case_ref,
        "requests": [
            {
                "message_id": r.message_id.hex(),
                "kind": r.kind,
                "direction": r.direction,
                "urgency": r.urgency,
                "started_at": _when(r.started_at_ms),
                "due": _when(r.due_ms),
                "overdue_days": round(r.overdue_ms / 86_400_000, 1),
                "stopped": r.stopped,
                "answered_at": _when(r.answered_at_ms),
                "levels_done": list(r.levels_done),
            }
            for r in shown.requests
        ],
        "guardian": None,
    }
    if shown.HasField("guardian"):
        g = shown.guardian
        data["guardian"] = {
            "identified_at": _when(g.identified_at_ms),
            "deadline": _when(g.deadline_ms),
            "appointed_at": _when(g.appointed_at_ms),
            "breached": g.breached,
        }
    return data


@click.command("deadlines")
@config_option
@click.argument("link_or_ref")
@click.option("--partner", default="", help="The partner node, when LINK_OR_REF is a case reference.")
@json_option
def case_deadlines(config_path: Path, link_or_ref: str, partner: str, as_json: bool) -> None:
    """A link's requests with their deadlines: who asked, since the partner's receipt, due when, how
    far overdue, whether the clock is stopped, what escalations were taken; and the guardian deadline.

    LINK_OR_REF is a link id, or a case reference with --partner. Reading it is logged, naming you."""
    args = _link_or_ref(link_or_ref, partner)
    shown = call(config_path, lambda c: c.case_deadlines(**args))
    if as_json:
        click.echo(json.dumps(deadlines_data(shown), sort_keys=True, ensure_ascii=False))
        return
    lines = [f"{shown.case_ref}  link {shown.link_id}"]
    for r in shown.requests:
        state = "answered " + _when(r.answered_at_ms) if r.answered_at_ms else "open"
        if r.stopped:
            state += ", clock stopped"
        if r.overdue_ms:
            state += f", overdue {_days(r.overdue_ms)}"
        lines.append(
            f"  {r.kind:<34} {r.direction:<10} {r.urgency:<9} due {_when(r.due_ms):<20} {state}"
            + (f"  [{', '.join(r.levels_done)}]" if r.levels_done else "")
        )
    if not shown.requests:
        lines.append("  no request with a deadline")
    if shown.HasField("guardian"):
        g = shown.guardian
        appointed = f"appointed {_when(g.appointed_at_ms)}" if g.appointed_at_ms else "no guardian yet"
        lines.append(
            f"  guardian: identified {_when(g.identified_at_ms)}, due {_when(g.deadline_ms)}, {appointed}"
            + (", BREACHED" if g.breached else "")
        )
    click.echo("\n".join(lines))


def timeline_text(shown: local_pb2.ShowCaseResponse, *, content: bool = False) -> list[str]:
    """A link's timeline as lines for an official (also the demo's); with ``content``, each
    message's body (as served) indented under its line."""
    link = shown.link
    lines = [
        f"{link.case_ref}  with {link.partner_node} ({link.partner_state})  our side {link.our_side}"
        f"  stage {link.stage} since {_when(link.stage_since_ms)}  flagged {link.flagged}",
    ]
    if shown.view:
        lines.append(f"  view served: {shown.view}" + (f" (purpose {shown.purpose})" if shown.purpose else ""))
    if shown.side_states:
        lines.append(f"  side states: {', '.join(shown.side_states)}")
    for e in shown.timeline:
        arrow = "→" if e.direction == "sent" else "←"
        lines.append(f"  {_when(e.at_ms)}  {arrow} {e.kind:<34} {e.stage_after:<18} {e.message_id.hex()}")
        if e.flagged:
            lines.append(f"      flagged, not applied: {e.flagged}")
        if content and (body := _body(e)) is not None:
            shown_body = json.dumps(body, indent=2, ensure_ascii=False, sort_keys=True)
            lines.extend("      " + line for line in shown_body.splitlines())
    if shown.gate:
        lines.append("  return gate:")
        for g in shown.gate:
            lines.append(f"    [{'x' if g.met else ' '}] {g.condition}" + ("" if g.met else f": {g.reason}"))
    for d in shown.drafts:
        lines.append(f"  draft {d.draft_id}  {d.kind}  prepared by {d.prepared_by} at {_when(d.at_ms)}")
    return lines


@click.command("send")
@config_option
@click.argument("link")
@click.option("--form", "form_path", type=click.Path(path_type=Path), required=True, help="A filled form (YAML/JSON).")
@click.option("--in-reply-to", default=None, help="Message id (hex) this answers.")
@click.option("--request-id", default=None, help="Idempotency key: retrying with it never sends twice.")
def case_send(config_path: Path, link: str, form_path: Path, in_reply_to: str | None, request_id: str | None) -> None:
    """Send a filled form on LINK: checked here first (every problem with its path, exit 1), then the
    node completes it (hashes of named messages, the gate) and queues it, or keeps it as a draft when a
    second person must approve it."""
    link = _link_id(link)
    reply = hex_id(in_reply_to, "--in-reply-to") if in_reply_to else b""
    data = load_form(form_path)
    if not isinstance(data, dict):
        raise UsageError(f"{form_path}: a form is a mapping (code_list_version, context and one kind)")
    try:
        body = parse_form(data, now_ms=now_ms(), submission=True)
    except InvalidBody as e:
        for problem in e.problems:
            click.echo(f"focalpoint: error: {problem.path or 'form'}: {problem.message}", err=True)
        click.echo(f"focalpoint: error: {form_path}: {len(e.problems)} problem(s); nothing was sent", err=True)
        sys.exit(1)
    try:
        resp = call(
            config_path,
            lambda c: c.send_case(link, body=body, in_reply_to=reply, client_request_id=request_id or ""),
        )
    except UsageError as e:  # the node's InvalidBody lists one problem a line
        fail(str(e), 2, one_per_line=True)
        return
    click.echo(_sent_line(resp, link))


@click.command("approve")
@config_option
@click.argument("link")
@click.argument("draft")
def case_approve(config_path: Path, link: str, draft: str) -> None:
    """Approve DRAFT on LINK as a second person (never the one who prepared it); the node sends it."""
    link = _link_id(link)
    resp = call(config_path, lambda c: c.approve_draft(link, draft))
    click.echo(_sent_line(resp, link))


@click.command("drafts")
@config_option
@click.argument("link", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def case_drafts(config_path: Path, link: str | None, as_json: bool) -> None:
    """Drafts waiting for a second person: of LINK, or of every open link."""
    link_id = _link_id(link) if link else ""
    resp = call(config_path, lambda c: c.list_drafts(link_id))
    for d in resp.drafts:
        if as_json:
            click.echo(json.dumps(_draft(d), sort_keys=True))
        else:
            click.echo(
                f"{d.draft_id}  link {d.link_id}  {d.case_ref:<15}  {d.kind:<34} prepared by {d.prepared_by}"
                f" at {_when(d.at_ms)}"
            )


@click.command("parked")
@config_option
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def case_parked(config_path: Path, limit: int, as_json: bool) -> None:
    """Received case messages that name no link of this node, kept for the operator (newest first)."""
    resp = call(config_path, lambda c: c.list_parked(limit))
    for p in resp.entries:
        if as_json:
            entry: dict[str, Any] = {
                "seq": p.seq,
                "sender_node": p.sender_node,
                "message_id": p.message_id.hex(),
                "case_ref": p.case_ref,
                "kind": p.kind,
                "at": _when(p.at_ms),
                "reason": p.reason,
            }
            if p.unreadable:
                entry["unreadable"] = p.unreadable
            click.echo(json.dumps(entry, sort_keys=True))
        elif p.unreadable:
            click.echo(f"{p.message_id.hex() or '?' * 32}  from {p.sender_node or '?'}  UNREADABLE (row {p.seq})")
        else:
            click.echo(
                f"{p.message_id.hex()}  from {p.sender_node:<12} {p.kind:<34} {p.case_ref:<15}"
                f" {_when(p.at_ms)}  {p.reason}"
            )


@click.command("access-review")
@config_option
@click.argument("case_ref")
@click.option("--limit", type=click.IntRange(1, 1000), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def case_access_review(config_path: Path, case_ref: str, limit: int, as_json: bool) -> None:
    """Who saw the case CASE_REF, and when: every read, listing, export, break-glass, refusal and
    anomaly the audit log holds for it, newest first (a supervisor of its unit, or an auditor)."""
    if problem := check_case_ref(case_ref):
        raise UsageError(f"CASE_REF: {problem}")
    review = call(config_path, lambda c: c.access_review(case_ref, limit))
    for e in review.entries:
        entry = {
            "index": e.index,
            "at": _when(e.at_ms),
            "kind": e.kind,
            "actor": e.actor,
            "view": e.view,
            "purpose": e.purpose,
            "peer_node": e.peer_node,
            "detail": e.detail,
        }
        if as_json:
            click.echo(json.dumps(entry, sort_keys=True))
        else:
            click.echo(
                f"{entry['at']}  {e.actor:<20} {e.kind:<14} {e.view or '-':<12} {e.purpose or '-':<11}"
                + (f"  {' '.join(e.detail.split())}" if e.detail else "")
            )
    if review.truncated and not as_json:
        click.echo(f"(only the newest {limit} shown; --limit shows more)", err=True)


@click.command("break-glass")
@config_option
@click.argument("link_or_ref")
@click.option("--partner", default="", help="The partner node, when LINK_OR_REF is a case reference.")
@click.option(
    "--reason-code",
    required=True,
    type=click.Choice(["CHILD_IN_DANGER", "OWNER_UNREACHABLE", "COURT_ORDER", "OTHER"], case_sensitive=False),
    help="Why the owning unit cannot be waited for.",
)
@click.option("--reason", required=True, help="Why, in words (kept sealed at this node, never in the audit log).")
def case_break_glass(config_path: Path, link_or_ref: str, partner: str, reason_code: str, reason: str) -> None:
    """Open emergency access to another unit's case, for a limited time. The owning unit's
    supervisors are told at once, and every read under it is marked in the audit log."""
    args = _link_or_ref(link_or_ref, partner)
    opened = call(config_path, lambda c: c.open_break_glass(reason_code.upper(), reason, **args))
    click.echo(
        f"break-glass open until {_when(opened.until_ms)}; the owning unit's supervisors have been told,"
        " and every read is logged as break-glass"
    )


@click.command("restrict")
@config_option
@click.argument("link")
@click.option("--user", "users", multiple=True, help="An officer who may still read the case (repeatable).")
@click.option("--lift", is_flag=True, help="Lift the restriction: the whole unit reads the case again.")
def case_restrict(config_path: Path, link: str, users: tuple[str, ...], lift: bool) -> None:
    """Restrict LINK to the named officers of its unit (a sensitive case), or --lift it."""
    link = _link_id(link)
    if lift == bool(users):
        raise UsageError("give the officers who may read the case (--user, repeatable), or --lift")
    call(config_path, lambda c: c.restrict_case(link, None if lift else list(users)))
    if lift:
        click.echo(f"link {link}: restriction lifted")
    else:
        click.echo(f"link {link}: restricted to {', '.join(users)}")


@click.command("assign")
@config_option
@click.argument("link")
@click.option("--unit", default="", help="An operator's triage: the unit that owns the case from now on.")
@click.option("--user", "users", multiple=True, help="An officer of the case's unit who works it (repeatable).")
def case_assign(config_path: Path, link: str, unit: str, users: tuple[str, ...]) -> None:
    """Give LINK to a unit (an operator triaging a case no unit owns), or name the officers of its
    unit who work it."""
    link = _link_id(link)
    if not unit and not users:
        raise UsageError("give --unit (the owning unit), --user (who works it), or both")
    call(config_path, lambda c: c.assign_case(link, unit=unit, users=list(users)))
    done = [f"unit {unit}"] if unit else []
    if users:
        done.append(f"worked by {', '.join(users)}")
    click.echo(f"link {link}: assigned to {'; '.join(done)}")


COMMANDS = (
    case_open,
    case_list,
    case_show,
    case_deadlines,
    case_send,
    case_approve,
    case_drafts,
    case_parked,
    case_access_review,
    case_break_glass,
    case_restrict,
    case_assign,
)
