"""RQ callbacks that end a turn when its job cannot.

- ``on_job_stopped``: RQ's stop command SIGKILLs a forked job's process
  group, so the job writes nothing; this callback (run by the worker)
  ends the turn as ``cancelled``.
- ``on_job_failure``: the job raised, or RQ found it abandoned (its worker
  died): the turn ends as ``failed``.
- :func:`horse_killed`: the work horse died by a signal (OOM killer,
  ``kill -9``): the worker calls it before failing the job.

In every case Codex itself dies with the job (it has ``PR_SET_PDEATHSIG``);
anything left in its process group on this host is killed here too.
"""

from __future__ import annotations

import logging
from typing import Any

from relay.reaper import kill_local_process_group
from relay.runtime import RelayRuntime
from relay.settings import load_settings
from relay.turns import TurnRequest, finish_turn

__all__ = ["end_turn_of_job", "horse_killed", "on_job_failure", "on_job_stopped"]

log = logging.getLogger("codex_relay.watchdog")


def end_turn_of_job(job: Any, connection: Any, status: str, error: tuple[str, str] | None) -> bool:
    """End the turn that ``job`` was running; ``True`` if this call ended it."""
    try:
        request = TurnRequest.from_dict(job.args[0])
    except (IndexError, TypeError, KeyError):
        return False
    rt = RelayRuntime.from_settings(load_settings(), client=connection)
    record = rt.sessions.get(request.session)
    if record is None:
        return False
    kill_local_process_group(record.worker, record.codex_pgid)
    ended = finish_turn(rt, record, request.turn, status, error=error)
    if ended:
        log.warning("turn %s/%s ended by watchdog: %s", request.session, request.turn, status)
    return ended


def on_job_stopped(job: Any, connection: Any) -> None:
    """RQ ``on_stopped`` callback: the turn was stopped with RQ's stop command."""
    end_turn_of_job(job, connection, "cancelled", None)


def on_job_failure(job: Any, connection: Any, exc_type: Any, exc: Any, tb: Any) -> None:
    """RQ ``on_failure`` callback: the job raised or was abandoned."""
    name = getattr(exc_type, "__name__", "error")
    end_turn_of_job(
        job,
        connection,
        "failed",
        (
            f"The worker failed while running this turn ({name}). You can retry.",
            "worker_failed",
        ),
    )


def horse_killed(job: Any, retpid: Any, ret_val: Any, rusage: Any) -> None:
    """Worker hook: the work horse running ``job`` died unexpectedly."""
    end_turn_of_job(
        job,
        job.connection,
        "failed",
        (
            "The worker process running this turn was killed. You can retry.",
            "worker_killed",
        ),
    )
