"""The storage contract's fixture: every test that takes ``store`` runs once per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from focalpoint.storage.base import Store
from focalpoint.storage.memory import MemoryStore
from focalpoint.storage.sqlite import SqliteStore

BACKENDS = ("sqlite", "memory")


async def open_store(backend: str, path: Path) -> Store:
    """A fresh, empty store of ``backend`` (``path``: the SQLite database file)."""
    if backend == "sqlite":
        return await SqliteStore.open(path)
    return MemoryStore()


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh store of each backend, closed after the test."""
    opened = await open_store(request.param, tmp_path / "node.sqlite")
    yield opened
    await opened.close()
