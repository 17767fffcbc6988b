"""The catalogs translate everything a message form or a message's content shows: every field and
kind label of ``form_labels()``, every kind's description (``KIND_SUMMARIES`` without its direction
prefix), the attestation questions and the fixed strings of the forms, in French and Arabic.

The labels are computed from the message descriptors, so ``pybabel extract`` never finds them and
``pybabel update`` would leave them out: this test is what keeps them in the catalogs. A
translation equal to its English msgid counts as missing (the page would mark it as English);
the allowlist names the few where the same word is right. The catalogs are read through the
console's own loader, so what is checked is what a page gets, and no msgid appears twice in a
``.po`` file (Babel would silently keep only one of the two translations).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from focalpoint.cases.forms import ATTESTATION_QUESTIONS, KIND_SUMMARIES
from focalpoint.console.fields import form_labels, kind_label
from focalpoint.console.i18n import LOCALE_DIR, Catalogs
from focalpoint.exchange.rules import KINDS

CATALOGS = Catalogs(("en", "fr", "ar"), "en", "UTC")
TRANSLATED = ("fr", "ar")

# Strings of the message forms (the form pages' templates use exactly these msgids).
FORM_STRINGS = (
    "Before attesting, answer these three questions. Any yes means a supervisor must review the "
    "message before it is sent (basis: supervisor review). Attesting says that, in your opinion, "
    "sending this endangers neither the child nor a relative; if it would, do not send it.",
    "Yes",
    "No",
    "Not given",
    "Add another",
    "Remove",
    "Check and send",
    "Check",
    "Send for approval",
    "The form has %(n)s problems; each is shown beside its field.",
    "This field",
    "Approvals waiting for you",
    "Approve and send",
    "Amend",
    "Withdraw",
    "Reason",
    "New message",
    "Choose the kind of message",
)

# Where the translation is rightly the English text itself (none yet: prefer a real word, since a
# text equal to its msgid is shown marked as English).
SAME_AS_ENGLISH: dict[str, frozenset[str]] = {"fr": frozenset(), "ar": frozenset()}

_ARABIC = re.compile(r"[\u0600-\u06FF]")
_PLACEHOLDER = re.compile(r"%\([a-z_]+\)s")


def kind_descriptions() -> list[str]:
    """What the console shows of each kind's summary: the text after the direction prefix."""
    return [summary.split(": ", 1)[1] for summary in KIND_SUMMARIES.values()]


def shown_texts() -> list[str]:
    return sorted({*form_labels(), *kind_descriptions(), *ATTESTATION_QUESTIONS.values(), *FORM_STRINGS})


def test_the_texts_cover_every_kind_and_field() -> None:
    assert len(kind_descriptions()) == len(KINDS) == len(KIND_SUMMARIES)
    assert {kind_label(k) for k in KINDS} <= form_labels()
    assert {"Given names", "Age out on", "No foreseeable danger"} <= form_labels()
    assert len(ATTESTATION_QUESTIONS) == 3


@pytest.mark.parametrize("tag", TRANSLATED)
def test_every_shown_text_is_translated(tag: str) -> None:
    page = CATALOGS.page(tag)
    untranslated = [t for t in shown_texts() if page.gettext(t) == t and t not in SAME_AS_ENGLISH[tag]]
    assert untranslated == [], (tag, untranslated)
    empty = [t for t in shown_texts() if not page.gettext(t).strip()]
    assert empty == [], (tag, empty)


@pytest.mark.parametrize("tag", TRANSLATED)
def test_translations_keep_their_placeholders_and_script(tag: str) -> None:
    page = CATALOGS.page(tag)
    for text in shown_texts():
        said = page.gettext(text)
        assert sorted(_PLACEHOLDER.findall(said)) == sorted(_PLACEHOLDER.findall(text)), (tag, text)
        # Arabic in the Arabic catalog, none in the French one (a swapped entry shows at once).
        assert bool(_ARABIC.search(said)) == (tag == "ar"), (tag, text, said)


def test_the_allowlist_holds_only_shown_texts() -> None:
    for tag, same in SAME_AS_ENGLISH.items():
        assert same <= set(shown_texts()), tag


def msgids(po_text: str) -> list[tuple[str, str]]:
    """(msgctxt, msgid) of every active entry of a ``.po`` file, read from the raw text."""
    out: list[tuple[str, str]] = []
    context, current, field = "", "", ""
    for line in [*po_text.splitlines(), ""]:
        stripped = line.strip()
        if stripped.startswith('"') and field:
            if field == "msgid":
                current += stripped[1:-1]
            elif field == "msgctxt":
                context += stripped[1:-1]
            continue
        if field == "msgid":
            out.append((context, current))
            context, current = "", ""
        field = ""
        if stripped.startswith("msgctxt "):
            field, context = "msgctxt", stripped[len("msgctxt ") + 1 : -1]
        elif stripped.startswith("msgid "):
            field, current = "msgid", stripped[len("msgid ") + 1 : -1]
    return [m for m in out if m[1]]


def test_msgids_reads_entries_with_continuation_lines() -> None:
    po = '#: x\nmsgid ""\nmsgstr "h"\n\nmsgid ""\n"A b "\n"c"\nmsgstr "x"\n\nmsgctxt "k"\nmsgid "A"\nmsgstr "y"\n'
    po += '#~ msgid "old"\n#~ msgstr "z"\n'
    assert msgids(po) == [("", "A b c"), ("k", "A")]


@pytest.mark.parametrize("tag", TRANSLATED)
def test_no_msgid_appears_twice(tag: str) -> None:
    ids = msgids((LOCALE_DIR / tag / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8"))
    assert len(ids) > 300
    twice = sorted(m for m, n in Counter(ids).items() if n > 1)
    assert twice == [], (tag, twice)
