"""Wire types <-> domain values at one boundary (pure): refusals today, case bodies later.

A refusal travels inside a ``DeliveryResult`` (batches) or as a gRPC status with the
``fp-refusal-code`` trailer (``focalpoint.net.status``); both carry the same code, a
reason cut to ``MAX_REASON_CHARS`` and the refusal's gRPC status number.
"""

from __future__ import annotations

from focalpoint.errors import Refusal, RefusalError
from focalpoint.v1 import envelope_pb2

__all__ = ["MAX_REASON_CHARS", "refusal_from_proto", "refusal_to_proto"]

MAX_REASON_CHARS = 512


def refusal_to_proto(err: RefusalError) -> envelope_pb2.Refusal:
    return envelope_pb2.Refusal(
        code=envelope_pb2.RefusalCode.ValueType(err.code.value),
        reason=err.reason[:MAX_REASON_CHARS],
        grpc_status=err.grpc_status,
    )


def refusal_from_proto(pb: envelope_pb2.Refusal) -> RefusalError:
    try:
        code = Refusal(pb.code)
    except ValueError:
        code = Refusal.MALFORMED
    return RefusalError(code, pb.reason)
