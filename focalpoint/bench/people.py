"""``focalpoint bench people``: what people cost the node — password hashing, logins beside a live
event loop, and the door in front of every local API call — each measure beside its baseline in
the same run.

Three measures (docs/operations.md §13.6):

1. **Password hashing.** argon2id hash and verify through argon2-cffi, ``hashes`` times each, at
   the default ``HashParams()`` (RFC 9106's low-memory profile: t=3, 64 MiB, 4 lanes) and at the
   floor the configuration allows (OWASP's minimum: t=2, 19 MiB, 1 lane), which the demo's local
   network uses. The floor is the baseline: the ratio says what the default's safety costs.
2. **Logins beside the event loop.** ``logins`` accounts (a memory store, a capturing notifier, a
   real ``Accounts`` hashing at the default cost, untimed enrolment) log in at once with password
   and TOTP code, while a ticker asks to wake every 5 ms and records the longest interval between
   two of its ticks. Baseline: the same accounts' password checks made on the event loop — the
   stored hash looked up, then ``PasswordHasher.verify`` called synchronously in the coroutine,
   as a node without the one-worker hashing pool would. The ratio of the two longest intervals is
   what the pool buys every other caller of the node while people log in.
3. **The door per call.** A real node (its keys and directory from ``focalpoint.localnet``, a
   memory store, an in-memory peer network, its local gRPC server started) with one case link
   holding one sent message. Each round, ``calls`` times or for at most 30 s: ``ShowCase`` with a
   case officer's session through the local API (our path: authenticate, find the link, decide,
   the timeline, the READ event committed, the anomaly rules), the same node's
   ``CaseDesk.timeline`` called directly (the work itself, no API), and ``GetHealth`` with the
   machine credential (a gRPC round trip through the door with no session and no case decision).

``--json`` prints one object with these keys (times in ms, rounded; every value positive):

- ``hashes``: samples of each hashing measure; ``default_params``, ``floor_params``: the costs
  (``time_cost``, ``memory_kib``, ``parallelism``);
- ``hash_default_p50_ms``, ``hash_default_p95_ms``, ``verify_default_p50_ms``,
  ``verify_default_p95_ms`` and the same four with ``floor``; ``default_vs_floor``: the default's
  verify p50 over the floor's;
- ``logins``; ``tick_ms`` (5); ``login_wall_ms``, ``login_stall_ms``: how long the concurrent
  logins took and the longest interval between two ticks during them (``tick_ms`` when nothing
  held the loop); ``onloop_wall_ms``, ``onloop_stall_ms``: the same for the baseline;
  ``stall_ratio``: ``onloop_stall_ms / login_stall_ms``;
- ``calls`` (asked), ``door_samples`` (rounds made within the time budget), ``timeline_events``;
  ``show_case_p50_ms``, ``show_case_p95_ms``, ``timeline_direct_p50_ms``,
  ``timeline_direct_p95_ms``, ``health_p50_ms``, ``health_p95_ms``;
  ``show_vs_direct_p50``, ``show_vs_health_p50``: ratios of the p50s;
  ``show_minus_direct_p50_ms``: what a ShowCase costs beyond its work (the round trip and the door);
  ``show_minus_health_p50_ms``: what it costs beyond a bare round trip through the door (the
  session, the decision, the timeline, the READ event).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pyotp
from argon2 import PasswordHasher

from focalpoint.client import LocalClient
from focalpoint.localnet import NodeSpec, make_network
from focalpoint.localnet.people import People
from focalpoint.localnet.samples import sample_body
from focalpoint.net.memory import MemoryNetwork
from focalpoint.node.accounts import Accounts, Enrolment, HashParams
from focalpoint.node.notify import CapturingNotifier
from focalpoint.node.ports import wall_clock_ms
from focalpoint.people.roles import Account, Role
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.storage.cipher import StorageCipher
from focalpoint.storage.memory import MemoryStore

__all__ = ["FLOOR", "TICK_MS", "format_people", "run_people_bench"]

T = TypeVar("T")

# The least the configuration accepts (HashParams refuses less): OWASP's argon2id minimum.
FLOOR = HashParams(time_cost=2, memory_kib=19456, parallelism=1)
TICK_MS = 5.0
_BUDGET_S = 30.0  # the door's rounds stop here whatever the count
_UNIT = "bench-unit"
_GR, _AL = "gr-ekka", "al-shss"
_GR_UNIT = "gr-ekka/athens"


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def _stats(samples: Sequence[float]) -> tuple[float, float]:
    """p50 and p95 (ms, 3 decimals)."""
    p95 = statistics.quantiles(samples, n=20, method="inclusive")[-1] if len(samples) > 1 else samples[0]
    return round(statistics.median(samples), 3), round(p95, 3)


def _params(p: HashParams) -> dict[str, int]:
    return {"time_cost": p.time_cost, "memory_kib": p.memory_kib, "parallelism": p.parallelism}


# --- 1. password hashing ---------------------------------------------------------------------


def _hashing(name: str, params: HashParams, count: int) -> dict[str, float]:
    hasher = PasswordHasher(time_cost=params.time_cost, memory_cost=params.memory_kib, parallelism=params.parallelism)
    password = os.urandom(12).hex()
    hashes: list[float] = []
    verifies: list[float] = []
    for _ in range(count):
        t0 = time.perf_counter()
        stored = hasher.hash(password)
        hashes.append(_ms(t0))
        t0 = time.perf_counter()
        if not hasher.verify(stored, password):
            raise RuntimeError("a password did not verify against its own hash")
        verifies.append(_ms(t0))
    h50, h95 = _stats(hashes)
    v50, v95 = _stats(verifies)
    return {f"hash_{name}_p50_ms": h50, f"hash_{name}_p95_ms": h95,
            f"verify_{name}_p50_ms": v50, f"verify_{name}_p95_ms": v95}  # fmt: skip


# --- 2. logins beside the event loop ---------------------------------------------------------


@dataclass
class _Clock:
    """The accounts' clock: the wall clock, moved on by hand past the enrolment's TOTP step."""

    ahead_ms: int = 0

    def __call__(self) -> int:
        return wall_clock_ms() + self.ahead_ms


@dataclass(frozen=True, slots=True)
class _User:
    user_id: str
    password: str
    secret: str


@dataclass
class _Ticker:
    """Asks to wake every ``TICK_MS``; keeps the longest interval between two wake-ups."""

    worst_ms: float = 0.0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        last = time.perf_counter()
        while not self._stop.is_set():
            await asyncio.sleep(TICK_MS / 1000)
            now = time.perf_counter()
            self.worst_ms = max(self.worst_ms, (now - last) * 1000)
            last = now

    def stop(self) -> None:
        self._stop.set()


async def _beside_ticker(work: Callable[[], Awaitable[T]]) -> tuple[T, float, float]:
    """Run ``work`` while a ticker runs; its result, its wall time and the longest tick interval (ms)."""
    ticker = _Ticker()
    task = asyncio.create_task(ticker.run())
    await asyncio.sleep(2 * TICK_MS / 1000)  # the ticker is ticking before the work starts
    t0 = time.perf_counter()
    result = await work()
    wall = _ms(t0)
    await asyncio.sleep(2 * TICK_MS / 1000)  # and sees the loop free again after it
    ticker.stop()
    await task
    return result, round(wall, 3), round(ticker.worst_ms, 3)


async def _enrolled(accounts: Accounts, count: int) -> list[_User]:
    """``count`` enrolled case officers (and the operator who added them), untimed."""
    first = await accounts.add_first_operator("operator.1", _UNIT)
    operator_secret = await accounts.begin_enrolment(first.code, os.urandom(12).hex())
    operator: Account = await accounts.finish_enrolment(first.code, pyotp.TOTP(operator_secret.secret_b32).now())
    users: list[_User] = []
    for i in range(count):
        user_id = f"officer.{i + 1}"
        added = await accounts.add_user(operator, user_id, _UNIT, frozenset({Role.CASE_OFFICER}))
        if not isinstance(added, Enrolment):
            raise RuntimeError("a bootstrap operator's new user was not added at once")
        code = added.code
        password = os.urandom(12).hex()
        factor = await accounts.begin_enrolment(code, password)
        await accounts.finish_enrolment(code, pyotp.TOTP(factor.secret_b32).now())
        users.append(_User(user_id, password, factor.secret_b32))
    return users


async def _logins(count: int) -> dict[str, Any]:
    clock = _Clock()
    store = MemoryStore()
    accounts = Accounts(store=store, cipher=StorageCipher(os.urandom(32)), clock_ms=clock, issuer="bench",
                        notifier=CapturingNotifier())  # fmt: skip
    try:
        users = await _enrolled(accounts, count)
        clock.ahead_ms += 60_000  # two TOTP steps on: the enrolment's code is not replayed

        async def ours() -> int:
            now_s = clock() // 1000
            sessions = await asyncio.gather(
                *(
                    accounts.login(u.user_id, u.password, pyotp.TOTP(u.secret).at(now_s), source=f"bench-{i}")
                    for i, u in enumerate(users)
                )
            )
            return len(sessions)

        hasher = PasswordHasher(time_cost=HashParams().time_cost, memory_cost=HashParams().memory_kib,
                                parallelism=HashParams().parallelism)  # fmt: skip

        async def on_loop(user: _User) -> bool:
            row = await store.accounts.user(user.user_id)
            assert row is not None
            return hasher.verify(row.password_hash, user.password)  # on the event loop: what the pool avoids

        async def baseline() -> int:
            return sum(await asyncio.gather(*(on_loop(u) for u in users)))

        made, wall, stall = await _beside_ticker(ours)
        checked, onloop_wall, onloop_stall = await _beside_ticker(baseline)
    finally:
        await accounts.close()
    if made != count or checked != count:
        raise RuntimeError("not every benchmark login succeeded; the benchmark's accounts are wrong")
    return {"logins": count, "tick_ms": TICK_MS, "login_wall_ms": wall, "login_stall_ms": stall,
            "onloop_wall_ms": onloop_wall, "onloop_stall_ms": onloop_stall,
            "stall_ratio": round(onloop_stall / stall, 1)}  # fmt: skip


# --- 3. the door per call --------------------------------------------------------------------


async def _one_link(node: Node, people: People) -> tuple[LocalClient, str, int]:
    """A case officer's client and a link of theirs holding one sent message (approved when needed)."""
    officer = await people.client("officer.1")
    opened = await officer.open_case(_AL, wall_clock_ms() - 6 * 3_600_000, "")
    body = sample_body("case_notification", case_ref=opened.case_ref, at_ms=wall_clock_ms() - 1000)
    sent = await officer.send_case(opened.link_id, body=body)
    if sent.draft_id:
        sent = await (await people.client("supervisor.2")).approve_draft(opened.link_id, sent.draft_id)
    _, entries, _, _ = await node.casedesk.timeline(opened.link_id)
    if not sent.message_id or not entries:
        raise RuntimeError("the benchmark's case link holds no message; its setup is wrong")
    return officer, opened.link_id, len(entries)


async def _door(calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="focalpoint-people-") as tmp:
        specs = (NodeSpec(_GR, "GR", "EKKA", ("el", "en")), NodeSpec(_AL, "AL", "SHSS", ("sq", "en")))
        # Deliveries to the partner (never started) retry rarely, so they do not run during the rounds.
        files = make_network(Path(tmp) / "net", specs, now=dt.datetime.now(dt.UTC),
                             delivery={"retry_initial_seconds": 600, "retry_max_seconds": 3600})  # fmt: skip
        node = await Node.open(load_config(files.nodes[_GR].config_path), store=MemoryStore(),
                               transport=MemoryNetwork().transport(_GR), notifier=CapturingNotifier())  # fmt: skip
        await node.start()
        address = f"127.0.0.1:{node.local_port}"
        people = People(address, node.keyring.keys.local_api_token, unit=_GR_UNIT, clock_ms=node.clock_ms)
        try:
            async with contextlib.AsyncExitStack() as stack:
                stack.push_async_callback(people.close)
                officer, link_id, events = await _one_link(node, people)
                machine = await stack.enter_async_context(LocalClient(address, node.keyring.keys.local_api_token))
                await officer.show_case(link_id)  # warm the channels before timing
                await machine.get_health()
                shown: list[float] = []
                direct: list[float] = []
                health: list[float] = []
                deadline = time.monotonic() + _BUDGET_S
                for _ in range(calls):
                    t0 = time.perf_counter()
                    await officer.show_case(link_id)
                    shown.append(_ms(t0))
                    t0 = time.perf_counter()
                    await node.casedesk.timeline(link_id)
                    direct.append(_ms(t0))
                    t0 = time.perf_counter()
                    await machine.get_health()
                    health.append(_ms(t0))
                    if time.monotonic() > deadline:
                        break
        finally:
            await node.stop(0)
    s50, s95 = _stats(shown)
    d50, d95 = _stats(direct)
    h50, h95 = _stats(health)
    return {"calls": calls, "door_samples": len(shown), "timeline_events": events,
            "show_case_p50_ms": s50, "show_case_p95_ms": s95, "timeline_direct_p50_ms": d50,
            "timeline_direct_p95_ms": d95, "health_p50_ms": h50, "health_p95_ms": h95,
            "show_vs_direct_p50": round(s50 / d50, 1), "show_vs_health_p50": round(s50 / h50, 1),
            "show_minus_direct_p50_ms": round(s50 - d50, 3),
            "show_minus_health_p50_ms": round(s50 - h50, 3)}  # fmt: skip


async def run_people_bench(*, logins: int = 4, calls: int = 200, hashes: int = 10) -> dict[str, Any]:
    """Hashing ``hashes`` times at each cost, ``logins`` concurrent logins beside a ticker (and the
    on-loop baseline), then ``calls`` rounds of ShowCase, the direct timeline and GetHealth."""
    if logins < 1 or calls < 1 or hashes < 1:
        raise ValueError("logins, calls and hashes are at least 1")
    result: dict[str, Any] = {"hashes": hashes, "default_params": _params(HashParams()), "floor_params": _params(FLOOR)}
    result |= _hashing("default", HashParams(), hashes)
    result |= _hashing("floor", FLOOR, hashes)
    result["default_vs_floor"] = round(result["verify_default_p50_ms"] / result["verify_floor_p50_ms"], 1)
    result |= await _logins(logins)
    result |= await _door(calls)
    return result


def format_people(r: dict[str, Any]) -> str:
    d, f = r["default_params"], r["floor_params"]
    return "\n".join(
        [
            f"argon2id, {r['hashes']} of each (p50 / p95 ms):",
            f"  default t={d['time_cost']} m={d['memory_kib'] // 1024} MiB p={d['parallelism']}"
            f"   hash {r['hash_default_p50_ms']} / {r['hash_default_p95_ms']}"
            f"   verify {r['verify_default_p50_ms']} / {r['verify_default_p95_ms']}",
            f"  floor   t={f['time_cost']} m={f['memory_kib'] // 1024} MiB p={f['parallelism']}"
            f"   hash {r['hash_floor_p50_ms']} / {r['hash_floor_p95_ms']}"
            f"   verify {r['verify_floor_p50_ms']} / {r['verify_floor_p95_ms']}"
            f"   (default ×{r['default_vs_floor']} at verify p50)",
            f"{r['logins']} concurrent logins at the default cost, a ticker every {r['tick_ms']:g} ms"
            " (longest interval between ticks):",
            f"  hashing on the one-worker pool   {r['login_stall_ms']} ms   (logins took {r['login_wall_ms']} ms)",
            f"  hashing on the event loop        {r['onloop_stall_ms']} ms   (checks took {r['onloop_wall_ms']} ms)"
            f"   ×{r['stall_ratio']}",
            f"the door, {r['door_samples']} rounds on a link of {r['timeline_events']} message(s) (p50 / p95 ms):",
            f"  ShowCase with a session          {r['show_case_p50_ms']} / {r['show_case_p95_ms']}",
            f"  CaseDesk.timeline, direct        {r['timeline_direct_p50_ms']} / {r['timeline_direct_p95_ms']}"
            f"   ShowCase ×{r['show_vs_direct_p50']}, +{r['show_minus_direct_p50_ms']} ms a call",
            f"  GetHealth, machine credential    {r['health_p50_ms']} / {r['health_p95_ms']}"
            f"   ShowCase ×{r['show_vs_health_p50']}, +{r['show_minus_health_p50_ms']} ms a call",
        ]
    )
