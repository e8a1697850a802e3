"""The stack as real processes: `codex-relay demo`, gunicorn, the worker, over real HTTP."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cli.embedded_redis import free_port

pytestmark = pytest.mark.codex


class HttpUser:
    """A browser-like client: a cookie jar, JSON requests and an SSE reader."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie = ""

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Cookie": self.cookie}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        conn.close()
        return response.status, json.loads(raw) if raw.strip() else None

    def login(self, user: str) -> None:
        assert self.request("POST", "/demo/login", {"user": user})[0] == 200

    def stream(self, path: str, last_id: str | None = None) -> tuple[Any, Iterator[dict[str, Any]]]:
        """Open an SSE stream; yields ``{"id", "event", "data"}`` per message."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Cookie": self.cookie, "Accept": "text/event-stream"}
        if last_id:
            headers["Last-Event-ID"] = last_id
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("X-Accel-Buffering") == "no"

        def messages() -> Iterator[dict[str, Any]]:
            message: dict[str, Any] = {}
            while True:
                line = response.fp.readline()
                if not line:
                    return
                line = line.decode().rstrip("\n")
                if not line:
                    if "data" in message:
                        yield message
                    message = {}
                elif line.startswith(":"):
                    continue
                else:
                    field, _, value = line.partition(": ")
                    message[field] = json.loads(value) if field == "data" else value

        return conn, messages()


def _until_final(messages: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    seen = []
    for message in messages:
        seen.append(message)
        if message["data"].get("type") == "turn.completed":
            return seen
    raise AssertionError(f"stream ended before turn.completed: {seen}")


def _start_demo(tmp_path: Any, **extra_env: str) -> tuple[subprocess.Popen[str], int]:
    """`codex-relay demo` on a free port (test Redis and scripted model from relay_env)."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "demo",
            "--port",
            str(port),
            "--runs-root",
            str(tmp_path / "demo-runs"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "CODEX_RELAY_MCP_TRANSPORT"}
        | {"CODEX_RELAY_MCP_TRANSPORT": "off"}
        | extra_env,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "open http://" in line:
            break
    else:
        raise AssertionError("the demo did not print its URL")
    return proc, port


def _stop_demo(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert proc.stdout is not None
    proc.stdout.close()


@pytest.fixture
def demo(relay_env: dict[str, str], tmp_path: Any) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`codex-relay demo` on a free port (test Redis and scripted model from relay_env)."""
    proc, port = _start_demo(tmp_path)
    yield proc, port
    _stop_demo(proc)


def test_demo_serves_a_full_turn_over_http_and_sse(demo):
    _, port = demo
    user = HttpUser(port)
    status, page = _get_text(port, "/runs/sample-run/default/")
    assert status == 200 and "<codex-relay-panel" in page and "command-bar.js" in page
    user.login("alice")
    status, body = user.request(
        "POST", "/runs/sample-run/default/agent/chat", {"message": "#scenario:hello hi"}
    )
    assert status == 202, body
    conn, messages = user.stream(body["events_url"])
    events = _until_final(messages)
    conn.close()
    types = [m["data"]["type"] for m in events if m["data"]["type"] != "message.delta"]
    assert types == ["turn.queued", "turn.started", "message", "usage", "turn.completed"]
    assert [m["id"] for m in events] == [m["data"]["id"] for m in events]
    # The demo runs the app-server runner: the answer also came as it was written.
    deltas = [m["data"]["delta"] for m in events if m["data"]["type"] == "message.delta"]
    [message] = [m["data"] for m in events if m["data"]["type"] == "message"]
    assert deltas and "".join(deltas) == message["text"]
    status, health = user.request("GET", "/agent/health")
    assert status == 200 and health["workers"] == 1 and health["redis"] is True
    assert health["runner"] == "app-server"


def test_reconnect_with_last_event_id_replays_only_what_was_missed(demo, devmodel):
    _, port = demo
    devmodel.add_scenario(
        "two_steps", [{"shell": "echo one", "timeout_ms": 60000}, {"delay": 0.5, "say": "two"}]
    )
    user = HttpUser(port)
    user.login("alice")
    _, body = user.request(
        "POST", "/runs/sample-run/default/agent/chat", {"message": "#scenario:two_steps"}
    )
    conn, messages = user.stream(body["events_url"])
    first = [next(messages) for _ in range(3)]  # queued, started, tool.started
    conn.close()  # the network drops mid-turn
    conn, messages = user.stream(body["events_url"], last_id=first[-1]["id"])
    rest = _until_final(messages)
    conn.close()
    conn, messages = user.stream(body["events_url"])
    full = _until_final(messages)
    conn.close()
    assert [m["id"] for m in first + rest] == [m["id"] for m in full]


def test_web_sigterm_closes_open_streams_promptly(demo):
    proc, port = demo
    user = HttpUser(port)
    user.login("alice")
    _, body = user.request(
        "POST", "/runs/sample-run/default/agent/chat", {"message": "#scenario:hello"}
    )
    conn, messages = user.stream(body["events_url"])
    _until_final(messages)
    gunicorn = _child_matching(proc.pid, "gunicorn")
    os.kill(gunicorn, signal.SIGTERM)
    assert list(messages) == []  # the stream ends (EOF) instead of hanging
    conn.close()


def test_demo_stops_every_child_on_ctrl_c(demo):
    proc, _ = demo
    children = _children(proc.pid)
    assert len(children) >= 2
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    for pid in children:
        assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid)


def _get_text(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    return response.status, text


def _children(pid: int) -> list[int]:
    path = f"/proc/{pid}/task/{pid}/children"
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [int(p) for p in fh.read().split()]


def _child_matching(pid: int, needle: str) -> int:
    for child in _children(pid):
        with open(f"/proc/{child}/cmdline", "rb") as fh:
            cmdline = fh.read().replace(b"\0", b" ").decode()
        if re.search(needle, cmdline):
            return child
    raise AssertionError(f"no child process matching {needle!r}")


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_the_demo_restarts_a_killed_worker_the_turn_ends_failed_and_the_next_completes(
    relay_env, devmodel, tmp_path
):
    devmodel.add_scenario("stall", [{"delay": 60, "say": "too late"}])
    # A short stale window, so the restarted worker's watchdog acts within seconds.
    proc, port = _start_demo(tmp_path, CODEX_RELAY_STALE_AFTER="4")
    try:
        web = _child_matching(proc.pid, "gunicorn")
        user = HttpUser(port)
        user.login("alice")
        _, body = user.request(
            "POST", "/runs/sample-run/default/agent/chat", {"message": "#scenario:stall"}
        )
        conn, messages = user.stream(body["events_url"])
        seen = [next(messages)]
        while seen[-1]["data"]["type"] != "turn.started":
            seen.append(next(messages))
        worker = _child_matching(proc.pid, r"-m cli worker")
        # The worker dies with its work horse (as when its machine or container goes).
        for pid in [worker, *_children(worker)]:
            os.kill(pid, signal.SIGKILL)
        seen += _until_final(messages)
        conn.close()
        final = seen[-1]["data"]
        assert final["type"] == "turn.completed" and final["status"] == "failed"
        assert seen[-2]["data"]["code"] == "worker_lost"

        restarted = _wait_for(lambda: _children_matching(proc.pid, r"-m cli worker"))
        assert restarted and worker not in restarted
        assert proc.poll() is None and _child_matching(proc.pid, "gunicorn") == web
        status, second = user.request(
            "POST",
            "/runs/sample-run/default/agent/chat",
            {"message": "#scenario:hello again", "session_id": body["session_id"]},
        )
        assert status == 202, second
        conn, messages = user.stream(second["events_url"], last_id=seen[-1]["id"])
        rest = _until_final(messages)
        conn.close()
        assert rest[-1]["data"]["status"] == "completed" and rest[-1]["data"]["turn"] == 2
    finally:
        _stop_demo(proc)


def _wait_for(check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)
    return result


def _children_matching(pid: int, needle: str) -> list[int]:
    found = []
    for child in _children(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if re.search(needle, cmdline) and not _is_zombie(child):
            found.append(child)
    return found
