"""Benchmarks: each runs our path and its raw baseline in the same run and prints ratios
(these machines are shared and noisy; only ratios compare across them).

- ``exchange``: raw gRPC echo (``echo``, a separate process) against the full exchange
  between two node processes over mutual TLS;
- ``directory``: verifying and loading a world-sized directory;
- ``audit``: appending to, proving from and verifying a large audit log;
- ``flood``: an honest partner's delivery latency alone and during another peer's flood
  (``flooder``, a separate process).
- ``retries``: the bytes a delivery retry writes, against rewriting the whole message row.
- ``cases``: the case layer at 100,000 links (worklist, timeline, fold, applying a received
  message), each against a raw read or the exchange's own commit; ``casedata`` invents the
  histories it stores.
- ``console``: the web console's worklist and case pages over 100,000 links (a console process
  against a node's local API), each against the local API call it rests on, and the console
  process's memory.

Imports ``focalpoint.localnet`` (real node processes) and everything below it; only the CLI
imports this package.
"""

__all__ = ["audit", "casedata", "cases", "console", "directory", "echo", "exchange", "flood", "flooder", "retries"]
