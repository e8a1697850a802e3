"""A deleted session stays deleted, whatever writes race the delete (real Redis, real threads).

Before every session write was made conditional, an update or a cancel
landing just after a delete recreated a partial session record (no user, no
run), and the next read of it crashed the event stream with a ``TypeError``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from redis_versions import EACH_REDIS

from relay.turns import cancel_turn, delete_session, finish_turn

pytestmark = EACH_REDIS

ITERATIONS = 150


def _race(*actions: Any) -> list[BaseException]:
    """Run ``actions`` at once, each in its own thread; the exceptions they raised."""
    barrier = threading.Barrier(len(actions))
    failures: list[BaseException] = []

    def run(action: Any) -> None:
        barrier.wait()
        try:
            action()
        except BaseException as exc:  # collected and reported by the test
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return failures


def test_delete_racing_cancel_update_and_heartbeat_leaves_no_partial_record(
    runtime, run_dir, redis_client
):
    for _ in range(ITERATIONS):
        created = runtime.sessions.create("alice", run_dir.name, "default", "edit", str(run_dir))
        runtime.sessions.begin_turn(created, max_running=ITERATIONS + 1)
        record = runtime.sessions.get(created.id)
        assert record is not None and record.running_turn == 1

        def cancel(record: Any = record) -> None:
            for _ in range(5):
                cancel_turn(runtime, record)

        def update(session: str = record.id) -> None:
            for _ in range(5):
                runtime.sessions.update(session, status="running", heartbeat=time.time())

        def finish(record: Any = record) -> None:
            finish_turn(runtime, record, 1, "cancelled")

        failures = _race(lambda r=record: delete_session(runtime, r), cancel, update, finish)
        assert failures == []
        assert not redis_client.exists(f"relay:session:{record.id}")
        assert runtime.sessions.get(record.id) is None
        assert not redis_client.exists(f"relay:events:{record.id}")
        assert record.id.encode() not in redis_client.zrange("relay:sessions", 0, -1)


def test_an_update_of_a_deleted_session_writes_nothing_and_says_so(runtime, run_dir, redis_client):
    record = runtime.sessions.create("alice", run_dir.name, "default", "edit", str(run_dir))
    assert runtime.sessions.update(record.id, status="running") is True
    assert runtime.sessions.get(record.id).status == "running"
    delete_session(runtime, runtime.sessions.get(record.id))
    assert runtime.sessions.update(record.id, status="running") is False
    assert not redis_client.exists(f"relay:session:{record.id}")


def test_cancelling_a_deleted_session_does_not_bring_it_back(runtime, run_dir, redis_client):
    record = runtime.sessions.create("alice", run_dir.name, "default", "edit", str(run_dir))
    runtime.sessions.begin_turn(record, max_running=3)
    stale = runtime.sessions.get(record.id)
    delete_session(runtime, stale)
    assert cancel_turn(runtime, stale) is True  # the caller's copy still says a turn runs
    assert not redis_client.exists(f"relay:session:{record.id}")


def test_a_turn_cannot_begin_in_a_deleted_session(runtime, run_dir, redis_client):
    from relay.errors import NotFound

    record = runtime.sessions.create("alice", run_dir.name, "default", "edit", str(run_dir))
    delete_session(runtime, record)
    with pytest.raises(NotFound):
        runtime.sessions.begin_turn(record, max_running=3)
    assert not redis_client.exists(f"relay:session:{record.id}")
    assert record.id.encode() not in redis_client.zrange("relay:user-sessions:alice", 0, -1)


def test_a_partial_record_left_by_older_code_reads_as_no_session(runtime, redis_client):
    redis_client.hset("relay:session:partial", mapping={"cancel_requested": "1.5"})
    assert runtime.sessions.get("partial") is None
