"""``focalpoint console run``: serve the web console, a client of one node's local API
(docs/operations.md §15)."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["console"]


@click.group()
@click.version_option(package_name="focalpoint", prog_name="focalpoint")
def console() -> None:
    """The web console where officials work in a browser."""


@console.command("run")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The console's configuration file (see config/console.example.yaml).",
)
def console_run(config_path: Path) -> None:
    """Serve the console on the configured address until stopped (Ctrl-C or SIGTERM)."""
    # Imported here: other commands start without the web stack.
    import structlog
    import uvicorn

    from focalpoint.console.app import create_app
    from focalpoint.console.config import load_console_config
    from focalpoint.log import configure_logging

    config = load_console_config(config_path)
    configure_logging(fmt=config.log_format, level=config.log_level)
    app = create_app(config)
    scheme = "https" if config.tls else "http"
    structlog.get_logger("focalpoint.console").info(
        "console_started", url=f"{scheme}://{config.host}:{config.port}", languages=list(config.languages)
    )
    uvicorn.run(
        app,
        host=config.host.strip("[]"),
        port=config.port,
        ssl_certfile=str(config.tls_certificate) if config.tls_certificate else None,
        ssl_keyfile=str(config.tls_private_key) if config.tls_private_key else None,
        # Our own log line per request names the route, never the path or its query (which may
        # name a case later); uvicorn's access log would print both.
        access_log=False,
        log_config=None,
        server_header=False,
        # One process: the form tokens' key lives in it. Behind a reverse proxy on this machine,
        # X-Forwarded-Proto and -For from 127.0.0.1 are believed (uvicorn's default).
        workers=1,
        proxy_headers=True,
    )
