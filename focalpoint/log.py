"""structlog set-up: JSON in production, console in development, always to stderr.

Events are snake_case names with fields; callers never log payloads, names or keys.

With JSON configured, every line the process writes to stderr is one JSON object: structlog's
own events, the standard ``logging`` records of the libraries under us (grpc, asyncio, uvicorn,
``warnings``) rendered by the same renderer through one root handler, and an exception nothing
caught (in any thread, or "ignored" in a finaliser) as an event instead of a bare traceback. A log
collector then never meets a line it cannot parse. ``is_json`` tells the CLI's one-line errors to
follow suit (``focalpoint.cli._local.fail``).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from types import TracebackType

import structlog

__all__ = ["LOG_FORMAT_ENV", "configure_logging", "is_json"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

# The environment variable that chooses the log format before any configuration file is read
# (``focalpoint node run --log-format``; a systemd unit sets it in Environment=).
LOG_FORMAT_ENV = "FOCALPOINT_LOG_FORMAT"

_json = False


def is_json() -> bool:
    """Whether the process's log (and so every line on its stderr) is JSON."""
    return _json


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time of the record (a test may swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def _shared_processors() -> list[structlog.typing.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _route_stdlib(renderer: structlog.typing.Processor, level: int, *, as_json: bool) -> None:
    """One root handler (replacing the one an earlier call installed) renders every standard
    ``logging`` record the way structlog renders its own events."""
    foreign: list[structlog.typing.Processor] = [structlog.stdlib.add_logger_name, *_shared_processors()]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=foreign,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *([structlog.processors.format_exc_info] if as_json else []),
            renderer,
        ],
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn and others install handlers of their own unless told not to; theirs must not print.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
    # Python's warnings: through the same handler when the log must stay JSON; as usual otherwise.
    logging.captureWarnings(as_json)


def _log_uncaught(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    structlog.get_logger("focalpoint").critical("uncaught_exception", exc_info=(kind, value, tb))


def _log_thread_uncaught(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None:
        return
    structlog.get_logger("focalpoint").critical(
        "uncaught_exception",
        thread=args.thread.name if args.thread is not None else None,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


def _log_unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    # "Exception ignored in …": an error in a finaliser or a callback that could not raise it.
    value = unraisable.exc_value
    structlog.get_logger("focalpoint").error(
        "unraisable_exception",
        message=unraisable.err_msg or "Exception ignored",
        exc_info=(unraisable.exc_type, value, unraisable.exc_traceback) if value is not None else False,
    )


_HOOKS = (
    (sys, "excepthook", _log_uncaught, sys.__excepthook__),
    (threading, "excepthook", _log_thread_uncaught, threading.__excepthook__),
    (sys, "unraisablehook", _log_unraisable, sys.__unraisablehook__),
)


def configure_logging(*, fmt: str = "console", level: str = "info") -> None:
    global _json
    # gRPC's C core prints handshake failures at INFO; they are refusals we already report.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    as_json = fmt == "json"
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            *_shared_processors(),
            *([structlog.processors.format_exc_info] if as_json else []),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    _route_stdlib(renderer, _LEVELS[level], as_json=as_json)
    _json = as_json
    # An exception nothing caught, in the main thread, another thread, or a finaliser: a JSON event
    # instead of Python's bare traceback; the usual hooks back when the log is not JSON.
    for module, name, ours, default in _HOOKS:
        if as_json:
            setattr(module, name, ours)
        elif getattr(module, name) is ours:
            setattr(module, name, default)
