"""What each role may do, as data beside the model, and the one function that decides.

Every call of the local API names one ``Action``; the door (``focalpoint.server.door``) asks
``decide`` with the session's account, and, for a call about a case, the ``Target`` it is
about. The answer is a ``Decision``: allowed or not (and why, in words that reveal nothing of
the case), the ``View`` of the case the caller may be served and the ``Purpose`` its READ event
records. ``PERMISSIONS`` is the table the docs print (``matrix_markdown``) and the matrix test
walks: one ``Rule`` per action and role.

A case officer reaches their own unit's cases; another unit's only through break-glass
(``focalpoint.node.accounts``: reason, a time limit, the owning supervisor told at once). A
consular officer reaches a case only while it is their own national's (the link's State of
origin is their consular State, its identifying State in their district, and the State of
origin has not answered that the child's nationality is NOT_CONFIRMED).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from focalpoint.people.roles import Account, Grant, Role
from focalpoint.v1 import codes_pb2, messages_pb2

__all__ = [
    "PERMISSIONS",
    "Action",
    "Decision",
    "Purpose",
    "Rule",
    "Target",
    "View",
    "decide",
    "matrix_markdown",
    "relation_words",
    "send_action",
]


class View(StrEnum):
    """How much of a case a caller is served (projections: ``focalpoint.cases.views``)."""

    FULL = "FULL"  # all case content
    REPATRIATION = "REPATRIATION"  # what a return needs, for the consul
    ROUTING = "ROUTING"  # kind, reference, partner, urgency, dates, unit: no names, no content
    METADATA = "METADATA"  # what the audit log holds: references, kinds, times, stages, actors
    AGGREGATE = "AGGREGATE"  # indicator outputs only
    NONE = "NONE"  # not about a case


class Purpose(StrEnum):
    """Why a case was read; recorded on the READ event."""

    CASE_WORK = "CASE_WORK"
    APPROVAL = "APPROVAL"
    CONSULAR = "CONSULAR"
    TRIAGE = "TRIAGE"
    BREAK_GLASS = "BREAK_GLASS"
    AUDIT = "AUDIT"
    ADMIN = "ADMIN"


class Rule(StrEnum):
    """How one role stands to one action."""

    ANY = "any"  # allowed (whatever case, or not about a case)
    OWN_UNIT = "own unit"  # allowed on cases of the account's unit
    OWN_UNIT_OR_BREAK_GLASS = "own unit; others by break-glass"
    BREAK_GLASS = "break-glass only"
    OWN_NATIONAL = "own nationals"  # consular officer: see the module's docstring
    NEVER = "never"


class Action(StrEnum):
    # not about one case
    HEALTH = "health"
    READ_OWN_ACCOUNT = "read own account"
    SET_OWN_NOTIFICATIONS = "set own e-mail address and notification preferences"
    MANAGE_USERS = "manage users"
    LIST_CASES = "list cases"
    LIST_MESSAGES = "list messages in transit"
    VERIFY_AUDIT = "verify the audit log"
    READ_METADATA = "read the audit log (METADATA)"
    INDICATORS = "read indicators (AGGREGATE): national, suppressed; or own unit's dashboard"
    AGEING = "read the ageing report: own unit's (case officer), routing and bilateral (operator), audit (auditor)"
    CODE_LIST = "read the network code list (what each code means)"
    TRANSFER = "export and import sealed files (courier transport)"
    # about one case
    OPEN_SEND = "open a case; send requests, evidence, the child's views"
    TRIAGE_REPLY = "acknowledge receipt; refuse as not competent or outside the agreement"
    POLICE_ALERT = "alert detention or removal from police information"
    APPROVE = "approve a proposal, agreement, plan or closure"
    APPROVE_OVERRIDE = "approve a return-gate override"
    READ_FULL = "read the case (FULL)"
    READ_REPATRIATION = "read the case (REPATRIATION)"
    CONSULAR_VISIT = "record a consular visit and the travel document's progress (kept locally)"
    READ_ROUTING = "read the case (ROUTING); assign"
    EXPORT = "export the case's evidence file"
    RESTRICT = "restrict a case to named officers"
    ACCESS_REVIEW = "access review: who saw the case"
    BREAK_GLASS = "open break-glass access"


# Roles in the matrix's column order.
COLUMNS = (Role.CASE_OFFICER, Role.CONSULAR_OFFICER, Role.OPERATOR, Role.DIRECTORY_ADMIN, Role.AUDITOR)
_N = Rule.NEVER


def _row(co: Rule = _N, ca: Rule = _N, op: Rule = _N, da: Rule = _N, au: Rule = _N) -> dict[Role, Rule]:
    return dict(zip(COLUMNS, (co, ca, op, da, au), strict=True))


ANY, OWN, OWN_BG, BG, NAT = Rule.ANY, Rule.OWN_UNIT, Rule.OWN_UNIT_OR_BREAK_GLASS, Rule.BREAK_GLASS, Rule.OWN_NATIONAL

# The permission matrix. A row's grant (``NEEDS``) is needed on top of its rule.
PERMISSIONS: dict[Action, dict[Role, Rule]] = {
    Action.HEALTH: _row(ANY, ANY, ANY, ANY, ANY),
    Action.READ_OWN_ACCOUNT: _row(ANY, ANY, ANY, ANY, ANY),
    Action.SET_OWN_NOTIFICATIONS: _row(ANY, ANY, ANY, ANY, ANY),
    Action.MANAGE_USERS: _row(op=ANY),
    Action.LIST_CASES: _row(co=OWN, ca=NAT, op=ANY),
    Action.LIST_MESSAGES: _row(co=ANY, op=ANY),
    Action.VERIFY_AUDIT: _row(op=ANY, au=ANY),
    Action.READ_METADATA: _row(op=ANY, au=ANY),
    Action.INDICATORS: _row(co=OWN, au=ANY),
    Action.AGEING: _row(co=OWN, op=ANY, au=ANY),
    Action.CODE_LIST: _row(ANY, ANY, ANY, ANY, ANY),
    Action.TRANSFER: _row(op=ANY),
    Action.OPEN_SEND: _row(co=OWN),
    Action.TRIAGE_REPLY: _row(co=OWN, op=ANY),
    Action.POLICE_ALERT: _row(co=OWN, op=ANY),
    Action.APPROVE: _row(co=OWN),
    Action.APPROVE_OVERRIDE: _row(co=OWN),
    Action.READ_FULL: _row(co=OWN_BG, op=BG),
    Action.READ_REPATRIATION: _row(co=OWN, ca=NAT),
    Action.CONSULAR_VISIT: _row(co=OWN, ca=NAT),
    Action.READ_ROUTING: _row(co=OWN, op=ANY),
    Action.EXPORT: _row(co=OWN, au=ANY),
    Action.RESTRICT: _row(co=OWN),
    Action.ACCESS_REVIEW: _row(co=OWN, au=ANY),
    Action.BREAK_GLASS: _row(co=ANY, op=ANY),
}

# Grants a case officer needs on top of the rule (the owning supervisor is a case officer of the
# unit who may approve).
NEEDS: dict[Action, Grant] = {
    Action.APPROVE: Grant.APPROVE,
    Action.APPROVE_OVERRIDE: Grant.OVERRIDE,
    Action.RESTRICT: Grant.APPROVE,
    Action.ACCESS_REVIEW: Grant.APPROVE,
}
_GRANTED_ROLE = Role.CASE_OFFICER

# What a restriction does not bind: the owning supervisor sets and lifts it and reviews who read
# the case, and break-glass is how anyone else gets in (to be reviewed).
_RESTRICTION_FREE = frozenset({Action.RESTRICT, Action.ACCESS_REVIEW, Action.BREAK_GLASS})

# What a reader is served, by the action that let them read.
VIEWS: dict[Action, View] = {
    Action.READ_FULL: View.FULL,
    Action.READ_REPATRIATION: View.REPATRIATION,
    Action.READ_ROUTING: View.ROUTING,
    Action.READ_METADATA: View.METADATA,
    Action.ACCESS_REVIEW: View.METADATA,
    Action.INDICATORS: View.AGGREGATE,
}

# The order in which ``read`` tries the views: the richest the caller may have.
READS = (Action.READ_FULL, Action.READ_REPATRIATION, Action.READ_ROUTING)


@dataclass(frozen=True, slots=True)
class Target:
    """What the door knows of the case a call is about (never its content)."""

    unit: str  # the owning unit ("" = not yet assigned: the focal point triages)
    os_state: str  # the link's State of origin
    is_state: str  # the link's identifying State
    nationality: str = ""  # the State of origin's answer on nationality ("" = none yet)
    restricted_to: frozenset[str] | None = None  # None: not restricted; else the named officers
    closed: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    view: View = View.NONE
    purpose: Purpose = Purpose.CASE_WORK
    reason: str = ""  # why not, for the caller: names the rule, never the case
    break_glass: bool = False  # allowed only because break-glass is open


def own_national(account: Account, target: Target) -> bool:
    return (
        Role.CONSULAR_OFFICER in account.roles
        and target.os_state == account.consular_state
        and target.is_state in account.district
        and target.nationality != "NOT_CONFIRMED"
    )


def relation_words(account: Account, target: Target) -> str:
    unit = "own unit" if target.unit == account.unit else "other unit"
    nat = "own national" if own_national(account, target) else "other national"
    return f"{unit}, {nat}"


def _purpose(role: Role, action: Action) -> Purpose:
    if action in (Action.APPROVE, Action.APPROVE_OVERRIDE):
        return Purpose.APPROVAL
    if action is Action.ACCESS_REVIEW:
        return Purpose.AUDIT
    if role is Role.CONSULAR_OFFICER:
        return Purpose.CONSULAR
    if role is Role.OPERATOR:
        return Purpose.TRIAGE
    if role is Role.AUDITOR:
        return Purpose.AUDIT
    return Purpose.CASE_WORK


def decide(account: Account, action: Action, target: Target | None = None, *, break_glass: bool = False) -> Decision:
    """May ``account`` do ``action`` (on ``target``, for an action about one case)? With
    ``break_glass``, the caller holds an open break-glass window on that case."""
    if account.disabled:
        return Decision(False, reason="the account is disabled")
    rules = PERMISSIONS[action]
    best: Decision | None = None
    missing_grant: Grant | None = None
    for role in sorted(account.roles):
        verdict = _one(account, role, rules[role], action, target, break_glass)
        grant = NEEDS.get(action) if role is _GRANTED_ROLE else None
        if verdict.allowed and grant is not None and grant not in account.grants:
            missing_grant = grant
            continue
        if verdict.allowed and (best is None or (best.break_glass and not verdict.break_glass)):
            best = verdict
    if best is None:
        if missing_grant is not None:
            return Decision(False, reason=f"{action.value} needs the {missing_grant.value} grant")
        return Decision(False, reason=_why_not(account, action, target))
    return best


def _one(
    account: Account, role: Role, rule: Rule, action: Action, target: Target | None, break_glass: bool
) -> Decision:
    no = Decision(False)
    if rule is Rule.NEVER:
        return no
    view = VIEWS.get(action, View.NONE)
    purpose = _purpose(role, action)
    if rule is Rule.ANY:
        return Decision(True, view, purpose)
    if target is None:  # a case-scoped rule asked about no case: the listing filters (``LIST_CASES``)
        return Decision(True, view, purpose)
    if (
        target.restricted_to is not None
        and account.user_id not in target.restricted_to
        and action not in _RESTRICTION_FREE
    ):
        if break_glass and rule in (Rule.OWN_UNIT_OR_BREAK_GLASS, Rule.BREAK_GLASS):
            return Decision(True, view, Purpose.BREAK_GLASS, break_glass=True)
        return no
    if rule is Rule.OWN_NATIONAL:
        return Decision(True, view, purpose) if own_national(account, target) else no
    own = target.unit == account.unit and bool(target.unit)
    if rule is Rule.OWN_UNIT:
        return Decision(True, view, purpose) if own else no
    if rule is Rule.OWN_UNIT_OR_BREAK_GLASS and own:
        return Decision(True, view, purpose)
    if break_glass:  # OWN_UNIT_OR_BREAK_GLASS on another unit's case, or BREAK_GLASS
        return Decision(True, view, Purpose.BREAK_GLASS, break_glass=True)
    return no


def _why_not(account: Account, action: Action, target: Target | None) -> str:
    rules = PERMISSIONS[action]
    allowed_roles = [_HEADERS[i] for i, r in enumerate(COLUMNS) if rules[r] is not Rule.NEVER]  # in words
    if not any(rules[r] is not Rule.NEVER for r in account.roles):
        return f"{action.value} is for {', '.join(allowed_roles) or 'no role'}; your roles do not include it"
    if target is not None and target.restricted_to is not None and account.user_id not in target.restricted_to:
        return f"{action.value}: the case is restricted to named officers"
    if any(rules[r] in (Rule.OWN_UNIT_OR_BREAK_GLASS, Rule.BREAK_GLASS) for r in account.roles):
        return f"{action.value}: not a case of your unit; open break-glass with a reason to proceed"
    if any(rules[r] is Rule.OWN_UNIT for r in account.roles):
        return f"{action.value}: not a case of your unit"
    if any(rules[r] is Rule.OWN_NATIONAL for r in account.roles):
        return (
            f"{action.value}: not a case of your State's nationals in your district, or the State of origin"
            " answered that the child's nationality is not confirmed"
        )
    return f"{action.value}: not a case your roles reach"


def read(account: Account, target: Target, *, break_glass: bool = False) -> tuple[Action, Decision]:
    """The richest view of ``target`` the account may read, and the action that allowed it;
    when none, the refusal of the richest read one of its roles could have had (its reason says
    why), or of READ_FULL."""
    for action in READS:
        decision = decide(account, action, target, break_glass=break_glass)
        if decision.allowed:
            return action, decision
    mine = [a for a in READS if any(PERMISSIONS[a][r] is not Rule.NEVER for r in account.roles)]
    refused = mine[0] if mine else Action.READ_FULL
    return refused, decide(account, refused, target, break_glass=break_glass)


_WORDS = {Rule.ANY: "✓", Rule.NEVER: "✗"}
_HEADERS = ("case officer", "consular officer", "operator", "directory administrator", "auditor")


def matrix_markdown() -> str:
    """The permission matrix as a Markdown table (docs/permissions.md is generated from it)."""
    lines = [
        "| action | " + " | ".join(_HEADERS) + " |",
        "|---" * (len(_HEADERS) + 1) + "|",
    ]
    for action, rules in PERMISSIONS.items():
        cells = []
        for role in COLUMNS:
            rule = rules[role]
            cell = _WORDS.get(rule, rule.value)
            if rule is not Rule.NEVER and role is _GRANTED_ROLE and (grant := NEEDS.get(action)) is not None:
                cell += f", with `{grant.value}`"
            cells.append(cell)
        view = VIEWS.get(action)
        name = action.value + (f" → `{view.value}`" if view else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_TRIAGE_REFUSALS = frozenset({codes_pb2.REFUSAL_REASON_NOT_COMPETENT, codes_pb2.REFUSAL_REASON_OUTSIDE_AGREEMENT_SCOPE})
_POLICE_ALERTS = frozenset(
    {codes_pb2.ALERT_TYPE_DETAINED, codes_pb2.ALERT_TYPE_RELEASED, codes_pb2.ALERT_TYPE_REMOVAL_SCHEDULED}
)


def send_action(body: messages_pb2.Body) -> Action:
    """Which action sending ``body`` on a case is: an operator may acknowledge, refuse as not
    competent or outside the agreement, and alert detention or removal; everything else is case work."""
    kind = body.WhichOneof("kind")
    if kind == "acknowledgement":
        return Action.TRIAGE_REPLY
    if kind == "request_refusal" and body.request_refusal.reason in _TRIAGE_REFUSALS:
        return Action.TRIAGE_REPLY
    if kind == "protection_alert" and body.protection_alert.type in _POLICE_ALERTS:
        return Action.POLICE_ALERT
    return Action.OPEN_SEND
