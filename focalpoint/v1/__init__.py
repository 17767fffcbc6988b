"""Generated protobuf and gRPC code for the focalpoint.v1 wire format (see proto/).

Do not edit: regenerate with ``python scripts/gen_proto.py``.
"""
