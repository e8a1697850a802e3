"""The relay's HTTP routes, seen by a browser through the Flask test client.

Everything is real: the demo host app, Redis, an RQ worker process running
the Codex CLI against the scripted model. Each test reads as one promise of
the contract in DESIGN.md ("HTTP routes", "Events").
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from rq import Worker

from cli.demo_app import create_app

pytestmark = pytest.mark.codex

RUN = "/runs/run-1/default/agent"


# -- helpers ---------------------------------------------------------------


def _chat(client: Any, message: str, session_id: str | None = None, run: str = RUN) -> Any:
    body: dict[str, Any] = {"message": message}
    if session_id is not None:
        body["session_id"] = session_id
    return client.post(f"{run}/chat", json=body)


def _start(
    client: Any, message: str = "#scenario:hello hi", session_id: str | None = None
) -> dict[str, Any]:
    response = _chat(client, message, session_id)
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def _frames(chunks: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    """Parse SSE frames: ``{"id", "event", "data", "comment"}`` (missing fields absent)."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while b"\n\n" in buffer:
            raw, buffer = buffer.split(b"\n\n", 1)
            frame: dict[str, Any] = {}
            for line in raw.decode().split("\n"):
                if line.startswith(":"):
                    frame["comment"] = line[1:].strip()
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "data":
                    frame["data"] = orjson.loads(value)
                else:
                    frame[name] = value
            yield frame


def _read_sse(
    client: Any, url: str, until: Any, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Frames of the events route until ``until(frame)`` is true (inclusive)."""
    response = client.get(url, headers=headers or {}, buffered=False)
    assert response.status_code == 200, response.get_data()
    assert response.mimetype == "text/event-stream"
    assert response.headers["X-Accel-Buffering"] == "no"
    out = []
    try:
        for frame in _frames(response.response):
            out.append(frame)
            if until(frame):
                break
    finally:
        response.close()
    return out


def _completed(turn: int) -> Any:
    def check(frame: dict[str, Any]) -> bool:
        data = frame.get("data")
        return (
            isinstance(data, dict)
            and data.get("type") == "turn.completed"
            and data.get("turn") == turn
        )

    return check


def _events(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f["data"] for f in frames if "id" in f and "data" in f]


def _worked(turns: Any) -> None:
    result = turns.work()
    assert result.returncode == 0, result.stdout + result.stderr


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _wait_until(check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data()
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    if code is not None:
        assert body["error"]["code"] == code
    return body


def _session_urls(session_id: str, run: str = RUN) -> list[tuple[str, str]]:
    base = f"{run}/sessions/{session_id}"
    return [("GET", base), ("GET", f"{base}/events"), ("POST", f"{base}/cancel"), ("DELETE", base)]


# -- a full turn -------------------------------------------------------------


def test_chat_answers_202_with_the_session_turn_job_and_urls(client, auth):
    auth.login("alice")
    body = _start(client)
    assert set(body) == {"session_id", "turn", "job_id", "events_url", "cancel_url"}
    sid = body["session_id"]
    assert body["turn"] == 1
    assert body["job_id"] == f"turn-{sid}-1"
    assert body["events_url"] == f"{RUN}/sessions/{sid}/events"
    assert body["cancel_url"] == f"{RUN}/sessions/{sid}/cancel"


def test_a_full_turn_is_seen_through_the_sse_route_with_event_ids_as_sse_ids(client, auth, turns):
    auth.login("alice")
    body = _start(client)
    _worked(turns)
    frames = _read_sse(client, body["events_url"], _completed(1))
    assert frames[0] == {"retry": "2000"}
    events = _events(frames)
    assert [e["type"] for e in events] == [
        "turn.queued",
        "turn.started",
        "message",
        "usage",
        "turn.completed",
    ]
    assert [f["id"] for f in frames if "id" in f] == [e["id"] for e in events]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert all(e["session"] == body["session_id"] and e["turn"] == 1 for e in events)
    assert events[-1]["status"] == "completed"
    stored = turns.events(turns.rt.sessions.get(body["session_id"]))
    assert events == stored


def test_a_follow_up_turn_continues_the_same_codex_thread(client, auth, turns):
    auth.login("alice")
    first = _start(client)
    _worked(turns)
    second = _start(client, "#scenario:hello again", first["session_id"])
    assert second["session_id"] == first["session_id"] and second["turn"] == 2
    _worked(turns)
    events = _events(_read_sse(client, second["events_url"], _completed(2)))
    started = [e for e in events if e["type"] == "turn.started"]
    assert len(started) == 2 and started[0]["thread_id"] == started[1]["thread_id"]
    assert [e["status"] for e in events if e["type"] == "turn.completed"] == [
        "completed",
        "completed",
    ]
    state = client.get(f"{RUN}/sessions/{first['session_id']}").get_json()
    assert state["turns"] == 2 and state["has_thread"] is True


def test_cancel_answers_202_and_the_turn_ends_cancelled(client, auth, turns):
    auth.login("alice")
    body = _start(client, "#scenario:stall wait forever")
    worker = turns.spawn_worker()
    try:
        record = turns.rt.sessions.get(body["session_id"])
        turns.wait_for(record, "turn.started", timeout=30)
        response = client.post(body["cancel_url"], json={})
        assert response.status_code == 202
        assert response.get_json() == {"session_id": body["session_id"], "cancelling": True}
        events = _events(_read_sse(client, body["events_url"], _completed(1)))
        assert events[-1]["type"] == "turn.completed"
        assert events[-1]["status"] == "cancelled"
    finally:
        _stop(worker)


def test_cancel_with_no_turn_running_answers_202_and_cancels_nothing(client, auth, turns):
    auth.login("alice")
    body = _start(client)
    _worked(turns)
    response = client.post(body["cancel_url"], json={})
    assert response.status_code == 202
    assert response.get_json()["cancelling"] is False


def test_delete_answers_204_then_the_session_is_gone_and_its_tokens_revoked(
    client, auth, turns, redis_client
):
    auth.login("alice")
    body = _start(client)
    _worked(turns)
    sid = body["session_id"]
    response = client.delete(f"{RUN}/sessions/{sid}")
    assert response.status_code == 204 and response.get_data() == b""
    _error(client.get(f"{RUN}/sessions/{sid}"), 404, "not_found")
    _error(client.get(f"{RUN}/sessions/{sid}/events"), 404, "not_found")
    assert redis_client.exists(f"relay:revoked:{sid}")
    ttl = redis_client.ttl(f"relay:revoked:{sid}")
    assert 0 < ttl <= 60 + 300
    assert not redis_client.exists(f"relay:events:{sid}")
    assert not redis_client.exists(f"relay:session:{sid}")


def test_deleting_a_queued_turn_ends_it_cancelled_and_frees_the_user(client, auth, redis_client):
    auth.login("alice")
    body = _start(client)
    assert client.delete(f"{RUN}/sessions/{body['session_id']}").status_code == 204
    assert redis_client.scard("relay:user-running:alice") == 0
    assert _chat(client, "#scenario:hello").status_code == 202


def test_session_list_shows_only_my_sessions_of_this_run(client, auth, app, run_dir):
    (run_dir.parent / "run-2").mkdir()
    auth.login("alice")
    mine = {_start(client)["session_id"], _start(client)["session_id"]}
    other_run = _chat(client, "#scenario:hello", run="/runs/run-2/default/agent")
    assert other_run.status_code == 202
    bob = app.test_client()
    bob.post("/demo/login", json={"user": "bob"})
    assert _chat(bob, "#scenario:hello").status_code == 202
    listed = client.get(f"{RUN}/sessions")
    assert listed.status_code == 200
    assert {s["session_id"] for s in listed.get_json()} == mine
    assert all(s["runid"] == "run-1" for s in listed.get_json())


def test_session_state_shows_status_turns_and_thread(client, auth, turns):
    auth.login("alice")
    body = _start(client)
    url = f"{RUN}/sessions/{body['session_id']}"
    queued = client.get(url).get_json()
    assert queued["status"] == "queued" and queued["running_turn"] == 1
    assert queued["has_thread"] is False
    _worked(turns)
    state = client.get(url)
    assert state.status_code == 200
    data = state.get_json()
    assert {
        "session_id",
        "runid",
        "config",
        "status",
        "turns",
        "running_turn",
        "has_thread",
        "created",
        "updated",
        "usage",
    } <= set(data)
    assert data["session_id"] == body["session_id"]
    assert (data["runid"], data["config"]) == ("run-1", "default")
    assert data["status"] == "completed" and data["turns"] == 1
    assert data["running_turn"] is None and data["has_thread"] is True
    assert data["updated"] >= data["created"] > 0
    assert "user" not in data and "run_dir" not in data


# -- health ------------------------------------------------------------------


def test_health_is_200_with_a_running_worker(client, turns, redis_client):
    worker = turns.spawn_worker()
    try:
        _wait_until(lambda: Worker.count(connection=redis_client) > 0)
        response = client.get("/agent/health")
        assert response.status_code == 200
        data = response.get_json()
        assert data["ok"] is True and data["redis"] is True
        assert data["workers"] >= 1 and data["queue_depth"] == 0
        assert data["codex"] == {"ok": True, "version": "0.169.0"}
        assert data["runner"] == "exec"
    finally:
        _stop(worker)


def test_health_reports_the_runner_and_the_version_of_the_codex_it_runs(
    make_app, turns, redis_client, monkeypatch
):
    from bootstrap.codex_binary import SUPPORTED_VERSIONS, installed_binary

    newer = installed_binary(SUPPORTED_VERSIONS[-1])
    assert newer.exists(), "run `make setup`: it installs every supported Codex version"
    monkeypatch.setenv("CODEX_RELAY_RUNNER", "app-server")
    monkeypatch.setenv("CODEX_RELAY_CODEX_BIN", str(newer))
    worker = turns.spawn_worker()
    try:
        app = make_app()
        _wait_until(lambda: Worker.count(connection=redis_client) > 0)
        data = app.test_client().get("/agent/health").get_json()
        assert data["ok"] is True and data["runner"] == "app-server"
        assert data["codex"] == {"ok": True, "version": SUPPORTED_VERSIONS[-1]}
    finally:
        _stop(worker)


def test_health_is_503_when_the_codex_cli_is_missing(relay_env, keypair, run_dir, turns):
    worker = turns.spawn_worker()
    try:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "x",
                "CODEX_RELAY_JWT_PRIVATE_KEY": keypair[0],
                "CODEX_RELAY_RUNS_ROOT": str(run_dir.parent),
                "CODEX_RELAY_CODEX_BIN": "/nonexistent/codex",
            }
        )
        _wait_until(lambda: app.test_client().get("/agent/health").get_json()["workers"] > 0)
        response = app.test_client().get("/agent/health")
        assert response.status_code == 503
        codex = response.get_json()["codex"]
        assert codex["ok"] is False and "/nonexistent/codex" in codex["error"]
    finally:
        _stop(worker)


def test_health_is_503_with_no_worker(client):
    response = client.get("/agent/health")
    assert response.status_code == 503
    data = response.get_json()
    assert data["ok"] is False and data["redis"] is True and data["workers"] == 0


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_health_is_503_when_redis_is_unreachable(relay_env, keypair, run_dir):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "CODEX_RELAY_JWT_PRIVATE_KEY": keypair[0],
            "CODEX_RELAY_RUNS_ROOT": str(run_dir.parent),
            "REDIS_URL": f"redis://127.0.0.1:{_dead_port()}/0",
        }
    )
    client = app.test_client()
    response = client.get("/agent/health")
    assert response.status_code == 503
    assert response.get_json()["redis"] is False
    client.post("/demo/login", json={"user": "alice"})
    _error(_chat(client, "hi"), 503, "unavailable")


# -- reconnecting ------------------------------------------------------------


def test_reconnect_with_last_event_id_mid_turn_loses_and_repeats_nothing(client, auth, turns):
    auth.login("alice")
    body = _start(client)
    _worked(turns)
    full = _events(_read_sse(client, body["events_url"], _completed(1)))
    first = _events(_read_sse(client, body["events_url"], lambda f: f.get("id") == full[2]["id"]))
    assert first == full[:3]
    second = _events(
        _read_sse(
            client, body["events_url"], _completed(1), headers={"Last-Event-ID": first[-1]["id"]}
        )
    )
    assert first + second == full


def test_reconnect_with_the_after_parameter_loses_and_repeats_nothing(client, auth, turns):
    auth.login("alice")
    body = _start(client)
    _worked(turns)
    full = _events(_read_sse(client, body["events_url"], _completed(1)))
    cut = full[1]["id"]
    second = _events(_read_sse(client, f"{body['events_url']}?after={cut}", _completed(1)))
    assert full[:2] + second == full


def test_reconnect_during_a_live_turn_gets_the_rest_live(client, auth, turns):
    auth.login("alice")
    body = _start(client, "#scenario:hello live")
    first = _events(_read_sse(client, body["events_url"], lambda f: "id" in f))
    assert [e["type"] for e in first] == ["turn.queued"]
    worker = turns.spawn_worker()
    try:
        second = _events(
            _read_sse(
                client,
                body["events_url"],
                _completed(1),
                headers={"Last-Event-ID": first[-1]["id"]},
            )
        )
    finally:
        _stop(worker)
    full = turns.events(turns.rt.sessions.get(body["session_id"]))
    assert first + second == full
    assert full[-1]["status"] == "completed"


def test_a_trimmed_last_event_id_gets_a_reset_then_the_whole_remaining_log(
    client, auth, redis_client
):
    auth.login("alice")
    body = _start(client)
    sid = body["session_id"]
    key = f"relay:events:{sid}"
    for n in range(2, 40):
        redis_client.xadd(
            key, {"e": orjson.dumps({"id": f"{n}-0", "type": "message"})}, id=f"{n}-0"
        )
    redis_client.xtrim(key, maxlen=10, approximate=False)
    kept = [i.decode() for i, _ in redis_client.xrange(key)]
    assert kept[0] == "30-0"
    frames = _read_sse(
        client,
        body["events_url"],
        lambda f: f.get("id") == "39-0",
        headers={"Last-Event-ID": "3-0"},
    )
    assert frames[1]["event"] == "reset"
    assert frames[1]["data"] == {"reason": "trimmed"}
    assert [f["id"] for f in frames if "id" in f] == kept


def test_an_invalid_last_event_id_is_a_400_json_error(client, auth):
    auth.login("alice")
    body = _start(client)
    _error(
        client.get(body["events_url"], headers={"Last-Event-ID": "not-an-id"}), 400, "bad_request"
    )
    _error(client.get(f"{body['events_url']}?after=1-0-0"), 400, "bad_request")


# -- who may see what -----------------------------------------------------------


def test_other_user_gets_404_for_a_session_on_every_session_route(client, auth, app):
    auth.login("alice")
    sid = _start(client)["session_id"]
    bob = app.test_client()
    bob.post("/demo/login", json={"user": "bob"})
    for method, url in _session_urls(sid):
        _error(
            bob.open(url, method=method, json={} if method == "POST" else None), 404, "not_found"
        )
    _error(_chat(bob, "#scenario:hello", sid), 404, "not_found")
    assert client.get(f"{RUN}/sessions/{sid}").status_code == 200


def test_same_session_id_under_another_run_gets_404(client, auth, run_dir):
    (run_dir.parent / "run-2").mkdir()
    auth.login("alice")
    sid = _start(client)["session_id"]
    other = "/runs/run-2/default/agent"
    for method, url in _session_urls(sid, other):
        _error(
            client.open(url, method=method, json={} if method == "POST" else None), 404, "not_found"
        )
    _error(_chat(client, "#scenario:hello", sid, run=other), 404, "not_found")
    assert client.get(f"{RUN}/sessions/{sid}").status_code == 200


def test_unauthenticated_requests_get_401(client, auth):
    auth.login("alice")
    sid = _start(client)["session_id"]
    auth.logout()
    _error(_chat(client, "hi"), 401, "not_authenticated")
    _error(client.get(f"{RUN}/sessions"), 401, "not_authenticated")
    for method, url in _session_urls(sid):
        _error(
            client.open(url, method=method, json={} if method == "POST" else None),
            401,
            "not_authenticated",
        )


def test_unknown_run_gets_404(client, auth):
    auth.login("alice")
    _error(_chat(client, "hi", run="/runs/no-such-run/default/agent"), 404, "not_found")
    _error(client.get("/runs/no-such-run/default/agent/sessions"), 404, "not_found")


# -- limits --------------------------------------------------------------------


def test_too_many_messages_a_minute_get_429_with_retry_after(make_app):
    app = make_app(CODEX_RELAY_RATE_LIMIT_PER_MINUTE=2)
    client = app.test_client()
    client.post("/demo/login", json={"user": "alice"})
    assert _chat(client, "#scenario:hello").status_code == 202
    assert _chat(client, "#scenario:hello").status_code == 202
    response = _chat(client, "#scenario:hello")
    _error(response, 429, "rate_limited")
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    other = app.test_client()
    other.post("/demo/login", json={"user": "bob"})
    assert _chat(other, "#scenario:hello").status_code == 202


def test_more_running_turns_than_allowed_get_429(make_app):
    app = make_app(CODEX_RELAY_MAX_RUNNING_TURNS=1)
    client = app.test_client()
    client.post("/demo/login", json={"user": "alice"})
    first = _chat(client, "#scenario:hello")
    assert first.status_code == 202
    response = _chat(client, "#scenario:hello")
    _error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) >= 1
    client.delete(f"{RUN}/sessions/{first.get_json()['session_id']}")
    assert _chat(client, "#scenario:hello").status_code == 202


def test_a_second_message_while_a_turn_is_queued_gets_409(client, auth):
    auth.login("alice")
    sid = _start(client)["session_id"]
    response = _chat(client, "#scenario:hello more", sid)
    _error(response, 409, "turn_in_progress")
    state = client.get(f"{RUN}/sessions/{sid}").get_json()
    assert state["turns"] == 1 and state["running_turn"] == 1
