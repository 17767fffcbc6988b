"""People at a real node's local API: logins refused for every reason with one message and an audit
event, sessions that end, the audit trail naming the authenticated user (a client-supplied actor is
refused), break-glass, the access review and each anomaly alert, end to end over gRPC.

The nodes run on one movable clock (sessions, break-glass windows and authenticator codes all read
it) and tell people through capturing notifiers: ``World.told`` holds what every node told, in
order, and ``World.told_at`` what each node told on its own."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import grpc
import pyotp
import pytest
import yaml

from focalpoint.client import LocalClient
from focalpoint.errors import PermissionDenied, Unauthenticated, UsageError
from focalpoint.localnet import LocalNetwork
from focalpoint.node.accounts import LOGIN_FAILED, SESSION_ENDED
from focalpoint.node.notify import CapturingNotifier
from focalpoint.node.ports import wall_clock_ms
from focalpoint.people.roles import Grant, Role
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.v1 import audit_pb2, codes_pb2, local_pb2, local_pb2_grpc, messages_pb2
from tests.server.test_cases_api import AL, Desk, _acknowledged, _events, ref_to

Kind = audit_pb2.AuditEventKind
MINUTE_MS = 60_000
BULK_LIMIT = 3  # distinct cases per hour before the bulk-read alert (lowered for the test)


@dataclass
class MovableClock:
    offset_ms: int = 0

    def __call__(self) -> int:
        return wall_clock_ms() + self.offset_ms

    def advance(self, minutes: float) -> None:
        self.offset_ms += int(minutes * MINUTE_MS)


@dataclass(frozen=True, slots=True)
class _Told:
    """One node's notifier: keeps what the node told and adds it to what all the nodes told."""

    own: CapturingNotifier
    everyone: CapturingNotifier

    async def notify(self, users: Sequence[str], event: str, *, case_ref: str = "") -> None:
        await self.own.notify(users, event, case_ref=case_ref)
        await self.everyone.notify(users, event, case_ref=case_ref)


@dataclass
class World:
    nodes: dict[str, Node]
    desk: Desk
    clock: MovableClock
    told: CapturingNotifier
    seen: list[str] = field(default_factory=list)
    told_at: dict[str, CapturingNotifier] = field(default_factory=dict)


@pytest.fixture
async def world(network: LocalNetwork) -> AsyncIterator[World]:
    clock, told = MovableClock(), CapturingNotifier()
    nodes: dict[str, Node] = {}
    told_at = {node_id: CapturingNotifier() for node_id in network.nodes}
    for node_id, ln in network.nodes.items():
        config = yaml.safe_load(ln.config_path.read_text(encoding="utf-8"))
        config["accounts"]["anomaly_reads_per_hour"] = BULK_LIMIT
        ln.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        node = await Node.open(load_config(ln.config_path), clock_ms=clock, notifier=_Told(told_at[node_id], told))
        await node.start()
        nodes[node_id] = node
    try:
        async with contextlib.AsyncExitStack() as stack:
            yield World(nodes, Desk(nodes, stack), clock, told, told_at=told_at)
    finally:
        for node in nodes.values():
            await node.stop(0)


def _failures(events: list[audit_pb2.AuditEvent]) -> list[tuple[str, str]]:
    return [(e.actor, e.status) for e in events if e.kind == Kind.AUDIT_EVENT_KIND_LOGIN_FAILED]


async def test_every_refused_login_says_the_same_thing_and_is_audited_with_its_step(world: World) -> None:
    al = world.nodes[AL]
    people = world.desk.people[AL]
    await people.client("officer.1")
    person = people.people["officer.1"]
    address = people.address
    before = al.store.audit.size

    async def login(user: str, password: str, code: str) -> None:
        client, _ = await LocalClient.login(address, user, password, code)
        await client.close()

    right_code = people.code(person, 2)
    attempts = [
        ("nobody.9", person.password, right_code, "unknown_user"),
        ("officer.1", "not the password at all", right_code, "password"),
        ("officer.1", person.password, "000000" if right_code != "000000" else "111111", "second_factor"),
        ("officer.1", person.password, people.code(person, 1), "replayed_code"),  # the helper's login used it
    ]
    for user, password, code, _ in attempts:
        with pytest.raises(Unauthenticated) as refused:
            await login(user, password, code)
        assert LOGIN_FAILED in str(refused.value)  # one message, whatever went wrong
    steps = _failures(await _events(al, before))
    assert steps == [("" if s == "unknown_user" else u, s) for u, _, _, s in attempts]  # no typed id kept

    for _ in range(6 - 2):  # two password/code failures above: four more lock the account
        with pytest.raises(Unauthenticated):
            await login("officer.1", "still not the password", right_code)
    with pytest.raises(Unauthenticated) as locked:
        await login("officer.1", person.password, right_code)  # right, but locked
    assert LOGIN_FAILED in str(locked.value)
    assert _failures(await _events(al, before))[-1] == ("officer.1", "locked")
    world.clock.advance(31)  # the lockout ends by itself
    await login("officer.1", person.password, people.code(person, 0))
    logins = [(e.actor, e.status) for e in await _events(al, before) if e.kind == Kind.AUDIT_EVENT_KIND_LOGIN]
    assert logins == [("officer.1", "totp")]


async def test_sessions_end_at_idle_timeout_logout_and_when_the_account_is_disabled(world: World) -> None:
    al = world.nodes[AL]
    people = world.desk.people[AL]
    officer = await people.client("officer.1")
    person = people.people["officer.1"]
    before = al.store.audit.size

    # Idle for longer than the idle timeout: the node ended the session.
    world.clock.advance(31)
    async with LocalClient(people.address, session=person.session) as stale:
        with pytest.raises(Unauthenticated, match=SESSION_ENDED):
            await stale.whoami()
    # A fresh login (a recovery code), then logout revokes that session at once.
    fresh, _ = await LocalClient.login(people.address, "officer.1", person.password, person.recovery.pop())
    assert (await fresh.whoami()).user_id == "officer.1"
    await fresh.logout()
    with pytest.raises(Unauthenticated, match=SESSION_ENDED):
        await fresh.whoami()
    await fresh.close()
    # Disabled by an operator: the open session is refused and so is a new login.
    again, _ = await LocalClient.login(people.address, "officer.1", person.password, person.recovery.pop())
    await (await people.operator()).disable_user("officer.1")
    with pytest.raises(Unauthenticated, match=SESSION_ENDED):
        await again.whoami()
    await again.close()
    with pytest.raises(Unauthenticated, match=LOGIN_FAILED):
        await (await LocalClient.login(people.address, "officer.1", person.password, person.recovery.pop()))[0].close()
    events = await _events(al, before)
    ended = [e.status for e in events if e.kind == Kind.AUDIT_EVENT_KIND_LOGOUT and e.actor == "officer.1"]
    assert ended[0] == "idle timeout"
    assert "logout" in ended
    assert ("officer.1", "disabled") in _failures(events)
    changed = [(e.actor, e.subject, e.status) for e in events if e.kind == Kind.AUDIT_EVENT_KIND_ACCOUNT_CHANGED]
    assert ("operator.1", "officer.1", "disabled") in changed
    del officer


async def test_every_read_names_the_logged_in_user_and_a_client_supplied_actor_is_refused(world: World) -> None:
    desk, al = world.desk, world.nodes[AL]
    ref, _ = await _acknowledged(desk)
    link = await desk.link_at(AL, ref)
    before = al.store.audit.size
    officer = await desk.api(AL, "officer.1")
    shown = await officer.show_case(link, content=True)
    assert (shown.view, shown.purpose) == ("FULL", "CASE_WORK")
    assert shown.timeline[0].body.case_notification.child.given_names  # FULL: the content
    async with grpc.aio.insecure_channel(desk.people[AL].address) as channel:
        stub = local_pb2_grpc.LocalServiceStub(channel)
        for metadata in (
            (("authorization", f"Session {officer.session}"), ("fp-actor", "someone.else")),
            (("fp-actor", "someone.else"),),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ShowCase(local_pb2.ShowCaseRequest(link_id=link), metadata=metadata)
            assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert "fp-actor is not accepted" in (refused.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await stub.ShowCase(local_pb2.ShowCaseRequest(link_id=link))
        assert anonymous.value.code() is grpc.StatusCode.UNAUTHENTICATED
    reads = [e for e in await _events(al, before) if e.kind == Kind.AUDIT_EVENT_KIND_READ]
    assert [(e.actor, e.case_ref, e.view, e.purpose) for e in reads] == [("officer.1", ref, "FULL", "CASE_WORK")]
    # Every READ event the node ever wrote names an account it holds.
    accounts = {u.user_id for u in (await (await desk.people[AL].operator()).list_users()).users}
    every = [e for e in await _events(al, 0) if e.kind == Kind.AUDIT_EVENT_KIND_READ]
    assert every
    assert {e.actor for e in every} <= accounts


async def test_break_glass_is_reasoned_time_limited_tells_the_supervisor_and_shows_in_the_access_review(
    world: World,
) -> None:
    desk = world.desk
    ref, _ = await _acknowledged(desk)
    link = await desk.link_at(AL, ref)
    people = desk.people[AL]
    supervisor = await people.client("supervisor.2", grants=(Grant.APPROVE,))
    outsider = await people.client("co.korca", unit="al-shss/korca")
    with pytest.raises(PermissionDenied, match="break-glass"):
        await outsider.show_case(link)
    with pytest.raises(UsageError, match="20"):
        await outsider.open_break_glass("CHILD_IN_DANGER", "urgent", link_id=link)
    with pytest.raises(UsageError, match="reason code"):
        await outsider.open_break_glass("CURIOSITY", "I would like to see what this case is about", link_id=link)
    world.told.sent.clear()
    opened = await outsider.open_break_glass(
        "CHILD_IN_DANGER", "police call at night: the child ran from the shelter; owner unit unreachable", link_id=link
    )
    assert abs(opened.until_ms - (world.clock() + 4 * 60 * MINUTE_MS)) < MINUTE_MS
    [told] = [n for n in world.told.sent if n.event == "break_glass"]
    assert "supervisor.2" in told.users
    assert told.case_ref == ref
    shown = await outsider.show_case(link, content=True)
    assert (shown.view, shown.purpose) == ("FULL", "BREAK_GLASS")
    world.clock.advance(4 * 60 + 1)  # the window closes by itself
    with pytest.raises(PermissionDenied):
        await outsider.show_case(link)

    review = await supervisor.access_review(ref)
    rows = [(e.kind, e.actor, e.view, e.purpose, e.detail) for e in review.entries]
    assert ("break_glass", "co.korca", "", "", "CHILD_IN_DANGER") in rows
    assert ("read", "co.korca", "FULL", "BREAK_GLASS", "") in rows
    assert ("access_denied", "co.korca", "", "", "read the case (FULL)") in rows
    assert all("night" not in e.detail for e in review.entries)  # the reason's words stay sealed
    auditor = await people.client("auditor.1", (Role.AUDITOR,))
    assert len((await auditor.access_review(ref)).entries) >= len(review.entries)
    officer = await people.client("officer.3", grants=())
    with pytest.raises(PermissionDenied, match="approve grant"):
        await officer.access_review(ref)


async def test_each_anomaly_alert_fires_once_for_its_pattern_and_tells_the_supervisors(world: World) -> None:
    desk, al = world.desk, world.nodes[AL]
    people = desk.people[AL]
    ref, notification = await _acknowledged(desk)
    link = await desk.link_at(AL, ref)
    supervisor = await people.client("supervisor.2", grants=(Grant.APPROVE,))
    worker = await people.client("co.assigned", grants=())
    other = await people.client("co.unassigned", grants=())
    await people.operator()
    before = al.store.audit.size

    def anomalies() -> list[tuple[str, str]]:
        return [(n.event, n.case_ref) for n in world.told.sent if n.event.startswith("anomaly:")]

    # Read without assignment: the case names its officers, and this reader is not one of them.
    await supervisor.assign_case(link, users=["co.assigned"])
    world.told.sent.clear()
    await worker.show_case(link)
    assert anomalies() == []
    await other.show_case(link)
    assert anomalies() == [("anomaly:read_without_assignment", ref)]

    # A restricted case: only the named officers read it, and every read of it raises an alert.
    await supervisor.restrict_case(link, ["co.assigned"])
    with pytest.raises(PermissionDenied, match="restricted"):
        await other.show_case(link)
    world.told.sent.clear()
    await worker.show_case(link)
    assert anomalies() == [("anomaly:restricted_read", ref)]
    await supervisor.restrict_case(link, None)
    changes = [(e.kind, e.actor, e.detail) for e in (await supervisor.access_review(ref)).entries]
    assert ("access_changed", "supervisor.2", "access:restricted") in changes
    assert ("access_changed", "supervisor.2", "access:restriction lifted") in changes
    assert ("access_changed", "supervisor.2", "access:assigned") in changes
    await people.client("co.korca", unit="al-shss/korca", grants=())
    with pytest.raises(UsageError, match="not enabled case officers of the case's unit"):
        await supervisor.assign_case(link, users=["co.korca"])  # an officer of another unit

    # A read after closure: the State of origin refuses the notification for good (the link ends).
    def final_refusal(body: messages_pb2.Body) -> None:
        ref_to("request_refusal.refuses", notification)(body)
        body.request_refusal.reason = codes_pb2.REFUSAL_REASON_NOT_COMPETENT
        body.request_refusal.final = True

    await desk.send(AL, ref, "request_refusal", final_refusal)
    world.told.sent.clear()
    await worker.show_case(link)
    assert ("anomaly:read_after_closure", ref) in anomalies()

    # Bulk reads: more distinct cases in an hour than the threshold, alerted once.
    world.told.sent.clear()
    refs = [ref]
    for _ in range(BULK_LIMIT):
        more, _ = await _acknowledged(desk)
        refs.append(more)
    operator = await people.operator()
    for r in refs:
        await operator.show_case(await desk.link_at(AL, r))
    bulk = [n for n in world.told.sent if n.event == "anomaly:bulk_reads"]
    assert len(bulk) == 1
    assert bulk[0].case_ref == ""  # the alert names no case
    assert "operator.1" in bulk[0].users
    await operator.show_case(await desk.link_at(AL, refs[0]))
    assert len([n for n in world.told.sent if n.event == "anomaly:bulk_reads"]) == 1

    fired = [(e.subject, e.status) for e in await _events(al, before) if e.kind == Kind.AUDIT_EVENT_KIND_ANOMALY]
    assert fired == [
        ("co.unassigned", "read_without_assignment"),
        ("co.assigned", "restricted_read"),
        ("co.assigned", "read_after_closure"),
        ("operator.1", "bulk_reads"),
    ]
    notified = [n for n in world.told.sent if n.event.startswith("anomaly:")]
    assert all("supervisor.2" in n.users or n.event == "anomaly:bulk_reads" for n in notified)


async def test_totp_codes_from_the_authenticator_work_the_same_through_the_api(world: World) -> None:
    """The otpauth URI an enrolling user is given yields the codes the node accepts."""
    people = world.desk.people[AL]
    operator = await people.operator()
    added = await operator.add_user(local_pb2.UserSpec(user_id="officer.9", unit=people.unit, roles=["case_officer"]))
    async with LocalClient(people.address) as anonymous:
        factor = await anonymous.begin_enrolment(added.enrolment_code, "a long passphrase for tests")
        totp = pyotp.parse_uri(factor.otpauth_uri)
        assert isinstance(totp, pyotp.TOTP)
        assert factor.user_id == "officer.9"
        assert len(factor.recovery_codes) == 10
        info = await anonymous.finish_enrolment(added.enrolment_code, totp.at(world.clock() // 1000))
        assert info.enrolled
    client, answer = await LocalClient.login(
        people.address, "officer.9", "a long passphrase for tests", totp.at(world.clock() // 1000 + 30)
    )
    assert answer.user.roles == ["case_officer"]
    assert (await client.whoami()).unit == people.unit
    await client.close()


async def test_a_raw_submit_is_judged_like_a_message_sent_on_its_case(world: World) -> None:
    """Submit (a whole body to a partner) cannot bypass the door: on a link this node holds, the
    sender's rule for that link applies; otherwise only a body from the officer's own unit goes."""
    desk = world.desk
    ref, notification = await _acknowledged(desk)
    people = desk.people[AL]
    outsider = await people.client("co.korca", unit="al-shss/korca")
    body = desk.body("acknowledgement", ref, ref_to("acknowledgement.acknowledges", notification))
    body.context.sender_unit = "al-shss/korca"
    with pytest.raises(PermissionDenied, match="not a case of your unit"):
        await outsider.submit(local_pb2.SubmitRequest(recipient_node="gr-ekka", body=body))
    stranger = desk.body("acknowledgement", "GR-7KQ2M9XH4T-0")  # a reference no link of this node holds
    with pytest.raises(PermissionDenied, match="own unit"):
        await outsider.submit(local_pb2.SubmitRequest(recipient_node="gr-ekka", body=stranger))
