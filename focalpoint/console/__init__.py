"""The web console: where officials do their work in a browser, in their own language.

A client of the node's local API like the CLI (``focalpoint.client``), never of the node's
internals (an import-linter contract says so); run as its own process with
``focalpoint console run --config FILE`` (docs/operations.md §15).

- ``config``: the console's YAML configuration, validated whole;
- ``app``: the routes, the session cookie, CSRF, headers and error pages (``create_app``);
- ``security``: the cookie names, form tokens, the cross-site check and the headers (pure);
- ``i18n``: the catalogs, the choice of language, locale formatting;
- ``views``: what the pages show, made from what the local API answered (pure);
- ``case_view``: the case page's view-model (pure);
- ``consul``: a consular officer's list of their nationals' cases (pure).
"""

__all__: list[str] = []
