"""The approvals route: the session's owner answers what the agent asked.

``POST .../agent/sessions/<session_id>/approvals/<approval_id>`` with
``{"decision": "accept" | "decline"}``. Only the session's owner finds it
(anyone else, and an unknown approval: 404); exactly one answer stands, so
a second one, one after the deadline and one after the turn was stopped get
409 naming the answer that stood. The answer is recorded (with its
``approval.resolved`` event) by :class:`~relay.approvals.ApprovalBook`; the
job running the turn is told on ``agent_chat-<session>`` and passes it on
to Codex.
"""

from __future__ import annotations

import logging
import re

import orjson
from flask import Response, jsonify

from relay.approvals import DECISIONS
from relay.errors import AlreadyResolved, BadRequest, NotFound
from relay.keys import chat_channel

from .request_context import read_json_object
from .state import relay_state
from .turn_access import owned_session, run_context

__all__ = ["answer_approval"]

log = logging.getLogger("codex_relay.http")

#: Approval ids are minted by the job: 16 lowercase hex digits.
_APPROVAL_ID = re.compile(r"^[0-9a-f]{16}\Z")


def answer_approval(
    runid: str, config: str, session_id: str, approval_id: str
) -> tuple[Response, int]:
    """Record the owner's answer to an approval of this session."""
    state = relay_state()
    ctx = run_context(state, state.policy.current_user(), runid, config)
    record = owned_session(state, ctx, session_id)
    body = read_json_object(state.settings.max_body_bytes, ("decision",))
    decision = body.get("decision")
    if decision not in DECISIONS:
        raise BadRequest('\'decision\' must be "accept" or "decline".')
    if not _APPROVAL_ID.match(approval_id):
        raise NotFound("No such approval in this session.")
    resolution = state.runtime.approvals.resolve(record.id, approval_id, decision, "user")
    if resolution is None:
        raise NotFound("No such approval in this session.")
    if not resolution.won:
        raise AlreadyResolved(
            f"This approval was already answered: {resolution.decision} (by {resolution.by}).",
            resolution.decision,
            resolution.by,
        )
    notice = {"type": "approval", "session": record.id, "approval_id": approval_id}
    state.runtime.redis.publish(chat_channel(record.id), orjson.dumps(notice))
    log.info(
        "approval answered",
        extra={"session": record.id, "approval_id": approval_id, "decision": resolution.decision},
    )
    if resolution.by != "user":  # the deadline had passed: the timeout's decline stands
        raise AlreadyResolved(
            "The time to answer this approval had run out; it was declined.",
            resolution.decision,
            resolution.by,
        )
    return jsonify({"approval_id": approval_id, "decision": resolution.decision}), 200
