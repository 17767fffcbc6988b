"""The notification pages' pure parts: the form read into a choice with each field's problem, the
families a person may not turn off by role and on-call status, the on-call list and its choices."""

from __future__ import annotations

from focalpoint.console.i18n import Catalogs
from focalpoint.console.notifications import (
    EMAIL_FORMAT,
    family_rows,
    on_call_choices,
    on_call_rows,
    read_choice,
    refusal_reasons,
)
from focalpoint.v1 import local_pb2

EN = Catalogs(("en", "fr", "ar"), "en", "UTC").page("en")
FR = Catalogs(("en", "fr", "ar"), "en", "UTC").page("fr")


def _user(
    roles: list[str], grants: tuple[str, ...] = (), *, on_call: bool = False, off: tuple[str, ...] = ()
) -> local_pb2.UserInfo:
    return local_pb2.UserInfo(
        user_id="u.1", unit="x", roles=roles, grants=grants, on_call=on_call, notifications_off=off
    )


def test_the_form_is_read_with_each_fields_problem_and_nothing_is_dropped() -> None:
    choice, errors = read_choice({"email": [" a.b@example.org "], "language": ["ar"], "on": ["requests"]})
    assert errors == {}
    assert (choice.email, choice.language) == ("a.b@example.org", "ar")
    assert choice.off == {"deadlines", "emergency", "security"}
    _, errors = read_choice({"email": ["a b@example.org"], "language": ["de"], "on": ["gossip"]})
    assert set(errors) == {"email", "language", "families"}
    assert errors["email"] == EMAIL_FORMAT
    _, errors = read_choice({"email": ["x" * 250 + "@example.org"], "language": ["en"]})
    assert set(errors) == {"email"}
    empty, errors = read_choice({"email": [""], "language": ["en"]})
    assert (errors, empty.email) == ({}, "")  # an empty field removes the address


def test_what_a_person_may_not_turn_off_depends_on_role_grant_and_on_call() -> None:
    def fixed(user: local_pb2.UserInfo) -> list[str]:
        return [r.name for r in family_rows(user, EN) if r.fixed]

    assert fixed(_user(["case_officer"])) == []
    assert fixed(_user(["case_officer"], ("approve",))) == ["security"]
    assert fixed(_user(["case_officer"], on_call=True)) == ["emergency"]
    assert fixed(_user(["operator"])) == ["emergency", "security"]
    rows = family_rows(_user(["case_officer"], off=("deadlines",)), FR)
    assert [(r.name, r.on) for r in rows] == [
        ("deadlines", False),
        ("requests", True),
        ("emergency", True),
        ("security", True),
    ]
    assert rows[1].label == "Nouvelles demandes des partenaires"
    assert [r.on for r in family_rows(_user(["operator"]), EN, on=[])] == [False, False, True, True]
    assert len(refusal_reasons({"security", "deadlines"}, _user(["operator"]))) == 1
    assert refusal_reasons({"security"}, _user(["case_officer"])) == []


def test_the_on_call_list_and_its_choices() -> None:
    users = [
        local_pb2.UserInfo(user_id="b", unit="u1", on_call=True, email="b@example.org"),
        local_pb2.UserInfo(user_id="a", unit="u2", on_call=True),
        local_pb2.UserInfo(user_id="c", unit="u1"),
        local_pb2.UserInfo(user_id="d", unit="u1", disabled=True),
    ]
    assert [(r.user_id, r.has_email) for r in on_call_rows(users)] == [("a", False), ("b", True)]
    assert on_call_choices(users) == [("c", "u1")]
