"""The permission matrix between real nodes over mutual TLS, as a table: for every role, in each
relation to one real case (own unit or other unit for officers, own national or other national for
consuls), every local-API action is either allowed (the door lets it through: whatever the case
workflow then says) or refused with PERMISSION_DENIED and an ACCESS_DENIED event naming the caller.

The case: Greece (identifying State) notified Albania (State of origin), Albania acknowledged. The
actors are users of the Albanian node, where the link is owned by the unit ``al-shss``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from focalpoint.client import LocalClient
from focalpoint.errors import FocalpointError, PermissionDenied
from focalpoint.people.permissions import PERMISSIONS, Action, Rule
from focalpoint.people.roles import Grant, Role
from focalpoint.server.node import Node
from focalpoint.v1 import audit_pb2, local_pb2
from tests.server.test_cases_api import AL, GR, UNITS, Desk, _acknowledged, _events
from tests.server.test_consular_visits import visit as consular_visit

Kind = audit_pb2.AuditEventKind


@dataclass(frozen=True)
class Actor:
    user_id: str
    roles: tuple[Role, ...]
    related: bool  # own unit / own national
    unit: str = UNITS[AL]
    grants: tuple[Grant, ...] = ()
    consular_state: str = ""
    district: tuple[str, ...] = ()


ACTORS = {
    "CO own unit": Actor("co.own", (Role.CASE_OFFICER,), True, grants=(Grant.APPROVE, Grant.OVERRIDE)),
    "CO other unit": Actor(
        "co.other", (Role.CASE_OFFICER,), False, unit="al-shss/korca", grants=(Grant.APPROVE, Grant.OVERRIDE)
    ),
    "CA own national": Actor(
        "ca.own", (Role.CONSULAR_OFFICER,), True, unit="al-mfa/athens", consular_state="AL", district=("GR",)
    ),
    "CA other national": Actor(
        "ca.other", (Role.CONSULAR_OFFICER,), False, unit="al-mfa/rome", consular_state="AL", district=("IT",)
    ),
    "OP": Actor("op.2", (Role.OPERATOR,), True),
    "DA": Actor("da.1", (Role.DIRECTORY_ADMIN,), True),
    "AU": Actor("au.1", (Role.AUDITOR,), True),
}

# The expected table, written out (not computed from the code's): ✓ allowed, ✗ PERMISSION_DENIED.
# Columns in ACTORS order.
Y, N = True, False
EXPECTED: dict[str, tuple[bool, ...]] = {
    #                       CO own CO oth CA own CA oth  OP    DA    AU
    "health": (Y, Y, Y, Y, Y, Y, Y),
    "whoami": (Y, Y, Y, Y, Y, Y, Y),
    "list users": (N, N, N, N, Y, N, N),
    "list cases": (Y, Y, Y, Y, Y, N, N),
    "list outbox": (Y, Y, N, N, Y, N, N),
    "verify audit": (N, N, N, N, Y, N, Y),
    "list audit": (N, N, N, N, Y, N, Y),
    "open case": (Y, Y, N, N, N, N, N),  # in one's own unit
    "send evidence": (Y, N, N, N, N, N, N),
    "acknowledge": (Y, N, N, N, Y, N, N),
    "alert detention": (Y, N, N, N, Y, N, N),
    "approve": (Y, N, N, N, N, N, N),
    "show case": (Y, N, Y, N, Y, N, N),
    "consular visit": (Y, N, Y, N, N, N, N),  # recorded locally, never sent
    "assign officers": (Y, N, N, N, Y, N, N),
    "export": (Y, N, N, N, N, N, Y),
    "restrict": (Y, N, N, N, N, N, N),
    "access review": (Y, N, N, N, N, N, Y),
    "break-glass": (Y, Y, N, N, Y, N, N),
    "national indicators": (N, N, N, N, N, N, Y),  # an ended period
    "own-unit dashboard": (Y, Y, N, N, N, N, N),  # each officer's own unit
    "ageing unit": (Y, Y, N, N, N, N, N),  # each officer's own unit
    "ageing routing": (N, N, N, N, Y, N, N),
    "ageing bilateral": (N, N, N, N, Y, N, N),
    "ageing audit": (N, N, N, N, N, N, Y),
    "code list": (Y, Y, Y, Y, Y, Y, Y),
}
# What a permitted ShowCase serves each actor.
VIEWS = {"CO own unit": "FULL", "CA own national": "REPATRIATION", "OP": "ROUTING"}


@pytest.fixture
async def desk(nodes: dict[str, Node]) -> AsyncIterator[Desk]:
    async with contextlib.AsyncExitStack() as stack:
        yield Desk(nodes, stack)


async def _client(desk: Desk, actor: Actor) -> LocalClient:
    return await desk.people[AL].client(
        actor.user_id,
        actor.roles,
        grants=actor.grants,
        unit=actor.unit,
        consular_state=actor.consular_state,
        district=actor.district,
    )


def _calls(desk: Desk, ref: str, link: str) -> dict[str, Callable[[LocalClient], Awaitable[object]]]:
    """One call per action, on the Albanian link ``link`` of case ``ref``."""
    return {
        "health": lambda c: c.get_health(),
        "whoami": lambda c: c.whoami(),
        "list users": lambda c: c.list_users(),
        "list cases": lambda c: c.list_cases(),
        "list outbox": lambda c: c.list_outbox(),
        "verify audit": lambda c: c.verify_audit(),
        "list audit": lambda c: c.list_audit(),
        "open case": lambda c: c.open_case(GR, 0, "", tracing=True),
        "send evidence": lambda c: c.send_case(link, body=desk.body("social_inquiry_report", ref)),
        "acknowledge": lambda c: c.send_case(link, body=desk.body("acknowledgement", ref)),
        "alert detention": lambda c: c.send_case(link, body=desk.body("protection_alert", ref, _detained)),
        "approve": lambda c: c.approve_draft(link, "00" * 16),
        "show case": lambda c: c.show_case(link, content=True),
        "consular visit": lambda c: c.record_consular_visit(link, consular_visit()),
        "assign officers": lambda c: c.assign_case(link, users=["co.own"]),
        "export": lambda c: c.export_case(ref, written_request="REQ-2026-17"),
        "restrict": lambda c: c.restrict_case(link, None),
        "access review": lambda c: c.access_review(ref),
        "national indicators": lambda c: c.get_indicators("2025"),
        "own-unit dashboard": lambda c: c.get_indicators("2025", unit_dashboard=True),
        "ageing unit": lambda c: c.get_ageing("unit"),
        "ageing routing": lambda c: c.get_ageing("routing"),
        "ageing bilateral": lambda c: c.get_ageing("bilateral"),
        "ageing audit": lambda c: c.get_ageing("audit"),
        "code list": lambda c: c.code_list(),
        "break-glass": lambda c: c.open_break_glass(
            "OWNER_UNREACHABLE", "the owning unit does not answer and the child is at risk tonight", link_id=link
        ),
    }


def _detained(body: object) -> None:
    from focalpoint.v1 import codes_pb2, messages_pb2

    assert isinstance(body, messages_pb2.Body)
    body.protection_alert.type = codes_pb2.ALERT_TYPE_DETAINED


async def test_the_permission_matrix_between_real_nodes(desk: Desk) -> None:
    ref, _ = await _acknowledged(desk)
    link = await desk.link_at(AL, ref)
    al = desk.nodes[AL]
    calls = _calls(desk, ref, link)
    assert set(calls) == set(EXPECTED)
    outcomes: dict[tuple[str, str], bool] = {}
    refusals: dict[tuple[str, str], str] = {}
    denials: dict[tuple[str, str], list[str]] = {}
    for name, actor in ACTORS.items():
        client = await _client(desk, actor)
        for action in EXPECTED:
            before = al.store.audit.size
            try:
                result = await calls[action](client)
            except PermissionDenied as e:
                outcomes[name, action] = False
                refusals[name, action] = str(e)
                denials[name, action] = [
                    ev.status
                    for ev in await _events(al, before)
                    if ev.kind == Kind.AUDIT_EVENT_KIND_ACCESS_DENIED and ev.actor == actor.user_id
                ]
                continue
            except FocalpointError:  # let through by the door; the workflow said no (stage, draft)
                outcomes[name, action] = True
                continue
            outcomes[name, action] = True
            if action == "show case":
                assert isinstance(result, local_pb2.ShowCaseResponse)
                assert result.view == VIEWS[name], name
    table = {a: tuple(outcomes[n, a] for n in ACTORS) for a in EXPECTED}
    wrong = {a: (table[a], EXPECTED[a]) for a in EXPECTED if table[a] != EXPECTED[a]}
    assert not wrong, f"(got, expected) per action, columns {list(ACTORS)}: {wrong}"
    unaudited = [key for key, statuses in denials.items() if not statuses]
    assert not unaudited, f"refused without an ACCESS_DENIED event naming the caller: {unaudited}"
    naming = [key for key, why in refusals.items() if ref in why or link in why]
    assert not naming, f"a refusal named the case: {naming}"


def test_the_expected_table_agrees_with_the_code() -> None:
    """Each row the matrix test walks is the code's rule for that role (own/other columns)."""
    rows = {
        "list users": Action.MANAGE_USERS,
        "verify audit": Action.VERIFY_AUDIT,
        "list audit": Action.READ_METADATA,
        "restrict": Action.RESTRICT,
        "access review": Action.ACCESS_REVIEW,
        "code list": Action.CODE_LIST,
        "consular visit": Action.CONSULAR_VISIT,
    }
    for name, action in rows.items():
        rules = PERMISSIONS[action]
        for (column, actor), allowed in zip(ACTORS.items(), EXPECTED[name], strict=True):
            rule = rules[actor.roles[0]]
            assert allowed == (rule is not Rule.NEVER and (actor.related or rule is Rule.ANY)), (name, column)
