"""What an operator sees: sessions, queues, workers, failures and live gauges.

Shared by the admin views (``blueprints/admin.py``) and the ``codex-relay``
CLI (``status``, ``sessions``). Everything is read from Redis; nothing here
changes state except :func:`drop_expired_index_entries`. No message text and
no run token ever appears in what these functions return.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

from .keys import QUEUE_NAME
from .runtime import RelayRuntime
from .session_store import SessionRecord

__all__ = [
    "drop_expired_index_entries",
    "failed_jobs",
    "live_gauges",
    "queue_stats",
    "session_row",
    "session_rows",
    "status_snapshot",
    "tokens_used",
    "worker_rows",
]

#: Most sessions listed at once (the index is scanned newest first).
MAX_ROWS = 1000


def tokens_used(usage: dict[str, int]) -> int:
    """Input plus output tokens of a thread's cumulative usage."""
    return int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0))


def _last_event_ts(rt: RelayRuntime, session: str) -> float | None:
    rows = rt.redis.xrevrange(rt.keys.events(session), count=1)
    if not rows:
        return None
    fields = rows[0][1]
    data = fields.get(b"e", fields.get("e"))
    try:
        return float(orjson.loads(data)["ts"])
    except (TypeError, ValueError, KeyError, orjson.JSONDecodeError):
        return None


def _progress(rt: RelayRuntime, job_id: str) -> dict[str, Any] | None:
    if not job_id:
        return None
    try:
        job = Job.fetch(job_id, connection=rt.redis)
    except NoSuchJobError:
        return None
    progress = job.meta.get("progress")
    return dict(progress) if isinstance(progress, dict) else None


def session_row(
    rt: RelayRuntime, record: SessionRecord, now: float | None = None
) -> dict[str, Any]:
    """One session as the admin views and the CLI show it."""
    now = time.time() if now is None else now
    last_event = _last_event_ts(rt, record.id) or record.last_event or None
    running = record.status == "running" and bool(record.running_turn)
    stalled = running and now - record.heartbeat > rt.settings.stale_after
    return {
        "session": record.id,
        "user": record.user,
        "runid": record.runid,
        "config": record.config,
        "status": record.status,
        "turn": record.turn,
        "running_turn": record.running_turn or None,
        "job_id": record.job_id or None,
        "worker": record.worker or None,
        "created": record.created,
        "age": max(0.0, now - record.created) if record.created else None,
        "last_event": last_event,
        "heartbeat": record.heartbeat or None,
        "stalled": stalled,
        "tokens": tokens_used(record.usage),
        "usage": record.usage,
        "progress": _progress(rt, record.job_id) if record.running_turn else None,
    }


def session_rows(
    rt: RelayRuntime, user: str | None = None, limit: int = MAX_ROWS
) -> list[dict[str, Any]]:
    """Every live session (of ``user``, if given), most recently active first."""
    now = time.time()
    rows = []
    for raw in rt.redis.zrevrange(rt.keys.sessions_index(), 0, -1):
        record = rt.sessions.get(raw.decode())
        if record is None or (user is not None and record.user != user):
            continue
        rows.append(session_row(rt, record, now))
        if len(rows) >= limit:
            break
    return rows


def drop_expired_index_entries(rt: RelayRuntime) -> list[str]:
    """Remove ids of sessions whose record expired from the indexes; return them."""
    dropped = []
    for raw in rt.redis.zrange(rt.keys.sessions_index(), 0, -1):
        if not rt.redis.exists(rt.keys.session(raw.decode())):
            rt.redis.zrem(rt.keys.sessions_index(), raw)
            dropped.append(raw.decode())
    for key in rt.redis.scan_iter(match=rt.keys.user_sessions("*"), count=500):
        for raw in rt.redis.zrange(key, 0, -1):
            if not rt.redis.exists(rt.keys.session(raw.decode())):
                rt.redis.zrem(key, raw)
    return dropped


def queue_stats(rt: RelayRuntime) -> list[dict[str, Any]]:
    """Each RQ queue with its queued, started, failed and finished counts."""
    names = {q.name for q in Queue.all(connection=rt.redis)} | {QUEUE_NAME}
    out = []
    for name in sorted(names):
        queue = Queue(name, connection=rt.redis)
        out.append(
            {
                "name": name,
                "queued": queue.count,
                "started": StartedJobRegistry(name, connection=rt.redis).get_job_count(),
                "failed": FailedJobRegistry(name, connection=rt.redis).get_job_count(),
                "finished": FinishedJobRegistry(name, connection=rt.redis).get_job_count(),
            }
        )
    return out


def worker_rows(rt: RelayRuntime) -> list[dict[str, Any]]:
    """Each live RQ worker: name, state, queues, current job, last heartbeat."""
    out = []
    for worker in Worker.all(connection=rt.redis):
        beat = worker.last_heartbeat
        out.append(
            {
                "name": worker.name,
                "state": str(worker.get_state()),
                "queues": worker.queue_names(),
                "current_job": worker.get_current_job_id(),
                "last_heartbeat": beat.timestamp() if beat else None,
            }
        )
    return sorted(out, key=lambda w: str(w["name"]))


def _describe_failure(job: Job) -> dict[str, Any]:
    args = job.args[0] if job.args and isinstance(job.args[0], dict) else {}
    result = job.latest_result()
    exc = (result.exc_string or "") if result is not None else ""
    lines = [line for line in exc.strip().splitlines() if line.strip()]
    ended = job.ended_at
    return {
        "job_id": job.id,
        "session": args.get("session"),
        "turn": args.get("turn"),
        "user": args.get("user"),
        "runid": args.get("runid"),
        "ended_at": ended.timestamp() if ended else None,
        "error": lines[-1][:300] if lines else "",
    }


def failed_jobs(rt: RelayRuntime, limit: int = 50) -> list[dict[str, Any]]:
    """The most recent failed turn jobs, newest first, with the last line of their error."""
    registry = FailedJobRegistry(QUEUE_NAME, connection=rt.redis)
    out = []
    for job_id in registry.get_job_ids(0, limit - 1, desc=True):
        try:
            out.append(_describe_failure(Job.fetch(job_id, connection=rt.redis)))
        except NoSuchJobError:
            continue
    return out


def status_snapshot(rt: RelayRuntime) -> dict[str, Any]:
    """Queues, workers, running turns and recent failures (``codex-relay status``)."""
    running = []
    for session, turn in sorted(rt.sessions.running_turns().items()):
        record = rt.sessions.get(session)
        if record is not None:
            row = session_row(rt, record)
            row["running_turn"] = turn
            running.append(row)
    return {
        "queues": queue_stats(rt),
        "workers": worker_rows(rt),
        "running_turns": running,
        "recent_failures": failed_jobs(rt, limit=10),
    }


def live_gauges(rt: RelayRuntime) -> dict[str, float]:
    """Gauges appended to the Prometheus metrics: queue depth, workers, turns, sessions."""
    gauges: dict[str, float] = {}
    for queue in queue_stats(rt):
        label = queue["name"].replace("\\", "\\\\").replace('"', '\\"')
        gauges[f'codex_relay_queue_depth{{queue="{label}"}}'] = float(queue["queued"])
        gauges[f'codex_relay_failed_jobs{{queue="{label}"}}'] = float(queue["failed"])
    gauges["codex_relay_workers"] = float(Worker.count(connection=rt.redis))
    gauges["codex_relay_running_turns"] = float(len(rt.sessions.running_turns()))
    gauges["codex_relay_sessions"] = float(rt.redis.zcard(rt.keys.sessions_index()))
    return gauges
