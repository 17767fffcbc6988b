"""The transition table as data, and ``judge``: one decision for both States (docs/cases.md §Transitions).

Every message on a link is judged by the same table, whether a local official submits it or a
partner's node sent it, so the two States never disagree on what a message does. A row matches a
message by kind, sending side, the node's view of it (sent, received or either), the stage, and a
selector (which earlier message it refers to); its guards then decide. A failed guard refuses a
submission before anything is signed, and flags a received message for the operator without
refusing it (no refusal loops between two States).

Guards judge only what both nodes hold (the messages of the link, and the gate status carried
inside them). What only the sending node knows — the evidence behind the gate, a local MISSING
flag, who may approve — is checked by the sending node in addition (``gate.evaluate``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from focalpoint.cases.events import Event, Origin
from focalpoint.cases.stages import ACTIVE, BEFORE_ASSESSMENT, TERMINAL, Side, Stage
from focalpoint.cases.state import LinkState, Rules

__all__ = [
    "APPROVED_KINDS",
    "CONTACT_STRICTNESS",
    "EVIDENCE_KINDS",
    "OPENING_KINDS",
    "REQUEST_KINDS",
    "TABLE",
    "Row",
    "Verdict",
    "closure_outcome_allowed",
    "judge",
    "needs_approval",
]

OPENING_KINDS = frozenset({"case_notification", "tracing_request"})
REQUEST_KINDS = frozenset({"social_inquiry_request", "identity_verification_request", "risk_assessment_request"})
EVIDENCE_KINDS = frozenset(
    {
        "social_inquiry_report",
        "identity_verification_reply",
        "risk_assessment_report",
        "child_views_record",
        "reintegration_plan",
    }
)
# Kinds a second person must approve before the node signs them (CO+A).
APPROVED_KINDS = frozenset(
    {
        "durable_solution_proposal",
        "durable_solution_counter_proposal",
        "durable_solution_agreement",
        "repatriation_plan_acceptance",
        "case_closure",
    }
)
# Which State may send each kind; absent = either.
SENDERS: dict[str, frozenset[Side]] = {
    "case_notification": frozenset({Side.IS}),
    "tracing_request": frozenset({Side.OS}),
    "social_inquiry_request": frozenset({Side.IS}),
    "social_inquiry_report": frozenset({Side.OS}),
    "guardian_appointment_notice": frozenset({Side.IS}),
    "identity_verification_request": frozenset({Side.IS}),
    "identity_verification_reply": frozenset({Side.OS}),
    "child_views_record": frozenset({Side.IS}),
    "reintegration_plan": frozenset({Side.OS}),
    "return_status_update": frozenset({Side.IS}),
    "handover_confirmation": frozenset({Side.OS}),
    "follow_up_report": frozenset({Side.OS}),
}
# Answers must answer: the kind of request each answer's in_reply_to must name.
ANSWERS = {
    "social_inquiry_report": "social_inquiry_request",
    "identity_verification_reply": "identity_verification_request",
}
# Closure outcomes and the stages they may close from (empty = any stage).
_CLOSURE_STAGES: dict[str, frozenset[Stage]] = {
    "RETURNED_SUSTAINED_12M": frozenset({Stage.FOLLOW_UP}),
    "RETURNED_MOVED_ON_BY_CHOICE": frozenset({Stage.FOLLOW_UP}),
    "RETURNED_FOLLOW_UP_INCOMPLETE": frozenset({Stage.FOLLOW_UP}),
    "RETURNED_WHEREABOUTS_UNKNOWN": frozenset({Stage.FOLLOW_UP}),
    "THIRD_STATE_SOLUTION": frozenset({Stage.FOLLOW_UP}),
    "REMAINED_IN_IS": frozenset({Stage.LOCAL_SOLUTION}),
    "MISSING_NOT_FOUND": frozenset(),
    "RE_TRAFFICKED": frozenset(),
    "AGED_OUT_WITH_TRANSITION_PLAN": frozenset(),
    "AGED_OUT_WITHOUT_PLAN": frozenset(),
    "DECEASED": frozenset(),
    "IDENTIFIED_AS_ADULT_VERIFIED": frozenset(),
    "NOT_A_NATIONAL_REDIRECTED": frozenset(),
    "DUPLICATE": frozenset(),
    "WITHDRAWN_IN_ERROR": frozenset(),
}
# Facts, not judgements: a closure NOTICE with one of these closes at once (no objection possible).
_NOTICE_OUTCOMES = frozenset({"DECEASED", "IDENTIFIED_AS_ADULT_VERIFIED", "DUPLICATE", "NOT_A_NATIONAL_REDIRECTED"})

# How protective each family-contact rule is: a message of the State of origin may repeat the
# identifying State's rule or tighten it, never relax it (the rule is sticky).
CONTACT_STRICTNESS = {"CONTACT_ALLOWED": 0, "CONSULT_SENDER_FIRST": 1, "NO_CONTACT_NAMED": 2, "NO_CONTACT": 3}

Guard = Callable[[LinkState, Event, Rules, int], str | None]
Selector = Callable[[LinkState, Event], bool]


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    """One transition: ``kind`` sent by ``senders`` in ``from_stages`` moves to ``to`` (None: stays)."""

    id: str
    kind: str
    from_stages: frozenset[Stage]
    to: Stage | None
    select: str = "always"
    guards: tuple[str, ...] = ()
    origin: Origin | None = None  # None: either view
    senders: frozenset[Side] | None = None  # None: SENDERS[kind] or either


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """What a message does on the link: the row that matched and the stage after, or why not."""

    row: str
    to: Stage | None
    problem: str | None = None

    @property
    def allowed(self) -> bool:
        return self.problem is None


_ALIVE = ACTIVE - {Stage.CLOSING}
_BEFORE_AGREEMENT = frozenset({Stage.ACKNOWLEDGED, Stage.ASSESSMENT})
_S = frozenset

TABLE: tuple[Row, ...] = (
    Row("T2", "case_notification", _S({Stage.OPEN}), Stage.NOTIFIED, "unopened", origin=Origin.SENT),
    Row("T3", "case_notification", _S({Stage.OPEN}), Stage.RECEIVED, "unopened", origin=Origin.RECEIVED),
    Row("T2", "tracing_request", _S({Stage.OPEN}), Stage.NOTIFIED, "unopened", origin=Origin.SENT),
    Row("T3", "tracing_request", _S({Stage.OPEN}), Stage.RECEIVED, "unopened", origin=Origin.RECEIVED),
    Row(
        "T4",
        "acknowledgement",
        _S({Stage.NOTIFIED, Stage.RECEIVED}),
        Stage.ACKNOWLEDGED,
        "acks_opening",
        ("by_receiver_of_opening", "unit_assigned"),
    ),
    Row("T16", "acknowledgement", _S({Stage.CLOSING}), Stage.CLOSED, "acks_closure", ("not_closure_sender",)),
    Row("ACK", "acknowledgement", ACTIVE, None, "acks_known", ("not_own_message",)),
    # The receiver's node answers the withdrawal that ended the link (APPLIED): the one message after it.
    Row("ACK", "acknowledgement", _S({Stage.WITHDRAWN}), None, "applies_withdrawal", ("not_own_message",)),
    Row("T5", "social_inquiry_request", BEFORE_ASSESSMENT, Stage.ASSESSMENT),
    Row("T5", "social_inquiry_request", _ALIVE - BEFORE_ASSESSMENT, None),
    Row("T5", "identity_verification_request", BEFORE_ASSESSMENT, Stage.ASSESSMENT),
    Row("T5", "identity_verification_request", _ALIVE - BEFORE_ASSESSMENT, None),
    Row("T5", "risk_assessment_request", BEFORE_ASSESSMENT, Stage.ASSESSMENT),
    Row("T5", "risk_assessment_request", _ALIVE - BEFORE_ASSESSMENT, None),
    *(Row("T6", kind, _ALIVE, None, guards=("answers_request",)) for kind in sorted(EVIDENCE_KINDS)),
    Row(
        "T8",
        "durable_solution_proposal",
        _S({Stage.NEGOTIATION}),
        Stage.NEGOTIATION,
        "crosses_open_proposal",
        ("approved", "not_missing", "rounds_left", "gate", "origin_plan_sent", "departure_reason"),
    ),
    Row(
        "T7",
        "durable_solution_proposal",
        _BEFORE_AGREEMENT,
        Stage.NEGOTIATION,
        "no_open_proposal",
        ("approved", "not_missing", "gate", "origin_plan_sent", "departure_reason"),
    ),
    Row(
        "T8",
        "durable_solution_counter_proposal",
        _S({Stage.NEGOTIATION}),
        Stage.NEGOTIATION,
        "always",
        (
            "approved",
            "not_proposer",
            "binds_open_proposal",
            "not_missing",
            "rounds_left",
            "gate",
            "origin_plan_sent",
            "departure_reason",
        ),
    ),
    Row(
        "T10",
        "durable_solution_agreement",
        _S({Stage.NEGOTIATION}),
        Stage.RETURN_PREPARATION,
        "crosses_border",
        ("approved", "not_proposer", "binds_open_proposal", "same_solution", "not_missing", "gate"),
    ),
    Row(
        "T10",
        "durable_solution_agreement",
        _S({Stage.NEGOTIATION}),
        Stage.LOCAL_SOLUTION,
        "always",
        ("approved", "not_proposer", "binds_open_proposal", "same_solution", "not_missing", "origin_plan_sent"),
    ),
    Row("T11", "repatriation_plan", _S({Stage.RETURN_PREPARATION}), None, guards=("not_missing",)),
    Row(
        "T12",
        "repatriation_plan_acceptance",
        _S({Stage.RETURN_PREPARATION}),
        None,
        "always",
        ("approved", "accepts_current_plan", "no_detention", "not_missing", "gate"),
    ),
    Row(
        "T13",
        "return_status_update",
        _S({Stage.RETURN_PREPARATION}),
        Stage.RETURN_IN_PROGRESS,
        "departed",
        ("plan_accepted", "within_departure_window", "not_missing", "gate"),
    ),
    Row("RS", "return_status_update", _S({Stage.RETURN_IN_PROGRESS}), Stage.RETURN_PREPARATION, "cancelled"),
    Row("RS", "return_status_update", _S({Stage.RETURN_PREPARATION, Stage.RETURN_IN_PROGRESS}), None, "not_departed"),
    Row("T14", "handover_confirmation", _S({Stage.RETURN_IN_PROGRESS}), Stage.FOLLOW_UP),
    Row("FU", "follow_up_report", _S({Stage.FOLLOW_UP}), None),
    Row("T15", "case_closure", _S({Stage.CLOSING}), None, "closure_request", ("not_already_closing",)),
    Row("T15", "case_closure", _ALIVE, Stage.CLOSED, "closure_notice", ("approved", "outcome_for_stage")),
    Row("T15", "case_closure", _ALIVE, Stage.CLOSING, "closure_request", ("approved", "outcome_for_stage")),
    Row(
        "T19",
        "request_refusal",
        _S({Stage.RECEIVED, Stage.NOTIFIED, Stage.ACKNOWLEDGED}),
        Stage.REFUSED,
        "refuses_opening_finally",
        ("by_receiver_of_opening",),
    ),
    Row(
        "T9",
        "request_refusal",
        _S({Stage.NEGOTIATION}),
        Stage.ASSESSMENT,
        "refuses_open_proposal",
        ("approved", "not_proposer"),
    ),
    Row("T17", "request_refusal", _S({Stage.CLOSING}), None, "objects_to_closure", ("not_closure_sender", "approved")),
    Row("RR", "request_refusal", ACTIVE, None, "refers_to_known", ("not_own_message",)),
    Row("T20", "withdrawal", ACTIVE, Stage.WITHDRAWN, "withdraws_opening", ("own_message", "approved")),
    Row("WD", "withdrawal", _S({Stage.NEGOTIATION}), Stage.ASSESSMENT, "withdraws_open_proposal", ("own_message",)),
    Row("WD", "withdrawal", ACTIVE, None, "refers_to_known", ("own_message", "not_withdrawn")),
    Row("AM", "amendment", ACTIVE, None, "refers_to_known", ("own_message", "not_withdrawn", "same_kind")),
    Row("AL", "protection_alert", ACTIVE, None),
    Row("GN", "guardian_appointment_notice", ACTIVE, None, guards=("late_guardian_says_why",)),
    Row("CL", "clarification_request", ACTIVE, None),
    Row("CL", "clarification_response", ACTIVE, None, "refers_to_known", ("not_own_message",)),
    Row("RM", "reminder", ACTIVE, None, "refers_to_known", ("own_message",)),
)


def closure_outcome_allowed(outcome: str, stage: Stage) -> bool:
    """Whether a link in ``stage`` may close with ``outcome`` (docs/cases.md §Closure)."""
    stages = _CLOSURE_STAGES.get(outcome)
    return stages is not None and (not stages or stage in stages)


# -- selectors: which row a message is, from what it refers to ----------------------------------


def _refers(state: LinkState, event: Event) -> bytes:
    return event.facts.refers_to or event.in_reply_to


_SELECTORS: dict[str, Selector] = {
    "always": lambda s, e: True,
    "unopened": lambda s, e: not s.opening_id,
    "acks_opening": lambda s, e: (
        bool(s.opening_id)
        and _refers(s, e) == s.opening_id
        and e.facts.ack_kind in ("RECEIVED_AND_ASSIGNED", "SEARCHING")
    ),
    "acks_closure": lambda s, e: bool(s.closure_id) and _refers(s, e) == s.closure_id,
    "acks_known": lambda s, e: _refers(s, e) in s.kinds_by_id,
    "applies_withdrawal": lambda s, e: s.kind_of(_refers(s, e)) == "withdrawal" and e.facts.ack_kind == "APPLIED",
    "refers_to_known": lambda s, e: _refers(s, e) in s.kinds_by_id,
    "crosses_open_proposal": lambda s, e: s.proposal is not None and s.proposal.sender_side is not e.sender_side,
    "no_open_proposal": lambda s, e: s.proposal is None,
    "crosses_border": lambda s, e: s.proposal is not None and s.proposal.solution_state != s.is_state,
    "departed": lambda s, e: e.facts.return_status == "DEPARTED",
    "cancelled": lambda s, e: e.facts.return_status == "CANCELLED",
    "not_departed": lambda s, e: e.facts.return_status not in ("DEPARTED", ""),
    "closure_request": lambda s, e: e.facts.closure_action != "NOTICE",
    "closure_notice": lambda s, e: e.facts.closure_action == "NOTICE" and e.facts.closure_outcome in _NOTICE_OUTCOMES,
    "refuses_opening_finally": lambda s, e: (
        bool(s.opening_id) and _refers(s, e) == s.opening_id and e.facts.refusal_final
    ),
    "refuses_open_proposal": lambda s, e: s.proposal is not None and _refers(s, e) == s.proposal.message_id,
    "objects_to_closure": lambda s, e: _refers(s, e) == s.closure_id and e.facts.refusal_reason == "OBJECTS_TO_CLOSURE",
    "withdraws_opening": lambda s, e: bool(s.opening_id) and _refers(s, e) == s.opening_id,
    "withdraws_open_proposal": lambda s, e: s.proposal is not None and _refers(s, e) == s.proposal.message_id,
}


# -- guards: each answers None (holds) or what is wrong, naming no content ---------------------


def _is_cross_border(state: LinkState, event: Event) -> bool:
    if event.kind in ("repatriation_plan_acceptance", "return_status_update"):
        return True
    solution_state = event.facts.solution_state or (state.proposal.solution_state if state.proposal else "")
    return bool(solution_state) and solution_state != state.is_state


def _gate(state: LinkState, event: Event, rules: Rules, now_ms: int) -> str | None:
    if event.sender_side is not Side.IS or not _is_cross_border(state, event):
        return None
    claim = event.facts.gate
    if claim is None:
        return "the identifying State signs a cross-border move only with the gate's status inside"
    if not claim.passes(rules.waivable):
        left = claim.missing - rules.waivable - claim.waived
        return f"the return gate is not met ({', '.join(sorted(left)) or 'override not approved by a second person'})"
    return None


def _approved(state: LinkState, event: Event, rules: Rules, now_ms: int) -> str | None:
    a = event.facts.approval
    if a is None or not a.approved_by:
        return "a second person must approve it"
    if a.approved_by == a.prepared_by:
        return "the person who prepared it cannot approve it"
    return None


def _origin_plan_sent(state: LinkState, event: Event, rules: Rules, now_ms: int) -> str | None:
    solution_state = event.facts.solution_state or (state.proposal.solution_state if state.proposal else "")
    if (
        event.sender_side is Side.OS
        and solution_state == state.os_state
        and state.latest("reintegration_plan", side=Side.OS) is None
    ):
        return "the State of origin proposes or accepts a solution at home only after sending its reintegration plan"
    return None


def _departure_reason(state: LinkState, event: Event, rules: Rules, now_ms: int) -> str | None:
    if event.facts.departs_from_child_views and not event.facts.departure_reason_given:
        return "a solution departing from the child's views needs the reason"
    return None


def _rounds_left(state: LinkState, event: Event, rules: Rules, now_ms: int) -> str | None:
    if state.counter_rounds >= rules.max_counter_rounds:
        return f"the agreement allows {rules.max_counter_rounds} counter-proposals; escalate to the focal-point heads"
    return None


def _binds_open_proposal(state: LinkState, event: Event, rules: Rules, now_ms: int) -> str | None:
    p = state.proposal
    if p is None or event.facts.refers_to != p.message_id:
        return "it must name the open proposal"
    if event.facts.refers_sha256 != p.body_sha256:
        return "it must bind the open proposal's exact bytes (body_sha256 differs)"
    return None


def _same_solution(state: LinkState, event: Event, rules: Rules, now_ms: int) -> str | None:
    p = state.proposal
    if p is None or (event.facts.solution, event.facts.solution_state) != (p.solution, p.solution_state):
        return "the agreed solution must be the proposed one"
    return None


def _plan_accepted(state: LinkState, event: Event, rules: Rules, now_ms: int) -> str | None:
    if state.plan is None or state.plan.accepted_by != {Side.IS, Side.OS}:
        return "both States must have accepted the repatriation plan"
    return None


def _within_departure_window(state: LinkState, event: Event, rules: Rules, now_ms: int) -> str | None:
    if state.plan and state.plan.latest_departure_day and event.at_ms // 86_400_000 > state.plan.latest_departure_day:
        return "the plan's latest departure date has passed; send a new plan"
    return None


def _accepts_current_plan(state: LinkState, event: Event, rules: Rules, now_ms: int) -> str | None:
    if state.plan is None or event.facts.refers_to != state.plan.message_id:
        return "it must name the current repatriation plan"
    if event.sender_side is state.plan.sender_side:
        return "the plan's sender accepts it by sending it"
    return None


def _no_detention(state: LinkState, event: Event, rules: Rules, now_ms: int) -> str | None:
    if state.plan is None or not state.plan.no_detention_assurance:
        return "the plan must assure that the child will not be detained"
    return None


def _by_receiver_of_opening(state: LinkState, event: Event, rules: Rules, now_ms: int) -> str | None:
    if state.opener is None or event.sender_side is state.opener:
        return "only the State that received the opening message may do this"
    return None


def _own_message(state: LinkState, event: Event, rules: Rules, now_ms: int) -> str | None:
    if state.side_of(_refers(state, event)) is not event.sender_side:
        return "it must name the sender's own earlier message"
    return None


def _not_own_message(state: LinkState, event: Event, rules: Rules, now_ms: int) -> str | None:
    if state.side_of(_refers(state, event)) is event.sender_side:
        return "it must name the other State's message"
    return None


def _late_guardian_says_why(state: LinkState, event: Event, rules: Rules, now_ms: int) -> str | None:
    hours = min(rules.guardian_deadline_hours or 24, 24)
    appointed = event.facts.guardian_appointed_at_ms
    late = bool(state.identified_at_ms and appointed) and appointed - state.identified_at_ms > hours * 3_600_000
    if late and not event.facts.delay_reason_given:
        return f"the guardian was appointed more than {hours} hours after identification: say why (delay_reason)"
    return None


_GUARDS: dict[str, Guard] = {
    "approved": _approved,
    "late_guardian_says_why": _late_guardian_says_why,
    "gate": _gate,
    "origin_plan_sent": _origin_plan_sent,
    "departure_reason": _departure_reason,
    "rounds_left": _rounds_left,
    "binds_open_proposal": _binds_open_proposal,
    "same_solution": _same_solution,
    "plan_accepted": _plan_accepted,
    "within_departure_window": _within_departure_window,
    "accepts_current_plan": _accepts_current_plan,
    "no_detention": _no_detention,
    "by_receiver_of_opening": _by_receiver_of_opening,
    "own_message": _own_message,
    "not_own_message": _not_own_message,
    "not_missing": lambda s, e, r, n: (
        "the child is missing: no solution or return step until found" if s.missing else None
    ),
    "not_proposer": lambda s, e, r, n: (
        "the proposer cannot answer its own proposal"
        if s.proposal is not None and s.proposal.sender_side is e.sender_side
        else None
    ),
    "unit_assigned": lambda s, e, r, n: (
        "the acknowledgement must name the unit in charge"
        if e.facts.ack_kind == "RECEIVED_AND_ASSIGNED" and not e.facts.assigned_unit
        else None
    ),
    "not_closure_sender": lambda s, e, r, n: (
        "the State that asked to close cannot answer its own request" if s.closure_side is e.sender_side else None
    ),
    "not_already_closing": lambda s, e, r, n: "a closure is already pending",
    "outcome_for_stage": lambda s, e, r, n: (
        None
        if closure_outcome_allowed(e.facts.closure_outcome, s.stage)
        else f"outcome {e.facts.closure_outcome or '(none)'} cannot close a link in {s.stage.value}"
    ),
    "answers_request": lambda s, e, r, n: (
        f"it must answer a {ANSWERS[e.kind]} of this link"
        if e.kind in ANSWERS and s.kind_of(e.in_reply_to) != ANSWERS[e.kind]
        else None
    ),
    "not_withdrawn": lambda s, e, r, n: "that message was withdrawn" if _refers(s, e) in s.withdrawn else None,
    "same_kind": lambda s, e, r, n: (
        None
        if e.facts.amended_kind == s.kind_of(_refers(s, e))
        else "an amendment replaces a message with one of the same kind"
    ),
}


def _check_table() -> None:
    for row in TABLE:
        assert row.select in _SELECTORS, row
        for g in row.guards:
            assert g in _GUARDS, (row, g)


_check_table()


def judge(state: LinkState, event: Event, rules: Rules, now_ms: int, *, skip: frozenset[str] = frozenset()) -> Verdict:
    """The row ``event`` matches in ``state`` and where it leads, or the reason it may not happen.

    Rows are tried in table order; the first whose kind, view, sender, stage and selector match
    decides, and its first failing guard is the reason given. ``skip`` names guards not judged
    (a sender judges the stage before it fills in the gate status the ``gate`` guard reads).
    """
    if state.stage in TERMINAL and _row(state, event) is None:
        return Verdict("-", None, f"the link is {state.stage.value}: nothing more can happen on it")
    if event.facts.claims_verified_adult and state.minority != "VERIFIED_ADULT" and not _establishes_adulthood(event):
        return Verdict(
            "A2",
            None,
            "A2 (minority): only a civil-registry or population-register answer giving 18 or more ends the"
            " presumption of minority; a document stating an adult age does not",
        )
    if event.sender_side is Side.OS and CONTACT_STRICTNESS.get(event.facts.family_contact, 0) < CONTACT_STRICTNESS.get(
        state.family_contact, 0
    ):
        return Verdict(
            "FC",
            None,
            f"FC (family_contact): the identifying State's rule is {state.family_contact}; only it may relax it",
        )
    senders = SENDERS.get(event.kind)
    if senders is not None and event.sender_side not in senders:
        return Verdict("-", None, f"{event.kind} is sent only by the {_side_name(next(iter(senders)))}")
    if not any(_same_view(r, event) for r in _BY_KIND.get(event.kind, ())):
        return Verdict("-", None, f"{event.kind} is not a message of the case workflow")
    row = _row(state, event)
    if row is None:
        return Verdict("-", None, f"{event.kind} is not allowed in stage {state.stage.value}")
    for name in row.guards:
        if name in skip:
            continue
        if problem := _GUARDS[name](state, event, rules, now_ms):
            return Verdict(row.id, None, f"{row.id} ({name}): {problem}")
    return Verdict(row.id, row.to)


def needs_approval(state: LinkState, event: Event) -> bool:
    """Whether the row ``event`` matches needs a second person's approval (CO+A).

    Most kinds always do (``APPROVED_KINDS``); a withdrawal of the opening message (T20) and a refusal
    of the open proposal (T9) or of a closure (T17) do because of what they refer to.
    """
    if event.kind in APPROVED_KINDS:
        return True
    row = _row(state, event)
    return row is not None and "approved" in row.guards


def _rows_by_kind() -> dict[str, tuple[Row, ...]]:
    by_kind: dict[str, list[Row]] = {}
    for row in TABLE:
        by_kind.setdefault(row.kind, []).append(row)
    return {kind: tuple(rows) for kind, rows in by_kind.items()}


# The table's rows of each kind, in table order (judging one message reads only its kind's rows).
_BY_KIND = _rows_by_kind()


def _same_view(row: Row, event: Event) -> bool:
    return row.kind == event.kind and (row.origin is None or row.origin is event.origin)


def _row(state: LinkState, event: Event) -> Row | None:
    """The first row whose kind, view, stage and selector match ``event`` (its guards not judged)."""
    for row in _BY_KIND.get(event.kind, ()):
        if _same_view(row, event) and state.stage in row.from_stages and _SELECTORS[row.select](state, event):
            return row
    return None


def _establishes_adulthood(event: Event) -> bool:
    evidence = event.facts.evidence
    return event.kind == "identity_verification_reply" and getattr(evidence, "adult_by_registry", False)


def _side_name(side: Side) -> str:
    return "identifying State" if side is Side.IS else "State of origin"
