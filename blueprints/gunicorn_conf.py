"""Gunicorn settings for a host app with codex-relay.

Use with ``gunicorn -c python:blueprints.gunicorn_conf``.

Threaded workers (``gthread``): each open SSE stream holds one thread, so
``threads`` bounds the streams a worker process serves. On SIGTERM the
relay's SSE streams end at once (the panel reconnects, to another process
if this one is going away, and resumes from its last event id), so a
graceful shutdown does not wait for idle streams.
"""

from __future__ import annotations

import signal
from typing import Any

from relay.settings import load_settings

worker_class = "gthread"
_settings = load_settings()
threads = _settings.web_threads
workers = _settings.web_workers
timeout = 0  # SSE responses are long by design; gthread still reaps dead workers
graceful_timeout = 20
keepalive = 5


def post_worker_init(worker: Any) -> None:
    """Chain the SSE shutdown flag onto the worker's SIGTERM handling."""
    from blueprints.sse import request_shutdown

    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        request_shutdown()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)
