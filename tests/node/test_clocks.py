"""Clocks drift and get stepped back: a clock disagreement between two nodes delays messages but
never fails them for good, both sides say which two clocks disagree, and each node shows how
far its partners' clocks are from its own."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from directory.health import directory_health
from focalpoint.audit.checkpoint import make_checkpoint
from focalpoint.errors import Refusal, RefusalError
from focalpoint.exchange.envelope import Limits
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import audit_pb2
from tests.node.conftest import Fabric, eventually

GR, AL = "gr-ekka", "al-shss"
FIVE_MINUTES = 300


async def _submit(fabric: Fabric) -> bytes:
    # Identified (and attested) ten minutes ago: earlier than any skewed node clock here, as a
    # body's times are earlier than the envelope that carries it.
    body = social_inquiry_request(case_ref_for(1), identified_at_ms=fabric.clock() - 2 * FIVE_MINUTES * 1000)
    return (await fabric.nodes[GR].outbox.submit(AL, body)).message_id


@pytest.mark.parametrize(
    ("node", "seconds"),
    [pytest.param(AL, -FIVE_MINUTES, id="receiver-5-min-slow"), pytest.param(GR, FIVE_MINUTES, id="sender-5-min-fast")],
)
async def test_a_clock_disagreement_delays_a_message_until_the_clocks_agree_then_it_is_delivered_once(
    fabric: Fabric, node: str, seconds: int
) -> None:
    """NOT_YET_VALID is retried (QUEUED, naming both clocks), and delivery succeeds once they agree.

    An envelope sealed by a fast clock keeps its creation time, so it is accepted once real time
    reaches that time less the skew window; a receiver's slow clock, once set right, accepts at once.
    """
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    fabric.set_skew(node, seconds)
    message_id = await _submit(fabric)

    async def refused_at_least_once() -> bool:
        row = await gr.store.outbox.get(message_id)
        return row is not None and row.attempts >= 1

    await eventually(refused_at_least_once, what="a first attempt refused")
    row = await gr.store.outbox.get(message_id)
    assert row is not None
    assert row.state is DeliveryState.QUEUED
    assert "clocks of gr-ekka and al-shss disagree" in row.last_error
    assert await al.store.inbox.count() == 0
    fabric.set_skew(node, 0)
    if node == GR:  # the envelope was stamped 5 minutes ahead; that much of the window must pass
        fabric.clock.advance(FIVE_MINUTES - Limits().clock_skew_ms / 1000)
    await fabric.retry_now(GR, AL)
    assert await asyncio.wait_for(gr.delivery.wait_closed(message_id), 2) is DeliveryState.DELIVERED
    assert await al.store.inbox.count() == 1


async def test_both_sides_log_the_clock_disagreement_at_warning(fabric: Fabric) -> None:
    """The receiver and the sender each warn `clock_disagreement`, naming the other node."""
    gr = fabric.nodes[GR]
    fabric.set_skew(AL, -FIVE_MINUTES)
    with capture_logs() as logs:
        message_id = await _submit(fabric)

        async def attempted() -> bool:
            row = await gr.store.outbox.get(message_id)
            return row is not None and row.attempts >= 1

        await eventually(attempted, what="a first attempt refused")
    warned = [(e["peer"], e["log_level"]) for e in logs if e["event"] == "clock_disagreement"]
    assert (GR, "warning") in warned  # at the receiver, about the sender
    assert (AL, "warning") in warned  # at the sender, about the receiver


def test_not_yet_valid_is_retryable_and_names_both_clocks() -> None:
    """The refusal a receiver gives for a future envelope is retryable and blames neither side alone."""
    from focalpoint.exchange.envelope import _clock_disagreement

    reason = _clock_disagreement(GR, AL, 301_000, Limits())
    err = RefusalError(Refusal.NOT_YET_VALID, reason)
    assert err.retryable
    assert "clocks of gr-ekka and al-shss disagree" in reason
    assert "301 s ahead" in reason
    assert "sender's clock" not in reason


async def test_each_partner_s_clock_offset_is_measured_by_signed_pings_and_shown_in_health(fabric: Fabric) -> None:
    """A partner 5 minutes ahead is still answered, its offset is measured, and health flags it."""
    gr = fabric.nodes[GR]
    fabric.set_skew(AL, FIVE_MINUTES)
    statuses = await gr.reachability.round()
    assert statuses[AL].reachable
    offset = statuses[AL].clock_offset_ms
    assert offset is not None
    assert abs(offset - FIVE_MINUTES * 1000) < 1000
    assert abs(gr.reachability.clock_offsets()["it-dgi"]) < 1000
    report = directory_health(
        gr.cache.current,
        gr.cache.trusted.root,
        now_ms=fabric.clock(),
        clock_offsets=gr.reachability.clock_offsets(),
        clock_attention_ms=gr.limits.clock_skew_ms // 2,
    )
    assert not report.healthy
    assert [n for n, _ in report.clocks_disagreeing] == [AL]
    assert any("CLOCKS DISAGREE: node al-shss's clock is 300" in line and "ahead" in line for line in report.lines())


@pytest.mark.parametrize("back_s", [30, 300])
async def test_a_log_whose_node_clock_was_stepped_back_is_cosigned_without_an_alarm(
    fabric: Fabric, back_s: int
) -> None:
    """A larger checkpoint dated before the cosigned one (clock stepped back) is consistent: cosigned,
    with a warning that clears, never a WITNESS_ALARM."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    await _submit(fabric)
    first = await gr.checkpoints.get()
    [cosigned] = await al.witness.check_all([GR])
    assert cosigned.result == "cosigned"
    await _submit(fabric)  # the log grows
    size = gr.store.audit.size
    root = await gr.store.audit.read(lambda view: view.root(size))
    signer = gr.keyring.log_signer
    assert signer is not None
    first_at = audit_pb2.Checkpoint.FromString(first.checkpoint).issued_at_ms
    stepped_back = make_checkpoint(signer, log_node=GR, size=size, root=root, issued_at_ms=first_at - back_s * 1000)
    await gr.store.audit.add_checkpoint(size, stepped_back.SerializeToString(), first_at - back_s * 1000)
    with capture_logs() as logs:
        [outcome] = await al.witness.check_all([GR])
    assert (outcome.result, outcome.size) == ("cosigned", size)
    assert await al.store.audit.alarms() == []
    assert any(e["event"] == "witness_clock_disorder" and e["log_level"] == "warning" for e in logs)


async def test_a_node_never_signs_a_checkpoint_dated_before_its_previous_one(fabric: Fabric) -> None:
    """After its clock is stepped back 5 minutes, the next checkpoint is dated no earlier than the last."""
    gr = fabric.nodes[GR]
    await _submit(fabric)
    first = audit_pb2.Checkpoint.FromString((await gr.checkpoints.get()).checkpoint)
    fabric.set_skew(GR, -FIVE_MINUTES)
    await _submit(fabric)
    second = audit_pb2.Checkpoint.FromString((await gr.checkpoints.get()).checkpoint)
    assert second.size > first.size
    assert second.issued_at_ms >= first.issued_at_ms
