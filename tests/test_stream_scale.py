"""Hundreds of real event streams held by one gunicorn web process (gevent), over loopback.

The web server runs exactly as ``codex-relay web`` runs it (``web_server_argv``,
``blueprints.gunicorn_conf``), on the test's Redis. While 300 streams are
open, chat, cancel, state and health still answer (before the fan-out, with
64 threads, the 65th stream waited forever and so did every other request);
every stream gets its session's events; the process's Redis connections stay
within its pool however many streams it holds; the per-user cap answers 429
and frees a slot when a client goes away; SIGTERM ends every stream.
"""

from __future__ import annotations

import http.client
import json
import os
import selectors
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from blueprints.web_server import web_server_argv
from cli.embedded_redis import connections_to, free_port
from relay import events as ev
from relay.runtime import POOL_SIZE
from relay.stream_slots import open_streams

pytestmark = pytest.mark.slow

USERS = 30
STREAMS_PER_USER = 10  # 300 streams, under the default cap of 16 per user


@dataclass
class Web:
    """The gunicorn process and how to reach it."""

    port: int
    proc: subprocess.Popen[bytes]
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, user: str = "", body: Any = None) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Cookie": self.cookies[user]} if user else {}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            if response.getheader("Set-Cookie"):
                self.cookies[user] = response.getheader("Set-Cookie").split(";", 1)[0]
            is_json = response.getheader("Content-Type", "").startswith("application/json")
            return response.status, (json.loads(raw) if is_json else raw), response
        finally:
            conn.close()

    def login(self, user: str) -> None:
        self.cookies[user] = ""
        status, _, _ = self.request("POST", "/demo/login", user, {"user": user})
        assert status == 200


@pytest.fixture
def web(relay_env, keypair, run_dir, tmp_path) -> Iterator[Web]:
    """The demo host app under gunicorn with the relay's server settings."""
    port = free_port()
    env = dict(
        os.environ,
        CODEX_RELAY_JWT_PRIVATE_KEY=keypair[0],
        CODEX_RELAY_RUNS_ROOT=str(run_dir.parent),
        CODEX_RELAY_DEMO_SECRET_KEY="s" * 32,
    )
    log = open(tmp_path / "web.log", "wb")  # closed at the end of the fixture
    proc = subprocess.Popen(
        web_server_argv("cli.demo_app:create_app()", f"127.0.0.1:{port}", log_level="warning"),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    server = Web(port, proc)
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, (tmp_path / "web.log").read_text()
        try:
            if server.request("GET", "/agent/health")[0] in (200, 503):
                break
        except OSError:
            assert time.monotonic() < deadline, "the web server did not start"
            time.sleep(0.1)
    yield server
    if proc.poll() is None:
        proc.terminate()
        proc.wait(30)
    log.close()


@dataclass
class Stream:
    """One event stream read over a raw socket (HTTP/1.0: the body is the SSE text)."""

    session: str
    sock: socket.socket
    raw: bytearray = field(default_factory=bytearray)
    status: int = 0
    ids: list[str] = field(default_factory=list)
    eof: bool = False

    def feed(self, data: bytes) -> None:
        if not data:
            self.eof = True
            return
        self.raw += data
        if not self.status:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            self.status = int(bytes(self.raw[:end]).split(b" ", 2)[1])
            del self.raw[: end + 4]
        while (end := self.raw.find(b"\n\n")) >= 0:
            frame = bytes(self.raw[:end])
            del self.raw[: end + 2]
            for line in frame.split(b"\n"):
                if line.startswith(b"id: "):
                    self.ids.append(line[4:].decode())


class Streams:
    """Many streams read from one selector in the test's thread."""

    def __init__(self, web: Web) -> None:
        self.web = web
        self.selector = selectors.DefaultSelector()
        self.all: list[Stream] = []

    def open(self, user: str, session: str, last_id: str | None = None) -> Stream:
        sock = socket.create_connection(("127.0.0.1", self.web.port), timeout=30)
        path = f"/runs/run-1/default/agent/sessions/{session}/events"
        extra = f"Last-Event-ID: {last_id}\r\n" if last_id else ""
        sock.sendall(
            f"GET {path} HTTP/1.0\r\nCookie: {self.web.cookies[user]}\r\n{extra}\r\n".encode()
        )
        sock.setblocking(False)
        stream = Stream(session, sock)
        self.selector.register(sock, selectors.EVENT_READ, stream)
        self.all.append(stream)
        return stream

    def pump_until(self, done: Any, timeout: float = 60) -> None:
        """Read whatever arrives until ``done()`` (fails after ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "streams did not get there in time"
            for key, _ in self.selector.select(0.05):
                stream: Stream = key.data
                try:
                    data = stream.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                stream.feed(data)
                if stream.eof:
                    self.selector.unregister(stream.sock)

    def close(self, stream: Stream) -> None:
        if not stream.eof:
            self.selector.unregister(stream.sock)
        stream.sock.close()

    def close_all(self) -> None:
        for stream in self.all:
            if stream.sock.fileno() >= 0:
                self.close(stream)
        self.selector.close()


def _redis_connections_of(web: Web, redis_port: int) -> int:
    """TCP connections from the gunicorn worker process to Redis."""
    with open(f"/proc/{web.proc.pid}/task/{web.proc.pid}/children") as fh:
        (worker,) = [int(pid) for pid in fh.read().split()]
    return connections_to(worker, redis_port)


def _append(runtime: Any, session: str, text: str) -> str:
    body = ev.event_body(session, 1, ev.MESSAGE, {"text": text})
    return runtime.events.append(session, 1, [body])[0]


def test_requests_answer_and_events_reach_every_stream_while_300_are_open(
    web, runtime, run_dir, redis_client
):
    users = [f"user{i}" for i in range(USERS)]
    for user in users:
        web.login(user)
    streams = Streams(web)
    try:
        opened = [
            streams.open(user, runtime.sessions.create(user, "run-1", "default", "edit",
                                                       str(run_dir)).id)
            for user in users for _ in range(STREAMS_PER_USER)
        ]  # fmt: skip
        streams.pump_until(lambda: all(s.status for s in opened))
        assert {s.status for s in opened} == {200}

        # The rest of the app still answers with every stream open.
        status, chat, _ = web.request(
            "POST", "/runs/run-1/default/agent/chat", users[0], {"message": "hi"}
        )
        assert status == 202, chat
        sid = chat["session_id"]
        assert web.request("GET", f"/runs/run-1/default/agent/sessions/{sid}", users[0])[0] == 200
        status, cancel, _ = web.request(
            "POST", f"/runs/run-1/default/agent/sessions/{sid}/cancel", users[0], {}
        )
        assert status == 202 and cancel["cancelling"] is True
        assert web.request("GET", "/agent/health")[0] in (200, 503)  # 503: no worker here
        assert web.request("GET", "/runs/run-1/default/")[0] == 200  # the host's own page

        # Every stream gets its own session's next event, once.
        sent = {s.session: _append(runtime, s.session, "to everyone") for s in opened}
        streams.pump_until(lambda: all(s.ids for s in opened))
        assert all(s.ids == [sent[s.session]] for s in opened)

        # The pub/sub connection and the bounded pool, not a connection per stream.
        redis_port = redis_client.connection_pool.connection_kwargs["port"]
        assert 1 <= _redis_connections_of(web, redis_port) <= POOL_SIZE + 1 < len(opened)

        # A reconnect with Last-Event-ID gets exactly what it missed.
        again = opened[:20]
        missed = {}
        for stream in again:
            streams.close(stream)
            missed[stream.session] = _append(runtime, stream.session, "while away")
        deadline = time.monotonic() + 10  # the 15 s heartbeat would be too late
        while any(open_streams(runtime.redis, runtime.keys, u) > 0 for u in users[:2]):
            assert time.monotonic() < deadline, "closed streams kept their slots"
            time.sleep(0.1)
        back = [streams.open(_owner(runtime, s), s.session, s.ids[-1]) for s in again]
        streams.pump_until(lambda: all(s.ids for s in back))
        assert all(s.ids == [missed[s.session]] for s in back)
    finally:
        streams.close_all()


def _owner(runtime: Any, stream: Stream) -> str:
    return runtime.sessions.get(stream.session).user


def test_the_stream_cap_answers_429_and_a_closed_client_frees_its_slot(web, runtime, run_dir):
    web.login("alice")
    session = runtime.sessions.create("alice", "run-1", "default", "edit", str(run_dir)).id
    cap = runtime.settings.max_streams_per_user
    streams = Streams(web)
    try:
        held = [streams.open("alice", session) for _ in range(cap)]
        streams.pump_until(lambda: all(s.status for s in held))
        assert {s.status for s in held} == {200}
        assert open_streams(runtime.redis, runtime.keys, "alice") == cap

        path = f"/runs/run-1/default/agent/sessions/{session}/events"
        status, body, response = web.request("GET", path, "alice")
        assert status == 429 and body["error"]["code"] == "too_many_streams"
        assert response.getheader("Retry-After")

        # The client goes away without a word; its slot comes back well before the
        # 15 s heartbeat would have noticed (the fan-out probes the socket).
        streams.close(held.pop())
        deadline = time.monotonic() + 10
        while open_streams(runtime.redis, runtime.keys, "alice") == cap:
            assert time.monotonic() < deadline, "the slot was not freed"
            time.sleep(0.1)
        again = streams.open("alice", session)
        streams.pump_until(lambda: again.status != 0)
        assert again.status == 200
    finally:
        streams.close_all()


def test_sigterm_ends_every_open_stream(web, runtime, run_dir):
    web.login("alice")
    web.login("bob")
    sessions = {
        user: runtime.sessions.create(user, "run-1", "default", "edit", str(run_dir)).id
        for user in ("alice", "bob")
    }
    streams = Streams(web)
    try:
        opened = [streams.open(user, sid) for user, sid in sessions.items() for _ in range(16)]
        streams.pump_until(lambda: all(s.status for s in opened))
        event = _append(runtime, sessions["alice"], "before the end")
        streams.pump_until(lambda: all(s.ids for s in opened if s.session == sessions["alice"]))
        assert all(s.ids == [event] for s in opened if s.session == sessions["alice"])
        web.proc.send_signal(signal.SIGTERM)
        streams.pump_until(lambda: all(s.eof for s in opened), timeout=30)
        assert web.proc.wait(30) == 0
    finally:
        streams.close_all()
