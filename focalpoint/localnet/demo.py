"""``focalpoint demo``: three States' nodes on loopback, one social inquiry end to end.

Greece (destination; identifies the child), Albania (origin; carries out the social
inquiry) and Italy (a third State on the network). Every key is generated on the
spot, nodes talk over real mutual TLS, officials act through the real local API.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import click

from focalpoint.client import LocalClient
from focalpoint.errors import FocalpointError, RefusalError
from focalpoint.localnet import LocalNetwork, NodeSpec, make_network
from focalpoint.localnet.samples import case_ref_for, social_inquiry_report, social_inquiry_request
from focalpoint.log import configure_logging
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import codes_pb2, envelope_pb2, local_pb2, messages_pb2

__all__ = ["run_demo"]

SPECS = (
    NodeSpec("gr-ekka", "GR", "National Centre for Social Solidarity (EKKA)", ("el", "en")),
    NodeSpec("al-shss", "AL", "State Social Service of Albania", ("sq", "en")),
    NodeSpec("it-dgi", "IT", "Directorate-General for Immigration", ("it", "en")),
)


class Timeline:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def ms(self) -> float:
        return (time.perf_counter() - self.start) * 1000

    def say(self, who: str, text: str) -> None:
        click.echo(f"  +{self.ms():7.1f} ms  {who:<4} {text}")


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


async def _wait_inbox(node: Node, sender: str, message_id: bytes, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while await node.store.inbox.get(sender, message_id) is None:
        if time.monotonic() > deadline:
            raise FocalpointError(f"{node.node_id} did not receive message {message_id.hex()} in {timeout_s} s")
        await asyncio.sleep(0.002)


async def _closed(node: Node, message_id: bytes) -> None:
    state = await asyncio.wait_for(node.delivery.wait_closed(message_id), 10)
    if state is not DeliveryState.DELIVERED:
        raise FocalpointError(f"message {message_id.hex()} ended {state.name}, not DELIVERED")


def _name(enum_type: object, value: int, prefix: str) -> str:
    return str(enum_type.Name(value)).removeprefix(prefix)  # type: ignore[attr-defined]


def _non_empty(path: Path) -> bool:
    return path.exists() and any(path.iterdir())


async def run_demo(keep: Path | None) -> None:
    configure_logging(level="warning")
    if keep is not None and _non_empty(keep):
        raise FocalpointError(f"{keep}: exists and is not empty; give a new directory to --keep")
    root = keep if keep is not None else Path(tempfile.mkdtemp(prefix="focalpoint-demo-"))
    try:
        await _demo(root)
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


async def _demo(root: Path) -> None:
    t = Timeline()
    click.echo("focalpoint demo: three States on loopback, mutual TLS, post-quantum hybrid end-to-end encryption")
    net = make_network(root, SPECS, now=dt.datetime.now(dt.UTC))
    t.say(
        "ADM",
        f"directory v{net.version} published: root signed by {len(net.admins)} States' administrators "
        f"(Ed25519 + ML-DSA-65), {len(net.admins)} State entries, {len(net.agreements)} agreements in force, "
        "timestamp",
    )
    async with _nodes(net) as nodes:
        gr, al, it = nodes["gr-ekka"], nodes["al-shss"], nodes["it-dgi"]
        t.say("NET", ", ".join(f"{n.node_id} :{n.peer_port}" for n in nodes.values()) + " up")
        gr_api = LocalClient(net.nodes["gr-ekka"].local_address, net.nodes["gr-ekka"].token)
        al_api = LocalClient(net.nodes["al-shss"].local_address, net.nodes["al-shss"].token)
        async with gr_api, al_api:
            case_ref = case_ref_for(42)
            sent_at = t.ms()
            agreement_id = next(i for i, a in net.agreements.items() if {"GR", "AL"} <= set(a.parties))
            body = social_inquiry_request(case_ref, identified_at_ms=wall_clock_ms(), agreement_id=agreement_id)
            req = await gr_api.submit(local_pb2.SubmitRequest(recipient_node="al-shss", body=body))
            rid = req.message_id
            t.say("GR", f"social-inquiry request for case {case_ref} durable in outbox, id {rid.hex()[:12]}…")
            await _wait_inbox(al, "gr-ekka", rid)
            t.say("AL", "envelope verified (TLS pin, signature, header binding) and stored as ciphertext")
            await _closed(gr, rid)
            receipt_ms = t.ms() - sent_at
            t.say("GR", "signed receipt from al-shss verified; outbox entry closed")

            inbox = await al_api.list_inbox()
            got = await al_api.get_message(local_pb2.DIRECTION_INBOX, inbox.entries[0].message_id, "gr-ekka")
            r = got.body.social_inquiry_request
            topics = ", ".join(_name(messages_pb2.InquiryTopic, x, "INQUIRY_TOPIC_").lower() for x in r.topics)
            flags = got.body.context.flags
            minority = _name(codes_pb2.MinorityPresumption, flags.minority, "MINORITY_PRESUMPTION_")
            contact = _name(codes_pb2.FamilyContactRule, flags.family_contact, "FAMILY_CONTACT_RULE_")
            t.say(
                "AL",
                f"official reads the request: urgency {_name(messages_pb2.Urgency, r.urgency, 'URGENCY_')}, "
                f"{minority.lower()}, family contact {contact.lower()}, topics: {topics}",
            )

            report = social_inquiry_report(
                r.case_ref, completed_at_ms=wall_clock_ms(), agreement_id=got.body.context.agreement_id
            )
            rep = await al_api.submit(
                local_pb2.SubmitRequest(recipient_node="gr-ekka", body=report, in_reply_to=got.message_id)
            )
            t.say("AL", f"social-inquiry report sent in reply, id {rep.message_id.hex()[:12]}…")
            await _wait_inbox(gr, "al-shss", rep.message_id)
            t.say("GR", "report delivered and stored")
            await _closed(al, rep.message_id)
            t.say("AL", "signed receipt from gr-ekka verified; outbox entry closed")
            answered_ms = t.ms() - sent_at

            back = await gr_api.get_message(local_pb2.DIRECTION_INBOX, rep.message_id, "al-shss")
            s = back.body.social_inquiry_report
            care = s.caregivers[0]
            solution = _name(messages_pb2.DurableSolution, s.recommended_solution, "DURABLE_SOLUTION_").lower()
            t.say(
                "GR",
                "official reads the report (in reply to the request: "
                f"{back.in_reply_to == rid}): caregiver "
                f"{_name(messages_pb2.Relationship, care.relationship, 'RELATIONSHIP_').lower()} "
                f"{_name(messages_pb2.CaregiverAvailability, care.availability, 'CAREGIVER_AVAILABILITY_').lower()}, "
                f"family involvement {_name(messages_pb2.Finding, s.family_involvement, 'FINDING_').lower()}, "
                f"recommended {solution}",
            )

            # A third State's node never accepts what is not addressed to it.
            row = await gr.store.outbox.get(rid)
            if row is None:
                raise FocalpointError("the request vanished from the outbox")
            try:
                await gr.transport.deliver(it.node_id, envelope_pb2.Envelope.FromString(row.envelope))
                raise FocalpointError("it-dgi accepted an envelope addressed to al-shss")
            except RefusalError as e:
                t.say("IT", f"a misrouted copy of the request is refused: {e.code.name.lower()}: {e.reason}")
    click.echo(f"done: request to signed receipt {receipt_ms:.1f} ms; request to report received {answered_ms:.1f} ms")
