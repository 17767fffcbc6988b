"""OpenTelemetry tracing of the node, optional and off by default (docs/adr/0022-tracing-stays-home.md).

Why our own interceptor and not opentelemetry-instrumentation-grpc: its interceptors inject the
W3C ``traceparent``/``tracestate`` headers into every client call and extract them on the server.
Between institutions of different States that hands a foreign State ids it can correlate with
our internal traces, and lets a peer choose the trace our spans land in. So here:

- every span is a **root** span: an incoming ``traceparent`` or ``tracestate`` is never read (on
  either port), and nothing is injected into an outgoing call (no client interceptor exists);
- a span per RPC on the local API and on the peer port (``_RpcSpans``): the RPC's service and
  method, its status code, which port — nothing from the request, its metadata or its error
  message (exceptions are not recorded: their text may hold a case reference);
- a span per delivery batch (``DeliveryManager``, through the ``Tracer`` port): the peer node id
  and the number of envelopes;
- inside those, a child span per store call (``store.outbox.submit``, …: the call's name only, no
  argument), through a proxy of the node's ``Store`` put in only when tracing is on. A store call
  made outside an RPC or a delivery batch (the node's timers) is not traced: a span per second of
  upkeep would bury the ones that matter.

Nothing here imports ``opentelemetry`` at module level: the package is the ``focalpoint[otel]``
extra, and a node without a ``tracing`` section never loads it (``open_tracing`` is called only
when the section is there, and refuses with one clear line when the extra is missing).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import grpc

from focalpoint.errors import ConfigError
from focalpoint.server.config import TracingConfig
from focalpoint.storage.base import Store

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span
    from opentelemetry.trace import Tracer as OtelTracer

    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    _Interceptor = grpc.aio.ServerInterceptor  # generic in the stubs only

__all__ = ["LOCAL", "PEER", "Tracing", "open_tracing"]

LOCAL, PEER = "local", "peer"
EXTRA_MISSING = (
    "tracing: is configured but OpenTelemetry is not installed: install the extra"
    " (pip install 'focalpoint[otel]'), or remove the tracing section"
)


def open_tracing(config: TracingConfig, node_id: str, source: Path, *, exporter: SpanExporter | None = None) -> Tracing:
    """The node's tracing from its ``tracing`` section: spans sampled at ``sample_ratio`` and sent
    to the OTLP collector at ``endpoint`` in batches (``exporter``: tests pass an in-memory one,
    exported at once). Raises ConfigError when the ``otel`` extra is not installed."""
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
    except ImportError as e:
        raise ConfigError(f"{source}: {EXTRA_MISSING} ({e.name} cannot be imported)") from None
    resource = Resource.create({"service.name": config.service_name, "service.instance.id": node_id})
    # Not the global provider: several nodes may run in one process (tests, the local network).
    provider = TracerProvider(resource=resource, sampler=TraceIdRatioBased(config.sample_ratio))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        except ImportError as e:
            raise ConfigError(f"{source}: {EXTRA_MISSING} ({e.name} cannot be imported)") from None
        provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(endpoint=config.endpoint, insecure=config.endpoint.startswith("http://"))
            )
        )
    return Tracing(provider)


class Tracing:
    """The node's tracer (a ``focalpoint.node.ports.Tracer``) and its RPC interceptors."""

    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider
        self._tracer: OtelTracer = provider.get_tracer("focalpoint")

    def _start(self, name: str, attributes: Mapping[str, str | int]) -> Span:
        from opentelemetry.context import Context
        from opentelemetry.trace import SpanKind

        # An empty context: no parent, whatever is current or was sent to us.
        return self._tracer.start_span(name, context=Context(), kind=SpanKind.INTERNAL, attributes=dict(attributes))

    @contextlib.contextmanager
    def root_span(self, name: str, attributes: Mapping[str, str | int]) -> Iterator[None]:
        from opentelemetry.trace import Status, StatusCode, use_span

        span = self._start(name, attributes)
        with use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
            try:
                yield
            except BaseException:
                span.set_status(Status(StatusCode.ERROR))  # no description: an error's text may name a case
                raise

    @contextlib.contextmanager
    def child_span(self, name: str) -> Iterator[None]:
        """A span under the current one, when one of ours is recording; else nothing."""
        from opentelemetry.trace import get_current_span

        if not get_current_span().is_recording():
            yield
            return
        with self._tracer.start_as_current_span(name, record_exception=False, set_status_on_exception=False):
            yield

    def traced_store(self, store: Store) -> Store:
        """``store`` with a child span around each of its parts' async calls (``child_span``)."""
        return cast("Store", _TracedStore(store, self))

    def interceptors(self, port: str) -> tuple[grpc.aio.ServerInterceptor[Any, Any], ...]:
        """The server interceptors of ``port`` (``LOCAL`` or ``PEER``): one root span per RPC."""
        return (_RpcSpans(self, port),)

    def rpc_span(self, method: str, port: str) -> Span:
        service, _, name = method.lstrip("/").partition("/")
        return self._start(
            method.lstrip("/"),
            {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name, "focalpoint.port": port},
        )

    async def shutdown(self) -> None:
        """Export what is pending and stop (in a thread: an unreachable collector blocks for its timeout)."""
        await asyncio.to_thread(self._provider.shutdown)


def _end(span: Span, code: grpc.StatusCode | None) -> None:
    from opentelemetry.trace import Status, StatusCode

    code = code or grpc.StatusCode.OK
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code is not grpc.StatusCode.OK:
        span.set_status(Status(StatusCode.ERROR))
    span.end()


def _code(context: grpc.aio.ServicerContext[Any, Any], error: BaseException | None) -> grpc.StatusCode | None:
    """The RPC's status: what the handler set or aborted with; else from the exception that ended it."""
    set_code: grpc.StatusCode | None = context.code()
    if set_code is not None:
        return set_code
    if isinstance(error, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    if error is not None:
        return grpc.StatusCode.UNKNOWN
    return None


Behavior = Callable[..., Any]


def _traced(tracing: Tracing, method: str, port: str, behavior: Behavior) -> Behavior:
    """``behavior`` (a coroutine function, or an async generator for streamed answers) in a span."""
    if inspect.isasyncgenfunction(behavior):

        async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            # Not made current: a generator's context may be left and re-entered between items.
            span, error = tracing.rpc_span(method, port), None
            try:
                async for item in behavior(request, context):
                    yield item
            except BaseException as e:
                error = e
                raise
            finally:
                _end(span, _code(context, error))

        return stream

    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        from opentelemetry.trace import use_span

        span, error = tracing.rpc_span(method, port), None
        try:
            with use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
                result = behavior(request, context)
                return await result if isinstance(result, Awaitable) else result
        except BaseException as e:
            error = e
            raise
        finally:
            _end(span, _code(context, error))

    return call


_STORE_PARTS = ("outbox", "inbox", "directory", "audit", "cases", "accounts")


class _TracedPart:
    """One part of the store (``store.outbox``, …): its coroutine methods each in a child span."""

    def __init__(self, part: object, name: str, tracing: Tracing) -> None:
        self._part, self._name, self._tracing = part, name, tracing

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._part, attr)
        if attr.startswith("_") or not inspect.iscoroutinefunction(value):
            return value
        span_name, tracing = f"store.{self._name}.{attr}", self._tracing

        @functools.wraps(value)
        async def traced(*args: Any, **kwargs: Any) -> Any:
            with tracing.child_span(span_name):
                return await value(*args, **kwargs)

        return traced


class _TracedStore:
    """The node's store with its parts traced; everything else (``close``, ``full_since``, …) as is."""

    def __init__(self, store: Store, tracing: Tracing) -> None:
        self._store = store
        self._parts = {name: _TracedPart(getattr(store, name), name, tracing) for name in _STORE_PARTS}

    def __getattr__(self, attr: str) -> Any:
        part = self.__dict__.get("_parts", {}).get(attr)
        return part if part is not None else getattr(self._store, attr)


class _RpcSpans(_Interceptor):
    """A root span per RPC: method and status code only. The call's metadata is never read."""

    def __init__(self, tracing: Tracing, port: str) -> None:
        self._tracing = tracing
        self._port = port

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method: str = handler_call_details.method
        wrap = (handler.request_deserializer, handler.response_serializer)
        t, port = self._tracing, self._port
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(_traced(t, method, port, handler.unary_unary), *wrap)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(_traced(t, method, port, handler.unary_stream), *wrap)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(_traced(t, method, port, handler.stream_unary), *wrap)
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(_traced(t, method, port, handler.stream_stream), *wrap)
        return handler
