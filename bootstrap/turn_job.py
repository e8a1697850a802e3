"""The RQ job: run one turn of Codex and stream it into the session's event log.

:func:`run_turn` is what the ``codex-relay`` queue runs. It restores the
Codex thread (if any) into a fresh private ``CODEX_HOME``, spawns
``codex exec --json``, turns each stdout line into relay events as it
arrives, and always ends the turn with exactly one ``turn.completed`` —
whether Codex finished, failed, hung, was cancelled, or the relay itself
hit an error.
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
from relay.errors import CodexBinaryError, RelayError
from relay.fair_use import FairUse
from relay.jsonl import JsonLinesDecoder
from relay.keys import chat_channel
from relay.metrics import Metrics
from relay.normalise import CodexNormaliser, Normalised
from relay.runtime import RelayRuntime
from relay.session_store import SessionRecord
from relay.settings import Settings, load_settings
from relay.turns import SHUTDOWN_CANCEL, TurnRequest, finish_turn

from .codex_binary import locate_codex, probe_codex
from .codex_home import CodexHome
from .codex_process import CodexProcess, ProcessOutcome
from .progress import JobProgress
from .sandbox import turn_launch
from .thread_archive import restore_thread, save_thread

__all__ = ["TurnRunner", "run_turn"]

log = logging.getLogger("codex_relay.turn")

_REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)
_CANCEL_POLL = 0.2


def run_turn(request: dict[str, Any]) -> dict[str, Any]:
    """RQ entry point: run the turn described by ``request`` (a :class:`TurnRequest` dict)."""
    settings = load_settings()
    runtime = RelayRuntime.from_settings(settings)
    return TurnRunner(runtime, TurnRequest.from_dict(request)).run()


class TurnRunner:
    """Runs one turn; see the module docstring."""

    def __init__(self, runtime: RelayRuntime, request: TurnRequest) -> None:
        self.rt = runtime
        self.settings: Settings = runtime.settings
        self.req = request
        self.normaliser = CodexNormaliser(max_chars=self.settings.max_field_chars)
        self.decoder = JsonLinesDecoder(self.settings.max_line_bytes)
        self.started = time.monotonic()
        self.started_wall = time.time()
        self._next_heartbeat = 0.0
        self._next_cancel_check = 0.0
        self._cancelled = False
        self._seen_output = False
        self._shutdown = False
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
        self.normaliser.thread_total = dict(record.usage)
        ids = {"session": self.req.session, "turn": self.req.turn}
        log.info("turn started", extra=ids | {"runid": self.req.runid, "user": self.req.user})
        status, error = "failed", None
        home: CodexHome | None = None
        try:
            home = CodexHome(self.settings, self.req.session)
            status, error = self._run_codex(record, home)
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

    def _mark_running(self, codex_pgid: int) -> None:
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
        self, record: SessionRecord, home: CodexHome
    ) -> tuple[str, tuple[str, str] | None]:
        codex = probe_codex(locate_codex(self.settings.codex_bin))
        thread_id = record.thread_id or None
        if thread_id and not restore_thread(
            self.rt.redis,
            self.rt.keys.codex_state(record.id),
            home.sessions_dir,
            thread_id,
            self.settings.max_thread_archive_bytes,
        ):
            self._start_new_thread("The earlier conversation could not be restored")
            thread_id = None
        outcome = self._spawn(codex.path, home, thread_id)
        if (
            thread_id
            and outcome.reason == "exited"
            and outcome.returncode
            and not self._seen_output
        ):
            # Codex 0.169.0 exits 1 with no stdout when the rollout is unusable.
            self._start_new_thread("The earlier conversation could not be resumed")
            outcome = self._spawn(codex.path, home, None)
        self._publish([n for obj in self.decoder.close() for n in self.normaliser.feed(obj)])
        self._save_state(home)
        return self._verdict(outcome)

    def _start_new_thread(self, reason: str) -> None:
        """Tell the user the thread is lost; the new thread's usage starts from zero."""
        self.normaliser.thread_total = {}
        self._publish(
            [
                (
                    ev.ERROR,
                    ev.error_payload(
                        f"{reason}; starting a new one.",
                        "resume_failed",
                    ),
                )
            ]
        )

    def _spawn(self, codex_path: str, home: CodexHome, thread_id: str | None) -> ProcessOutcome:
        launch = turn_launch(self.settings, home, self.req, codex_path, thread_id)
        process = CodexProcess(
            launch.argv, launch.env, launch.cwd, launch.stdin, self.settings.kill_grace
        )
        process.start()
        self._mark_running(process.pid)
        outcome = process.run(
            self._on_stdout, self._tick, self.settings.turn_timeout, self.settings.idle_timeout
        )
        if self._first_output is None:
            self._first_output = outcome.first_output
        return outcome

    def _verdict(self, outcome: ProcessOutcome) -> tuple[str, tuple[str, str] | None]:
        if outcome.reason == "cancelled":
            if self._shutdown:
                return "cancelled", (
                    "The worker running this turn was shut down. You can retry.",
                    "worker_shutdown",
                )
            return "cancelled", None
        if outcome.reason == "timeout":
            limit = self.settings.turn_timeout
            return "timeout", (f"The turn took longer than {limit:g} s and was stopped.", "timeout")
        if outcome.reason == "idle_timeout":
            limit = self.settings.idle_timeout
            return "timeout", (
                f"Codex produced no output for {limit:g} s and was stopped.",
                "idle_timeout",
            )
        if outcome.returncode == 0 and self.normaliser.completed:
            return "completed", None
        if self.normaliser.failure is not None:
            return "failed", None  # the model error was already shown as an event
        detail = _last_line(outcome.stderr_tail)
        if detail.startswith("bwrap:") and not self._seen_output:
            return "failed", (
                f"The turn's sandbox could not be set up, so Codex did not run: {detail[:300]}",
                "sandbox_unavailable",
            )
        if "required MCP servers failed to initialize" in detail:
            # Codex 0.169.0 refuses to run without a `required` MCP server.
            return "failed", (
                "The run's tools (the codex_relay MCP server) could not start, so the turn "
                f"did not run. Codex said: {detail[:300]}",
                "tools_unavailable",
            )
        message = f"Codex exited with status {outcome.returncode}"
        return "failed", (f"{message}: {detail}" if detail else message + ".", "codex_failed")

    def _record_metrics(self, status: str, duration: float) -> None:
        metrics = Metrics(self.rt.redis, self.rt.keys.metrics())
        queue_wait = self.started_wall - self.req.enqueued_at if self.req.enqueued_at else None
        try:
            metrics.record_turn(status, duration, self._first_output, queue_wait)
            metrics.record_tool_calls(self._tool_calls)
        except _REDIS_ERRORS:
            log.warning("turn %s/%s: metrics not recorded (Redis)", self.req.session, self.req.turn)

    def _save_state(self, home: CodexHome) -> None:
        fields: dict[str, Any] = {"usage": self.normaliser.thread_total}
        thread_id = self.normaliser.thread_id
        if thread_id:
            fields["thread_id"] = thread_id
            limit = self.settings.max_thread_archive_bytes
            saved = save_thread(
                self.rt.redis,
                self.rt.keys.codex_state(self.req.session),
                home.sessions_dir,
                thread_id,
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
                self._publish([(ev.ERROR, ev.error_payload(message, "thread_too_large"))])
        self._retry(lambda: self.rt.sessions.update(self.req.session, **fields))

    # -- streaming --------------------------------------------------------

    def _on_stdout(self, chunk: bytes) -> None:
        self._seen_output = True
        batch: list[Normalised] = []
        for obj in self.decoder.feed(chunk):
            batch.extend(self.normaliser.feed(obj))
        self._publish(batch)

    def _publish(self, batch: list[Normalised]) -> None:
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

    def _tick(self) -> bool:
        """Heartbeat and cancel check, called between reads; ``True`` cancels."""
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


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""
