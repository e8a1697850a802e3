"""The watchdog's sweep: end turns whose job died, hung or was lost.

A running turn's job writes a heartbeat into the session record every
``heartbeat_interval`` seconds. :func:`reap_stale_turns` ends (as
``failed``) every turn whose heartbeat is older than ``stale_after``, whose
queued job vanished or failed, or which waited in the queue longer than the
turn timeout; it also escalates a cancel the job ignored to RQ's stop
command. Ending goes through :func:`relay.turns.finish_turn`, so racing the
job is harmless. Workers, the SSE route and ``codex-relay cleanup`` run it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time

from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job

from .runtime import RelayRuntime
from .session_store import SessionRecord
from .turns import finish_turn

__all__ = ["kill_local_process_group", "reap_session", "reap_stale_turns"]

log = logging.getLogger("codex_relay.reaper")

#: Seconds a running job gets to honour a cancel before RQ's stop command is sent.
CANCEL_ESCALATION = 5.0
_LOST_JOB_STATUSES = ("failed", "stopped", "canceled", "finished")


def kill_local_process_group(worker: str, pgid: int) -> bool:
    """SIGKILL Codex's process group if it ran on this host (``worker`` is ``host:pid``)."""
    if pgid <= 1 or worker.split(":", 1)[0] != socket.gethostname():
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
        return True
    return False


def reap_stale_turns(rt: RelayRuntime, now: float | None = None) -> list[tuple[str, int, str]]:
    """Sweep every running turn; return ``(session, turn, outcome)`` for those acted on."""
    acted = []
    for session, turn in rt.sessions.running_turns().items():
        outcome = reap_session(rt, session, turn, now)
        if outcome:
            acted.append((session, turn, outcome))
    return acted


def reap_session(rt: RelayRuntime, session: str, turn: int, now: float | None = None) -> str:
    """Check one running turn; return what was done (``""``: nothing)."""
    now = time.time() if now is None else now
    record = rt.sessions.get(session)
    if record is None or record.running_turn != turn:
        rt.redis.hdel(rt.keys.running(), session)
        return "forgotten"
    if rt.events.is_final(session, turn):
        rt.sessions.end_turn(record, turn, record.status)
        return "unlocked"
    if record.status == "running":
        return _check_running(rt, record, turn, now)
    return _check_queued(rt, record, turn, now)


def _check_running(rt: RelayRuntime, record: SessionRecord, turn: int, now: float) -> str:
    stale = now - record.heartbeat > rt.settings.stale_after
    if stale:
        log.warning("turn %s/%s: no heartbeat for %.0f s", record.id, turn, now - record.heartbeat)
        kill_local_process_group(record.worker, record.codex_pgid)
        finish_turn(
            rt,
            record,
            turn,
            "failed",
            error=(
                "The worker running this turn stopped responding. You can retry.",
                "worker_lost",
            ),
        )
        return "failed"
    if record.cancel_requested and now - record.cancel_requested > CANCEL_ESCALATION:
        with contextlib.suppress(NoSuchJobError, InvalidJobOperation):
            send_stop_job_command(rt.redis, record.job_id)
            rt.sessions.update(record.id, cancel_requested=now)
            return "stop_sent"
        finish_turn(rt, record, turn, "cancelled")
        return "cancelled"
    return ""


def _check_queued(rt: RelayRuntime, record: SessionRecord, turn: int, now: float) -> str:
    if now - record.heartbeat > rt.settings.turn_timeout:
        with contextlib.suppress(NoSuchJobError, InvalidJobOperation):
            Job.fetch(record.job_id, connection=rt.redis).cancel()
        finish_turn(
            rt,
            record,
            turn,
            "timeout",
            error=(
                "No worker picked up the turn in time. You can retry.",
                "queue_timeout",
            ),
        )
        return "timeout"
    if not record.job_id:
        # begin_turn happened but the job is not enqueued yet, or the web
        # process died in between: give it the stale window to appear.
        if now - record.heartbeat > rt.settings.stale_after:
            finish_turn(
                rt, record, turn, "failed", error=("The turn was never queued.", "job_lost")
            )
            return "failed"
        return ""
    try:
        status = Job.fetch(record.job_id, connection=rt.redis).get_status()
    except NoSuchJobError:
        status = None
    if status is None or status in _LOST_JOB_STATUSES:
        finish_turn(
            rt,
            record,
            turn,
            "failed",
            error=(
                "The turn's job was lost before it started. You can retry.",
                "job_lost",
            ),
        )
        return "failed"
    return ""
