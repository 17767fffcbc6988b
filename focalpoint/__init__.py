"""focalpoint: secure messaging between the child-protection focal points of different States.

The packages, top to bottom; each imports only those below it (``lint-imports`` checks it):

    cli/                  the ``focalpoint`` command line
    bench/                benchmarks (our path and its baseline, as ratios)
    localnet/             a whole network on one machine: demo, benchmarks, tests
    client.py             the one client of a node's local API
    server/               the composition root (Node), the peer door and the local API
    node/  admin/         the node's asynchronous parts; the directory administrators' tools
    storage/              what the node keeps (SQLite, and an in-memory twin for tests)
    audit/  net/          the audit log's rules (pure); gRPC, mutual TLS and the status map
    exchange/             envelopes, bodies, receipts, agreements, pings (pure)
    directory (top level) the signed directory (pure)
    crypto/               signatures, the suite, TLS pins, Merkle trees (pure)
    errors, ids, log, v1  the foundation (v1: generated wire types)

The pure packages (crypto, exchange, audit, directory) do no I/O and read no clock: all trust
decisions are made there. See docs/architecture.md.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
