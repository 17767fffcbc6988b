"""The auditor's access review of one case (``GET /access-review``), made from ``AccessReview``:
pure, no I/O.

Who saw a case, when, in which view and for what purpose, and which partner node it concerned, as
the node's audit log holds it (docs/permissions.md: an auditor may review any case; the node
records the review itself as a read in the METADATA view). The reference an auditor types is
checked here first (``focalpoint.ids.check_case_ref``: its form and its check character), so a
mistyped one is said beside the field and never sent to the node; neither the reference nor what
is wrong with it is logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from focalpoint.console.case_view import VIEW_LABELS
from focalpoint.console.i18n import N_, PageLanguage
from focalpoint.errors import UsageError
from focalpoint.ids import check_case_ref
from focalpoint.v1 import local_pb2

__all__ = [
    "ACCESS_KIND_LABELS",
    "PURPOSE_LABELS",
    "REF_CHECK",
    "REF_FORMAT",
    "AccessRow",
    "access_rows",
    "check_ref",
]

_MAX_REF = 64  # far longer than any reference (GR-7KQ2M9XH4T-0)

REF_FORMAT = N_(
    "This is not a case reference. A case reference looks like GR-7KQ2M9XH4T-0: the State's two-letter"
    " code, ten letters or digits, and a check character."
)
REF_CHECK = N_(
    "The last character of this reference does not match the rest: a character was probably mistyped."
    " Check the reference and try again."
)
ACCESS_KIND_LABELS = {
    "read": N_("Read"),
    "exported": N_("Exported"),
    "break_glass": N_("Emergency access (break-glass)"),
    "access_denied": N_("Access refused"),
    "anomaly": N_("Unusual access"),
    "access_changed": N_("Who may see the case changed"),
}
PURPOSE_LABELS = {
    "CASE_WORK": N_("Case work"),
    "APPROVAL": N_("Approval"),
    "CONSULAR": N_("Consular assistance"),
    "TRIAGE": N_("Triage"),
    "BREAK_GLASS": N_("Emergency access (break-glass)"),
    "AUDIT": N_("Audit"),
    "ADMIN": N_("Administration"),
}


def check_ref(text: str) -> str:
    """The reference as typed, trimmed and in capitals; UsageError carrying REF_FORMAT or REF_CHECK
    (the msgid to show) when it cannot be one."""
    ref = text.strip().upper()
    if not ref or len(ref) > _MAX_REF:
        raise UsageError(REF_FORMAT)
    problem = check_case_ref(ref)
    if problem is None:
        return ref
    raise UsageError(REF_CHECK if "does not match" in problem else REF_FORMAT)


@dataclass(frozen=True, slots=True)
class AccessRow:
    at: str
    kind: str
    actor: str
    view: str  # "" when the entry names none
    purpose: str
    peer: str


def _label(labels: dict[str, str], key: str, lang: PageLanguage) -> str:
    text = labels.get(key)
    return lang.gettext(text) if text else key


def access_rows(entries: Iterable[local_pb2.AccessEntry], lang: PageLanguage) -> list[AccessRow]:
    """The entries as the page shows them, newest first as the node gave them."""
    return [
        AccessRow(
            at=lang.datetime(e.at_ms) if e.at_ms else "",
            kind=_label(ACCESS_KIND_LABELS, e.kind, lang),
            actor=e.actor,
            view=_label(VIEW_LABELS, e.view, lang) if e.view else "",
            purpose=_label(PURPOSE_LABELS, e.purpose, lang) if e.purpose else "",
            peer=e.peer_node,
        )
        for e in entries
    ]
