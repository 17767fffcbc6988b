"""The state diagram of a link, drawn from the transition table (so the officials' guide cannot drift)."""

from __future__ import annotations

from focalpoint.cases.stages import Stage
from focalpoint.cases.transitions import TABLE

__all__ = ["mermaid"]

_MANY = 6


def mermaid() -> str:
    """A Mermaid ``stateDiagram-v2`` of every stage-changing row, one arrow per (from, to, row)."""
    lines = ["stateDiagram-v2", "    [*] --> OPEN: T1 open a case", "    [*] --> RECEIVED: T3 first message received"]
    arrows: dict[tuple[str, str], list[str]] = {}
    for row in TABLE:
        if row.to is None or row.id == "T3":
            continue
        # A row open to most stages is drawn once, from "any open stage", not from each of them.
        sources = (
            ["ANY_OPEN_STAGE"]
            if len(row.from_stages) >= _MANY
            else [s.value for s in sorted(row.from_stages, key=list(Stage).index) if s is not row.to]
        )
        for source in sources:
            labels = arrows.setdefault((source, row.to.value), [])
            label = f"{row.id} {row.kind}"
            if label not in labels:
                labels.append(label)
    arrows.setdefault(("CLOSING", "CLOSED"), []).append("T18 closure clock expires")
    arrows.setdefault(("CLOSING", "ANY_OPEN_STAGE"), []).append("T17 request_refusal, back to the stage before")
    for (src, dst), labels in arrows.items():
        lines.append(f"    {src} --> {dst}: {'; '.join(labels)}")
    for terminal in ("CLOSED", "REFUSED", "WITHDRAWN"):
        lines.append(f"    {terminal} --> [*]")
    return "\n".join(lines) + "\n"
