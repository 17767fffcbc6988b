"""The node's view of the directory: the last verified version, refreshed from a file.

A newer document replaces the current one only after full verification (steps D1–D6
in ``directory.verify``); a document that fails keeps the node on its last good
version and is reported. Listeners hear about every accepted version (the transport
rebuilds its trust store and peer channels from it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import structlog
from google.protobuf import json_format

from directory import Directory, TrustRoot, load_directory
from focalpoint.errors import ConfigError, VerificationError
from focalpoint.signing import AdminVerifier
from focalpoint.v1 import directory_pb2

__all__ = ["DirectoryCache", "load_admin_public_key", "load_trust_root"]

log = structlog.get_logger("focalpoint.directory")


def load_admin_public_key(path: Path) -> AdminVerifier:
    """Read an AdminKey JSON file; raises ConfigError naming the file."""
    try:
        msg = json_format.Parse(path.read_text(encoding="utf-8"), directory_pb2.AdminKey())
    except FileNotFoundError:
        raise ConfigError(f"{path}: administrator public key file not found") from None
    except (OSError, json_format.ParseError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not an administrator public key (AdminKey JSON): {e}") from e
    try:
        return AdminVerifier(msg.key_id, msg.ed25519_public_key, msg.ml_dsa_65_public_key)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e


def load_trust_root(paths: tuple[Path, ...], threshold: int) -> TrustRoot:
    keys: dict[str, AdminVerifier] = {}
    for p in paths:
        v = load_admin_public_key(p)
        if v.key_id in keys:
            raise ConfigError(f"{p}: the same administrator key is listed twice")
        keys[v.key_id] = v
    return TrustRoot(keys=keys, threshold=threshold)


class DirectoryCache:
    def __init__(self, path: Path, trust: TrustRoot) -> None:
        self._path = path
        self._trust = trust
        self._current: Directory | None = None
        self._mtime_ns: int | None = None
        self._listeners: list[Callable[[Directory], None]] = []

    @property
    def current(self) -> Directory:
        if self._current is None:
            raise ConfigError(f"{self._path}: no verified directory loaded")
        return self._current

    def subscribe(self, listener: Callable[[Directory], None]) -> None:
        self._listeners.append(listener)

    def load_initial(self, now_ms: int) -> Directory:
        """Load the directory at start-up; raises ConfigError when it cannot be trusted."""
        try:
            self._accept(self._read(), now_ms)
        except VerificationError as e:
            raise ConfigError(f"{self._path}: {e}") from e
        return self.current

    def refresh(self, now_ms: int) -> bool:
        """Accept a newer document if the file changed; return True when the version changed."""
        try:
            mtime = self._path.stat().st_mtime_ns
        except OSError as e:
            log.warning("directory_unreadable", path=str(self._path), error=e.strerror)
            return False
        if mtime == self._mtime_ns:
            return False
        before = self._current.version if self._current else None
        try:
            self._accept(self._read(), now_ms)
        except (VerificationError, ConfigError) as e:
            self._mtime_ns = mtime  # do not re-verify the same bad file every tick
            log.warning("directory_refused", path=str(self._path), error=str(e), kept_version=before)
            return False
        return self.current.version != before

    def _read(self) -> bytes:
        try:
            st = self._path.stat()
            data = self._path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"{self._path}: directory document not found") from None
        except OSError as e:
            raise ConfigError(f"{self._path}: cannot read directory document: {e.strerror}") from e
        self._mtime_ns = st.st_mtime_ns
        return data

    def _accept(self, data: bytes, now_ms: int) -> None:
        if self._current is not None and data == self._current.raw:
            return
        directory = load_directory(data, trust=self._trust, now_ms=now_ms, previous=self._current)
        self._current = directory
        log.info("directory_accepted", version=directory.version, nodes=len(directory.nodes))
        for listener in self._listeners:
            listener(directory)
