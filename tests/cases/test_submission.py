"""What an official submits on a link: the node's own completions are not problems, a hand-made approval is."""

from __future__ import annotations

import pytest

from focalpoint.cases.submission import APPROVAL_BY_NODE, check_submission, submission_problems
from focalpoint.exchange.body import InvalidBody, body_problems
from focalpoint.localnet.samples import SAMPLE_AT_MS, sample_body


def test_a_named_message_without_its_hash_and_a_missing_approval_are_left_to_the_node() -> None:
    """An EvidenceRef giving only a message id, and no approval on a kind that needs one: no problem to
    the official, though the sealed body would need both."""
    body = sample_body("durable_solution_agreement")
    body.durable_solution_agreement.accepts.Clear()
    body.durable_solution_agreement.accepts.message_id = bytes(16)
    body.durable_solution_agreement.ClearField("approval")
    assert {p.path for p in body_problems(body)} == {
        "durable_solution_agreement.accepts.body_sha256",
        "durable_solution_agreement.accepts.kind",
        "durable_solution_agreement.approval",
    }
    assert submission_problems(body, now_ms=SAMPLE_AT_MS) == ()


@pytest.mark.parametrize("kind", ["durable_solution_proposal", "case_closure", "repatriation_plan_acceptance"])
def test_an_approval_filled_in_by_hand_is_a_problem_naming_its_path(kind: str) -> None:
    """Only the node records who approved (when another user approves the draft)."""
    body = sample_body(kind)
    with pytest.raises(InvalidBody) as refused:
        check_submission(body, now_ms=SAMPLE_AT_MS)
    assert [(p.path, p.message) for p in refused.value.problems] == [(f"{kind}.approval", APPROVAL_BY_NODE)]


def test_a_counter_proposal_carries_its_approval_inside_its_proposal() -> None:
    """The counter-proposal's approval path is proposal.approval."""
    body = sample_body("durable_solution_counter_proposal")
    assert [p.path for p in submission_problems(body)] == ["durable_solution_counter_proposal.proposal.approval"]


def test_other_mistakes_are_still_reported() -> None:
    """A message id of the wrong length is the official's mistake, not something the node completes."""
    body = sample_body("acknowledgement")
    body.acknowledgement.acknowledges.Clear()
    body.acknowledgement.acknowledges.message_id = bytes(3)
    paths = {p.path for p in submission_problems(body)}
    assert "acknowledgement.acknowledges.message_id" in paths
    assert "acknowledgement.acknowledges.body_sha256" in paths
