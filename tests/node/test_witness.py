"""Witness rounds over the fakes: partners cosign consistent checkpoints of each other's logs,
and a log that shows a second history (to the same witness, or to another partner) is caught,
kept as self-contained evidence and never cosigned.

Forks are forged with gr-ekka's own log key (``make_checkpoint``) and shown through a door
that stands in for gr-ekka's on the network (``ShowingDoor``)."""

from __future__ import annotations

import pytest

from focalpoint.audit import events as audit_events
from focalpoint.audit.checkpoint import contradiction, make_checkpoint, verify_checkpoint, verify_cosignature
from focalpoint.errors import OutOfRange, PermissionDenied, TransportError
from focalpoint.net.memory import PeerDoor
from focalpoint.server.node import Node
from focalpoint.v1 import audit_pb2, directory_pb2
from tests.node.conftest import DoorProxy, Fabric, events

GR, AL, IT = "gr-ekka", "al-shss", "it-dgi"
COSIGNED = audit_pb2.AUDIT_EVENT_KIND_COSIGNED
ALARM = audit_pb2.AUDIT_EVENT_KIND_WITNESS_ALARM


class ShowingDoor(DoorProxy):
    """gr-ekka's door, showing the callers named in ``shown`` another checkpoint of its log;
    with ``refuse_cosign``, it fails the next that many Cosign calls as unreachable."""

    def __init__(self, inner: PeerDoor, shown: dict[str, audit_pb2.SignedCheckpoint] | None = None) -> None:
        super().__init__(inner)
        self.shown = shown or {}
        self.refuse_cosign = 0
        self.cannot_prove = False  # answer consistency proofs as a log cut back would

    async def consistency_proof(self, peer: str, old: int, new: int) -> list[bytes]:
        if self.cannot_prove:
            raise OutOfRange(f"consistency proof: need 0 < {old} ≤ {new} ≤ {old} (log size)")
        return await self.inner.consistency_proof(peer, old, new)

    async def checkpoint(self, peer: str, log_node: str) -> audit_pb2.SignedCheckpoint:
        if log_node in ("", GR) and peer in self.shown:
            return self.shown[peer]
        return await self.inner.checkpoint(peer, log_node)

    async def cosign(self, peer: str, cosignature: audit_pb2.Cosignature) -> None:
        if self.refuse_cosign > 0:
            self.refuse_cosign -= 1
            raise TransportError("the connection dropped")
        await self.inner.cosign(peer, cosignature)


async def _grow(node: Node, n: int, *, at_ms: int, actor: str = "t") -> None:
    """Append ``n`` events to ``node``'s log that involve no peer."""
    event = audit_events.status_changed(at_ms=at_ms, actor=actor, case_ref="GR-2026-0700", status="open")
    await node.store.audit.record([event] * n)


def _size(signed: audit_pb2.SignedCheckpoint) -> int:
    return audit_pb2.Checkpoint.FromString(signed.checkpoint).size


def _forge(fabric: Fabric, *, size: int, root: bytes) -> audit_pb2.SignedCheckpoint:
    """A checkpoint of gr-ekka's log signed with its real log key, saying what gr-ekka chooses."""
    signer = fabric.nodes[GR].keyring.log_signer
    assert signer is not None
    return make_checkpoint(signer, log_node=GR, size=size, root=root, issued_at_ms=fabric.clock())


def _calls(fabric: Fabric, caller: str, callee: str, since: int = 0) -> list[str]:
    return [m for a, b, m in fabric.network.calls[since:] if (a, b) == (caller, callee)]


async def _signed(fabric: Fabric, n: int = 3) -> audit_pb2.SignedCheckpoint:
    """gr-ekka's log grows by ``n`` events and gr-ekka signs a checkpoint of it."""
    gr = fabric.nodes[GR]
    await _grow(gr, n, at_ms=fabric.clock())
    return await gr.checkpoints.get()


async def test_a_partner_cosigns_a_signed_checkpoint_and_hands_the_cosignature_back(fabric: Fabric) -> None:
    """al verifies gr's checkpoint, keeps it with a COSIGNED event, and gr keeps al's cosignature."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    signed = await _signed(fabric)
    size = _size(signed)
    assert size == gr.store.audit.size
    [outcome] = await al.witness.check_all([GR])
    assert (outcome.peer, outcome.result, outcome.size) == (GR, "cosigned", size)
    [raw] = await gr.store.audit.cosignatures(size)
    cosignature = audit_pb2.Cosignature.FromString(raw)
    content = verify_cosignature(cosignature, gr.cache.current, checkpoint=signed.checkpoint)
    assert content.witness_node == AL
    assert len((await gr.checkpoints.get(create=False)).cosignatures) == 1
    kept = await al.store.audit.witnessed(GR)
    assert kept is not None
    assert audit_pb2.SignedCheckpoint.FromString(kept).checkpoint == signed.checkpoint
    [(_, event)] = await events(al, COSIGNED)
    root = audit_pb2.Checkpoint.FromString(signed.checkpoint).root_hash
    assert (event.peer_node, event.checkpoint_size, event.checkpoint_root) == (GR, size, root)
    assert not await al.store.audit.alarms()


async def test_a_second_round_without_growth_is_unchanged_and_cosigns_nothing_more(fabric: Fabric) -> None:
    """Nothing new in gr's log: "unchanged", no Cosign call, no second COSIGNED event."""
    al = fabric.nodes[AL]
    size = _size(await _signed(fabric))
    await al.witness.check_all([GR])
    calls = len(fabric.network.calls)
    [outcome] = await al.witness.check_all([GR])
    assert (outcome.result, outcome.size) == ("unchanged", size)
    assert "Cosign" not in _calls(fabric, AL, GR, calls)
    assert len(await events(al, COSIGNED)) == 1


async def test_a_grown_log_is_checked_for_consistency_and_cosigned_again(fabric: Fabric) -> None:
    """gr's next checkpoint is larger: al asks for a consistency proof from the size it cosigned."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    first = _size(await _signed(fabric))
    await al.witness.check_all([GR])
    fabric.clock.advance(1)
    grown = _size(await _signed(fabric, 5))
    assert grown > first
    calls = len(fabric.network.calls)
    [outcome] = await al.witness.check_all([GR])
    assert (outcome.result, outcome.size) == ("cosigned", grown)
    assert "GetConsistencyProof" in _calls(fabric, AL, GR, calls)
    assert [e.checkpoint_size for _, e in await events(al, COSIGNED)] == [first, grown]
    assert len(await gr.store.audit.cosignatures(grown)) == 1


@pytest.mark.parametrize(
    ("fork", "finding"),
    [
        ("same size, another root", "two roots"),
        ("larger, not an extension", "not an extension"),
        ("smaller, its log cut back", "shrank"),
    ],
)
async def test_a_checkpoint_contradicting_the_cosigned_one_is_an_alarm_kept_once_and_never_cosigned(
    fabric: Fabric, fork: str, finding: str
) -> None:
    """Evidence of both checkpoints and a WITNESS_ALARM, no cosignature; found again, not stored twice."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    signed = await _signed(fabric)
    size = _size(signed)
    await al.witness.check_all([GR])
    fabric.clock.advance(1)
    if fork == "same size, another root":
        forged = _forge(fabric, size=size, root=b"\x07" * 32)
    elif fork == "larger, not an extension":
        await _grow(gr, 2, at_ms=fabric.clock())  # gr can prove its real log, not this root
        forged = _forge(fabric, size=size + 2, root=b"\x07" * 32)
    else:  # as after a restore from an old backup: a smaller checkpoint, and no proof it is a prefix
        real_smaller = await gr.store.audit.read(lambda view: view.root(size - 1))
        forged = _forge(fabric, size=size - 1, root=real_smaller)
    door = ShowingDoor(gr.peer_api, {AL: forged})
    door.cannot_prove = fork == "smaller, its log cut back"
    fabric.network.attach(GR, door)
    calls = len(fabric.network.calls)
    [outcome] = await al.witness.check_all([GR])
    assert outcome.result == "alarm"
    assert finding in outcome.detail
    [raw] = await al.store.audit.alarms()
    evidence = audit_pb2.ConflictEvidence.FromString(raw)
    assert (evidence.log_node, evidence.detected_by) == (GR, AL)
    assert evidence.earlier.checkpoint == signed.checkpoint
    assert evidence.later.checkpoint == forged.checkpoint
    directory = al.cache.current
    earlier = verify_checkpoint(evidence.earlier, directory, log_node=GR)
    later = verify_checkpoint(evidence.later, directory, log_node=GR)
    assert contradiction(earlier, later, list(evidence.offered_proof) or None) is not None
    [(_, event)] = await events(al, ALARM)
    assert (event.peer_node, event.checkpoint_size) == (GR, _size(forged))
    assert finding in event.status
    # Nothing of the fork is cosigned: al's record and gr's cosignatures stay as they were.
    kept = await al.store.audit.witnessed(GR)
    assert kept is not None
    assert audit_pb2.SignedCheckpoint.FromString(kept).checkpoint == signed.checkpoint
    assert "Cosign" not in _calls(fabric, AL, GR, calls)
    assert len(await events(al, COSIGNED)) == 1
    # Found again: the same alarm, not stored or logged twice.
    [again] = await al.witness.check_all([GR])
    assert again.result == "alarm"
    assert len(await al.store.audit.alarms()) == 1
    assert len(await events(al, ALARM)) == 1


async def test_gossip_catches_a_checkpoint_that_contradicts_what_another_partner_cosigned(fabric: Fabric) -> None:
    """gr shows al another root for a size it-dgi cosigned; al, asking it-dgi, raises the alarm."""
    gr, al, it = fabric.nodes[GR], fabric.nodes[AL], fabric.nodes[IT]
    signed = await _signed(fabric)
    size = _size(signed)
    assert [o.result for o in await it.witness.check_all([GR])] == ["cosigned"]
    forged = _forge(fabric, size=size, root=b"\x09" * 32)
    fabric.network.attach(GR, ShowingDoor(gr.peer_api, {AL: forged}))
    calls = len(fabric.network.calls)
    [outcome] = await al.witness.check_all([GR])
    assert outcome.result == "alarm"
    assert "cosigned by it-dgi" in outcome.detail
    assert "two roots" in outcome.detail
    assert "GetCheckpoint" in _calls(fabric, AL, IT, calls)
    [raw] = await al.store.audit.alarms()
    evidence = audit_pb2.ConflictEvidence.FromString(raw)
    assert {evidence.earlier.checkpoint, evidence.later.checkpoint} == {signed.checkpoint, forged.checkpoint}
    assert await al.store.audit.witnessed(GR) is None
    assert not await events(al, COSIGNED)
    assert len(await gr.store.audit.cosignatures(size)) == 1  # it-dgi's only


async def test_gossip_accepts_what_another_partner_cosigned_of_the_same_history(fabric: Fabric) -> None:
    """it-dgi cosigned an older checkpoint of the same log: al checks it against the newer one and cosigns."""
    gr, al, it = fabric.nodes[GR], fabric.nodes[AL], fabric.nodes[IT]
    await _signed(fabric)
    await it.witness.check_all([GR])
    fabric.clock.advance(1)
    grown = _size(await _signed(fabric, 4))
    [outcome] = await al.witness.check_all([GR])
    assert (outcome.result, outcome.size) == ("cosigned", grown)
    assert not await al.store.audit.alarms()
    assert len(await gr.store.audit.cosignatures(grown)) == 1


async def test_an_unreachable_partner_is_reported_and_nothing_is_kept(fabric: Fabric) -> None:
    """gr is down: "unreachable", no record, no event."""
    al = fabric.nodes[AL]
    await _signed(fabric)
    size = al.store.audit.size
    fabric.network.set_down(GR)
    [outcome] = await al.witness.check_all([GR])
    assert outcome.result == "unreachable"
    assert "not reachable" in outcome.detail
    assert await al.store.audit.witnessed(GR) is None
    assert al.store.audit.size == size


async def test_a_node_without_a_log_key_skips_witnessing_without_asking_anyone(fabric: Fabric) -> None:
    """al's directory entry loses its log keys: every check is "skipped" and no call is made."""
    al = fabric.nodes[AL]
    await _signed(fabric)

    def drop_log_keys(entries: dict[str, directory_pb2.NodeEntry]) -> None:
        del entries[AL].log_keys[:]

    await fabric.republish(mutate=drop_log_keys)
    assert al.keyring.log_signer is None
    calls = len(fabric.network.calls)
    outcomes = await al.witness.round()
    assert {o.peer for o in outcomes} == {GR, IT}
    assert {o.result for o in outcomes} == {"skipped"}
    assert fabric.network.calls[calls:] == []
    assert await al.store.audit.witnessed(GR) is None


async def test_the_audit_calls_refuse_a_node_that_is_not_an_agreement_partner(fabric: Fabric) -> None:
    """Once the GR-IT agreement is suspended, gr refuses it-dgi's audit calls and it-dgi stops witnessing gr."""
    gr, it = fabric.nodes[GR], fabric.nodes[IT]
    await _signed(fabric)
    with pytest.raises(PermissionDenied):
        await gr.peer_api.checkpoint("xx-stranger", "")

    def suspend(agreements: dict[str, directory_pb2.Agreement]) -> None:
        for agreement in agreements.values():
            if set(agreement.parties) == {"GR", "IT"}:
                agreement.status = directory_pb2.AGREEMENT_STATUS_SUSPENDED

    await fabric.republish(mutate_agreements=suspend)
    with pytest.raises(PermissionDenied):
        await gr.peer_api.checkpoint(IT, "")
    with pytest.raises(PermissionDenied):
        await it.transport.checkpoint(GR, GR)
    with pytest.raises(PermissionDenied):
        await it.transport.consistency_proof(GR, 1, 2)
    [outcome] = await it.witness.check_all([GR])
    assert outcome.result == "unreachable"
    assert GR not in [o.peer for o in await it.witness.round()]
    assert await gr.peer_api.checkpoint(AL, "")  # a partner still is answered


async def test_a_cosignature_that_did_not_reach_the_partner_is_handed_back_on_the_next_round(
    fabric: Fabric,
) -> None:
    """The Cosign call fails once; the next round (no growth) still gets al's cosignature to gr."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    size = _size(await _signed(fabric))
    door = ShowingDoor(gr.peer_api)
    door.refuse_cosign = 1
    fabric.network.attach(GR, door)
    [first] = await al.witness.check_all([GR])
    assert first.result == "unreachable"
    assert await al.store.audit.witnessed(GR) is not None  # al kept (and logged) its cosignature
    [second] = await al.witness.check_all([GR])
    assert second.result == "unchanged"
    assert len(await gr.store.audit.cosignatures(size)) == 1
    cosigns = [c for c in fabric.network.calls if c == (AL, GR, "Cosign")]
    [third] = await al.witness.check_all([GR])  # gr now shows al's cosignature: nothing to hand back
    assert third.result == "unchanged"
    assert [c for c in fabric.network.calls if c == (AL, GR, "Cosign")] == cosigns
