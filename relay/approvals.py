"""Approvals: what the agent asked to do, and the one answer that stands.

Under the ``app-server`` runner with an approval policy other than
``never``, Codex asks before running a command or changing files. The job
*opens* an approval (a Redis hash with its request and deadline, and an
``approval.requested`` event); then exactly one answer stands, whoever
gives it first:

- the session's owner (``by: "user"``), through the approvals route;
- the job when the deadline passes (``by: "timeout"``, decline);
- the job or :func:`relay.turns.finish_turn` when the turn ends before an
  answer (``by: "cancel"``, decline).

:meth:`ApprovalBook.resolve` is one Lua script: it records the decision
only if none stands yet and appends the ``approval.resolved`` event in the
same step (with the event log's own append function), so the decision and
its event never disagree and a second answer learns which one stood. A
user's answer that arrives after the deadline counts as the timeout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

import orjson
import redis

from . import events as ev
from .event_log import APPEND_FUNCTION, EventLog
from .keys import RelayKeys

__all__ = [
    "APPROVAL_KINDS",
    "DECISIONS",
    "RESOLVED_BY",
    "ApprovalBook",
    "ApprovalState",
    "Resolution",
]

#: What an approval may be about (DESIGN.md, ``approval.requested``).
APPROVAL_KINDS: Final = ("command", "file_change", "mcp")
#: The answers a user may give.
DECISIONS: Final = ("accept", "decline")
#: Who an ``approval.resolved`` says decided.
RESOLVED_BY: Final = ("user", "timeout", "cancel")

# KEYS: approval hash, then the event log's keys (events, seq, final of the turn, session)
# ARGV: channel, maxlen, ttl_ms, decision, by, now, body as asked, body if expired,
#       whether the deadline applies (1/0)
_RESOLVE = (
    APPEND_FUNCTION
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local stood = redis.call('HGET', KEYS[1], 'decision')
if stood then return {2, stood, redis.call('HGET', KEYS[1], 'by')} end
local decision, by, body = ARGV[4], ARGV[5], ARGV[7]
local expires = tonumber(redis.call('HGET', KEYS[1], 'expires_at') or '0')
if ARGV[9] == '1' and tonumber(ARGV[6]) > expires then
  decision, by, body = 'decline', 'timeout', ARGV[8]
end
redis.call('HSET', KEYS[1], 'decision', decision, 'by', by, 'resolved_at', ARGV[6])
relay_append(KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[3], '0', {body})
return {1, decision, by}
"""
)


@dataclass(frozen=True)
class Resolution:
    """The answer that stands; ``won``: this call gave it (``False``: an earlier one did)."""

    decision: str
    by: str
    won: bool


@dataclass(frozen=True)
class ApprovalState:
    """An approval as stored: its turn, request, deadline and decision (``""``: none yet)."""

    id: str
    turn: int
    request: dict[str, Any]
    expires_at: float
    decision: str
    by: str


class ApprovalBook:
    """Open, read and resolve the approvals of sessions' turns."""

    def __init__(self, client: redis.Redis, keys: RelayKeys, events: EventLog, ttl: int) -> None:
        self.redis = client
        self.keys = keys
        self.events = events
        self.ttl = ttl
        self._resolve = client.register_script(_RESOLVE)

    def open(self, session: str, turn: int, approval: dict[str, Any]) -> list[str]:
        """Record ``approval`` (it has ``id``, ``kind`` and ``expires_at``) and log its event.

        Returns the event's id (empty when the turn had already ended).
        """
        key = self.keys.approval(session, approval["id"])
        with self.redis.pipeline() as pipe:
            pipe.hset(
                key,
                mapping={
                    "turn": turn,
                    "request": orjson.dumps(approval),
                    "expires_at": approval["expires_at"],
                },
            )
            pipe.expire(key, self.ttl)
            pipe.sadd(self.keys.approvals(session, turn), approval["id"])
            pipe.expire(self.keys.approvals(session, turn), self.ttl)
            pipe.execute()
        body = ev.event_body(session, turn, ev.APPROVAL_REQUESTED, {"approval": approval})
        return self.events.append(session, turn, [body])

    def get(self, session: str, approval_id: str) -> ApprovalState | None:
        """The approval, or ``None`` if the session never asked for it."""
        raw = self.redis.hgetall(self.keys.approval(session, approval_id))
        if not raw:
            return None
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        return ApprovalState(
            id=approval_id,
            turn=int(fields.get("turn", 0)),
            request=orjson.loads(fields.get("request", "{}")),
            expires_at=float(fields.get("expires_at", 0)),
            decision=fields.get("decision", ""),
            by=fields.get("by", ""),
        )

    def resolve(
        self,
        session: str,
        approval_id: str,
        decision: str,
        by: str,
        now: float | None = None,
    ) -> Resolution | None:
        """Record ``decision`` by ``by`` unless an answer stands; ``None``: no such approval.

        A user's answer after the deadline is recorded as the timeout's decline.
        """
        assert decision in DECISIONS and by in RESOLVED_BY, (decision, by)
        state = self.get(session, approval_id)
        if state is None:
            return None
        now = time.time() if now is None else now
        asked = self._body(session, state.turn, approval_id, decision, by, now)
        expired = self._body(session, state.turn, approval_id, "decline", "timeout", now)
        keys = [
            self.keys.approval(session, approval_id),
            *self.events.script_keys(session, state.turn),
        ]
        args = [
            *self.events.script_args(session),
            decision,
            by,
            repr(now),
            asked,
            expired,
            1 if by == "user" else 0,
        ]
        reply = self._resolve(keys=keys, args=args)
        code = int(reply[0])
        if code == 0:
            return None
        stood, who = (_text(v) for v in reply[1:3])
        return Resolution(stood, who, won=code == 1)

    def unresolved(self, session: str, turn: int) -> list[str]:
        """Ids of ``turn``'s approvals that no answer has resolved yet."""
        ids = sorted(_text(i) for i in self.redis.smembers(self.keys.approvals(session, turn)))
        return [
            i for i in ids if not self.redis.hexists(self.keys.approval(session, i), "decision")
        ]

    def resolve_all(self, session: str, turn: int, by: str = "cancel") -> list[Resolution]:
        """Decline every unresolved approval of ``turn`` (the turn is ending)."""
        out = []
        for approval_id in self.unresolved(session, turn):
            resolution = self.resolve(session, approval_id, "decline", by)
            if resolution is not None:
                out.append(resolution)
        return out

    @staticmethod
    def _body(
        session: str, turn: int, approval_id: str, decision: str, by: str, now: float
    ) -> bytes:
        payload = {"approval_id": approval_id, "decision": decision, "by": by}
        return ev.encode(ev.event_body(session, turn, ev.APPROVAL_RESOLVED, payload, now))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
