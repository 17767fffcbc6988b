"""``focalpoint bench console``: the web console's pages at a realistic size, each beside the raw
local API call it rests on, and the console process's memory.

Setup (timed apart): a real node (keys and directory from ``focalpoint.localnet``, its SQLite
database, its local gRPC API on loopback; peers through an in-memory network, as none is needed)
whose store holds ``links`` links written as ``bench cases`` writes them (``focalpoint.bench.cases``:
20 units, 10 partner States, invented histories of mostly 3 to 15 events, a tenth closed). The
node's clock starts at the histories' "now", so its deadline scan finds the ladders already taken.
A case officer of the first unit (about a twentieth of the links) is made through the local API and
logs in. The console runs as its own process (``focalpoint console run``, plain HTTP on 127.0.0.1,
50 cases a page), as in production, and the bench asks it for pages over real HTTP with that
officer's session cookie. Then, in turn, ``rounds`` times or for at most 30 s each:

- worklist page: ``GET /worklist`` and its later pages (``?after=``, the first five pages), the
  HTML rendered by the console from the node's answers (WhoAmI and ListCases); baseline: the
  ListCases call of that page (51 rows) from this process, on one channel;
- case page: ``GET /cases/<link>`` of a random link of the unit (WhoAmI, ShowCase with content,
  CaseDeadlines when the view has deadlines, then the HTML); baseline: the ShowCase call with
  content from this process.

The ratio page / call is what the console adds (HTTP, its extra calls, rendering). The console's
memory is read from ``/proc/<pid>/status`` after the rounds: ``VmHWM`` (its peak resident set, start
included) and ``VmRSS``. Targets (docs/operations.md §13.7): each page ≤ 100 ms at p95; the console
≤ 120 MB resident.

``--json`` prints one object: ``links``, ``events``, ``setup_s``, ``rounds``, ``unit_links``;
``worklist_page_p50_ms``, ``worklist_page_p95_ms``, ``list_cases_p50_ms``, ``list_cases_p95_ms``,
``worklist_ratio_p95``, ``worklist_samples``, ``worklist_pages``; ``case_page_p50_ms``,
``case_page_p95_ms``, ``show_case_p50_ms``, ``show_case_p95_ms``, ``case_ratio_p95``,
``case_samples``; ``console_rss_mb`` (VmHWM), ``console_rss_now_mb`` (VmRSS); ``targets``: per
measure its ``target``, ``value`` and ``met``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import random
import re
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from focalpoint.bench.casenet import _NOW_MS
from focalpoint.bench.cases import _UNITS, _setup
from focalpoint.cases.stages import TERMINAL
from focalpoint.client import LocalChannel, LocalClient
from focalpoint.console.security import SESSION_COOKIE
from focalpoint.localnet import NodeSpec, make_network
from focalpoint.localnet.people import People
from focalpoint.net.memory import MemoryNetwork
from focalpoint.node.notify import CapturingNotifier
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.storage.sqlite import SqliteStore

__all__ = ["TARGETS", "format_console", "run_console_bench"]

# The targets: each page at p95 (ms), the console's resident memory (MB).
TARGETS = {"worklist_page_p95_ms": 100.0, "case_page_p95_ms": 100.0, "console_rss_mb": 120.0}
_GR, _AL = "gr-ekka", "al-shss"
_PAGE = 50
_PAGES = 5
_BUDGET_S = 30.0
_START_S = 30.0  # the console process must answer within this


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def _stats(samples: Sequence[float]) -> tuple[float, float]:
    """p50 and p95 (ms, 3 decimals)."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return round(ordered[len(ordered) // 2], 3), round(p95, 3)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _memory_mb(pid: int) -> tuple[float, float]:
    """VmHWM and VmRSS of ``pid``, in MB."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    found = {k: int(v) for k, v in re.findall(r"^(VmHWM|VmRSS):\s+(\d+) kB", status, re.MULTILINE)}
    return round(found["VmHWM"] / 1024, 1), round(found["VmRSS"] / 1024, 1)


@contextlib.asynccontextmanager
async def _console_process(config_file: Path, url: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """``focalpoint console run`` as its own process, answering at ``url`` before the block runs."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "focalpoint", "console", "run", "--config", str(config_file),
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + _START_S
        async with httpx.AsyncClient(base_url=url, timeout=2) as probe:
            while True:
                if process.returncode is not None:
                    err = (await process.stderr.read()).decode(errors="replace") if process.stderr else ""
                    raise RuntimeError(f"the console process stopped at start: {err.strip()[-400:]}")
                with contextlib.suppress(httpx.TransportError):
                    if (await probe.get("/login")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("the console process did not answer within 30 s")
                await asyncio.sleep(0.1)
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _pairs(
    count: int, page: Callable[[int], Awaitable[None]], call: Callable[[int], Awaitable[None]]
) -> tuple[list[float], list[float]]:
    """Time the page and its baseline call on the same sample, turn about, ``count`` times or until the budget ends."""
    pages: list[float] = []
    calls: list[float] = []
    deadline = time.monotonic() + _BUDGET_S
    for i in range(count):
        t0 = time.perf_counter()
        await page(i)
        pages.append(_ms(t0))
        t0 = time.perf_counter()
        await call(i)
        calls.append(_ms(t0))
        if time.monotonic() > deadline:
            break
    return pages, calls


def _measure(name: str, raw: str, pages: list[float], calls: list[float]) -> dict[str, Any]:
    p50, p95 = _stats(pages)
    r50, r95 = _stats(calls)
    return {f"{name}_page_p50_ms": p50, f"{name}_page_p95_ms": p95, f"{raw}_p50_ms": r50, f"{raw}_p95_ms": r95,
            f"{name}_ratio_p95": round(p95 / r95, 1), f"{name}_samples": len(pages)}  # fmt: skip


async def _worklist(web: httpx.AsyncClient, client: LocalClient, unit: str, rounds: int) -> dict[str, Any]:
    # The pages an officer turns: the first five of their unit, their cursors found once, untimed.
    cursors: list[tuple[int, str] | None] = [None]
    for _ in range(_PAGES - 1):
        rows = (await client.list_cases(unit, limit=_PAGE + 1, before=cursors[-1])).cases
        if len(rows) <= _PAGE:
            break
        cursors.append((rows[_PAGE - 1].updated_at_ms, rows[_PAGE - 1].link_id))

    async def page(i: int) -> None:
        before = cursors[i % len(cursors)]
        path = "/worklist" if before is None else f"/worklist?after={before[0]}.{before[1]}"
        answer = await web.get(path)
        if answer.status_code != 200 or "<bdi>" not in answer.text:
            raise RuntimeError(f"the worklist page answered {answer.status_code}; the benchmark's setup is wrong")

    async def call(i: int) -> None:
        await client.list_cases(unit, limit=_PAGE + 1, before=cursors[i % len(cursors)])

    pages, calls = await _pairs(rounds, page, call)
    return _measure("worklist", "list_cases", pages, calls) | {"worklist_pages": len(cursors)}


async def _case(web: httpx.AsyncClient, client: LocalClient, links: list[str], rounds: int) -> dict[str, Any]:
    rng = random.Random(7)  # noqa: S311 (a reproducible sample, not secrecy)
    picked = [rng.choice(links) for _ in range(rounds)]

    async def page(i: int) -> None:
        answer = await web.get(f"/cases/{picked[i]}")
        if answer.status_code != 200:
            raise RuntimeError(f"the case page answered {answer.status_code}; the benchmark's setup is wrong")

    async def call(i: int) -> None:
        await client.show_case(picked[i], content=True)

    pages, calls = await _pairs(rounds, page, call)
    return _measure("case", "show_case", pages, calls)


async def run_console_bench(*, links: int = 100_000, rounds: int = 200, events_per_link: int = 15) -> dict[str, Any]:
    """Set up a node holding ``links`` links and a console process, then time each page against
    its local API call ``rounds`` times (at most 30 s each), and read the console's memory."""
    if links < 100 or rounds < 1:
        raise ValueError("links is at least 100 and rounds at least 1")
    start = time.monotonic()

    def clock() -> int:  # the histories' "now", running on from the start
        return _NOW_MS + int((time.monotonic() - start) * 1000)

    with tempfile.TemporaryDirectory(prefix="focalpoint-console-bench-") as tmp:
        root = Path(tmp)
        specs = (NodeSpec(_GR, "GR", "EKKA", ("el", "en")), NodeSpec(_AL, "AL", "SHSS", ("sq", "en")))
        files = make_network(root / "net", specs, now=dt.datetime.fromtimestamp(_NOW_MS / 1000, dt.UTC),
                             delivery={"retry_initial_seconds": 600, "retry_max_seconds": 3600})  # fmt: skip
        config = load_config(files.nodes[_GR].config_path)
        node = await Node.open(config, clock_ms=clock, transport=MemoryNetwork().transport(_GR),
                               notifier=CapturingNotifier())  # fmt: skip
        try:
            if not isinstance(node.store, SqliteStore):
                raise RuntimeError("the benchmark's node does not run on SQLite")
            t0 = time.perf_counter()
            made, events, _ = await _setup(node.store, node.casework, config.database, links, events_per_link)
            setup_s = time.perf_counter() - t0
            await node.start()
            unit = _UNITS[0]
            mine = [m.link_id for m in made if m.unit == unit and m.stage not in TERMINAL]
            address = f"127.0.0.1:{node.local_port}"
            people = People(address, node.keyring.keys.local_api_token, unit=unit, clock_ms=clock)
            async with contextlib.AsyncExitStack() as stack:
                stack.push_async_callback(people.close)
                officer = await people.client("officer.1")
                assert officer.session is not None
                channel = await stack.enter_async_context(LocalChannel(address))
                client = LocalClient(channel, session=officer.session)
                port = _free_port()
                config_file = root / "console.yaml"
                config_file.write_text(
                    f"listen: {{host: 127.0.0.1, port: {port}}}\nnode: {{local_api: '{address}'}}\n"
                    f"page_size: {_PAGE}\nlogging: {{level: warning}}\n",
                    encoding="utf-8",
                )
                url = f"http://127.0.0.1:{port}"
                process = await stack.enter_async_context(_console_process(config_file, url))
                # The session cookie as a browser on loopback sends it (httpx keeps no Secure cookie over HTTP).
                cookie = {"cookie": f"{SESSION_COOKIE}={officer.session}"}
                web = await stack.enter_async_context(httpx.AsyncClient(base_url=url, headers=cookie, timeout=30))
                await web.get("/worklist")  # warm both ends before timing
                await client.list_cases(unit, limit=1)
                result: dict[str, Any] = {"links": links, "events": events, "setup_s": round(setup_s, 1),
                                          "rounds": rounds, "unit_links": len(mine)}  # fmt: skip
                result |= await _worklist(web, client, unit, rounds)
                result |= await _case(web, client, mine, rounds)
                result["console_rss_mb"], result["console_rss_now_mb"] = _memory_mb(process.pid)
        finally:
            await node.stop(0)
    result["targets"] = {
        name: {"target": limit, "value": result[name], "met": result[name] <= limit} for name, limit in TARGETS.items()
    }
    return result


def format_console(r: dict[str, Any]) -> str:
    def verdict(name: str, unit: str) -> str:
        t = r["targets"][name]
        return f"target ≤ {t['target']:g} {unit}: {'met' if t['met'] else 'NOT MET'}"

    return "\n".join(
        [
            f"{r['links']} links, {r['events']} events, set up in {r['setup_s']} s; the officer's unit holds"
            f" {r['unit_links']} open links; {r['rounds']} rounds asked",
            f"worklist page ({r['worklist_pages']} pages of 50)  p50 {r['worklist_page_p50_ms']} ms"
            f"  p95 {r['worklist_page_p95_ms']} ms  | ListCases p50 {r['list_cases_p50_ms']}"
            f" p95 {r['list_cases_p95_ms']}  ×{r['worklist_ratio_p95']} at p95"
            f"  {verdict('worklist_page_p95_ms', 'ms')}",
            f"case page  p50 {r['case_page_p50_ms']} ms  p95 {r['case_page_p95_ms']} ms"
            f"  | ShowCase p50 {r['show_case_p50_ms']} p95 {r['show_case_p95_ms']}"
            f"  ×{r['case_ratio_p95']} at p95  {verdict('case_page_p95_ms', 'ms')}",
            f"console process  peak RSS {r['console_rss_mb']} MB, now {r['console_rss_now_mb']} MB"
            f"  {verdict('console_rss_mb', 'MB')}",
        ]
    )
