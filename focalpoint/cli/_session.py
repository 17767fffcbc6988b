"""The session a person's ``focalpoint login`` leaves behind, as ``gh``, ``gcloud`` and ``az`` keep
theirs: one small JSON file per node, readable by its owner only.

The file holds the session token, the node it was issued by and its local address, the user id
and when the session expires at the latest; never the password or a second-factor code. It lives
at ``$XDG_CONFIG_HOME/focalpoint/sessions/<node_id>.session`` (``~/.config`` when the variable
is unset), or wherever ``FOCALPOINT_SESSION_FILE`` says (one file: a script, or a test, acting
as several people in turn). It is created 0600 in a 0700 directory and replaced atomically (a
crash leaves the old file or the new one whole), and a file group or others may read is
refused, not used: the token is as good as the password and the code together until the node
ends the session.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from focalpoint.errors import ConfigError

__all__ = ["SESSION_FILE_ENV", "StoredSession", "delete_session", "read_session", "session_path", "write_session"]

SESSION_FILE_ENV = "FOCALPOINT_SESSION_FILE"
_FIELDS = ("node_id", "address", "user_id", "token", "expires_ms")


@dataclass(frozen=True, slots=True)
class StoredSession:
    node_id: str
    address: str  # the node's local API, host:port
    user_id: str
    token: str
    expires_ms: int = 0  # the absolute limit the node gave at login (0: not known)


def session_path(node_id: str) -> Path:
    """Where the session for ``node_id`` is kept (``FOCALPOINT_SESSION_FILE`` first)."""
    if chosen := os.environ.get(SESSION_FILE_ENV, "").strip():
        return Path(chosen)
    base = os.environ.get("XDG_CONFIG_HOME", "").strip()
    config = Path(base) if base else Path.home() / ".config"
    return config / "focalpoint" / "sessions" / f"{node_id}.session"


def _private_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parent, each new one 0700 (existing ones are left alone)."""
    missing: list[Path] = []
    for d in (directory, *directory.parents):
        if d.is_dir():
            break
        missing.append(d)
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=0o700)


def write_session(path: Path, session: StoredSession) -> None:
    """Store ``session`` at ``path``: a new 0600 file, on disk, then renamed over the old one."""
    _private_dirs(path.parent)
    data = json.dumps(asdict(session), sort_keys=True).encode()
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as e:
        raise ConfigError(f"{tmp}: cannot create the session file: {e.strerror}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_session(path: Path) -> StoredSession | None:
    """The session stored at ``path``, or None when there is none. Raises ConfigError for a file
    others may read or that is not a session file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path}: the session file is accessible to other users (mode {stat.S_IMODE(st.st_mode):o});"
            f" run chmod 600 {path}, or focalpoint login again"
        )
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise ConfigError(f"{path}: the session file belongs to another user; run focalpoint login")
    try:
        raw = json.loads(path.read_bytes())
        if not isinstance(raw, dict) or set(raw) != set(_FIELDS):
            raise ValueError("unexpected fields")
        session = StoredSession(**raw)
        if not all(isinstance(getattr(session, f), str) and getattr(session, f) for f in _FIELDS[:4]):
            raise ValueError("empty field")
        if not isinstance(session.expires_ms, int):
            raise ValueError("expires_ms")
    except (ValueError, TypeError) as e:  # json.JSONDecodeError is a ValueError
        raise ConfigError(f"{path}: not a focalpoint session file; run focalpoint login again") from e
    return session


def delete_session(path: Path) -> bool:
    """Remove the session file; False when there was none."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
