"""The approvals route: the session's owner answers, exactly one answer stands.

The approvals here are opened the way the job opens them
(``ApprovalBook.open``) on a session whose turn the route started; a real
app-server turn answering through this route is in ``test_live_turns.py``.
Only Redis and the Flask test client take part: what is tested is the
route's contract (DESIGN.md, "HTTP routes").
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

RUN = "/runs/run-1/default/agent"
ANSWERS_CHANNEL = "agent_chat-{sid}"


@pytest.fixture
def app_server_app(make_app, monkeypatch):
    """The demo app with the app-server runner configured (approvals need it)."""
    monkeypatch.setenv("CODEX_RELAY_RUNNER", "app-server")
    return make_app()


@pytest.fixture
def owner(app_server_app) -> Any:
    client = app_server_app.test_client()
    assert client.post("/demo/login", json={"user": "alice"}).status_code == 200
    return client


def started_session(client: Any, runtime) -> tuple[str, int]:
    answer = client.post(f"{RUN}/chat", json={"message": "#scenario:hello"})
    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    return body["session_id"], body["turn"]


def open_approval(
    runtime, sid: str, turn: int, approval_id: str = "0123456789abcdef", **more
) -> dict:
    approval = {
        "id": approval_id,
        "kind": "command",
        "command": "touch x",
        "cwd": "/run",
        "expires_at": time.time() + more.pop("expires_in", 300),
        **more,
    }
    runtime.approvals.open(sid, turn, approval)
    return approval


def url(sid: str, approval_id: str = "0123456789abcdef") -> str:
    return f"{RUN}/sessions/{sid}/approvals/{approval_id}"


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data()
    body = response.get_json()
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


def test_the_owner_accepts_and_the_job_is_told(owner, runtime, redis_client):
    sid, turn = started_session(owner, runtime)
    open_approval(runtime, sid, turn)
    listener = redis_client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(ANSWERS_CHANNEL.format(sid=sid))
    answer = owner.post(url(sid), json={"decision": "accept"})
    assert answer.status_code == 200
    assert answer.get_json() == {"approval_id": "0123456789abcdef", "decision": "accept"}
    notice = None
    while notice is None:
        notice = listener.get_message(timeout=2)
    assert orjson.loads(notice["data"]) == {
        "type": "approval",
        "session": sid,
        "approval_id": "0123456789abcdef",
    }
    resolved = [orjson.loads(e.data) for e in runtime.events.read(sid)][-1]
    assert resolved["type"] == "approval.resolved"
    assert (resolved["decision"], resolved["by"], resolved["turn"]) == ("accept", "user", turn)


def test_a_decline_stands_too(owner, runtime):
    sid, turn = started_session(owner, runtime)
    open_approval(runtime, sid, turn)
    assert owner.post(url(sid), json={"decision": "decline"}).get_json()["decision"] == "decline"


def test_a_second_answer_gets_409_naming_the_answer_that_stood(owner, runtime):
    sid, turn = started_session(owner, runtime)
    open_approval(runtime, sid, turn)
    owner.post(url(sid), json={"decision": "decline"})
    body = error(owner.post(url(sid), json={"decision": "accept"}), 409, "already_resolved")
    assert (body["decision"], body["by"]) == ("decline", "user")
    assert "decline" in body["message"]


def test_an_answer_after_the_deadline_gets_409_and_the_timeouts_decline(owner, runtime):
    sid, turn = started_session(owner, runtime)
    open_approval(runtime, sid, turn, expires_in=-1)
    body = error(owner.post(url(sid), json={"decision": "accept"}), 409, "already_resolved")
    assert (body["decision"], body["by"]) == ("decline", "timeout")


def test_an_answer_after_the_turn_was_stopped_gets_409_cancel(owner, runtime):
    sid, turn = started_session(owner, runtime)
    open_approval(runtime, sid, turn)
    owner.post(f"{RUN}/sessions/{sid}/cancel", json={})  # a queued turn ends at once
    body = error(owner.post(url(sid), json={"decision": "accept"}), 409, "already_resolved")
    assert (body["decision"], body["by"]) == ("decline", "cancel")


def test_another_users_answer_is_404_and_changes_nothing(owner, runtime, app_server_app):
    sid, turn = started_session(owner, runtime)
    open_approval(runtime, sid, turn)
    mallory = app_server_app.test_client()
    mallory.post("/demo/login", json={"user": "mallory"})
    error(mallory.post(url(sid), json={"decision": "accept"}), 404, "not_found")
    assert runtime.approvals.get(sid, "0123456789abcdef").decision == ""
    # The owner's own answer still works: the refusal was about who asked.
    assert owner.post(url(sid), json={"decision": "accept"}).status_code == 200


def test_without_a_login_it_is_401(app_server_app, owner, runtime):
    sid, turn = started_session(owner, runtime)
    open_approval(runtime, sid, turn)
    anonymous = app_server_app.test_client()
    error(anonymous.post(url(sid), json={"decision": "accept"}), 401, "not_authenticated")


def test_an_approval_of_another_session_of_the_same_user_is_404(owner, runtime):
    sid, turn = started_session(owner, runtime)
    other_sid, other_turn = started_session(owner, runtime)
    open_approval(runtime, other_sid, other_turn)
    error(owner.post(url(sid), json={"decision": "accept"}), 404, "not_found")
    assert runtime.approvals.get(other_sid, "0123456789abcdef").decision == ""


HOSTILE_IDS = [
    "ffffffffffffffff",  # well formed, never opened
    "0123456789ABCDEF",  # upper case
    "0123456789abcde",  # too short
    "0123456789abcdef0",  # too long
    "..%2F..%2Fetc",
    "%00" * 8,
    "x" * 300,
]


@pytest.mark.parametrize("approval_id", HOSTILE_IDS)
def test_unknown_or_malformed_approval_ids_are_404(owner, runtime, approval_id):
    sid, turn = started_session(owner, runtime)
    open_approval(runtime, sid, turn)
    error(owner.post(url(sid, approval_id), json={"decision": "accept"}), 404, "not_found")
    assert runtime.approvals.get(sid, "0123456789abcdef").decision == ""


HOSTILE_BODIES = [
    pytest.param({"json": {}}, id="no decision"),
    pytest.param({"json": {"decision": "yes"}}, id="unknown decision"),
    pytest.param({"json": {"decision": "ACCEPT"}}, id="upper case"),
    pytest.param({"json": {"decision": "cancel"}}, id="codex's own cancel"),
    pytest.param({"json": {"decision": True}}, id="boolean"),
    pytest.param({"json": {"decision": ["accept"]}}, id="list"),
    pytest.param({"json": {"decision": "accept", "by": "timeout"}}, id="forged by"),
    pytest.param({"json": ["accept"]}, id="array body"),
    pytest.param({"data": b"{not json", "content_type": "application/json"}, id="bad json"),
    pytest.param(
        {"data": b'{"decision": "accept"}', "content_type": "text/plain"}, id="not json type"
    ),
    pytest.param(
        {
            "data": b'{"decision": "accept", "x": "' + b"a" * 70_000 + b'"}',
            "content_type": "application/json",
        },
        id="too large",
    ),
]


@pytest.mark.parametrize("kwargs", HOSTILE_BODIES)
def test_a_bad_body_is_400_and_decides_nothing(owner, runtime, kwargs):
    sid, turn = started_session(owner, runtime)
    open_approval(runtime, sid, turn)
    response = owner.post(url(sid), **kwargs)
    assert response.status_code == 400, response.get_data()
    assert response.get_json()["error"]["code"] in ("bad_request", "body_too_large")
    assert runtime.approvals.get(sid, "0123456789abcdef").decision == ""
    assert owner.post(url(sid), json={"decision": "accept"}).status_code == 200


def test_get_is_not_allowed(owner, runtime):
    sid, turn = started_session(owner, runtime)
    assert owner.get(url(sid)).status_code == 405


# -- the policy a turn starts with ------------------------------------------


def test_the_turn_carries_the_configured_approval_policy(owner, runtime, monkeypatch):
    from rq import Queue

    sid, turn = started_session(owner, runtime)
    job = Queue("codex-relay", connection=runtime.redis).fetch_job(f"turn-{sid}-{turn}")
    assert job.args[0]["approval_policy"] == "never"


def test_a_host_callback_chooses_the_policy_per_user_run_and_tier(make_app, monkeypatch, runtime):
    from rq import Queue

    from blueprints.state import relay_state

    monkeypatch.setenv("CODEX_RELAY_RUNNER", "app-server")
    app = make_app()
    seen = []

    def policy(user: str, runid: str, tier: str) -> str | None:
        seen.append((user, runid, tier))
        return "on-request" if user == "carol" else None

    with app.app_context():
        relay_state().policy.approval_policy_loader = policy
    jobs = {}
    for user in ("carol", "dave"):
        client = app.test_client()
        client.post("/demo/login", json={"user": user})
        body = client.post(f"{RUN}/chat", json={"message": "hi"}).get_json()
        job = Queue("codex-relay", connection=runtime.redis).fetch_job(body["job_id"])
        jobs[user] = job.args[0]["approval_policy"]
    assert jobs == {"carol": "on-request", "dave": "never"}
    assert seen == [("carol", "run-1", "edit"), ("dave", "run-1", "edit")]


def test_the_web_side_starts_no_exec_turn_that_would_need_approvals(make_app, monkeypatch, runtime):
    monkeypatch.setenv("CODEX_RELAY_APPROVAL_POLICY", "on-request")  # runner: exec (default)
    app = make_app()
    web = app.test_client()
    web.post("/demo/login", json={"user": "alice"})
    body = error(web.post(f"{RUN}/chat", json={"message": "hi"}), 500, "config_error")
    assert "app-server" in body["message"]
    assert runtime.sessions.running_turns() == {}


def test_a_host_callback_answering_nonsense_is_a_config_error_not_never(make_app):
    from blueprints.state import relay_state

    app = make_app()
    with app.app_context():
        relay_state().policy.approval_policy_loader = lambda u, r, t: "always"
    web = app.test_client()
    web.post("/demo/login", json={"user": "alice"})
    body = error(web.post(f"{RUN}/chat", json={"message": "hi"}), 500, "config_error")
    assert "approval_policy_loader" in body["message"]
