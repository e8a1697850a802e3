"""The codex-relay RQ worker: preflight, the watchdog sweep, and the work loop."""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from rq import Queue, SimpleWorker, Worker

from relay.keys import QUEUE_NAME
from relay.reaper import reap_stale_turns
from relay.runtime import RelayRuntime
from relay.settings import Settings

from .codex_binary import CodexInfo, locate_codex, probe_codex
from .watchdog import horse_killed

__all__ = ["Reaper", "make_worker", "preflight", "run_worker"]

log = logging.getLogger("codex_relay.worker")


def preflight(settings: Settings) -> CodexInfo:
    """Check the Codex binary before taking jobs; raises ``CodexBinaryError``."""
    return probe_codex(locate_codex(settings.codex_bin))


class Reaper(threading.Thread):
    """Background sweep of stale turns (see :mod:`relay.reaper`) every ``interval`` s."""

    def __init__(self, runtime: RelayRuntime, interval: float = 5.0) -> None:
        super().__init__(name="codex-relay-reaper", daemon=True)
        self.runtime = runtime
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                for session, turn, outcome in reap_stale_turns(self.runtime):
                    log.info("reaper: %s turn %s: %s", session, turn, outcome)
            except (redis.ConnectionError, redis.TimeoutError):
                log.warning("reaper: Redis unavailable; will retry")
            except Exception:  # the sweep must never kill the worker
                log.exception("reaper: sweep failed")


def make_worker(
    runtime: RelayRuntime, queues: list[str] | None = None, simple: bool = False
) -> Any:
    """An RQ worker on the relay's queues (``SimpleWorker``: no fork, for tests/debugging)."""
    names = queues or [QUEUE_NAME]
    queue_objs = [Queue(name, connection=runtime.redis) for name in names]
    cls: Any = SimpleWorker if simple else Worker
    return cls(queue_objs, connection=runtime.redis, work_horse_killed_handler=horse_killed)


def run_worker(
    settings: Settings,
    queues: list[str] | None = None,
    burst: bool = False,
    simple: bool = False,
) -> bool:
    """Preflight, then work until stopped (or until the queue is empty with ``burst``)."""
    info = preflight(settings)
    log.info("Codex CLI %s at %s", info.version, info.path)
    runtime = RelayRuntime.from_settings(settings)
    reaper = Reaper(runtime)
    reaper.start()
    try:
        worker = make_worker(runtime, queues, simple)
        return bool(worker.work(burst=burst, logging_level="WARNING"))
    finally:
        reaper.stopped.set()
