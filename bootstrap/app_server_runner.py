"""The ``app-server`` runner: a turn over ``codex app-server``'s JSON-RPC on stdio.

What to say to Codex is :class:`~relay.app_server_turn.AppServerTurn`'s
(pure, tested on recordings); this module moves the bytes and keeps the
turn's promises:

- live text and command output, coalesced (:class:`~relay.deltas.DeltaCoalescer`);
- approvals: each request of Codex becomes an approval; its answer (the
  user's, the deadline's or the cancel's) goes back to Codex, and while the
  turn waits for one, Codex's silence is not idleness;
- stop without a kill: a cancel declines what waits, sends ``turn/interrupt``
  and lets Codex end the turn (``cancelled``); only if it has not within
  ``kill_grace`` seconds is Codex killed, as under ``exec``;
- the end: after ``turn/completed`` stdin is closed and Codex exits by
  itself (flushing its rollout for the next turn); it is killed if it lingers.

The process is a warm one the worker prepared (:mod:`bootstrap.warm_app_server`)
or, without one, started here from :func:`~bootstrap.codex_command.prepare_app_server_launch`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from relay.app_server_normalise import AppServerNormaliser
from relay.app_server_turn import AppServerTurn
from relay.deltas import DeltaCoalescer
from relay.jsonl import BadLine, JsonLinesDecoder
from relay.settings import Settings

from .codex_command import app_server_plan
from .codex_home import CodexHome
from .codex_process import CodexProcess, ProcessOutcome
from .exec_runner import verdict
from .pending_approvals import PendingApprovals
from .sandbox import OFF_WARNING, show_warm_run, turn_app_server_launch
from .sandbox_keeper import KeeperError
from .turn_context import RunResult, TurnContext
from .warm_app_server import WarmSlot, take_slot

__all__ = ["AppServerRunner"]

log = logging.getLogger("codex_relay.app_server")

#: Seconds Codex gets to exit after its stdin is closed at the end of a turn.
_EXIT_GRACE = 5.0


class AppServerRunner:
    """Runs a turn on a warm app-server if the worker has one, else on a new one."""

    def __init__(self, settings: Settings, session: str) -> None:
        self.settings = settings
        self.session = session
        self._slot: WarmSlot | None = None
        self._home: CodexHome | None = None

    def home(self) -> CodexHome:
        """The warm Codex's home, or a fresh one for a Codex started here."""
        if self._home is None:
            self._slot = take_slot(self.settings)
            self._home = self._slot.home if self._slot else CodexHome(self.settings, self.session)
        return self._home

    def run(
        self, ctx: TurnContext, codex_path: str, thread_id: str | None, thread_total: dict[str, int]
    ) -> RunResult:
        """Drive one turn to its end; see the module docstring."""
        home = self.home()
        process, cwd = self._warm(ctx, home) if self._slot is not None else (None, None)
        if process is None:
            launch = turn_app_server_launch(self.settings, home, ctx.req, codex_path)
            process = CodexProcess(
                launch.argv, launch.env, launch.cwd, None, self.settings.kill_grace
            )
            process.start()
        ctx.mark_running(process.pid)
        normaliser = AppServerNormaliser(
            max_chars=self.settings.max_field_chars, thread_total=dict(thread_total)
        )
        plan = app_server_plan(
            self.settings, ctx.req, thread_id, initialised=self._slot is not None, cwd=cwd
        )
        live = _LiveTurn(ctx, self.settings, process, AppServerTurn(plan, normaliser))
        live.begin(self._slot.pending if self._slot else b"")
        outcome = process.run(
            live.on_stdout,
            live.tick,
            self.settings.turn_timeout,
            self.settings.idle_timeout,
            waiting=lambda: live.approvals.waiting,
        )
        live.finish()
        status, error = live.verdict(outcome)
        thread = normaliser.thread_id
        return RunResult(status, error, thread, normaliser.usage_total, outcome.first_output)

    def _warm(self, ctx: TurnContext, home: CodexHome) -> tuple[CodexProcess | None, str | None]:
        """Adopt the warm Codex, its sandbox showing the run; ``(None, None)``: start cold.

        A keeper that cannot show the run is logged and its Codex stopped;
        the turn then starts its own, in the same fresh home.
        """
        slot = self._slot
        assert slot is not None
        proc = slot.process.proc
        assert proc is not None and proc.stdin and proc.stdout and proc.stderr
        process = CodexProcess.adopt(
            slot.process.pid, proc.stdin, proc.stdout, proc.stderr, self.settings.kill_grace
        )
        if slot.keeper is None or slot.workspace is None:
            if self.settings.turn_sandbox == "off":
                log.warning(OFF_WARNING, extra={"session": self.session, "turn": ctx.req.turn})
            return process, None
        try:
            return process, show_warm_run(self.settings, home, ctx.req, slot.workspace, slot.keeper)
        except BaseException as exc:
            process.stop()
            if not isinstance(exc, KeeperError):
                raise  # the run may not be shown (SandboxUnavailable): the turn fails
            log.warning("warm Codex given up, starting one for the turn: %s", exc)
        self._slot = None
        return None, None


class _LiveTurn:
    """The byte-moving side of one turn: stdout in, events and replies out, the clock."""

    def __init__(
        self, ctx: TurnContext, settings: Settings, process: CodexProcess, turn: AppServerTurn
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.process = process
        self.turn = turn
        self.decoder = JsonLinesDecoder(settings.max_line_bytes)
        self.coalescer = DeltaCoalescer()
        self.approvals = PendingApprovals(ctx, turn.normaliser, settings.approval_timeout)
        self.cancelling = False
        self._stop_by = 0.0  # after a cancel: when to stop waiting for Codex to end the turn
        self._exit_by = 0.0  # after the turn ended: when to stop waiting for Codex to exit

    def begin(self, pending: bytes) -> None:
        """Say the first lines; replay what a warm Codex printed before the job took it."""
        self.process.write(self.turn.start())
        if pending:
            self.on_stdout(pending)

    def on_stdout(self, chunk: bytes) -> None:
        """Every line: events to publish, replies to write, approvals to open."""
        for obj in self.decoder.feed(chunk):
            self._step(obj)

    def _step(self, obj: dict[str, Any] | BadLine) -> None:
        step = self.turn.receive(obj)
        self.process.write(step.send)
        self.ctx.publish(self.coalescer.push(step.events))
        for request in step.requests:
            if self.cancelling:
                self.process.write(self.turn.answer(request, "decline"))
            else:
                self.approvals.open(request)
        if step.ended and not self._exit_by:
            self.ctx.publish(self.coalescer.flush())
            self.process.close_stdin()  # Codex flushes its rollout and exits
            self._exit_by = time.monotonic() + _EXIT_GRACE

    def tick(self) -> bool:
        """Between reads: pace deltas, settle approvals, cancel; ``True`` stops Codex now."""
        cancel = self.ctx.tick()
        self.ctx.publish(self.coalescer.due())
        now = time.monotonic()
        if self._exit_by:
            return now > self._exit_by
        if cancel and not self.cancelling:
            self.cancelling = True
            for request, decision in self.approvals.cancel_all():
                self.process.write(self.turn.answer(request, decision))
            interrupt = self.turn.interrupt()
            if not interrupt:
                return True  # no turn to interrupt yet: stop Codex the old way
            self.process.write(interrupt)
            self._stop_by = now + self.settings.kill_grace
        if self.cancelling:
            return now > self._stop_by
        if self.approvals.waiting:
            for request, decision in self.approvals.settled(self.ctx.approval_notices()):
                self.process.write(self.turn.answer(request, decision))
        return False

    def finish(self) -> None:
        """What is still held or buffered, once Codex is gone."""
        for obj in self.decoder.close():
            self._step(obj)
        self.ctx.publish(self.coalescer.flush())

    def verdict(self, outcome: ProcessOutcome) -> tuple[str, tuple[str, str] | None]:
        """The turn's status: what Codex said of it, else how the process ended."""
        if self.turn.failure is not None:
            return "failed", self.turn.failure
        status = self.turn.normaliser.status
        if self.cancelling and status in ("interrupted", None):
            # Interrupted as asked, or killed after the grace period: either way stopped.
            stopped = ProcessOutcome("cancelled", None, outcome.stderr_tail, outcome.first_output)
            return verdict(self.settings, stopped, self.ctx.shutdown, False, None)
        if status is None:  # Codex never ended the turn: timeouts, a crash
            return verdict(self.settings, outcome, self.ctx.shutdown, False, None)
        # The model's error was already shown as an event.
        return {"completed": "completed", "interrupted": "cancelled"}.get(status, "failed"), None
