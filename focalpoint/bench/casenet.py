"""The node the ``bench cases`` store belongs to: its id and State, its partners, the bench's "now",
and the directory case work reads (shared by the benchmark and the process that computes its
reports over the same store)."""

from __future__ import annotations

from directory import Directory, NodeInfo
from focalpoint.bench.casedata import DAY_MS
from focalpoint.localnet.samples import SAMPLE_AT_MS

__all__ = ["_ME", "_MY_STATE", "_NOW_MS", "_PARTNER_STATES", "_directory", "_partner"]

_NOW_MS = SAMPLE_AT_MS  # the bench's "now": every history lies before it
_ME, _MY_STATE = "gr-ekka", "GR"
_PARTNER_STATES = ("AL", "NG", "VN", "MA", "UA", "RO", "AF", "ER", "SY", "BD")


def _partner(state: str) -> str:
    return f"{state.lower()}-fp"


def _directory() -> Directory:
    """The nodes case work looks up (only their States are read); no keys, as no envelope is opened."""
    nodes = [
        NodeInfo(
            node_id=node,
            state=state,
            institution="",
            endpoint="",
            tls_keys=(),
            signing_keys={},
            encryption_keys={},
            languages=(),
            _verifiers={},
            _encryption={},
        )
        for node, state in [(_ME, _MY_STATE), *((_partner(s), s) for s in _PARTNER_STATES)]
    ]
    return Directory.build(version=1, issued_at_ms=0, expires_at_ms=_NOW_MS + 365 * DAY_MS, nodes=nodes, raw=b"")
