"""The ``exec`` runner: one ``codex exec --json`` process per turn (the default).

Codex gets the prompt on stdin and prints JSON Lines on stdout until the
turn ends; :class:`~relay.normalise.CodexNormaliser` turns each line into
relay events as it arrives. No live text (a message arrives whole), no
approvals (the policy is always ``never``), and stopping is a kill.
"""

from __future__ import annotations

from relay import events as ev
from relay.jsonl import JsonLinesDecoder
from relay.normalise import CodexNormaliser
from relay.settings import Settings

from .codex_home import CodexHome
from .codex_process import CodexProcess, ProcessOutcome
from .sandbox import turn_launch
from .turn_context import RunResult, TurnContext

__all__ = ["ExecRunner", "verdict"]


class ExecRunner:
    """Runs a turn with ``codex exec --json`` in a fresh private home."""

    def __init__(self, settings: Settings, session: str) -> None:
        self.settings = settings
        self.session = session
        self._home: CodexHome | None = None

    def home(self) -> CodexHome:
        """A fresh private home for this turn."""
        if self._home is None:
            self._home = CodexHome(self.settings, self.session)
        return self._home

    def run(
        self, ctx: TurnContext, codex_path: str, thread_id: str | None, thread_total: dict[str, int]
    ) -> RunResult:
        """Spawn ``codex exec`` (resuming ``thread_id``) and stream its events until it exits."""
        normaliser = CodexNormaliser(max_chars=self.settings.max_field_chars)
        normaliser.thread_total = dict(thread_total)
        outcome, seen_output = self._spawn(ctx, normaliser, codex_path, thread_id)
        if thread_id and outcome.reason == "exited" and outcome.returncode and not seen_output:
            # Codex 0.169.0 exits 1 with no stdout when the rollout is unusable.
            ctx.publish(
                [
                    (
                        ev.ERROR,
                        ev.error_payload(
                            "The earlier conversation could not be resumed; starting a new one.",
                            "resume_failed",
                        ),
                    )
                ]
            )
            normaliser.thread_total = {}
            outcome, seen_output = self._spawn(ctx, normaliser, codex_path, None)
        status, error = verdict(
            self.settings,
            outcome,
            ctx.shutdown,
            normaliser.completed,
            normaliser.failure,
            started=seen_output,
        )
        return RunResult(
            status, error, normaliser.thread_id, normaliser.thread_total, outcome.first_output
        )

    def _spawn(
        self,
        ctx: TurnContext,
        normaliser: CodexNormaliser,
        codex_path: str,
        thread_id: str | None,
    ) -> tuple[ProcessOutcome, bool]:
        launch = turn_launch(self.settings, self.home(), ctx.req, codex_path, thread_id)
        process = CodexProcess(
            launch.argv, launch.env, launch.cwd, launch.stdin, self.settings.kill_grace
        )
        decoder = JsonLinesDecoder(self.settings.max_line_bytes)
        seen = False

        def on_stdout(chunk: bytes) -> None:
            nonlocal seen
            seen = True
            ctx.publish([n for obj in decoder.feed(chunk) for n in normaliser.feed(obj)])

        process.start()
        ctx.mark_running(process.pid)
        outcome = process.run(
            on_stdout, ctx.tick, self.settings.turn_timeout, self.settings.idle_timeout
        )
        ctx.publish([n for obj in decoder.close() for n in normaliser.feed(obj)])
        return outcome, seen


def verdict(
    settings: Settings,
    outcome: ProcessOutcome,
    shutdown: bool,
    completed: bool,
    failure: str | None,
    *,
    started: bool = True,
) -> tuple[str, tuple[str, str] | None]:
    """The turn's final status and error from how Codex ended (both runners).

    ``started``: whether Codex printed anything (a turn sandbox that could not
    be set up fails before Codex runs, and bubblewrap says why on stderr).
    """
    if outcome.reason == "cancelled":
        if shutdown:
            return "cancelled", (
                "The worker running this turn was shut down. You can retry.",
                "worker_shutdown",
            )
        return "cancelled", None
    if outcome.reason == "timeout":
        limit = settings.turn_timeout
        return "timeout", (f"The turn took longer than {limit:g} s and was stopped.", "timeout")
    if outcome.reason == "idle_timeout":
        limit = settings.idle_timeout
        return "timeout", (
            f"Codex produced no output for {limit:g} s and was stopped.",
            "idle_timeout",
        )
    if completed and outcome.returncode in (0, None):
        return "completed", None
    if failure is not None:
        return "failed", None  # the model error was already shown as an event
    detail = _last_line(outcome.stderr_tail)
    if detail.startswith("bwrap:") and not started:
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
    if outcome.returncode is None:
        message = "Codex stopped before the turn ended"
    else:
        message = f"Codex exited with status {outcome.returncode}"
    return "failed", (f"{message}: {detail}" if detail else message + ".", "codex_failed")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""
