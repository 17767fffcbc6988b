"""Real node processes for tests: start ``focalpoint node run``, wait for health, kill -9, restart.

stderr goes to a log file in the node's home (a pipe nobody reads would stall the child);
its tail is attached to every start-up failure. Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from focalpoint.localnet import LocalNetwork, LocalNode

__all__ = ["NodeProcess", "cli", "read_only", "running", "tail"]

START_TIMEOUT_S = 30.0
CLI_TIMEOUT_S = 60.0


def tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def cli(
    *args: str, timeout_s: float = CLI_TIMEOUT_S, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m focalpoint ARGS`` in its own process group; at the deadline the whole group is killed
    (the demo and the benchmark start node processes of their own) and TimeoutExpired is raised.

    gRPC's logging is asked for (``GRPC_VERBOSITY=ERROR``, as an operator's shell might) so that a
    line of gRPC's own that reached stderr would show; ``env`` adds or replaces variables."""
    env = {**os.environ, "GRPC_VERBOSITY": "ERROR", **(env or {})}
    argv = [sys.executable, "-m", "focalpoint", *args]
    with subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        finally:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The stdout of a command that must succeed (and printed no traceback)."""
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str, code: int | None = None) -> str:
    """A command that failed as the CLI must: exit ``code`` (any non-zero when None), nothing on
    stdout, no traceback, one ``focalpoint: error: …`` line holding each of ``fragments``."""
    if code is None:
        assert result.returncode != 0, result.stdout
    else:
        assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("focalpoint: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def read_only(db: Path) -> sqlite3.Connection:
    """A read-only connection that never writes, checkpoints or creates the file."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    conn.execute("PRAGMA query_only=ON")
    return conn


class NodeProcess:
    """One ``focalpoint node run --config FILE`` child; ``start``/``kill``/``terminate`` may repeat."""

    def __init__(
        self, node: LocalNode, *, max_descriptors: int | None = None, env: dict[str, str] | None = None
    ) -> None:
        """``max_descriptors``: run the process with RLIMIT_NOFILE at this value, soft and hard (so it
        cannot raise it); ``env``: variables added to (or replacing) the test's environment."""
        self.node = node
        self.max_descriptors = max_descriptors
        self.env = env or {}
        self.log = node.home / "node.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def database(self) -> Path:
        return self.node.home / "data" / "node.sqlite"

    def spawn(self) -> None:
        """Start the process without waiting for it to be ready."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"{self.node.node_id} is already running")
        self.starts += 1
        env = {**os.environ, "GRPC_VERBOSITY": "ERROR", **self.env}
        argv = [sys.executable, "-m", "focalpoint", "node", "run", "--config", str(self.node.config_path)]
        with self.log.open("ab") as err:
            err.write(f"--- start {self.starts} at {dt.datetime.now(dt.UTC).isoformat()}\n".encode())
            err.flush()
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
                preexec_fn=None if self.max_descriptors is None else self._limit_descriptors,
            )

    def _limit_descriptors(self) -> None:  # in the child, before exec
        assert self.max_descriptors is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.max_descriptors, self.max_descriptors))

    async def wait_healthy(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Poll gRPC health on the local address; raises AssertionError with the log tail on failure."""
        deadline = time.monotonic() + timeout_s
        async with grpc.aio.insecure_channel(self.node.local_address) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            while True:
                if self.proc is None or self.proc.poll() is not None:
                    raise AssertionError(f"{self.node.node_id} exited during start-up:\n{tail(self.log)}")
                try:
                    resp = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if resp.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.node.node_id} not healthy in {timeout_s} s:\n{tail(self.log)}")
                await asyncio.sleep(0.05)

    async def start(self) -> None:
        self.spawn()
        await self.wait_healthy()

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or closed (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM and wait (a clean stop); SIGKILL if it hangs. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode


@contextlib.asynccontextmanager
async def running(net: LocalNetwork, node_ids: Iterable[str]) -> AsyncIterator[dict[str, NodeProcess]]:
    """Start the nodes as processes (in parallel) and always kill them on the way out."""
    procs = {node_id: NodeProcess(net.nodes[node_id]) for node_id in node_ids}
    try:
        for p in procs.values():
            p.spawn()
        await asyncio.gather(*(p.wait_healthy() for p in procs.values()))
        yield procs
    finally:
        for p in procs.values():
            p.kill()
