"""``focalpoint bench flood``: an honest partner's delivery latency without and with a flood from
another peer, in one run.

Three nodes, each its own process, over mutual TLS: the receiver (``focalpoint node run``), the
honest sender (this process: seal, durable outbox, delivery, receipt, durable close, as in
``bench exchange``), and the flooder (``focalpoint.bench.flooder``: another node of the
directory sending batches of envelopes that the receiver must decrypt and verify before it
refuses them). The honest sender sends one message at a time and times each round trip, first
alone (the baseline), then while the flood runs. Target: the flooded p50 at most 2× the
baseline's. Only the ratios compare across machines.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from focalpoint.bench.exchange import _cpu_s, _percentile, _receiver, _sequential, _spawn, _stopping, _tail
from focalpoint.errors import FocalpointError
from focalpoint.localnet import NodeSpec, make_network
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.log import configure_logging
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState

__all__ = ["format_flood", "run_flood_bench"]

SENDER, RECEIVER, FLOODER = "bench-sender", "bench-receiver", "bench-flooder"
WARM_UP = 30
RAMP_S = 1.0  # the flood runs this long before the flooded measurement starts


async def run_flood_bench(*, messages: int, streams: int, batch: int) -> dict[str, Any]:
    configure_logging(level="error")
    with tempfile.TemporaryDirectory(prefix="focalpoint-bench-") as tmp_name:
        net = make_network(
            Path(tmp_name) / "net",
            [NodeSpec(SENDER, "GR", "sender"), NodeSpec(RECEIVER, "AL", "receiver"), NodeSpec(FLOODER, "IT", "flood")],
            now=dt.datetime.now(dt.UTC),
            log_level="error",
        )
        sender = await Node.open(load_config(net.nodes[SENDER].config_path))
        try:
            async with _receiver(net, RECEIVER) as receiver:
                await sender.start()
                call = _honest(sender, WARM_UP + 3 * messages)
                await _sequential(WARM_UP, call)
                alone = await _sequential(messages, call)
                flooded, flood = await _under_flood(
                    net.nodes[FLOODER].config_path, receiver.pid, messages, call, streams, batch
                )
                after = await _sequential(messages, call)
        finally:
            await sender.stop(0.2)
    return {
        "messages": messages,
        "flood_streams": streams,
        "flood_batch": batch,
        "alone_p50_ms": round(statistics.median(alone), 3),
        "alone_p99_ms": round(_percentile(alone, 0.99), 3),
        "flooded_p50_ms": round(statistics.median(flooded), 3),
        "flooded_p99_ms": round(_percentile(flooded, 0.99), 3),
        "after_p50_ms": round(statistics.median(after), 3),
        "p50_ratio": round(statistics.median(flooded) / statistics.median(alone), 3),
        "p99_ratio": round(_percentile(flooded, 0.99) / _percentile(alone, 0.99), 3),
        **flood,
    }


def _honest(sender: Node, count: int) -> Any:
    now = wall_clock_ms()
    bodies = iter([social_inquiry_request(case_ref_for(2_000_000 + i), identified_at_ms=now) for i in range(count)])

    async def call() -> None:
        sub = await sender.outbox.submit(RECEIVER, next(bodies))
        if await sender.delivery.wait_closed(sub.message_id) is not DeliveryState.DELIVERED:
            raise FocalpointError("an honest benchmark message was not delivered")

    return call


async def _under_flood(
    config: Path, receiver_pid: int, messages: int, call: Any, streams: int, batch: int
) -> tuple[list[float], dict[str, Any]]:
    """The honest round trips while the flooder runs, and what the flood was."""
    log = config.parent / "flooder.log"
    argv = [sys.executable, "-m", "focalpoint.bench.flooder", str(config), RECEIVER, str(streams), str(batch)]
    proc = _spawn(argv, log, env={**os.environ, "GRPC_VERBOSITY": "ERROR"})
    with _stopping(proc):
        assert proc.stdin is not None
        assert proc.stdout is not None
        loop = asyncio.get_running_loop()
        ready = await loop.run_in_executor(None, proc.stdout.readline)
        if ready.strip() != b"ready":
            raise FocalpointError(f"the flooder did not start: {_tail(log)}")
        await asyncio.sleep(RAMP_S)
        cpu, started = _cpu_s(receiver_pid), time.perf_counter()
        lat = await _sequential(messages, call)
        elapsed, receiver_cpu = time.perf_counter() - started, _cpu_s(receiver_pid) - cpu
        proc.stdin.close()
        summary = await loop.run_in_executor(None, proc.stdout.readline)
        proc.wait(30)
    try:
        answered, failed = (int(v) for v in summary.split())
    except ValueError:
        raise FocalpointError(f"the flooder did not report: {_tail(log)}") from None
    total_s = elapsed + RAMP_S  # the flooder counted from its start, about RAMP_S before the measurement
    return lat, {
        "flood_envelopes_per_s": round(answered / total_s, 1),
        "flood_failed_calls": failed,
        "receiver_cpu_share": round(receiver_cpu / elapsed, 2),  # CPU seconds per second, all threads
    }


def format_flood(r: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"honest partner: {r['messages']} sequential messages; flood: {r['flood_streams']} streams of "
            f"{r['flood_batch']} forged envelopes per batch (decrypted and verified, then refused)",
            f"{'':28}{'p50':>10}{'p99':>10}",
            f"{'alone (baseline)':28}{r['alone_p50_ms']:>8.2f}ms{r['alone_p99_ms']:>8.2f}ms",
            f"{'during the flood':28}{r['flooded_p50_ms']:>8.2f}ms{r['flooded_p99_ms']:>8.2f}ms",
            f"{'alone again':28}{r['after_p50_ms']:>8.2f}ms",
            f"flood: {r['flood_envelopes_per_s']:.0f} envelopes/s refused, {r['flood_failed_calls']} failed calls; "
            f"receiver CPU {r['receiver_cpu_share']:.2f} s/s during the flood",
            f"p50 ratio {r['p50_ratio']:.2f}, p99 ratio {r['p99_ratio']:.2f} (target: p50 ≤ 2.0)",
        ]
    )
