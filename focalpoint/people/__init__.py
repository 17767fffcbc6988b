"""The people who use a node: roles, grants and accounts (``roles``), what each may do and
which view of a case it sees (``permissions``), and the account rules that need no I/O:
timeouts, lockout, second factors (``policy``). Pure: no I/O, time passed in.

The node's account service (``focalpoint.node.accounts``) keeps the accounts; the local API's
one door (``focalpoint.server.door``) asks ``permissions.decide`` before every call.

Imports only the floors below it (``focalpoint.exchange``, ``directory`` and the foundation:
``ids``, ``v1``); ``focalpoint.cases`` imports it for the views a role is served.
"""

__all__: list[str] = []
