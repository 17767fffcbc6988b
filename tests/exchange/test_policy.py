"""The agreement rule: covered kinds, control kinds through what they refer to, a suspended agreement's few kinds."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from directory import AgreementInfo, AgreementStatus, CaseRules, Directory
from focalpoint.errors import Refusal, RefusalError
from focalpoint.exchange.policy import check_exchange
from focalpoint.localnet import NodeSpec
from focalpoint.localnet.samples import sample_body
from focalpoint.v1 import codes_pb2, messages_pb2
from tests.support.dirworld import World, directory_of, make_world

GR, AL = "gr-ekka", "al-shss"
NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Two nodes of two States (the agreements are set per test)."""
    return make_world(tmp_path_factory.mktemp("net"), [NodeSpec(GR, "GR", "EKKA"), NodeSpec(AL, "AL", "SHSS")], now=NOW)


def _directory(
    world: World, *, status: AgreementStatus = AgreementStatus.IN_FORCE, kinds: tuple[str, ...]
) -> Directory:
    agreement = AgreementInfo(
        agreement_id="AL-GR-2026",
        version=1,
        title="AL-GR",
        parties=frozenset({"AL", "GR"}),
        status=status,
        kinds=frozenset(kinds),
        deadlines={},
        working_languages=("en",),
        return_costs=codes_pb2.RETURN_COSTS_SHARED,
    )
    return directory_of(world.copies().values(), agreements={agreement.agreement_id: agreement})


def _ack_of(kind: str) -> messages_pb2.Body:
    body = sample_body("acknowledgement")
    body.acknowledgement.acknowledges.kind = kind
    return body


def test_a_control_kind_travels_when_the_agreement_covers_the_kind_it_refers_to(world: World) -> None:
    """An acknowledgement of a social inquiry request passes under an agreement covering only the request."""
    directory = _directory(world, kinds=("social_inquiry_request",))
    check_exchange(
        directory, sender_node=AL, recipient_node=GR, kind="acknowledgement", body=_ack_of("social_inquiry_request")
    )


def test_a_control_kind_referring_to_an_uncovered_kind_is_refused(world: World) -> None:
    """The same acknowledgement of a kind the agreement does not cover is NO_AGREEMENT naming the agreement."""
    directory = _directory(world, kinds=("social_inquiry_request",))
    with pytest.raises(RefusalError) as caught:
        check_exchange(
            directory,
            sender_node=AL,
            recipient_node=GR,
            kind="acknowledgement",
            body=_ack_of("durable_solution_proposal"),
        )
    assert caught.value.code is Refusal.NO_AGREEMENT
    assert "AL-GR-2026 (in force)" in caught.value.reason


def test_a_suspended_agreement_lets_only_its_suspended_kinds_through(world: World) -> None:
    """Suspended: a protection alert and a withdrawal pass, a social inquiry report is refused."""
    directory = _directory(world, status=AgreementStatus.SUSPENDED, kinds=("social_inquiry_report", "protection_alert"))
    check_exchange(directory, sender_node=GR, recipient_node=AL, kind="protection_alert")
    check_exchange(directory, sender_node=GR, recipient_node=AL, kind="withdrawal")
    with pytest.raises(RefusalError) as caught:
        check_exchange(directory, sender_node=AL, recipient_node=GR, kind="social_inquiry_report")
    assert "(suspended)" in caught.value.reason


def test_an_agreement_may_name_other_kinds_for_its_suspension(world: World) -> None:
    """kinds_when_suspended comes from the agreement's case rules."""
    directory = _directory(world, status=AgreementStatus.SUSPENDED, kinds=("case_notification",))
    agreement = directory.agreements["AL-GR-2026"]
    object.__setattr__(
        agreement, "case_rules", dataclasses.replace(CaseRules(), kinds_when_suspended=frozenset({"reminder"}))
    )
    check_exchange(directory, sender_node=GR, recipient_node=AL, kind="reminder")
    with pytest.raises(RefusalError):
        check_exchange(directory, sender_node=GR, recipient_node=AL, kind="protection_alert")
