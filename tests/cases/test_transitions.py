"""The transition table, judged as a table: every allowed transition, and forbidden ones with the guard named."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focalpoint.cases.events import Event, Facts, GateClaim, IdentityReply, Origin
from focalpoint.cases.fold import canonical_order
from focalpoint.cases.stages import Side, Stage
from focalpoint.cases.state import Rules
from focalpoint.cases.transitions import TABLE, judge, needs_approval
from tests.support.story import DAY, GOOD_EVIDENCE, Story, approval, passing_gate

IS, OS = Side.IS, Side.OS


def _stages(story: Story) -> tuple[Stage, Stage]:
    return story.fold(IS).stage, story.fold(OS).stage


def _full_return() -> tuple[Story, list[tuple[str, Stage, Stage]]]:
    """The whole life of a link, with both nodes' stages after each step."""
    s = Story()
    seen: list[tuple[str, Stage, Stage]] = []

    def step(name: str) -> None:
        seen.append((name, *_stages(s)))

    n = s.notify()
    step("notification")
    s.acknowledge(n)
    step("acknowledged")
    s.evidence()
    step("evidence")
    p = s.send(
        OS,
        "durable_solution_proposal",
        solution="RETURN_FAMILY_REUNIFICATION",
        solution_state="AL",
        approval=approval(),
    )
    step("proposal")
    s.agree(IS, p)
    step("agreement")
    plan = s.send(
        IS, "repatriation_plan", latest_departure_day=(s.clock + 30 * DAY) // DAY, no_detention_assurance=True
    )
    s.send(OS, "repatriation_plan_acceptance", refers_to=plan.message_id, approval=approval())
    step("plan accepted")
    s.send(IS, "return_status_update", return_status="DEPARTED", gate=passing_gate())
    step("departed")
    s.send(OS, "handover_confirmation")
    step("handed over")
    s.send(OS, "follow_up_report")
    closure = s.send(
        OS, "case_closure", closure_action="REQUEST", closure_outcome="RETURNED_SUSTAINED_12M", approval=approval()
    )
    step("closure requested")
    s.send(IS, "acknowledgement", refers_to=closure.message_id, ack_kind="RECEIVED_AND_ASSIGNED")
    step("closed")
    return s, seen


def test_a_full_return_moves_both_nodes_through_the_same_stages() -> None:
    """Notification to closure: each step moves the identifying State and the State of origin alike."""
    _, seen = _full_return()
    assert seen == [
        ("notification", Stage.NOTIFIED, Stage.RECEIVED),
        ("acknowledged", Stage.ACKNOWLEDGED, Stage.ACKNOWLEDGED),
        ("evidence", Stage.ASSESSMENT, Stage.ASSESSMENT),
        ("proposal", Stage.NEGOTIATION, Stage.NEGOTIATION),
        ("agreement", Stage.RETURN_PREPARATION, Stage.RETURN_PREPARATION),
        ("plan accepted", Stage.RETURN_PREPARATION, Stage.RETURN_PREPARATION),
        ("departed", Stage.RETURN_IN_PROGRESS, Stage.RETURN_IN_PROGRESS),
        ("handed over", Stage.FOLLOW_UP, Stage.FOLLOW_UP),
        ("closure requested", Stage.CLOSING, Stage.CLOSING),
        ("closed", Stage.CLOSED, Stage.CLOSED),
    ]


def test_a_full_return_records_its_transitions_in_order_and_flags_nothing() -> None:
    """The history names T2/T3, T4, T5, T7, T10, T13, T14, T15 and T16, and no message was flagged."""
    s, _ = _full_return()
    state = s.fold(IS)
    assert [h[3] for h in state.history] == ["T2", "T4", "T5", "T7", "T10", "T13", "T14", "T15", "T16"]
    assert state.flagged == []
    assert s.fold(OS).flagged == []


def test_an_agreement_on_a_solution_in_the_identifying_state_leads_to_a_local_solution() -> None:
    """T10: a solution carried out in the identifying State ends in LOCAL_SOLUTION, not return preparation."""
    s = Story()
    s.acknowledge(s.notify())
    s.evidence()
    p = s.propose(IS, solution="STAY_IN_HOST_STATE", state="GR")
    s.agree(OS, p)
    assert _stages(s) == (Stage.LOCAL_SOLUTION, Stage.LOCAL_SOLUTION)


def _negotiating() -> tuple[Story, Event]:
    s = Story()
    s.acknowledge(s.notify())
    s.evidence()
    return s, s.propose(OS)


FORBIDDEN = [
    ("agreement by the proposer", lambda s, p: s.agree(OS, p), "T10 (not_proposer)"),
    (
        "agreement binding other bytes",
        lambda s, p: s.agree(IS, p, refers_sha256=b"x" * 32),
        "T10 (binds_open_proposal)",
    ),
    (
        "agreement on another solution",
        lambda s, p: s.agree(IS, p, solution="STAY_IN_HOST_STATE"),
        "T10 (same_solution)",
    ),
    (
        "agreement approved by its preparer",
        lambda s, p: s.agree(IS, p, approval=approval("u1", "u1")),
        "T10 (approved)",
    ),
    ("agreement without approval", lambda s, p: s.agree(IS, p, approval=None), "T10 (approved)"),
    ("cross-border agreement without the gate", lambda s, p: s.agree(IS, p, gate=None), "T10 (gate)"),
    (
        "cross-border agreement with G2 missing",
        lambda s, p: s.agree(IS, p, gate=GateClaim(frozenset(), frozenset({"G2_RISK_ASSESSMENT"}))),
        "T10 (gate)",
    ),
    (
        "override approved by its preparer",
        lambda s, p: s.agree(
            IS,
            p,
            gate=GateClaim(
                frozenset(),
                frozenset({"G2_RISK_ASSESSMENT"}),
                frozenset({"G2_RISK_ASSESSMENT"}),
                "COURT_ORDER",
                approval("u1", "u1"),
            ),
        ),
        "T10 (gate)",
    ),
    (
        "a departure before any plan",
        lambda s, p: s.send(IS, "return_status_update", return_status="DEPARTED"),
        "not allowed in stage NEGOTIATION",
    ),
    ("a second proposal by the same side", lambda s, p: s.propose(OS), "not allowed in stage NEGOTIATION"),
    (
        "a report from the identifying State",
        lambda s, p: s.send(IS, "social_inquiry_report"),
        "sent only by the State of origin",
    ),
    (
        "closure to a follow-up outcome",
        lambda s, p: s.send(IS, "case_closure", closure_outcome="RETURNED_SUSTAINED_12M", approval=approval()),
        "T15 (outcome_for_stage)",
    ),
    (
        "withdrawal of the other side's message",
        lambda s, p: s.send(IS, "withdrawal", refers_to=p.message_id),
        "(own_message)",
    ),
]


@pytest.mark.parametrize(("make", "reason"), [(m, r) for _, m, r in FORBIDDEN], ids=[n for n, _, _ in FORBIDDEN])
def test_a_forbidden_message_is_refused_at_the_sender_and_flagged_at_the_receiver(make, reason) -> None:  # type: ignore[no-untyped-def]
    """The same table refuses it when submitted and flags it (stage unchanged) when it arrives."""
    s, p = _negotiating()
    before = s.fold(IS)
    event = make(s, p)
    sender_view = s.view(event.sender_side)[:-1]
    sender_state = s.fold(event.sender_side, events=s.events[:-1])
    verdict = judge(sender_state, dataclasses.replace(event, origin=Origin.SENT), Rules(), s.clock)
    assert not verdict.allowed
    assert reason in (verdict.problem or "")
    assert sender_view  # the sender had a history to judge against
    receiver = event.sender_side.other
    after = s.fold(receiver)
    assert after.stage is before.stage
    assert after.flagged[-1].message_id == event.message_id
    assert reason in after.flagged[-1].reason


def test_missing_child_blocks_solution_steps_until_found() -> None:
    """A MISSING alert blocks the agreement (T7–T13); after FOUND the same agreement goes through."""
    s, p = _negotiating()
    s.send(IS, "protection_alert", alert_type="MISSING", emergency=True)
    blocked = s.agree(IS, p)
    assert s.fold(OS).flagged[-1].message_id == blocked.message_id
    assert "not_missing" in s.fold(OS).flagged[-1].reason
    s.send(IS, "protection_alert", alert_type="FOUND")
    s.agree(IS, p)
    assert _stages(s) == (Stage.RETURN_PREPARATION, Stage.RETURN_PREPARATION)


def test_counter_proposals_are_limited_by_the_agreement() -> None:
    """T8 counts rounds; the round past max_counter_rounds is refused naming rounds_left."""
    s, p = _negotiating()
    last = p
    for i in range(3):
        side = IS if i % 2 == 0 else OS
        kw: dict[str, Any] = {"gate": passing_gate()} if side is IS else {}
        last = s.send(
            side,
            "durable_solution_counter_proposal",
            refers_to=last.message_id,
            refers_sha256=last.body_sha256,
            solution="RETURN_FAMILY_REUNIFICATION",
            solution_state="AL",
            approval=approval(),
            **kw,
        )
    assert s.fold(OS).counter_rounds == 3
    s.send(
        OS,
        "durable_solution_counter_proposal",
        refers_to=last.message_id,
        refers_sha256=last.body_sha256,
        solution="RETURN_FAMILY_REUNIFICATION",
        solution_state="AL",
        approval=approval(),
    )
    assert "rounds_left" in s.fold(IS).flagged[-1].reason


def test_crossing_proposals_resolve_the_same_way_on_both_nodes() -> None:
    """Two proposals sent at once: the earlier stands and the later counts as its counter-proposal, on both sides."""
    s = Story()
    s.acknowledge(s.notify())
    s.evidence()
    s.propose(IS, solution="STAY_IN_HOST_STATE", state="GR")
    late = s.propose(OS, after_ms=1)
    for side in (IS, OS):
        state = s.fold(side)
        assert state.stage is Stage.NEGOTIATION
        assert state.counter_rounds == 1
        assert state.proposal is not None
        assert state.proposal.message_id == late.message_id


def test_closure_objection_returns_to_the_stage_before_closing() -> None:
    """T17: an objection to a closure request puts the link back where it was."""
    s, _ = _negotiating()
    c = s.send(IS, "case_closure", closure_action="REQUEST", closure_outcome="RE_TRAFFICKED", approval=approval())
    assert _stages(s) == (Stage.CLOSING, Stage.CLOSING)
    s.send(OS, "request_refusal", refers_to=c.message_id, refusal_reason="OBJECTS_TO_CLOSURE", approval=approval())
    assert _stages(s) == (Stage.NEGOTIATION, Stage.NEGOTIATION)


def test_an_unanswered_closure_request_closes_unilaterally_after_the_agreed_days() -> None:
    """T18: the closure clock expiring closes the link, marked unilateral."""
    s, _ = _negotiating()
    s.send(IS, "case_closure", closure_action="REQUEST", closure_outcome="RE_TRAFFICKED", approval=approval())
    assert s.fold(IS, now=s.clock + 29 * DAY).stage is Stage.CLOSING
    late = s.fold(IS, now=s.clock + 30 * DAY)
    assert late.stage is Stage.CLOSED
    assert late.unilateral


def test_refusing_the_opening_message_finally_ends_the_link_as_refused() -> None:
    """T19: the State of origin's final refusal of the notification; nothing more can happen after."""
    s = Story()
    n = s.notify()
    s.send(OS, "request_refusal", refers_to=n.message_id, refusal_reason="NOT_A_NATIONAL", refusal_final=True)
    assert _stages(s) == (Stage.REFUSED, Stage.REFUSED)
    s.send(IS, "social_inquiry_request")
    assert "nothing more can happen" in s.fold(OS).flagged[-1].reason


def test_withdrawing_the_opening_message_withdraws_the_link() -> None:
    """T20: the opener withdraws its notification; the link is WITHDRAWN on both sides."""
    s = Story()
    n = s.notify()
    s.acknowledge(n)
    s.send(IS, "withdrawal", refers_to=n.message_id, approval=approval())
    assert _stages(s) == (Stage.WITHDRAWN, Stage.WITHDRAWN)


def test_the_applied_answer_to_a_withdrawn_opening_is_the_one_message_a_withdrawn_link_takes() -> None:
    """After T20 the receiver's node answers the withdrawal acknowledgement(APPLIED): applied on both
    sides, the link stays WITHDRAWN; anything else, or an APPLIED naming another message, is flagged."""
    s = Story()
    n = s.notify()
    s.acknowledge(n)
    w = s.send(IS, "withdrawal", refers_to=n.message_id, approval=approval())
    s.send(OS, "acknowledgement", refers_to=w.message_id, ack_kind="APPLIED")
    assert _stages(s) == (Stage.WITHDRAWN, Stage.WITHDRAWN)
    assert s.fold(IS).flagged == []
    assert s.fold(OS).flagged == []
    s.send(OS, "acknowledgement", refers_to=n.message_id, ack_kind="APPLIED")
    s.send(IS, "social_inquiry_request")
    assert [f.reason for f in s.fold(OS).flagged] == ["the link is WITHDRAWN: nothing more can happen on it"] * 2


def test_withdrawing_the_opening_or_refusing_the_open_proposal_needs_a_second_person() -> None:
    """T20 and T9 need an approval because of what they refer to, so the sender keeps them as drafts;
    withdrawing or refusing another message does not, and an approved kind always does."""
    s, proposal = _negotiating()
    views = s.send(IS, "child_views_record", evidence=GOOD_EVIDENCE["child_views_record"])
    at_is, at_os = s.fold(IS), s.fold(OS)

    def pending(side: Side, kind: str, refers_to: bytes = b"") -> Event:
        return Event(kind, Origin.SENT, side, "n", s.clock + 1, b"pending", facts=Facts(refers_to=refers_to))

    assert needs_approval(at_is, pending(IS, "withdrawal", at_is.opening_id))
    assert needs_approval(at_is, pending(IS, "request_refusal", proposal.message_id))
    assert needs_approval(at_is, pending(IS, "durable_solution_agreement", proposal.message_id))
    assert not needs_approval(at_is, pending(IS, "withdrawal", views.message_id))
    assert not needs_approval(at_os, pending(OS, "acknowledgement", views.message_id))


def test_a_withdrawn_report_no_longer_counts_as_evidence() -> None:
    """Withdrawing a social inquiry report removes it from the checklist the gate reads."""
    s = Story()
    s.acknowledge(s.notify())
    si = s.send(IS, "social_inquiry_request")
    rep = s.send(
        OS, "social_inquiry_report", in_reply_to=si.message_id, evidence=GOOD_EVIDENCE["social_inquiry_report"]
    )
    assert s.fold(IS).latest("social_inquiry_report") is not None
    s.send(OS, "withdrawal", refers_to=rep.message_id)
    assert s.fold(IS).latest("social_inquiry_report") is None


def test_an_unsolicited_social_inquiry_report_is_flagged() -> None:
    """T6: a report must answer a request of its kind on the link."""
    s = Story()
    s.acknowledge(s.notify())
    s.send(OS, "social_inquiry_report")
    assert "answers_request" in s.fold(IS).flagged[-1].reason


def test_every_row_of_the_table_names_a_known_stage_and_a_transition_id() -> None:
    """The table is data: each row has an id, a non-empty set of from-stages and a kind of the workflow."""
    assert all(r.id and r.from_stages for r in TABLE)
    assert {r.id for r in TABLE} >= {
        "T2",
        "T3",
        "T4",
        "T5",
        "T6",
        "T7",
        "T8",
        "T9",
        "T10",
        "T11",
        "T12",
        "T13",
        "T14",
        "T15",
        "T16",
        "T17",
        "T19",
        "T20",
    }


# -- convergence ----------------------------------------------------------------------------------

_KINDS = [
    ("IS", "social_inquiry_request"),
    ("OS", "social_inquiry_report"),
    ("OS", "durable_solution_proposal"),
    ("IS", "durable_solution_proposal"),
    ("IS", "durable_solution_agreement"),
    ("OS", "durable_solution_agreement"),
    ("IS", "protection_alert"),
    ("OS", "case_closure"),
    ("IS", "case_closure"),
    ("IS", "acknowledgement"),
    ("OS", "acknowledgement"),
    ("OS", "request_refusal"),
    ("IS", "withdrawal"),
]


@st.composite
def _stories(draw: st.DrawFn) -> Story:
    s = Story()
    s.acknowledge(s.notify())
    for _ in range(draw(st.integers(0, 12))):
        side_name, kind = draw(st.sampled_from(_KINDS))
        side = Side(side_name)
        gap = draw(st.integers(-120_000, 120_000))  # clocks disagree and step back
        earlier = [e for e in s.events if e.sender_side is not side] or s.events
        ref = draw(st.sampled_from(earlier))
        facts: dict[str, object] = {
            "refers_to": ref.message_id,
            "refers_sha256": ref.body_sha256,
            "solution": draw(st.sampled_from(["RETURN_FAMILY_REUNIFICATION", "STAY_IN_HOST_STATE"])),
            "solution_state": draw(st.sampled_from(["AL", "GR"])),
            "approval": approval(),
            "gate": passing_gate() if draw(st.booleans()) else None,
            "alert_type": draw(st.sampled_from(["MISSING", "FOUND"])),
            "closure_action": "REQUEST",
            "closure_outcome": draw(st.sampled_from(["RE_TRAFFICKED", "DUPLICATE"])),
            "refusal_reason": "OBJECTS_TO_CLOSURE",
            "ack_kind": "RECEIVED_AND_ASSIGNED",
        }
        s.send(side, kind, after_ms=gap, **facts)  # type: ignore[arg-type]
    return s


def _arrival(story: Story, side: Side, rnd: st.DataObject) -> list[Event]:
    """One possible arrival order at ``side``: each sender's messages in its own order, interleaved at random."""
    queues = {k: [e for e in story.events if e.sender_side is k] for k in (IS, OS)}
    out: list[Event] = []
    while queues[IS] or queues[OS]:
        choices = [k for k in (IS, OS) if queues[k]]
        out.append(queues[rnd.draw(st.sampled_from(choices))].pop(0))
    return out


@settings(max_examples=200, deadline=None)
@given(story=_stories(), data=st.data())
def test_both_nodes_fold_any_interleaving_of_the_same_messages_to_the_same_stage(
    story: Story, data: st.DataObject
) -> None:
    """Whatever order each node got the other's messages in, both reach one stage and flag the same messages."""
    is_state = story.fold(IS, events=_arrival(story, IS, data))
    os_state = story.fold(OS, events=_arrival(story, OS, data))
    same = is_state.stage is os_state.stage or {is_state.stage, os_state.stage} == {Stage.NOTIFIED, Stage.RECEIVED}
    assert same, (is_state.stage, os_state.stage)
    assert [f.message_id for f in is_state.flagged] == [f.message_id for f in os_state.flagged]
    assert is_state.counter_rounds == os_state.counter_rounds


@given(story=_stories(), data=st.data())
def test_canonical_order_keeps_each_senders_own_order(story: Story, data: st.DataObject) -> None:
    """The canonical order keeps each sender's messages in its order, even with its clock stepped back."""
    ordered = canonical_order(_arrival(story, IS, data))
    for side in (IS, OS):
        seqs = [e.sequence for e in ordered if e.sender_side is side]
        assert seqs == sorted(seqs)


def test_a_claim_of_verified_adulthood_needs_a_registry_answer_first() -> None:
    """A2: a message saying VERIFIED_ADULT is refused until a civil-registry reply gave 18+; then it passes."""
    s = Story()
    s.acknowledge(s.notify())
    claim = s.send(IS, "protection_alert", alert_type="DETAINED", claims_verified_adult=True)
    flagged = s.fold(OS).flagged[-1]
    assert flagged.message_id == claim.message_id
    assert "A2 (minority)" in flagged.reason
    iv = s.send(IS, "identity_verification_request")
    s.send(
        OS,
        "identity_verification_reply",
        in_reply_to=iv.message_id,
        claims_verified_adult=True,
        evidence=IdentityReply("CONFIRMED", minority="VERIFIED_ADULT", source="CIVIL_REGISTRY", adult_by_registry=True),
    )
    assert s.fold(IS).minority == "VERIFIED_ADULT"
    later = s.send(IS, "protection_alert", alert_type="RELEASED", claims_verified_adult=True)
    assert later.message_id not in {f.message_id for f in s.fold(OS).flagged}


def test_a_reply_confirming_minority_verifies_it_and_a_document_never_ends_it() -> None:
    """A reply saying VERIFIED_MINOR verifies the minority; one from a family statement saying adult changes nothing."""
    s = Story()
    s.acknowledge(s.notify())
    iv = s.send(IS, "identity_verification_request")
    s.send(
        OS,
        "identity_verification_reply",
        in_reply_to=iv.message_id,
        evidence=IdentityReply("CONFIRMED", minority="VERIFIED_ADULT", source="FAMILY_STATEMENT"),
    )
    assert s.fold(IS).minority == "PRESUMED_MINOR"
    s.send(
        OS,
        "identity_verification_reply",
        in_reply_to=iv.message_id,
        evidence=IdentityReply("CONFIRMED", minority="VERIFIED_MINOR", source="CIVIL_REGISTRY"),
    )
    assert s.fold(IS).minority == "VERIFIED_MINOR"


def test_a_guardian_appointed_after_the_deadline_must_say_why() -> None:
    """A late guardian notice without a delay reason is flagged; with one it is applied; a timely one needs none."""
    s = Story()
    n = s.notify()  # identified a day before the story's start
    s.acknowledge(n)
    identified = n.facts.identified_at_ms
    late = s.send(IS, "guardian_appointment_notice", guardian_appointed_at_ms=identified + 30 * 3_600_000)
    assert "late_guardian_says_why" in s.fold(OS).flagged[-1].reason
    assert s.fold(OS).flagged[-1].message_id == late.message_id
    s.send(
        IS, "guardian_appointment_notice", guardian_appointed_at_ms=identified + 30 * 3_600_000, delay_reason_given=True
    )
    on_time = s.send(IS, "guardian_appointment_notice", guardian_appointed_at_ms=identified + 6 * 3_600_000)
    flagged = {f.message_id for f in s.fold(OS).flagged}
    assert late.message_id in flagged
    assert on_time.message_id not in flagged
    assert len(flagged) == 1


def test_a_reply_from_a_node_whose_clock_is_behind_still_answers_the_request() -> None:
    """The State of origin's clock is a minute behind: its report, dated before the request, still sorts after it."""
    s = Story()
    s.acknowledge(s.notify())
    request = s.send(IS, "social_inquiry_request")
    s.send(
        OS,
        "social_inquiry_report",
        in_reply_to=request.message_id,
        after_ms=-60_000,
        evidence=GOOD_EVIDENCE["social_inquiry_report"],
    )
    for side in (IS, OS):
        state = s.fold(side)
        assert state.flagged == []
        assert state.latest("social_inquiry_report") is not None


@given(story=_stories(), data=st.data())
def test_no_message_sorts_before_a_message_it_refers_to(story: Story, data: st.DataObject) -> None:
    """Whatever the clocks say, the canonical order puts every referenced message of the link first."""
    ordered = canonical_order(_arrival(story, IS, data))
    position = {e.message_id: i for i, e in enumerate(ordered)}
    for e in ordered:
        for ref in (e.in_reply_to, e.facts.refers_to):
            if ref in position and ref != e.message_id:
                assert position[ref] < position[e.message_id]


def test_the_family_contact_rule_is_sticky_only_the_identifying_state_relaxes_it() -> None:
    """IS sets NO_CONTACT: an OS message relaxing it is flagged, one repeating it passes; IS may then relax it."""
    s = Story()
    s.acknowledge(s.notify())
    s.send(IS, "social_inquiry_request", family_contact="NO_CONTACT")
    relaxed = s.send(OS, "clarification_request", family_contact="CONTACT_ALLOWED")
    flagged = s.fold(IS).flagged
    assert [f.message_id for f in flagged] == [relaxed.message_id]
    assert "FC (family_contact)" in flagged[0].reason
    kept = s.send(OS, "clarification_request", family_contact="NO_CONTACT")
    assert kept.message_id not in {f.message_id for f in s.fold(IS).flagged}
    s.send(IS, "protection_alert", alert_type="FOUND", family_contact="CONTACT_ALLOWED")
    later = s.send(OS, "clarification_request", family_contact="CONTACT_ALLOWED")
    assert later.message_id not in {f.message_id for f in s.fold(OS).flagged}
