"""A complete network on loopback, generated on the spot: the demo, the tests and the benchmark use it.

Creates an administrator per State and a timestamp key, the keys of each node
(``focalpoint.server.provision.init_node_dir``), and publishes through a real administrators' repository
(``focalpoint.admin.repo``): a root signed by the States' administrators, the network code
list (``codelists/2026.1.yaml``, signed by the root role), one State entry per State, an
agreement in force between every pair of States covering every message kind, and a timestamp.
Each node gets a YAML config that trusts root 1 and reads the repository's bundle. Nothing is
fixed in advance: every key is fresh and every port free.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import random
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from directory import Directory, check_entry_export
from directory.publish import agreement_document, code_list_document, root_document, sign, state_document
from directory.trust import TrustedDirectory, read_bundle
from focalpoint.admin.codelists import CODELISTS_DIR, build_document
from focalpoint.admin.keys import generate_admin_key
from focalpoint.admin.repo import Repository
from focalpoint.crypto.signing import AdminSigner
from focalpoint.exchange.body import KINDS
from focalpoint.server.provision import init_node_dir
from focalpoint.storage.keyfiles import load_admin_key, write_secret_file
from focalpoint.v1 import codes_pb2, common_pb2, directory_pb2

__all__ = ["CODE_LIST", "LocalNetwork", "NodeSpec", "free_port", "make_network"]

DAY_MS = 86_400_000
# The code list a local network publishes, and the version its States declare.
CODE_LIST = CODELISTS_DIR / "2026.1.yaml"
_built: dict[tuple[Path, int], directory_pb2.CodeListDocument] = {}


def _code_list(path: Path, issued_at_ms: int) -> bytes:
    """The signed bytes of the code list in ``path`` (built once per file version: tests make many networks)."""
    key = (path, path.stat().st_mtime_ns)
    if key not in _built:
        _built.clear()
        _built[key] = build_document(path)
    doc = directory_pb2.CodeListDocument()
    doc.CopyFrom(_built[key])
    doc.issued_at_ms, doc.expires_at_ms = issued_at_ms, issued_at_ms + 3 * 365 * DAY_MS
    return code_list_document(doc)


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


def _ms(now: dt.datetime) -> int:
    return int(now.timestamp() * 1000)


@dataclass(slots=True)
class LocalNetwork:
    root: Path
    repository: Repository
    # State -> that State's administrator (their key files are in root/admins/).
    admins: dict[str, AdminSigner]
    timestamp_signer: AdminSigner
    nodes: dict[str, LocalNode]
    # What the next publish signs: node entries by node id, agreements by id.
    entries: dict[str, directory_pb2.NodeEntry] = field(default_factory=dict)
    agreements: dict[str, directory_pb2.Agreement] = field(default_factory=dict)
    version: int = 0
    _state_versions: dict[str, int] = field(default_factory=dict)
    _published_entries: dict[str, bytes] = field(default_factory=dict)

    @property
    def trusted_root_path(self) -> Path:
        return self.repository.path / "roots" / "1.fpd"

    @property
    def bundle_path(self) -> Path:
        return self.repository.path / "bundle.fpd"

    def load(self, now_ms: int) -> Directory:
        """The current bundle as a node starting from root 1 verifies it."""
        directory, _ = TrustedDirectory(self.trusted_root_path.read_bytes()).update(
            read_bundle(self.bundle_path.read_bytes(), str(self.bundle_path)), now_ms=now_ms
        )
        return directory

    def publish(
        self,
        *,
        now: dt.datetime,
        valid_for: dt.timedelta = dt.timedelta(days=30),
        mutate: Callable[[dict[str, directory_pb2.NodeEntry]], None] | None = None,
        mutate_agreements: Callable[[dict[str, directory_pb2.Agreement]], None] | None = None,
    ) -> bytes:
        """Re-sign what changed (State entries, agreements) and issue the next timestamp and bundle."""
        if mutate is not None:
            mutate(self.entries)
        now_ms = _ms(now)
        expires = now_ms + int(valid_for.total_seconds() * 1000)
        for state, admin in sorted(self.admins.items()):
            nodes = sorted((e for e in self.entries.values() if e.state == state), key=lambda e: e.node_id)
            fingerprint = b"".join(n.SerializeToString() for n in nodes)
            if self._published_entries.get(state) == fingerprint:
                continue
            version = self._state_versions.get(state, 0) + 1
            entry = directory_pb2.StateEntry(
                state=state,
                version=version,
                issued_at_ms=now_ms,
                expires_at_ms=now_ms + 365 * DAY_MS,
                focal_point_designated=True,
                institutions=[
                    directory_pb2.Institution(
                        id="focal-point",
                        name=nodes[0].institution if nodes else f"{state} focal point",
                        kind=directory_pb2.INSTITUTION_KIND_NATIONAL_FOCAL_POINT,
                    )
                ],
                contact_points=[
                    directory_pb2.ContactPoint(
                        id="duty",
                        institution_id="focal-point",
                        role="duty officer",
                        languages=sorted({lang for n in nodes for lang in n.languages} or {"en"}),
                        hours="Mon-Fri 08:00-16:00 local time",
                        urgent_24_7=True,
                        email=f"duty@{state.lower()}.example",
                        last_verified=common_pb2.Date(year=now.year, month=now.month, day=now.day),
                    )
                ],
                nodes=nodes,
                code_list_version="2026.1",
            )
            self.repository.publish(sign(state_document(entry), [admin]))
            self._state_versions[state] = version
            self._published_entries[state] = fingerprint
        if mutate_agreements is not None:
            before = {k: v.SerializeToString() for k, v in self.agreements.items()}
            mutate_agreements(self.agreements)
            for agreement_id, agreement in sorted(self.agreements.items()):
                if before.get(agreement_id) == agreement.SerializeToString():
                    continue
                agreement.version += 1
                agreement.issued_at_ms = now_ms
                self._publish_agreement(agreement)
        self.repository.issue_timestamp(self.timestamp_signer, now_ms=now_ms, valid_for_ms=expires - now_ms)
        self.version = self.repository.timestamp_version()
        return self.bundle_path.read_bytes()

    def _publish_agreement(self, agreement: directory_pb2.Agreement) -> None:
        signers = [self.admins[p] for p in sorted(set(agreement.parties))]
        self.repository.publish(sign(agreement_document(agreement), signers))


_handed_out: set[int] = set()


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _port_range() -> tuple[int, int]:
    """20000 up to the ephemeral range, or ``FOCALPOINT_FREE_PORTS`` ("low-high") when set: test
    runs in parallel give each worker process a slice of its own, so two workers never hand out
    the same port (a node that restarts on its port would otherwise race the other worker)."""
    low, high = 20000, max(20001, _ephemeral_start() - 1)
    spec = os.environ.get("FOCALPOINT_FREE_PORTS", "")
    if spec:
        try:
            first, _, last = spec.partition("-")
            low, high = int(first), int(last)
        except ValueError:
            raise ValueError(f"FOCALPOINT_FREE_PORTS must be two ports such as 20000-25999, not {spec!r}") from None
        if not 1024 <= low < high <= 65535:
            raise ValueError(f"FOCALPOINT_FREE_PORTS must be a range within 1024-65535, not {spec!r}")
    return low, high


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free now and outside the kernel's ephemeral range.

    Ports from the ephemeral range (what binding to port 0 returns) can be taken by any
    outgoing connection before the node binds them; ports below it cannot.
    """
    low, high = _port_range()
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
    agreements: bool = True,
    code_list: Path | None = CODE_LIST,
    agreement_pairs: Sequence[tuple[str, str]] | None = None,
) -> LocalNetwork:
    """Keys, a published directory and configs for ``specs``; with ``agreements``, every pair of
    States (or only ``agreement_pairs``, when given) has an agreement in force covering every
    message kind; with ``code_list`` (a data file), the directory carries that code list."""
    root.mkdir(parents=True, exist_ok=True)
    states = sorted({s.state for s in specs})
    admins: dict[str, AdminSigner] = {}
    public: dict[str, directory_pb2.AdminKey] = {}
    for state in [*states, "ZZ"]:  # ZZ: the timestamp key (ISO user-assigned code, no State)
        key_bytes, pub = generate_admin_key(state=state, name=f"administrator {state}", passphrase=None)
        key_file = root / "admins" / f"{state}.key"
        key_file.parent.mkdir(parents=True, exist_ok=True)
        write_secret_file(key_file, key_bytes)
        admins[state] = load_admin_key(key_file, None)
        public[state] = pub
    timestamp_signer = admins.pop("ZZ")
    now_ms = _ms(now)
    root_body = root_document(
        version=1,
        issued_at_ms=now_ms,
        expires_at_ms=now_ms + 3 * 365 * DAY_MS,
        keys=[public[s] for s in [*states, "ZZ"]],
        root_key_ids=[admins[s].key_id for s in states],
        root_threshold=min(2, len(states)),
        root_min_states=min(2, len(states)),
        timestamp_key_ids=[timestamp_signer.key_id],
        timestamp_threshold=1,
        state_admins={s: ([admins[s].key_id], 1) for s in states},
    )
    repository = Repository(root / "directory")
    repository.publish(sign(root_body, [admins[s] for s in states]))
    if code_list is not None:
        repository.publish(sign(_code_list(code_list, now_ms), [admins[s] for s in states]))
    net = LocalNetwork(root=root, repository=repository, admins=admins, timestamp_signer=timestamp_signer, nodes={})
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
                "root": str(net.trusted_root_path),
                "bundle": str(net.bundle_path),
                "refresh_seconds": directory_refresh_s,
            },
            "delivery": dict(delivery or {}),
            # A local network's accounts are made per run by its demo or tests: hashing at the
            # floor the configuration allows keeps logins quick (a real node keeps the defaults).
            "accounts": {"password_time_cost": 2, "password_memory_kib": 19456, "password_parallelism": 1},
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
    if agreements:
        wanted = None if agreement_pairs is None else {tuple(sorted(p)) for p in agreement_pairs}
        for a, b in itertools.combinations(states, 2):
            if wanted is not None and (a, b) not in wanted:
                continue
            agreement = directory_pb2.Agreement(
                agreement_id=f"{a}-{b}",
                version=1,
                issued_at_ms=now_ms,
                expires_at_ms=now_ms + 3 * 365 * DAY_MS,
                title=f"Agreement between {a} and {b} on the protection of children",
                parties=[a, b],
                status=directory_pb2.AGREEMENT_STATUS_IN_FORCE,
                kinds=list(KINDS),
                deadlines=[directory_pb2.KindDeadline(kind=k, response_days=30) for k in KINDS if "request" in k],
                working_languages=["en"],
                return_costs=codes_pb2.RETURN_COSTS_SHARED,
            )
            net.agreements[agreement.agreement_id] = agreement
            net._publish_agreement(agreement)
    net.publish(now=now)
    return net
