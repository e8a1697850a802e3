"""Gunicorn settings for a host app with codex-relay.

Use with ``gunicorn -c python:blueprints.gunicorn_conf`` (``codex-relay web``
does). The worker class comes from ``CODEX_RELAY_WEB_WORKER_CLASS``:

- ``gevent`` (default): each connection is a greenlet. An open event stream
  waits in the process's event fan-out (:mod:`relay.event_fanout`), so it
  costs a few tens of KiB and no thread or Redis connection; one process
  holds ``CODEX_RELAY_WEB_CONNECTIONS`` connections, streams included, and
  chat, cancel, health and the host's own pages are served beside them.
  The host app runs monkey-patched: its blocking calls must be cooperative
  (pure-Python drivers are; C drivers such as psycopg2 need their gevent
  hook).
- ``gthread``: for host apps that cannot run under gevent. Each open stream
  holds one of ``CODEX_RELAY_WEB_THREADS`` threads (but no Redis connection).

On SIGTERM the relay's streams end at once (the panel reconnects, to another
process if this one is going away, and resumes from its last event id), so a
graceful shutdown does not wait for idle streams. The soft limit on open
files is raised (up to the hard limit) to fit the connections.
"""

from __future__ import annotations

import resource
import signal
from typing import Any

from relay.settings import load_settings

__all__ = ["GC_THRESHOLDS", "post_worker_init"]

_settings = load_settings()
worker_class = _settings.web_worker_class
workers = _settings.web_workers
worker_connections = _settings.web_connections
threads = _settings.web_threads
# gevent: the worker notifies the arbiter every second from its own loop, so a
# worker stuck for a minute is restarted. gthread: streams are long by design.
timeout = 60 if worker_class == "gevent" else 0
graceful_timeout = 20
keepalive = 5
# Headroom over the client connections: the listening socket, Redis, logs, Codex probe.
_FILES_WANTED = (worker_connections if worker_class == "gevent" else threads) + 256


def _raise_open_files(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if ceiling > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))


_raise_open_files(_FILES_WANTED)


#: Garbage-collector thresholds of a gevent web worker (CPython's: 700, 10, 10).
GC_THRESHOLDS = (50_000, 50, 100)


def post_worker_init(worker: Any) -> None:
    """Chain the stream shutdown onto the worker's SIGTERM handling; tune the collector.

    A process holding 10,000 streams has millions of long-lived objects, and a
    full collection walks them all while every stream waits: measured here,
    pauses of 0.2 to 1.4 s, a few a minute with CPython's default thresholds.
    ``gc.freeze()`` takes the loaded app's objects out of every later
    collection, and :data:`GC_THRESHOLDS` make collections rare (most garbage
    is freed by reference counting anyway; the collector only finds cycles).
    """
    import gc

    from blueprints.sse import request_shutdown

    if worker_class == "gevent":
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)

    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        request_shutdown()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)
