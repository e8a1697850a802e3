"""Live turns under the app-server runner, end to end: text as it is written, output as
it runs, approvals answered through the route, Stop without a kill, warm start.

Real processes throughout: a ``codex-relay worker`` running ``codex app-server``
(the pinned release) against the scripted model, Redis, and the demo host app
through the Flask test client for the approvals route. What holds under both
runners is in ``test_pipeline.py``.
"""

from __future__ import annotations

import io
import os
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from processes import wait_gone

from bootstrap.codex_command import codex_package_dir
from bootstrap.codex_process import alive, descendants
from relay.turns import cancel_turn

pytestmark = pytest.mark.codex

RUN = "/runs/run-1/default/agent"


@pytest.fixture(autouse=True)
def app_server(relay_env, run_dir, monkeypatch) -> None:
    """Workers (and the web app) of these tests run the app-server runner, warm and sandboxed.

    A warm Codex in the turn sandbox needs the runs root (it is shown before the run is known).
    """
    monkeypatch.setenv("CODEX_RELAY_RUNNER", "app-server")
    monkeypatch.setenv("CODEX_RELAY_RUNS_ROOT", str(run_dir.parent))


class Workers:
    """The test's worker process; restart it to take changed settings."""

    def __init__(self, turns: Any) -> None:
        self.turns = turns
        self.proc = turns.spawn_worker()

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def restart(self) -> None:
        self.stop()
        self.proc = self.turns.spawn_worker()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)


@pytest.fixture
def worker(turns) -> Any:
    workers = Workers(turns)
    yield workers
    workers.stop()


def only(events: list[dict[str, Any]], type_: str) -> dict[str, Any]:
    found = [e for e in events if e["type"] == type_]
    assert len(found) == 1, [e["type"] for e in events]
    return found[0]


def login(app: Any, user: str) -> Any:
    client = app.test_client()
    assert client.post("/demo/login", json={"user": user}).status_code == 200
    return client


# -- text as it is written ----------------------------------------------------


def test_deltas_add_up_to_the_message_and_arrive_well_before_it(turns, devmodel, worker):
    words = ["Live ", "text ", "arrives ", "word ", "by ", "word."]
    pace = 0.2
    devmodel.add_scenario("paced_words", [{"pace": pace, "say": words}])
    session = turns.new_session()
    turns.start(session, "#scenario:paced_words")
    turns.wait_for(session, "turn.completed")
    events = turns.events(session)
    deltas = [e for e in events if e["type"] == "message.delta"]
    message = only(events, "message")
    assert "".join(d["delta"] for d in deltas) == message["text"] == "".join(words)
    assert {d["item_id"] for d in deltas} == {message["item_id"]}
    # Paced slower than the coalescing interval: each word is its own event, and the
    # first came out as many pauses before the whole message as the script has.
    assert len(deltas) == len(words)
    assert message["ts"] - deltas[0]["ts"] >= (len(words) - 2) * pace
    assert [e["type"] for e in events].index("message.delta") < [e["type"] for e in events].index(
        "message"
    )


def test_a_fast_stream_is_coalesced_into_few_events(turns, devmodel, worker):
    pieces = [f"w{n} " for n in range(400)]
    devmodel.add_scenario("fast_words", [{"say": pieces}])
    session = turns.new_session()
    turns.start(session, "#scenario:fast_words")
    turns.wait_for(session, "turn.completed")
    events = turns.events(session)
    deltas = [e for e in events if e["type"] == "message.delta"]
    assert "".join(d["delta"] for d in deltas) == only(events, "message")["text"]
    assert 1 <= len(deltas) < len(pieces) / 10


# -- output as it runs --------------------------------------------------------


def test_live_output_of_a_slow_command_arrives_before_the_command_ends(turns, devmodel, worker):
    command = "for i in 1 2 3 4 5; do echo line$i; sleep 0.4; done"
    devmodel.add_scenario("slow_lines", [{"shell": command, "timeout_ms": 60000}, {"say": "ok"}])
    session = turns.new_session()
    turns.start(session, "#scenario:slow_lines")
    turns.wait_for(session, "turn.completed")
    events = turns.events(session)
    completed = only(events, "tool.completed")
    live = [e for e in events if e["type"] == "tool.output"]
    assert live and {e["tool_id"] for e in live} == {completed["tool"]["id"]}
    # Each piece was published while the command still ran (it ends with the last sleep).
    assert all(e["seq"] < completed["seq"] for e in live)
    assert live[0]["ts"] <= completed["ts"] - 0.4 * 2
    # Codex sends all but its first chunk live; the card gets the whole output at the end.
    streamed = "".join(e["delta"] for e in live)
    assert completed["tool"]["output"].endswith(streamed)
    assert completed["tool"]["output"] == "".join(f"line{i}\n" for i in range(1, 6))


def test_live_output_is_capped_per_tool(turns, devmodel, worker, monkeypatch):
    monkeypatch.setenv("CODEX_RELAY_MAX_FIELD_CHARS", "2000")
    command = "for i in $(seq 1 40); do seq 1 200; sleep 0.02; done"
    devmodel.add_scenario("lots", [{"shell": command, "timeout_ms": 60000}, {"say": "ok"}])
    worker.restart()
    session = turns.new_session()
    turns.start(session, "#scenario:lots")
    turns.wait_for(session, "turn.completed")
    live = [e for e in turns.events(session) if e["type"] == "tool.output"]
    assert sum(len(e["delta"]) for e in live) == 2000
    assert live[-1].get("truncated") is True


# -- approvals ----------------------------------------------------------------


@pytest.fixture
def asking(monkeypatch) -> None:
    """Turns ask before commands that are not known to be safe."""
    monkeypatch.setenv("CODEX_RELAY_APPROVAL_POLICY", "untrusted")


def approval_turn(turns, devmodel, name: str, marker: str) -> Any:
    devmodel.add_scenario(
        name, [{"shell": f"touch {marker}", "timeout_ms": 60000}, {"say": "done"}]
    )
    session = turns.new_session()
    turns.start(session, f"#scenario:{name}")
    requested = turns.wait_for(session, "approval.requested")
    return session, requested["approval"]


def test_an_approved_command_runs_after_the_owner_says_yes(
    turns, devmodel, asking, worker, app, run_dir
):
    session, approval = approval_turn(turns, devmodel, "ask_accept", "accepted.txt")
    assert approval["kind"] == "command" and "touch accepted.txt" in approval["command"]
    assert approval["cwd"] == str(run_dir) and approval["expires_at"] > time.time()
    assert not (run_dir / "accepted.txt").exists()  # Codex waits for the answer
    url = f"{RUN}/sessions/{session.id}/approvals/{approval['id']}"
    # Another user cannot answer it, and the owner's answer still stands afterwards.
    assert login(app, "mallory").post(url, json={"decision": "accept"}).status_code == 404
    owner = login(app, "alice")
    assert owner.post(url, json={"decision": "accept"}).get_json()["decision"] == "accept"
    second = owner.post(url, json={"decision": "decline"})
    assert second.status_code == 409 and second.get_json()["error"]["decision"] == "accept"
    final = turns.wait_for(session, "turn.completed")
    events = turns.events(session)
    resolved = only(events, "approval.resolved")
    assert (resolved["decision"], resolved["by"]) == ("accept", "user")
    tool = only(events, "tool.completed")["tool"]
    assert tool["status"] == "completed" and tool["id"] == approval["tool_id"]
    assert final["status"] == "completed" and (run_dir / "accepted.txt").exists()


def test_a_declined_command_does_not_run_and_the_turn_goes_on(
    turns, devmodel, asking, worker, app, run_dir
):
    session, approval = approval_turn(turns, devmodel, "ask_decline", "declined.txt")
    url = f"{RUN}/sessions/{session.id}/approvals/{approval['id']}"
    assert login(app, "alice").post(url, json={"decision": "decline"}).status_code == 200
    final = turns.wait_for(session, "turn.completed")
    events = turns.events(session)
    assert only(events, "tool.completed")["tool"]["status"] == "declined"
    assert only(events, "message")["text"] == "done"
    assert final["status"] == "completed" and not (run_dir / "declined.txt").exists()


def test_no_answer_in_time_declines_and_waiting_is_not_idleness(
    turns, devmodel, asking, monkeypatch, run_dir
):
    # The turn waits 3 s for an answer, three times the idle timeout: waiting for
    # the user is not Codex hanging.
    monkeypatch.setenv("CODEX_RELAY_APPROVAL_TIMEOUT", "3")
    monkeypatch.setenv("CODEX_RELAY_IDLE_TIMEOUT", "1")
    proc = turns.spawn_worker()
    try:
        session, approval = approval_turn(turns, devmodel, "ask_timeout", "timed.txt")
        final = turns.wait_for(session, "turn.completed", timeout=30)
    finally:
        proc.terminate()
        proc.wait(15)
    resolved = only(turns.events(session), "approval.resolved")
    assert (resolved["approval_id"], resolved["decision"], resolved["by"]) == (
        approval["id"],
        "decline",
        "timeout",
    )
    assert resolved["ts"] >= approval["expires_at"]
    assert final["status"] == "completed" and not (run_dir / "timed.txt").exists()


def test_stopping_a_turn_that_waits_declines_its_approval_and_a_late_answer_gets_409(
    turns, devmodel, asking, worker, app, run_dir
):
    session, approval = approval_turn(turns, devmodel, "ask_cancel", "cancelled.txt")
    owner = login(app, "alice")
    assert owner.post(f"{RUN}/sessions/{session.id}/cancel", json={}).status_code == 202
    final = turns.wait_for(session, "turn.completed")
    assert final["status"] == "cancelled"
    resolved = only(turns.events(session), "approval.resolved")
    assert (resolved["decision"], resolved["by"]) == ("decline", "cancel")
    late = owner.post(
        f"{RUN}/sessions/{session.id}/approvals/{approval['id']}", json={"decision": "accept"}
    )
    assert late.status_code == 409 and late.get_json()["error"]["by"] == "cancel"
    assert not (run_dir / "cancelled.txt").exists()


def test_a_file_change_approval_shows_the_changes_with_their_diff(
    turns, devmodel, asking, worker, app, run_dir, monkeypatch
):
    patch = "*** Begin Patch\n*** Add File: planned.md\n+# Planned\n*** End Patch\n"
    devmodel.add_scenario("ask_patch", [{"patch": patch}, {"say": "patched"}])
    monkeypatch.setenv("CODEX_RELAY_SANDBOX", "read-only")  # writing needs the user's yes
    worker.restart()
    session = turns.new_session()
    turns.start(session, "#scenario:ask_patch")
    approval = turns.wait_for(session, "approval.requested")["approval"]
    assert approval["kind"] == "file_change"
    [change] = approval["changes"]
    assert change["path"].endswith("planned.md") and change["kind"] == "add"
    assert change["diff"] == "# Planned\n"
    url = f"{RUN}/sessions/{session.id}/approvals/{approval['id']}"
    login(app, "alice").post(url, json={"decision": "accept"})
    assert turns.wait_for(session, "turn.completed")["status"] == "completed"
    assert (run_dir / "planned.md").read_text() == "# Planned\n"


# -- Stop without a kill --------------------------------------------------------


def test_stop_interrupts_codex_which_ends_the_turn_itself_and_leaves_no_process(
    turns, devmodel, worker
):
    devmodel.add_scenario("sleepy_i", [{"shell": "sleep 42.25", "timeout_ms": 60000}, {"say": "x"}])
    session = turns.new_session()
    turns.start(session, "#scenario:sleepy_i")
    turns.wait_for(session, "tool.started")
    assert cancel_turn(turns.rt, turns.rt.sessions.get(session.id)) is True
    final = turns.wait_for(session, "turn.completed")
    assert final["status"] == "cancelled"
    assert not [e for e in turns.events(session) if e["type"] == "error"]
    assert wait_gone("sleep 42.25")
    # Codex ended the turn itself: its thread records the interruption (a kill
    # would leave no trace), so the next turn's model request carries it.
    turns.start(session, "#scenario:hello after the stop")
    assert turns.wait_for(session, "turn.completed", turn=2)["status"] == "completed"
    last = str(devmodel.requests[-1]["input"])
    assert "turn_aborted" in last and "aborted by user" in last


def test_a_codex_that_ignores_the_interrupt_is_killed_after_the_grace_period(
    turns, devmodel, codex_bin, tmp_path, monkeypatch
):
    # A wrapper that swallows turn/interrupt on its way to Codex.
    script = tmp_path / "deaf-codex"
    script.write_text(
        "#!/bin/sh\n"
        f'case "$1" in app-server) case "$2" in --help) exec "{codex_bin}" "$@";; esac\n'
        f'  grep --line-buffered -v turn/interrupt | "{codex_bin}" "$@"; exit;; esac\n'
        f'exec "{codex_bin}" "$@"\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("CODEX_RELAY_CODEX_BIN", str(script))
    # The turn sandbox shows the wrapper; the Codex it calls must be shown too.
    monkeypatch.setenv("CODEX_RELAY_SANDBOX_READ_ONLY_PATHS", codex_package_dir(codex_bin))
    devmodel.add_scenario("sleepy_d", [{"shell": "sleep 43.75", "timeout_ms": 60000}, {"say": "x"}])
    proc = turns.spawn_worker()
    try:
        session = turns.new_session()
        turns.start(session, "#scenario:sleepy_d")
        turns.wait_for(session, "tool.started")
        cancel_turn(turns.rt, turns.rt.sessions.get(session.id))
        assert turns.wait_for(session, "turn.completed")["status"] == "cancelled"
    finally:
        proc.terminate()
        proc.wait(15)
    assert wait_gone("sleep 43.75")


# -- warm start -------------------------------------------------------------------


def in_warm_home(pid: int) -> Path | None:
    """The warm home (``codex-home-warm-*``) ``pid`` works in, if it does."""
    try:
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None
    return next((p for p in (cwd, *cwd.parents) if p.name.startswith("codex-home-warm-")), None)


def warm_app_servers(worker_pid: int) -> list[tuple[int, Path]]:
    """``(pid, home)`` of the worker's warm app-servers: its children in a warm home
    with ``codex app-server`` running below them (in the turn sandbox, its keeper)."""
    children = Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split()
    out = []
    for pid in map(int, children):
        home = in_warm_home(pid)
        tree = [pid, *descendants(pid)]
        if home is not None and any(is_app_server(p) for p in tree):
            out.append((pid, home))
    return out


def is_app_server(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return argv[1:2] == [b"app-server"]


def wait_warm(worker_pid: int, not_pid: int = 0) -> tuple[int, Path]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready = [w for w in warm_app_servers(worker_pid) if w[0] != not_pid]
        if ready:
            return ready[0]
        time.sleep(0.05)
    raise AssertionError("the worker keeps no warm app-server")


def test_each_turn_runs_on_the_warm_codex_which_serves_it_alone(turns, worker):
    pid, home = wait_warm(worker.pid)
    session = turns.new_session()
    turns.start(session, "#scenario:hello one")
    turns.wait_for(session, "turn.completed")
    assert turns.rt.sessions.get(session.id).codex_pgid == pid  # the turn took the warm one
    # ... which is gone afterwards, home and all; a fresh one waits in a fresh home.
    next_pid, next_home = wait_warm(worker.pid, not_pid=pid)
    assert next_home != home and not home.exists() and not alive(pid)
    assert not (next_home / "home" / "sessions").exists()
    other = turns.new_session(user="bob")
    turns.start(other, "#scenario:hello two")
    turns.wait_for(other, "turn.completed")
    assert turns.rt.sessions.get(other.id).codex_pgid == next_pid


def test_a_follow_up_resumes_the_thread_on_a_warm_codex(turns, devmodel, worker):
    session = turns.new_session()
    turns.start(session, "#scenario:hello first message")
    first = turns.wait_for(session, "turn.completed")
    turns.start(session, "#scenario:hello second message")
    second = turns.wait_for(session, "turn.completed", turn=2)
    assert first["status"] == second["status"] == "completed"
    threads = {e["thread_id"] for e in turns.events(session) if e["type"] == "turn.started"}
    assert len(threads) == 1
    last = str(devmodel.requests[-1]["input"])
    assert "first message" in last and "second message" in last
    archive = turns.rt.redis.get(turns.rt.keys.codex_state(session.id))
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert all(name.endswith(".jsonl") for name in tar.getnames())


# -- exec cannot ask ---------------------------------------------------------------


def test_an_exec_worker_refuses_to_start_with_an_approval_policy(turns):
    result = turns.work({"CODEX_RELAY_RUNNER": "exec", "CODEX_RELAY_APPROVAL_POLICY": "on-request"})
    assert result.returncode == 1
    assert "CODEX_RELAY_APPROVAL_POLICY" in result.stderr and "app-server" in result.stderr


def test_an_exec_worker_fails_a_turn_that_needs_approvals_with_a_clear_error(turns):
    from relay.tokens import sign_run_token
    from relay.turns import start_turn

    session = turns.new_session()

    def mint(turn: int) -> str:
        return sign_run_token(
            turns.private_key, user="alice", runid=session.runid, config="default",
            session=session.id, tier="edit", lifetime=60, run_dir=session.run_dir,
        )  # fmt: skip

    start_turn(turns.rt, session, "#scenario:hello", mint, approval_policy="untrusted")
    turns.work({"CODEX_RELAY_RUNNER": "exec"})
    events = turns.events(session)
    error = only(events, "error")
    assert error["code"] == "config_error" and "untrusted" in error["message"]
    assert events[-1]["status"] == "failed"


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.3, 0.6])
def test_a_worker_asked_to_stop_around_the_end_of_a_turn_stops_and_leaves_no_codex(turns, delay):
    # Right after a turn the worker discards the used Codex and warms the next one
    # (a fraction of a second): a stop request then must neither be lost (RQ raises
    # it inside whatever the worker does) nor leave a Codex behind.
    import signal

    proc = turns.spawn_worker()
    try:
        session = turns.new_session()
        turns.start(session, "#scenario:hello")
        turns.wait_for(session, "turn.completed")
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert warm_leftovers(Path(os.environ["CODEX_RELAY_WORK_DIR"])) == []
    assert not list(Path(os.environ["CODEX_RELAY_WORK_DIR"]).glob("codex-home-*"))


def warm_leftovers(work_dir: Path) -> list[int]:
    """Live app-servers in warm homes under ``work_dir`` (this test's worker's)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        home = in_warm_home(int(entry))
        warm = home is not None and home.is_relative_to(work_dir)
        if warm and stat[0] != b"Z" and alive(int(entry)):
            found.append(int(entry))
    return found


def test_a_stop_request_during_the_warm_start_is_kept_and_raised_once_warm(runtime):
    # RQ turns SIGTERM into an exception raised from the signal handler. While
    # the worker spawns its warm Codex that can land in Popen's at-fork
    # callbacks, where Python drops it; so the worker holds it back instead.
    import signal

    from rq.exceptions import StopRequested

    from bootstrap import warm_app_server
    from bootstrap.worker import make_worker

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    worker = make_worker(runtime)
    try:
        worker._warming = True  # as if the signal came in the middle of ensure_ready()
        worker.request_stop(signal.SIGTERM, None)  # no exception escapes the handler
        worker._warming = False
        with pytest.raises(StopRequested):
            worker.dequeue_job_and_maintain_ttl(1)
        slot = warm_app_server._READY
        assert slot is not None and alive(slot.process.pid)  # the warm start finished first
    finally:
        worker.warm.discard()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert warm_app_server._READY is None
