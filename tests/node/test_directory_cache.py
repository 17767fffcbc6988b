"""The node's directory at start-up (focalpoint.node.directory_cache): when no source gives a verified
directory, the error names each source and what was wrong with it; a missing bundle file is said to
be missing, wherever the node finds its directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from focalpoint.errors import ConfigError, TransportError
from focalpoint.localnet import LocalNetwork
from focalpoint.node.directory_cache import DirectoryCache
from focalpoint.node.ports import wall_clock_ms
from focalpoint.storage.memory import MemoryStore

NONE_VERIFIED = "no verified directory is available (and none was stored before)"


async def start_error(network: LocalNetwork, source: Path) -> list[str]:
    """The lines of the ConfigError a first start (an empty store) with ``source`` as its bundle file raises."""
    with pytest.raises(ConfigError) as failed:
        await DirectoryCache.open(
            root=network.trusted_root_path, source=source, store=MemoryStore().directory, now_ms=wall_clock_ms()
        )
    return str(failed.value).splitlines()


async def test_a_first_start_without_its_bundle_file_says_the_file_is_missing_and_where(
    network: LocalNetwork, tmp_path: Path
) -> None:
    """A bundle file that does not exist is named as missing, with its path, before the consequence."""
    absent = tmp_path / "directory" / "bundle.fpd"
    assert await start_error(network, absent) == [
        f"{absent}: the directory bundle file (directory.bundle) does not exist",
        NONE_VERIFIED,
    ]


async def test_a_first_start_whose_bundle_file_cannot_be_read_says_why(network: LocalNetwork, tmp_path: Path) -> None:
    """A path that is there but cannot be read (here a folder) is named with the reason, not as missing."""
    folder = tmp_path / "bundle.fpd"
    folder.mkdir()
    lines = await start_error(network, folder)
    assert lines[0].startswith(f"{folder}: cannot read the directory bundle file (directory.bundle): ")
    assert lines[1:] == [NONE_VERIFIED]


async def test_a_first_start_whose_bundle_file_is_refused_says_why(network: LocalNetwork, tmp_path: Path) -> None:
    """A file that is not a bundle is named as refused, with the rule that refused it."""
    garbage = tmp_path / "bundle.fpd"
    garbage.write_bytes(b"\xff not a bundle")
    refused = f"{garbage}: directory refused: not a directory bundle"
    assert await start_error(network, garbage) == [refused, NONE_VERIFIED]


async def test_a_restart_on_a_stored_directory_logs_once_that_its_bundle_file_is_missing(
    network: LocalNetwork, tmp_path: Path
) -> None:
    """With a directory stored before, the node starts without its file, and says once (not every poll) that the
    file is missing."""
    store = MemoryStore()
    first = await DirectoryCache.open(
        root=network.trusted_root_path, source=network.bundle_path, store=store.directory, now_ms=wall_clock_ms()
    )
    await first.close()
    absent = tmp_path / "moved-away.fpd"
    with capture_logs() as logs:
        cache = await DirectoryCache.open(
            root=network.trusted_root_path, source=absent, store=store.directory, now_ms=wall_clock_ms()
        )
        for _ in range(3):
            assert await cache.refresh(wall_clock_ms()) is False
    unreadable = [e for e in logs if e["event"] == "directory_source_unreadable"]
    assert unreadable == [
        {
            "event": "directory_source_unreadable",
            "log_level": "warning",
            "path": str(absent),
            "error": "the directory bundle file (directory.bundle) does not exist",
        }
    ]
    assert cache.current.version == 1


class Unreachable:
    """A directory service that is down (a ``BundleSource``)."""

    where = "directory.example.org:7480"

    async def fetch(self, known_version: int) -> tuple[int, bytes | None]:
        raise TransportError("UNAVAILABLE: failed to connect to all addresses")

    async def close(self) -> None:
        """Nothing to close."""


async def test_a_first_start_lists_every_source_with_what_was_wrong_with_it(
    network: LocalNetwork, tmp_path: Path
) -> None:
    """A missing file and a server that is down are each named with their own reason, in the configured order."""
    absent = tmp_path / "bundle.fpd"
    with pytest.raises(ConfigError) as failed:
        await DirectoryCache.open(
            root=network.trusted_root_path,
            source=absent,
            store=MemoryStore().directory,
            now_ms=wall_clock_ms(),
            servers=[Unreachable()],
        )
    assert str(failed.value).splitlines() == [
        f"{absent}: the directory bundle file (directory.bundle) does not exist",
        "directory.example.org:7480: directory service unreachable: UNAVAILABLE: failed to connect to all addresses",
        NONE_VERIFIED,
    ]
