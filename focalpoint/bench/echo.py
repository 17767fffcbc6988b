"""The benchmark's baseline server: raw grpc.aio unary echo over mutual TLS, in its own process.

    python -m focalpoint.bench.echo KEY_PEM CERT_PEM CLIENT_CERT_PEM

Prints its port on stdout, then serves until stdin closes or it is terminated.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import grpc

__all__ = ["METHOD", "main", "serve"]

METHOD = "/focalpoint.bench.Echo/Echo"


def _echo(request: bytes, context: Any) -> bytes:
    return request


async def serve(key: bytes, cert: bytes, client_cert: bytes) -> None:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 << 20)])
    handler = grpc.method_handlers_generic_handler(
        "focalpoint.bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(_echo)}
    )
    server.add_generic_rpc_handlers((handler,))
    creds = grpc.ssl_server_credentials([(key, cert)], root_certificates=client_cert, require_client_auth=True)
    port = server.add_secure_port("127.0.0.1:0", creds)
    await server.start()
    print(port, flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # parent closes stdin to stop us
    await server.stop(0)


def main() -> None:
    key, cert, client = (Path(p).read_bytes() for p in sys.argv[1:4])
    asyncio.run(serve(key, cert, client))


if __name__ == "__main__":
    main()
