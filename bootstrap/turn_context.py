"""What a runner gets from the turn job, and what it hands back.

The job (:mod:`bootstrap.turn_job`) owns a turn's life: the session record,
the private home, the thread archive, heartbeats, cancel requests, the
final event. A *runner* owns one way of running Codex for it (``exec`` in
:mod:`bootstrap.exec_runner`, ``app-server`` in
:mod:`bootstrap.app_server_runner`): it prepares the launch, runs Codex,
turns its output into events through :class:`TurnContext`, and returns a
:class:`RunResult`. Both runners see the job only through this protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from relay.approvals import ApprovalBook
from relay.normalise import Normalised
from relay.settings import Settings
from relay.turns import TurnRequest

from .codex_home import CodexHome

__all__ = ["RunResult", "Runner", "TurnContext"]


class TurnContext(Protocol):
    """The job, as a runner sees it."""

    settings: Settings
    req: TurnRequest

    @property
    def approvals(self) -> ApprovalBook:
        """The approvals of the relay's sessions."""
        ...

    @property
    def shutdown(self) -> bool:
        """Whether the cancel came from the worker shutting down."""
        ...

    def publish(self, batch: list[Normalised]) -> None:
        """Store and publish events of this turn, in order."""

    def tick(self) -> bool:
        """Heartbeat and cancel check (cheap; call it often); ``True`` once a cancel came."""
        ...

    def mark_running(self, codex_pgid: int) -> None:
        """Record the running Codex (its process group) in the session."""

    def approval_notices(self) -> set[str]:
        """Approval ids answered since the last call (from ``agent_chat-<session>``)."""
        ...


@dataclass
class RunResult:
    """How Codex's part of a turn ended."""

    #: One of :data:`relay.events.FINAL_STATUSES`.
    status: str
    #: ``(message, code)`` of an error the user should see, if any.
    error: tuple[str, str] | None = None
    #: The Codex thread to archive for the next turn (``None``: none).
    thread_id: str | None = None
    #: The thread's cumulative token usage after the turn.
    usage_total: dict[str, int] = field(default_factory=dict)
    #: Seconds from spawn to Codex's first output (``None``: none).
    first_output: float | None = None


class Runner(Protocol):
    """One way of running Codex for a turn."""

    def home(self) -> CodexHome:
        """The private ``CODEX_HOME`` the turn will run in (the archive is restored into it)."""
        ...

    def run(
        self, ctx: TurnContext, codex_path: str, thread_id: str | None, thread_total: dict[str, int]
    ) -> RunResult:
        """Run Codex for the turn: ``thread_id`` to continue (restored), else a new thread."""
        ...
