"""The admin views: who may see and act, stop and requeue real turns, metrics, RQ dashboard.

The host app is the demo app with an ``admin_authorizer`` granting roles:
``root`` is an admin, ``watcher`` a viewer, ``legacy`` gets ``True`` (the
old boolean contract, meaning admin) and everyone else nothing. Turns run
in real worker processes against the scripted model.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from rq.job import Job
from rq.registry import FailedJobRegistry

from relay.keys import QUEUE_NAME

pytestmark = pytest.mark.codex

ROLES = {"root": "admin", "watcher": "viewer", "legacy": True, "alice": None}
ACTION = {"Content-Type": "application/json"}
VIEWS = ["/agent/admin/", "/agent/admin/sessions.json", "/agent/admin/metrics", "/agent/admin/rq/"]


@pytest.fixture
def app(app):
    """The demo app with role-granting admin policy."""

    def role(user):
        return ROLES.get(user)

    app.extensions["codex_relay"].policy.admin_authorizer = role
    return app


@pytest.fixture
def worker(turns):
    """A long-running real worker process; stopped after the test."""
    proc = turns.spawn_worker()
    yield proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid and stat[0] != b"Z":
                found.append(int(entry))
    return found


def _fail_a_turn(turns, devmodel, worker, session, scenario: str) -> tuple[int, str]:
    """Run a stalling turn and SIGKILL its work horse: RQ fails the job. ``(turn, job_id)``."""
    devmodel.add_scenario(scenario, [{"stall": 60}])
    turn = turns.start(session, f"#scenario:{scenario} please")
    turns.wait_for(session, "turn.started", turn=turn)
    horses = _children(worker.pid)
    assert len(horses) == 1, horses
    os.kill(horses[0], signal.SIGKILL)
    final = turns.wait_for(session, "turn.completed", turn=turn)
    assert final["status"] == "failed"
    job_id = f"turn-{session.id}-{turn}"
    registry = FailedJobRegistry(QUEUE_NAME, connection=turns.rt.redis)
    deadline = time.monotonic() + 10
    while job_id not in registry.get_job_ids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job_id in registry.get_job_ids()
    return turn, job_id


@pytest.mark.parametrize("path", VIEWS)
def test_anonymous_caller_is_refused_with_401(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("path", VIEWS)
def test_user_without_an_admin_role_is_refused_with_403(client, auth, path):
    auth.login("alice")
    response = client.get(path)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_default_policy_denies_everyone(relay_env, keypair, run_dir):
    from flask import Flask, session

    from blueprints.extension import CodexRelay

    app = Flask(__name__)
    app.config.update(SECRET_KEY="s", CODEX_RELAY_JWT_PRIVATE_KEY=keypair[0])
    relay = CodexRelay()
    relay.user_loader(lambda: session.get("user"))
    relay.init_app(app)

    @app.post("/login")
    def login():
        session["user"] = "root"
        return ""

    client = app.test_client()
    client.post("/login")
    for path in VIEWS:
        assert client.get(path).status_code == 403, path


def test_admin_views_can_be_switched_off(relay_env, keypair, run_dir):
    from cli.demo_app import create_app

    app = create_app(
        {
            "SECRET_KEY": "s",
            "CODEX_RELAY_JWT_PRIVATE_KEY": keypair[0],
            "CODEX_RELAY_RUNS_ROOT": str(run_dir.parent),
            "CODEX_RELAY_ADMIN_ENABLED": "false",
        }
    )
    client = app.test_client()
    client.post("/demo/login", json={"user": "admin"})
    assert client.get("/agent/admin/sessions.json").status_code == 404
    assert client.get("/agent/admin/rq/").status_code == 404


@pytest.mark.parametrize("user", ["watcher", "root", "legacy"])
def test_viewers_and_admins_see_every_session(client, auth, turns, user):
    alice = turns.new_session("alice")
    bob = turns.new_session("bob")
    auth.login(user)
    body = client.get("/agent/admin/sessions.json").get_json()
    assert body["role"] == ("viewer" if user == "watcher" else "admin")
    rows = {row["session"]: row for row in body["sessions"]}
    assert set(rows) == {alice.id, bob.id}
    row = rows[alice.id]
    assert row["user"] == "alice" and row["runid"] == turns.run_dir.name
    assert row["status"] == "idle" and row["stalled"] is False and row["tokens"] == 0
    page = client.get("/agent/admin/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert alice.id in page.get_data(as_text=True)


def test_admin_views_show_each_users_usage_against_the_limits(client, auth, turns):
    from relay.fair_use import FairUse

    turns.new_session("alice")
    turns.new_session("alice")
    turns.new_session("bob")
    FairUse(turns.rt).add_tokens("bob", 12_345)
    auth.login("watcher")
    usage = {u["user"]: u for u in client.get("/agent/admin/sessions.json").get_json()["usage"]}
    assert set(usage) == {"alice", "bob"}
    assert usage["alice"]["sessions"] == 2 and usage["alice"]["max_sessions"] == 50
    assert usage["bob"]["tokens_today"] == 12_345
    assert usage["bob"]["daily_token_budget"] == 5_000_000
    page = client.get("/agent/admin/").get_data(as_text=True)
    assert "Usage against the limits" in page
    assert "2 / 50" in page and "12,345 / 5,000,000" in page and "/ 256.0 MiB" in page


def test_sessions_page_escapes_what_users_control(client, auth, turns):
    turns.rt.sessions.create("<script>x</script>", "run-1", "default", "read", "/tmp")
    auth.login("root")
    page = client.get("/agent/admin/").get_data(as_text=True)
    assert "<script>x</script>" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page


def test_viewer_cannot_act(client, auth, turns):
    session = turns.new_session()
    auth.login("watcher")
    for path in (
        f"/agent/admin/sessions/{session.id}/stop",
        f"/agent/admin/sessions/{session.id}/delete",
        f"/agent/admin/jobs/turn-{session.id}-1/requeue",
    ):
        response = client.post(path, json={})
        assert response.status_code == 403, path
        assert "viewer" in response.get_json()["error"]["message"]
    assert turns.rt.sessions.get(session.id) is not None


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"data": "x=1", "content_type": "application/x-www-form-urlencoded"},
        {"data": "{}", "content_type": "text/plain"},
    ],
)
def test_admin_action_without_json_or_header_is_refused_as_csrf(client, auth, turns, kwargs):
    session = turns.new_session()
    auth.login("root")
    response = client.post(f"/agent/admin/sessions/{session.id}/delete", **kwargs)
    assert response.status_code == 403
    assert "CSRF" in response.get_json()["error"]["message"]
    assert turns.rt.sessions.get(session.id) is not None


def test_admin_deletes_a_session_with_the_custom_header(client, auth, turns):
    session = turns.new_session()
    auth.login("root")
    response = client.post(
        f"/agent/admin/sessions/{session.id}/delete", headers={"X-Codex-Relay-Admin": "1"}
    )
    assert response.status_code == 200 and response.get_json()["deleted"] is True
    assert turns.rt.sessions.get(session.id) is None
    assert client.post("/agent/admin/sessions/" + "0" * 32 + "/delete", json={}).status_code == 404


def test_admin_stops_a_real_running_turn(client, auth, turns, devmodel, worker):
    devmodel.add_scenario("stall_admin", [{"stall": 60}])
    session = turns.new_session()
    turn = turns.start(session, "#scenario:stall_admin")
    turns.wait_for(session, "turn.started", turn=turn)
    auth.login("root")
    rows = client.get("/agent/admin/sessions.json").get_json()["sessions"]
    assert rows[0]["status"] == "running" and rows[0]["running_turn"] == turn
    assert rows[0]["job_id"] == f"turn-{session.id}-{turn}" and rows[0]["stalled"] is False
    # The dashboard lists the running job, but never its run token.
    workers = client.get("/agent/admin/rq/0/data/workers.json")
    assert workers.status_code == 200
    token = Job.fetch(f"turn-{session.id}-{turn}", connection=turns.rt.redis).args[0]["token"]
    assert token not in workers.get_data(as_text=True)

    response = client.post(f"/agent/admin/sessions/{session.id}/stop", json={})
    assert response.status_code == 202 and response.get_json()["stopping"] is True
    final = turns.wait_for(session, "turn.completed", turn=turn)
    assert final["status"] == "cancelled"


def test_stalled_running_turn_is_flagged(client, auth, turns):
    session = turns.new_session()
    turns.rt.sessions.update(
        session.id, status="running", running_turn=1, turn=1, heartbeat=time.time() - 3600
    )
    auth.login("watcher")
    row = client.get("/agent/admin/sessions.json").get_json()["sessions"][0]
    assert row["stalled"] is True
    assert "stalled" in client.get("/agent/admin/").get_data(as_text=True)


def test_admin_requeues_a_real_failed_turn_as_a_new_turn(client, auth, turns, devmodel, worker):
    session = turns.new_session()
    turn, job_id = _fail_a_turn(turns, devmodel, worker, session, "flaky_once")
    auth.login("root")
    failures = client.get("/agent/admin/sessions.json").get_json()["failed_jobs"]
    assert [f["job_id"] for f in failures] == [job_id]
    assert failures[0]["session"] == session.id and "token" not in failures[0]

    devmodel.add_scenario("flaky_once", [{"say": "recovered"}])  # the model is back
    response = client.post(f"/agent/admin/jobs/{job_id}/requeue", json={})
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["turn"] == turn + 1 and body["failed_turn"] == turn
    assert "new turn" in body["message"] or "Started turn" in body["message"]
    final = turns.wait_for(session, "turn.completed", turn=turn + 1)
    assert final["status"] == "completed"
    queued = [e for e in turns.events(session, turn + 1) if e["type"] == "turn.queued"]
    assert queued[0]["message"] == "#scenario:flaky_once please"
    assert any(
        e["type"] == "message" and "recovered" in e["text"] for e in turns.events(session, turn + 1)
    )
    # The failed job is gone, so it cannot be retried twice.
    assert client.post(f"/agent/admin/jobs/{job_id}/requeue", json={}).status_code == 404


def test_requeue_is_refused_when_the_session_has_moved_on(client, auth, turns, devmodel, worker):
    session = turns.new_session()
    turn, job_id = _fail_a_turn(turns, devmodel, worker, session, "flaky_twice")
    later = turns.start(session, "#scenario:hello")
    turns.wait_for(session, "turn.completed", turn=later)
    auth.login("root")
    response = client.post(f"/agent/admin/jobs/{job_id}/requeue", json={})
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "requeue_refused" and "moved on" in error["message"]
    assert turns.rt.sessions.get(session.id).turn == later


def test_rq_dashboard_requeue_is_refused_in_favour_of_the_sessions_page(client, auth):
    auth.login("root")
    response = client.post(
        "/agent/admin/rq/job/turn-x-1/requeue", headers={"X-Requested-With": "XMLHttpRequest"}
    )
    assert response.status_code == 409
    assert "sessions page" in response.get_json()["error"]["message"]


def test_rq_dashboard_is_reachable_for_admins_and_viewers_only(client, auth):
    auth.login("root")
    page = client.get("/agent/admin/rq/")
    assert page.status_code == 200 and b"RQ" in page.data
    assert client.get("/agent/admin/rq/0/data/queues.json").status_code == 200
    auth.login("watcher")
    assert client.get("/agent/admin/rq/0/data/queues.json").status_code == 200
    delete = client.post(
        "/agent/admin/rq/job/nope/delete", headers={"X-Requested-With": "XMLHttpRequest"}
    )
    assert delete.status_code == 403
    auth.login("root")
    forged = client.post("/agent/admin/rq/job/nope/delete")
    assert forged.status_code == 403 and "CSRF" in forged.get_json()["error"]["message"]
    auth.login("alice")
    assert client.get("/agent/admin/rq/0/data/queues.json").status_code == 403
    auth.logout()
    assert client.get("/agent/admin/rq/0/data/queues.json").status_code == 401


_SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"'
    r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? -?[0-9.e+Inf-]+$'
)


def test_metrics_are_prometheus_text_with_counts_after_a_real_turn(client, auth, turns):
    session = turns.new_session()
    turns.start(session, "#scenario:hello")
    assert turns.work().returncode == 0
    auth.login("watcher")
    response = client.get("/agent/admin/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        assert _SAMPLE.match(line), line
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    assert samples['codex_relay_turns_total{status="completed"}'] == 1
    assert samples["codex_relay_turn_duration_seconds_count"] == 1
    assert samples['codex_relay_queue_depth{queue="codex-relay"}'] == 0
    assert samples["codex_relay_sessions"] == 1
    assert "codex_relay_running_turns" in samples and "codex_relay_workers" in samples
