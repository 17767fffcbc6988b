"""Roles, grants and the account a session acts for.

A **case officer** works the cases of their own unit and may hold the grants ``approve`` and
``override``; a **consular officer** follows their own nationals' return (one consular State, a
district of host States); a **focal-point operator** triages, assigns, watches deadlines and
manages the node's users; a **directory administrator** administers the directory; an
**auditor** verifies the log and reads aggregates. Duties are separated: nobody is both case
officer and operator, or directory administrator and case officer (``role_problems``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from focalpoint.exchange.rules import unit_problem
from focalpoint.ids import ACTOR, state_problem

__all__ = [
    "USER_ID",
    "Account",
    "Grant",
    "Role",
    "role_problems",
    "user_id_problem",
]

# A local user id: what the audit log records (pseudonymous; never a display name).
USER_ID = ACTOR


class Role(StrEnum):
    CASE_OFFICER = "case_officer"
    CONSULAR_OFFICER = "consular_officer"
    OPERATOR = "operator"
    DIRECTORY_ADMIN = "directory_admin"
    AUDITOR = "auditor"


class Grant(StrEnum):
    APPROVE = "approve"  # approve a proposal, agreement, plan or closure another officer prepared
    OVERRIDE = "override"  # approve a return-gate override (needs APPROVE too)


ROLE_WORDS = {
    Role.CASE_OFFICER: "case officer",
    Role.CONSULAR_OFFICER: "consular officer",
    Role.OPERATOR: "focal-point operator",
    Role.DIRECTORY_ADMIN: "directory administrator",
    Role.AUDITOR: "auditor",
}

# Pairs of roles no one account may hold (separation of duties).
_EXCLUSIVE: tuple[tuple[Role, Role, str], ...] = (
    (Role.CASE_OFFICER, Role.OPERATOR, "an operator manages the accounts that read cases"),
    (Role.DIRECTORY_ADMIN, Role.CASE_OFFICER, "a directory administrator signs the agreements cases travel under"),
    (Role.AUDITOR, Role.CASE_OFFICER, "an auditor is an independent monitor with no operational role"),
    (Role.AUDITOR, Role.OPERATOR, "an auditor is an independent monitor with no operational role"),
    (Role.AUDITOR, Role.CONSULAR_OFFICER, "an auditor is an independent monitor with no operational role"),
)

_DISTRICT = re.compile(r"^[A-Z]{2}\Z")


def user_id_problem(user_id: str) -> str | None:
    if not USER_ID.match(user_id):
        return "a user id is 1-128 letters, digits or . _ @ - (a pseudonymous id, never a name)"
    return None


@dataclass(frozen=True, slots=True)
class Account:
    """A user as the door sees them: never a password, seed or code."""

    user_id: str
    unit: str  # directory institution id of the user's unit
    roles: frozenset[Role]
    grants: frozenset[Grant] = frozenset()
    consular_state: str = ""  # consular officer: the State whose nationals they serve
    district: frozenset[str] = frozenset()  # consular officer: the host States of their post
    disabled: bool = False

    def has(self, role: Role) -> bool:
        return role in self.roles


def role_problems(
    roles: frozenset[Role], grants: frozenset[Grant], *, unit: str, consular_state: str, district: frozenset[str]
) -> list[str]:
    """Every reason this combination of roles, grants and consular post cannot be one account."""
    problems: list[str] = []
    if not roles:
        problems.append("an account needs at least one role")
    if problem := unit_problem(unit):
        problems.append(f"unit: {problem}")
    for a, b, why in _EXCLUSIVE:
        if a in roles and b in roles:
            problems.append(f"no account is both {ROLE_WORDS[a]} and {ROLE_WORDS[b]}: {why}")
    if grants and Role.CASE_OFFICER not in roles:
        problems.append("the approve and override grants are for case officers only")
    if Grant.OVERRIDE in grants and Grant.APPROVE not in grants:
        problems.append("the override grant needs the approve grant (an override is an approval)")
    if Role.CONSULAR_OFFICER in roles:
        if problem := state_problem(consular_state):
            problems.append(f"a consular officer's consular State: {problem}")
        if not district:
            problems.append("a consular officer's district names at least one host State")
        for state in sorted(district):
            if not _DISTRICT.match(state) or state_problem(state):
                problems.append(f"district {state!r} is not an ISO 3166-1 alpha-2 State code")
    elif consular_state or district:
        problems.append("only a consular officer has a consular State and district")
    return problems
