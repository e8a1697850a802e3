"""Requeue a failed turn job, honestly.

RQ's own requeue (``FailedJobRegistry.requeue``) would run the same job
again, but a failed turn has already *ended*: its ``turn.completed`` is in
the log and the session was unlocked, so the job would find its turn no
longer current and skip itself. Re-locking the old turn number is not an
option either (the log's final key for that turn is set for good).

So :func:`requeue_failed_turn` starts a **new** turn of the same session
with the failed turn's message (through :func:`relay.turns.start_turn`,
which locks the session and logs ``turn.queued``), then removes the failed
job from the registry. It refuses, with a message saying why, when the
session is gone, has a turn running, or has moved on (a later turn was
started after the failed one). A failed job that is not a codex-relay turn
is requeued with RQ's plain requeue.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry

from .errors import NotFound, RequeueRefused
from .runtime import RelayRuntime
from .turns import JOB_FUNCTION, TurnRequest, start_turn

__all__ = ["requeue_failed_turn"]


def requeue_failed_turn(
    rt: RelayRuntime, job_id: str, mint_token: Callable[[str, int], str]
) -> dict[str, Any]:
    """Retry failed job ``job_id``; see the module docstring. Returns what was done.

    ``mint_token(session, turn)`` returns the new turn's run token.
    """
    try:
        job = Job.fetch(job_id, connection=rt.redis)
    except NoSuchJobError:
        raise NotFound(f"No job {job_id}.") from None
    status = job.get_status()
    if status != JobStatus.FAILED:
        shown = getattr(status, "value", status)
        raise RequeueRefused(f"Job {job_id} is {shown}, not failed; only failed jobs are requeued.")
    registry = FailedJobRegistry(job.origin, connection=rt.redis)
    if job.func_name != JOB_FUNCTION:
        registry.requeue(job)
        return {
            "job_id": job.id,
            "requeued": True,
            "message": f"Requeued job {job.id} with RQ (not a codex-relay turn).",
        }
    try:
        request = TurnRequest.from_dict(job.args[0])
    except (IndexError, TypeError):
        raise RequeueRefused(f"Job {job_id} has no readable turn request.") from None
    record = rt.sessions.get(request.session)
    if record is None:
        raise RequeueRefused(
            f"Session {request.session} no longer exists; the failed turn cannot be retried."
        )
    if record.running_turn:
        raise RequeueRefused(
            f"Session {record.id} is running turn {record.running_turn}; stop it or wait first."
        )
    if record.turn != request.turn:
        raise RequeueRefused(
            f"Session {record.id} has moved on (turn {record.turn} came after failed turn "
            f"{request.turn}); retrying the old message now would reorder the conversation."
        )
    turn, new_job = start_turn(
        rt, record, request.message, lambda t: mint_token(record.id, t), request.profile
    )
    registry.remove(job, delete_job=True)
    return {
        "job_id": new_job,
        "failed_job": job_id,
        "session": record.id,
        "failed_turn": request.turn,
        "turn": turn,
        "requeued": False,
        "message": (
            f"Started turn {turn} of session {record.id} with the message of failed turn "
            f"{request.turn} (new job {new_job}); the failed job was removed."
        ),
    }
