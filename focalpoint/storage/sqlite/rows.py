"""Reading rows that may have been damaged (a hand edit, a failing disk, another program): SQLite
keeps any value in any column, so each column read is checked for the type the schema promises,
and a row that fails is named by its place and the column, never by its content.

Checked reads use ``read_text`` as their text factory: text that is not UTF-8 comes back as
``UNDECODABLE`` instead of failing the whole query (sqlite3's own decoding raises for the
statement, quoting the bytes in its message). ``sqlite_error`` turns any other sqlite3 error into
a ``StorageError``, or a ``DamagedData`` when the file itself is damaged.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from focalpoint.errors import DamagedData, StorageError

__all__ = [
    "BYTES",
    "INT",
    "TEXT",
    "UNDECODABLE",
    "Column",
    "Undecodable",
    "bad_column",
    "damaged_row",
    "read_text",
    "sqlite_error",
    "stored_bytes",
    "stored_int",
]


class Undecodable:
    """Stored text that is not UTF-8 (its bytes are not kept: they may be case content)."""

    __slots__ = ()
    kind = "text that is not UTF-8"  # how focalpoint.audit.verify names it

    def __repr__(self) -> str:
        return "<text that is not UTF-8>"


UNDECODABLE = Undecodable()


def read_text(raw: bytes) -> str | Undecodable:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return UNDECODABLE


BYTES, TEXT, INT = bytes, str, int
# (name, the Python type a sound value has, whether NULL is allowed)
Column = tuple[str, type, bool]
_KINDS = {bytes: "bytes", str: "text", int: "an integer", float: "a real number", type(None): "NULL"}


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)


def bad_column(row: Sequence[Any], columns: Sequence[Column]) -> str | None:
    """Why the first column of ``row`` that does not hold its type is wrong, or None."""
    for value, (name, kind, optional) in zip(row, columns, strict=True):
        if isinstance(value, Undecodable):
            return f"column {name} holds {Undecodable.kind}"
        if type(value) is not kind and not (value is None and optional):
            return f"column {name} holds {_kind(value)}, not {_KINDS[kind]}"
    return None


def damaged_row(path: Path, table: str, seq: object, reason: str) -> DamagedData:
    """The error for one row that cannot be read: the table, its seq and why (never content)."""
    return DamagedData(f"{path}: {table} row {seq} is damaged: {reason}; restore it from a backup")


def stored_bytes(value: Any, path: Path, where: str) -> bytes:
    """``value`` when its column holds bytes; DamagedData naming ``where`` (table and row) otherwise."""
    if not isinstance(value, bytes):
        raise DamagedData(f"{path}: {where} is damaged: it holds {_kind(value)}, not bytes; restore it from a backup")
    return value


def stored_int(value: Any, path: Path, where: str) -> int:
    """``value`` when its column holds an integer; DamagedData naming ``where`` otherwise."""
    if type(value) is not int:
        raise DamagedData(
            f"{path}: {where} is damaged: it holds {_kind(value)}, not an integer; restore it from a backup"
        )
    return value


_DAMAGED_CODES = frozenset({11, 24, 26})  # SQLITE_CORRUPT, SQLITE_FORMAT, SQLITE_NOTADB
_UNDECODED = re.compile(r"Could not decode to UTF-8 column '([^']*)'")
# The node's own statements name only tables and columns its schema has: one that is gone was dropped.
_MISSING = re.compile(r"^no such (table|column): [\w.]+$")


def sqlite_error(path: Path, what: str, e: sqlite3.Error) -> StorageError:
    """The StorageError for a failed statement: DamagedData when the file or a stored text is
    damaged (without the text sqlite3 quotes), a StorageError naming the failure otherwise."""
    undecoded = _UNDECODED.search(str(e))
    if undecoded:
        return DamagedData(f"{path}: {what}: a stored text in column {undecoded.group(1)} is not UTF-8")
    if _MISSING.match(str(e)):
        return DamagedData(f"{path}: {what}: the database lacks part of its schema ({e}); restore the latest backup")
    if getattr(e, "sqlite_errorcode", 0) & 0xFF in _DAMAGED_CODES:
        return DamagedData(f"{path}: {what}: the file is not a readable database ({e}); restore the latest backup")
    return StorageError(f"{path}: {what} failed: {e}")
