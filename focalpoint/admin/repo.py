"""The administrators' directory repository: a folder holding every published version.

    repo/roots/1.fpd, 2.fpd, …             every root, each a SignedDocument
    repo/states/GR/1.fpd, …                every version of each State entry
    repo/agreements/AL-GR-2006/1.fpd, …    every version of each agreement
    repo/codelists/2026.1/1.fpd, …         every document version of each code-list version
    repo/timestamps/1.fpd, …               every timestamp
    repo/bundle.fpd                        the current bundle: what nodes and mirrors fetch

Publishing checks what a node will check (``directory.trust``) before writing: a document
whose threshold is not met, whose version does not grow, or that a node would refuse is
never written. Files are written atomically (temporary file, fsync, rename); nothing
published is ever overwritten. The folder can live on removable media or in version control.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from google.protobuf.message import DecodeError

from directory import CaseRules, Directory, NodeInfo
from directory.codelists import CodeList, LabelGap, label_gaps, list_version_key, reissue_problems, succession_problems
from directory.publish import bundle as make_bundle
from directory.publish import sign, timestamp_document
from directory.trust import (
    AGREEMENT_TYPE,
    CODELIST_TYPE,
    ROOT_TYPE,
    STATE_TYPE,
    TrustedDirectory,
    parse_signed,
)
from focalpoint.crypto.signing import AdminSigner
from focalpoint.errors import UsageError, VerificationError
from focalpoint.storage.files import write_atomic
from focalpoint.v1 import directory_pb2

__all__ = ["Repository", "document_kind"]

_SUFFIX = ".fpd"
_Document = directory_pb2.Root | directory_pb2.StateEntry | directory_pb2.Agreement | directory_pb2.CodeListDocument


def document_kind(raw: bytes) -> tuple[str, str, int]:
    """(kind, name, version) of a SignedDocument, from its signed bytes; raises UsageError."""
    try:
        signed = parse_signed(raw, "document").signed
    except VerificationError as e:
        raise UsageError(str(e)) from e
    candidates: list[tuple[str, _Document, str, str]] = [
        ("root", directory_pb2.Root(), ROOT_TYPE, ""),
        ("state", directory_pb2.StateEntry(), STATE_TYPE, "state"),
        ("agreement", directory_pb2.Agreement(), AGREEMENT_TYPE, "agreement_id"),
        ("codelist", directory_pb2.CodeListDocument(), CODELIST_TYPE, "list_version"),
    ]
    for kind, message, doc_type, name_field in candidates:
        try:
            message.ParseFromString(signed)
        except DecodeError:
            continue
        if message.type == doc_type:
            return kind, str(getattr(message, name_field)) if name_field else "", message.version
    raise UsageError("not a root, State entry, agreement or code-list document")


def _write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file atomically; refuse to replace a published version."""
    if path.exists():
        raise UsageError(f"{path}: already published; a new version needs a new version number")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)


class Repository:
    def __init__(self, path: Path) -> None:
        self.path = path

    # --- reading ------------------------------------------------------------------------

    def _versions(self, folder: Path) -> list[int]:
        if not folder.is_dir():
            return []
        return sorted(int(p.stem) for p in folder.glob(f"*{_SUFFIX}") if p.stem.isdigit())

    def _latest(self, folder: Path) -> bytes | None:
        versions = self._versions(folder)
        return (folder / f"{versions[-1]}{_SUFFIX}").read_bytes() if versions else None

    def roots(self) -> list[bytes]:
        folder = self.path / "roots"
        return [(folder / f"{v}{_SUFFIX}").read_bytes() for v in self._versions(folder)]

    def trusted(self) -> TrustedDirectory:
        """The trust state a node starting from root 1 would reach; raises UsageError if uninitialised."""
        roots = self.roots()
        if not roots:
            raise UsageError(f"{self.path}: no root published yet (run `focalpoint directory publish` on a root)")
        trusted = TrustedDirectory(roots[0])
        for raw in roots[1:]:
            trusted.update_root(raw)
        return trusted

    def latest_states(self) -> list[bytes]:
        base = self.path / "states"
        return [d for p in sorted(base.iterdir()) if (d := self._latest(p))] if base.is_dir() else []

    def latest_agreements(self) -> list[bytes]:
        base = self.path / "agreements"
        return [d for p in sorted(base.iterdir()) if (d := self._latest(p))] if base.is_dir() else []

    def latest_codelists(self) -> list[bytes]:
        """The newest document of every code-list version, oldest list version first."""
        base = self.path / "codelists"
        if not base.is_dir():
            return []
        folders = [p for p in base.iterdir() if p.is_dir() and _is_list_version(p.name)]
        return [d for p in sorted(folders, key=lambda p: list_version_key(p.name)) if (d := self._latest(p))]

    def next_version(self, folder: str, name: str) -> int:
        """The version a new proposal for ``folder``/``name`` (states, agreements or codelists) must carry."""
        if not name or "/" in name or name.startswith("."):
            raise UsageError(f"{name!r} is not a valid document name")
        versions = self._versions(self.path / folder / name)
        return versions[-1] + 1 if versions else 1

    def timestamp_version(self) -> int:
        versions = self._versions(self.path / "timestamps")
        return versions[-1] if versions else 0

    def document(self, kind: str, name: str, version: int) -> bytes | None:
        """A published version of a document, or None."""
        folders = {
            "root": "roots",
            "timestamp": "timestamps",
            "state": "states",
            "agreement": "agreements",
            "codelist": "codelists",
        }
        folder = folders.get(kind)
        if folder is None or version < 1 or "/" in name or name.startswith("."):
            return None
        named = kind in ("state", "agreement", "codelist")
        path = self.path / folder / (name if named else "") / f"{version}{_SUFFIX}"
        try:
            return path.read_bytes()
        except OSError:
            return None

    def bundle(self) -> bytes:
        try:
            return (self.path / "bundle.fpd").read_bytes()
        except FileNotFoundError:
            raise UsageError(f"{self.path}: nothing published yet (no bundle.fpd)") from None

    # --- publishing ---------------------------------------------------------------------

    def publish(self, raw: bytes) -> tuple[str, str, int]:
        """Check a signed document against the current root and add it; returns (kind, name, version).

        Raises UsageError naming the missing threshold, the version problem or the bad signature.
        """
        kind, name, version = document_kind(raw)
        doc = parse_signed(raw, kind)
        if kind == "root":
            return self._publish_root(raw, version)
        if kind == "codelist":
            return self._publish_code_list(raw, name, version)
        if kind == "state":
            parties = [name]
            folder = self.path / "states" / name
        else:
            agreement = directory_pb2.Agreement.FromString(doc.signed)
            parties = sorted(set(agreement.parties))
            if len(parties) < 2:
                raise UsageError(f"agreement {name}: needs at least two distinct parties")
            folder = self.path / "agreements" / name
        try:
            self.trusted().check_signed_by_states(raw, parties, f"{kind} {name} version {version}")
        except VerificationError as e:
            raise UsageError(f"not published: {e}") from e
        current = self._versions(folder)
        if current and version <= current[-1]:
            raise UsageError(f"{kind} {name}: version {version} is not newer than the published version {current[-1]}")
        if kind == "state":
            entry = directory_pb2.StateEntry.FromString(doc.signed)
            self._check_state_entry(entry)
            self._check_labels(f"State entry {name} version {version}", state=entry)
        else:
            agreement = directory_pb2.Agreement.FromString(doc.signed)
            self._check_agreement(agreement)
            self._check_labels(f"agreement {name} version {version}", agreement=agreement)
        _write_new(folder / f"{version}{_SUFFIX}", raw)
        return kind, name, version

    def _check_state_entry(self, entry: directory_pb2.StateEntry) -> None:
        """What nodes check of an entry (B5, B7), with the other States' current entries: nothing
        is published that would make every later bundle unverifiable."""
        foreign = [n.node_id for n in entry.nodes if n.state != entry.state]
        if foreign:
            raise UsageError(f"not published: State entry {entry.state} lists node {foreign[0]!r} of another State")
        nodes = []
        for raw in self.latest_states():
            other = directory_pb2.StateEntry.FromString(parse_signed(raw, "state").signed)
            if other.state != entry.state:
                nodes += list(other.nodes)
        try:
            infos = [NodeInfo.from_proto(n) for n in [*nodes, *entry.nodes]]
            Directory.build(version=0, issued_at_ms=0, expires_at_ms=0, nodes=infos, raw=b"")
        except VerificationError as e:
            raise UsageError(f"not published: State entry {entry.state}: {e}") from e

    @staticmethod
    def _check_agreement(agreement: directory_pb2.Agreement) -> None:
        """What nodes check of an agreement on its own (B6): a node would leave out one that fails."""
        if agreement.status not in directory_pb2.AgreementStatus.values() or agreement.status == 0:
            raise UsageError(f"not published: agreement {agreement.agreement_id} has no valid status")
        try:
            CaseRules.from_proto(agreement.case_rules if agreement.HasField("case_rules") else None)
        except VerificationError as e:
            raise UsageError(f"not published: agreement {agreement.agreement_id}: {e}") from e

    def _publish_code_list(self, raw: bytes, name: str, version: int) -> tuple[str, str, int]:
        """B8 and C1–C5 as nodes check them, against the code lists published before; and C6: no
        agreement in force loses a working language's labels."""
        what = f"code list {name} version {version}"
        try:
            self.trusted().check_signed_by_root_role(raw, what)
            new = CodeList.from_proto(_code_list_body(raw), what)
        except VerificationError as e:
            raise UsageError(f"not published: {e}") from e
        folder = self.path / "codelists" / name
        current = self._versions(folder)
        if current and version <= current[-1]:
            raise UsageError(f"{what}: version {version} is not newer than the published version {current[-1]}")
        published = self._code_lists()
        problems = succession_problems(list(published.values()), new)
        if name in published:
            problems += reissue_problems(published[name], new)
        newer = [v for v in published if list_version_key(v) > list_version_key(name)]
        if newer and name not in published:
            problems.append(f"newer list versions are published already ({', '.join(newer)})")
        if problems:
            raise UsageError(f"not published: {what}: " + "; ".join(problems))
        self._check_labels(what, code_list=new)
        _write_new(folder / f"{version}{_SUFFIX}", raw)
        return "codelist", name, version

    def _code_lists(self) -> dict[str, CodeList]:
        out = {}
        for raw in self.latest_codelists():
            body = _code_list_body(raw)
            out[body.list_version] = CodeList.from_proto(body, f"code list {body.list_version}")
        return out

    def _label_gaps(
        self,
        *,
        state: directory_pb2.StateEntry | None = None,
        agreement: directory_pb2.Agreement | None = None,
        code_list: CodeList | None = None,
    ) -> set[LabelGap]:
        """C6 over the latest published documents, with one of them replaced by a new version."""
        lists = self._code_lists()
        if code_list is not None:
            lists[code_list.list_version] = code_list
        if not lists:
            return set()  # a directory before its first code list is not judged (as nodes do, B9)
        states = {
            e.state: e.code_list_version
            for e in (
                directory_pb2.StateEntry.FromString(parse_signed(r, "state").signed) for r in self.latest_states()
            )
        }
        if state is not None:
            states[state.state] = state.code_list_version
        agreements = {
            a.agreement_id: a
            for a in (
                directory_pb2.Agreement.FromString(parse_signed(r, "agreement").signed)
                for r in self.latest_agreements()
            )
        }
        if agreement is not None:
            agreements[agreement.agreement_id] = agreement
        gaps: set[LabelGap] = set()
        for a in agreements.values():
            if a.status == directory_pb2.AGREEMENT_STATUS_IN_FORCE:
                declared = {p: states[p] for p in a.parties if p in states}
                gaps.update(
                    label_gaps(
                        agreement_id=a.agreement_id,
                        working_languages=a.working_languages,
                        declared=declared,
                        code_lists=lists,
                    )
                )
        return gaps

    def _check_labels(
        self,
        what: str,
        *,
        state: directory_pb2.StateEntry | None = None,
        agreement: directory_pb2.Agreement | None = None,
        code_list: CodeList | None = None,
    ) -> None:
        """Refuse a document that would leave an agreement in force without its working languages'
        labels (nodes would leave the agreement out, B9): say which, and what to add."""
        new = self._label_gaps(state=state, agreement=agreement, code_list=code_list) - self._label_gaps()
        if new:
            why = "; ".join(f"agreement {g.agreement_id}: {g.why()}" for g in sorted(new, key=repr))
            raise UsageError(f"not published: {what} would leave an agreement in force unusable: {why}")

    def _publish_root(self, raw: bytes, version: int) -> tuple[str, str, int]:
        existing = self.roots()
        try:
            if not existing:
                if version != 1:
                    raise UsageError(f"the first root must be version 1, got {version}")
                TrustedDirectory(raw)  # its own root role's threshold, from enough States
            else:
                self.trusted().update_root(raw)  # thresholds of the old and of the new root role
        except VerificationError as e:
            raise UsageError(f"not published: {e}") from e
        _write_new(self.path / "roots" / f"{version}{_SUFFIX}", raw)
        return "root", "", version

    def issue_timestamp(self, signers: AdminSigner | Sequence[AdminSigner], *, now_ms: int, valid_for_ms: int) -> bytes:
        """Sign a new timestamp over the latest versions and write the bundle nodes will fetch.

        The bundle is verified as a node would before it replaces the current one. Returns it.
        """
        roots = self.roots()
        if not roots:
            raise UsageError(f"{self.path}: no root published yet")
        states, agreements, codelists = self.latest_states(), self.latest_agreements(), self.latest_codelists()
        version = self.timestamp_version() + 1
        signed = timestamp_document(
            version=version,
            issued_at_ms=now_ms,
            expires_at_ms=now_ms + valid_for_ms,
            root=roots[-1],
            states=states,
            agreements=agreements,
            codelists=codelists,
        )
        timestamp = sign(signed, [signers] if isinstance(signers, AdminSigner) else list(signers))
        result = make_bundle(
            roots=roots, timestamp=timestamp, states=states, agreements=agreements, codelists=codelists
        )
        data = result.SerializeToString()
        try:
            TrustedDirectory(roots[0]).update(result, now_ms=now_ms)
        except VerificationError as e:
            raise UsageError(f"not published: nodes would refuse this bundle: {e}") from e
        _write_new(self.path / "timestamps" / f"{version}{_SUFFIX}", timestamp)
        write_atomic(self.path / "bundle.fpd", data)
        return data


def _code_list_body(raw: bytes) -> directory_pb2.CodeListDocument:
    return directory_pb2.CodeListDocument.FromString(parse_signed(raw, "code list").signed)


def _is_list_version(name: str) -> bool:
    try:
        list_version_key(name)
    except VerificationError:
        return False
    return True
