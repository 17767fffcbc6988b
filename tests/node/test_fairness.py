"""One peer's flood does not starve the others: receive work runs in worker threads, in turns by
peer (``FairShare``), and each peer has a limit on calls in progress."""

from __future__ import annotations

import asyncio
import threading
from functools import partial

import pytest

from focalpoint.errors import Refusal, RefusalError
from focalpoint.localnet.samples import case_ref_for
from focalpoint.node.fairness import MAX_CALLS_PER_PEER, FairShare
from focalpoint.v1 import audit_pb2
from tests.node.conftest import Fabric, events

FLOOD = 256


async def test_a_partner_s_envelope_is_stored_while_another_peer_s_big_batch_is_still_being_opened(
    fabric: Fabric,
) -> None:
    """it-dgi's batch of 256 envelopes is still being checked when gr-ekka's single envelope is answered."""
    al = fabric.nodes["al-shss"]
    flood = [fabric.seal("it-dgi", "al-shss", case_ref=case_ref_for(i, "IT")).envelope for i in range(FLOOD)]
    honest = fabric.seal("gr-ekka", "al-shss")
    flooding = asyncio.ensure_future(al.inbox.receive_batch(flood, "it-dgi"))
    await asyncio.sleep(0)  # the flood's call has started (before the fix, it opened all 256 here)
    answer = await al.inbox.receive(honest.envelope, "gr-ekka")
    assert not answer.duplicate
    assert not flooding.done(), "the honest envelope waited for the whole flood"
    results = await flooding
    assert len(results) == FLOOD
    assert await al.store.inbox.get("gr-ekka", honest.message_id) is not None


async def test_a_peer_past_its_calls_in_progress_is_answered_unavailable_and_the_others_are_not(
    fabric: Fabric,
) -> None:
    """With MAX_CALLS_PER_PEER calls of it-dgi in progress, its next call is UNAVAILABLE at once and unaudited."""
    al = fabric.nodes["al-shss"]
    batches = [
        [fabric.seal("it-dgi", "al-shss", case_ref=case_ref_for(b * 100 + i, "IT")).envelope for i in range(8)]
        for b in range(MAX_CALLS_PER_PEER)
    ]
    busy = [asyncio.ensure_future(al.inbox.receive_batch(batch, "it-dgi")) for batch in batches]
    await asyncio.sleep(0)  # each call holds one of it-dgi's slots while its envelopes are opened
    extra = fabric.seal("it-dgi", "al-shss")
    with pytest.raises(RefusalError) as refused:
        await al.inbox.receive(extra.envelope, "it-dgi")
    assert refused.value.code is Refusal.UNAVAILABLE
    assert refused.value.retryable
    honest = fabric.seal("gr-ekka", "al-shss")
    assert not (await al.inbox.receive(honest.envelope, "gr-ekka")).duplicate
    await asyncio.gather(*busy)
    assert not [e for _, e in await events(al, audit_pb2.AUDIT_EVENT_KIND_REFUSED) if e.peer_node == "it-dgi"]
    assert await al.store.inbox.get("it-dgi", extra.message_id) is None
    # Once its calls are done, the same envelope is accepted: the refusal kept nothing in the way.
    assert not (await al.inbox.receive(extra.envelope, "it-dgi")).duplicate


async def test_a_peer_with_a_backlog_waits_its_turn_behind_another_peer_s_single_item() -> None:
    """One worker, a blocked first item of peer A and nine more queued: B's one item runs third, not eleventh."""
    share = FairShare(workers=1)
    started = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def item(name: str, block: bool = False) -> str:
        if block:
            started.set()
            release.wait(10)
        order.append(name)
        return name

    try:
        first = share.submit("a", lambda: item("a0", block=True))
        backlog = [share.submit("a", partial(item, f"a{n}")) for n in range(1, 10)]
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        single = share.submit("b", lambda: item("b0"))
        release.set()
        assert await single == "b0"
        await asyncio.gather(first, *backlog)
    finally:
        release.set()
        share.close()
    assert order.index("b0") <= 2, order
    assert [n for n in order if n.startswith("a")] == [f"a{n}" for n in range(10)]  # a peer's own order is kept


async def test_work_runs_off_the_event_loop_thread_and_its_errors_reach_the_caller() -> None:
    """Items run in a worker thread; an exception raised there is raised to the awaiting caller."""
    share = FairShare(workers=2)
    loop_thread = threading.get_ident()

    def fails() -> None:
        raise RefusalError(Refusal.BAD_SIGNATURE, "no")

    try:
        assert await share.run("a", threading.get_ident) != loop_thread
        with pytest.raises(RefusalError) as raised:
            await share.run("a", fails)
        assert raised.value.code is Refusal.BAD_SIGNATURE
    finally:
        share.close()


async def test_a_cancelled_caller_s_queued_item_never_runs() -> None:
    """A call that went away before its turn leaves no work behind."""
    share = FairShare(workers=1)
    release = threading.Event()
    ran: list[str] = []
    try:
        blocker = share.submit("a", lambda: release.wait(10))
        dropped = share.submit("b", lambda: ran.append("dropped"))
        dropped.cancel()
        release.set()
        await blocker
        assert await share.run("c", lambda: "after") == "after"
    finally:
        release.set()
        share.close()
    assert ran == []


def test_call_slots_are_counted_per_peer_and_given_back() -> None:
    """max_calls slots per peer; the next is refused UNAVAILABLE; leaving a slot frees it."""
    share = FairShare(workers=1, max_calls=2)
    with share.admit("a"), share.admit("a"), share.admit("b"):
        assert share.calls_in_progress("a") == 2
        with pytest.raises(RefusalError) as refused:
            share.admit("a")
        assert refused.value.code is Refusal.UNAVAILABLE
    assert share.calls_in_progress("a") == 0
    with share.admit("a"):
        assert share.calls_in_progress("a") == 1


async def test_a_share_is_idle_only_with_nothing_queued_or_running() -> None:
    """Idle before any work and after it; not while an item runs (a small call then queues, not inline)."""
    share = FairShare(workers=1)
    release = threading.Event()
    try:
        assert share.idle()
        blocker = share.submit("a", lambda: release.wait(10))
        assert not share.idle()
        release.set()
        await blocker
        assert share.idle()
    finally:
        release.set()
        share.close()
