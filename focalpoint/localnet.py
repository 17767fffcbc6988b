"""A complete network on loopback, generated on the spot: the demo, the tests and the benchmark use it.

Creates one administrator key, the keys of each node (``keystore.init_node_dir``),
a directory signed by the administrator, and one YAML config per node, all under
``root``. Nothing is fixed in advance: every key is fresh and every port free.
"""

from __future__ import annotations

import datetime as dt
import random
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format

from directory import build_directory, check_entry_export, sign_document
from focalpoint.keystore import generate_admin_key, init_node_dir, load_admin_key, write_secret_file
from focalpoint.v1 import directory_pb2

__all__ = ["LocalNetwork", "NodeSpec", "free_port", "make_network"]


@dataclass(frozen=True, slots=True)
class NodeSpec:
    node_id: str
    state: str
    institution: str
    languages: tuple[str, ...] = ("en",)


@dataclass(slots=True)
class LocalNode:
    spec: NodeSpec
    home: Path
    config_path: Path
    peer_address: str
    local_address: str
    token: str
    entry: directory_pb2.NodeEntry

    @property
    def node_id(self) -> str:
        return self.spec.node_id


@dataclass(slots=True)
class LocalNetwork:
    root: Path
    admin_key: Path
    admin_public: Path
    directory_path: Path
    nodes: dict[str, LocalNode]
    version: int = 1
    entries: dict[str, directory_pb2.NodeEntry] = field(default_factory=dict)

    def publish(
        self,
        *,
        now: dt.datetime,
        valid_for: dt.timedelta = dt.timedelta(days=30),
        mutate: Callable[[dict[str, directory_pb2.NodeEntry]], None] | None = None,
        version: int | None = None,
    ) -> bytes:
        """Sign and write the next directory version (after ``mutate`` edits the entries)."""
        if mutate is not None:
            mutate(self.entries)
        self.version = version if version is not None else self.version + 1
        issued = int(now.timestamp() * 1000)
        signed = build_directory(
            list(self.entries.values()),
            version=self.version,
            issued_at_ms=issued,
            expires_at_ms=issued + int(valid_for.total_seconds() * 1000),
        )
        doc = sign_document(signed, [load_admin_key(self.admin_key, None)])
        tmp = self.directory_path.with_suffix(".tmp")
        tmp.write_bytes(doc)
        tmp.replace(self.directory_path)  # atomic: a node never reads half a document
        return doc


_handed_out: set[int] = set()


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free now and outside the kernel's ephemeral range.

    Ports from the ephemeral range (what binding to port 0 returns) can be taken by any
    outgoing connection before the node binds them; ports below it cannot.
    """
    low, high = 20000, max(20001, _ephemeral_start() - 1)
    for _ in range(1000):
        port = random.randint(low, high)  # noqa: S311 (not a secret)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise OSError(f"no free port found on {host} between {low} and {high}")


def make_network(
    root: Path,
    specs: Sequence[NodeSpec],
    *,
    now: dt.datetime,
    delivery: dict[str, Any] | None = None,
    directory_refresh_s: float = 1.0,
    log_level: str = "warning",
) -> LocalNetwork:
    root.mkdir(parents=True, exist_ok=True)
    dir_dir = root / "directory"
    dir_dir.mkdir(exist_ok=True)
    key_bytes, admin_public = generate_admin_key(state="ZZ", name="demo administrator", passphrase=None)
    admin_key = root / "admin.key"
    write_secret_file(admin_key, key_bytes)
    admin_pub_path = dir_dir / "admin.pub.json"
    admin_pub_path.write_text(json_format.MessageToJson(admin_public, indent=2), encoding="utf-8")
    net = LocalNetwork(
        root=root,
        admin_key=admin_key,
        admin_public=admin_pub_path,
        directory_path=dir_dir / "directory.fpd",
        nodes={},
        version=0,
    )
    for spec in specs:
        home = root / spec.node_id
        peer = f"127.0.0.1:{free_port()}"
        local = f"127.0.0.1:{free_port()}"
        result = init_node_dir(
            home / "keys",
            node_id=spec.node_id,
            state=spec.state,
            institution=spec.institution,
            endpoint=peer,
            languages=list(spec.languages),
            passphrase=None,
            now=now,
        )
        entry = check_entry_export(result.export)
        config: dict[str, Any] = {
            "node": {"id": spec.node_id, "keys_file": "keys/node.keys"},
            "listen": {"peer": peer, "local": local},
            "storage": {"database": "data/node.sqlite"},
            "directory": {
                "path": str(net.directory_path),
                "trusted_keys": [str(admin_pub_path)],
                "threshold": 1,
                "refresh_seconds": directory_refresh_s,
            },
            "delivery": dict(delivery or {}),
            "logging": {"format": "console", "level": log_level},
        }
        config_path = home / "node.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        net.entries[spec.node_id] = entry
        net.nodes[spec.node_id] = LocalNode(
            spec=spec,
            home=home,
            config_path=config_path,
            peer_address=peer,
            local_address=local,
            token=result.token_file.read_text(encoding="utf-8").strip(),
            entry=entry,
        )
    net.publish(now=now)
    return net
