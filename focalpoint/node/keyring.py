"""The node's own keys, and which of them it uses now.

The directory decides: the node signs messages with the signing key its entry lists as
ACTIVE, signs checkpoints and evidence with its ACTIVE log key, and decrypts with the
encryption keys its entry still lists. After a rotation the new key is used from the
moment peers can verify it (they fetch the same directory). Keys added by
``focalpoint node rotate-key`` are picked up from the key file without a restart (TLS keys
excepted). Each change of the key in use is logged once (KEY_CHANGED), the keys last logged
being kept next to the log (meta ``keys_in_use``, same transaction).
"""

from __future__ import annotations

import json
from pathlib import Path

import structlog

from directory import Directory, KeyInfo, KeyStatus
from focalpoint.audit import events as audit_events
from focalpoint.crypto.signing import AdminSigner, Ed25519Signer
from focalpoint.crypto.suite import EncryptionPrivateKey
from focalpoint.errors import ConfigError, StorageError
from focalpoint.node.ports import Clock, Spawn
from focalpoint.storage.base import AuditStore
from focalpoint.storage.keyfiles import NodeKeys, load_node_keys

__all__ = ["KeyRing"]

log = structlog.get_logger("focalpoint.node")


class KeyRing:
    def __init__(
        self,
        keys: NodeKeys,
        *,
        keys_file: Path,
        passphrase: str | None,
        audit: AuditStore,
        clock_ms: Clock,
        spawn: Spawn,
    ) -> None:
        self._keys = keys
        self._keys_file = keys_file
        self._passphrase = passphrase
        self._keys_mtime = _mtime(keys_file)
        self._audit = audit
        self._clock = clock_ms
        self._spawn = spawn
        self._signer = keys.signer
        self._log_signer: AdminSigner | None = None
        self._decryption_keys: dict[str, EncryptionPrivateKey] = {}
        self._keys_in_use: dict[str, str] | None = None  # loaded by load(); None: not yet known

    @property
    def node_id(self) -> str:
        return self._keys.node_id

    @property
    def keys(self) -> NodeKeys:
        """Everything in the key file (TLS identity, storage key, local API token, all keys)."""
        return self._keys

    @property
    def signer(self) -> Ed25519Signer:
        """The signing key this node uses now (the one its directory entry lists as ACTIVE)."""
        return self._signer

    @property
    def log_signer(self) -> AdminSigner | None:
        """The hybrid key this node signs checkpoints and evidence with (ACTIVE in its entry)."""
        return self._log_signer

    @property
    def decryption_keys(self) -> dict[str, EncryptionPrivateKey]:
        """The encryption keys peers may use now (listed and valid in this node's entry)."""
        return self._decryption_keys

    async def load(self) -> None:
        """Read which keys were last logged as in use, and log any change since."""
        self._keys_in_use = json.loads(await self._audit.meta("keys_in_use") or "{}")
        self._note_key_changes()

    def on_directory(self, directory: Directory) -> None:
        """Choose the keys in use from ``directory`` (called on every accepted version)."""
        now = self._clock()
        me = directory.node(self._keys.node_id)
        usable = set(me.encryption_keys) if me is not None else set()
        self._decryption_keys = {
            k: v
            for k, v in self._keys.decryption_keys.items()
            if k in usable and me is not None and me.encryption_keys[k].valid_at(now)
        }
        if me is None:
            return
        active = [
            s
            for key_id, s in self._keys.signers.items()
            if (info := me.signing_keys.get(key_id)) is not None
            and info.status is KeyStatus.ACTIVE
            and info.valid_at(now)
        ]
        if active:
            self._signer = max(active, key=lambda s: me.signing_keys[s.key_id].not_before_ms)
        logs = [
            s
            for key_id, s in self._keys.log_signers.items()
            if (info := me.log_keys.get(key_id)) is not None and _usable(info, now)
        ]
        self._log_signer = max(logs, key=lambda s: me.log_keys[s.key_id].not_before_ms) if logs else None
        self._note_key_changes()

    def reload_if_changed(self, directory: Directory) -> None:
        """Pick up keys added by `focalpoint node rotate-key` without a restart (TLS keys excepted)."""
        mtime = _mtime(self._keys_file)
        if mtime == self._keys_mtime:
            return
        self._keys_mtime = mtime
        try:
            keys = load_node_keys(self._keys_file, self._passphrase)
        except ConfigError as e:
            log.error("key_file_reload_failed", error=str(e))
            return
        if keys.node_id != self._keys.node_id or keys.storage_key != self._keys.storage_key:
            log.error("key_file_reload_refused", reason="the key file now belongs to another node or storage key")
            return
        self._keys = keys
        self.on_directory(directory)
        log.info("key_file_reloaded", signing_keys=len(keys.signers), encryption_keys=len(keys.decryption_keys))

    def _note_key_changes(self) -> None:
        """Log KEY_CHANGED when the key this node signs with (messages or checkpoints) changes."""
        if self._keys_in_use is None:
            return
        now = self._clock()
        current = {"messages": self._signer.key_id, "checkpoints": self._log_signer.key_id if self._log_signer else ""}
        changed = [
            audit_events.key_changed(at_ms=now, key_id=key_id, status=f"now signing {role}")
            for role, key_id in current.items()
            if key_id and self._keys_in_use.get(role) != key_id
        ]
        if not changed:
            return
        self._keys_in_use = current

        async def write() -> None:
            try:
                await self._audit.record(changed, meta={"keys_in_use": json.dumps(current, sort_keys=True)})
            except StorageError as e:
                log.error("audit_write_failed", event="key_changed", error=str(e))

        self._spawn(write())


def _usable(info: KeyInfo, now_ms: int) -> bool:
    """A key the directory lists as ACTIVE for this node, within its validity."""
    return info.status is KeyStatus.ACTIVE and info.valid_at(now_ms)


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None
