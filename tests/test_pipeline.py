"""End to end: a queued turn runs the real Codex CLI in a real RQ worker.

Each test enqueues a turn as the web route does, runs a real worker process
(``codex-relay worker``) against the scripted model (``devmodel``),
and asserts on the exact events in the session's Redis Stream.

Every test runs under both runners (``exec`` and ``app-server``, warm start
on) and against every supported Codex release: the same promises hold for
each. What only the app-server can do (live text, approvals, interrupt) is
in ``test_live_turns.py``.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
import redis
from processes import wait_gone

from bootstrap.codex_binary import CODEX_VERSION, SUPPORTED_VERSIONS, installed_binary
from bootstrap.codex_command import codex_package_dir
from cli.embedded_redis import EmbeddedRedis
from relay.reaper import reap_stale_turns
from relay.turns import cancel_turn

pytestmark = pytest.mark.codex

MATRIX = [(runner, version) for version in SUPPORTED_VERSIONS for runner in ("exec", "app-server")]


@pytest.fixture(autouse=True, params=MATRIX, ids=[f"{r}-{v}" for r, v in MATRIX])
def runner(request, relay_env, codex_bin, monkeypatch) -> str:
    """Run the test's workers with this runner and Codex release; the runner's name."""
    name, version = request.param
    binary = codex_bin if version == CODEX_VERSION else str(installed_binary(version))
    assert Path(binary).exists(), f"Codex {version} is missing: run `make setup`"
    monkeypatch.setenv("CODEX_RELAY_RUNNER", name)
    monkeypatch.setenv("CODEX_RELAY_CODEX_BIN", binary)
    return name


def _live(runner: str, *types: str) -> list[str]:
    """The event types of a text-only turn: app-server streams the message's deltas first."""
    return [t for t in types if runner == "app-server" or not t.endswith(".delta")]


def _only(events, type_):
    found = [e for e in events if e["type"] == type_]
    assert len(found) == 1, [e["type"] for e in events]
    return found[0]


def test_plain_answer_streams_message_usage_and_one_final_event(turns, runner):
    session = turns.new_session()
    turn = turns.start(session, "#scenario:hello say hi")
    result = turns.work()
    assert result.returncode == 0, result.stdout + result.stderr
    events = [e for e in turns.events(session) if e["type"] != "message.delta"]
    deltas = [e for e in turns.events(session) if e["type"] == "message.delta"]
    assert [e["type"] for e in events] == [
        "turn.queued",
        "turn.started",
        "message",
        "usage",
        "turn.completed",
    ]
    every = turns.events(session)
    assert [e["seq"] for e in every] == list(range(1, len(every) + 1))
    assert [e["id"] for e in every] == [f"{n}-0" for n in range(1, len(every) + 1)]
    assert events[0]["message"] == "#scenario:hello say hi"
    assert events[1]["thread_id"]
    assert "Hello" in events[2]["text"] and events[2]["item_id"]
    # Under app-server the text also came live, and the deltas add up to it.
    assert bool(deltas) is (runner == "app-server")
    if deltas:
        assert "".join(d["delta"] for d in deltas) == events[2]["text"]
        assert {d["item_id"] for d in deltas} == {events[2]["item_id"]}
    assert events[3]["input_tokens"] > 0
    assert events[3]["thread_total"]["input_tokens"] == events[3]["input_tokens"]
    assert events[-1]["status"] == "completed" and events[-1]["turn"] == turn
    assert events[-1]["duration_ms"] >= 0
    record = turns.rt.sessions.get(session.id)
    assert record.running_turn == 0 and record.status == "completed"


def test_every_event_is_also_published_on_the_agent_response_channel(turns, redis_client):
    session = turns.new_session()
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(f"agent_response-{session.id}")
    turns.start(session, "#scenario:hello")
    turns.work()
    published = []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message is not None:
            published.append(message["data"])
    stored = [e.data for e in turns.rt.events.read(session.id)]
    assert published == stored


def test_shell_command_becomes_a_command_tool_card(turns, devmodel):
    devmodel.add_scenario("echo42", [{"shell": "echo relay-$((6*7))"}, {"say": "done"}])
    session = turns.new_session()
    turns.start(session, "#scenario:echo42")
    turns.work()
    events = turns.events(session)
    started = _only(events, "tool.started")["tool"]
    completed = _only(events, "tool.completed")["tool"]
    assert started["kind"] == "command" and started["status"] == "in_progress"
    assert started["id"] == completed["id"]
    assert "echo relay-" in completed["command"]
    assert completed["output"].strip() == "relay-42"
    assert completed["exit_code"] == 0 and completed["status"] == "completed"
    assert completed["duration_ms"] >= 0
    assert events[-1]["status"] == "completed"


def test_reasoning_summary_becomes_a_reasoning_event(turns):
    session = turns.new_session()
    turns.start(session, "#scenario:reasoning")
    turns.work()
    events = turns.events(session)
    assert _only(events, "reasoning")["text"]
    assert events[-1]["status"] == "completed"


def test_long_command_output_is_truncated_with_a_marker(turns, devmodel, monkeypatch):
    monkeypatch.setenv("CODEX_RELAY_MAX_FIELD_CHARS", "1000")
    devmodel.add_scenario("seq", [{"shell": "seq 1 50000"}, {"say": "ok"}])
    session = turns.new_session()
    turns.start(session, "#scenario:seq")
    turns.work()
    tool = _only(turns.events(session), "tool.completed")["tool"]
    assert tool["truncated"] is True
    assert len(tool["output"]) == 1000


@pytest.mark.parametrize("status", [500, 401])
def test_model_http_error_fails_the_turn_with_an_error_event(turns, devmodel, status):
    devmodel.add_scenario(f"http{status}", [{"http_error": status}])
    session = turns.new_session()
    turns.start(session, f"#scenario:http{status}")
    turns.work()
    events = turns.events(session)
    errors = [e for e in events if e["type"] == "error"]
    assert len(errors) == 1  # Codex says it twice (error, turn.failed); the user sees it once
    assert str(status) in errors[0]["message"] or "demand" in errors[0]["message"]
    assert events[-1]["type"] == "turn.completed" and events[-1]["status"] == "failed"
    assert [e["type"] for e in events].count("turn.completed") == 1


def test_model_stall_ends_the_turn_with_an_idle_timeout(turns, devmodel):
    devmodel.add_scenario("stall60", [{"stall": 60}])
    session = turns.new_session()
    turns.start(session, "#scenario:stall60")
    turns.work({"CODEX_RELAY_IDLE_TIMEOUT": "2"})
    events = turns.events(session)
    assert events[-1]["status"] == "timeout"
    assert _only(events, "error")["code"] == "idle_timeout"


def test_turn_over_its_time_limit_is_stopped_and_leaves_no_process(turns, devmodel):
    devmodel.add_scenario("sleepy", [{"shell": "sleep 31.25", "timeout_ms": 60000}])
    session = turns.new_session()
    turns.start(session, "#scenario:sleepy")
    turns.work({"CODEX_RELAY_TURN_TIMEOUT": "3"})
    events = turns.events(session)
    assert events[-1]["status"] == "timeout"
    assert _only(events, "error")["code"] == "timeout"
    assert wait_gone("sleep 31.25")


def test_cancel_mid_command_stops_codex_and_its_command(turns, devmodel):
    devmodel.add_scenario("sleepy2", [{"shell": "sleep 32.5", "timeout_ms": 60000}])
    worker = turns.spawn_worker()
    try:
        session = turns.new_session()
        turns.start(session, "#scenario:sleepy2")
        turns.wait_for(session, "tool.started")
        record = turns.rt.sessions.get(session.id)
        assert record.status == "running"
        assert cancel_turn(turns.rt, record) is True
        final = turns.wait_for(session, "turn.completed")
        assert final["status"] == "cancelled"
        assert wait_gone("sleep 32.5")
        assert turns.rt.sessions.get(session.id).running_turn == 0
    finally:
        worker.terminate()
        worker.wait(10)


def test_cancel_before_a_worker_picks_the_turn_up_ends_it_at_once(turns):
    session = turns.new_session()
    turns.start(session, "#scenario:hello")
    assert cancel_turn(turns.rt, turns.rt.sessions.get(session.id))
    assert turns.types(session) == ["turn.queued", "turn.completed"]
    assert turns.events(session)[-1]["status"] == "cancelled"
    turns.work()  # the cancelled job is not run
    assert turns.types(session) == ["turn.queued", "turn.completed"]


def test_worker_killed_mid_turn_still_ends_the_turn(turns, devmodel):
    devmodel.add_scenario("sleepy3", [{"shell": "sleep 33.75", "timeout_ms": 60000}])
    worker = turns.spawn_worker()
    session = turns.new_session()
    turns.start(session, "#scenario:sleepy3")
    turns.wait_for(session, "tool.started")
    horse = [
        int(p) for p in Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    ]
    for pid in [worker.pid, *horse]:
        os.kill(pid, signal.SIGKILL)
    worker.wait(10)
    # Another worker's watchdog notices the silent turn.
    rescuer = turns.spawn_worker({"CODEX_RELAY_STALE_AFTER": "3"})
    try:
        final = turns.wait_for(session, "turn.completed", timeout=30)
    finally:
        rescuer.terminate()
        rescuer.wait(10)
    assert final["status"] == "failed"
    assert turns.events(session)[-2]["code"] == "worker_lost"
    assert turns.rt.sessions.get(session.id).running_turn == 0
    assert wait_gone("sleep 33.75")


def test_reaper_leaves_a_healthy_running_turn_alone(turns, devmodel):
    devmodel.add_scenario("slowish", [{"delay": 2, "say": "late"}])
    worker = turns.spawn_worker()
    try:
        session = turns.new_session()
        turns.start(session, "#scenario:slowish")
        turns.wait_for(session, "turn.started")
        assert reap_stale_turns(turns.rt) == []
        assert turns.wait_for(session, "turn.completed")["status"] == "completed"
    finally:
        worker.terminate()
        worker.wait(10)


def test_follow_up_turn_on_another_worker_continues_the_same_thread(turns, devmodel, tmp_path):
    session = turns.new_session()
    turns.start(session, "#scenario:hello first message")
    turns.work({"CODEX_RELAY_WORK_DIR": str(tmp_path / "worker-a")})
    first = turns.events(session, 1)
    turns.start(session, "#scenario:hello second message")
    turns.work({"CODEX_RELAY_WORK_DIR": str(tmp_path / "worker-b")})
    second = turns.events(session, 2)
    assert _only(first, "turn.started")["thread_id"] == _only(second, "turn.started")["thread_id"]
    assert not [e for e in second if e["type"] == "error"]
    assert second[-1]["status"] == "completed"
    # The model saw the first exchange again: the thread really continued.
    last_request = str(devmodel.requests[-1]["input"])
    assert "first message" in last_request and "second message" in last_request
    usage = _only(second, "usage")
    assert usage["thread_total"]["input_tokens"] > usage["input_tokens"]


def test_lost_thread_state_starts_a_new_thread_and_says_so(turns, redis_client):
    session = turns.new_session()
    turns.start(session, "#scenario:hello one")
    turns.work()
    redis_client.delete(turns.rt.keys.codex_state(session.id))
    turns.start(session, "#scenario:hello two")
    turns.work()
    second = turns.events(session, 2)
    assert _only(second, "error")["code"] == "resume_failed"
    assert second[-1]["status"] == "completed"
    first_thread = _only(turns.events(session, 1), "turn.started")["thread_id"]
    assert _only(second, "turn.started")["thread_id"] != first_thread


def _wrapper(tmp_path: Path, codex_bin: str, body: str) -> dict[str, str]:
    """Settings that put a shell script in front of the real Codex (to break it on purpose).

    The turn sandbox shows the script (the configured Codex binary); the real
    Codex it runs is shown too, as an extra read-only path.
    """
    script = tmp_path / "wrapper" / "codex-wrapper"
    script.parent.mkdir()
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {
        "CODEX_RELAY_CODEX_BIN": str(script),
        "CODEX_RELAY_SANDBOX_READ_ONLY_PATHS": codex_package_dir(codex_bin),
    }


def test_non_json_stdout_becomes_a_bad_output_error_and_the_turn_goes_on(turns, tmp_path):
    real = os.environ["CODEX_RELAY_CODEX_BIN"]
    wrapper = _wrapper(
        tmp_path,
        real,
        f'''
case "$1" in exec|app-server) case "$2" in --help) ;;
  *) echo 'this is {{not json'; printf '[1,2]\\n';; esac;; esac
exec "{real}" "$@"''',
    )
    session = turns.new_session()
    turns.start(session, "#scenario:hello")
    turns.work(wrapper)
    events = turns.events(session)
    bad = [e for e in events if e["type"] == "error"]
    assert [e["code"] for e in bad] == ["bad_output", "bad_output"]
    assert "this is {not json" in bad[0]["message"]
    assert events[-1]["status"] == "completed"


def test_codex_crash_fails_the_turn_with_its_exit_status(turns, tmp_path):
    real = os.environ["CODEX_RELAY_CODEX_BIN"]
    wrapper = _wrapper(
        tmp_path,
        real,
        f'''
case "$1" in exec|app-server) case "$2" in --help) exec "{real}" "$@";; esac
  echo '{{"type":"thread.started","thread_id":"t-1"}}'; echo 'panic: boom' >&2; exit 3;; esac
exec "{real}" "$@"''',
    )
    session = turns.new_session()
    turns.start(session, "#scenario:hello")
    turns.work(wrapper)
    events = turns.events(session)
    error = [e for e in events if e["type"] == "error" and e["code"] != "bad_output"]
    assert [e["code"] for e in error] == ["codex_failed"]
    assert "status 3" in error[0]["message"] and "panic: boom" in error[0]["message"]
    assert events[-1]["status"] == "failed"


def test_worker_refuses_to_start_without_a_codex_binary(turns):
    result = turns.work({"CODEX_RELAY_CODEX_BIN": "/nonexistent/codex"})
    assert result.returncode == 1
    assert "Codex CLI was not found at /nonexistent/codex" in result.stderr


def test_secrets_never_reach_the_agents_shell(turns, devmodel, keypair):
    # The weakest configuration, so the command can read Codex's own environment:
    # no turn sandbox and no Codex sandbox. Codex's environment is built from
    # scratch, so even then neither holds a relay secret.
    weakest = {"CODEX_RELAY_TURN_SANDBOX": "off", "CODEX_RELAY_SANDBOX": "danger-full-access"}
    devmodel.add_scenario(
        "env",
        [
            {"shell": "env; echo ---CODEX---; tr '\\0' '\\n' < /proc/$PPID/environ"},
            {"say": "ok"},
        ],
    )
    relay_secrets = {
        "CODEX_RELAY_JWT_PRIVATE_KEY": keypair[0],
        "HOST_APP_SECRET_VALUE": "host-secret-5678",
        "REDIS_URL": os.environ["REDIS_URL"],
    }
    api_key = {"OPENAI_API_KEY": "sk-test-do-not-leak-1234"}
    session = turns.new_session()
    turns.start(session, "#scenario:env")
    turns.work(relay_secrets, api_key, weakest)
    output = _only(turns.events(session), "tool.completed")["tool"]["output"]
    shell_env, codex_env = output.split("---CODEX---")
    assert "PATH=" in shell_env and "CODEX_HOME=" in codex_env  # both really printed
    # The relay's own secrets reach neither Codex nor its shell.
    for name, value in relay_secrets.items():
        assert name not in output
        for line in value.splitlines():
            if "-----" not in line:  # PEM armour lines aside, the key material itself
                assert line not in output
    # The model provider's key is Codex's to use, never its shell's.
    assert "sk-test-do-not-leak-1234" not in shell_env
    assert "eyJ" not in output  # no run token either (MCP transport is off here)


def test_redis_restart_mid_turn_ends_cleanly_with_a_gap_free_log(
    turns, devmodel, tmp_path, monkeypatch
):
    from relay.runtime import RelayRuntime
    from relay.settings import load_settings

    server = EmbeddedRedis(data_dir=str(tmp_path / "redis"), persist=True).start()
    try:
        monkeypatch.setenv("REDIS_URL", server.url)
        turns.rt = RelayRuntime.from_settings(load_settings())
        devmodel.add_scenario(
            "restart",
            [
                {"shell": "sleep 1.5", "timeout_ms": 60000},
                {"say": "after the restart"},
            ],
        )
        worker = turns.spawn_worker()
        session = turns.new_session()
        turns.start(session, "#scenario:restart")
        turns.wait_for(session, "tool.started")
        server.process.send_signal(signal.SIGTERM)  # saves its data, like a managed restart
        server.process.wait(10)
        time.sleep(1.0)
        server.start()
        final = turns.wait_for(session, "turn.completed", timeout=60)
        worker.terminate()
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()
        events = turns.events(session)
        assert final["status"] == "completed"
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert [e["type"] for e in events].count("turn.completed") == 1
        assert any(e["type"] == "message" and "after the restart" in e["text"] for e in events)
    finally:
        server.stop()


def test_unusable_thread_archive_starts_a_new_thread_and_says_so(turns, redis_client, tmp_path):
    import io
    import tarfile

    session = turns.new_session()
    turns.start(session, "#scenario:hello one")
    turns.work()
    thread_id = turns.rt.sessions.get(session.id).thread_id
    # An archive whose rollout file is there by name but is not a Codex rollout.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"garbage\n"
        info = tarfile.TarInfo(f"2026/01/01/rollout-2026-01-01T00-00-00-{thread_id}.jsonl")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    redis_client.set(turns.rt.keys.codex_state(session.id), buffer.getvalue())
    turns.start(session, "#scenario:hello two")
    turns.work()
    second = turns.events(session, 2)
    assert _only(second, "error")["code"] == "resume_failed"
    assert second[-1]["status"] == "completed"


def test_job_meta_shows_live_progress_while_a_turn_runs(turns, devmodel, redis_client):
    from rq.job import Job

    devmodel.add_scenario(
        "progress", [{"shell": "sleep 1.5", "timeout_ms": 60000}, {"say": "done"}]
    )
    worker = turns.spawn_worker()
    try:
        session = turns.new_session()
        turns.start(session, "#scenario:progress")
        turns.wait_for(session, "tool.started")
        job_id = turns.rt.sessions.get(session.id).job_id
        deadline = time.monotonic() + 10
        progress = {}
        while time.monotonic() < deadline and progress.get("phase") != "tool":
            progress = Job.fetch(job_id, connection=redis_client).get_meta().get("progress", {})
            time.sleep(0.1)
        assert progress["phase"] == "tool"
        assert "sleep 1.5" in progress["item"]
        assert progress["last_event"] > 0
        turns.wait_for(session, "turn.completed")
        final = Job.fetch(job_id, connection=redis_client).get_meta()["progress"]
        assert final["phase"] == "finished" and final["status"] == "completed"
        assert final["usage"]["input_tokens"] > 0
    finally:
        worker.terminate()
        worker.wait(10)


def test_worker_sigterm_mid_turn_ends_the_turn_after_the_grace_period(turns, devmodel):
    devmodel.add_scenario("sleepy4", [{"shell": "sleep 34.5", "timeout_ms": 60000}])
    worker = turns.spawn_worker({"CODEX_RELAY_SHUTDOWN_GRACE": "1"})
    session = turns.new_session()
    turns.start(session, "#scenario:sleepy4")
    turns.wait_for(session, "tool.started")
    worker.send_signal(signal.SIGTERM)
    final = turns.wait_for(session, "turn.completed", timeout=30)
    assert worker.wait(30) == 0
    assert final["status"] == "cancelled"
    assert turns.events(session)[-2]["code"] == "worker_shutdown"
    assert wait_gone("sleep 34.5")


def test_worker_sigterm_lets_a_short_turn_finish(turns, devmodel):
    devmodel.add_scenario("short", [{"shell": "sleep 1", "timeout_ms": 60000}, {"say": "ok"}])
    worker = turns.spawn_worker({"CODEX_RELAY_SHUTDOWN_GRACE": "30"})
    session = turns.new_session()
    turns.start(session, "#scenario:short")
    turns.wait_for(session, "tool.started")
    worker.send_signal(signal.SIGTERM)
    assert turns.wait_for(session, "turn.completed", timeout=30)["status"] == "completed"
    assert worker.wait(30) == 0


def test_rq_stop_command_ends_the_turn_from_the_callback_and_leaves_no_process(turns, devmodel):
    from rq.command import send_stop_job_command

    devmodel.add_scenario("sleepy5", [{"shell": "sleep 35.25", "timeout_ms": 60000}])
    worker = turns.spawn_worker()
    try:
        session = turns.new_session()
        turns.start(session, "#scenario:sleepy5")
        turns.wait_for(session, "tool.started")
        # RQ SIGKILLs the job's process group: the job itself can write nothing.
        send_stop_job_command(turns.rt.redis, turns.rt.sessions.get(session.id).job_id)
        final = turns.wait_for(session, "turn.completed", timeout=30)
        assert final["status"] == "cancelled"
        assert turns.types(session).count("turn.completed") == 1
        assert wait_gone("sleep 35.25")
        assert turns.rt.sessions.get(session.id).running_turn == 0
    finally:
        worker.terminate()
        worker.wait(10)


def test_a_client_that_sees_turn_completed_can_send_its_next_message_at_once(turns, redis_client):
    # The final event and the unlock are one Redis transaction, so whoever
    # receives turn.completed finds the session unlocked. Observed live, while
    # a real worker ends each turn (a race would show up as a "1").
    session = turns.new_session()
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(f"agent_response-{session.id}")
    worker = turns.spawn_worker()
    observed = []
    try:
        for round_ in range(5):
            turn = turns.start(session, f"#scenario:hello round {round_}")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                message = pubsub.get_message(timeout=0.1)
                if message and b'"turn.completed"' in message["data"]:
                    key = turns.rt.keys.session(session.id)
                    observed.append(redis_client.hget(key, "running_turn"))
                    break
            assert len(observed) == turn
    finally:
        pubsub.close()
        worker.terminate()
        worker.wait(10)
    assert observed == [b"0"] * 5


def test_the_relay_redis_pool_is_bounded_and_waits_instead_of_growing(redis_server):
    # Event streams no longer hold a connection each: a process's pool has a fixed
    # size, and a caller past it waits for a free connection rather than opening more.
    from relay.runtime import POOL_SIZE, redis_client

    client = redis_client(redis_server.url, max_connections=2)
    assert isinstance(client.connection_pool, redis.BlockingConnectionPool)
    assert redis_client(redis_server.url).connection_pool.max_connections == POOL_SIZE
    held = [client.connection_pool.get_connection() for _ in range(2)]
    client.connection_pool.timeout = 0.2  # how long a caller waits for a free connection
    with pytest.raises(redis.ConnectionError, match="No connection available"):
        client.ping()  # it waited, and did not open a third connection
    client.connection_pool.release(held.pop())
    assert client.ping() is True
    client.connection_pool.release(held.pop())
    client.close()


def test_in_the_default_sandbox_commands_cannot_read_any_other_process_environment(
    turns, devmodel, monkeypatch
):
    # workspace-write (the default) runs commands in Codex's Linux sandbox: a
    # PID namespace of their own, so /proc shows neither Codex nor the worker.
    monkeypatch.setenv("CODEX_RELAY_SANDBOX", "workspace-write")
    probe = (
        "echo visible=$(ls /proc | grep -c '^[0-9]'); "
        "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | sort -u"
    )
    devmodel.add_scenario("proc_probe", [{"shell": probe}, {"say": "ok"}])
    secrets = {"OPENAI_API_KEY": "sk-sandbox-probe-9876", "REDIS_URL": os.environ["REDIS_URL"]}
    session = turns.new_session()
    turns.start(session, "#scenario:proc_probe")
    turns.work(secrets)
    tool = _only(turns.events(session), "tool.completed")["tool"]
    assert tool["exit_code"] == 0 and "visible=" in tool["output"]
    assert int(tool["output"].split("visible=")[1].split()[0]) < 10  # only the sandbox's own
    assert "PATH=" in tool["output"]  # it did read the environments it could see
    for value in secrets.values():
        assert value not in tool["output"]


def test_agent_chat_carries_user_messages_and_only_a_cancel_control_stops_a_turn(
    turns, devmodel, redis_client
):
    import orjson

    devmodel.add_scenario("sleepy6", [{"shell": "sleep 36.5", "timeout_ms": 60000}])
    session = turns.new_session()
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(f"agent_chat-{session.id}")
    worker = turns.spawn_worker()
    try:
        turns.start(session, "#scenario:sleepy6 cancel")
        message = None
        while message is None:
            message = pubsub.get_message(timeout=1)
        assert orjson.loads(message["data"]) == {
            "type": "message",
            "session": session.id,
            "turn": 1,
            "message": "#scenario:sleepy6 cancel",
        }
        turns.wait_for(session, "tool.started")
        channel = f"agent_chat-{session.id}"
        # Not control messages: the turn goes on.
        redis_client.publish(channel, b'{"type": "message", "message": "cancel"}')
        redis_client.publish(channel, b'{"type": "cancel", "turn": 99}')
        redis_client.publish(channel, b"not json")
        time.sleep(1)
        assert "turn.completed" not in turns.types(session)
        # A host bridge's cancel: the turn ends as cancelled.
        redis_client.publish(channel, b'{"type": "cancel"}')
        assert turns.wait_for(session, "turn.completed")["status"] == "cancelled"
        assert wait_gone("sleep 36.5")
    finally:
        pubsub.close()
        worker.terminate()
        worker.wait(10)
