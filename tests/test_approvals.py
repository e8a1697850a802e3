"""ApprovalBook on a real Redis: exactly one answer stands, and the log says which.

The route, the job's timeout and the end of a turn all resolve through one
Lua script that records the decision and appends ``approval.resolved`` in
the same step; these tests race them against each other.
"""

from __future__ import annotations

import threading
import time

import orjson
import pytest

from relay.approvals import Resolution
from relay.runtime import RelayRuntime
from relay.session_store import SessionRecord
from relay.turns import finish_turn


@pytest.fixture
def session(runtime: RelayRuntime) -> SessionRecord:
    record = runtime.sessions.create("alice", "run-1", "default", "edit", "/runs/run-1")
    runtime.sessions.begin_turn(record, 3)
    return runtime.sessions.get(record.id) or record


def approval(approval_id: str = "a1", expires_in: float = 300.0) -> dict:
    return {
        "id": approval_id,
        "kind": "command",
        "command": "touch x",
        "cwd": "/runs/run-1",
        "expires_at": time.time() + expires_in,
    }


def events(rt: RelayRuntime, session: SessionRecord) -> list[dict]:
    return [orjson.loads(e.data) for e in rt.events.read(session.id)]


def test_opening_an_approval_logs_approval_requested_with_the_request(runtime, session):
    asked = approval()
    runtime.approvals.open(session.id, 1, asked)
    [event] = events(runtime, session)
    assert event["type"] == "approval.requested" and event["approval"] == asked
    state = runtime.approvals.get(session.id, "a1")
    assert state is not None and state.turn == 1 and state.decision == ""
    assert state.request == asked


def test_the_first_answer_stands_and_a_second_learns_which_one(runtime, session):
    runtime.approvals.open(session.id, 1, approval())
    first = runtime.approvals.resolve(session.id, "a1", "accept", "user")
    second = runtime.approvals.resolve(session.id, "a1", "decline", "user")
    assert first == Resolution("accept", "user", won=True)
    assert second == Resolution("accept", "user", won=False)
    resolved = [e for e in events(runtime, session) if e["type"] == "approval.resolved"]
    assert len(resolved) == 1
    assert {k: resolved[0][k] for k in ("approval_id", "decision", "by")} == {
        "approval_id": "a1",
        "decision": "accept",
        "by": "user",
    }


def test_an_unknown_approval_is_none(runtime, session):
    assert runtime.approvals.resolve(session.id, "nope", "accept", "user") is None
    assert runtime.approvals.get(session.id, "nope") is None


def test_an_answer_after_the_deadline_is_the_timeouts_decline(runtime, session):
    runtime.approvals.open(session.id, 1, approval(expires_in=-1))
    assert runtime.approvals.resolve(session.id, "a1", "accept", "user") == Resolution(
        "decline", "timeout", won=True
    )
    assert events(runtime, session)[-1]["by"] == "timeout"


def test_the_deadline_does_not_hold_back_a_cancel(runtime, session):
    runtime.approvals.open(session.id, 1, approval(expires_in=-1))
    assert runtime.approvals.resolve(session.id, "a1", "decline", "cancel").by == "cancel"


def test_ending_the_turn_declines_what_is_still_waiting_before_turn_completed(runtime, session):
    runtime.approvals.open(session.id, 1, approval("a1"))
    runtime.approvals.open(session.id, 1, approval("a2"))
    runtime.approvals.resolve(session.id, "a1", "accept", "user")
    assert runtime.approvals.unresolved(session.id, 1) == ["a2"]
    finish_turn(runtime, session, 1, "cancelled")
    tail = [(e["type"], e.get("approval_id"), e.get("by")) for e in events(runtime, session)]
    assert tail[-2:] == [("approval.resolved", "a2", "cancel"), ("turn.completed", None, None)]
    assert runtime.approvals.unresolved(session.id, 1) == []


def test_many_answers_at_once_exactly_one_wins(runtime, session):
    runtime.approvals.open(session.id, 1, approval())
    results: list[Resolution | None] = []
    barrier = threading.Barrier(12)

    def answer(i: int) -> None:
        barrier.wait()
        decision, by = [("accept", "user"), ("decline", "user"), ("decline", "cancel")][i % 3]
        results.append(runtime.approvals.resolve(session.id, "a1", decision, by))

    threads = [threading.Thread(target=answer, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r is not None and r.won]
    assert len(winners) == 1
    assert {(r.decision, r.by) for r in results if r is not None} == {
        (winners[0].decision, winners[0].by)
    }
    assert [e["type"] for e in events(runtime, session)].count("approval.resolved") == 1


def test_a_decision_for_a_deleted_session_is_recorded_but_logs_nothing(runtime, session):
    runtime.approvals.open(session.id, 1, approval())
    runtime.sessions.delete(session)
    resolution = runtime.approvals.resolve(session.id, "a1", "accept", "user")
    assert resolution is not None and resolution.won
    assert [e["type"] for e in events(runtime, session)] == ["approval.requested"]
