"""focalpoint: secure messaging between child-protection focal points.

The node lives here: envelope sealing (``envelope``), signing (``signing``), the
store and outbox (``sqlite_store``, ``delivery``), the transport (``transport``)
and the command line (``cli``). Generated wire types are in ``focalpoint.v1``.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
