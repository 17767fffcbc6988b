"""``focalpoint bench``: benchmarks that run our path and its raw baseline side by side, as ratios."""

from __future__ import annotations

import json

import click

from focalpoint.cli._local import run

__all__ = ["bench"]


@click.group()
@click.version_option(package_name="focalpoint", prog_name="focalpoint")
def bench() -> None:
    """Benchmarks: our path and its raw baseline side by side, as ratios."""


@bench.command("exchange")
@click.option("--messages", type=click.IntRange(10, 200_000), default=3000, show_default=True)
@click.option("--payload-bytes", type=click.IntRange(64, 512 * 1024), default=1024, show_default=True)
@click.option(
    "--light",
    "light_load",
    type=click.IntRange(5, 10_000),
    default=200,
    show_default=True,
    help="Sequential round trips for p50.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_exchange(messages: int, payload_bytes: int, light_load: int, as_json: bool) -> None:
    """Raw grpc.aio echo vs the full exchange, both between two processes over mutual TLS."""
    from focalpoint.bench.exchange import run_exchange_bench

    result = run(run_exchange_bench(messages=messages, payload_bytes=payload_bytes, light=light_load))
    if as_json:
        click.echo(json.dumps(result, sort_keys=True))
    else:
        from focalpoint.bench.exchange import format_exchange

        click.echo(format_exchange(result))


@bench.command("directory")
@click.option("--states", type=click.IntRange(2, 676), default=193, show_default=True)
@click.option("--contact-points", type=click.IntRange(1, 200), default=20, show_default=True, help="Per State.")
@click.option("--repeats", type=click.IntRange(1, 50), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_directory(states: int, contact_points: int, repeats: int, as_json: bool) -> None:
    """Verify and load a directory of STATES States, and time lookups at two sizes."""
    from focalpoint.bench.directory import format_directory, run_directory_bench

    result = run_directory_bench(states=states, contacts=contact_points, repeats=repeats)
    click.echo(json.dumps(result, sort_keys=True) if as_json else format_directory(result))


@bench.command("audit")
@click.option("--leaves", type=click.IntRange(100, 50_000_000), default=1_000_000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_audit(leaves: int, as_json: bool) -> None:
    """Append throughput, proof times and full verification of an audit log of LEAVES leaves."""
    from focalpoint.bench.audit import format_audit, run_audit_bench

    result = run_audit_bench(leaves=leaves)
    click.echo(json.dumps(result, sort_keys=True) if as_json else format_audit(result))


@bench.command("flood")
@click.option(
    "--messages", type=click.IntRange(10, 100_000), default=200, show_default=True, help="Honest round trips per phase."
)
@click.option(
    "--streams", type=click.IntRange(1, 64), default=4, show_default=True, help="The flooder's concurrent streams."
)
@click.option(
    "--batch", type=click.IntRange(1, 1024), default=256, show_default=True, help="Envelopes per flood batch."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_flood(messages: int, streams: int, batch: int, as_json: bool) -> None:
    """An honest partner's delivery latency alone and during another peer's flood (three processes, mutual TLS)."""
    from focalpoint.bench.flood import format_flood, run_flood_bench

    result = run(run_flood_bench(messages=messages, streams=streams, batch=batch))
    click.echo(json.dumps(result, sort_keys=True) if as_json else format_flood(result))


@bench.command("retries")
@click.option("--messages", type=click.IntRange(1, 20_000), default=500, show_default=True, help="Queued messages.")
@click.option(
    "--payload-bytes",
    type=click.IntRange(64, 1 << 20),
    default=16 * 1024,
    show_default=True,
    help="Size of each message's envelope and of its local copy.",
)
@click.option("--rounds", type=click.IntRange(1, 100), default=3, show_default=True, help="Retries of each message.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_retries(messages: int, payload_bytes: int, rounds: int, as_json: bool) -> None:
    """Bytes a delivery retry writes: our delivery row against rewriting the message's row (schema 2)."""
    from focalpoint.bench.retries import format_retries, run_retries_bench
    from focalpoint.log import configure_logging

    configure_logging(level="warning")  # the store's own log lines go to stderr, not into the result
    result = run(run_retries_bench(messages=messages, payload_bytes=payload_bytes, rounds=rounds))
    click.echo(json.dumps(result, sort_keys=True) if as_json else format_retries(result))


@bench.command("cases")
@click.option("--links", type=click.IntRange(100, 2_000_000), default=100_000, show_default=True)
@click.option(
    "--events-per-link",
    type=click.IntRange(4, 200),
    default=15,
    show_default=True,
    help="Most links hold 3 to this many events (1% hold up to 8 times more).",
)
@click.option(
    "--rounds", type=click.IntRange(5, 100_000), default=300, show_default=True, help="Samples of each measure."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_cases(links: int, events_per_link: int, rounds: int, as_json: bool) -> None:
    """Worklist, timeline, fold and apply of the case layer over LINKS links, each beside a raw baseline."""
    from focalpoint.bench.cases import format_cases, run_cases_bench
    from focalpoint.log import configure_logging

    configure_logging(level="warning")  # the store's and case work's log lines go to stderr, not into the result
    result = run(run_cases_bench(links=links, events_per_link=events_per_link, rounds=rounds))
    click.echo(json.dumps(result, sort_keys=True) if as_json else format_cases(result))


@bench.command("people")
@click.option(
    "--logins", type=click.IntRange(1, 64), default=4, show_default=True, help="Concurrent logins beside the ticker."
)
@click.option(
    "--calls",
    type=click.IntRange(1, 100_000),
    default=200,
    show_default=True,
    help="Rounds of the door (at most 30 s).",
)
@click.option(
    "--hashes", type=click.IntRange(1, 1000), default=10, show_default=True, help="Hashes and verifies at each cost."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_people(logins: int, calls: int, hashes: int, as_json: bool) -> None:
    """Password hashing, logins beside the event loop and the door's cost per call, each beside a baseline."""
    from focalpoint.bench.people import format_people, run_people_bench
    from focalpoint.log import configure_logging

    configure_logging(level="warning")  # the node's own log lines go to stderr, not into the result
    result = run(run_people_bench(logins=logins, calls=calls, hashes=hashes))
    click.echo(json.dumps(result, sort_keys=True) if as_json else format_people(result))


@bench.command("console")
@click.option("--links", type=click.IntRange(100, 2_000_000), default=100_000, show_default=True)
@click.option(
    "--rounds",
    type=click.IntRange(1, 100_000),
    default=200,
    show_default=True,
    help="Samples of each page (at most 30 s each).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_console(links: int, rounds: int, as_json: bool) -> None:
    """The console's worklist and case pages over LINKS links, each beside its local API call, and its memory."""
    from focalpoint.bench.console import format_console, run_console_bench
    from focalpoint.log import configure_logging

    configure_logging(level="warning")  # the node's own log lines go to stderr, not into the result
    result = run(run_console_bench(links=links, rounds=rounds))
    click.echo(json.dumps(result, sort_keys=True) if as_json else format_console(result))


@bench.command("sealed")
@click.option(
    "--messages",
    type=click.IntRange(1, 20_000),
    default=1000,
    show_default=True,
    help="Messages carried on each path (several files when they do not fit in one).",
)
@click.option(
    "--max-file-bytes",
    type=click.IntRange(1 << 20, 60 << 20),
    default=32 << 20,
    show_default=True,
    help="sealed_files.max_file_bytes of the file-only pair.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_sealed(messages: int, max_file_bytes: int, as_json: bool) -> None:
    """N messages over the network, then by sealed files (export, import, receipts back), as ratios."""
    from focalpoint.bench.sealed import format_sealed, run_sealed_bench
    from focalpoint.log import configure_logging

    configure_logging(level="error")  # the nodes' own log lines go to stderr, not into the result
    result = run(run_sealed_bench(messages=messages, max_file_bytes=max_file_bytes))
    click.echo(json.dumps(result, sort_keys=True) if as_json else format_sealed(result))
