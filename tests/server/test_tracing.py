"""OpenTelemetry tracing between real nodes (docs/adr/0022-tracing-stays-home.md): a local API call
gives a root span holding the RPC's name and status only; a peer call that carries a W3C
``traceparent`` gives a root span of a trace of our own, not a child of the caller's; a delivery
to a partner carries no ``traceparent`` or ``tracestate``, though its batch span is current while
it goes out; with tracing off no interceptor is installed; a wrong ``tracing`` section is refused
with the key named."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from focalpoint.client import LocalClient
from focalpoint.errors import ConfigError, PermissionDenied
from focalpoint.localnet import LocalNetwork
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server import tracing as tracing_module
from focalpoint.server.config import TracingConfig, load_config
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import audit_pb2, envelope_pb2, local_pb2, node_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
GR, AL = "gr-ekka", "al-shss"
CASE = case_ref_for(2201)
RPC_KEYS = {"rpc.system", "rpc.service", "rpc.method", "rpc.grpc.status_code", "focalpoint.port"}
CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{CALLER_TRACE}-b7ad6b7169203331-01"
TRACING = TracingConfig(endpoint="http://127.0.0.1:4317", service_name="focalpoint-test")

Traced = dict[str, tuple[Node, InMemorySpanExporter]]


@pytest.fixture
async def traced(network: LocalNetwork) -> AsyncIterator[Traced]:
    """GR and AL running with tracing on, each exporting into its own in-memory exporter."""
    out: Traced = {}
    try:
        for node_id in (GR, AL):
            exporter = InMemorySpanExporter()
            config = dataclasses.replace(load_config(network.nodes[node_id].config_path), tracing=TRACING)
            node = await Node.open(config, span_exporter=exporter)
            await node.start()
            out[node_id] = (node, exporter)
        yield out
    finally:
        for node, _ in out.values():
            await node.stop(0)


def _spans(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


async def test_a_local_api_call_is_a_root_span_with_its_name_and_status_only(
    traced: Traced, network: LocalNetwork
) -> None:
    node, exporter = traced[GR]
    async with LocalClient(f"127.0.0.1:{node.local_port}", network.nodes[GR].token) as client:
        await client.get_health()
        missing = bytes.fromhex("ab" * 16)
        with pytest.raises(PermissionDenied):  # the machine credential reads no message
            await client.get_message(local_pb2.DIRECTION_OUTBOX, missing)

    [health] = _spans(exporter, "focalpoint.v1.LocalService/GetHealth")
    assert health.parent is None
    assert dict(health.attributes or {}) == {
        "rpc.system": "grpc",
        "rpc.service": "focalpoint.v1.LocalService",
        "rpc.method": "GetHealth",
        "rpc.grpc.status_code": 0,
        "focalpoint.port": "local",
    }
    [failed] = _spans(exporter, "focalpoint.v1.LocalService/GetMessage")
    assert set(failed.attributes or {}) == RPC_KEYS
    assert (failed.attributes or {})["rpc.grpc.status_code"] == grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert failed.events == ()  # no exception recorded: its text could name a case
    assert failed.status.description is None
    # The store calls an RPC makes are its children, named by the call, with nothing else.
    async with LocalClient(f"127.0.0.1:{node.local_port}", network.nodes[GR].token) as client:
        await client.list_outbox()
    [listed] = _spans(exporter, "focalpoint.v1.LocalService/ListOutbox")
    assert listed.context is not None
    inside = [s for s in exporter.get_finished_spans() if s.parent is not None]
    under = [s for s in inside if s.parent is not None and s.parent.span_id == listed.context.span_id]
    assert under, [s.name for s in exporter.get_finished_spans()]
    assert all(s.name.startswith("store.") and not s.attributes for s in under)
    assert all(s.context is not None and s.context.trace_id == listed.context.trace_id for s in under)
    # Every span with a parent has one of our own: a store call in an RPC or a delivery batch.
    ours = {s.context.span_id for s in exporter.get_finished_spans() if s.context is not None}
    assert all(s.parent is not None and s.parent.span_id in ours for s in inside)
    everything = repr([(s.name, dict(s.attributes or {}), s.events) for s in exporter.get_finished_spans()])
    assert missing.hex() not in everything
    assert network.nodes[GR].token not in everything


async def test_a_peer_call_with_a_traceparent_gets_a_root_span_of_our_own(traced: Traced) -> None:
    gr, _ = traced[GR]
    _, al_spans = traced[AL]
    channel = gr.transport.channel(AL)  # type: ignore[attr-defined]  # PeerChannels: mutual TLS to AL
    answer = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=""),
        metadata=(("traceparent", TRACEPARENT), ("tracestate", "caller=steer")),
        timeout=5,
    )
    assert answer.status in (health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING)
    [span] = _spans(al_spans, "grpc.health.v1.Health/Check")
    assert span.parent is None
    assert span.context is not None
    assert format(span.context.trace_id, "032x") != CALLER_TRACE
    assert "caller" not in str(span.context.trace_state)
    assert (span.attributes or {})["focalpoint.port"] == "peer"
    assert set(span.attributes or {}) == RPC_KEYS

    # A NodeService call too, whatever it answers.
    with contextlib.suppress(grpc.aio.AioRpcError):
        await node_pb2_grpc.NodeServiceStub(channel).GetCheckpoint(
            audit_pb2.GetCheckpointRequest(log_node=AL), metadata=(("traceparent", TRACEPARENT),), timeout=5
        )
    [asked] = _spans(al_spans, "focalpoint.v1.NodeService/GetCheckpoint")
    assert asked.parent is None
    assert asked.context is not None
    assert format(asked.context.trace_id, "032x") != CALLER_TRACE


async def test_an_outgoing_delivery_carries_no_trace_context(traced: Traced, monkeypatch: pytest.MonkeyPatch) -> None:
    """What AL's peer port received, read before any of our code runs on it."""
    seen: list[tuple[str, tuple[tuple[str, Any], ...]]] = []
    original = tracing_module._RpcSpans.intercept_service

    async def capture(
        self: Any, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]], details: grpc.HandlerCallDetails
    ) -> Any:
        seen.append((details.method, tuple(details.invocation_metadata or ())))
        return await original(self, continuation, details)

    monkeypatch.setattr(tracing_module._RpcSpans, "intercept_service", capture)
    gr, gr_spans = traced[GR]
    await gr.reachability.round()
    sent = await gr.outbox.submit(AL, social_inquiry_request(CASE, identified_at_ms=wall_clock_ms()))
    assert await asyncio.wait_for(gr.delivery.wait_closed(sent.message_id), 15) is DeliveryState.DELIVERED

    deliveries = [md for method, md in seen if method.startswith("/focalpoint.v1.NodeService/Deliver")]
    assert deliveries, seen
    for metadata in deliveries:
        keys = {key.lower() for key, _ in metadata}
        assert not keys & {"traceparent", "tracestate", "baggage"}, keys
    [batch] = _spans(gr_spans, "delivery.batch")
    assert batch.parent is None
    assert dict(batch.attributes or {}) == {"focalpoint.peer": AL, "focalpoint.messages": 1}
    assert batch.context is not None
    recorded = [s.name for s in gr_spans.get_finished_spans() if s.parent and s.parent.span_id == batch.context.span_id]
    assert recorded
    assert all(name.startswith("store.outbox.") for name in recorded), recorded


async def test_a_streamed_delivery_gets_one_span_with_its_status(traced: Traced) -> None:
    """DeliverStream's handler is an async generator: its span ends when the stream does."""
    gr, _ = traced[GR]
    _, al_spans = traced[AL]
    await gr.reachability.round()
    for _ in range(3):
        sent = await gr.outbox.submit(AL, social_inquiry_request(CASE, identified_at_ms=wall_clock_ms()))
        assert await asyncio.wait_for(gr.delivery.wait_closed(sent.message_id), 15) is DeliveryState.DELIVERED
    rows = await gr.store.outbox.of_case(CASE)
    envelopes = [envelope_pb2.Envelope.FromString(r.envelope) for r in rows]
    assert len(envelopes) == 3
    results = await gr.transport.deliver_batch(AL, envelopes)  # again: AL answers with its receipts
    assert len(results) == 3
    [stream] = _spans(al_spans, "focalpoint.v1.NodeService/DeliverStream")
    assert stream.parent is None
    assert stream.end_time is not None
    assert dict(stream.attributes or {})["rpc.grpc.status_code"] == 0
    assert set(stream.attributes or {}) == RPC_KEYS


async def test_with_tracing_off_no_interceptor_is_installed(
    network: LocalNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[object] = []
    server = grpc.aio.server

    def recording(*args: Any, **kwargs: Any) -> grpc.aio.Server:
        made.append(kwargs.get("interceptors"))
        return server(*args, **kwargs)

    monkeypatch.setattr(grpc.aio, "server", recording)
    config = load_config(network.nodes[GR].config_path)
    assert config.tracing is None
    node = await Node.open(config)
    await node.start()
    try:
        assert node.tracing is None
        assert made == [None, None]  # the peer port's and the local API's
    finally:
        await node.stop(0)


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ("tracing: {}\n", "tracing.endpoint: required key is missing"),
        ("tracing:\n  endpoint: 127.0.0.1:4317\n", "tracing.endpoint: expected an OTLP/gRPC collector's URL"),
        ("tracing:\n  endpoint: http://u:p@collector:4317\n", "tracing.endpoint: expected an OTLP/gRPC"),
        ("tracing:\n  endpoint: http://collector:99999\n", "tracing.endpoint: expected an OTLP/gRPC"),
        ("tracing:\n  endpoint: http://c:4317\n  sample_ratio: 2\n", "tracing.sample_ratio: expected a number in"),
        ("tracing:\n  endpoint: http://c:4317\n  service_name: 'a b'\n", "tracing.service_name: expected 1-63"),
        ("tracing:\n  endpoint: http://c:4317\n  sampel_ratio: 1\n", "tracing.sampel_ratio: unknown key"),
        ("tracing: on\n", "tracing: expected a mapping"),
    ],
)
def test_a_wrong_tracing_section_is_refused(network: LocalNetwork, section: str, problem: str) -> None:
    source = network.nodes[GR].config_path
    path = source.parent / "with-tracing.yaml"
    path.write_text(source.read_text() + section)
    with pytest.raises(ConfigError, match=re.escape(problem)):
        load_config(path)


def test_a_tracing_section_reads_with_its_defaults(network: LocalNetwork) -> None:
    source = network.nodes[GR].config_path
    path = source.parent / "with-tracing.yaml"
    path.write_text(source.read_text() + "tracing:\n  endpoint: https://collector.example.org:4317\n")
    assert load_config(path).tracing == TracingConfig("https://collector.example.org:4317", "focalpoint", 1.0)


# Run in a fresh interpreter where ``import opentelemetry`` fails, as on a host without the extra.
_WITHOUT_OTEL = "import sys; sys.modules['opentelemetry'] = None\n"
_OPEN_AND_STOP = """
import asyncio
from pathlib import Path
from focalpoint.server.config import load_config
from focalpoint.server.node import Node

async def main() -> None:
    node = await Node.open(load_config(Path(sys.argv[1])))
    await node.start()
    assert node.tracing is None
    await node.stop(0)

asyncio.run(main())
loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry."))
assert not loaded, loaded
print("ran without opentelemetry")
"""


def _python(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_OTEL + script, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


def test_without_the_extra_a_node_without_tracing_runs(network: LocalNetwork) -> None:
    done = _python(_OPEN_AND_STOP, str(network.nodes[GR].config_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ran without opentelemetry" in done.stdout


def test_without_the_extra_a_node_with_tracing_refuses_to_start(network: LocalNetwork) -> None:
    source = network.nodes[GR].config_path
    path = source.parent / "with-tracing.yaml"
    path.write_text(source.read_text() + "tracing:\n  endpoint: http://127.0.0.1:4317\n")
    done = _python(
        "from focalpoint.cli import main; sys.argv[0] = 'focalpoint'; main()", "node", "run", "--config", str(path)
    )
    assert done.returncode == 1, done.stderr[-3000:]
    assert "tracing: is configured but OpenTelemetry is not installed" in done.stderr
    assert "pip install 'focalpoint[otel]'" in done.stderr
    assert "Traceback" not in done.stderr
