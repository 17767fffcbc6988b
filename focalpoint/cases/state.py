"""A link's state: what the fold of its events has established (pure, mutable only while folding)."""

from __future__ import annotations

import dataclasses

from focalpoint.cases.events import Event, Evidence
from focalpoint.cases.stages import Side, Stage

__all__ = ["Flag", "LinkState", "Plan", "Proposal", "Rules"]


@dataclasses.dataclass(frozen=True, slots=True)
class Rules:
    """The agreement's case rules the workflow needs (defaults where an agreement is silent)."""

    max_counter_rounds: int = 3
    closure_response_days: int = 30
    risk_assessment_max_age_days: int = 90
    waivable: frozenset[str] = frozenset()  # conditions the agreement waives (only G4, G5 may be)
    guardian_deadline_hours: int = 24
    kinds_when_suspended: frozenset[str] = frozenset({"withdrawal", "protection_alert"})


@dataclasses.dataclass(frozen=True, slots=True)
class Proposal:
    """The open durable-solution proposal (or the counter that replaced it)."""

    message_id: bytes
    body_sha256: bytes
    sender_side: Side
    solution: str
    solution_state: str
    at_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """The current repatriation plan and who has accepted it (its sender accepts by sending)."""

    message_id: bytes
    sender_side: Side
    accepted_by: frozenset[Side]
    latest_departure_day: int
    no_detention_assurance: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Flag:
    """A message that arrived out of stage or failed a guard: stored, shown to the operator, not applied."""

    message_id: bytes
    kind: str
    reason: str


@dataclasses.dataclass(slots=True)
class LinkState:
    """Everything the transition table's guards and the gate read about one link."""

    our_side: Side
    is_state: str  # ISO code of the identifying State
    os_state: str  # ISO code of the State of origin
    stage: Stage = Stage.OPEN
    stage_since_ms: int = 0
    before_closing: Stage | None = None
    opening_id: bytes = b""
    opener: Side | None = None
    identified_at_ms: int = 0
    # The presumption of minority: only a civil-registry or population-register answer giving
    # 18+ ends it (docs/cases.md, age); an answer confirming minority verifies it.
    minority: str = "PRESUMED_MINOR"
    guardian_appointed_at_ms: int = 0
    # The family-contact rule as the identifying State last set it ("" before its first message):
    # sticky, only it may relax it.
    family_contact: str = ""
    age_out_day: int = 0  # the 18th birthday on the youngest plausible reading, as last sent
    kinds_by_id: dict[bytes, tuple[str, Side]] = dataclasses.field(default_factory=dict)
    proposal: Proposal | None = None
    counter_rounds: int = 0
    agreed: Proposal | None = None
    plan: Plan | None = None
    closure_id: bytes = b""
    closure_side: Side | None = None
    closure_at_ms: int = 0
    outcome: str = ""
    unilateral: bool = False
    departed_gate_met: bool = False
    evidence: dict[bytes, tuple[str, Side, int, Evidence]] = dataclasses.field(default_factory=dict)
    withdrawn: set[bytes] = dataclasses.field(default_factory=set)
    superseded: dict[bytes, bytes] = dataclasses.field(default_factory=dict)
    missing: bool = False
    missing_since_ms: int = 0
    last_missing_ms: int = 0
    detained: bool = False
    removal_scheduled: bool = False
    on_hold: set[bytes] = dataclasses.field(default_factory=set)
    flagged: list[Flag] = dataclasses.field(default_factory=list)
    applied: int = 0
    history: list[tuple[int, Stage, Stage, str]] = dataclasses.field(default_factory=list)

    def kind_of(self, message_id: bytes) -> str:
        known = self.kinds_by_id.get(message_id)
        return known[0] if known else ""

    def side_of(self, message_id: bytes) -> Side | None:
        known = self.kinds_by_id.get(message_id)
        return known[1] if known else None

    def latest(self, kind: str, *, side: Side | None = None) -> tuple[int, Evidence] | None:
        """The newest evidence of ``kind`` (optionally sent by ``side``), not withdrawn; amendments applied."""
        best: tuple[int, Evidence] | None = None
        for mid, (k, s, at, ev) in self.evidence.items():
            if k != kind or mid in self.withdrawn or (side is not None and s is not side):
                continue
            if best is None or at >= best[0]:
                best = (at, ev)
        return best

    def record(self, event: Event, to: Stage, rule: str) -> None:
        if to is not self.stage:
            self.history.append((event.at_ms, self.stage, to, rule))
            self.stage = to
            self.stage_since_ms = event.at_ms
