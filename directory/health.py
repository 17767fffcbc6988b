"""The directory health report (pure): what administrators must fix before it hurts a child.

The source papers report States that name no focal point, and the one network that works
keeps its members' contact details current (docs/domain.md §1.3); details go stale as the
people who staff a focal point change (§7). This report lists exactly those, plus keys and
documents near expiry, the labels a code list lacks for the working languages of agreements
(docs/protocol.md §5.10) and, when a node supplies its reachability results, the agreement
partners it cannot reach and how far their clocks are from its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from directory import Directory, KeyStatus
from focalpoint.v1 import directory_pb2

__all__ = ["HealthReport", "directory_health", "format_report"]

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class HealthReport:
    version: int
    no_focal_point: list[str]
    stale_contact_points: list[tuple[str, str, str]]  # (State, contact point id, last verified or "never")
    expiring_keys: list[tuple[str, str, str, int]]  # (node, kind, key id, expires at ms)
    expiring_documents: list[tuple[str, int]]  # (what, expires at ms)
    excluded_documents: list[tuple[str, str]]  # (what, why): authentic but left out (expired)
    unreachable_nodes: list[tuple[str, str]] = field(default_factory=list)  # (node, last error)
    # (partner, its clock minus this node's in ms), as measured by signed pings
    clock_offsets: list[tuple[str, int]] = field(default_factory=list)
    # Offsets beyond this need attention: half the envelopes' skew window, so they are seen
    # before messages are refused (0: offsets are shown but never flagged).
    clock_attention_ms: int = 0
    # What the node itself cannot do now (e.g. store anything, its disk being full), in words.
    node_problems: list[str] = field(default_factory=list)
    # (agreement, code-list version, working language, codes lacking a label and definition): what
    # the code list a party declares must gain before the agreement can be (or stay) in force.
    # Language "" and -1 codes: that version is not in the directory at all.
    missing_labels: list[tuple[str, str, str, int]] = field(default_factory=list)

    @property
    def clocks_disagreeing(self) -> list[tuple[str, int]]:
        limit = self.clock_attention_ms
        return [(n, o) for n, o in self.clock_offsets if limit and abs(o) > limit]

    @property
    def healthy(self) -> bool:
        return not (
            self.no_focal_point
            or self.stale_contact_points
            or self.expiring_keys
            or self.expiring_documents
            or self.excluded_documents
            or self.unreachable_nodes
            or self.clocks_disagreeing
            or self.node_problems
            or self.missing_labels
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "healthy": self.healthy,
            "node_problems": self.node_problems,
            "no_focal_point": self.no_focal_point,
            "stale_contact_points": [
                {"state": s, "contact_point": c, "last_verified": v} for s, c, v in self.stale_contact_points
            ],
            "expiring_keys": [
                {"node": n, "kind": k, "key_id": i, "expires": _iso(t)} for n, k, i, t in self.expiring_keys
            ],
            "expiring_documents": [{"document": w, "expires": _iso(t)} for w, t in self.expiring_documents],
            "excluded_documents": [{"document": w, "reason": r} for w, r in self.excluded_documents],
            "missing_labels": [
                {"agreement": a, "code_list": v, "language": lang, "codes": n} for a, v, lang, n in self.missing_labels
            ],
            "unreachable_nodes": [{"node": n, "error": e} for n, e in self.unreachable_nodes],
            "clock_offsets": [
                {"node": n, "offset_ms": o, "attention": (n, o) in self.clocks_disagreeing}
                for n, o in self.clock_offsets
            ],
        }

    def lines(self) -> list[str]:
        return format_report(self.as_dict())


def format_report(report: Mapping[str, Any]) -> list[str]:
    """Readable lines for a report in ``HealthReport.as_dict`` form (local or from a node's API)."""
    out = [f"directory version {report['version']}: {'healthy' if report['healthy'] else 'needs attention'}"]
    out += [f"  THIS NODE: {p}" for p in report.get("node_problems", [])]
    out += [f"  no focal point designated: {s}" for s in report["no_focal_point"]]
    out += [
        f"  contact point {c['state']}/{c['contact_point']} not verified since {c['last_verified']}"
        for c in report["stale_contact_points"]
    ]
    out += [f"  {k['kind']} key {k['key_id']} of {k['node']} expires {k['expires']}" for k in report["expiring_keys"]]
    out += [f"  {d['document']} expires {d['expires']}" for d in report["expiring_documents"]]
    out += [f"  {d['document']} is not in use: {d['reason']}" for d in report.get("excluded_documents", [])]
    for m in report.get("missing_labels", []):
        if m["codes"] < 0:
            out.append(f"  code list {m['code_list']} is not in the directory, needed by agreement {m['agreement']}")
        else:
            out.append(
                f"  code list {m['code_list']} lacks {m['language']} labels for {m['codes']} code(s), "
                f"needed by agreement {m['agreement']}"
            )
    out += [f"  node {n['node']} unreachable: {n['error']}" for n in report["unreachable_nodes"]]
    for c in report.get("clock_offsets", []):  # every offset is in the JSON; the text names those to act on
        if c["attention"]:
            ahead = "ahead of" if c["offset_ms"] > 0 else "behind"
            out.append(
                f"  CLOCKS DISAGREE: node {c['node']}'s clock is {abs(c['offset_ms']) / 1000:.1f} s {ahead} this node's"
            )
    return out


_LAST_MS = int(dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.UTC).timestamp() * 1000)


def _iso(ms: int) -> str:
    """A signed time as ISO 8601; one past what a date can show (a document valid "for ever") says so."""
    if ms > _LAST_MS:
        return "after 9999-12-31"
    return dt.datetime.fromtimestamp(max(ms, 0) / 1000, dt.UTC).isoformat(timespec="minutes")


def _date_ms(d: object) -> int | None:
    year, month, day = getattr(d, "year", 0), getattr(d, "month", 0), getattr(d, "day", 0)
    if not year:
        return None
    try:
        return int(dt.datetime(year, month, day, tzinfo=dt.UTC).timestamp() * 1000)
    except ValueError:
        return None


def directory_health(
    directory: Directory,
    root: directory_pb2.Root,
    *,
    now_ms: int,
    stale_days: int = 180,
    expiring_days: int = 30,
    unreachable: Mapping[str, str] | None = None,
    clock_offsets: Mapping[str, int] | None = None,
    clock_attention_ms: int = 0,
    node_problems: Sequence[str] = (),
) -> HealthReport:
    horizon = now_ms + expiring_days * DAY_MS
    delegated = {d.state for d in root.states}
    no_fp = sorted(
        (delegated - set(directory.states))
        | {s.state for s in directory.states.values() if not s.focal_point_designated}
    )
    stale: list[tuple[str, str, str]] = []
    for s in sorted(directory.states.values(), key=lambda s: s.state):
        for c in s.entry.contact_points:
            verified = _date_ms(c.last_verified)
            if verified is None or verified < now_ms - stale_days * DAY_MS:
                label = "never" if verified is None else _iso(verified)[:10]
                stale.append((s.state, c.id, label))
    keys: list[tuple[str, str, str, int]] = []
    for n in sorted(directory.nodes.values(), key=lambda n: n.node_id):
        for kind, table in (("signing", n.signing_keys), ("encryption", n.encryption_keys)):
            for key_id, info in sorted(table.items()):
                if info.status is KeyStatus.ACTIVE and info.not_after_ms and info.not_after_ms <= horizon:
                    keys.append((n.node_id, kind, key_id, info.not_after_ms))
    documents = [(f"root version {root.version}", root.expires_at_ms)] if root.expires_at_ms <= horizon else []
    documents += [
        (f"State entry {s.state} version {s.version}", s.entry.expires_at_ms)
        for s in sorted(directory.states.values(), key=lambda s: s.state)
        if s.entry.expires_at_ms <= horizon
    ]
    # An expired part makes every later bundle unverifiable until re-signed: warn well before.
    documents += [
        (f"agreement {a.agreement_id} version {a.version}", a.expires_at_ms)
        for a in sorted(directory.agreements.values(), key=lambda a: a.agreement_id)
        if a.expires_at_ms <= horizon
    ]
    documents += [
        (f"code list {c.list_version} version {c.version}", c.expires_at_ms)
        for c in directory.code_lists.values()
        if c.expires_at_ms <= horizon
    ]
    return HealthReport(
        version=directory.version,
        no_focal_point=no_fp,
        stale_contact_points=stale,
        expiring_keys=keys,
        expiring_documents=documents,
        excluded_documents=sorted(directory.excluded.items()),
        unreachable_nodes=sorted((unreachable or {}).items()),
        clock_offsets=sorted((clock_offsets or {}).items()),
        clock_attention_ms=clock_attention_ms,
        node_problems=list(node_problems),
        missing_labels=sorted(
            {(g.agreement_id, g.list_version, g.language, g.missing_codes) for g in directory.label_gaps}
        ),
    )
