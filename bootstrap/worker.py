"""The codex-relay RQ worker: preflight, the watchdog sweep, the warm Codex, and the work loop."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Any

import redis
from rq import Queue, SimpleWorker, Worker
from rq.exceptions import StopRequested

from relay.errors import ConfigError
from relay.keys import QUEUE_NAME
from relay.reaper import reap_stale_turns
from relay.runtime import RelayRuntime
from relay.settings import Settings, setting_name
from relay.turns import SHUTDOWN_CANCEL, TurnRequest

# Imported here so forked work horses inherit it instead of importing it per job.
from . import turn_job  # noqa: F401
from .codex_binary import CodexInfo, locate_codex, probe_codex
from .sandbox import OFF_WARNING, probe_sandbox
from .warm_app_server import WarmKeeper
from .watchdog import horse_killed

__all__ = [
    "Reaper",
    "RelayWorker",
    "check_runner_policy",
    "make_worker",
    "preflight",
    "run_worker",
]

log = logging.getLogger("codex_relay.worker")


def check_runner_policy(settings: Settings) -> None:
    """Refuse an approval policy the runner cannot honour (``exec`` cannot ask)."""
    if settings.runner == "exec" and settings.approval_policy != "never":
        raise ConfigError(
            setting_name("approval_policy"),
            f"`{settings.approval_policy}` needs the app-server runner: `codex exec` cannot "
            f"ask for approvals. Set {setting_name('runner')}=app-server, or the policy to never",
        )


def preflight(settings: Settings) -> CodexInfo:
    """Check the settings, the Codex binary and the turn sandbox before taking jobs.

    Raises ``ConfigError`` for an approval policy the runner cannot honour
    (``exec`` cannot ask), ``CodexBinaryError`` for a missing or unfit Codex,
    and ``SandboxUnavailable`` saying why no turn could run safely here.
    """
    check_runner_policy(settings)
    info = probe_codex(locate_codex(settings.codex_bin), app_server=settings.runner == "app-server")
    if settings.turn_sandbox == "off":
        log.warning(OFF_WARNING)
    else:
        sandbox = probe_sandbox(settings, info.path)
        log.info("turn sandbox: bubblewrap at %s (%s)", sandbox.bwrap, sandbox.origin)
    return info


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


class RelayWorker(Worker):
    """RQ's forking worker with a bounded warm shutdown.

    On SIGTERM RQ stops taking jobs and waits for the running one. A turn
    may run for many minutes, so after ``shutdown_grace`` seconds the
    running turn is asked to stop (the job then ends it with
    ``cancelled`` and an error saying the worker shut down).
    """

    shutdown_grace: float = 30.0
    relay_runtime: RelayRuntime | None = None
    #: Keeps one initialised app-server ready for the next job (runner ``app-server``).
    warm: WarmKeeper | None = None

    _warming = False
    _stop_while_warming = False

    def dequeue_job_and_maintain_ttl(self, timeout: Any, max_idle_time: Any = None) -> Any:
        # Warm the next turn's Codex while idle, before a job can arrive.
        if self.warm is not None:
            self._warming = True
            try:
                self.warm.ensure_ready()
            finally:
                self._warming = False
            if self._stop_while_warming:
                raise StopRequested()  # held back until the warm Codex was safely in place
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)

    def fork_work_horse(self, job: Any, queue: Any) -> None:
        super().fork_work_horse(job, queue)
        # Only the parent returns here: the horse took the warm Codex's pipes.
        if self.warm is not None:
            self.warm.handed_over()

    def execute_job(self, job: Any, queue: Any) -> None:
        try:
            super().execute_job(job, queue)
        finally:
            if self.warm is not None:
                self.warm.discard()  # served (or offered) once: never again

    def request_stop(self, signum: Any, frame: Any) -> None:
        if self._warming:
            # RQ raises StopRequested from this handler wherever the main thread
            # is. While warming that may be inside Popen's at-fork callbacks,
            # where Python prints an exception and drops it (seen with 3.11): the
            # stop would be lost and the worker would go on taking jobs. Note it
            # here; it is raised once the warm start is done.
            with contextlib.suppress(StopRequested):
                super().request_stop(signum, frame)  # type: ignore[no-untyped-call]
            self._stop_while_warming = True
            return
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]
        if self.get_current_job_id():
            timer = threading.Timer(self.shutdown_grace, self._cancel_running_turn)
            timer.daemon = True
            timer.start()

    def _cancel_running_turn(self) -> None:
        job = self.get_current_job()
        if job is None or self.relay_runtime is None:
            return
        try:
            request = TurnRequest.from_dict(job.args[0])
        except (IndexError, TypeError):
            return
        rt = self.relay_runtime
        rt.redis.set(rt.keys.cancel(request.session, request.turn), SHUTDOWN_CANCEL, ex=3600)
        log.warning("shutdown grace over: stopping turn %s/%s", request.session, request.turn)


def make_worker(
    runtime: RelayRuntime, queues: list[str] | None = None, simple: bool = False
) -> Any:
    """An RQ worker on the relay's queues (``SimpleWorker``: no fork, for tests/debugging)."""
    names = queues or [QUEUE_NAME]
    queue_objs = [Queue(name, connection=runtime.redis) for name in names]
    if simple:
        return SimpleWorker(queue_objs, connection=runtime.redis)
    worker = RelayWorker(
        queue_objs, connection=runtime.redis, work_horse_killed_handler=horse_killed
    )
    worker.relay_runtime = runtime
    worker.shutdown_grace = runtime.settings.shutdown_grace
    worker.warm = WarmKeeper(runtime.settings)
    cold = worker.warm.cold_reason()
    if cold and runtime.settings.runner == "app-server" and runtime.settings.warm_start:
        log.warning("turns start Codex cold: %s", cold)
    return worker


def run_worker(
    settings: Settings,
    queues: list[str] | None = None,
    burst: bool = False,
    simple: bool = False,
) -> bool:
    """Preflight, then work until stopped (or until the queue is empty with ``burst``)."""
    info = preflight(settings)
    log.info("Codex CLI %s at %s (runner %s)", info.version, info.path, settings.runner)
    mcp_server = start_local_mcp_server(settings)
    if mcp_server is not None:
        settings = settings.replace(mcp_url=mcp_server.url)
    runtime = RelayRuntime.from_settings(settings)
    reaper = Reaper(runtime)
    reaper.start()
    worker: Any = None
    try:
        worker = make_worker(runtime, queues, simple)
        # None: RQ keeps the level configure_logging set (WARNING would hide job lines).
        return bool(worker.work(burst=burst, logging_level=None))
    finally:
        warm = getattr(worker, "warm", None)
        if warm is not None:
            warm.discard()
        reaper.stopped.set()
        if mcp_server is not None:
            mcp_server.stop()


def start_local_mcp_server(settings: Settings) -> Any:
    """Start this worker's streamable-HTTP MCP server if one is needed and not configured.

    Its URL is put in ``CODEX_RELAY_MCP_URL`` so the jobs (which read their
    settings from the environment) register it with Codex.
    """
    if settings.mcp_transport != "http" or settings.mcp_url:
        return None
    from mcp_tools.http_server import start_http_subprocess

    server = start_http_subprocess("127.0.0.1", 0)
    os.environ[setting_name("mcp_url")] = server.url
    log.info("MCP tools server at %s", server.url)
    return server
