"""The permission matrix and the one function that decides, rule by rule; roles that cannot be one
account; and the guide that prints the matrix and the views."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focalpoint.cases.views import views_markdown
from focalpoint.people.permissions import (
    PERMISSIONS,
    Action,
    Decision,
    Purpose,
    Rule,
    Target,
    View,
    decide,
    matrix_markdown,
    read,
    relation_words,
)
from focalpoint.people.roles import Account, Grant, Role, role_problems, user_id_problem

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "permissions.md"

UNIT, OTHER = "gr-ekka-athens", "gr-ekka-patras"
CASE = Target(unit=UNIT, os_state="AL", is_state="GR")
OTHERS = Target(unit=OTHER, os_state="AL", is_state="GR")


def officer(*grants: Grant, user: str = "u-officer", unit: str = UNIT) -> Account:
    return Account(user, unit, frozenset({Role.CASE_OFFICER}), frozenset(grants))


def consul(state: str = "AL", district: frozenset[str] = frozenset({"GR", "CY"})) -> Account:
    return Account(
        "u-consul", "al-embassy-athens", frozenset({Role.CONSULAR_OFFICER}), consular_state=state, district=district
    )


OPERATOR = Account("u-op", UNIT, frozenset({Role.OPERATOR}))
AUDITOR = Account("u-aud", "gr-audit", frozenset({Role.AUDITOR}))
ADMIN = Account("u-dir", "gr-dir", frozenset({Role.DIRECTORY_ADMIN}))


# -- the matrix as data ------------------------------------------------------------------------


def test_every_action_has_a_rule_for_every_role() -> None:
    assert set(PERMISSIONS) == set(Action)
    for action, rules in PERMISSIONS.items():
        assert set(rules) == set(Role), action


def test_nobody_but_a_consul_has_the_own_nationals_rule_and_a_consul_nothing_else_about_a_case() -> None:
    for action, rules in PERMISSIONS.items():
        for role, rule in rules.items():
            if rule is Rule.OWN_NATIONAL:
                assert role is Role.CONSULAR_OFFICER, action
        assert rules[Role.CONSULAR_OFFICER] in (Rule.ANY, Rule.NEVER, Rule.OWN_NATIONAL), action


# -- ANY and NEVER -----------------------------------------------------------------------------


@pytest.mark.parametrize("account", [officer(), consul(), OPERATOR, AUDITOR, ADMIN])
def test_any_role_may_check_health_and_read_its_own_account(account: Account) -> None:
    for action in (Action.HEALTH, Action.READ_OWN_ACCOUNT):
        decision = decide(account, action)
        assert decision.allowed
        assert decision.view is View.NONE


def test_never_is_never_even_with_break_glass() -> None:
    """Only the operator manages users; an auditor never reads a case, break-glass or not."""
    assert decide(OPERATOR, Action.MANAGE_USERS).allowed
    for account in (officer(Grant.APPROVE), consul(), AUDITOR, ADMIN):
        assert not decide(account, Action.MANAGE_USERS).allowed
    assert not decide(AUDITOR, Action.READ_FULL, CASE, break_glass=True).allowed
    assert not decide(ADMIN, Action.READ_ROUTING, CASE, break_glass=True).allowed


def test_a_refusal_names_the_roles_the_action_is_for() -> None:
    decision = decide(AUDITOR, Action.OPEN_SEND, CASE)
    assert not decision.allowed
    assert "is for case officer;" in decision.reason
    assert "your roles do not include it" in decision.reason


# -- OWN_UNIT, OWN_UNIT_OR_BREAK_GLASS, BREAK_GLASS ---------------------------------------------


def test_a_case_officer_works_the_cases_of_their_own_unit_only() -> None:
    assert decide(officer(), Action.OPEN_SEND, CASE).allowed
    refused = decide(officer(), Action.OPEN_SEND, OTHERS)
    assert not refused.allowed
    assert not decide(officer(), Action.OPEN_SEND, OTHERS, break_glass=True).allowed  # OWN_UNIT has no break-glass


def test_an_unassigned_case_belongs_to_no_unit() -> None:
    """A case not yet assigned ("" unit) is not the own case of an officer whose unit is also blank."""
    blank = Account("u-x", "", frozenset({Role.CASE_OFFICER}))
    assert not decide(blank, Action.OPEN_SEND, Target(unit="", os_state="AL", is_state="GR")).allowed


def test_another_units_case_is_read_only_through_break_glass_recorded_as_such() -> None:
    own = decide(officer(), Action.READ_FULL, CASE)
    assert (own.allowed, own.view, own.purpose, own.break_glass) == (True, View.FULL, Purpose.CASE_WORK, False)
    refused = decide(officer(), Action.READ_FULL, OTHERS)
    assert not refused.allowed
    assert "break-glass" in refused.reason
    opened = decide(officer(), Action.READ_FULL, OTHERS, break_glass=True)
    assert (opened.allowed, opened.view, opened.purpose, opened.break_glass) == (
        True,
        View.FULL,
        Purpose.BREAK_GLASS,
        True,
    )


def test_own_unit_access_is_not_recorded_as_break_glass_even_when_a_window_is_open() -> None:
    decision = decide(officer(), Action.READ_FULL, CASE, break_glass=True)
    assert decision.allowed
    assert not decision.break_glass
    assert decision.purpose is Purpose.CASE_WORK


def test_an_operator_reads_a_full_case_only_by_break_glass_and_routes_any() -> None:
    assert not decide(OPERATOR, Action.READ_FULL, CASE).allowed
    assert decide(OPERATOR, Action.READ_FULL, CASE, break_glass=True).break_glass
    routing = decide(OPERATOR, Action.READ_ROUTING, OTHERS)
    assert (routing.allowed, routing.view, routing.purpose) == (True, View.ROUTING, Purpose.TRIAGE)


def test_break_glass_may_be_opened_by_case_officers_and_operators_only() -> None:
    assert decide(officer(), Action.BREAK_GLASS, OTHERS).allowed
    assert decide(OPERATOR, Action.BREAK_GLASS, OTHERS).allowed
    for account in (consul(), AUDITOR, ADMIN):
        assert not decide(account, Action.BREAK_GLASS, OTHERS).allowed


# -- grants ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "grant"),
    [
        (Action.APPROVE, Grant.APPROVE),
        (Action.APPROVE_OVERRIDE, Grant.OVERRIDE),
        (Action.RESTRICT, Grant.APPROVE),
        (Action.ACCESS_REVIEW, Grant.APPROVE),
    ],
)
def test_a_case_officer_needs_the_grant_on_top_of_the_rule(action: Action, grant: Grant) -> None:
    refused = decide(officer(), action, CASE)
    assert not refused.allowed
    assert f"needs the {grant.value} grant" in refused.reason
    assert decide(officer(*{Grant.APPROVE, grant}), action, CASE).allowed
    assert not decide(officer(*{Grant.APPROVE, grant}), action, OTHERS).allowed  # and still only their unit's


def test_approvals_are_recorded_with_the_approval_purpose() -> None:
    assert decide(officer(Grant.APPROVE), Action.APPROVE, CASE).purpose is Purpose.APPROVAL
    assert decide(officer(Grant.APPROVE, Grant.OVERRIDE), Action.APPROVE_OVERRIDE, CASE).purpose is Purpose.APPROVAL


def test_an_auditors_access_review_and_export_need_no_grant() -> None:
    for action in (Action.ACCESS_REVIEW, Action.EXPORT):
        decision = decide(AUDITOR, action, OTHERS)
        assert decision.allowed
        assert decision.purpose is Purpose.AUDIT


def test_the_approve_grant_does_not_give_override() -> None:
    assert not decide(officer(Grant.APPROVE), Action.APPROVE_OVERRIDE, CASE).allowed


# -- restricted cases --------------------------------------------------------------------------


def _restricted(*names: str) -> Target:
    return Target(unit=UNIT, os_state="AL", is_state="GR", restricted_to=frozenset(names))


def test_a_restricted_case_is_reached_only_by_its_named_officers() -> None:
    target = _restricted("u-named")
    assert decide(officer(user="u-named"), Action.READ_FULL, target).allowed
    refused = decide(officer(user="u-other"), Action.READ_FULL, target)
    assert not refused.allowed
    assert "restricted to named officers" in refused.reason
    assert not decide(officer(user="u-other"), Action.OPEN_SEND, target).allowed


def test_a_restriction_binds_the_case_scoped_rules_not_routing_or_audit() -> None:
    """The operator still triages a restricted case (routing has no content) and the auditor still
    reviews who saw it; neither reads its content without break-glass. The owning supervisor, named or
    not, still reviews who saw it and sets or lifts the restriction, but reads it only if named."""
    target = _restricted("u-named")
    assert decide(OPERATOR, Action.READ_ROUTING, target).allowed
    assert not decide(OPERATOR, Action.READ_FULL, target).allowed
    assert decide(AUDITOR, Action.ACCESS_REVIEW, target).allowed
    supervisor = officer(Grant.APPROVE, user="u-other")
    assert decide(supervisor, Action.ACCESS_REVIEW, target).allowed
    assert decide(supervisor, Action.RESTRICT, target).allowed
    assert not decide(supervisor, Action.READ_FULL, target).allowed


def test_break_glass_passes_a_restriction_where_the_rule_allows_break_glass() -> None:
    target = _restricted("u-named")
    opened = decide(officer(user="u-other"), Action.READ_FULL, target, break_glass=True)
    assert opened.allowed
    assert opened.break_glass
    assert opened.purpose is Purpose.BREAK_GLASS
    assert not decide(officer(user="u-other"), Action.OPEN_SEND, target, break_glass=True).allowed


def test_a_restriction_names_officers_it_does_not_make_them_members_of_the_unit() -> None:
    """A named officer of another unit still needs their rule (own unit) to hold."""
    target = _restricted("u-named")
    assert not decide(officer(user="u-named", unit=OTHER), Action.OPEN_SEND, target).allowed


def test_an_empty_restriction_lets_nobody_in_without_break_glass() -> None:
    target = _restricted()
    assert not decide(officer(), Action.READ_FULL, target).allowed
    assert decide(officer(), Action.READ_FULL, target, break_glass=True).allowed


# -- disabled accounts -------------------------------------------------------------------------


@pytest.mark.parametrize("action", list(Action))
def test_a_disabled_account_may_do_nothing(action: Action) -> None:
    for account in (officer(Grant.APPROVE, Grant.OVERRIDE), OPERATOR, AUDITOR, consul()):
        disabled = Account(
            account.user_id,
            account.unit,
            account.roles,
            account.grants,
            account.consular_state,
            account.district,
            disabled=True,
        )
        decision = decide(disabled, action, CASE, break_glass=True)
        assert not decision.allowed
        assert decision.reason == "the account is disabled"


# -- the consul's own nationals ----------------------------------------------------------------


def test_a_consul_reads_their_own_nationals_case_in_the_repatriation_view() -> None:
    decision = decide(consul(), Action.READ_REPATRIATION, CASE)
    assert (decision.allowed, decision.view, decision.purpose) == (True, View.REPATRIATION, Purpose.CONSULAR)
    assert relation_words(consul(), CASE) == "other unit, own national"


@pytest.mark.parametrize(
    ("target", "why"),
    [
        (Target(unit=UNIT, os_state="XK", is_state="GR"), "another State's national"),
        (Target(unit=UNIT, os_state="AL", is_state="IT"), "a host State outside the district"),
        (Target(unit=UNIT, os_state="AL", is_state="GR", nationality="NOT_CONFIRMED"), "nationality not confirmed"),
    ],
)
def test_a_consul_loses_the_case_when_any_part_of_the_rule_fails(target: Target, why: str) -> None:
    assert not decide(consul(), Action.READ_REPATRIATION, target).allowed, why
    assert not decide(consul(), Action.READ_REPATRIATION, target, break_glass=True).allowed, why
    assert relation_words(consul(), target).endswith("other national")


@pytest.mark.parametrize("answer", ["", "CONFIRMED", "PARTLY_CONFIRMED", "UNABLE_TO_VERIFY"])
def test_a_consul_keeps_the_case_until_the_state_of_origin_answers_not_confirmed(answer: str) -> None:
    target = Target(unit=UNIT, os_state="AL", is_state="CY", nationality=answer)
    assert decide(consul(), Action.READ_REPATRIATION, target).allowed


def test_a_consul_never_reads_the_full_case_nor_acts_on_it() -> None:
    for action in (Action.READ_FULL, Action.READ_ROUTING, Action.OPEN_SEND, Action.APPROVE, Action.EXPORT):
        assert not decide(consul(), action, CASE, break_glass=True).allowed, action


def test_a_consul_lists_cases_the_door_then_filters() -> None:
    """Asked about no case, a case-scoped rule allows the listing; each listed case is then decided."""
    assert decide(consul(), Action.LIST_CASES).allowed
    assert not decide(consul(), Action.LIST_CASES, Target(unit=UNIT, os_state="IT", is_state="GR")).allowed


def test_the_consul_rule_needs_the_consular_role_not_just_a_post() -> None:
    posted = Account("u-x", UNIT, frozenset({Role.CASE_OFFICER}), consular_state="AL", district=frozenset({"GR"}))
    assert relation_words(posted, CASE) == "own unit, other national"


# -- read: the richest view ----------------------------------------------------------------------


def test_read_serves_each_reader_the_richest_view_they_may_have() -> None:
    assert read(officer(), CASE)[1].view is View.FULL
    assert read(consul(), CASE) == (Action.READ_REPATRIATION, decide(consul(), Action.READ_REPATRIATION, CASE))
    assert read(OPERATOR, CASE)[0] is Action.READ_ROUTING
    action, decision = read(OPERATOR, CASE, break_glass=True)
    assert (action, decision.view, decision.break_glass) == (Action.READ_FULL, View.FULL, True)


def test_read_refused_gives_the_full_reads_reason() -> None:
    action, decision = read(officer(), OTHERS)
    assert action is Action.READ_FULL
    assert not decision.allowed
    assert "break-glass" in decision.reason
    assert not read(AUDITOR, CASE)[1].allowed


# -- properties --------------------------------------------------------------------------------

_ids = st.from_regex(r"\A[a-z][a-z0-9-]{2,10}\Z")
_states = st.sampled_from(["AL", "GR", "IT", "CY", "RO"])
targets = st.builds(
    Target,
    unit=st.one_of(st.just(""), st.just(UNIT), _ids),
    os_state=_states,
    is_state=_states,
    nationality=st.sampled_from(["", "CONFIRMED", "PARTLY_CONFIRMED", "NOT_CONFIRMED", "UNABLE_TO_VERIFY"]),
    restricted_to=st.one_of(st.none(), st.frozensets(st.sampled_from(["u-a", "u-b", "u-c"]))),
    closed=st.booleans(),
)
accounts = st.builds(
    Account,
    user_id=st.sampled_from(["u-a", "u-b", "u-c"]),
    unit=st.one_of(st.just(""), st.just(UNIT), _ids),
    roles=st.frozensets(st.sampled_from(list(Role))),
    grants=st.frozensets(st.sampled_from(list(Grant))),
    consular_state=_states,
    district=st.frozensets(_states),
    disabled=st.booleans(),
)


@settings(max_examples=400, deadline=None)
@given(
    account=accounts,
    action=st.sampled_from(list(Action)),
    target=st.one_of(st.none(), targets),
    break_glass=st.booleans(),
)
def test_decide_never_allows_an_account_none_of_whose_roles_the_action_is_for(
    account: Account, action: Action, target: Target | None, break_glass: bool
) -> None:
    decision = decide(account, action, target, break_glass=break_glass)
    if not any(PERMISSIONS[action][role] is not Rule.NEVER for role in account.roles) or account.disabled:
        assert not decision.allowed
    if decision.allowed:
        assert decision.reason == ""
        assert decision.break_glass == (decision.purpose is Purpose.BREAK_GLASS)
        assert not decision.break_glass or break_glass
    else:
        assert decision.reason
        # a refusal names the rule, never the case: no unit, user or restriction in the words
        restricted = target.restricted_to or frozenset() if target else frozenset()
        for secret in {account.user_id, account.unit, *restricted, target.unit if target else ""}:
            assert not secret or secret not in decision.reason


@settings(max_examples=200, deadline=None)
@given(account=accounts, action=st.sampled_from(list(Action)), target=targets)
def test_break_glass_only_ever_widens_access(account: Account, action: Action, target: Target) -> None:
    if decide(account, action, target).allowed:
        assert decide(account, action, target, break_glass=True).allowed


# -- role_problems: accounts that cannot exist --------------------------------------------------


def _problems(
    roles: set[Role],
    grants: set[Grant] | None = None,
    *,
    unit: str = UNIT,
    state: str = "",
    district: set[str] | None = None,
) -> list[str]:
    return role_problems(
        frozenset(roles), frozenset(grants or ()), unit=unit, consular_state=state, district=frozenset(district or ())
    )


@pytest.mark.parametrize(
    "roles",
    [
        {Role.CASE_OFFICER},
        {Role.OPERATOR},
        {Role.AUDITOR},
        {Role.DIRECTORY_ADMIN},
        {Role.DIRECTORY_ADMIN, Role.OPERATOR},
        {Role.CASE_OFFICER, Role.CONSULAR_OFFICER},
    ],
)
def test_allowed_combinations_have_no_problem(roles: set[Role]) -> None:
    consular = Role.CONSULAR_OFFICER in roles
    assert _problems(roles, state="AL" if consular else "", district={"GR"} if consular else None) == []


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Role.CASE_OFFICER, Role.OPERATOR),
        (Role.DIRECTORY_ADMIN, Role.CASE_OFFICER),
        (Role.AUDITOR, Role.CASE_OFFICER),
        (Role.AUDITOR, Role.OPERATOR),
        (Role.AUDITOR, Role.CONSULAR_OFFICER),
    ],
)
def test_separated_duties_cannot_be_one_account(a: Role, b: Role) -> None:
    consular = Role.CONSULAR_OFFICER in (a, b)
    problems = _problems({a, b}, state="AL" if consular else "", district={"GR"} if consular else None)
    assert len(problems) == 1
    assert problems[0].startswith("no account is both")


def test_an_account_needs_a_role_and_a_unit_id() -> None:
    assert "an account needs at least one role" in _problems(set())
    assert any(p.startswith("unit") for p in _problems({Role.OPERATOR}, unit="Athens Office"))


def test_grants_are_for_case_officers_and_override_needs_approve() -> None:
    assert _problems({Role.CASE_OFFICER}, {Grant.APPROVE, Grant.OVERRIDE}) == []
    assert _problems({Role.OPERATOR}, {Grant.APPROVE}) == ["the approve and override grants are for case officers only"]
    assert _problems({Role.CASE_OFFICER}, {Grant.OVERRIDE}) == [
        "the override grant needs the approve grant (an override is an approval)"
    ]


def test_a_consular_post_is_one_real_state_and_a_district_of_real_states() -> None:
    assert any("consular State" in p for p in _problems({Role.CONSULAR_OFFICER}, state="ZZ", district={"GR"}))
    assert "a consular officer's district names at least one host State" in _problems(
        {Role.CONSULAR_OFFICER}, state="AL"
    )
    assert any("'gr'" in p for p in _problems({Role.CONSULAR_OFFICER}, state="AL", district={"gr"}))
    assert any("'QM'" in p for p in _problems({Role.CONSULAR_OFFICER}, state="AL", district={"QM"}))
    assert _problems({Role.CASE_OFFICER}, state="AL") == ["only a consular officer has a consular State and district"]
    assert _problems({Role.CASE_OFFICER}, district={"GR"}) == [
        "only a consular officer has a consular State and district"
    ]


def test_a_user_id_is_pseudonymous_in_shape() -> None:
    assert user_id_problem("u-4f2a.officer@gr") is None
    assert user_id_problem("Maria Papadopoulou") is not None
    assert user_id_problem("") is not None


# -- the guide -----------------------------------------------------------------------------------


def _between(text: str, name: str) -> str:
    found = re.search(rf"<!-- {name}:begin -->\n(.*)<!-- {name}:end -->", text, re.S)
    assert found is not None, name
    return found.group(1)


def test_the_guide_holds_the_matrix_and_the_views_generated_from_the_code() -> None:
    """docs/permissions.md's generated parts equal the code's: change a rule or a view and this
    fails until ``python scripts/gen_permissions_doc.py`` rewrites them."""
    text = GUIDE.read_text(encoding="utf-8")
    assert _between(text, "matrix") == matrix_markdown().rstrip() + "\n"
    assert _between(text, "views") == views_markdown().rstrip() + "\n"


def test_the_guides_script_finds_it_current() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_permissions_doc.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_decisions_are_values() -> None:
    """A Decision is frozen: the door cannot widen one after the fact."""
    decision = Decision(False)
    with pytest.raises(AttributeError):
        decision.allowed = True  # type: ignore[misc]
