"""The console's code list without a node: a ``GetCodeList`` answer rebuilds the list; a code reads
as the list labels it in the page's language (a fallback to English marked ``lang="en"``, a machine
draft flagged, its definition kept); without a list, as its name in the schema; a number neither
knows, as a newer version's code; the forms' options leave out "not given" and deprecated codes.
The ``CodeBook`` asks the node once on first need, again when the list is old, never twice at once,
and keeps pages working (schema names) while the node cannot give it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from babel import Locale
from babel.support import NullTranslations

from directory.codelists import CodeStatus
from focalpoint.client import LocalClient
from focalpoint.console.case_view import message_fields
from focalpoint.console.codes import (
    REFRESH_SECONDS,
    RETRY_SECONDS,
    CodeBook,
    code_list_of,
    code_options,
    code_text,
    foreign_language,
)
from focalpoint.console.i18n import Catalogs, PageLanguage
from focalpoint.errors import TransportError, VerificationError
from focalpoint.v1 import directory_pb2, local_pb2, messages_pb2
from tests.console.test_pages import logged  # noqa: F401 (the fixture)
from tests.support.codelists import code_list_doc, model

CATALOGS = Catalogs(("en", "fr", "ar"), "en", "UTC")
SEX = messages_pb2.Sex.DESCRIPTOR
URGENCY = messages_pb2.Urgency.DESCRIPTOR


def answer(**doc: Any) -> local_pb2.GetCodeListResponse:
    """What a node serves: the list's SignedDocument (signatures play no part in the console)."""
    document = code_list_doc(**doc)
    signed = directory_pb2.SignedDocument(signed=document.SerializeToString()).SerializeToString()
    return local_pb2.GetCodeListResponse(
        list_version=document.list_version, version=document.version, signed_document=signed
    )


LIST = code_list_of(answer())


def german() -> PageLanguage:
    """A page language the test list has no labels in (the catalogs play no part here)."""
    return PageLanguage("de", Locale("de"), NullTranslations(), CATALOGS.page("en").timezone)


# -- reading an answer ---------------------------------------------------------------------------


def test_an_answer_rebuilds_the_list_and_an_empty_one_is_no_list() -> None:
    assert LIST is not None
    assert LIST.list_version == "2026.1"
    assert LIST.label(SEX.full_name, messages_pb2.SEX_FEMALE, "fr") is not None
    assert code_list_of(local_pb2.GetCodeListResponse()) is None


def test_an_answer_that_is_not_a_code_list_is_refused() -> None:
    with pytest.raises(VerificationError):
        code_list_of(local_pb2.GetCodeListResponse(list_version="2026.1", signed_document=b"\xff\x00junk"))
    garbage = directory_pb2.SignedDocument(signed=b"\xff\xff\xff").SerializeToString()
    with pytest.raises(VerificationError):
        code_list_of(local_pb2.GetCodeListResponse(list_version="2026.1", signed_document=garbage))


# -- how a code reads -----------------------------------------------------------------------------


def test_a_code_in_the_pages_language_a_fallback_to_english_and_no_list() -> None:
    french = code_text(LIST, SEX.full_name, messages_pb2.SEX_FEMALE, "fr")
    assert (french.label, french.language, french.known, french.machine_draft) == ("sex_female (fr)", "fr", True, True)
    assert french.definition == "The meaning of SEX_FEMALE (fr)."
    fallback = code_text(LIST, SEX.full_name, messages_pb2.SEX_FEMALE, "de")
    assert (fallback.label, fallback.language) == ("sex_female (en)", "en")
    schema = code_text(None, SEX.full_name, messages_pb2.SEX_FEMALE, "fr")
    assert (schema.label, schema.language, schema.known, schema.definition) == ("Female", "en", False, "")
    # A list without that list (an enum added to the schema later) reads as the schema names it too.
    assert code_text(LIST, messages_pb2.IdentificationStatus.DESCRIPTOR.full_name, 1, "fr").label == (
        "Presumed trafficked"
    )
    newer = code_text(LIST, SEX.full_name, 99, "fr")
    assert (newer.label, newer.known) == ("code 99 of list Sex (newer version)", False)
    assert code_text(None, "focalpoint.v1.NoSuchList", 3, "fr").label == "code 3 of list NoSuchList (newer version)"


def test_a_text_is_marked_only_when_it_is_not_in_the_pages_language() -> None:
    assert foreign_language("en", "fr") == "en"
    assert foreign_language("fr", "fr") == ""
    assert foreign_language("fr", "fr-CA") == ""
    assert foreign_language("en", "en") == ""
    assert foreign_language("", "ar") == ""


def test_the_case_page_shows_the_lists_label_its_definition_and_the_draft_mark() -> None:
    message = messages_pb2.ChildIdentity(sex=messages_pb2.SEX_MALE)
    [field] = message_fields(message, CATALOGS.page("fr"), codes=LIST)
    [value] = field.values
    assert (value.text, value.lang, value.draft) == ("sex_male (fr)", "", True)
    assert value.definition == "The meaning of SEX_MALE (fr)."
    assert not value.entered  # the list's text, not a person's
    [field] = message_fields(message, german(), codes=LIST)
    assert (field.values[0].text, field.values[0].lang) == ("sex_male (en)", "en")
    [field] = message_fields(message, CATALOGS.page("fr"))  # no list: the schema's name, as before
    assert (field.values[0].text, field.values[0].definition) == ("Male", "")
    [field] = message_fields(messages_pb2.ChildIdentity(sex=77), CATALOGS.page("fr"), codes=LIST)  # type: ignore[arg-type]
    assert field.values[0].text == "Code 77 (d’une version plus récente de la liste de codes)"


# -- what a form offers ---------------------------------------------------------------------------


def test_options_leave_out_not_given_and_deprecated_codes() -> None:
    options = code_options(LIST, SEX, "fr")
    assert [o[0] for o in options] == [1, 2, 3, 4]
    assert options[0] == (1, "sex_female (fr)", "The meaning of SEX_FEMALE (fr).", "")
    assert code_options(LIST, SEX, "de")[0][3] == "en"
    deprecated = model(
        "2026.1",
        {
            URGENCY.full_name: {
                1: ("URGENCY_ROUTINE", CodeStatus.ACTIVE, "2026.1", ""),
                2: ("URGENCY_URGENT", CodeStatus.DEPRECATED, "2026.1", "2026.1"),
                3: ("URGENCY_EMERGENCY", CodeStatus.ACTIVE, "2026.1", ""),
            }
        },
    )
    assert [o[0] for o in code_options(deprecated, URGENCY, "fr")] == [1, 3]
    assert code_options(None, URGENCY, "fr") == [
        (1, "Routine", "", "en"),
        (2, "Urgent", "", "en"),
        (3, "Emergency", "", "en"),
    ]


# -- the book ------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeNode:
    """Stands for a LocalClient: answers ``code_list`` (or fails), counting the calls."""

    def __init__(self, answer: local_pb2.GetCodeListResponse | None, delay: float = 0.0) -> None:
        self.answer, self.delay, self.calls = answer, delay, 0

    async def code_list(self) -> local_pb2.GetCodeListResponse:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.answer is None:
            raise TransportError("the node's local API is not reachable")
        return self.answer


def client(node: FakeNode) -> LocalClient:
    return node  # type: ignore[return-value]


async def test_the_book_loads_on_first_need_and_again_when_old() -> None:
    clock, node = Clock(), FakeNode(answer())
    book = CodeBook(clock=clock)
    assert book.current is None
    assert book.text(SEX.full_name, 1, "fr").label == "Female"  # nothing loaded yet: the schema's name
    first = await book.load(client(node))
    assert first is not None
    assert node.calls == 1
    assert book.text(SEX.full_name, 1, "fr").label == "sex_female (fr)"
    clock.now += REFRESH_SECONDS - 1
    assert await book.load(client(node)) is first
    assert node.calls == 1
    node.answer = answer(version=2)
    clock.now += 2
    again = await book.load(client(node))
    assert node.calls == 2
    assert again is not None
    assert again.version == 2


async def test_pages_waiting_for_the_list_share_one_load() -> None:
    node = FakeNode(answer(), delay=0.05)
    book = CodeBook()
    loaded = await asyncio.gather(*(book.load(client(node)) for _ in range(5)))
    assert node.calls == 1
    assert loaded[0] is not None
    assert all(c is loaded[0] for c in loaded)


async def test_a_node_that_cannot_give_the_list_costs_no_page(logged: list[str]) -> None:  # noqa: F811
    clock, node = Clock(), FakeNode(None)
    book = CodeBook(clock=clock)
    assert await book.load(client(node)) is None  # never raises
    assert book.text(SEX.full_name, 2, "fr").label == "Male"
    assert await book.load(client(node)) is None
    assert node.calls == 1  # not asked again on every page
    assert any("console_code_list_unavailable" in line and "TransportError" in line for line in logged)
    assert not any("not reachable" in line for line in logged)  # the class, never the text
    node.answer = answer()
    clock.now += RETRY_SECONDS + 1
    kept = await book.load(client(node))
    assert kept is not None
    assert node.calls == 2
    node.answer = None  # down again after a success: the list it had is kept
    clock.now += REFRESH_SECONDS + 1
    assert await book.load(client(node)) is kept
    node.answer = local_pb2.GetCodeListResponse()  # a directory that no longer carries a list
    clock.now += RETRY_SECONDS + 1
    assert await book.load(client(node)) is None
