"""The node's view of the directory: verified bundles, persisted, refreshed from their source.

Start-up: trust the configured root; replay the roots accepted earlier (from the store);
reload the last verified bundle (so the node works while the source is down, even past
expiry, when it refuses to send — see ``Outbox.submit``); then look at the sources (a
file, directory servers). A peer whose envelope names a newer directory is asked for it
at once (``PeerHints``). A newer
bundle replaces the current one only after full verification (``directory.trust``), and
only after its documents are stored, so rollback protection survives restarts. What is
stored, served and exported is the canonical bundle and documents ``directory.trust``
rebuilds from what verified, not the bytes that arrived. A bundle
that fails keeps the node on its last good version and is reported, once per change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import structlog
from google.protobuf.message import DecodeError

from directory import Directory
from directory.trust import AcceptedDocument, TrustedDirectory, read_bundle
from focalpoint.errors import ConfigError, StorageError, TransportError, VerificationError
from focalpoint.node.ports import BundleSource, Clock, PeerTransport, Spawn
from focalpoint.storage.base import DirectoryStore
from focalpoint.v1 import directory_pb2

__all__ = ["DirectoryCache", "PeerHints", "PeerSource"]

log = structlog.get_logger("focalpoint.directory")


class DirectoryCache:
    def __init__(
        self,
        trusted: TrustedDirectory,
        source: Path | None,
        store: DirectoryStore,
        servers: Sequence[BundleSource] = (),
    ) -> None:
        self._trusted = trusted
        self._source = source
        self._servers = list(servers)
        self._store = store
        self._current: Directory | None = None
        self._source_mtime: int | None = None
        self._listeners: list[Callable[[Directory], None]] = []
        # Why each source gave no bundle when last looked at (its ``where`` -> a sentence): the
        # start-up error lists them when none gave one, so a missing file is named as missing.
        self._failures: dict[str, str] = {}

    @classmethod
    async def open(
        cls,
        *,
        root: Path,
        source: Path | None,
        store: DirectoryStore,
        now_ms: int,
        servers: Sequence[BundleSource] = (),
    ) -> DirectoryCache:
        """Rebuild the trusted state, then load the newest verified directory; raises ConfigError."""
        try:
            root_bytes = root.read_bytes()  # noqa: ASYNC240 (a few KB, once at start-up)
        except OSError as e:
            raise ConfigError(f"{root}: cannot read the trusted root: {e.strerror}") from e
        roots, accepted, bundle = await store.load()
        try:
            trusted = TrustedDirectory(root_bytes, accepted=accepted)
            for raw in roots:
                version = _root_version(raw)
                if version > trusted.root.version:
                    trusted.update_root(raw)
        except VerificationError as e:
            raise ConfigError(f"{root}: {e}") from e
        cache = cls(trusted, source, store, servers)
        if bundle is not None:
            try:
                directory, _ = trusted.update(read_bundle(bundle, "stored bundle"), now_ms=now_ms, reload_expired=True)
                cache._current = directory
                log.info("directory_reloaded", version=directory.version)
            except VerificationError as e:
                log.error("directory_cache_unusable", error=str(e))
        await cache.refresh(now_ms)
        if cache._current is None:
            await cache.close()
            wheres = [*([str(source)] if source else []), *(s.where for s in servers)]
            why = [f"{where}: {cache._failures.get(where, 'gave no bundle')}" for where in wheres]
            raise ConfigError("\n".join([*why, "no verified directory is available (and none was stored before)"]))
        return cache

    async def close(self) -> None:
        for server in self._servers:
            await server.close()

    @property
    def current(self) -> Directory:
        if self._current is None:
            raise ConfigError("no verified directory loaded")
        return self._current

    @property
    def trusted(self) -> TrustedDirectory:
        return self._trusted

    def subscribe(self, listener: Callable[[Directory], None]) -> None:
        self._listeners.append(listener)

    async def refresh(self, now_ms: int) -> bool:
        """Look at every source (file, then servers); True when the version changed."""
        changed = await self._refresh_file(now_ms)
        for server in self._servers:
            changed = await self.refresh_from(server, now_ms) or changed
        return changed

    async def refresh_from(self, source: BundleSource, now_ms: int) -> bool:
        """Ask one directory service (a publisher, a mirror or a peer node) for a newer bundle."""
        known = self._current.version if self._current else 0
        try:
            _, data = await source.fetch(known)
        except TransportError as e:
            log.warning("directory_service_unreachable", source=source.where, error=str(e), kept_version=known or None)
            self._failures[source.where] = f"directory service unreachable: {e}"
            return False
        if data is None:
            if not known:
                self._failures[source.where] = "the directory service has no bundle to offer"
            return False
        return await self.offer(data, now_ms, where=source.where)

    async def _refresh_file(self, now_ms: int) -> bool:
        if self._source is None:
            return False
        where = str(self._source)
        try:
            mtime = self._source.stat().st_mtime_ns
        except OSError as e:
            self._unreadable(where, e)
            self._source_mtime = None
            return False
        if mtime == self._source_mtime:
            return False
        self._source_mtime = mtime  # a bad file is reported once, not on every tick
        self._failures.pop(where, None)
        try:
            data = self._source.read_bytes()
        except OSError as e:
            self._unreadable(where, e)
            return False
        return await self.offer(data, now_ms, where=where)

    def _unreadable(self, where: str, e: OSError) -> None:
        """The bundle file cannot be read: logged once per change while the node runs on a directory
        it has (from the start, when that is a stored one); without one, the start-up error says it."""
        if isinstance(e, FileNotFoundError):
            why = "the directory bundle file (directory.bundle) does not exist"
        else:
            why = f"cannot read the directory bundle file (directory.bundle): {e.strerror or e}"
        if self._current is not None and self._failures.get(where) != why:
            log.warning("directory_source_unreadable", path=where, error=why)
        self._failures[where] = why

    async def offer(self, data: bytes, now_ms: int, *, where: str) -> bool:
        """Verify a bundle from anywhere (file, directory service, mirror); True if it was newer."""
        before = self._current.version if self._current else None
        try:
            bundle = read_bundle(data, where)
            directory, fresh = self._trusted.update(bundle, now_ms=now_ms)
        except VerificationError as e:
            log.warning("directory_refused", source=where, error=str(e), kept_version=before)
            self._failures[where] = f"directory refused: {str(e).removeprefix(f'{where}: ')}"
            return False
        if before is not None and directory.version == before:
            return False
        try:
            # The verified directory rebuilt (Directory.raw), never ``data``: what a sender added stays out.
            bundle_row = ("bundle", "", directory.version, directory.raw)
            await self._store.save([*(_row(d) for d in fresh), bundle_row], now_ms)
        except StorageError as e:
            log.error("directory_store_failed", error=str(e))
            self._failures[where] = f"the directory could not be stored: {e}"
            return False
        self._failures.pop(where, None)
        self._current = directory
        log.info("directory_accepted", version=directory.version, nodes=len(directory.nodes), source=where)
        for listener in self._listeners:
            listener(directory)
        return True


class PeerSource:
    """A partner node as a bundle source (it serves what it verified, over the peer channel)."""

    def __init__(self, transport: PeerTransport, peer: str) -> None:
        self.where = f"peer {peer}"
        self._transport = transport
        self._peer = peer

    async def fetch(self, known_version: int) -> tuple[int, bytes | None]:
        return await self._transport.fetch_bundle(self._peer, known_version)

    async def close(self) -> None:
        """The peer's channel belongs to the transport."""


class PeerHints:
    """A peer's envelope names a newer directory: fetch it from that peer (it has it) now,
    once at a time per peer; a failure only delays the update to the next poll."""

    def __init__(self, cache: DirectoryCache, transport: PeerTransport, *, clock_ms: Clock, spawn: Spawn) -> None:
        self._cache = cache
        self._transport = transport
        self._clock = clock_ms
        self._spawn = spawn
        self._pending: set[str] = set()

    def __call__(self, peer: str, version: int) -> None:
        if version <= self._cache.current.version or peer in self._pending:
            return
        self._pending.add(peer)

        async def fetch() -> None:
            try:
                await self._cache.refresh_from(PeerSource(self._transport, peer), self._clock())
            except StorageError as e:
                log.warning("directory_hint_failed", peer=peer, error=str(e))
            finally:
                self._pending.discard(peer)

        self._spawn(fetch())


def _row(d: AcceptedDocument) -> tuple[str, str, int, bytes]:
    return d.kind, d.name, d.version, d.raw


def _root_version(raw: bytes) -> int:
    try:
        return directory_pb2.Root.FromString(directory_pb2.SignedDocument.FromString(raw).signed).version
    except DecodeError:
        return 0
