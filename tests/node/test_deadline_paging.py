"""The deadline scan reads every open link once across pages, and a damaged row at the end of a
page (it has no sort key) never hides the links after it."""

from __future__ import annotations

from typing import Any, cast

from focalpoint.node.deadlines import Deadlines, Scan
from focalpoint.storage.base import DamagedLink, LinkRow
from tests.node.test_reports import _Cases, _row, _Store


class _Work:
    async def catch_up(self) -> int:
        return 0


class _Recording(Deadlines):
    scanned: list[str]

    async def _scan_link(self, link: LinkRow, now: int) -> Scan:
        self.scanned.append(link.link_id)
        return Scan()


async def test_a_damaged_row_at_a_page_end_hides_no_link() -> None:
    ordered = sorted((_row(n) for n in range(450)), key=lambda r: (r.updated_at_ms, r.link_id), reverse=True)
    rows: list[LinkRow | DamagedLink] = list(ordered)
    rows.insert(199, DamagedLink(row=9999, link_id="", reason="column stage holds text that is not a stage"))
    deadlines = _Recording(
        work=cast("Any", _Work()),
        desk=cast("Any", None),
        store=cast("Any", _Store(_Cases(rows, include_closed=False))),
        accounts=cast("Any", None),
        notifier=cast("Any", None),
        clock_ms=lambda: 0,
    )
    deadlines.scanned = []
    done = await deadlines.scan(now_ms=0)
    assert sorted(deadlines.scanned) == sorted(r.link_id for r in ordered)  # every link, once
    assert done.links == 450
