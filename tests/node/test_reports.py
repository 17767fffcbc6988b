"""Reading every link for the indicators: page after page, a damaged row counted and skipped
(even as the last of a page), a link whose events cannot be read counted, each link once; each
link's requests read with their clocks started at the receipts the store holds (I2)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any, cast

from focalpoint.cases.disclosure import Period
from focalpoint.cases.events import Event
from focalpoint.cases.fold import new_link
from focalpoint.cases.stages import Side, Stage
from focalpoint.cases.state import LinkState, Rules
from focalpoint.errors import DamagedData
from focalpoint.node.casework import CaseWork
from focalpoint.node.reports import Reports
from focalpoint.storage.base import DamagedLink, DeliveryState, LinkRow, OutboxRow, Store
from tests.support.story import DAY, T0, Story


def _row(n: int) -> LinkRow:
    return LinkRow(
        link_id=f"l{n:04d}",
        case_id=f"c{n // 2}",  # two links per case
        case_ref="GR-X",
        partner_node="al-shss",
        partner_state="AL",
        our_side=Side.IS,
        unit="gr-ekka/athens",
        created_at_ms=n,
        stage=Stage.NOTIFIED,
        stage_since_ms=n,
        urgency=0,
        gate_missing="",
        next_due_ms=None,
        flagged=0,
        closed=False,
        updated_at_ms=1000 + n // 3,  # ties, broken by link id
        payload=b"",
    )


class _Cases:
    """A worklist over ``rows``; the reports read closed links too (``include_closed``), the
    deadline scan only open ones."""

    def __init__(self, rows: list[LinkRow | DamagedLink], *, include_closed: bool = True) -> None:
        self.rows = rows
        self.calls = 0
        self.include_closed = include_closed

    async def worklist(
        self, unit: str | None, *, limit: int, before: tuple[int, str] | None = None, include_closed: bool = False
    ) -> list[LinkRow | DamagedLink]:
        self.calls += 1
        assert include_closed is self.include_closed
        out = []
        for r in self.rows:  # newest first; a damaged row sorts where its position puts it
            key = (r.updated_at_ms, r.link_id) if isinstance(r, LinkRow) else None
            if before is None or key is None or key < before:
                out.append(r)
        return out[:limit]


class _Rows:
    """The outbox or inbox of the store, by case: only what the reports read (the receipts)."""

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    async def of_case(self, case_ref: str) -> list[Any]:
        return [r for r in self.rows if r.case_ref == case_ref]


class _Store:
    def __init__(self, cases: _Cases, *, outbox: list[OutboxRow] | None = None) -> None:
        self.cases = cases
        self.outbox = _Rows(outbox or [])
        self.inbox = _Rows([])


class _Work:
    me = "gr-ekka"

    def __init__(self, events: dict[str, list[Event]] | None = None) -> None:
        self.stored = events or {}

    async def events(self, link: LinkRow) -> list[Event]:
        if link.link_id == "l0007":
            raise DamagedData("case_events row 1: the stored case event cannot be read")
        return self.stored.get(link.link_id, [])

    async def state(self, link: LinkRow, *, events: list[Event]) -> LinkState:
        return new_link(our_side=Side.IS, is_state="GR", os_state="AL")

    def rules(self, link: LinkRow) -> Rules:
        return Rules()

    def agreement_deadlines(self, link: LinkRow) -> tuple[dict[str, Any], None]:
        return {}, None  # no agreement: the network defaults

    def directory(self) -> Any:
        return SimpleNamespace(node=lambda node_id: None, states={})


async def test_every_link_is_read_once_across_pages_and_unreadable_ones_are_counted() -> None:
    ordered = sorted((_row(n) for n in range(450)), key=lambda r: (r.updated_at_ms, r.link_id), reverse=True)
    rows: list[LinkRow | DamagedLink] = list(ordered)
    rows.insert(199, DamagedLink(row=9999, link_id="", reason="stage: not a stage"))  # the last of page 1
    cases = _Cases(rows)
    reports = Reports(work=cast(CaseWork, _Work()), store=cast(Store, cast(Any, _Store(cases))), clock_ms=lambda: 0)
    links, unreadable = await reports.links(None)
    assert len(links) == 449  # 450 links, one with damaged events
    assert unreadable == 2  # that one, and the damaged row
    assert len({lk.case_id for lk in links}) == 225
    assert cases.calls <= 4


async def test_a_sent_and_receipted_social_inquiry_counts_in_i2_on_the_dashboard() -> None:
    """The receipt that closed the outbox row starts the request's clock: the request counts in
    the period of the receipt, and a report 12 days later is an answer within the 30 days."""
    story = Story()
    inquiry = story.send(Side.IS, "social_inquiry_request")
    received = inquiry.at_ms + 3_600_000
    story.send(Side.OS, "social_inquiry_report", in_reply_to=inquiry.message_id, after_ms=12 * DAY)
    row = _row(0)
    sent = OutboxRow(
        seq=1,
        message_id=inquiry.message_id,
        recipient=row.partner_node,
        peer_sequence=1,
        envelope=b"",
        digest=b"",
        local_copy=b"",
        created_at_ms=inquiry.at_ms,
        expires_at_ms=inquiry.at_ms + DAY,
        state=DeliveryState.DELIVERED,
        attempts=1,
        next_attempt_ms=0,
        last_error="",
        receipt=b"r",
        delivered_at_ms=received,
        case_ref=row.case_ref,
    )
    work = _Work({row.link_id: story.view(Side.IS)})
    store = _Store(_Cases([row]), outbox=[sent])
    reports = Reports(work=cast(CaseWork, work), store=cast(Store, cast(Any, store)), clock_ms=lambda: story.clock)
    year = Period(dt.datetime.fromtimestamp(T0 / 1000, dt.UTC).year)
    dashboard = {o.definition_id: o for o in (await reports.own_unit(year, "gr-ekka/athens")).outputs}
    i2 = {f.name: f.value for f in dashboard["I2"].figures}
    assert (i2["partner_responding.requests"], i2["we_responding.requests"]) == (1, 0)
    assert i2["partner_responding.answered_in_time_percent"] == "100 %"
    assert i2["partner_responding.open_overdue"] == 0
    [table] = [t for name, t in dashboard["I2"].tables if name == "partner_responding.by_partner_and_kind"]
    kinds = table.dimensions[1].values
    assert table.cells[0][kinds.index("social_inquiry_request")] == 1
