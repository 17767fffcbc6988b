"""The network code list in the console: what each code means, in the reader's language.

The wire carries enum numbers; the directory carries the signed code list that names each one,
with a label and a definition per language (docs/protocol.md §5.10). The console asks its node for
it (``GetCodeList``) through the same local-API client as every page, and keeps it in one
``CodeBook`` per process: loaded on first need, again once it is ``REFRESH_SECONDS`` old, one
load at a time. A node that cannot give it (down, or a directory without a code list) costs no
page: the book keeps what it had, or has nothing, and codes read as their names in the schema
("Presumed trafficked" for ``IDENTIFICATION_STATUS_PRESUMED_TRAFFICKED``), as before there was a
list. A failed load is tried again only after ``RETRY_SECONDS``, so a node that is down is not
asked on every page.

``code_text`` and ``code_options`` are pure (a ``CodeList`` or None in, text out): the case page
shows codes with them, the forms offer a list's codes with them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import structlog
from google.protobuf import descriptor_pool
from google.protobuf.message import DecodeError

from directory.codelists import CodeList, CodeStatus, enum_codes, language_fallbacks
from directory.trust import parse_signed
from focalpoint.cases.codes import CodeText, describe
from focalpoint.client import LocalClient
from focalpoint.errors import FocalpointError, VerificationError
from focalpoint.exchange.rules import short_code
from focalpoint.v1 import directory_pb2, local_pb2

__all__ = [
    "REFRESH_SECONDS",
    "RETRY_SECONDS",
    "CodeBook",
    "code_list_of",
    "code_options",
    "code_text",
    "foreign_language",
    "schema_label",
]

# How old the list may grow before it is asked for again (a re-issue adds or corrects labels).
REFRESH_SECONDS = 600.0
# After a failed load, how long the book waits before asking again.
RETRY_SECONDS = 60.0


def log() -> Any:
    return structlog.get_logger("focalpoint.console")


def code_list_of(answer: local_pb2.GetCodeListResponse) -> CodeList | None:
    """The ``CodeList`` a ``GetCodeList`` answer carries, or None when the directory carries none.
    Raises VerificationError when the document does not parse or breaks the rules of one version."""
    if not answer.list_version:
        return None
    signed = parse_signed(answer.signed_document, "the node's code list").signed
    try:
        doc = directory_pb2.CodeListDocument.FromString(signed)
    except DecodeError as e:
        raise VerificationError("the node's code list: signed bytes do not parse") from e
    return CodeList.from_proto(doc, "the node's code list")


def schema_label(enum: Any, number: int) -> str:
    """A code's name in the schema, readable: "Presumed trafficked" (an English msgid); the
    number itself for a code the schema does not know."""
    words = short_code(enum, number).replace("_", " ").strip().lower()
    return words[:1].upper() + words[1:]


def foreign_language(text_language: str, page_language: str) -> str:
    """``text_language`` when a text in it is not in the page's language (to mark it ``lang``),
    else "": a ``fr`` label on an ``fr-CA`` page is in the page's language."""
    if not text_language or text_language.lower() in language_fallbacks(page_language, english=False):
        return ""
    return text_language


def code_text(code_list: CodeList | None, enum_name: str, number: int, language: str) -> CodeText:
    """Code ``number`` of list ``enum_name`` (an enum's full name) in ``language``: the list's label
    and definition (falling back to a more general tag, then English); without a list, its name in
    the schema in English (``known`` False); a number neither knows reads "code N of list L (newer
    version)". Never raises."""
    if code_list is not None and code_list.code(enum_name, number) is not None:
        return describe(code_list, enum_name, number, language)
    try:
        enum = descriptor_pool.Default().FindEnumTypeByName(enum_name)
    except KeyError:
        enum = None
    if enum is not None and number in enum.values_by_number:
        return CodeText(schema_label(enum, number), "", "en", known=False)
    return describe(None, enum_name, number, language)


def code_options(code_list: CodeList | None, enum: Any, language: str) -> list[tuple[int, str, str, str]]:
    """What a form offers for an enum (a protobuf ``EnumDescriptor``): ``(number, label,
    definition, lang)`` for each code but "not given" (``*_UNSPECIFIED``) and those the list has
    deprecated, in the schema's order. ``lang`` is the label's language when it is not
    ``language`` (a fallback to English), else "". Without a list: the schema's names, in English."""
    out = []
    for number, _ in enum_codes(enum):
        code = code_list.code(enum.full_name, number) if code_list is not None else None
        if code is not None and code.status is CodeStatus.DEPRECATED:
            continue
        text = code_text(code_list, enum.full_name, number, language)
        out.append((number, text.label, text.definition, foreign_language(text.language, language)))
    return out


class CodeBook:
    """The console's copy of the node's code list, shared by every page of the process."""

    def __init__(
        self,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._refresh, self._retry, self._clock = refresh_seconds, retry_seconds, clock
        self._list: CodeList | None = None
        self._due: float | None = None  # when to ask the node next (None: never asked)
        self._lock = asyncio.Lock()

    @property
    def current(self) -> CodeList | None:
        """The list as last loaded (None before the first load, or when none could be had)."""
        return self._list

    def _fresh(self) -> bool:
        return self._due is not None and self._clock() < self._due

    async def load(self, client: LocalClient) -> CodeList | None:
        """The list, asked of the node through ``client`` when it is due (first need, or older than
        the refresh period; after a failure, the retry period); pages waiting meanwhile share the
        one load. Never raises: on failure it keeps the list it had (or None)."""
        if self._fresh():
            return self._list
        async with self._lock:
            if self._fresh():  # another page loaded it while this one waited
                return self._list
            try:
                loaded = code_list_of(await client.code_list())
            except FocalpointError as e:
                # Never the error's text: the node's answer is not the console's to log.
                log().warning("console_code_list_unavailable", error=type(e).__name__)
                self._due = self._clock() + self._retry
                return self._list
            self._list = loaded
            self._due = self._clock() + self._refresh
            return self._list

    def text(self, enum_name: str, number: int, language: str) -> CodeText:
        """Code ``number`` of list ``enum_name`` in ``language`` from the list as last loaded
        (``code_text``); never raises, never asks the node."""
        return code_text(self._list, enum_name, number, language)
