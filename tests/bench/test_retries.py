"""The retries benchmark runs on a small queue and prints the fields others rely on; our path writes
less per retry than rewriting the message's row (the bytes are counted, not timed)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_retries_prints_one_json_object_with_our_path_below_the_row_rewrite() -> None:
    """`focalpoint bench retries --json` reports bytes per retry for both paths, and ours is the smaller."""
    args = ["--messages", "20", "--payload-bytes", "8192", "--rounds", "2", "--json"]
    out = subprocess.run(
        [sys.executable, "-m", "focalpoint", "bench", "retries", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout)
    assert (result["messages"], result["payload_bytes"], result["rounds"]) == (20, 8192, 2)
    assert 0 < result["ours_bytes_per_retry"] < result["rewrite_same_error_bytes_per_retry"]
    assert result["rewrite_same_error_bytes_per_retry"] < result["rewrite_new_error_bytes_per_retry"]
    assert result["rewrite_new_error_bytes_per_retry"] > 2 * 8192  # the blobs were written again
    assert set(result["day_of_2000_messages_gb"]) == {"ours", "rewrite_same_error", "rewrite_new_error"}
