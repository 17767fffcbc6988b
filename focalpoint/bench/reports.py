"""The reports' and the deadline scan's speed over the ``bench cases`` store (docs/operations.md
§13.5), each beside the path they replaced, in the same run:

- indicators: a year's national indicators (``Reports.national``, the last full calendar year) in
  a fresh process opening the same database, as a node serving an auditor would: its time
  (``indicators_100k_s``) and the process's peak resident memory (``indicators_rss_mb``, VmHWM,
  start-up included); then the ageing report's bilateral view in that process
  (``ageing_100k_s``), and the overdue count that the operations listener's
  ``focalpoint_deadlines_overdue`` gauge reads (``OverdueDeadlines.count``: ``overdue_count_s``)
  with a scrape's read of the kept count (``overdue_scrape_p95_ms``). Baseline: the fold path the
  summaries replaced — read, open and fold a link's events, read its receipts, build its facts —
  timed on a sample of links and scaled to all
  of them (``indicators_fold_estimate_s``).
- deadline scan: the node's real ``Deadlines.scan`` (its people and partner replaced by recorders)
  once at the bench's "now" to settle, then once a minute for ``_SCANS`` minutes, as the
  maintenance loop runs it: ``deadline_scan_ms`` is the p95 of those, ``deadline_scan_links`` the
  links they visited. Baseline: the same fold path over every open link, scaled from the sample
  (``deadline_scan_fold_estimate_ms``), which is what a scan cost before.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from focalpoint.node.casework import CaseWork
from focalpoint.node.deadlines import Deadlines
from focalpoint.node.notify import CapturingNotifier
from focalpoint.node.overdue import OverdueDeadlines
from focalpoint.node.summaries import link_requests, summarise
from focalpoint.storage.cipher import StorageCipher
from focalpoint.storage.sqlite import SqliteStore

__all__ = ["REPORT_TARGETS", "child", "measure_fold", "measure_reports", "measure_scan"]

REPORT_TARGETS = {"indicators_100k_s": 2.0, "indicators_rss_mb": 150.0, "ageing_100k_s": 1.0, "deadline_scan_ms": 100.0}
_SCANS = 20
_SAMPLE = 300
_CHILD_TIMEOUT_S = 600


class _Desk:
    """The partner's side of a reminder, recorded instead of sent (the bench has no network)."""

    def __init__(self) -> None:
        self.sent = 0

    async def remind(self, *args: Any, **kwargs: Any) -> None:
        self.sent += 1

    async def note_reminder(self, *args: Any, **kwargs: Any) -> None:
        self.sent += 1


class _People:
    """One officer, supervisor and operator for every unit (who is told is not what is timed)."""

    async def supervisors(self, unit: str) -> list[str]:
        return ["supervisor-1"]

    async def officers(self, unit: str) -> list[str]:
        return ["officer-1"]

    async def operators(self) -> list[str]:
        return ["operator-1"]

    async def assigned(self, link_id: str) -> frozenset[str]:
        return frozenset()


async def measure_fold(work: CaseWork, store: SqliteStore, links: list[str]) -> float:
    """Milliseconds a link costs on the fold path (median over ``links``)."""
    times: list[float] = []
    for link_id in links:
        t0 = time.perf_counter()
        row = await work.link(link_id)
        events = await work.events(row)
        state = await work.state(row, events=events)
        tracked = await link_requests(work, store, row, events, state)
        summarise(work, row, events, state, tracked)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


async def measure_scan(work: CaseWork, store: SqliteStore, now_ms: int, open_links: int) -> dict[str, Any]:
    """The deadline scan at ``now_ms`` (settling) and then once a minute, timed."""
    notifier = CapturingNotifier()
    desk = _Desk()
    clock = [now_ms]
    deadlines = Deadlines(
        work=work,
        desk=desk,  # type: ignore[arg-type]
        store=store,
        accounts=_People(),  # type: ignore[arg-type]
        notifier=notifier,
        clock_ms=lambda: clock[0],
    )
    t0 = time.perf_counter()
    settle = await deadlines.scan(now_ms)
    settle_ms = (time.perf_counter() - t0) * 1000
    times: list[float] = []
    visited = steps = 0
    for _ in range(_SCANS):
        clock[0] += 60_000
        t0 = time.perf_counter()
        done = await deadlines.scan(clock[0])
        times.append((time.perf_counter() - t0) * 1000)
        visited += done.links
        steps += done.steps
    p95 = statistics.quantiles(times, n=20, method="inclusive")[-1]
    return {
        "deadline_scan_ms": round(p95, 2),
        "deadline_scan_p50_ms": round(statistics.median(times), 2),
        "deadline_scan_scans": len(times),
        "deadline_scan_links": visited,
        "deadline_scan_steps": steps,
        "deadline_settle_ms": round(settle_ms, 1),
        "deadline_settle_links": settle.links,
        "deadline_open_links": open_links,
    }


async def measure_reports(path: Path, key: bytes) -> dict[str, Any]:
    """The indicators and the ageing report in a fresh process over the database at ``path``."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from focalpoint.bench.reports import child; child()",
        str(path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(key.hex().encode()), _CHILD_TIMEOUT_S)
    if proc.returncode != 0:
        raise RuntimeError(f"the reports process failed: {err.decode(errors='replace')[-2000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource  # not Linux: ru_maxrss (kilobytes there too on most systems)

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child() -> None:
    """In a fresh process: open the store (the key comes on stdin), compute, print JSON."""
    path = Path(sys.argv[1])
    key = bytes.fromhex(sys.stdin.read().strip())
    print(json.dumps(asyncio.run(_child(path, key))))


async def _child(path: Path, key: bytes) -> dict[str, Any]:
    import datetime as dt

    from focalpoint.bench.casenet import _ME, _NOW_MS, _directory
    from focalpoint.cases.disclosure import Period
    from focalpoint.node.reports import Reports

    store = await SqliteStore.open(path)
    try:
        work = CaseWork(me=_ME, directory=_directory, store=store.cases, inbox=store.inbox, outbox=store.outbox,
                        cipher=StorageCipher(key), clock_ms=lambda: _NOW_MS)  # fmt: skip
        reports = Reports(work=work, store=store, clock_ms=lambda: _NOW_MS)
        year = dt.datetime.fromtimestamp(_NOW_MS / 1000, dt.UTC).year - 1
        t0 = time.perf_counter()
        national = await reports.national(Period.parse(str(year), now_ms=_NOW_MS))
        indicators_s = time.perf_counter() - t0
        rss = _peak_rss_mb()
        t0 = time.perf_counter()
        ageing = await reports.ageing("bilateral")
        ageing_s = time.perf_counter() - t0
        overdue = OverdueDeadlines(work=work, store=store, clock_ms=lambda: _NOW_MS)
        t0 = time.perf_counter()
        counted = await overdue.count()
        if counted is None:
            raise RuntimeError("the overdue count failed (see the log)")
        overdue_s = time.perf_counter() - t0
        scrapes = []
        for _ in range(100):
            t0 = time.perf_counter()
            await overdue.read()
            scrapes.append((time.perf_counter() - t0) * 1000)
    finally:
        await store.close()
    return {
        "indicators_100k_s": round(indicators_s, 3),
        "indicators_rss_mb": round(rss, 1),
        "indicators_period": str(year),
        "indicators_outputs": len(national.outputs),
        "indicators_unreadable": national.unreadable_links,
        "ageing_100k_s": round(ageing_s, 3),
        "ageing_unreadable": ageing.unreadable_links,
        "overdue_count_s": round(overdue_s, 3),
        "overdue_requests": sum(n for _, n in counted.counts),
        "overdue_scrape_p95_ms": round(sorted(scrapes)[94], 4),
        "reports_pid": os.getpid(),
    }
