"""The relay event model: types, the envelope, and size caps.

An event travels as one JSON object::

    {"id": "7-0", "seq": 7, "session": "...", "turn": 2, "ts": 1763.2,
     "type": "message", "text": "..."}

``id`` (the event-log id, also the SSE id) and ``seq`` are assigned by the
event log when the event is stored; everything else is the *body* built
here. Nothing in this module touches Redis, Flask or processes.
"""

from __future__ import annotations

import time
from typing import Any, Final

import orjson

__all__ = [
    "APPROVAL_REQUESTED",
    "APPROVAL_RESOLVED",
    "DELTA_TYPES",
    "ERROR",
    "EVENT_TYPES",
    "FINAL_STATUSES",
    "MESSAGE",
    "MESSAGE_DELTA",
    "PASSTHROUGH_PREFIX",
    "REASONING",
    "REASONING_DELTA",
    "TOOL_COMPLETED",
    "TOOL_OUTPUT",
    "TOOL_STARTED",
    "TOOL_UPDATED",
    "TURN_COMPLETED",
    "TURN_QUEUED",
    "TURN_STARTED",
    "USAGE",
    "cap_text",
    "encode",
    "error_payload",
    "event_body",
]

TURN_QUEUED: Final = "turn.queued"
TURN_STARTED: Final = "turn.started"
MESSAGE: Final = "message"
REASONING: Final = "reasoning"
TOOL_STARTED: Final = "tool.started"
TOOL_UPDATED: Final = "tool.updated"
TOOL_COMPLETED: Final = "tool.completed"
USAGE: Final = "usage"
ERROR: Final = "error"
TURN_COMPLETED: Final = "turn.completed"
MESSAGE_DELTA: Final = "message.delta"
REASONING_DELTA: Final = "reasoning.delta"
TOOL_OUTPUT: Final = "tool.output"
APPROVAL_REQUESTED: Final = "approval.requested"
APPROVAL_RESOLVED: Final = "approval.resolved"

#: Every event type the relay itself defines (``codex.*`` pass-throughs aside).
EVENT_TYPES: Final = frozenset(
    {
        TURN_QUEUED,
        TURN_STARTED,
        MESSAGE,
        REASONING,
        TOOL_STARTED,
        TOOL_UPDATED,
        TOOL_COMPLETED,
        USAGE,
        ERROR,
        TURN_COMPLETED,
        MESSAGE_DELTA,
        REASONING_DELTA,
        TOOL_OUTPUT,
        APPROVAL_REQUESTED,
        APPROVAL_RESOLVED,
    }
)

#: Live pieces of text (runner ``app-server``): ``message.delta`` and
#: ``reasoning.delta`` carry ``item_id``, ``tool.output`` carries ``tool_id``;
#: each carries ``delta``, the text to append.
DELTA_TYPES: Final = frozenset({MESSAGE_DELTA, REASONING_DELTA, TOOL_OUTPUT})

#: The ``status`` values of ``turn.completed``.
FINAL_STATUSES: Final = ("completed", "failed", "cancelled", "timeout")

#: Prefix of events passed through from Codex without a relay mapping.
PASSTHROUGH_PREFIX: Final = "codex."


def event_body(
    session: str, turn: int, type: str, payload: dict[str, Any], ts: float | None = None
) -> dict[str, Any]:
    """Build an event body (the envelope without ``id`` and ``seq``)."""
    body: dict[str, Any] = {
        "session": session,
        "turn": turn,
        "ts": time.time() if ts is None else ts,
        "type": type,
    }
    body.update(payload)
    return body


def encode(obj: Any) -> bytes:
    """Serialise an event (or any JSON value) compactly."""
    return orjson.dumps(obj)


def cap_text(text: str, limit: int) -> tuple[str, bool]:
    """Cut ``text`` to at most ``limit`` characters; say whether it was cut."""
    if len(text) <= limit:
        return text, False
    return text[:limit], True


def error_payload(message: str, code: str, retryable: bool = False) -> dict[str, Any]:
    """Payload of an ``error`` event."""
    return {"message": message, "code": code, "retryable": retryable}
