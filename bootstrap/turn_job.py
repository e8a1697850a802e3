"""The RQ job: run one turn of Codex and stream it into the session's event log.

:func:`run_turn` is what the ``codex-relay`` queue runs. It picks the runner
(``CODEX_RELAY_RUNNER``: ``exec`` or ``app-server``), restores the Codex
thread (if any) into the runner's private ``CODEX_HOME``, lets the runner
run Codex (prepare the launch, then run: one call each), and always ends
the turn with exactly one ``turn.completed`` — whether Codex finished,
failed, hung, was cancelled, or the relay itself hit an error. Heartbeats,
cancel requests and approval answers reach the runner through
:class:`TurnRunner`'s :class:`~bootstrap.turn_context.TurnContext` methods.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

import orjson
import redis
from rq import get_current_job

from relay import events as ev
from relay.approvals import ApprovalBook
from relay.errors import CodexBinaryError, ConfigError, RelayError
from relay.fair_use import FairUse
from relay.keys import chat_channel
from relay.metrics import Metrics
from relay.normalise import Normalised
from relay.runtime import RelayRuntime
from relay.session_store import SessionRecord
from relay.settings import Settings, load_settings, setting_name
from relay.turns import SHUTDOWN_CANCEL, TurnRequest, finish_turn

from .app_server_runner import AppServerRunner
from .codex_binary import locate_codex, probe_codex
from .codex_home import CodexHome
from .exec_runner import ExecRunner
from .progress import JobProgress
from .thread_archive import restore_thread, save_thread
from .turn_context import Runner, RunResult

__all__ = ["TurnRunner", "make_runner", "run_turn"]

log = logging.getLogger("codex_relay.turn")

_REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)
_CANCEL_POLL = 0.2


def run_turn(request: dict[str, Any]) -> dict[str, Any]:
    """RQ entry point: run the turn described by ``request`` (a :class:`TurnRequest` dict)."""
    settings = load_settings()
    runtime = RelayRuntime.from_settings(settings)
    return TurnRunner(runtime, TurnRequest.from_dict(request)).run()


def make_runner(settings: Settings, request: TurnRequest) -> Runner:
    """The runner ``CODEX_RELAY_RUNNER`` names; refuses a policy the runner cannot honour."""
    if settings.runner == "app-server":
        return AppServerRunner(settings, request.session)
    if request.approval_policy != "never":
        raise ConfigError(
            setting_name("runner"),
            f"this worker runs `codex exec`, which cannot ask for approvals, but the turn's "
            f"approval policy is `{request.approval_policy}`; run the workers with "
            "CODEX_RELAY_RUNNER=app-server",
        )
    return ExecRunner(settings, request.session)


class TurnRunner:
    """Runs one turn; see the module docstring."""

    def __init__(self, runtime: RelayRuntime, request: TurnRequest) -> None:
        self.rt = runtime
        self.settings: Settings = runtime.settings
        self.req = request
        self.started = time.monotonic()
        self.started_wall = time.time()
        self._next_heartbeat = 0.0
        self._next_cancel_check = 0.0
        self._cancelled = False
        self._shutdown = False
        self._approval_notices: set[str] = set()
        self._first_output: float | None = None
        self._tool_calls: list[tuple[str, str, str]] = []
        self.progress = JobProgress(get_current_job())
        self._pubsub: Any = None

    # -- the turn ---------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Run the turn to its end; return a summary (the RQ job result)."""
        record = self.rt.sessions.get(self.req.session)
        if record is None or record.running_turn != self.req.turn:
            log.info("turn %s/%s is no longer current; skipped", self.req.session, self.req.turn)
            return {"status": "skipped"}
        ids = {"session": self.req.session, "turn": self.req.turn}
        log.info("turn started", extra=ids | {"runid": self.req.runid, "user": self.req.user})
        status, error = "failed", None
        home: CodexHome | None = None
        try:
            runner = make_runner(self.settings, self.req)
            home = runner.home()
            status, error = self._run_codex(record, runner, home)
        except CodexBinaryError as exc:
            error = (exc.message, exc.code)
        except _REDIS_ERRORS as exc:
            log.warning("turn %s/%s: Redis failed: %s", self.req.session, self.req.turn, exc)
            error = ("The relay lost its connection to Redis during the turn.", "unavailable")
        except RelayError as exc:
            error = (exc.message, exc.code)
        except Exception:
            log.exception("turn %s/%s crashed", self.req.session, self.req.turn)
            error = ("The relay hit an internal error while running the turn.", "internal_error")
        finally:
            if self._pubsub is not None:
                self._close_pubsub()
        duration_ms = round((time.monotonic() - self.started) * 1000)
        try:
            self._retry(
                lambda: finish_turn(self.rt, record, self.req.turn, status, duration_ms, error)
            )
            # Bookkeeping the user does not wait for comes after the final event.
            self._retry(lambda: self.progress.save(force=True, phase="finished", status=status))
            self._record_metrics(status, duration_ms / 1000)
        finally:
            if home is not None:
                home.remove()
        log.info(
            "turn ended",
            extra=ids
            | {
                "status": status,
                "duration_ms": duration_ms,
                "error_code": error[1] if error else None,
                "first_output_ms": round(self._first_output * 1000) if self._first_output else None,
            },
        )
        return {"status": status, "duration_ms": duration_ms}

    # -- what runners see (TurnContext) -----------------------------------

    @property
    def approvals(self) -> ApprovalBook:
        """The relay's approvals (the app-server runner opens and reads them)."""
        return self.rt.approvals

    @property
    def shutdown(self) -> bool:
        """Whether the cancel came from the worker shutting down."""
        return self._shutdown

    def approval_notices(self) -> set[str]:
        """Approval ids answered on ``agent_chat-<session>`` since the last call."""
        notices, self._approval_notices = self._approval_notices, set()
        return notices

    def mark_running(self, codex_pgid: int) -> None:
        """Record the running Codex (one write); done after the spawn, off Codex's path."""
        self.rt.sessions.update(
            self.req.session,
            status="running",
            heartbeat=time.time(),
            worker=f"{socket.gethostname()}:{os.getpid()}",
            codex_pgid=codex_pgid,
        )
        if self._pubsub is None:
            self._pubsub = self.rt.redis.pubsub(ignore_subscribe_messages=True)
            self._pubsub.subscribe(chat_channel(self.req.session))

    def _run_codex(
        self, record: SessionRecord, runner: Runner, home: CodexHome
    ) -> tuple[str, tuple[str, str] | None]:
        # As the worker's preflight probed it: the cached answer, no new process.
        app_server = self.settings.runner == "app-server"
        codex = probe_codex(locate_codex(self.settings.codex_bin), app_server=app_server)
        thread_id, thread_total = record.thread_id or None, dict(record.usage)
        if thread_id and not restore_thread(
            self.rt.redis,
            self.rt.keys.codex_state(record.id),
            home.sessions_dir,
            thread_id,
            self.settings.max_thread_archive_bytes,
        ):
            self.publish(
                [
                    (
                        ev.ERROR,
                        ev.error_payload(
                            "The earlier conversation could not be restored; starting a new one.",
                            "resume_failed",
                        ),
                    )
                ]
            )
            thread_id, thread_total = None, {}
        result = runner.run(self, codex.path, thread_id, thread_total)
        self._first_output = result.first_output
        self._save_state(home, result)
        return result.status, result.error

    def _record_metrics(self, status: str, duration: float) -> None:
        metrics = Metrics(self.rt.redis, self.rt.keys.metrics())
        queue_wait = self.started_wall - self.req.enqueued_at if self.req.enqueued_at else None
        try:
            metrics.record_turn(status, duration, self._first_output, queue_wait)
            metrics.record_tool_calls(self._tool_calls)
        except _REDIS_ERRORS:
            log.warning("turn %s/%s: metrics not recorded (Redis)", self.req.session, self.req.turn)

    def _save_state(self, home: CodexHome, result: RunResult) -> None:
        fields: dict[str, Any] = {"usage": result.usage_total}
        if result.thread_id:
            fields["thread_id"] = result.thread_id
            limit = self.settings.max_thread_archive_bytes
            saved = save_thread(
                self.rt.redis,
                self.rt.keys.codex_state(self.req.session),
                home.sessions_dir,
                result.thread_id,
                self.settings.session_ttl,
                limit,
            )
            if saved != "saved":
                fields["thread_id"] = ""
            if saved == "too_large":
                message = (
                    f"This conversation is larger than {limit // (1024 * 1024) or 1} MiB, the "
                    "most the relay keeps; your next message starts a new conversation."
                )
                self.publish([(ev.ERROR, ev.error_payload(message, "thread_too_large"))])
        self._retry(lambda: self.rt.sessions.update(self.req.session, **fields))

    # -- streaming --------------------------------------------------------

    def publish(self, batch: list[Normalised]) -> None:
        """Store and publish events of this turn (one Redis round trip per batch)."""
        if not batch:
            return
        now = time.time()
        bodies = [
            ev.event_body(self.req.session, self.req.turn, kind, payload, now)
            for kind, payload in batch
        ]
        self._retry(lambda: self.rt.events.append(self.req.session, self.req.turn, bodies))
        self.progress.observe(batch)
        for kind, payload in batch:
            if kind == ev.USAGE:
                spent = int(payload.get("input_tokens", 0)) + int(payload.get("output_tokens", 0))
                self._retry(lambda n=spent: FairUse(self.rt).add_tokens(self.req.user, n))
            if kind == ev.TOOL_COMPLETED:
                tool = payload["tool"]
                name = tool.get("name") or tool["kind"]
                self._tool_calls.append((tool["kind"], name, tool.get("status") or "completed"))

    def tick(self) -> bool:
        """Heartbeat and cancel check, called between reads; ``True`` once a cancel came."""
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self.settings.heartbeat_interval
            self._retry(
                lambda: self.rt.sessions.update(
                    self.req.session,
                    heartbeat=time.time(),
                    last_event=self.progress.state["last_event"] or 0.0,
                )
            )
        self._retry(self.progress.save)
        if now >= self._next_cancel_check and not self._cancelled:
            self._next_cancel_check = now + _CANCEL_POLL
            self._cancelled = self._retry(self._cancel_requested)
        return self._cancelled

    def _cancel_requested(self) -> bool:
        if self._pubsub is not None:
            message = self._pubsub.get_message(timeout=0)
            while message is not None:
                if self._is_cancel(message.get("data")):
                    return True
                self._note_approval(message.get("data"))
                message = self._pubsub.get_message(timeout=0)
        flag = self.rt.redis.get(self.rt.keys.cancel(self.req.session, self.req.turn))
        self._shutdown = flag == SHUTDOWN_CANCEL.encode()
        return flag is not None

    def _is_cancel(self, data: Any) -> bool:
        """Whether a control message on ``agent_chat-<session>`` cancels this turn.

        Host bridges may send ``{"type": "cancel"}`` (this turn, whatever it is)
        or ``{"type": "cancel", "turn": N}``; user messages on the channel are not
        control messages.
        """
        try:
            control = orjson.loads(data)
        except (orjson.JSONDecodeError, TypeError):
            return False
        if not isinstance(control, dict) or control.get("type") != "cancel":
            return False
        return control.get("turn") in (None, self.req.turn)

    def _note_approval(self, data: Any) -> None:
        """``{"type": "approval", "approval_id"}`` (sent by the route): an answer to look up."""
        try:
            notice = orjson.loads(data)
        except (orjson.JSONDecodeError, TypeError):
            return
        if isinstance(notice, dict) and notice.get("type") == "approval":
            if notice.get("turn") in (None, self.req.turn) and isinstance(
                notice.get("approval_id"), str
            ):
                self._approval_notices.add(notice["approval_id"])

    def _close_pubsub(self) -> None:
        try:
            self._pubsub.close()
        except _REDIS_ERRORS:
            pass

    def _retry(self, action: Any) -> Any:
        """Run a Redis action, retrying through an outage of up to ``redis_retry_window`` s."""
        deadline = time.monotonic() + self.settings.redis_retry_window
        delay = 0.05
        while True:
            try:
                return action()
            except _REDIS_ERRORS:
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
