"""``focalpoint bench exchange``: the transport ceiling and our full path, side by side, in one run.

(a) echo: raw grpc.aio unary calls carrying the same number of bytes as one of our
    envelopes, to a separate process, over mutual TLS;
(b) exchange: a sender node (this process) submits messages to a receiver node (a
    separate ``focalpoint node run`` process): seal + hybrid PQ encryption + durable
    outbox commit, delivery over mutual TLS, receiver verification + durable inbox
    commit + signed receipt, sender receipt verification + durable outbox close.

Each is measured at light load (sequential round trips: p50/p99) and at throughput
(many messages in flight). Only the ratios are comparable across machines.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from focalpoint.bench.echo import METHOD
from focalpoint.crypto.tlsid import generate_tls_identity
from focalpoint.errors import FocalpointError
from focalpoint.localnet import LocalNetwork, NodeSpec, make_network
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.log import configure_logging
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState

__all__ = ["format_exchange", "run_exchange_bench"]

CONCURRENCY = 64
# Officials submitting at once in the exchange's throughput phase: enough to keep several
# delivery batches in flight, as a busy node would.
EXCHANGE_CONCURRENCY = 512


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _sequential(n: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await call()
        out.append((time.perf_counter() - t) * 1000)
    return out


async def _throughput(n: int, call: Callable[[], Awaitable[object]], concurrency: int) -> float:
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - t)


def _spawn(argv: list[str], log: Path, **kw: Any) -> subprocess.Popen[bytes]:
    # stderr goes to a file: a full pipe nobody reads would stall the child.
    with log.open("wb") as err:
        return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, **kw)


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace").strip()[-800:]
    except OSError:
        return ""


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc; 0.0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


async def _measured_throughput(
    n: int, call: Callable[[], Awaitable[object]], concurrency: int, other_pid: int
) -> tuple[float, float, float]:
    """Throughput plus CPU ms per call spent by this process and by the other one."""
    me, other = _cpu_s(os.getpid()), _cpu_s(other_pid)
    rps = await _throughput(n, call, concurrency)
    mine = (_cpu_s(os.getpid()) - me) * 1000 / n
    theirs = (_cpu_s(other_pid) - other) * 1000 / n
    return rps, mine, theirs


def _max_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


@contextlib.contextmanager
def _stopping(proc: subprocess.Popen[bytes]) -> Any:
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _echo(tmp: Path, payload: bytes, messages: int, light: int) -> dict[str, float]:
    now = dt.datetime.now(dt.UTC)
    server_id, client_id = generate_tls_identity("echo", now=now), generate_tls_identity("client", now=now)
    files = {}
    for name, data in (
        ("key", server_id.private_key_pem),
        ("cert", server_id.certificate_pem),
        ("client", client_id.certificate_pem),
    ):
        files[name] = tmp / f"echo-{name}.pem"
        files[name].write_bytes(data)
    log = tmp / "echo.log"
    argv = [sys.executable, "-m", "focalpoint.bench.echo", *(str(files[k]) for k in ("key", "cert", "client"))]
    proc = _spawn(argv, log)
    with _stopping(proc):
        assert proc.stdout is not None
        line = await asyncio.get_running_loop().run_in_executor(None, proc.stdout.readline)
        if not line.strip().isdigit():
            raise FocalpointError(f"echo server failed to start: {_tail(log)}")
        creds = grpc.ssl_channel_credentials(
            server_id.certificate_pem, client_id.private_key_pem, client_id.certificate_pem
        )
        async with grpc.aio.secure_channel(
            f"127.0.0.1:{int(line)}", creds, options=[("grpc.ssl_target_name_override", "echo")]
        ) as channel:
            echo = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)

            async def call() -> None:
                await echo(payload, timeout=30)

            await _sequential(50, call)  # warm-up: connection, TLS session, allocator
            lat = await _sequential(light, call)
            rps, client_cpu, server_cpu = await _measured_throughput(messages, call, CONCURRENCY, proc.pid)
    return {
        "rps": rps,
        "p50": statistics.median(lat),
        "p99": _percentile(lat, 0.99),
        "cpu_a": client_cpu,
        "cpu_b": server_cpu,
    }


@contextlib.asynccontextmanager
async def _receiver(net: LocalNetwork, node_id: str) -> AsyncIterator[subprocess.Popen[bytes]]:
    ln = net.nodes[node_id]
    env = {**os.environ, "FOCALPOINT_GRPC_VERBOSITY": "ERROR"}  # gRPC's own errors into the node's log
    log = ln.home / "node.log"
    proc = _spawn([sys.executable, "-m", "focalpoint", "node", "run", "--config", str(ln.config_path)], log, env=env)
    with _stopping(proc):
        async with grpc.aio.insecure_channel(ln.local_address) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            deadline = time.monotonic() + 30
            while True:
                if proc.poll() is not None:
                    raise FocalpointError(f"receiver node exited during start-up: {_tail(log)}")
                try:
                    await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    break
                except grpc.aio.AioRpcError:
                    if time.monotonic() > deadline:
                        raise FocalpointError(f"receiver node did not start within 30 s: {_tail(log)}") from None
                    await asyncio.sleep(0.1)
        yield proc


async def _exchange(
    tmp: Path, payload_bytes: int, messages: int, light: int
) -> tuple[dict[str, float], int, float | None]:
    net = make_network(
        tmp / "net",
        [NodeSpec("bench-sender", "GR", "sender"), NodeSpec("bench-receiver", "AL", "receiver")],
        now=dt.datetime.now(dt.UTC),
        log_level="error",
    )
    sender = await Node.open(load_config(net.nodes["bench-sender"].config_path))
    try:
        return await _measure_exchange(net, sender, payload_bytes, messages, light)
    finally:
        await sender.stop(0.2)


async def _measure_exchange(
    net: LocalNetwork, sender: Node, payload_bytes: int, messages: int, light: int
) -> tuple[dict[str, float], int, float | None]:
    # Size the body so the sealed envelope carries payload_bytes (the echo sends exactly as many).
    base = len(sender_probe(sender, 0))
    padding = max(0, payload_bytes - base)
    envelope_size = len(sender_probe(sender, padding))
    # Bodies are built before timing, as the echo's payload is: the benchmark measures the
    # node's path (seal, encrypt, store, deliver, receipt), not the client building protobufs.
    now = wall_clock_ms()
    bodies = iter(
        [
            social_inquiry_request(case_ref_for(3_000_000 + i), identified_at_ms=now, padding=padding)
            for i in range(50 + light + messages)
        ]
    )

    async def call() -> None:
        body = next(bodies)
        sub = await sender.outbox.submit("bench-receiver", body)
        if await sender.delivery.wait_closed(sub.message_id) is not DeliveryState.DELIVERED:
            raise FocalpointError("a benchmark message was not delivered")

    async with _receiver(net, "bench-receiver") as proc:
        await sender.start()
        await _sequential(50, call)
        lat = await _sequential(light, call)
        rps, sender_cpu, receiver_cpu = await _measured_throughput(messages, call, EXCHANGE_CONCURRENCY, proc.pid)
        rss = _max_rss_mb(proc.pid)
    stats = {
        "rps": rps,
        "p50": statistics.median(lat),
        "p99": _percentile(lat, 0.99),
        "cpu_a": sender_cpu,
        "cpu_b": receiver_cpu,
    }
    return stats, envelope_size, rss


def sender_probe(node: Node, padding: int) -> bytes:
    """A sealed envelope of the benchmark's shape, to size the echo payload."""
    from focalpoint.exchange.envelope import seal

    directory = node.cache.current
    info = directory.node("bench-receiver")
    key = info.active_encryption_key(wall_clock_ms()) if info else None
    if key is None:
        raise FocalpointError("benchmark receiver has no encryption key")
    now = wall_clock_ms()
    return seal(
        signer=node.keyring.keys.signer,
        sender_node=node.node_id,
        recipient_node="bench-receiver",
        recipient_key=key,
        body=social_inquiry_request(case_ref_for(3_000_000), identified_at_ms=now, padding=padding),
        message_id=os.urandom(16),
        created_at_ms=now,
        expires_at_ms=now + 86_400_000,
        directory_version=directory.version,
        sequence=1,
    ).envelope.SerializeToString()


async def run_exchange_bench(*, messages: int, payload_bytes: int, light: int) -> dict[str, Any]:
    configure_logging(level="error")
    with tempfile.TemporaryDirectory(prefix="focalpoint-bench-") as tmp_name:
        tmp = Path(tmp_name)
        exchange, envelope_size, rss = await _exchange(tmp, payload_bytes, messages, light)
        echo = await _echo(tmp, os.urandom(envelope_size), messages, light)
    return {
        "messages": messages,
        "payload_bytes": envelope_size,
        "light_load_calls": light,
        "echo_concurrency": CONCURRENCY,
        "echo_rps": round(echo["rps"], 1),
        "exchange_rps": round(exchange["rps"], 1),
        "throughput_ratio": round(exchange["rps"] / echo["rps"], 3),
        "echo_p50_ms": round(echo["p50"], 3),
        "echo_p99_ms": round(echo["p99"], 3),
        "exchange_p50_ms": round(exchange["p50"], 3),
        "exchange_p99_ms": round(exchange["p99"], 3),
        "p50_ratio": round(exchange["p50"] / echo["p50"], 3),
        "receiver_max_rss_mb": rss,
        # CPU time per message during the throughput phase, per process (all threads).
        "echo_client_cpu_ms": round(echo["cpu_a"], 3),
        "echo_server_cpu_ms": round(echo["cpu_b"], 3),
        "exchange_sender_cpu_ms": round(exchange["cpu_a"], 3),
        "exchange_receiver_cpu_ms": round(exchange["cpu_b"], 3),
    }


def format_exchange(r: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"payload {r['payload_bytes']} bytes per message, {r['messages']} messages, "
            f"{r['light_load_calls']} sequential calls for latency",
            f"{'':24}{'throughput':>14}{'p50':>10}{'p99':>10}",
            f"{'raw grpc.aio echo':24}{r['echo_rps']:>10.0f} /s{r['echo_p50_ms']:>8.2f}ms{r['echo_p99_ms']:>8.2f}ms",
            f"{'focalpoint exchange':24}{r['exchange_rps']:>10.0f} /s"
            f"{r['exchange_p50_ms']:>8.2f}ms{r['exchange_p99_ms']:>8.2f}ms",
            f"CPU per message: echo client {r['echo_client_cpu_ms']:.3f} ms, server {r['echo_server_cpu_ms']:.3f} ms; "
            f"exchange sender {r['exchange_sender_cpu_ms']:.3f} ms, receiver {r['exchange_receiver_cpu_ms']:.3f} ms",
            f"throughput ratio {r['throughput_ratio']:.2f} (target ≥ 1.0); "
            f"p50 ratio {r['p50_ratio']:.2f} (target ≤ 3.0); receiver max RSS {r['receiver_max_rss_mb']} MB",
        ]
    )
