"""The flood benchmark's abusive peer, in its own process: a node of the directory that sends a
receiver envelopes it must decrypt and verify before it can refuse them.

    python -m focalpoint.bench.flooder CONFIG RECIPIENT STREAMS BATCH

Opens the node of CONFIG (its keys, directory and database; no server), seals a pool of
envelopes to RECIPIENT whose signature names the node's real signing key but was made by
another key (so the receiver pays for HPKE decapsulation, decryption and Ed25519
verification, then refuses them with BAD_SIGNATURE), prints ``ready``, and sends them over
mutual TLS in batches of BATCH on STREAMS concurrent streams, each waiting for its answer
before the next batch (as a sender's delivery loop does), until stdin closes. It then prints
the number of envelopes answered and of failed calls.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from focalpoint.crypto.signing import Ed25519Signer
from focalpoint.errors import FocalpointError
from focalpoint.exchange.envelope import seal
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.log import configure_logging
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.v1 import envelope_pb2

__all__ = ["POOL", "forged_envelopes", "main"]

POOL = 512  # distinct envelopes, sent again and again (refused ones are not remembered)


class _ForgedSigner(Ed25519Signer):
    """Signs with a fresh key but names ``real``'s key id: the signature cannot verify."""

    def __init__(self, real: Ed25519Signer) -> None:
        super().__init__(Ed25519Signer.generate().seed())
        self.key_id = real.key_id


def forged_envelopes(node: Node, recipient: str, count: int) -> list[envelope_pb2.Envelope]:
    """``count`` envelopes from ``node`` to ``recipient`` that pass steps 1–10 and fail step 11."""
    directory = node.cache.current
    info = directory.node(recipient)
    now = wall_clock_ms()
    key = info.active_encryption_key(now) if info is not None else None
    if key is None:
        raise FocalpointError(f"{recipient} has no encryption key in the directory")
    signer = _ForgedSigner(node.keyring.signer)
    return [
        seal(
            signer=signer,
            sender_node=node.node_id,
            recipient_node=recipient,
            recipient_key=key,
            body=social_inquiry_request(case_ref_for(1_000_000 + i), identified_at_ms=now),
            message_id=os.urandom(16),
            created_at_ms=now,
            expires_at_ms=now + 3_600_000,
            directory_version=directory.version,
            sequence=i + 1,
        ).envelope
        for i in range(count)
    ]


async def flood(config: Path, recipient: str, streams: int, batch: int) -> tuple[int, int]:
    node = await Node.open(load_config(config))
    answered = failed = 0
    try:
        pool = forged_envelopes(node, recipient, POOL)
        batches = [pool[i : i + batch] for i in range(0, len(pool), batch)]

        async def stream(first: int) -> None:
            nonlocal answered, failed
            n = first
            while True:
                try:
                    results = await node.transport.deliver_batch(recipient, batches[n % len(batches)])
                    answered += len(results)  # after the await: the streams share the count
                except FocalpointError:
                    failed += 1
                    await asyncio.sleep(0.05)
                n += 1

        print("ready", flush=True)
        tasks = [asyncio.create_task(stream(i)) for i in range(streams)]
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await node.stop(0)
    return answered, failed


def main() -> None:
    configure_logging(level="error")
    config, recipient, streams, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    answered, failed = asyncio.run(flood(Path(config), recipient, streams, batch))
    print(answered, failed, flush=True)


if __name__ == "__main__":
    main()
