"""The approvals a running app-server turn waits for: open them, watch them, settle them.

Codex asks (a server request); the job opens an approval in Redis (which
logs ``approval.requested``) and keeps the request. An answer stands once
:class:`~relay.approvals.ApprovalBook` records it — from the user through
the approvals route (which also names the approval on
``agent_chat-<session>``, so the job looks at once), from the deadline
passing (the job declines it, ``by: "timeout"``), or from the turn being
cancelled (``by: "cancel"``). :meth:`PendingApprovals.settled` returns the
requests whose answer stands, so the runner can reply to Codex.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from relay.app_server_normalise import AppServerNormaliser
from relay.app_server_turn import APPROVAL_METHODS
from relay.jsonrpc import ServerRequest

from .turn_context import TurnContext

__all__ = ["PendingApprovals"]

#: Seconds between two looks at a waiting approval when no notice came (a lost message).
_POLL = 1.0


@dataclass
class _Waiting:
    request: ServerRequest
    expires_at: float
    next_look: float


class PendingApprovals:
    """The open approvals of one turn."""

    def __init__(
        self,
        ctx: TurnContext,
        normaliser: AppServerNormaliser,
        timeout: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ctx = ctx
        self.normaliser = normaliser
        self.timeout = timeout
        self.clock = clock
        self._waiting: dict[str, _Waiting] = {}

    @property
    def waiting(self) -> bool:
        """Whether the turn waits for an answer (Codex is silent meanwhile)."""
        return bool(self._waiting)

    def open(self, request: ServerRequest) -> str:
        """Open an approval for Codex's ``request``; return its id."""
        approval_id = secrets.token_hex(8)
        now = self.clock()
        expires_at = round(now + self.timeout, 3)
        approval = self.normaliser.approval(
            APPROVAL_METHODS[request.method], request.params, approval_id, expires_at
        )
        self.ctx.approvals.open(self.ctx.req.session, self.ctx.req.turn, approval)
        self._waiting[approval_id] = _Waiting(request, expires_at, now + _POLL)
        return approval_id

    def settled(self, notices: set[str]) -> list[tuple[ServerRequest, str]]:
        """Requests whose answer now stands, with the decision to send Codex."""
        now = self.clock()
        out = []
        for approval_id, waiting in list(self._waiting.items()):
            if approval_id not in notices and now < waiting.next_look and now <= waiting.expires_at:
                continue
            waiting.next_look = now + _POLL
            decision = self._decision(approval_id, now > waiting.expires_at)
            if decision is not None:
                del self._waiting[approval_id]
                out.append((waiting.request, decision))
        return out

    def cancel_all(self) -> list[tuple[ServerRequest, str]]:
        """Decline every waiting approval (the turn is being stopped); the answers that stood."""
        out = []
        book, session = self.ctx.approvals, self.ctx.req.session
        for approval_id, waiting in list(self._waiting.items()):
            resolution = book.resolve(session, approval_id, "decline", "cancel")
            out.append((waiting.request, resolution.decision if resolution else "decline"))
        self._waiting.clear()
        return out

    def _decision(self, approval_id: str, expired: bool) -> str | None:
        book, session = self.ctx.approvals, self.ctx.req.session
        state = book.get(session, approval_id)
        if state is None:
            return "decline"  # the session was deleted under us
        if state.decision:
            return state.decision
        if expired:
            resolution = book.resolve(session, approval_id, "decline", "timeout")
            return resolution.decision if resolution else "decline"
        return None
