"""Reading every link for the indicators: page after page, a damaged row counted and skipped
(even as the last of a page), a link whose events cannot be read counted, each link once."""

from __future__ import annotations

from typing import Any, cast

from focalpoint.cases.events import Event
from focalpoint.cases.fold import new_link
from focalpoint.cases.stages import Side, Stage
from focalpoint.cases.state import LinkState, Rules
from focalpoint.errors import DamagedData
from focalpoint.node.casework import CaseWork
from focalpoint.node.reports import Reports
from focalpoint.storage.base import DamagedLink, LinkRow, Store


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


class _Store:
    def __init__(self, cases: _Cases) -> None:
        self.cases = cases


class _Work:
    me = "gr-ekka"

    async def events(self, link: LinkRow) -> list[Event]:
        if link.link_id == "l0007":
            raise DamagedData("case_events row 1: the stored case event cannot be read")
        return []

    async def state(self, link: LinkRow, *, events: list[Event]) -> LinkState:
        return new_link(our_side=Side.IS, is_state="GR", os_state="AL")

    def rules(self, link: LinkRow) -> Rules:
        return Rules()


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
