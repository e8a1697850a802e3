"""Turns: start one (lock, ``turn.queued``, RQ job), cancel it, end it exactly once.

These are the operations the HTTP routes, the CLI, the job and the
watchdog share. A turn is ended only through :func:`finish_turn`, which
writes the final ``turn.completed`` (guarded in the event log, so a second
writer is a no-op) and then unlocks the session.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import orjson
import redis
from rq import Callback
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job

from . import events as ev
from .errors import RelayUnavailable
from .keys import chat_channel
from .runtime import RelayRuntime
from .session_store import SessionRecord
from .tokens import token_lifetime

__all__ = [
    "TurnRequest",
    "cancel_turn",
    "delete_session",
    "finish_turn",
    "job_id_for",
    "start_turn",
]

#: The RQ job function (a string, so ``relay`` does not import ``bootstrap``).
JOB_FUNCTION = "bootstrap.turn_job.run_turn"
#: Value of the cancel key when a worker shutting down stops its turn.
SHUTDOWN_CANCEL = "shutdown"
#: Seconds a cancel request stays visible to the job.
_CANCEL_TTL = 3600
_REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)


@dataclass(frozen=True)
class TurnRequest:
    """Everything the job needs to run one turn (the RQ job's only argument)."""

    session: str
    turn: int
    user: str
    runid: str
    config: str
    tier: str
    run_dir: str
    message: str
    token: str
    profile: str = ""
    enqueued_at: float = 0.0
    #: Codex's approval policy for this turn, decided when it was started.
    approval_policy: str = "never"

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form, as stored in the RQ job."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TurnRequest:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


def job_id_for(session: str, turn: int) -> str:
    """The RQ job id of a turn (stable, so admins can find it)."""
    return f"turn-{session}-{turn}"


def start_turn(
    rt: RelayRuntime,
    record: SessionRecord,
    message: str,
    mint_token: Callable[[int], str],
    profile: str = "",
    approval_policy: str = "never",
) -> tuple[int, str]:
    """Lock the session, log ``turn.queued`` and enqueue the job: ``(turn, job_id)``.

    ``mint_token(turn)`` returns the turn's run token. Raises
    :class:`~relay.errors.TurnInProgress`, :class:`~relay.errors.RateLimited`
    or :class:`~relay.errors.RelayUnavailable`.
    """
    turn = rt.sessions.begin_turn(record, rt.settings.max_running_turns)
    try:
        now = time.time()
        request = TurnRequest(
            session=record.id,
            turn=turn,
            user=record.user,
            runid=record.runid,
            config=record.config,
            tier=record.tier,
            run_dir=record.run_dir,
            message=message,
            token=mint_token(turn),
            profile=profile,
            enqueued_at=now,
            approval_policy=approval_policy,
        )
        queued = ev.event_body(record.id, turn, ev.TURN_QUEUED, {"message": message})
        rt.events.append(record.id, turn, [queued])
        # Host bridges follow the user's messages on agent_chat-<session> (DESIGN).
        user_message = {"type": "message", "session": record.id, "turn": turn, "message": message}
        rt.redis.publish(chat_channel(record.id), orjson.dumps(user_message))
        job = rt.queue().enqueue(
            JOB_FUNCTION,
            request.to_dict(),
            job_id=job_id_for(record.id, turn),
            job_timeout=int(rt.settings.turn_timeout + 120),
            result_ttl=rt.settings.session_ttl,
            failure_ttl=rt.settings.session_ttl,
            on_failure=Callback("bootstrap.watchdog.on_job_failure"),
            on_stopped=Callback("bootstrap.watchdog.on_job_stopped"),
            description=f"codex-relay turn {turn} of session {record.id} ({record.runid})",
        )
        rt.sessions.update(record.id, job_id=job.id)
        return turn, job.id
    except _REDIS_ERRORS as exc:
        _release_quietly(rt, record, turn)
        raise RelayUnavailable("The relay's Redis is unavailable; try again shortly.") from exc


def _release_quietly(rt: RelayRuntime, record: SessionRecord, turn: int) -> None:
    try:
        finish_turn(rt, record, turn, "failed", error=("Could not queue the turn.", "unavailable"))
    except _REDIS_ERRORS:
        pass


def finish_turn(
    rt: RelayRuntime,
    record: SessionRecord,
    turn: int,
    status: str,
    duration_ms: int | None = None,
    error: tuple[str, str] | None = None,
) -> bool:
    """End ``turn`` with ``status``: final event (once) then unlock. ``True`` if this call ended it.

    ``error`` is ``(message, code)`` of an ``error`` event written just before.
    Approvals the turn still waits for are declined first (``by: "cancel"``),
    so every ``approval.requested`` has its ``approval.resolved`` before the end.
    """
    assert status in ev.FINAL_STATUSES, status
    rt.approvals.resolve_all(record.id, turn, by="cancel")
    bodies = []
    if error is not None:
        bodies.append(ev.event_body(record.id, turn, ev.ERROR, ev.error_payload(*error)))
    payload: dict[str, Any] = {"status": status}
    if duration_ms is not None:
        payload["duration_ms"] = duration_ms
    bodies.append(ev.event_body(record.id, turn, ev.TURN_COMPLETED, payload))
    # One transaction: a client that sees turn.completed can send its next
    # message at once (the session is already unlocked), and no one can see
    # the session unlocked before the turn's final event is in the log.
    with rt.redis.pipeline(transaction=True) as pipe:
        rt.events.append(record.id, turn, bodies, pipe=pipe)
        rt.sessions.end_turn(record, turn, status, pipe=pipe)
        ids, _ = pipe.execute()
    return bool(ids)


def cancel_turn(rt: RelayRuntime, record: SessionRecord) -> bool:
    """Ask the running turn to stop; ``False`` when no turn is running.

    A queued turn is cancelled at once. A running one is flagged (a key the
    job polls, and a control message on ``agent_chat-<session>``); the job
    then stops Codex and writes ``turn.completed`` with ``cancelled``. The
    watchdog escalates to RQ's stop command if the job does not react.
    """
    turn = record.running_turn
    if not turn:
        return False
    if record.status == "queued" and _cancel_queued_job(rt, record.job_id):
        finish_turn(rt, record, turn, "cancelled", duration_ms=0)
        return True
    control = orjson.dumps({"type": "cancel", "session": record.id, "turn": turn})
    with rt.redis.pipeline() as pipe:
        pipe.set(rt.keys.cancel(record.id, turn), 1, ex=_CANCEL_TTL)
        rt.sessions.update(record.id, pipe=pipe, cancel_requested=time.time())
        pipe.publish(chat_channel(record.id), control)
        pipe.execute()
    return True


def _cancel_queued_job(rt: RelayRuntime, job_id: str) -> bool:
    if not job_id:
        return False
    try:
        job = Job.fetch(job_id, connection=rt.redis)
        if job.get_status() not in ("queued", "deferred", "scheduled"):
            return False
        job.cancel()
        return True
    except (NoSuchJobError, InvalidJobOperation):
        return False


def delete_session(rt: RelayRuntime, record: SessionRecord) -> None:
    """End the session: stop its turn, revoke its tokens, drop its state and log."""
    if record.running_turn:
        cancel_turn(rt, record)
        finish_turn(rt, record, record.running_turn, "cancelled")
    rt.redis.set(rt.keys.revoked(record.id), 1, ex=token_lifetime(rt.settings.turn_timeout))
    rt.sessions.delete(record)
    rt.events.delete(record.id)
    rt.redis.delete(rt.keys.codex_state(record.id))
