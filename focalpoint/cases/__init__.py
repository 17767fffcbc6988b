"""The pure case core: the rules of the case workflow, with no I/O.

No database, network, file or clock: the node's parts (later ``focalpoint.node``) store and send
what these rules decide, and pass the time in. Imports only ``focalpoint.v1``, ``focalpoint.exchange``,
``directory``, ``focalpoint.errors`` and ``focalpoint.ids`` (and Babel's CLDR data, for the names of
countries and languages). Modules are imported by name, so one that needs a heavy dependency costs
nothing to the others:

- ``codes``: the network code list in use: which codes of a message a version does not know (a
  sender refuses them), how a code reads in a language (with fallback, and an unknown newer code
  shown, never dropped), and country and language names from CLDR.
"""

__all__: list[str] = []
