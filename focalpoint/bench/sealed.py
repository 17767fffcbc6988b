"""``focalpoint bench sealed``: what a courier file of N messages costs, beside the network, in one run.

Both paths run between two real nodes in this process (Greece and Albania, an agreement in
force), each pair with its own keys, directory and databases generated for the run:

(a) network (the baseline): N messages submitted at Greece and delivered over mutual TLS gRPC on
    loopback, each sealed, encrypted, committed, delivered, verified, stored, receipted and closed;
    the wall time from the first submission until all N are closed;
(b) sealed files (our path): the second pair is configured file-only for each other
    (``sealed_files.file_only``); N messages are submitted, then Greece exports them
    (``SealedFiles.export``), Albania imports the file and writes its receipts file, and Greece
    imports the receipts file, closing all N. Each step is timed, and the file's size.

A file holds as much as ``sealed_files.max_file_bytes`` allows: when N messages do not fit in
one, the round trip (export, import, receipts back) is repeated until all N are closed, as an
operator would, and the number of files is reported. The node's own work is measured (the calls
the local API makes for ``focalpoint transfer``), not the courier nor the local API's hop.

At the end each path must have delivered every message exactly once: all N closed DELIVERED at
Greece and N messages in Albania's inbox; anything else fails the run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from focalpoint.errors import FocalpointError
from focalpoint.localnet import NodeSpec, make_network
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.log import configure_logging
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState

__all__ = ["MAX_MESSAGES", "format_sealed", "run_sealed_bench"]

GREECE, ALBANIA = "gr-bench", "al-bench"
# The CLI's bound: a run stays within minutes on a small machine.
MAX_MESSAGES = 20_000
# Officials submitting at once.
SUBMIT_CONCURRENCY = 64
_OPERATOR = "bench"
# ``sealed_files.max_file_bytes``: the configuration's default and bounds.
DEFAULT_MAX_FILE_BYTES = 32 << 20
MIN_MAX_FILE_BYTES, MAX_MAX_FILE_BYTES = 1 << 20, 60 << 20


def _deadline_s(messages: int) -> float:
    """How long either path may take before the run fails (generous: a loaded 2-core machine)."""
    return 60.0 + messages * 0.2


@dataclass(frozen=True, slots=True)
class _Pair:
    greece: Node
    albania: Node


async def _open_pair(root: Path, *, file_only: bool, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> _Pair:
    net = make_network(
        root,
        [NodeSpec(GREECE, "GR", "EKKA"), NodeSpec(ALBANIA, "AL", "SHSS")],
        now=dt.datetime.now(dt.UTC),
        log_level="error",
    )
    if file_only:
        for me, partner in ((GREECE, ALBANIA), (ALBANIA, GREECE)):
            path = net.nodes[me].config_path
            config = yaml.safe_load(path.read_text(encoding="utf-8"))
            config["sealed_files"] = {"file_only": [partner], "max_file_bytes": max_file_bytes}
            path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    greece = await Node.open(load_config(net.nodes[GREECE].config_path))
    try:
        albania = await Node.open(load_config(net.nodes[ALBANIA].config_path))
    except BaseException:
        await greece.stop(0)
        raise
    await greece.start()
    await albania.start()
    return _Pair(greece, albania)


async def _close_pair(pair: _Pair) -> None:
    await pair.greece.stop(0)
    await pair.albania.stop(0)


async def _submit_all(node: Node, messages: int, first: int) -> list[bytes]:
    """Submit ``messages`` social inquiry requests to Albania, SUBMIT_CONCURRENCY at a time; their ids."""
    now = wall_clock_ms()
    bodies = [social_inquiry_request(case_ref_for(first + i), identified_at_ms=now) for i in range(messages)]
    ids: list[bytes] = []
    pending = iter(bodies)

    async def worker() -> None:
        for body in pending:
            ids.append((await node.outbox.submit(ALBANIA, body)).message_id)

    await asyncio.gather(*(worker() for _ in range(min(SUBMIT_CONCURRENCY, messages))))
    return ids


async def _check_delivered_once(pair: _Pair, ids: list[bytes], path: str) -> None:
    """Every message closed DELIVERED at Greece and exactly as many messages in Albania's inbox."""
    states = [await pair.greece.delivery.wait_closed(m) for m in ids]
    delivered = sum(1 for s in states if s is DeliveryState.DELIVERED)
    held = await pair.albania.store.inbox.count()
    if len(set(ids)) != len(ids) or delivered != len(ids) or held != len(ids):
        raise FocalpointError(
            f"{path}: {len(ids)} messages sent, {delivered} closed as delivered, {held} in the recipient's inbox"
            " (each must be delivered exactly once)"
        )


async def _network(root: Path, messages: int) -> dict[str, float]:
    pair = await _open_pair(root, file_only=False)
    try:
        start = time.perf_counter()
        ids = await _submit_all(pair.greece, messages, 4_000_000)
        submitted = time.perf_counter() - start
        waits = [pair.greece.delivery.wait_closed(m) for m in ids]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), _deadline_s(messages))
        except TimeoutError:
            limit = _deadline_s(messages)
            raise FocalpointError(f"network: not all {messages} messages closed within {limit:.0f} s") from None
        total = time.perf_counter() - start
        await _check_delivered_once(pair, ids, "network")
    finally:
        await _close_pair(pair)
    return {"submit_s": submitted, "total_s": total}


async def _files(root: Path, messages: int, max_file_bytes: int) -> dict[str, float]:
    pair = await _open_pair(root, file_only=True, max_file_bytes=max_file_bytes)
    try:
        return await asyncio.wait_for(_carry(pair, messages), _deadline_s(messages))
    except TimeoutError:
        limit = _deadline_s(messages)
        raise FocalpointError(f"sealed files: not all {messages} messages closed within {limit:.0f} s") from None
    finally:
        await _close_pair(pair)


async def _carry(pair: _Pair, messages: int) -> dict[str, float]:
    """Submit, then export / import / receipts back until nothing is left queued for Albania."""
    start = time.perf_counter()
    ids = await _submit_all(pair.greece, messages, 5_000_000)
    submitted = time.perf_counter() - start
    export_s = import_s = receipts_s = 0.0
    files = file_bytes = receipts_bytes = accepted = closed = 0
    while closed < messages:
        t = time.perf_counter()
        out = await pair.greece.sealed.export(ALBANIA, actor=_OPERATOR)
        export_s += time.perf_counter() - t
        if not out.envelopes:
            raise FocalpointError(
                f"sealed files: {messages - closed} messages left that no file carries"
                f" ({out.left_out} do not fit in one file of sealed_files.max_file_bytes)"
            )
        t = time.perf_counter()
        got = await pair.albania.sealed.import_file(out.data, actor=_OPERATOR)
        import_s += time.perf_counter() - t
        if got.receipts_file is None or got.refused or got.duplicates:
            raise FocalpointError(
                f"sealed files: file {files + 1} gave {got.accepted} new, {got.duplicates} duplicate,"
                f" {got.refused} refused messages and {'a' if got.receipts_file else 'no'} receipts file"
            )
        t = time.perf_counter()
        back = await pair.greece.sealed.import_file(got.receipts_file.data, actor=_OPERATOR)
        receipts_s += time.perf_counter() - t
        files += 1
        file_bytes += len(out.data)
        receipts_bytes += len(got.receipts_file.data)
        accepted += got.accepted
        closed += back.closed_delivered
        if back.closed_delivered != out.envelopes:
            raise FocalpointError(
                f"sealed files: file {files} carried {out.envelopes} messages,"
                f" its receipts closed {back.closed_delivered}"
            )
    total = time.perf_counter() - start
    if accepted != messages:
        raise FocalpointError(f"sealed files: {messages} messages sent, {accepted} accepted by the recipient")
    await _check_delivered_once(pair, ids, "sealed files")
    return {
        "submit_s": submitted,
        "export_s": export_s,
        "import_s": import_s,
        "receipts_s": receipts_s,
        "total_s": total,
        "files": files,
        "file_bytes": file_bytes,
        "receipts_bytes": receipts_bytes,
    }


async def run_sealed_bench(*, messages: int, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> dict[str, Any]:
    """Both paths for ``messages`` messages (1..MAX_MESSAGES), files of at most ``max_file_bytes``
    (``sealed_files.max_file_bytes``), as one JSON-ready dict."""
    if not 1 <= messages <= MAX_MESSAGES:
        raise ValueError(f"messages must be 1..{MAX_MESSAGES}")
    if not MIN_MAX_FILE_BYTES <= max_file_bytes <= MAX_MAX_FILE_BYTES:
        raise ValueError(f"max_file_bytes must be {MIN_MAX_FILE_BYTES}..{MAX_MAX_FILE_BYTES}")
    configure_logging(level="error")
    with tempfile.TemporaryDirectory(prefix="focalpoint-bench-") as tmp_name:
        tmp = Path(tmp_name)
        net = await _network(tmp / "network", messages)
        files = await _files(tmp / "files", messages, max_file_bytes)
    net_rate = messages / net["total_s"]
    file_rate = messages / files["total_s"]
    return {
        "messages": messages,
        "max_file_bytes": max_file_bytes,
        "network_submit_s": round(net["submit_s"], 3),
        "network_total_s": round(net["total_s"], 3),
        "network_messages_per_s": round(net_rate, 1),
        "files": int(files["files"]),
        "file_submit_s": round(files["submit_s"], 3),
        "file_export_s": round(files["export_s"], 3),
        "file_import_s": round(files["import_s"], 3),
        "file_receipts_import_s": round(files["receipts_s"], 3),
        "file_total_s": round(files["total_s"], 3),
        "file_messages_per_s": round(file_rate, 1),
        "file_bytes": int(files["file_bytes"]),
        "file_bytes_per_message": round(files["file_bytes"] / messages, 1),
        "receipts_file_bytes": int(files["receipts_bytes"]),
        "receipts_bytes_per_message": round(files["receipts_bytes"] / messages, 1),
        # Wall time of the file path over the network's (> 1: the files take longer), and its inverse
        # as throughput, as the other benches report it.
        "time_ratio": round(files["total_s"] / net["total_s"], 3),
        "throughput_ratio": round(file_rate / net_rate, 3),
    }


def format_sealed(r: dict[str, Any]) -> str:
    transfer = r["file_export_s"] + r["file_import_s"] + r["file_receipts_import_s"]
    return "\n".join(
        [
            f"{r['messages']} messages from Greece to Albania, two nodes in this process, loopback",
            f"{'':28}{'submit':>10}{'to close':>11}{'total':>10}{'throughput':>14}",
            f"{'network (mutual TLS gRPC)':28}{r['network_submit_s']:>9.2f}s"
            f"{r['network_total_s'] - r['network_submit_s']:>10.2f}s{r['network_total_s']:>9.2f}s"
            f"{r['network_messages_per_s']:>10.0f} /s",
            f"{'sealed files':28}{r['file_submit_s']:>9.2f}s{transfer:>10.2f}s{r['file_total_s']:>9.2f}s"
            f"{r['file_messages_per_s']:>10.0f} /s",
            f"sealed files: {r['files']} file(s) of at most {r['max_file_bytes']} bytes;"
            f" export {r['file_export_s']:.2f} s, import at Albania {r['file_import_s']:.2f} s,"
            f" receipts file imported at Greece {r['file_receipts_import_s']:.2f} s",
            f"file {r['file_bytes']} bytes ({r['file_bytes_per_message']:.0f} per message);"
            f" receipts file {r['receipts_file_bytes']} bytes ({r['receipts_bytes_per_message']:.0f} per message)",
            f"time ratio sealed files / network {r['time_ratio']:.2f}; throughput ratio {r['throughput_ratio']:.2f}",
        ]
    )
