"""What the notification pages show and how their forms are read: pure functions, no I/O.

Two pages (docs/adr/0021):

- ``/account/notifications``, for every signed-in person: their own e-mail address, the language
  of the messages, each family of events on or off, and whether they are on the 24/7 on-call list.
  A family their duty needs (``focalpoint.people.notices.must_receive``) is not offered as a
  choice: it is shown as always on, with the reason in words, and posted back as on by a hidden
  field, so that a forged form turning it off reaches the node, which refuses it.
- ``/on-call``, for operators: who is on the list now (from ``ListUsers``), flagged when they
  have no address or their account is disabled, and the active accounts that may be put on it.

The address is checked here with the node's own rule (``adapters.mail.check_address``) before it
is sent, and again by the node. Nothing here logs, and no message says the address back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from adapters.mail import LANGUAGES, check_address
from focalpoint.console.i18n import N_, PageLanguage
from focalpoint.people.notices import FAMILIES, must_receive
from focalpoint.people.roles import Grant, Role
from focalpoint.v1 import local_pb2

__all__ = [
    "EMAIL_FORMAT",
    "FAMILY_LABELS",
    "LANGUAGE_CHOICE",
    "LANGUAGE_NAMES",
    "MAX_EMAIL",
    "FamilyRow",
    "NotificationChoice",
    "OnCallRow",
    "family_rows",
    "fixed_reason",
    "on_call_choices",
    "on_call_rows",
    "read_choice",
    "refusal_reasons",
]

MAX_EMAIL = 254  # the longest address the node accepts
EMAIL_FORMAT = N_("Enter an e-mail address such as duty.officer@example.org, or leave the field empty for none.")
LANGUAGE_CHOICE = N_("Choose one of the languages in the list.")

FAMILY_LABELS = {
    "deadlines": N_("Deadlines"),
    "requests": N_("New requests from partners"),
    "emergency": N_("Emergency alerts"),
    "security": N_("Break-glass and access anomalies"),
}
FAMILY_HINTS = {
    "deadlines": N_(
        "A request's deadline nears or passes, a guardian is not appointed in time, a handover is not confirmed."
    ),
    "requests": N_("A partner State sends a request with a deadline to your unit."),
    "emergency": N_("A partner's emergency protection alert arrives, or one of ours is not acknowledged in time."),
    "security": N_("Someone breaks the glass on a case of your unit, or the node sees unusual access."),
}
_FIXED_REASONS = {
    "emergency": N_("Always on: those on call and operators are always told of emergencies."),
    "security": N_("Always on: operators and supervisors are always told of break-glass and access anomalies."),
}
_REFUSED = {
    "emergency": N_(
        "Emergency alerts cannot be turned off: those on call and operators are always told of emergencies."
    ),
    "security": N_(
        "Break-glass and access anomalies cannot be turned off: operators and supervisors are always told of them."
    ),
}
# Each language named in itself, as the console's own language menu does.
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "ar": "العربية"}


def _roles(user: local_pb2.UserInfo) -> tuple[frozenset[Role], frozenset[Grant]]:
    """The user's roles and grants the pure rules know (an unknown value, from a newer node, is left out)."""
    roles = frozenset(Role(r) for r in user.roles if r in {x.value for x in Role})
    grants = frozenset(Grant(g) for g in user.grants if g in {x.value for x in Grant})
    return roles, grants


def fixed_reason(family: str, user: local_pb2.UserInfo) -> str:
    """Why ``user`` may not turn ``family`` off (a msgid), or "" when they may."""
    roles, grants = _roles(user)
    return _FIXED_REASONS.get(family, "") if must_receive(family, roles, grants, user.on_call) else ""


@dataclass(frozen=True, slots=True)
class FamilyRow:
    """One family on the page: its name, label and hint, whether it is on, and why it is fixed ("": a choice)."""

    name: str
    label: str
    hint: str
    on: bool
    fixed: str


def family_rows(user: local_pb2.UserInfo, lang: PageLanguage, on: Iterable[str] | None = None) -> list[FamilyRow]:
    """Every family for ``user`` (``on``: the families as posted, else as the node has them)."""
    chosen = frozenset(on) if on is not None else frozenset(FAMILIES) - frozenset(user.notifications_off)
    rows = []
    for fam in FAMILIES:
        reason = fixed_reason(fam, user)
        rows.append(
            FamilyRow(
                name=fam,
                label=lang.gettext(FAMILY_LABELS[fam]),
                hint=lang.gettext(FAMILY_HINTS[fam]),
                on=bool(reason) or fam in chosen,
                fixed=lang.gettext(reason) if reason else "",
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class NotificationChoice:
    """A read notifications form: the address ("" none), the language, the families turned off."""

    email: str
    language: str
    off: frozenset[str]


def read_choice(
    posted: Mapping[str, Sequence[str]],
) -> tuple[NotificationChoice, dict[str, str]]:
    """The form as a choice, and each field's problem (a msgid) by field name. A family not posted
    as on is off, whoever may turn it off: the node judges that (a forged form is refused there).
    A family name that is not one is a problem of the families' field, never passed on."""
    errors: dict[str, str] = {}
    email = (posted.get("email") or [""])[0].strip()
    if email and (len(email) > MAX_EMAIL or check_address(email)):
        errors["email"] = EMAIL_FORMAT
    language = (posted.get("language") or [""])[0]
    if language not in LANGUAGES:
        errors["language"] = LANGUAGE_CHOICE
    on = set(posted.get("on") or [])
    if on - set(FAMILIES):
        errors["families"] = N_("Choose among the families listed.")
    return NotificationChoice(email, language, frozenset(FAMILIES) - on), errors


def refusal_reasons(off: Iterable[str], user: local_pb2.UserInfo) -> list[str]:
    """In words (msgids), why the node refused these families for ``user``: the same pure rules it
    applied (``focalpoint.people.notices``)."""
    roles, grants = _roles(user)
    return [
        _REFUSED[f] for f in sorted(frozenset(off)) if f in _REFUSED and must_receive(f, roles, grants, user.on_call)
    ]


@dataclass(frozen=True, slots=True)
class OnCallRow:
    """One person on the on-call list: never their address, only whether they have one."""

    user_id: str
    unit: str
    has_email: bool
    disabled: bool


def on_call_rows(users: Iterable[local_pb2.UserInfo]) -> list[OnCallRow]:
    """Everyone on the on-call list, by user id."""
    return sorted(
        (OnCallRow(u.user_id, u.unit, bool(u.email), u.disabled) for u in users if u.on_call),
        key=lambda r: r.user_id,
    )


def on_call_choices(users: Iterable[local_pb2.UserInfo]) -> list[tuple[str, str]]:
    """The active accounts that may be put on the list (enabled, not on it yet): (user id, unit)."""
    return sorted((u.user_id, u.unit) for u in users if not u.disabled and not u.on_call)
