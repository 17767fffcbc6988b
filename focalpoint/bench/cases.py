"""``focalpoint bench cases``: the case layer's speed at a realistic size, each measure beside a raw
baseline in the same run.

Setup (timed apart): a real SQLite store in a temporary directory, with a storage key generated for
the run, holding ``links`` links across 20 units and 10 partner States, each with an invented
history (``focalpoint.bench.casedata``: mostly 3 to ``events_per_link`` events, 1 % long ones, a
tenth closed). Events are encoded and sealed exactly as ``CaseWork`` seals them and written
straight through ``store.cases.apply`` in large batches, with the link's columns from folding its
history. Then, each measure ``rounds`` times (and never longer than a time budget):

- worklist: a unit's open links, newest first, 50 a page (``store.cases.worklist``), first and
  later pages of every unit, with what is owed on each link read from its summary
  (``Summaries.owed``, as ``ListCases`` serves it); baseline: the same query on a plain ``sqlite3``
  connection;
- timeline: one random link read (``CaseWork.link``, ``CaseWork.events``: every event opened and
  decoded), folded event by event and formatted (ISO time, kind, stage after it); baseline: the
  link's row and its event rows read raw, neither opened nor decoded;
- fold of 1,000 events (``focalpoint.cases.fold.fold``); baseline: a loop over the same events
  reading one attribute;
- apply: ``CaseWork.catch_up`` of one inbox row just committed on a realistic link (open the
  stored copy, facts, fold, one case write); baseline: that row's inbox commit
  (``store.inbox.add`` with its DELIVERED event and signed receipt, one fsync), measured in-process
  — the receive path's own durable step, not a whole ``bench exchange`` round trip.

The targets are the issue's (docs/operations.md §13.5).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from focalpoint.bench.casedata import DAY_MS, history
from focalpoint.bench.casenet import _ME, _MY_STATE, _NOW_MS, _PARTNER_STATES, _directory, _partner
from focalpoint.bench.reports import REPORT_TARGETS, measure_fold, measure_reports, measure_scan
from focalpoint.cases.clocks import guardian_steps
from focalpoint.cases.events import Event, Facts, Origin
from focalpoint.cases.fold import apply, canonical_order, fold, new_link, settle
from focalpoint.cases.gate import evaluate
from focalpoint.cases.requests import LADDER_KIND, TrackedRequest, request_steps, tracked_requests
from focalpoint.cases.stages import TERMINAL, Side, Stage
from focalpoint.cases.state import LinkState, Rules
from focalpoint.cases.summary import encode, wake_ms
from focalpoint.crypto.signing import Ed25519Signer
from focalpoint.crypto.suite import EncryptionPrivateKey
from focalpoint.exchange.envelope import seal
from focalpoint.exchange.receipt import make_receipt
from focalpoint.localnet.samples import case_ref_for, sample_body
from focalpoint.node.casework import CaseWork
from focalpoint.node.summaries import Summaries, summarise
from focalpoint.storage.base import CaseWrite, LinkRow, LinkUpdate, NewCaseEvent, NewInbox, NewLink, NewSummary
from focalpoint.storage.cipher import StorageCipher, inbox_purpose
from focalpoint.storage.sqlite import SqliteStore
from focalpoint.storage.sqlite.cases import worklist_sql

__all__ = ["TARGETS", "format_cases", "run_cases_bench", "timeline"]

# The targets (ms): worklist and timeline at p95, the fold's median, the apply's p50.
TARGETS = {"worklist_p95_ms": 50.0, "timeline_p95_ms": 20.0, "fold_1000_ms": 5.0, "apply_overhead_ms": 1.0}
_UNITS = tuple(f"unit-{n:02d}" for n in range(1, 21))
_PAGE = 50
_BATCH = 2000  # links per setup write
_BUDGET_S = 30.0  # no measure runs longer
# What the partner sends on an assessed link (each allowed there; see focalpoint.bench.casedata).
_RECEIVED_KINDS = ("risk_assessment_report", "reintegration_plan", "clarification_request")
_RULES = Rules()


@dataclass(frozen=True, slots=True)
class _Link:
    """What setup wrote for one link, to pick samples from."""

    link_id: str
    case_ref: str
    partner: str
    our_side: Side
    unit: str
    events: int
    stage: Stage


def _length(rng: random.Random, usual: int) -> int:
    if rng.random() < 0.01:
        return rng.randint(usual + 1, 8 * usual)  # a long case: years of follow-up
    return round(rng.triangular(3, usual, 6))


def _past_steps(our_side: Side, state: LinkState, tracked: Sequence[TrackedRequest]) -> list[Event]:
    """The ladder levels a node running all along would have taken by now, as its deadline scan
    records them (``local:ladder``), so the link's summary wakes at its next rung, not now."""
    taken: list[tuple[bytes, str, int, int]] = []
    for t in tracked:
        taken += [(t.message_id, s.level.value, s.occurrence, s.due_at_ms) for s in request_steps(t, _NOW_MS, {})]
    if our_side is Side.IS and state.identified_at_ms:
        steps = guardian_steps(state.identified_at_ms, state.guardian_appointed_at_ms or None, state.minority,
                               _RULES.guardian_deadline_hours, _NOW_MS, frozenset())  # fmt: skip
        taken += [(b"guardian", s.level.value, s.occurrence, s.due_at_ms) for s in steps]
    return [
        Event(
            kind=LADDER_KIND,
            origin=Origin.LOCAL,
            sender_side=our_side,
            sender_node="",
            at_ms=at,
            message_id=b"ladder:" + about + b":" + level.encode() + b":" + str(n).encode(),
            actor="node",
            facts=Facts(refers_to=about, level=level, occurrence=n),
        )
        for about, level, n, at in taken
    ]


@dataclass(frozen=True, slots=True)
class _Made:
    link: _Link
    write: CaseWrite
    flagged: int
    summary: NewSummary  # built_from filled in once the write tells the generation


def _one_link(rng: random.Random, work: CaseWork, n: int, usual: int) -> _Made:
    partner_state = rng.choice(_PARTNER_STATES)
    partner = _partner(partner_state)
    our_side = Side.IS if rng.random() < 0.8 else Side.OS
    is_state, os_state = (_MY_STATE, partner_state) if our_side is Side.IS else (partner_state, _MY_STATE)
    length = _length(rng, usual)
    link_id, unit = rng.randbytes(16).hex(), rng.choice(_UNITS)
    start = _NOW_MS - rng.randrange(30, 900) * DAY_MS
    end = min(_NOW_MS - DAY_MS, start + length * rng.randrange(1, 15) * DAY_MS)
    events = history(rng, link_id=link_id, me=_ME, partner=partner, our_side=our_side, os_state=os_state, unit=unit,
                     length=length, start_ms=start, end_ms=end, closed=length >= 4 and rng.random() < 0.1)  # fmt: skip
    state = fold(events, our_side=our_side, is_state=is_state, os_state=os_state, rules=_RULES, now_ms=_NOW_MS)
    # The bench writes no outbox or inbox rows: each message is taken as receipted a minute after it was sent.
    receipts = {e.message_id: e.at_ms + 60_000 for e in events if e.origin is not Origin.LOCAL}
    tracked = tracked_requests(events, receipts=receipts, ignore=frozenset(f.message_id for f in state.flagged))
    events = events + _past_steps(our_side, state, tracked)
    gate = ""
    if our_side is Side.IS and state.stage not in TERMINAL:
        gate = ",".join(sorted(evaluate(state, _RULES, _NOW_MS).missing))
    case_ref = case_ref_for(n, is_state)
    new = NewLink(link_id=link_id, case_id=rng.randbytes(16).hex(), case_ref=case_ref, partner_node=partner,
                  partner_state=partner_state, our_side=our_side, unit=unit, created_at_ms=start,
                  payload=work._seal_link(link_id), stage=Stage.OPEN)  # fmt: skip
    update = LinkUpdate(link_id=link_id, stage=state.stage, stage_since_ms=state.stage_since_ms or start, urgency=0,
                        gate_missing=gate, next_due_ms=None, flagged=len(state.flagged), closed=state.stage in TERMINAL,
                        updated_at_ms=max(e.at_ms for e in events), unit=unit)  # fmt: skip
    sealed: list[NewCaseEvent] = [work.new_event(link_id, e) for e in events]
    write = CaseWrite(links=[new], events=sealed, updates=[update])
    row = LinkRow(link_id=link_id, case_id=new.case_id, case_ref=case_ref, partner_node=partner,
                  partner_state=partner_state, our_side=our_side, unit=unit, created_at_ms=start,
                  stage=update.stage, stage_since_ms=update.stage_since_ms, urgency=0, gate_missing=gate,
                  next_due_ms=None, flagged=update.flagged, closed=update.closed,
                  updated_at_ms=update.updated_at_ms, payload=b"")  # fmt: skip
    summary = summarise(work, row, events, state, tracked)
    stored = NewSummary(link_id, -1, work.rules_context(partner_state), wake_ms(summary, _NOW_MS),
                        work.seal_summary(link_id, encode(summary)), summary.case_id, summary.first_ms,
                        summary.last_ms)  # fmt: skip
    made = _Link(link_id, case_ref, partner, our_side, unit, length, state.stage)
    return _Made(made, write, len(state.flagged), stored)


async def _setup(
    store: SqliteStore, work: CaseWork, path: Path, links: int, usual: int
) -> tuple[list[_Link], int, int]:
    """Write ``links`` links in batches, each with its summary (as the node's deadline scan would
    have stored it); return them, their events and how many events the fold flagged."""
    rng = random.Random(0x0CA5E)  # noqa: S311 (reproducible histories, not secrecy)
    made: list[_Link] = []
    events = flagged = 0
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        for start in range(0, links, _BATCH):
            batch = [_one_link(rng, work, n, usual) for n in range(start, min(links, start + _BATCH))]
            await store.cases.apply(
                CaseWrite(
                    links=[x for m in batch for x in m.write.links],
                    events=[x for m in batch for x in m.write.events],
                    updates=[x for m in batch for x in m.write.updates],
                )
            )
            ids = [m.link.link_id for m in batch]
            generations = dict(
                conn.execute(
                    "SELECT link_id, generation FROM case_summaries WHERE link_id IN"  # noqa: S608 (placeholders)
                    f" ({','.join('?' * len(ids))})",
                    ids,
                ).fetchall()
            )
            summaries = [replace(m.summary, built_from=generations[m.link.link_id]) for m in batch]
            if await store.cases.save_summaries(summaries) != len(batch):
                raise RuntimeError("a summary written at setup was refused; the benchmark's data is wrong")
            made.extend(m.link for m in batch)
            events += sum(len(m.write.events) for m in batch)
            flagged += sum(m.flagged for m in batch)
    return made, events, flagged


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def _stats(samples: Sequence[float]) -> tuple[float, float]:
    """p50 and p95 (ms, 3 decimals)."""
    p95 = statistics.quantiles(samples, n=20, method="inclusive")[-1] if len(samples) > 1 else samples[0]
    return round(statistics.median(samples), 3), round(p95, 3)


async def _pairs(
    count: int, ours: Callable[[int], Awaitable[None]], raw: Callable[[int], None]
) -> tuple[list[float], list[float]]:
    """Time our path and the baseline on the same sample, turn about, ``count`` times or until the budget ends."""
    mine: list[float] = []
    theirs: list[float] = []
    deadline = time.monotonic() + _BUDGET_S
    for i in range(count):
        t0 = time.perf_counter()
        await ours(i)
        mine.append(_ms(t0))
        t0 = time.perf_counter()
        raw(i)
        theirs.append(_ms(t0))
        if time.monotonic() > deadline:
            break
    return mine, theirs


async def _worklist(store: SqliteStore, work: CaseWork, conn: sqlite3.Connection, rounds: int) -> dict[str, Any]:
    # The pages an officer turns: each unit's first five, their bounds found once, untimed.
    pages: list[tuple[str, tuple[int, str] | None]] = []
    for unit in _UNITS:
        before: tuple[int, str] | None = None
        for _ in range(5):
            pages.append((unit, before))
            rows = await store.cases.worklist(unit, limit=_PAGE, before=before)
            if len(rows) < _PAGE or not isinstance(rows[-1], LinkRow):
                break
            before = (rows[-1].updated_at_ms, rows[-1].link_id)
    sizes: list[int] = []
    summaries = Summaries(work=work, store=store, clock_ms=lambda: _NOW_MS)

    async def ours(i: int) -> None:
        unit, before = pages[i % len(pages)]
        rows = await store.cases.worklist(unit, limit=_PAGE, before=before)
        await summaries.owed([r for r in rows if isinstance(r, LinkRow)])
        sizes.append(len(rows))

    def raw(i: int) -> None:
        unit, before = pages[i % len(pages)]
        sql = worklist_sql(of_unit=True, include_closed=False, paged=before is not None)
        conn.execute(sql, [unit, *(before or ()), _PAGE]).fetchall()

    mine, theirs = await _pairs(rounds, ours, raw)
    return _measure("worklist", mine, theirs) | {"worklist_pages": len(pages), "worklist_rows": max(sizes)}


def timeline(events: list[Event], *, our_side: Side, is_state: str, os_state: str, now_ms: int) -> list[str]:
    """One line per event in the order both nodes fold them: ISO time, kind, the stage after it."""
    state = new_link(our_side=our_side, is_state=is_state, os_state=os_state)
    seen: set[bytes] = set()
    lines: list[str] = []
    for event in canonical_order(events):
        if event.message_id in seen:
            continue
        seen.add(event.message_id)
        flag = apply(state, event, _RULES)
        at = dt.datetime.fromtimestamp(event.at_ms / 1000, dt.UTC).isoformat(timespec="seconds")
        lines.append(f"{at}  {event.kind:<36} {state.stage.value}{'  (flagged)' if flag else ''}")
    settle(state, _RULES, now_ms)
    return lines


async def _timeline(work: CaseWork, conn: sqlite3.Connection, made: list[_Link], rounds: int) -> dict[str, Any]:
    rng = random.Random(20)  # noqa: S311
    picked = [rng.choice(made) for _ in range(rounds)]
    lengths: list[int] = []

    async def ours(i: int) -> None:
        link = await work.link(picked[i].link_id)
        events = await work.events(link)
        is_state, os_state = (
            (_MY_STATE, link.partner_state) if link.our_side is Side.IS else (link.partner_state, _MY_STATE)
        )
        lines = timeline(events, our_side=link.our_side, is_state=is_state, os_state=os_state, now_ms=_NOW_MS)
        lengths.append(len(lines))

    def raw(i: int) -> None:
        link_id = picked[i].link_id
        conn.execute("SELECT * FROM case_links WHERE link_id = ?", (link_id,)).fetchall()
        conn.execute(
            "SELECT seq, link_id, message_id, origin, kind, at_ms, sender_node, sequence, payload"
            " FROM case_events WHERE link_id = ? ORDER BY seq",
            (link_id,),
        ).fetchall()

    mine, theirs = await _pairs(rounds, ours, raw)
    return _measure("timeline", mine, theirs) | {"timeline_events_max": max(lengths)}


def _fold_1000(rounds: int) -> dict[str, Any]:
    rng = random.Random(1000)  # noqa: S311
    start = _NOW_MS - 3 * 365 * DAY_MS
    events = history(rng, link_id="f" * 32, me=_ME, partner=_partner("AL"), our_side=Side.IS, os_state="AL",
                     unit=_UNITS[0], length=1000, start_ms=start, end_ms=_NOW_MS - DAY_MS)  # fmt: skip
    mine: list[float] = []
    theirs: list[float] = []
    deadline = time.monotonic() + _BUDGET_S
    for _ in range(rounds):
        t0 = time.perf_counter()
        state = fold(events, our_side=Side.IS, is_state=_MY_STATE, os_state="AL", rules=_RULES, now_ms=_NOW_MS)
        mine.append(_ms(t0))
        t0 = time.perf_counter()
        for e in events:
            _ = e.at_ms
        theirs.append(_ms(t0))
        if time.monotonic() > deadline:
            break
    if state.flagged or state.stage is not Stage.FOLLOW_UP:
        raise RuntimeError("the 1,000-event history did not fold cleanly; the benchmark's data is wrong")
    ours_ms, raw_ms = statistics.median(mine), statistics.median(theirs)
    return {"fold_1000_ms": round(ours_ms, 3), "fold_1000_raw_ms": round(raw_ms, 4),
            "fold_1000_ratio": round(ours_ms / raw_ms, 1), "fold_rounds": len(mine)}  # fmt: skip


async def _apply(
    store: SqliteStore, work: CaseWork, cipher: StorageCipher, made: list[_Link], rounds: int
) -> dict[str, Any]:
    rng = random.Random(14)  # noqa: S311
    usual = [x for x in made if x.our_side is Side.IS and x.stage is Stage.ASSESSMENT and x.events <= 15]
    if not usual:
        raise RuntimeError("no link in assessment to receive messages on; run with more links")
    signer, key = Ed25519Signer.generate(), EncryptionPrivateKey.generate()
    rows: list[NewInbox] = []
    for i in range(rounds):  # sealed before timing, as the exchange hands them over
        link, kind = rng.choice(usual), _RECEIVED_KINDS[i % len(_RECEIVED_KINDS)]
        at = _NOW_MS - 3_600_000 + i
        sealed = seal(signer=signer, sender_node=link.partner, recipient_node=_ME, recipient_key=key.public,
                      body=sample_body(kind, case_ref=link.case_ref, at_ms=at), message_id=os.urandom(16),
                      created_at_ms=at, expires_at_ms=at + 30 * DAY_MS, directory_version=1,
                      sequence=1000 + i)  # fmt: skip
        local_copy = cipher.seal(sealed.payload, purpose=inbox_purpose(link.partner), message_id=sealed.message_id)
        rows.append(NewInbox(sender=link.partner, message_id=sealed.message_id,
                             envelope=sealed.envelope.SerializeToString(), digest=sealed.digest, local_copy=local_copy,
                             received_at_ms=at, expires_at_ms=at + 30 * DAY_MS, case_ref=link.case_ref,
                             message_kind=kind, sequence=1000 + i))  # fmt: skip

    def sign(fresh: Sequence[tuple[NewInbox, int]]) -> list[bytes]:
        return [make_receipt(signer, receiver_node=_ME, sender_node=r.sender, message_id=r.message_id,
                             envelope_digest=r.digest, received_at_ms=r.received_at_ms,
                             log_index=index).SerializeToString() for r, index in fresh]  # fmt: skip

    await work.catch_up()  # nothing committed yet: the cursors start where the inbox is
    commits: list[float] = []
    applies: list[float] = []
    deadline = time.monotonic() + _BUDGET_S
    for row in rows:
        t0 = time.perf_counter()
        await store.inbox.add([row], sign)
        commits.append(_ms(t0))
        t0 = time.perf_counter()
        applied = await work.catch_up()
        applies.append(_ms(t0))
        if applied != 1:
            raise RuntimeError(f"catch_up applied {applied} rows, not the one just committed")
        if time.monotonic() > deadline:
            break
    return _measure("apply", applies, commits, ours_name="apply_overhead", raw_name="inbox_commit")


def _measure(
    name: str, ours: list[float], raw: list[float], *, ours_name: str = "", raw_name: str = ""
) -> dict[str, Any]:
    ours_name, raw_name = ours_name or name, raw_name or f"{name}_raw"
    p50, p95 = _stats(ours)
    r50, r95 = _stats(raw)
    return {f"{ours_name}_ms" if ours_name == "apply_overhead" else f"{ours_name}_p50_ms": p50,
            f"{ours_name}_p95_ms": p95, f"{raw_name}_p50_ms": r50, f"{raw_name}_p95_ms": r95,
            f"{name}_ratio_p50": round(p50 / r50, 1), f"{name}_ratio_p95": round(p95 / r95, 1),
            f"{name}_samples": len(ours)}  # fmt: skip


async def run_cases_bench(*, links: int, events_per_link: int = 15, rounds: int = 200) -> dict[str, Any]:
    """Set up ``links`` links, then time each measure against its baseline ``rounds`` times."""
    key = os.urandom(32)
    cipher = StorageCipher(key)
    with tempfile.TemporaryDirectory(prefix="focalpoint-cases-") as tmp:
        path = Path(tmp) / "node.sqlite"
        store = await SqliteStore.open(path)
        try:
            work = CaseWork(me=_ME, directory=_directory, store=store.cases, inbox=store.inbox, outbox=store.outbox,
                            cipher=cipher, clock_ms=lambda: _NOW_MS)  # fmt: skip
            t0 = time.perf_counter()
            made, events, flagged = await _setup(store, work, path, links, events_per_link)
            setup_s = time.perf_counter() - t0
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
                result: dict[str, Any] = {"links": links, "events": events, "events_per_link": events_per_link,
                                          "rounds": rounds, "setup_s": round(setup_s, 1), "setup_flagged": flagged,
                                          "stages": _stages(made)}  # fmt: skip
                result |= await _worklist(store, work, conn, rounds)
                result |= await _timeline(work, conn, made, rounds)
                result |= _fold_1000(rounds)
                result |= await _apply(store, work, cipher, made, rounds)
            result |= await _scan(store, work, made)
        finally:
            await store.close()
        # The reports in a fresh process over the same file (one process holds a node database at a time).
        result |= await measure_reports(path, key)
    fold_s = result["fold_per_link_ms"] * len(made) / 1000
    result |= {
        "indicators_fold_estimate_s": round(fold_s, 1),
        "indicators_ratio": round(fold_s / result["indicators_100k_s"], 1),
        "ageing_ratio": round(fold_s / result["ageing_100k_s"], 1),
    }
    result["targets"] = {
        name: {"target_ms": limit, "value_ms": result[name], "met": result[name] <= limit}
        for name, limit in TARGETS.items()
    } | {
        name: {"target": limit, "value": result[name], "met": result[name] <= limit}
        for name, limit in REPORT_TARGETS.items()
    }
    return result


async def _scan(store: SqliteStore, work: CaseWork, made: list[_Link]) -> dict[str, Any]:
    """The fold path on a sample of links (the baseline), then the deadline scan: settling first,
    as the running node's does every minute, then once a minute."""
    open_links = sum(1 for m in made if m.stage not in TERMINAL)
    rng = random.Random(13)  # noqa: S311
    per_link_ms = await measure_fold(work, store, [m.link_id for m in rng.sample(made, min(len(made), 300))])
    result = await measure_scan(work, store, _NOW_MS, open_links)
    scan_fold_ms = per_link_ms * open_links
    return result | {
        "fold_per_link_ms": round(per_link_ms, 3),
        "deadline_scan_fold_estimate_ms": round(scan_fold_ms),
        "deadline_scan_ratio": round(scan_fold_ms / max(result["deadline_scan_ms"], 0.01), 1),
    }


def _stages(made: list[_Link]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for link in made:
        counts[link.stage.value] = counts.get(link.stage.value, 0) + 1
    return dict(sorted(counts.items()))


def format_cases(r: dict[str, Any]) -> str:
    def verdict(name: str) -> str:
        t = r["targets"][name]
        return f"target ≤ {t['target_ms']:g} ms: {'met' if t['met'] else 'NOT MET'}"

    def verdict2(name: str, unit: str) -> str:
        t = r["targets"][name]
        return f"target ≤ {t['target']:g} {unit}: {'met' if t['met'] else 'NOT MET'}"

    return "\n".join(
        [
            f"{r['links']} links, {r['events']} events (mostly 3–{r['events_per_link']} per link), set up in"
            f" {r['setup_s']} s; events the fold flagged: {r['setup_flagged']}",
            f"worklist (50 rows)  p50 {r['worklist_p50_ms']} ms  p95 {r['worklist_p95_ms']} ms"
            f"  | raw sqlite3 p50 {r['worklist_raw_p50_ms']} p95 {r['worklist_raw_p95_ms']}"
            f"  ×{r['worklist_ratio_p95']} at p95  {verdict('worklist_p95_ms')}",
            f"timeline            p50 {r['timeline_p50_ms']} ms  p95 {r['timeline_p95_ms']} ms"
            f"  | raw rows p50 {r['timeline_raw_p50_ms']} p95 {r['timeline_raw_p95_ms']}"
            f"  ×{r['timeline_ratio_p95']} at p95  {verdict('timeline_p95_ms')}",
            f"fold of 1,000 events  median {r['fold_1000_ms']} ms  | loop over them {r['fold_1000_raw_ms']} ms"
            f"  ×{r['fold_1000_ratio']}  {verdict('fold_1000_ms')}",
            f"apply one received message  p50 {r['apply_overhead_ms']} ms  p95 {r['apply_overhead_p95_ms']} ms"
            f"  | its inbox commit p50 {r['inbox_commit_p50_ms']} p95 {r['inbox_commit_p95_ms']}"
            f"  ×{r['apply_ratio_p50']} at p50  {verdict('apply_overhead_ms')}",
            f"indicators, a year  {r['indicators_100k_s']} s, peak RSS {r['indicators_rss_mb']} MB (fresh process)"
            f"  | fold path ≈ {r['indicators_fold_estimate_s']} s  ×{r['indicators_ratio']}"
            f"  {verdict2('indicators_100k_s', 's')}; {verdict2('indicators_rss_mb', 'MB')}",
            f"ageing (bilateral)  {r['ageing_100k_s']} s  | fold path ≈ {r['indicators_fold_estimate_s']} s"
            f"  ×{r['ageing_ratio']}  {verdict2('ageing_100k_s', 's')}",
            f"overdue count (/metrics)  {r['overdue_count_s']} s ({r['overdue_requests']} overdue requests),"
            f" once a minute at most; a scrape reading the kept count p95 {r['overdue_scrape_p95_ms']} ms",
            f"deadline scan, once a minute  p95 {r['deadline_scan_ms']} ms  p50 {r['deadline_scan_p50_ms']} ms"
            f" ({r['deadline_scan_links']} links visited in {r['deadline_scan_scans']} scans; settling scan"
            f" {r['deadline_settle_ms']} ms over {r['deadline_settle_links']} links)"
            f"  | fold of every open link ≈ {r['deadline_scan_fold_estimate_ms']} ms  ×{r['deadline_scan_ratio']}"
            f"  {verdict2('deadline_scan_ms', 'ms')}",
        ]
    )
