"""``focalpoint demo``: three States' nodes on loopback, a child's return told as its case.

Greece identifies a child (GR, the identifying State), Albania is her State of origin (AL), Italy
is a third State on the network with no agreement with Greece (IT). Every key is generated on the
spot, nodes talk over real mutual TLS, and officials act only through each node's real local API,
as people with accounts (each node's first operator adds a case officer and a supervisor, who
enrol and log in: ``focalpoint.localnet.people``; ``focalpoint.localnet.story``): the case is
opened, notified, acknowledged, assessed, agreed (a second person approving, the return gate
passing), carried out and closed, both States reaching every stage alike. A second child's
agreement is refused by the gate (no risk assessment: G2) and nothing is queued; a message to
Italy is refused (no agreement in force).
``--json`` prints one object: ``stages`` (per node, per link), ``converged``, ``gate_blocked``,
``outside_agreement_refused``, and counts and times. ``run_demo``'s ``then`` runs while the network
still does, after the story (``focalpoint demo --console`` serves the web console there:
``focalpoint.cli.demo_console``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from focalpoint.client import LocalClient
from focalpoint.errors import FocalpointError, PermissionDenied, PreconditionFailed, RefusalError, UsageError
from focalpoint.localnet import LocalNetwork, NodeSpec, make_network
from focalpoint.localnet.people import OPERATOR, People
from focalpoint.localnet.story import HOUR_MS, OFFICER, SUPERVISOR, UNITS, Desk, accepts, evidence, identified
from focalpoint.log import configure_logging
from focalpoint.node.ports import wall_clock_ms
from focalpoint.people.roles import Grant, Role
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.v1 import envelope_pb2, local_pb2

__all__ = ["AL", "GR", "IT", "LiveDemo", "run_demo"]

GR, AL, IT = "gr-ekka", "al-shss", "it-dgi"
SPECS = (
    NodeSpec(GR, "GR", "National Centre for Social Solidarity (EKKA)", ("el", "en")),
    NodeSpec(AL, "AL", "State Social Service of Albania", ("sq", "en")),
    NodeSpec(IT, "IT", "Directorate-General for Immigration", ("it", "en")),
)
# The story's officials on every node: who prepares, and who approves what another prepared.
USERS: tuple[tuple[str, tuple[Grant, ...]], ...] = ((OFFICER, ()), (SUPERVISOR, (Grant.APPROVE,)))


@dataclass(frozen=True, slots=True)
class LiveDemo:
    """The demo's network while it still runs, handed to ``run_demo``'s ``then``: its files' root,
    each node's local API address and machine credential, and each node's people (their accounts)."""

    root: Path
    addresses: dict[str, str]
    tokens: dict[str, str]
    peoples: dict[str, People]


class Timeline:
    def __init__(self, *, quiet: bool) -> None:
        self.start = time.perf_counter()
        self.quiet = quiet

    def ms(self) -> float:
        return (time.perf_counter() - self.start) * 1000

    def say(self, who: str, text: str) -> None:
        if not self.quiet:
            click.echo(f"  +{self.ms():7.1f} ms  {who:<4} {text}")

    def echo(self, text: str) -> None:
        if not self.quiet:
            click.echo(text)


@contextlib.asynccontextmanager
async def _nodes(net: LocalNetwork) -> AsyncIterator[dict[str, Node]]:
    nodes: dict[str, Node] = {}
    try:
        for node_id, ln in net.nodes.items():
            nodes[node_id] = await Node.open(load_config(ln.config_path))
        await asyncio.gather(*(n.start() for n in nodes.values()))
        yield nodes
    finally:
        await asyncio.gather(*(n.stop(0.2) for n in nodes.values()), return_exceptions=True)


@contextlib.asynccontextmanager
async def _clients(
    net: LocalNetwork, t: Timeline, peoples: dict[str, People]
) -> AsyncIterator[dict[tuple[str, str], LocalClient]]:
    """Each node's people, made through its local API as an institution makes them: the first
    operator (enrolled with the node's machine credential) adds a case officer and a supervisor
    who may approve, of the unit the story's messages address; each enrols and logs in."""
    async with contextlib.AsyncExitStack() as stack:
        clients = {}
        for node_id, ln in net.nodes.items():
            people = People(ln.local_address, ln.token, unit=UNITS[node_id])
            stack.push_async_callback(people.close)
            peoples[node_id] = people
            for user, grants in USERS:
                clients[node_id, user] = await people.client(user, (Role.CASE_OFFICER,), grants=grants)
            roles = ", ".join(
                f"{user} (case officer{''.join(', ' + g.value for g in grants)})" for user, grants in USERS
            )
            t.say(node_id[:2].upper(), f"{OPERATOR} enrolled; {roles} logged in, unit {UNITS[node_id]}")
        yield clients


def _non_empty(path: Path) -> bool:
    return path.exists() and any(path.iterdir())


async def run_demo(
    keep: Path | None, *, as_json: bool = False, then: Callable[[LiveDemo], Awaitable[None]] | None = None
) -> None:
    """The demo; with ``then``, the network keeps running after the story until ``then`` returns
    (``focalpoint demo --console`` serves the web console there until Ctrl-C)."""
    # Errors only: the timelines read at the end are of a closed case, which the access watch
    # rightly reports as an anomaly (a warning line per read) that would interrupt the story.
    configure_logging(level="error")
    if keep is not None and _non_empty(keep):
        raise FocalpointError(f"{keep}: exists and is not empty; give a new directory to --keep")
    root = keep if keep is not None else Path(tempfile.mkdtemp(prefix="focalpoint-demo-"))
    try:
        result = await _demo(root, Timeline(quiet=as_json), then)
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
    if as_json:
        click.echo(json.dumps(result, sort_keys=True))


async def _demo(root: Path, t: Timeline, then: Callable[[LiveDemo], Awaitable[None]] | None) -> dict[str, Any]:
    t.echo("focalpoint demo: three States on loopback, mutual TLS, post-quantum hybrid end-to-end encryption")
    net = make_network(root, SPECS, now=dt.datetime.now(dt.UTC), agreement_pairs=[("GR", "AL")])
    t.say(
        "ADM",
        f"directory v{net.version} published: root signed by {len(net.admins)} States' administrators "
        f"(Ed25519 + ML-DSA-65), {len(net.admins)} State entries, {len(net.agreements)} agreement in force "
        "(GR-AL; none with IT), timestamp",
    )
    peoples: dict[str, People] = {}
    async with _nodes(net) as nodes, _clients(net, t, peoples) as clients:
        t.say("NET", ", ".join(f"{n.node_id} :{n.peer_port}" for n in nodes.values()) + " up")
        agreement_id = next(iter(net.agreements))
        desk = Desk(nodes=nodes, clients=clients, agreement_id=agreement_id, say=t.say)
        started = t.ms()
        ref = await _return(desk, t)
        story_ms = t.ms() - started
        blocked_ref, blocked = await _blocked(desk, t)
        refused = await _outside_agreement(desk, t)
        await _misrouted(desk, t)
        seen = await _who_saw(desk, t, peoples[AL], blocked_ref)
        stages = {n: await _stages(desk, n) for n in (GR, AL, IT)}
        for node_id in (GR, AL):
            shown = await desk.api(node_id).show_case(await desk.link(node_id, ref))
            t.echo(f"\n{node_id} sees:")
            t.echo("\n".join(_timeline(shown)))
        shared = set(stages[GR]) & set(stages[AL])
        converged = bool(shared) and all(stages[GR][r] == stages[AL][r] for r in shared)
        t.echo(
            f"\ndone: {desk.sent} messages; the return from notification to closure in {story_ms:.0f} ms; "
            f"both States agree on every link: {converged}; gate blocked the unassessed return: {blocked}"
        )
        if then is not None:
            addresses = {n: ln.local_address for n, ln in net.nodes.items()}
            await then(LiveDemo(root, addresses, {n: ln.token for n, ln in net.nodes.items()}, peoples))
    return {
        "stages": stages,
        "converged": converged,
        "gate_blocked": blocked,
        "outside_agreement_refused": refused,
        "case_ref": ref,
        "blocked_case_ref": blocked_ref,
        "messages": desk.sent,
        "story_ms": round(story_ms, 1),
        "access_review": seen,
    }


async def _evidence_up_to_plan(desk: Desk, ref: str, *, risk: bool) -> list[bytes]:
    """Identity, social inquiry, (risk,) the child's views and the reintegration plan; their message ids."""
    iv = await desk.send(GR, AL, ref, "identity_verification_request")
    await desk.send(AL, GR, ref, "identity_verification_reply", answers=iv)
    si = await desk.send(GR, AL, ref, "social_inquiry_request")
    found = [await desk.send(AL, GR, ref, "social_inquiry_report", answers=si)]
    if risk:
        found.append(await desk.send(GR, AL, ref, "risk_assessment_report"))
    found.append(await desk.send(GR, AL, ref, "child_views_record"))
    found.append(await desk.send(AL, GR, ref, "reintegration_plan"))
    return found


async def _opened(desk: Desk, t: Timeline, partner: str = AL) -> tuple[str, int]:
    at = wall_clock_ms() - 6 * HOUR_MS
    opened = await desk.api(GR).open_case(partner, at, UNITS[GR])
    desk.links[GR, opened.case_ref] = opened.link_id
    t.say("GR", f"child identified 6 h ago, guardian appointed; case opened with {partner}: {opened.case_ref}")
    return opened.case_ref, at


async def _return(desk: Desk, t: Timeline) -> str:
    """The first child: from notification to closure, every cross-border step through the gate."""
    ref, at = await _opened(desk, t)
    notification = await desk.send(GR, AL, ref, "case_notification", identified(at))
    await desk.send(AL, GR, ref, "acknowledgement", accepts("acknowledgement.acknowledges", notification))
    found = await _evidence_up_to_plan(desk, ref, risk=True)
    proposal = await desk.send(AL, GR, ref, "durable_solution_proposal", evidence(*found))
    gate = (await desk.api(GR).show_case(await desk.link(GR, ref))).gate
    t.say("GR", "return gate before agreeing: " + ", ".join(f"{g.condition[:2]} {'✓' if g.met else '✗'}" for g in gate))
    await desk.send(GR, AL, ref, "durable_solution_agreement", accepts("durable_solution_agreement.accepts", proposal))
    plan = await desk.send(GR, AL, ref, "repatriation_plan", lambda b: b.repatriation_plan.ClearField("supersedes"))

    def acceptance(body: Any) -> None:
        accepts("repatriation_plan_acceptance.accepts", plan)(body)
        body.repatriation_plan_acceptance.ClearField("gate")  # the State of origin makes no gate claim

    await desk.send(AL, GR, ref, "repatriation_plan_acceptance", acceptance)
    await desk.send(GR, AL, ref, "return_status_update")
    await desk.send(AL, GR, ref, "handover_confirmation")
    await desk.send(AL, GR, ref, "follow_up_report")
    closure = await desk.send(AL, GR, ref, "case_closure")
    await desk.send(GR, AL, ref, "acknowledgement", accepts("acknowledgement.acknowledges", closure))
    return ref


async def _blocked(desk: Desk, t: Timeline) -> tuple[str, bool]:
    """A second child: everything but a risk assessment; the agreement to return her is refused (G2)."""
    t.echo("")
    ref, at = await _opened(desk, t)
    notification = await desk.send(GR, AL, ref, "case_notification", identified(at))
    await desk.send(AL, GR, ref, "acknowledgement", accepts("acknowledgement.acknowledges", notification))
    found = await _evidence_up_to_plan(desk, ref, risk=False)
    proposal = await desk.send(AL, GR, ref, "durable_solution_proposal", evidence(*found))
    draft = await desk.prepare(
        GR, AL, ref, "durable_solution_agreement", accepts("durable_solution_agreement.accepts", proposal)
    )
    before = await desk.outbox_size(GR)
    try:
        await desk.api(GR, SUPERVISOR).approve_draft(await desk.link(GR, ref), draft.draft_id)
    except PreconditionFailed as e:
        reason = str(e).split("FAILED_PRECONDITION: ", 1)[-1]
        t.say("GR", f"agreement refused before signing: {reason.split('. ')[0]}")
        blocked = "G2_RISK_ASSESSMENT" in reason and await desk.outbox_size(GR) == before
        t.say("GR", f"nothing queued: {await desk.outbox_size(GR) == before}")
        return ref, blocked
    raise FocalpointError("the gate let an agreement through without a risk assessment")


async def _outside_agreement(desk: Desk, t: Timeline) -> bool:
    """A case with Italy, with which Greece has no agreement in force: refused at once, nothing made or queued."""
    t.echo("")
    before = await desk.outbox_size(GR)
    try:
        await desk.api(GR).open_case(IT, wall_clock_ms() - 6 * HOUR_MS, UNITS[GR])
    except UsageError as e:
        t.say("GR", f"a case with {IT} refused: {str(e).split('not opened: ', 1)[-1]}")
        return await desk.outbox_size(GR) == before
    raise FocalpointError(f"a case with {IT} was opened outside any agreement")


async def _misrouted(desk: Desk, t: Timeline) -> None:
    """A third State's node never accepts an envelope addressed to another."""
    newest = (await desk.api(GR).list_outbox(1)).entries[0]
    row = await desk.nodes[GR].store.outbox.get(newest.message_id)
    if row is None:
        raise FocalpointError("the newest outbox message vanished")
    try:
        await desk.nodes[GR].transport.deliver(IT, envelope_pb2.Envelope.FromString(row.envelope))
    except RefusalError as e:
        t.say("IT", f"a misrouted copy of a GR→AL envelope is refused: {e.code.name.lower()}: {e.reason}")
        return
    raise FocalpointError(f"{IT} accepted an envelope addressed to {AL}")


async def _who_saw(desk: Desk, t: Timeline, people: People, ref: str) -> list[str]:
    """At the State of origin: Albania's consul in Greece, the focal point's operator and an officer
    of another unit each ask for the second child's case; each gets their role's view or a refusal,
    and the supervisor's access review lists who saw what."""
    t.echo("")
    link = await desk.link(AL, ref)
    consul = await people.client(
        "consul.1", (Role.CONSULAR_OFFICER,), unit="al-mfa/athens", consular_state="AL", district=("GR",)
    )
    shown = await consul.show_case(link, content=True)
    withheld = sorted({e.kind for e in shown.timeline if not getattr(e.body, e.kind).ByteSize()})
    t.say("AL", f"consul.1 (consular officer) sees the {shown.view} view; withheld: {', '.join(withheld)}")
    routed = await (await people.operator()).show_case(link, content=True)
    names = any(e.body.case_notification.child.given_names for e in routed.timeline)
    t.say("AL", f"{OPERATOR} (operator) sees the {routed.view} view: names shown: {names}")
    outsider = await people.client("officer.9", (Role.CASE_OFFICER,), unit="al-shss/korca")
    try:
        await outsider.show_case(link)
        raise FocalpointError("an officer of another unit read the case without break-glass")
    except PermissionDenied as e:
        t.say("AL", f"officer.9 of another unit refused: {str(e).split('PERMISSION_DENIED: ', 1)[-1]}")
    review = await desk.api(AL, SUPERVISOR).access_review(ref)
    rows = [f"{e.kind} {e.actor} {e.view or '-'} {e.purpose or '-'}" for e in reversed(review.entries)]
    t.say("AL", "access review: " + "; ".join(rows))
    return rows


async def _stages(desk: Desk, node_id: str) -> dict[str, str]:
    listed = await desk.api(node_id).list_cases(include_closed=True, limit=1000)
    return {c.case_ref: c.stage for c in listed.cases}


def _timeline(shown: local_pb2.ShowCaseResponse) -> list[str]:
    link = shown.link
    lines = [f"  {link.case_ref} with {link.partner_node}, our side {link.our_side}: stage {link.stage}"]
    for e in shown.timeline:
        at = dt.datetime.fromtimestamp(e.at_ms / 1000, dt.UTC).strftime("%H:%M:%S.%f")[:-3]
        arrow = "→" if e.direction == "sent" else "←"
        flag = f"  FLAGGED: {e.flagged}" if e.flagged else ""
        lines.append(f"    {at}Z {arrow} {e.kind:<34} {e.stage_after}{flag}")
    if shown.gate:
        lines.append(
            "    return gate now: " + "  ".join(f"[{'x' if g.met else ' '}] {g.condition}" for g in shown.gate)
        )
    return lines
