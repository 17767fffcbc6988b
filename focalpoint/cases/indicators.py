"""The indicators I1–I12, computed from a node's own case events (pure; docs/indicators.md §2).

Each link is read once into ``LinkFacts`` (``link_facts``): what the indicators count about it —
its side, partner, identification time and minority, sex, age band, exploitation forms and
identification status as notified, its stage history, the gate claim it departed under, detention
and missing episodes, the 12-month follow-up, how it closed, whether the child was heard, and its
requests with a deadline (``RequestFacts``: receipt, acknowledgement, answer and the clock's period
and stops, so I2 can rebuild each request's clock at the period's end rather than keep a verdict
taken at reading time). Then
one function per indicator turns the links of a ``Period`` into a ``Measured``, which
``focalpoint.cases.disclosure`` publishes (suppressed, for auditors) or shows exactly (an officer's
own unit). Nothing here names a child or a case: the facts are codes, times and flags, and the
case id only tells two links of one child apart, so a child is counted once.

``DEFINITIONS`` holds each indicator's id, version, title, flow or stock and method statement as
data; the docs print them and a test checks that they do. A change to what an indicator counts
raises its version, so two outputs of different versions are never compared as if alike.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from focalpoint.cases.clocks import Clock, overdue_ms
from focalpoint.cases.disclosure import (
    AGE_BAND,
    EXPLOITATION_FORM,
    IDENTIFICATION_STATUS,
    LINK_ROLE,
    SEX,
    Dimension,
    Measure,
    Measured,
    Period,
    Table,
    partner_dimension,
)
from focalpoint.cases.events import ChildViews, Event, Facts, GateClaim, Origin
from focalpoint.cases.fold import canonical_order
from focalpoint.cases.gate import CONDITIONS, G1, G2, G3, OVERRIDE_REASONS
from focalpoint.cases.requests import TRACKED_KINDS, TrackedRequest
from focalpoint.cases.stages import ACTIVE, TERMINAL, Side, Stage
from focalpoint.cases.state import LinkState, Rules
from focalpoint.v1 import audit_pb2

__all__ = [
    "AGEING",
    "DEFINITIONS",
    "LIVING",
    "MINORITY_OUTCOME",
    "OVERRIDE_REASON",
    "REQUEST_KIND",
    "STAGE",
    "Definition",
    "LinkFacts",
    "MissingEpisode",
    "RequestFacts",
    "ageing_bucket",
    "compute",
    "definition",
    "i1_guardian",
    "i2_response_times",
    "i3_gate",
    "i4_detentions",
    "i5_disappearances",
    "i6_status_at_12_months",
    "i7_time_to_solution",
    "i8_stalled",
    "i9_identified",
    "i10_age_outcomes",
    "i11_child_heard",
    "i12_governance",
    "link_facts",
    "request_facts",
]

_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000
_FOUND_WITHIN_DAYS = 30
_AFTER_HANDOVER_DAYS = 30
_STALLED_DAYS = 90
_SIX_MONTHS_DAYS = 183

# ---------------------------------------------------------------------------------------------
# Definitions


@dataclasses.dataclass(frozen=True, slots=True)
class Definition:
    """What one indicator counts and how: the method statement every output refers to."""

    id: str
    version: int
    title: str
    measure: Measure
    method: str


DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        "I1",
        1,
        "Guardian within the deadline",
        "flow",
        "Children identified in the period by this State (links where it is the identifying State, one "
        "child per case) whose minority is not verified adult. Numerator: a guardian appointed within the "
        "agreement's guardian deadline (24 hours unless the agreement says less) of identification. "
        "Figures: the share in time, the median and p90 hours to a guardian (appointed ones), and the open "
        "breaches at the period's end (no guardian, deadline passed, link open). Table: outcome (IN_TIME, "
        "LATE, NONE_OVERDUE, NONE_NOT_YET_DUE) by age band.",
    ),
    Definition(
        "I2",
        1,
        "Response times per partner and kind",
        "flow",
        "Requests with a deadline (case notifications, tracing, social inquiry, identity verification and "
        "risk assessment requests, proposals and counter-proposals, repatriation plans, clarification "
        "requests, protection alerts and closure requests) received in the period, by the responder's signed "
        "receipt, in both directions: the partner responding (requests this State sent) and this State "
        "responding. Each is read as it stood at the period's end (or now, for a running one); a request "
        "withdrawn by then is counted in the tables but left out of every timing figure. Per direction: "
        "requests by partner and kind; the median and p90 hours from receipt to acknowledgement (an answer "
        "that came first acknowledges) and days from receipt to the answer (the report, reply, acceptance or "
        "refusal that answers it), the days also per partner and per partner and kind; the share answered "
        "within the response due date (receipt plus the response period plus the time the clock stood still "
        "for a clarification or a suspension), out of the requests with a response deadline that were "
        "answered or past due, also per partner; and the requests still open past due.",
    ),
    Definition(
        "I3",
        1,
        "Returns meeting the gate",
        "flow",
        "Departures (T13) in the period, by the departure's signed time. Numerator: the gate status carried "
        "in the departure shows G1, G2 and G3 met, none of them waived or overridden. Also all of G1–G5 met, "
        "and departures under an override, by the override's reason code.",
    ),
    Definition(
        "I4",
        1,
        "Detentions during return",
        "flow",
        "Departures in the period with a detention between the agreement (T10) and 30 days after handover "
        "(the period's end when there is no handover yet): a DETAINED or REMOVAL_SCHEDULED protection alert, "
        "a return status update disrupted DETAINED_EN_ROUTE, or a handover with the issue "
        "DETAINED_AT_BORDER. Published per 100 returns (the share of departures).",
    ),
    Definition(
        "I5",
        1,
        "Disappearances",
        "flow",
        "Entries into MISSING in the period while the link was open (a MISSING alert, a message flagged "
        "missing, or the node's own record), by the stage the link was in. Also the share of those entries "
        "ended by FOUND within 30 days, and the links closed MISSING_NOT_FOUND in the period.",
    ),
    Definition(
        "I6",
        1,
        "Status at 12 months",
        "stock",
        "Cohort: children handed over (T14) 12 to 15 months before the end of the period. The living "
        "situation in the newest M12 follow-up report of each (not stated reads WHEREABOUTS_UNKNOWN), and "
        "NO_M12_REPORT for those without one.",
    ),
    Definition(
        "I7",
        1,
        "Time to a solution",
        "flow",
        "Days from identification to the agreement (T10) for agreements signed in the period, and to handover "
        "(T14) for handovers in the period: median and p90. Also the share of those handovers within 6 months "
        "(183 days) of identification.",
    ),
    Definition(
        "I8",
        1,
        "Stalled cases",
        "stock",
        "Links open at the end of the period (or now, for a running one). The share of them that have been "
        "in ASSESSMENT for more than 90 days, and all of them by stage and by days in that stage (ageing "
        "buckets 0–7, 8–14, 15–30, 31–60, 61–90, over 90).",
    ),
    Definition(
        "I9",
        1,
        "Children identified",
        "flow",
        "Children whose identification time falls in the period, one per case, by this State's role on the "
        "link (identifying, or origin when the partner identified a child of ours) and sex, by age band at "
        "identification and by identification status. The exploitation-form table counts mentions: a child "
        "notified with two forms is counted under each, so its total can exceed the number of children.",
    ),
    Definition(
        "I10",
        1,
        "Age outcomes",
        "flow",
        "Children identified in the period as presumed minors, one per case, by what the minority "
        "presumption has become since: VERIFIED_MINOR, VERIFIED_ADULT (only a civil-registry or "
        "population-register answer ends the presumption), or still PRESUMED_MINOR.",
    ),
    Definition(
        "I11",
        1,
        "Child heard",
        "flow",
        "Agreements (T10) signed in the period. The share with G3 met before signature (a child's views "
        "record before the agreement, the child heard or too young to be heard); the share whose agreed "
        "solution departs from the child's views; and of those, the share that gave a reason.",
    ),
    Definition(
        "I12",
        1,
        "Governance",
        "flow",
        "From the node's audit log in the period: break-glass accesses opened, case reads under break-glass, "
        "calls the door refused (ACCESS_DENIED), messages signed under a gate override by reason code; and "
        "from the links, closures that took effect unilaterally (a closure request unanswered in time).",
    ),
)


def definition(definition_id: str) -> Definition:
    """The definition of ``definition_id`` (``I1``…)."""
    for d in DEFINITIONS:
        if d.id == definition_id:
            return d
    raise KeyError(definition_id)


# ---------------------------------------------------------------------------------------------
# Dimensions beyond disclosure's

STAGE = Dimension("stage", tuple(s.value for s in Stage if s in ACTIVE))
AGEING = Dimension("days_in_stage", ("0-7", "8-14", "15-30", "31-60", "61-90", "OVER_90"))
LIVING = Dimension(
    "living_situation",
    (
        "WITH_PARENTS",
        "WITH_RELATIVES",
        "ALTERNATIVE_CARE",
        "INDEPENDENT_BY_CHOICE",
        "MOVED_AWAY_BY_CHOICE",
        "WHEREABOUTS_UNKNOWN",
        "RE_TRAFFICKED_SUSPECTED",
        "RE_IDENTIFIED_ABROAD",
        "DETAINED",
        "DECEASED",
        "NO_M12_REPORT",
    ),
)
MINORITY_OUTCOME = Dimension("minority", ("VERIFIED_MINOR", "VERIFIED_ADULT", "PRESUMED_MINOR"))
OVERRIDE_REASON = Dimension("override_reason", tuple(sorted(OVERRIDE_REASONS)))
REQUEST_KIND = Dimension("request_kind", tuple(sorted(TRACKED_KINDS)))
_GUARDIAN_OUTCOME = Dimension("guardian", ("IN_TIME", "LATE", "NONE_OVERDUE", "NONE_NOT_YET_DUE"))


def ageing_bucket(days: int) -> str:
    """The ageing bucket of ``days`` whole days: 0–7, 8–14, 15–30, 31–60, 61–90, over 90."""
    for bound, name in ((7, "0-7"), (14, "8-14"), (30, "15-30"), (60, "31-60"), (90, "61-90")):
        if days <= bound:
            return name
    return "OVER_90"


# ---------------------------------------------------------------------------------------------
# One link's facts


@dataclasses.dataclass(frozen=True, slots=True)
class MissingEpisode:
    """One entry into MISSING: when, in which stage, and when FOUND ended it (0: not yet)."""

    start_ms: int
    stage: Stage
    found_ms: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class RequestFacts:
    """One request of the link with a deadline, as I2 reads it: plain codes, times and flags, so
    it serializes as it stands. Nothing here is evaluated at reading time: the clock is rebuilt
    from ``period_ms`` and ``stops`` (``clock``) when the period's end is known.

    ``started_at_ms`` is the responder's signed receipt (None: not receipted, the clock has not
    started). ``answered_at_ms`` is the answer's signed time, None when none came or a withdrawal
    came first (``withdrawn_at_ms``). ``period_ms`` is the response period fixed when the request
    was applied (None: no response deadline at this urgency, only an acknowledgement is due).
    ``stops`` are the spans the clock stood still (a clarification that stops it, a suspension),
    each (from_ms, to_ms), to_ms None while still open."""

    kind: str
    we_asked: bool
    urgency: str
    started_at_ms: int | None = None
    acknowledged_at_ms: int | None = None
    answered_at_ms: int | None = None
    withdrawn_at_ms: int | None = None
    period_ms: int | None = None
    stops: tuple[tuple[int, int | None], ...] = ()

    def clock(self) -> Clock | None:
        """The request's clock (None: no response deadline); it ends at the answer or withdrawal."""
        if not self.period_ms:
            return None
        ended = self.answered_at_ms if self.answered_at_ms is not None else self.withdrawn_at_ms
        return Clock(
            period_ms=self.period_ms,
            started_at_ms=self.started_at_ms,
            stops=self.stops,
            answered_at_ms=ended,
            acknowledged_at_ms=self.acknowledged_at_ms,
        )


def request_facts(tracked: TrackedRequest) -> RequestFacts:
    """What I2 keeps of one tracked request."""
    ended = tracked.answered_at_ms
    return RequestFacts(
        kind=tracked.kind,
        we_asked=tracked.we_asked,
        urgency=tracked.urgency.value,
        started_at_ms=tracked.started_at_ms,
        acknowledged_at_ms=tracked.acknowledged_at_ms,
        answered_at_ms=None if tracked.withdrawn else ended,
        withdrawn_at_ms=ended if tracked.withdrawn else None,
        period_ms=tracked.clock.period_ms if tracked.clock is not None else None,
        stops=tracked.clock.stops if tracked.clock is not None else (),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class LinkFacts:
    """What the indicators read about one link. Codes, times and flags only; ``case_id`` tells the
    links of one child apart and never leaves the node."""

    case_id: str
    role: str  # LINK_ROLE value: IDENTIFYING (we identified the child) or ORIGIN
    partner_state: str
    identified_at_ms: int = 0
    minority: str = "PRESUMED_MINOR"
    guardian_appointed_at_ms: int = 0
    guardian_deadline_hours: int = 24
    sex: str = "UNKNOWN"
    age_band: str = "UNKNOWN_PRESUMED_MINOR"
    exploitation_forms: frozenset[str] = frozenset()
    identification_status: str = ""
    history: tuple[tuple[int, Stage], ...] = ()  # (time, stage entered), oldest first
    agreed_at_ms: int = 0
    departed_at_ms: int = 0
    departure_gate: GateClaim | None = None
    handed_over_at_ms: int = 0
    detentions_ms: tuple[int, ...] = ()
    missing: tuple[MissingEpisode, ...] = ()
    m12_living: str = ""  # "" = no M12 follow-up report
    closed_at_ms: int = 0
    outcome: str = ""
    unilateral: bool = False
    heard_before_agreement: bool = False
    departs_from_views: bool = False
    departure_reason_given: bool = False
    requests: tuple[RequestFacts, ...] = ()

    def stage_at(self, ms: int) -> Stage:
        """The stage the link was in at ``ms`` (OPEN before its first change)."""
        return _stage_at(self.history, ms)

    def stage_entered_at(self, ms: int) -> int:
        """When the link entered the stage it was in at ``ms`` (0 before its first change)."""
        entered = 0
        for at, _ in self.history:
            if at > ms:
                break
            entered = at
        return entered


_DETENTION_ALERTS = frozenset({"DETAINED", "REMOVAL_SCHEDULED"})


def link_facts(
    state: LinkState,
    events: Sequence[Event],
    *,
    case_id: str,
    rules: Rules,
    tracked: Sequence[TrackedRequest] = (),
) -> LinkFacts:
    """The facts of one link from its fold (``state``) and its events, read once; ``tracked``: its
    requests with their clocks (``focalpoint.cases.requests.tracked_requests``, started at the
    receipts only the node holds)."""
    flagged = {f.message_id for f in state.flagged}
    by_id = {e.message_id: e for e in events}

    def current(e: Event) -> Facts:
        amendment = by_id.get(state.superseded.get(e.message_id, b""))
        if amendment is not None and amendment.facts.replacement is not None:
            return amendment.facts.replacement
        return e.facts

    opening = by_id.get(state.opening_id)
    notified = current(opening) if opening is not None else Facts()
    ordered = [e for e in canonical_order(events) if e.message_id not in flagged]
    history = tuple((at, to) for at, _, to, _ in state.history)
    first = {rule: at for at, _, _, rule in reversed(state.history)}
    last = {rule: at for at, _, _, rule in state.history}

    guardian = [t for t in (state.guardian_appointed_at_ms, notified.guardian_appointed_at_ms) if t]
    departure_gate: GateClaim | None = None
    handed_over = 0
    detentions: list[int] = []
    m12: tuple[int, str] | None = None
    for e in ordered:
        f = current(e)
        if e.kind == "return_status_update" and f.return_status == "DEPARTED":
            departure_gate = f.gate
        en_route = e.kind == "return_status_update" and f.return_disruption == "DETAINED_EN_ROUTE"
        if en_route or (e.kind == "protection_alert" and f.alert_type in _DETENTION_ALERTS):
            detentions.append(e.at_ms)
        elif e.kind == "handover_confirmation":
            handed_over = handed_over or f.handed_over_at_ms or e.at_ms
            if "DETAINED_AT_BORDER" in f.handover_issues:
                detentions.append(f.handed_over_at_ms or e.at_ms)
        elif e.kind == "follow_up_report" and f.follow_up_occasion == "M12" and (m12 is None or e.at_ms >= m12[0]):
            m12 = (e.at_ms, f.living_situation or "WHEREABOUTS_UNKNOWN")
    if "T14" in first and not handed_over:
        handed_over = first["T14"]

    agreed_at = first.get("T10", 0)
    departs = reason = False
    if state.agreed is not None and (proposal := by_id.get(state.agreed.message_id)) is not None:
        pf = current(proposal)
        departs, reason = pf.departs_from_child_views, pf.departure_reason_given
    closed_at = next((at for at, _, to, _ in reversed(state.history) if to is Stage.CLOSED), 0)
    return LinkFacts(
        case_id=case_id,
        role="IDENTIFYING" if state.our_side is Side.IS else "ORIGIN",
        partner_state=state.os_state if state.our_side is Side.IS else state.is_state,
        identified_at_ms=state.identified_at_ms,
        minority=state.minority,
        guardian_appointed_at_ms=min(guardian) if guardian else 0,
        guardian_deadline_hours=min(rules.guardian_deadline_hours or 24, 24),
        sex=notified.sex if notified.sex in SEX.values else "UNKNOWN",
        age_band=notified.age_band if notified.age_band in AGE_BAND.values else "UNKNOWN_PRESUMED_MINOR",
        exploitation_forms=notified.exploitation_forms & frozenset(EXPLOITATION_FORM.values),
        identification_status=notified.identification_status,
        history=history,
        agreed_at_ms=agreed_at,
        departed_at_ms=last.get("T13", 0),
        departure_gate=departure_gate if "T13" in last else None,
        handed_over_at_ms=handed_over if "T14" in first else 0,
        detentions_ms=tuple(detentions),
        missing=_missing_episodes(ordered, current, history),
        m12_living=m12[1] if m12 else "",
        closed_at_ms=closed_at,
        outcome=state.outcome if closed_at else "",
        unilateral=state.unilateral,
        heard_before_agreement=bool(agreed_at) and _heard_before(state, agreed_at),
        departs_from_views=departs,
        departure_reason_given=reason,
        requests=tuple(request_facts(t) for t in tracked),
    )


def _stage_at(history: tuple[tuple[int, Stage], ...], ms: int) -> Stage:
    stage = Stage.OPEN
    for at, to in history:
        if at > ms:
            break
        stage = to
    return stage


def _missing_episodes(
    ordered: Sequence[Event], current: Callable[[Event], Facts], history: tuple[tuple[int, Stage], ...]
) -> tuple[MissingEpisode, ...]:
    """Each entry into MISSING and the FOUND that ended it, read as the fold reads them."""
    episodes: list[MissingEpisode] = []
    open_at: tuple[int, Stage] | None = None
    for e in ordered:
        f = current(e)
        if e.origin is Origin.LOCAL:
            goes = f.missing if e.kind == "local:missing" else None
        elif e.kind == "protection_alert":
            goes = True if f.alert_type == "MISSING" else False if f.alert_type == "FOUND" else None
        else:
            goes = True if f.missing else None
        if goes is True and open_at is None:
            open_at = (e.at_ms, _stage_at(history, e.at_ms))
        elif goes is False and open_at is not None:
            episodes.append(MissingEpisode(open_at[0], open_at[1], e.at_ms))
            open_at = None
    if open_at is not None:
        episodes.append(MissingEpisode(open_at[0], open_at[1]))
    return tuple(episodes)


def _heard_before(state: LinkState, at_ms: int) -> bool:
    """Whether the newest child's views record before ``at_ms`` meets G3 (heard, or too young)."""
    best: tuple[int, ChildViews] | None = None
    for mid, (kind, _, at, ev) in state.evidence.items():
        if kind != "child_views_record" or mid in state.withdrawn or at > at_ms or not isinstance(ev, ChildViews):
            continue
        if best is None or at >= best[0]:
            best = (at, ev)
    if best is None:
        return False
    views = best[1]
    return views.return_stance not in ("", "NOT_HEARD") or views.not_heard_reason == "TOO_YOUNG"


# ---------------------------------------------------------------------------------------------
# The indicators


def _children(links: Iterable[LinkFacts]) -> list[list[LinkFacts]]:
    """The links grouped by case (one child each), in a stable order."""
    groups: dict[str, list[LinkFacts]] = {}
    for link in links:
        groups.setdefault(link.case_id, []).append(link)
    return [groups[k] for k in sorted(groups)]


def _identified_in(links: Iterable[LinkFacts], period: Period, role: str | None) -> list[LinkFacts]:
    """One link per child identified in the period (the first of the case's links that qualifies)."""
    out = []
    for group in _children(links):
        chosen = [g for g in group if g.identified_at_ms and period.contains(g.identified_at_ms)]
        if role is not None:
            chosen = [g for g in chosen if g.role == role]
        if chosen:
            out.append(chosen[0])
    return out


def _as_of(period: Period, now_ms: int) -> int:
    return min(period.end_ms, now_ms)


def i1_guardian(links: Iterable[LinkFacts], period: Period, *, now_ms: int) -> Measured:
    """I1: guardians appointed within the deadline, for children this State identified in the period."""
    as_of = _as_of(period, now_ms)
    links = list(links)
    items: list[tuple[str, str]] = []
    hours: list[float] = []
    in_time = breaches = 0
    by_case: dict[str, list[LinkFacts]] = {}
    for link in links:
        by_case.setdefault(link.case_id, []).append(link)
    for child in _identified_in(links, period, "IDENTIFYING"):
        if child.minority == "VERIFIED_ADULT":
            continue
        siblings = [g for g in by_case[child.case_id] if g.role == "IDENTIFYING"]
        appointed = min((g.guardian_appointed_at_ms for g in siblings if g.guardian_appointed_at_ms), default=0)
        deadline = child.identified_at_ms + child.guardian_deadline_hours * _HOUR_MS
        if appointed and appointed <= as_of:
            outcome = "IN_TIME" if appointed <= deadline else "LATE"
            hours.append(max(0, appointed - child.identified_at_ms) / _HOUR_MS)
        elif as_of > deadline:
            outcome = "NONE_OVERDUE"
            breaches += any(g.stage_at(as_of) in ACTIVE for g in siblings)
        else:
            outcome = "NONE_NOT_YET_DUE"
        in_time += outcome == "IN_TIME"
        items.append((child.age_band, outcome))
    return Measured(
        tables=(("by_age_band", Table.tally((AGE_BAND, _GUARDIAN_OUTCOME), items)),),
        counts=(("children", len(items)), ("guardian_in_time", in_time), ("open_breaches", breaches)),
        ratios=(("guardian_in_time_percent", in_time, len(items)),),
        durations=(("hours_to_guardian", tuple(hours)),),
        duration_unit="hours",
    )


# The two directions of I2: requests this State sent (the partner responds) and received.
_DIRECTIONS = (("partner_responding", True), ("we_responding", False))


class _Standing(NamedTuple):
    """Where one request stood at a moment: how long its acknowledgement and its answer took (None:
    not yet, or withdrawn), whether it counts towards the in-time share (a response deadline, and
    answered or past due), whether it was answered in time, and whether it stood open past due.
    (A named tuple: one is made for every request of a year.)"""

    hours_to_acknowledgement: float | None = None
    days_to_answer: float | None = None
    due_counted: bool = False
    in_time: bool = False
    open_overdue: bool = False


_WITHDRAWN = _Standing()


def _standing(request: RequestFacts, started_at_ms: int, as_of: int) -> _Standing:
    """``request`` (received at ``started_at_ms``) as it stood at ``as_of``; a withdrawn one has no
    times. (Spelled out without intermediate lists: it runs for every request of a year.)"""
    withdrawn = request.withdrawn_at_ms
    if withdrawn is not None and withdrawn <= as_of:
        return _WITHDRAWN
    answered = request.answered_at_ms
    if answered is not None and answered > as_of:
        answered = None
    first = request.acknowledged_at_ms
    if first is not None and first > as_of:
        first = None
    if answered is not None and (first is None or answered < first):
        first = answered
    late = _late(request, started_at_ms, as_of)  # at the answer, how late it came
    has_clock = bool(request.period_ms)
    counted = has_clock and (answered is not None or late > 0)
    return _Standing(
        None if first is None else max(0, first - started_at_ms) / _HOUR_MS,
        None if answered is None else max(0, answered - started_at_ms) / _DAY_MS,
        counted,
        counted and answered is not None and late == 0,
        has_clock and answered is None and late > 0,
    )


def _late(request: RequestFacts, started_at_ms: int, as_of: int) -> int:
    """How late the answer was (or is, while none came) at ``as_of``; 0 without a deadline. A clock
    never stopped is simple arithmetic; one that stopped is asked of ``clocks``."""
    if not request.period_ms:
        return 0
    if request.stops:
        clock = request.clock()
        return overdue_ms(clock, as_of) if clock is not None else 0
    end = as_of if request.answered_at_ms is None else min(as_of, request.answered_at_ms)
    return max(0, end - started_at_ms - request.period_ms)


def _answer_days(standings: Iterable[_Standing]) -> tuple[float, ...]:
    return tuple(s.days_to_answer for s in standings if s.days_to_answer is not None)


def _in_time(standings: Sequence[_Standing]) -> tuple[int, int]:
    return sum(s.in_time for s in standings), sum(s.due_counted for s in standings)


def i2_response_times(
    links: Iterable[LinkFacts], period: Period, *, now_ms: int, partners: Iterable[str] | None = None
) -> Measured:
    """I2: requests received in the period, per direction, by partner and kind; how long their
    acknowledgement and answer took, the share answered in time, and those open past due, as they
    stood at the period's end (or now)."""
    as_of = _as_of(period, now_ms)
    links = list(links)
    # Every partner of the node's links, so a partner with no requests shows its zeros.
    states = set(partners) if partners is not None else {lk.partner_state for lk in links}
    partner_dim = partner_dimension(states) if states else None
    tables: list[tuple[str, Table]] = []
    counts: list[tuple[str, int]] = []
    ratios: list[tuple[str, int, int]] = []
    durations: list[tuple[str, tuple[float, ...]]] = []
    units: list[tuple[str, str]] = []
    # One pass over the requests, each put with its direction.
    received: dict[bool, tuple[list[tuple[str, str]], dict[str, list[tuple[str, _Standing]]]]] = {
        we_asked: ([], {}) for _, we_asked in _DIRECTIONS
    }
    start, end = period.start_ms, period.end_ms
    for lk in links:
        for r in lk.requests:
            started = r.started_at_ms
            if started is None or not start <= started < end or r.kind not in TRACKED_KINDS:
                continue
            items_of, partners_of = received[r.we_asked]
            items_of.append((lk.partner_state, r.kind))
            partners_of.setdefault(lk.partner_state, []).append((r.kind, _standing(r, started, as_of)))
    for direction, we_asked in _DIRECTIONS:
        items, by_partner = received[we_asked]
        every = [s for rows in by_partner.values() for _, s in rows]
        if partner_dim is not None:
            table = Table.tally((partner_dim, REQUEST_KIND), items, counted="messages")
            tables.append((f"{direction}.by_partner_and_kind", table))
        counts += [
            (f"{direction}.requests", len(items)),
            (f"{direction}.open_overdue", sum(s.open_overdue for s in every)),
        ]
        ratios.append((f"{direction}.answered_in_time_percent", *_in_time(every)))
        acknowledgements = tuple(s.hours_to_acknowledgement for s in every if s.hours_to_acknowledgement is not None)
        durations += [
            (f"{direction}.hours_to_acknowledgement", acknowledgements),
            (f"{direction}.days_to_answer", _answer_days(every)),
        ]
        units.append((f"{direction}.hours_to_acknowledgement", "hours"))
        for partner in sorted(by_partner):
            rows = by_partner[partner]
            ratios.append((f"{direction}.{partner}.answered_in_time_percent", *_in_time([s for _, s in rows])))
            durations.append((f"{direction}.{partner}.days_to_answer", _answer_days(s for _, s in rows)))
            for kind in sorted({k for k, _ in rows}):
                days = _answer_days(s for k, s in rows if k == kind)
                durations.append((f"{direction}.{partner}.{kind}.days_to_answer", days))
    return Measured(
        tables=tuple(tables),
        counts=tuple(counts),
        ratios=tuple(ratios),
        durations=tuple(durations),
        duration_units=tuple(units),
    )


def _departed_in(links: Iterable[LinkFacts], period: Period) -> list[LinkFacts]:
    return [lk for lk in links if lk.departed_at_ms and period.contains(lk.departed_at_ms)]


def i3_gate(links: Iterable[LinkFacts], period: Period) -> Measured:
    """I3: departures in the period whose gate showed G1–G3 met without an override."""
    departures = _departed_in(links, period)
    core = full = 0
    reasons: list[tuple[str]] = []
    for lk in departures:
        g = lk.departure_gate
        if g is None:
            continue
        if {G1, G2, G3} <= g.met and not {G1, G2, G3} & g.waived:
            core += 1
        if set(CONDITIONS) <= g.met:
            full += 1
        if g.override_reason:
            reasons.append((g.override_reason if g.override_reason in OVERRIDE_REASON.values else "OTHER",))
    n = len(departures)
    return Measured(
        tables=(("overrides_by_reason", Table.tally((OVERRIDE_REASON,), reasons, counted="cases")),),
        counts=(("departures", n), ("g1_g3_met_without_override", core), ("g1_g5_met", full)),
        ratios=(("g1_g3_met_without_override_percent", core, n), ("g1_g5_met_percent", full, n)),
    )


def i4_detentions(links: Iterable[LinkFacts], period: Period, *, now_ms: int) -> Measured:
    """I4: departures in the period with a detention between the agreement and 30 days after handover."""
    as_of = _as_of(period, now_ms)
    departures = _departed_in(links, period)
    detained = 0
    for lk in departures:
        start = lk.agreed_at_ms or lk.departed_at_ms
        end = lk.handed_over_at_ms + _AFTER_HANDOVER_DAYS * _DAY_MS if lk.handed_over_at_ms else as_of
        detained += any(start <= t <= end for t in lk.detentions_ms)
    n = len(departures)
    return Measured(
        counts=(("returns", n), ("returns_with_detention", detained)),
        ratios=(("detentions_per_100_returns", detained, n),),
    )


def i5_disappearances(links: Iterable[LinkFacts], period: Period) -> Measured:
    """I5: entries into MISSING in the period by stage, FOUND within 30 days, MISSING_NOT_FOUND closures."""
    entries: list[tuple[str]] = []
    found = 0
    not_found = 0
    for lk in links:
        for ep in lk.missing:
            if period.contains(ep.start_ms) and ep.stage in ACTIVE:
                entries.append((ep.stage.value,))
                found += bool(ep.found_ms) and ep.found_ms - ep.start_ms <= _FOUND_WITHIN_DAYS * _DAY_MS
        if lk.outcome == "MISSING_NOT_FOUND" and lk.closed_at_ms and period.contains(lk.closed_at_ms):
            not_found += 1
    return Measured(
        tables=(("entries_by_stage", Table.tally((STAGE,), entries)),),
        counts=(("entries", len(entries)), ("found_within_30_days", found), ("closed_missing_not_found", not_found)),
        ratios=(("found_within_30_days_percent", found, len(entries)),),
    )


def _months_before(ms: int, months: int) -> int:
    at = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    index = at.year * 12 + at.month - 1 - months
    year, month = divmod(index, 12)
    day = min(at.day, calendar.monthrange(year, month + 1)[1])
    return int(at.replace(year=year, month=month + 1, day=day).timestamp() * 1000)


def i6_status_at_12_months(links: Iterable[LinkFacts], period: Period) -> Measured:
    """I6: the living situation at M12 of the children handed over 12–15 months before the period's end."""
    start, end = _months_before(period.end_ms, 15), _months_before(period.end_ms, 12)
    items = [
        (lk.m12_living if lk.m12_living in LIVING.values else "NO_M12_REPORT",)
        for lk in links
        if lk.handed_over_at_ms and start <= lk.handed_over_at_ms < end
    ]
    return Measured(
        tables=(("living_situation_at_m12", Table.tally((LIVING,), items)),), counts=(("cohort", len(items)),)
    )


def i7_time_to_solution(links: Iterable[LinkFacts], period: Period) -> Measured:
    """I7: days from identification to the agreement and to handover; handovers within 6 months."""
    links = list(links)
    to_agreement = [
        (lk.agreed_at_ms - lk.identified_at_ms) / _DAY_MS
        for lk in links
        if lk.agreed_at_ms and lk.identified_at_ms and period.contains(lk.agreed_at_ms)
    ]
    to_handover = [
        (lk.handed_over_at_ms - lk.identified_at_ms) / _DAY_MS
        for lk in links
        if lk.handed_over_at_ms and lk.identified_at_ms and period.contains(lk.handed_over_at_ms)
    ]
    within = sum(1 for d in to_handover if d <= _SIX_MONTHS_DAYS)
    return Measured(
        counts=(("agreements", len(to_agreement)), ("handovers", len(to_handover))),
        ratios=(("handovers_within_6_months_percent", within, len(to_handover)),),
        durations=(
            ("days_to_agreement", tuple(max(0.0, d) for d in to_agreement)),
            ("days_to_handover", tuple(max(0.0, d) for d in to_handover)),
        ),
    )


def i8_stalled(links: Iterable[LinkFacts], period: Period, *, now_ms: int) -> Measured:
    """I8: links open at the period's end (or now) by stage and days in stage; stalled in ASSESSMENT."""
    as_of = _as_of(period, now_ms)
    items: list[tuple[str, str]] = []
    stalled = 0
    for lk in links:
        stage = lk.stage_at(as_of)
        if stage not in ACTIVE:
            continue
        days = max(0, as_of - lk.stage_entered_at(as_of)) // _DAY_MS
        items.append((stage.value, ageing_bucket(days)))
        stalled += stage is Stage.ASSESSMENT and days > _STALLED_DAYS
    return Measured(
        tables=(("open_by_stage_and_days", Table.tally((STAGE, AGEING), items, counted="cases")),),
        counts=(("open", len(items)), ("assessment_over_90_days", stalled)),
        ratios=(("assessment_over_90_days_percent", stalled, len(items)),),
    )


def i9_identified(links: Iterable[LinkFacts], period: Period) -> Measured:
    """I9: children identified in the period (one per case), disaggregated; forms count mentions."""
    children = _identified_in(links, period, None)
    status = [(c.identification_status,) for c in children if c.identification_status in IDENTIFICATION_STATUS.values]
    forms = [(form,) for c in children for form in sorted(c.exploitation_forms)]
    return Measured(
        tables=(
            ("by_role_and_sex", Table.tally((LINK_ROLE, SEX), [(c.role, c.sex) for c in children])),
            ("by_age_band", Table.tally((AGE_BAND,), [(c.age_band,) for c in children])),
            ("by_identification_status", Table.tally((IDENTIFICATION_STATUS,), status)),
            ("exploitation_form_mentions", Table.tally((EXPLOITATION_FORM,), forms)),
        ),
        counts=(("children", len(children)),),
    )


def i10_age_outcomes(links: Iterable[LinkFacts], period: Period) -> Measured:
    """I10: presumed minors identified in the period by what the presumption has become."""
    groups = {g[0].case_id: g for g in _children(links)}
    items: list[tuple[str]] = []
    for child in _identified_in([x for g in groups.values() for x in g], period, None):
        states = {g.minority for g in groups[child.case_id]}
        outcome = (
            "VERIFIED_ADULT"
            if "VERIFIED_ADULT" in states
            else "VERIFIED_MINOR"
            if "VERIFIED_MINOR" in states
            else "PRESUMED_MINOR"
        )
        items.append((outcome,))
    adults = sum(1 for (o,) in items if o == "VERIFIED_ADULT")
    unresolved = sum(1 for (o,) in items if o == "PRESUMED_MINOR")
    return Measured(
        tables=(("by_outcome", Table.tally((MINORITY_OUTCOME,), items)),),
        ratios=(("verified_adult_percent", adults, len(items)), ("unresolved_percent", unresolved, len(items))),
    )


def i11_child_heard(links: Iterable[LinkFacts], period: Period) -> Measured:
    """I11: agreements in the period with G3 met before signature; departures from the child's views."""
    agreed = [lk for lk in links if lk.agreed_at_ms and period.contains(lk.agreed_at_ms)]
    heard = sum(lk.heard_before_agreement for lk in agreed)
    departing = [lk for lk in agreed if lk.departs_from_views]
    with_reason = sum(lk.departure_reason_given for lk in departing)
    return Measured(
        counts=(("agreements", len(agreed)), ("departing_from_views", len(departing))),
        ratios=(
            ("g3_met_before_signature_percent", heard, len(agreed)),
            ("departing_from_views_percent", len(departing), len(agreed)),
            ("departing_with_reason_percent", with_reason, len(departing)),
        ),
    )


_Kind = audit_pb2.AuditEventKind
_OVERRIDE_PREFIX = "gate:override "


def i12_governance(links: Iterable[LinkFacts], audit: Iterable[audit_pb2.AuditEvent], period: Period) -> Measured:
    """I12: break-glass accesses and reads, access denials, gate overrides by reason (audit log), and
    unilateral closures (links)."""
    opened = reads = denied = 0
    reasons: list[tuple[str]] = []
    for ev in audit:
        if not period.contains(ev.at_ms):
            continue
        if ev.kind == _Kind.AUDIT_EVENT_KIND_BREAK_GLASS:
            opened += 1
        elif ev.kind == _Kind.AUDIT_EVENT_KIND_READ and ev.purpose == "BREAK_GLASS":
            reads += 1
        elif ev.kind == _Kind.AUDIT_EVENT_KIND_ACCESS_DENIED:
            denied += 1
        elif ev.kind == _Kind.AUDIT_EVENT_KIND_STATUS_CHANGED and ev.status.startswith(_OVERRIDE_PREFIX):
            reason = ev.status.removeprefix(_OVERRIDE_PREFIX).split(" ", 1)[0]
            reasons.append((reason if reason in OVERRIDE_REASON.values else "OTHER",))
    unilateral = sum(1 for lk in links if lk.unilateral and lk.closed_at_ms and period.contains(lk.closed_at_ms))
    return Measured(
        tables=(("gate_overrides_by_reason", Table.tally((OVERRIDE_REASON,), reasons, counted="cases")),),
        counts=(
            ("break_glass_opened", opened),
            ("break_glass_reads", reads),
            ("access_denied", denied),
            ("gate_overrides", len(reasons)),
            ("unilateral_closures", unilateral),
        ),
    )


def compute(
    links: Sequence[LinkFacts],
    audit: Sequence[audit_pb2.AuditEvent],
    period: Period,
    *,
    now_ms: int,
    partners: Iterable[str] | None = None,
) -> list[tuple[Definition, Measured]]:
    """Every indicator of ``DEFINITIONS`` for ``period``, in order. ``partners``: the partner States
    the tables list (default: those of ``links``), so leaving out links that bear nothing on the
    period (``for_period``) leaves every output as it was."""
    measured = {
        "I1": i1_guardian(links, period, now_ms=now_ms),
        "I2": i2_response_times(links, period, now_ms=now_ms, partners=partners),
        "I3": i3_gate(links, period),
        "I4": i4_detentions(links, period, now_ms=now_ms),
        "I5": i5_disappearances(links, period),
        "I6": i6_status_at_12_months(links, period),
        "I7": i7_time_to_solution(links, period),
        "I8": i8_stalled(links, period, now_ms=now_ms),
        "I9": i9_identified(links, period),
        "I10": i10_age_outcomes(links, period),
        "I11": i11_child_heard(links, period),
        "I12": i12_governance(links, audit, period),
    }
    return [(d, measured[d.id]) for d in DEFINITIONS]


# ---------------------------------------------------------------------------------------------
# Which links a period's indicators read

_LOOKBACK_MONTHS = 15  # I6's cohort: handovers 12 to 15 months before the period's end


def span(link: LinkFacts) -> tuple[int, int]:
    """The first and the last moment the link's facts name, the last only when the link has ended
    (its stage is terminal; 0 while it runs): every indicator counts a link only for something
    that happened between them, or for being open at a moment."""
    times = [link.identified_at_ms, link.guardian_appointed_at_ms, link.agreed_at_ms, link.departed_at_ms]
    times += [link.handed_over_at_ms, link.closed_at_ms, *link.detentions_ms]
    times += [at for at, _ in link.history]
    times += [t for ep in link.missing for t in (ep.start_ms, ep.found_ms)]
    for r in link.requests:
        times += [t for t in (r.started_at_ms, r.acknowledged_at_ms, r.answered_at_ms, r.withdrawn_at_ms) if t]
        times += [t for stop in r.stops for t in stop if t]
    known = [t for t in times if t]
    if not known:
        return 0, 0
    ended = bool(link.history) and link.history[-1][1] in TERMINAL
    return min(known), max(known) if ended else 0


def window(period: Period) -> tuple[int, int]:
    """(end_ms, from_ms): a link bears on ``period`` if it began before end_ms and had not ended
    before from_ms, 15 months before the period's end (I6 looks that far back)."""
    return period.end_ms, _months_before(period.end_ms, _LOOKBACK_MONTHS)


def bears_on(first_ms: int, last_ms: int, period: Period) -> bool:
    """Whether a link of that ``span`` can count in any indicator of ``period`` (``window``); 0:
    not known."""
    end, since = window(period)
    return (first_ms == 0 or first_ms < end) and (last_ms == 0 or last_ms >= since)


def requests_in(link: LinkFacts, period: Period) -> LinkFacts:
    """The link with only the requests received in ``period`` (the only ones I2 counts)."""
    kept = tuple(r for r in link.requests if r.started_at_ms is not None and period.contains(r.started_at_ms))
    return link if len(kept) == len(link.requests) else dataclasses.replace(link, requests=kept)


def for_period(links: Iterable[LinkFacts], period: Period) -> list[LinkFacts]:
    """The links ``compute`` needs for ``period`` (a child's links together: one that bears on the
    period keeps its siblings), each with only the requests received in it. Computing over these,
    with the same ``partners``, gives what computing over all of them gives."""
    links = list(links)
    cases = {lk.case_id for lk in links if bears_on(*span(lk), period)}
    return [requests_in(lk, period) for lk in links if lk.case_id in cases]
