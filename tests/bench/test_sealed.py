"""The sealed-files benchmark runs on a few messages and prints the fields others rely on (values
not judged: speed targets are never timed tests); a file too small for all the messages makes it
carry several; a count out of bounds is a usage error before any node is made."""

from __future__ import annotations

import json

import pytest

from tests.support.procs import cli

FIELDS = {
    "messages",
    "max_file_bytes",
    "network_total_s",
    "network_messages_per_s",
    "files",
    "file_export_s",
    "file_import_s",
    "file_receipts_import_s",
    "file_total_s",
    "file_messages_per_s",
    "file_bytes",
    "file_bytes_per_message",
    "receipts_file_bytes",
    "time_ratio",
    "throughput_ratio",
}


def test_bench_sealed_prints_one_json_object_with_both_paths_and_their_ratio() -> None:
    """`focalpoint bench sealed --messages 20 --json`: both paths timed, one file, a positive ratio."""
    result = cli("bench", "sealed", "--messages", "20", "--json", timeout_s=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) >= FIELDS
    assert (report["messages"], report["files"]) == (20, 1)
    assert report["time_ratio"] > 0
    assert report["time_ratio"] == pytest.approx(report["file_total_s"] / report["network_total_s"], rel=0.05)
    # An envelope is a few KiB at most: the file holds the 20 messages, and not much besides.
    assert 20 * 500 < report["file_bytes"] < 20 * 8192
    assert report["file_bytes_per_message"] == pytest.approx(report["file_bytes"] / 20, rel=0.01)
    assert report["receipts_file_bytes"] > 0


def test_bench_sealed_human_output_names_both_paths() -> None:
    """The table names the network and the sealed files, the file's size and the ratio."""
    result = cli("bench", "sealed", "--messages", "10", timeout_s=120)
    assert result.returncode == 0, result.stderr
    assert "network (mutual TLS gRPC)" in result.stdout
    assert "sealed files" in result.stdout
    assert "per message" in result.stdout
    assert "time ratio sealed files / network" in result.stdout


def test_messages_that_do_not_fit_in_one_file_are_carried_by_several() -> None:
    """At the smallest cap (1 MiB) 600 messages of about 2 KiB need two files; all are delivered once."""
    args = ("--messages", "600", "--max-file-bytes", str(1 << 20), "--json")
    result = cli("bench", "sealed", *args, timeout_s=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["messages"] == 600
    assert report["files"] >= 2
    assert report["file_bytes"] > 1 << 20  # more than one file's worth, in files of at most 1 MiB each


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--messages", "0"), "0 is not in the range 1<=x<=20000"),
        (("--messages", "-5"), "-5 is not in the range 1<=x<=20000"),
        (("--messages", "1000000"), "1000000 is not in the range 1<=x<=20000"),
        (("--messages", "many"), "'many' is not a valid integer"),
        (("--max-file-bytes", "1000"), "1000 is not in the range"),
    ],
)
def test_bad_arguments_are_usage_errors(args: tuple[str, ...], says: str) -> None:
    """Out-of-range or non-numeric counts: exit 2, the option named and what is allowed."""
    result = cli("bench", "sealed", *args, timeout_s=60)
    assert result.returncode == 2
    assert f"Invalid value for {args[0]!r}" in result.stderr
    assert says in result.stderr
    assert result.stdout == ""
