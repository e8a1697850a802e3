"""The one place the web server's command line is built.

``codex-relay web APP``, the demo, the tests and the benchmarks all start
the host app through :func:`web_server_argv`, so each runs the web server
exactly as a deployment does (gunicorn with :mod:`blueprints.gunicorn_conf`,
which reads the worker and thread counts from the settings).
"""

from __future__ import annotations

import sys

__all__ = ["GUNICORN_CONFIG", "web_server_argv"]

#: Gunicorn's ``-c`` argument: the relay's server settings module.
GUNICORN_CONFIG = "python:blueprints.gunicorn_conf"


def web_server_argv(app: str, bind: str, *, log_level: str = "info") -> list[str]:
    """Gunicorn serving ``app`` (``module:create_app()``) on ``bind`` (``host:port``)."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        GUNICORN_CONFIG,
        "--bind",
        bind,
        "--log-level",
        log_level,
        app,
    ]
