"""The ``focalpoint`` command line: options and printing only; the work is done below.

- ``main``: the command group and ``main()`` (one-line errors, exit codes);
- ``node``, ``message``, ``directory``, ``audit``, ``bench``: one module per command group;
- ``_local``: what they share (the local API client of a running node, ids, errors).

The top floor: it may import every package, and nothing imports it. Commands that act on a
running node go through ``focalpoint.client``; administrators' and auditors' logic lives in
``focalpoint.admin`` and ``focalpoint.audit``.
"""

from focalpoint.cli.main import cli, main

__all__ = ["cli", "main"]
