"""Code-list documents and models made at test time (small lists, labels in the languages asked for)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from directory.codelists import TIER1_LANGUAGES, Code, CodeList, CodeStatus, Label, LabelStatus
from focalpoint.v1 import directory_pb2

__all__ = ["SMALL", "code_list_doc", "model"]

# List name -> number -> code.
SMALL: dict[str, dict[int, str]] = {
    "focalpoint.v1.Sex": {1: "SEX_FEMALE", 2: "SEX_MALE", 3: "SEX_OTHER", 4: "SEX_UNKNOWN"},
    "focalpoint.v1.Urgency": {1: "URGENCY_ROUTINE", 2: "URGENCY_URGENT", 3: "URGENCY_EMERGENCY"},
}


def _labels(code: str, languages: Iterable[str]) -> list[directory_pb2.CodeLabel]:
    return [
        directory_pb2.CodeLabel(
            language=lang,
            label=f"{code.lower()} ({lang})",
            definition=f"The meaning of {code} ({lang}).",
            status=directory_pb2.LABEL_STATUS_MACHINE_DRAFT,
        )
        for lang in languages
    ]


def code_list_doc(
    list_version: str = "2026.1",
    *,
    version: int = 1,
    previous: str = "",
    lists: Mapping[str, Mapping[int, str]] | None = None,
    languages: Iterable[str] = TIER1_LANGUAGES,
    introduced: Mapping[str, str] | None = None,
    expires_at_ms: int = 1 << 62,
) -> directory_pb2.CodeListDocument:
    """A code-list document: every code ACTIVE, labelled and defined in ``languages``;
    ``introduced`` gives a code's introduced_in (default: this version)."""
    langs = list(languages)
    return directory_pb2.CodeListDocument(
        type="focalpoint.codelist",
        spec_version=1,
        version=version,
        list_version=list_version,
        issued_at_ms=1,
        expires_at_ms=expires_at_ms,
        previous_list_version=previous,
        lists=[
            directory_pb2.CodeListEntry(
                name=name,
                codes=[
                    directory_pb2.Code(
                        number=number,
                        code=code,
                        status=directory_pb2.CODE_STATUS_ACTIVE,
                        introduced_in=(introduced or {}).get(code, list_version),
                        labels=_labels(code, langs),
                    )
                    for number, code in sorted(codes.items())
                ],
            )
            for name, codes in sorted((lists if lists is not None else SMALL).items())
        ],
    )


def model(
    list_version: str,
    lists: Mapping[str, Mapping[int, tuple[str, CodeStatus, str, str]]],
    *,
    previous: str = "",
) -> CodeList:
    """A CodeList built directly (C1 not checked): number -> (code, status, introduced_in, deprecated_since)."""
    label = Label("en", "x", "x", "", LabelStatus.MACHINE_DRAFT, "")
    return CodeList(
        list_version,
        1,
        0,
        1 << 62,
        previous,
        {
            name: {
                n: Code(n, code, status, since, "", introduced, {"en": label})
                for n, (code, status, introduced, since) in codes.items()
            }
            for name, codes in lists.items()
        },
    )
