"""A link's state as a fold over its events, in one order both nodes compute (docs/cases.md §Convergence).

Both nodes hold the same messages of a link but receive them in different interleavings. They
fold them in one canonical order: by the sender's signed creation time, made monotonic per
sender (a clock stepped back never reorders one sender's own messages), then sender node, then
the sender's sequence number. So the fold of the same messages gives the same stage on both
nodes, whatever order they arrived in; crossing messages resolve the same way on both sides
(two proposals: the earlier stands and the later counts as its counter-proposal).

A message the table does not allow in its place is kept, flagged for the operator, and changes
nothing; a message is applied at most once (by message id).
"""

from __future__ import annotations

from collections.abc import Iterable

from focalpoint.cases.events import Event, IdentityReply, Origin
from focalpoint.cases.stages import Side, Stage
from focalpoint.cases.state import Flag, LinkState, Plan, Proposal, Rules
from focalpoint.cases.transitions import EVIDENCE_KINDS, judge

__all__ = ["apply", "canonical_order", "fold", "new_link", "settle"]

_DAY_MS = 86_400_000


def new_link(*, our_side: Side, is_state: str, os_state: str) -> LinkState:
    """An empty link seen from ``our_side``."""
    return LinkState(our_side=our_side, is_state=is_state, os_state=os_state)


def canonical_order(events: Iterable[Event]) -> list[Event]:
    """The one order both nodes fold a link's messages in; local actions keep their place by time.

    A message sorts by its sender's signed time, made monotonic per sender, and never before a
    message it answers or refers to: a reply from a node whose clock is behind still comes after
    the request it answers (the references are signed, so both nodes see the same ones).
    """
    by_sender: dict[str, list[Event]] = {}
    for e in events:
        # Local actions are never sent, so they have no sequence; they keep their own time order.
        by_sender.setdefault("" if e.origin is Origin.LOCAL else e.sender_node, []).append(e)
    chains = {sender: sorted(own, key=lambda e: (e.sequence, e.at_ms)) for sender, own in by_sender.items()}
    effective: dict[bytes, int] = {}
    # Each pass raises a message to its sender's previous one and just after what it refers to;
    # references point back in causal order, so a few passes settle it (bounded by the chain count).
    for _ in range(len(chains) + 2):
        changed = False
        for sender, chain in chains.items():
            clock = 0
            for e in chain:
                at = max(clock, e.at_ms)
                if sender:
                    for ref in (e.in_reply_to, e.facts.refers_to):
                        if ref and ref in effective and ref != e.message_id:
                            at = max(at, effective[ref] + 1)
                if effective.get(e.message_id) != at:
                    effective[e.message_id] = at
                    changed = True
                clock = at
        if not changed:
            break
    keyed = [
        (effective[e.message_id], sender, e.sequence, i, e)
        for sender, chain in chains.items()
        for i, e in enumerate(chain)
    ]
    keyed.sort(key=lambda k: k[:4])
    return [k[4] for k in keyed]


def fold(
    events: Iterable[Event], *, our_side: Side, is_state: str, os_state: str, rules: Rules, now_ms: int
) -> LinkState:
    """The state of a link after all its ``events``, settled at ``now_ms``."""
    state = new_link(our_side=our_side, is_state=is_state, os_state=os_state)
    seen: set[bytes] = set()
    for event in canonical_order(events):
        if event.message_id in seen:
            continue
        seen.add(event.message_id)
        apply(state, event, rules)
    return settle(state, rules, now_ms)


def settle(state: LinkState, rules: Rules, now_ms: int) -> LinkState:
    """Apply what time alone does: an unanswered closure request closes the link (T18)."""
    if state.stage is Stage.CLOSING and now_ms >= state.closure_at_ms + rules.closure_response_days * _DAY_MS:
        state.history.append((now_ms, Stage.CLOSING, Stage.CLOSED, "T18"))
        state.stage, state.stage_since_ms, state.unilateral = Stage.CLOSED, now_ms, True
    return state


def apply(state: LinkState, event: Event, rules: Rules) -> str | None:
    """Apply one event; return None, or why it was flagged instead (the state records the flag)."""
    if event.origin is Origin.LOCAL:
        _local(state, event)
        return None
    verdict = judge(state, event, rules, event.at_ms)
    state.kinds_by_id[event.message_id] = (event.kind, event.sender_side)
    if verdict.problem is not None:
        state.flagged.append(Flag(event.message_id, event.kind, verdict.problem))
        return verdict.problem
    _effects(state, event, verdict.row)
    state.applied += 1
    if verdict.to is not None:
        to = verdict.to
        if verdict.row == "T15":
            state.before_closing = state.stage
        if verdict.row == "T17" and state.before_closing is not None:
            to = state.before_closing
        state.record(event, to, verdict.row)
    elif verdict.row == "T17" and state.before_closing is not None:
        state.record(event, state.before_closing, "T17")
    _shared_flags(state, event)
    return None


def _local(state: LinkState, event: Event) -> None:
    if event.kind == "local:open":
        state.identified_at_ms = event.facts.identified_at_ms or state.identified_at_ms
        state.stage_since_ms = event.at_ms
    elif event.kind == "local:missing":
        _set_missing(state, event.facts.missing, event.at_ms)


def _set_missing(state: LinkState, missing: bool, at_ms: int) -> None:
    if missing and not state.missing:
        state.missing, state.missing_since_ms, state.last_missing_ms = True, at_ms, at_ms
    elif not missing:
        state.missing = False


def _shared_flags(state: LinkState, event: Event) -> None:
    if event.kind == "protection_alert":
        alert = event.facts.alert_type
        if alert == "MISSING":
            _set_missing(state, True, event.at_ms)
        elif alert == "FOUND":
            _set_missing(state, False, event.at_ms)
        elif alert == "DETAINED":
            state.detained = True
        elif alert == "RELEASED":
            state.detained = False
        elif alert == "REMOVAL_SCHEDULED":
            state.removal_scheduled = True
        elif alert == "REMOVAL_SUSPENDED":
            state.removal_scheduled = False


def _effects(state: LinkState, event: Event, row: str) -> None:
    f = event.facts
    kind = event.kind
    if row in ("T2", "T3"):
        state.opening_id, state.opener = event.message_id, event.sender_side
        state.identified_at_ms = f.identified_at_ms or state.identified_at_ms
        # A guardian already appointed when the case was notified ends the guardian ladder too.
        state.guardian_appointed_at_ms = state.guardian_appointed_at_ms or f.guardian_appointed_at_ms
    elif kind in EVIDENCE_KINDS and f.evidence is not None:
        state.evidence[event.message_id] = (kind, event.sender_side, event.at_ms, f.evidence)
        if isinstance(f.evidence, IdentityReply):
            if f.evidence.adult_by_registry:
                state.minority = "VERIFIED_ADULT"
            elif f.evidence.minority == "VERIFIED_MINOR" and state.minority != "VERIFIED_ADULT":
                state.minority = "VERIFIED_MINOR"
    elif row == "T7":
        state.proposal = _proposal(event, f.solution, f.solution_state)
    elif row == "T8":
        state.proposal = _proposal(event, f.solution, f.solution_state)
        state.counter_rounds += 1
    elif row in ("T9", "WD") and state.proposal and (f.refers_to or event.in_reply_to) == state.proposal.message_id:
        state.proposal = None
    elif row == "T10":
        state.agreed, state.proposal = state.proposal, None
    elif row == "T11":
        state.plan = Plan(
            event.message_id,
            event.sender_side,
            frozenset({event.sender_side}),
            f.latest_departure_day,
            f.no_detention_assurance,
        )
    elif row == "T12" and state.plan is not None:
        p = state.plan
        state.plan = Plan(
            p.message_id,
            p.sender_side,
            p.accepted_by | {event.sender_side},
            p.latest_departure_day,
            p.no_detention_assurance,
        )
    elif row == "T13":
        state.departed_gate_met = bool(f.gate and not f.gate.missing)  # I3: met without any waiver
    elif row == "T15":
        state.closure_id, state.closure_side, state.closure_at_ms = event.message_id, event.sender_side, event.at_ms
        state.outcome = f.closure_outcome
    elif row == "GN":
        state.guardian_appointed_at_ms = f.guardian_appointed_at_ms or state.guardian_appointed_at_ms
    elif row == "T17":
        state.closure_id, state.closure_side, state.outcome = b"", None, ""
    if kind == "withdrawal":
        state.withdrawn.add(f.refers_to or event.in_reply_to)
    elif kind == "amendment" and f.replacement is not None:
        old = f.refers_to
        state.superseded[old] = event.message_id
        rep = f.replacement
        if old in state.evidence and rep.evidence is not None:
            k, side, at, _ = state.evidence[old]
            state.evidence[old] = (k, side, at, rep.evidence)
        if row == "AM" and old == state.opening_id and rep.identified_at_ms:
            state.identified_at_ms = rep.identified_at_ms
    elif kind == "clarification_request" and f.stops_clock:
        state.on_hold.add(event.message_id)
    elif kind == "clarification_response":
        state.on_hold.discard(f.refers_to or event.in_reply_to)
    if event.sender_side is Side.IS:
        state.family_contact = f.family_contact
    if f.age_out_day:
        state.age_out_day = f.age_out_day
    if f.missing and event.kind != "protection_alert":
        _set_missing(state, True, event.at_ms)


def _proposal(event: Event, solution: str, solution_state: str) -> Proposal:
    return Proposal(event.message_id, event.body_sha256, event.sender_side, solution, solution_state, event.at_ms)
