"""A small network's keys and directory for the directory-model and envelope tests.

``make_world`` builds the network once through ``localnet.make_network`` (fresh keys, a real
administrators' repository, root 1 trusted). ``World.load`` verifies the current bundle as a
node does; ``World.republish`` signs edited entries through the repository and loads them;
``directory_of`` builds the model straight from entries when only the model matters (pure).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from directory import AgreementInfo, Directory, NodeInfo
from directory.publish import bundle, sign, state_document, timestamp_document
from directory.trust import parse_signed
from focalpoint.localnet import LocalNetwork, NodeSpec, make_network
from focalpoint.storage.keyfiles import NodeKeys, load_node_keys
from focalpoint.v1 import directory_pb2

__all__ = [
    "EntriesEdit",
    "EntryEdit",
    "World",
    "copy_entry",
    "directory_of",
    "make_world",
    "signed_past_the_checks",
]

EntryEdit = Callable[[directory_pb2.NodeEntry], None]
EntriesEdit = Callable[[dict[str, directory_pb2.NodeEntry]], None]


def copy_entry(entry: directory_pb2.NodeEntry) -> directory_pb2.NodeEntry:
    copy = directory_pb2.NodeEntry()
    copy.CopyFrom(entry)
    return copy


@dataclass(frozen=True)
class World:
    """A published network: its nodes' private keys and their entries as first published."""

    net: LocalNetwork
    keys: Mapping[str, NodeKeys]
    entries: Mapping[str, directory_pb2.NodeEntry]
    now: dt.datetime

    @property
    def now_ms(self) -> int:
        return int(self.now.timestamp() * 1000)

    def copies(self) -> dict[str, directory_pb2.NodeEntry]:
        """Fresh copies of the original entries, safe to edit."""
        return {node_id: copy_entry(entry) for node_id, entry in self.entries.items()}

    def entry(self, node_id: str, edit: EntryEdit | None = None) -> directory_pb2.NodeEntry:
        """A copy of one original entry, edited by ``edit``."""
        entry = copy_entry(self.entries[node_id])
        if edit is not None:
            edit(entry)
        return entry

    def load(self, now_ms: int | None = None) -> Directory:
        """The network's current bundle, verified from root 1 as a starting node does."""
        return self.net.load(self.now_ms if now_ms is None else now_ms)

    def republish(self, edit: EntriesEdit) -> Directory:
        """The next directory version with the original entries as ``edit`` changed them, verified.

        The network then publishes the original entries again, so the current bundle never
        carries one test's edits into another.
        """

        def mutate(live: dict[str, directory_pb2.NodeEntry]) -> None:
            live.clear()
            live.update(self.copies())
            edit(live)

        def restore(live: dict[str, directory_pb2.NodeEntry]) -> None:
            live.clear()
            live.update(self.copies())

        self.net.publish(now=self.now, mutate=mutate)
        edited = self.load()
        self.net.publish(now=self.now, mutate=restore)
        return edited


def make_world(root: Path, specs: Sequence[NodeSpec], *, now: dt.datetime) -> World:
    """Keys, entries and a published directory for ``specs`` (agreements between every pair of States)."""
    net = make_network(root, specs, now=now)
    keys = {n: load_node_keys(node.home / "keys" / "node.keys", None) for n, node in net.nodes.items()}
    entries = {node_id: copy_entry(entry) for node_id, entry in net.entries.items()}
    return World(net=net, keys=keys, entries=entries, now=now)


def directory_of(
    entries: Iterable[directory_pb2.NodeEntry],
    *,
    agreements: Mapping[str, AgreementInfo] | None = None,
    version: int = 1,
) -> Directory:
    """The model of a directory listing ``entries`` (no signatures: the trust path is tested elsewhere).

    Raises VerificationError as ``NodeInfo.from_proto`` and ``Directory.build`` do.
    """
    return Directory.build(
        version=version,
        issued_at_ms=0,
        expires_at_ms=1,
        nodes=[NodeInfo.from_proto(e) for e in entries],
        raw=b"",
        agreements=agreements,
    )


def signed_past_the_checks(
    net: LocalNetwork, *, now_ms: int, state: str, edit: Callable[[directory_pb2.StateEntry], None]
) -> directory_pb2.DirectoryBundle:
    """The next bundle of ``net`` with ``state``'s entry edited and re-signed by its administrator, and
    a fresh timestamp, all with the network's real keys but without the repository's checks: what an
    administrator with a broken tool, or a library that parses differently, could publish."""
    repo = net.repository
    states = []
    for raw in repo.latest_states():
        entry = directory_pb2.StateEntry.FromString(parse_signed(raw, "state").signed)
        if entry.state == state:
            entry.version += 1
            edit(entry)
            raw = sign(state_document(entry), [net.admins[state]])
        states.append(raw)
    roots, agreements = repo.roots(), repo.latest_agreements()
    timestamp = timestamp_document(
        version=repo.timestamp_version() + 1,
        issued_at_ms=now_ms,
        expires_at_ms=now_ms + 86_400_000,
        root=roots[-1],
        states=states,
        agreements=agreements,
    )
    return bundle(roots=roots, timestamp=sign(timestamp, [net.timestamp_signer]), states=states, agreements=agreements)
