"""One turn's conversation with ``codex app-server``, as a pure state machine.

The runner in ``bootstrap/`` only moves bytes; what to say and when is
decided here, so it can be tested line by line against recorded
transcripts. The conversation of a turn::

    initialize -> initialized        (skipped when the process is warm)
    thread/start | thread/resume     (a resume that fails falls back to a new thread)
    turn/start  -> turn.started      (Codex accepted the turn)
    ... notifications -> relay events; server requests -> approvals ...
    turn/completed                   (the end; the runner then closes stdin)

:meth:`AppServerTurn.receive` takes each decoded stdout line and returns a
:class:`Step`: the relay events to publish, the bytes to write to Codex,
the server requests the runner must answer (approvals), and whether the
turn has ended. Requests Codex may send that the relay does not serve are
answered with an error at once, so a turn never waits on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from . import events as ev
from .app_server_normalise import AppServerNormaliser
from .jsonl import BadLine
from .jsonrpc import (
    METHOD_NOT_FOUND,
    Malformed,
    Notification,
    Response,
    RpcChannel,
    ServerRequest,
)
from .normalise import Normalised

__all__ = ["APPROVAL_METHODS", "CLIENT_INFO", "AppServerTurn", "Step", "TurnPlan"]

#: How the relay introduces itself in ``initialize``.
CLIENT_INFO: Final = {"name": "codex-relay", "title": "codex-relay", "version": "0.1.0"}

#: Server requests that become approvals, and the approval kind of each.
APPROVAL_METHODS: Final = {
    "item/commandExecution/requestApproval": "command",
    "item/fileChange/requestApproval": "file_change",
    "mcpServer/elicitation/request": "mcp",
}


@dataclass(frozen=True)
class TurnPlan:
    """What one turn asks of Codex."""

    #: The working directory (the run's directory).
    cwd: str
    #: The text of the turn's user input.
    prompt: str
    #: The host's profile and the run's context (``developerInstructions``), never in ``prompt``.
    developer_instructions: str = ""
    #: The thread to continue (``None``: a new thread).
    thread_id: str | None = None
    approval_policy: str = "never"
    sandbox: str = "workspace-write"
    model: str | None = None
    #: Config overrides for this thread (the turn's MCP server with its token).
    config: dict[str, Any] = field(default_factory=dict)
    #: Whether ``initialize`` was already done (a warm process).
    initialised: bool = False


@dataclass
class Step:
    """What one line from Codex leads to."""

    events: list[Normalised] = field(default_factory=list)
    send: bytes = b""
    requests: list[ServerRequest] = field(default_factory=list)
    ended: bool = False


@dataclass
class AppServerTurn:
    """The client side of one turn on one app-server connection."""

    plan: TurnPlan
    normaliser: AppServerNormaliser
    channel: RpcChannel = field(default_factory=RpcChannel)
    #: ``initializing``, ``starting_thread``, ``starting_turn``, ``running`` or ``ended``.
    state: str = "initializing"
    #: Why the turn could not run, ``(message, code)``, when Codex refused to start it.
    failure: tuple[str, str] | None = None
    #: Whether the thread in the plan could not be resumed (a new one was started).
    resume_failed: bool = False
    interrupted: bool = False

    # -- what to send -----------------------------------------------------------

    def start(self) -> bytes:
        """The first lines to write."""
        if self.plan.initialised:
            return self._start_thread(self.plan.thread_id)
        self.state = "initializing"
        _, line = self.channel.request("initialize", {"clientInfo": CLIENT_INFO})
        return line

    def interrupt(self) -> bytes:
        """``turn/interrupt`` once the turn is known to Codex (else nothing to interrupt yet)."""
        if self.state != "running" or self.interrupted or not self.normaliser.turn_id:
            return b""
        self.interrupted = True
        _, line = self.channel.request(
            "turn/interrupt",
            {"threadId": self.normaliser.thread_id, "turnId": self.normaliser.turn_id},
        )
        return line

    def answer(self, request: ServerRequest, decision: str) -> bytes:
        """The reply to an approval request: ``accept`` or ``decline``."""
        if APPROVAL_METHODS.get(request.method) == "mcp":
            return self.channel.reply(request.id, {"action": decision, "content": None})
        return self.channel.reply(request.id, {"decision": decision})

    def _start_thread(self, thread_id: str | None) -> bytes:
        self.state = "starting_thread"
        params: dict[str, Any] = {
            "cwd": self.plan.cwd,
            "approvalPolicy": self.plan.approval_policy,
            "sandbox": self.plan.sandbox,
            "config": self.plan.config,
        }
        if self.plan.developer_instructions:
            params["developerInstructions"] = self.plan.developer_instructions
        if self.plan.model:
            params["model"] = self.plan.model
        if thread_id:
            params.update(threadId=thread_id, excludeTurns=True)
            _, line = self.channel.request("thread/resume", params)
        else:
            _, line = self.channel.request("thread/start", params)
        return line

    # -- what arrives -----------------------------------------------------------

    def receive(self, obj: dict[str, Any] | BadLine) -> Step:
        """Handle one decoded stdout line of Codex."""
        message = self.channel.read(obj)
        if isinstance(message, Response):
            return self._response(message)
        if isinstance(message, ServerRequest):
            if message.method in APPROVAL_METHODS:
                return Step(requests=[message])
            # Nothing the relay serves (user input, auth refresh, ...): say so at once.
            text = f"codex-relay does not serve {message.method}"
            return Step(send=self.channel.reply_error(message.id, METHOD_NOT_FOUND, text))
        if isinstance(message, Notification) and message.method == "turn/completed":
            params = message.params.get("turn")
            if isinstance(params, dict) and params.get("id") not in (None, self.normaliser.turn_id):
                return Step()  # not our turn (there is only one; this is defensive)
            events = self.normaliser.feed(message)
            self.state = "ended"
            return Step(events=events, ended=True)
        if isinstance(message, Notification | Malformed):
            return Step(events=self.normaliser.feed(message))
        return Step()  # pragma: no cover - every message kind is handled above

    def _response(self, response: Response) -> Step:
        if response.method == "initialize":
            if response.error is not None:
                return self._fail(f"Codex did not initialise: {response.error.message}")
            return Step(
                send=self.channel.notification("initialized")
                + self._start_thread(self.plan.thread_id)
            )
        if response.method in ("thread/start", "thread/resume"):
            return self._thread_started(response)
        if response.method == "turn/start":
            turn = response.result.get("turn") if isinstance(response.result, dict) else None
            turn_id = turn.get("id") if isinstance(turn, dict) else None
            if response.error is not None or not isinstance(turn_id, str):
                detail = response.error.message if response.error else "no turn id"
                return self._fail(f"Codex did not start the turn: {detail}")
            self.state = "running"
            thread_id = self.normaliser.thread_id or ""
            return Step(events=self.normaliser.turn_started(thread_id, turn_id))
        return Step()  # turn/interrupt's empty answer, and anything else

    def _thread_started(self, response: Response) -> Step:
        thread = response.result.get("thread") if isinstance(response.result, dict) else None
        thread_id = thread.get("id") if isinstance(thread, dict) else None
        if response.error is not None or not isinstance(thread_id, str):
            detail = response.error.message if response.error else "no thread id"
            if response.method == "thread/resume":
                self.resume_failed = True
                self.normaliser.new_thread()
                error = ev.error_payload(
                    "The earlier conversation could not be resumed; starting a new one.",
                    "resume_failed",
                )
                return Step(events=[(ev.ERROR, error)], send=self._start_thread(None))
            return self._fail(f"Codex did not start a thread: {detail}", _start_code(detail))
        self.normaliser.thread_id = thread_id
        self.state = "starting_turn"
        _, line = self.channel.request(
            "turn/start",
            {"threadId": thread_id, "input": [{"type": "text", "text": self.plan.prompt}]},
        )
        return Step(send=line)

    def _fail(self, message: str, code: str = "codex_failed") -> Step:
        self.state = "ended"
        self.failure = (message[:1000], code)
        return Step(ended=True)


def _start_code(detail: str) -> str:
    # Codex 0.169.0 refuses a thread whose `required` MCP server did not start.
    return "tools_unavailable" if "mcp" in detail.lower() else "codex_failed"
