"""Open event streams held by ONE web process while events flow to all of them.

The real stack on loopback: an embedded Redis, and the demo host app under
gunicorn exactly as ``codex-relay web`` starts it (``blueprints.gunicorn_conf``:
one worker process of the shipped ``gevent`` worker class, where an open
stream waits in the process's event fan-out; for comparison, the ``gthread``
class at a small N, where each stream holds a thread).

For each variant and N (N=1 first: the fan-out baseline) a fresh web process
is started, so its memory figures are its own:

1. N sessions are created with ``SessionStore.create``, ten per user (so every
   user stays under the default cap of 16 streams), and every user logs in
   (``POST /demo/login``) so every stream passes the route's ownership check;
2. *idle baseline*: ``POST .../agent/chat`` (a real turn is locked and queued;
   no worker runs) is timed ``--chats`` times before any stream is open;
3. N streams are opened (``GET .../sessions/<id>/events``, HTTP/1.1, chunked)
   at up to ``--open-rate`` a second (``open s`` is how long it took until the
   last had its response headers) and read by a few client threads, each
   multiplexing its sockets with ``selectors``; then the benchmark waits until
   the web process's CPU falls below a fifth of a core (``settle s``: the last
   replays and subscriptions done);
4. events are appended with ``EventLog.append`` (the worker's write path: one
   Lua script, stream + pub/sub) round-robin over the N sessions at a fixed
   *total* rate, the same for every N, for long enough that every session gets
   at least one; each event carries its send time, and its fan-out latency is
   the arrival of its SSE frame at the client minus that time. Meanwhile a
   client thread times ``POST .../agent/chat`` again at a steady pace;
5. a stream is *held* if it stayed open and received every event appended to
   its session, in order, exactly once.

RSS is ``VmRSS`` of the gunicorn worker process (``/proc``): before any stream
(after the logins and the idle chats) and after the event phase; per stream =
the difference / N. Redis connections are the worker process's TCP
connections to Redis (``/proc/<pid>/net/tcp`` matched to its sockets). The
client and the server share the 2 cores, so the load average is printed.
Nothing here passes or fails: the issue's target is printed beside the figures.

Run: ``python -m benchmarks.load_sse_streams [--streams 1000,5000,10000]
[--gthread 500] [--rate 500] [--min-seconds 10] [--readers 4] [--chats 100]
[--open-rate 1000]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import re
import resource
import secrets
import selectors
import socket
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import redis

from cli.demo_app import SAMPLE_RUN, ensure_sample_run
from cli.embedded_redis import EmbeddedRedis, connections_to
from relay import events as ev
from relay.event_log import EventLog
from relay.keys import RelayKeys
from relay.session_store import SessionStore
from relay.tokens import generate_keypair

from ._common import machine_line, percentile, print_table
from ._stack import HttpUser, load_line, web_app

CONFIG = "default"
STREAMS_PER_USER = 10
TARGET_STREAMS = 10_000
TARGET_FANOUT_P99_MS = 50.0
TARGET_CHAT_P99_MS = 100.0
OPEN_TIMEOUT = 180.0
DRAIN_SECONDS = 5.0
CHAT_PACE = 0.2  # seconds between two timed chat POSTs while streams are open
SETTLED_CPU = 0.2  # the web process counts as settled below this share of a core

# -- /proc ---------------------------------------------------------------------


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _ppid(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def gunicorn_worker_pid(port: int, timeout: float = 20.0) -> int:
    """The pid of the gunicorn worker (the child of the master) bound to ``port``."""
    needle = f"127.0.0.1:{port} "
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
        ours = {pid for pid in pids if needle in _cmdline(pid)}
        workers = [pid for pid in ours if _ppid(pid) in ours]
        if len(workers) == 1:
            return workers[0]
        time.sleep(0.1)
    raise RuntimeError("could not find the gunicorn worker process")


def status_field(pid: int, name: str) -> int:
    """A numeric field of ``/proc/<pid>/status`` (``VmRSS`` in kB, ``Threads``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise KeyError(name)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raise_open_files(wanted: int) -> int:
    """Raise RLIMIT_NOFILE (inherited by the servers started after) up to ``wanted``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


# -- the web process ---------------------------------------------------------------


#: Variant name -> environment of its web process (the worker class and its capacity).
def variant_env(variant: str, n: int) -> dict[str, str]:
    if variant == "gevent":
        return {"CODEX_RELAY_WEB_WORKER_CLASS": "gevent",
                "CODEX_RELAY_WEB_CONNECTIONS": str(n + 500)}  # fmt: skip
    return {"CODEX_RELAY_WEB_WORKER_CLASS": "gthread", "CODEX_RELAY_WEB_THREADS": str(n + 100)}


def settle(pid: int, busy: float = SETTLED_CPU, longest: float = 60.0) -> float:
    """Wait until the web process has finished opening streams (its CPU falls below ``busy``).

    Streams that have their response headers may still be replaying and
    subscribing; the event phase measures the steady state after that.
    """
    start = time.perf_counter()
    while time.perf_counter() - start < longest:
        before = cpu_seconds(pid)
        time.sleep(0.5)
        if (cpu_seconds(pid) - before) / 0.5 < busy:
            break
    return time.perf_counter() - start


def timed_chat(port: int, cookie: str) -> float:
    """Seconds one ``POST .../agent/chat`` takes (a new session and a queued turn)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = json.dumps({"message": "hello"}).encode()
    headers = {"Cookie": cookie, "Content-Type": "application/json"}
    start = time.perf_counter()
    try:
        conn.request("POST", f"/runs/{SAMPLE_RUN}/{CONFIG}/agent/chat", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 202:
            raise RuntimeError(f"chat answered {response.status}")
        return time.perf_counter() - start
    finally:
        conn.close()


# -- the multiplexed SSE client -------------------------------------------------


_CHUNK_SIZE = re.compile(rb"^([0-9a-fA-F]+)")


@dataclass
class Stream:
    """One SSE connection and what it received."""

    session: str
    sock: socket.socket
    status: int = 0
    chunked: bool = False
    closed: bool = False
    raw: bytearray = field(default_factory=bytearray)
    body: bytearray = field(default_factory=bytearray)
    headers_done: bool = False
    unavailable: bool = False
    ids: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def feed(self, data: bytes, now: float) -> None:
        self.raw += data
        if not self.headers_done:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.raw[:end]).decode("latin-1").lower()
            self.status = int(head.split(" ", 2)[1])
            self.chunked = "transfer-encoding: chunked" in head
            del self.raw[: end + 4]
            self.headers_done = True
        if self.chunked:
            self._dechunk()
        else:
            self.body += self.raw
            self.raw.clear()
        self._frames(now)

    def _dechunk(self) -> None:
        while True:
            line_end = self.raw.find(b"\r\n")
            if line_end < 0:
                return
            match = _CHUNK_SIZE.match(self.raw[:line_end])
            size = int(match.group(1), 16) if match else 0
            if size == 0:
                self.closed = True
                return
            if len(self.raw) < line_end + 2 + size + 2:
                return
            start = line_end + 2
            self.body += self.raw[start : start + size]
            del self.raw[: start + size + 2]

    def _frames(self, now: float) -> None:
        while True:
            end = self.body.find(b"\n\n")
            if end < 0:
                return
            frame = bytes(self.body[:end])
            del self.body[: end + 2]
            event_id, data = None, None
            for line in frame.split(b"\n"):
                if line.startswith(b"id: "):
                    event_id = line[4:]
                elif line.startswith(b"data: "):
                    data = line[6:]
            if frame.startswith(b"event: unavailable"):
                self.unavailable = True
            if event_id is None or data is None:
                continue  # the retry preamble, a heartbeat comment, unavailable
            self.ids.append(int(event_id.split(b"-", 1)[0]))
            sent = orjson.loads(data).get("sent")
            if sent is not None:
                self.latencies.append(now - sent)


class Reader(threading.Thread):
    """One client thread reading many streams through a selector."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.selector = selectors.DefaultSelector()
        self.pending: queue.SimpleQueue[Stream] = queue.SimpleQueue()
        self.stop = threading.Event()

    def add(self, stream: Stream) -> None:
        """Hand a connected stream to this reader (registered at its next wake-up)."""
        stream.sock.setblocking(False)
        self.pending.put(stream)

    def run(self) -> None:
        while not self.stop.is_set():
            while not self.pending.empty():
                stream = self.pending.get()
                self.selector.register(stream.sock, selectors.EVENT_READ, stream)
            if not self.selector.get_map():
                time.sleep(0.02)
                continue
            ready = self.selector.select(timeout=0.02)
            now = time.time()
            for key, _ in ready:
                stream: Stream = key.data
                try:
                    data = stream.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    stream.closed = True
                    self.selector.unregister(stream.sock)
                    continue
                stream.feed(data, now)

    def close(self) -> None:
        self.stop.set()
        self.join(5)
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        while not self.pending.empty():
            self.pending.get().sock.close()
        self.selector.close()


def open_stream(port: int, cookie: str, session: str) -> Stream:
    """Connect and send the SSE request (blocking); the reader takes it from there."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    path = f"/runs/{SAMPLE_RUN}/{CONFIG}/agent/sessions/{session}/events"
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n"
        "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
    )
    sock.sendall(request.encode())
    return Stream(session, sock)


# -- one level -------------------------------------------------------------------


@dataclass
class Level:
    """The figures of one variant and N."""

    variant: str
    streams: int
    opened: int = 0
    refused: int = 0
    unavailable: int = 0
    held: int = 0
    events: int = 0
    received: int = 0
    open_seconds: float = 0.0
    settle_seconds: float = 0.0
    rss_before_kb: int = 0
    rss_after_kb: int = 0
    threads: int = 0
    redis_before: int = 0
    redis_after: int = 0
    web_cpu: float = 0.0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    chat_idle: list[float] = field(default_factory=list)
    chat_busy: list[float] = field(default_factory=list)
    chat_errors: int = 0


def _chat_loop(port: int, cookie: str, stop: threading.Event, out: Level) -> None:
    while not stop.is_set():
        try:
            out.chat_busy.append(timed_chat(port, cookie))
        except (OSError, RuntimeError):
            out.chat_errors += 1
        stop.wait(CHAT_PACE)


def run_level(
    variant: str, n: int, env: dict[str, str], tmp: Path, redis_url: str, rate: float,
    min_seconds: float, readers: int, chats: int, open_rate: float,
) -> Level:  # fmt: skip
    """Start a web process, open ``n`` streams, append events, time chats, measure."""
    level = Level(variant, n)
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    redis_port = int(client.connection_pool.connection_kwargs["port"])
    keys = RelayKeys()
    store = SessionStore(client, keys)
    log = EventLog(client, keys)
    run_dir = str(Path(env["CODEX_RELAY_RUNS_ROOT"]) / SAMPLE_RUN)
    users = [f"user{i}" for i in range((n + STREAMS_PER_USER - 1) // STREAMS_PER_USER)]
    owners = [users[i // STREAMS_PER_USER] for i in range(n)]
    sessions = [store.create(owner, SAMPLE_RUN, CONFIG, "edit", run_dir).id for owner in owners]
    web_env = {**env, **variant_env(variant, n)}
    with web_app(web_env, tmp / f"web-{variant}-{n}.log") as port:
        pid = gunicorn_worker_pid(port)
        cookies = {}
        for user in users:
            http_user = HttpUser(port)
            http_user.login(user)
            cookies[user] = http_user.cookie
        chatter = HttpUser(port)
        chatter.login("chatter")
        level.chat_idle = [timed_chat(port, chatter.cookie) for _ in range(chats)]
        level.rss_before_kb = status_field(pid, "VmRSS")
        level.redis_before = connections_to(pid, redis_port)
        pool = [Reader(f"sse-reader-{i}") for i in range(readers)]
        for reader in pool:
            reader.start()
        streams: list[Stream] = []
        try:
            opening = time.perf_counter()
            for index, session in enumerate(sessions):
                pause = opening + index / open_rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                stream = open_stream(port, cookies[owners[index]], session)
                streams.append(stream)
                pool[index % readers].add(stream)
            deadline = time.monotonic() + OPEN_TIMEOUT
            while time.monotonic() < deadline:
                if all(s.headers_done or s.closed for s in streams):
                    break
                time.sleep(0.05)
            level.open_seconds = time.perf_counter() - opening
            level.settle_seconds = settle(pid)
            level.opened = sum(1 for s in streams if s.status == 200 and not s.closed)
            expected = dict.fromkeys(sessions, 0)
            stop_chats = threading.Event()
            chat_thread = threading.Thread(
                target=_chat_loop, args=(port, chatter.cookie, stop_chats, level), daemon=True
            )
            cpu_before = cpu_seconds(pid)
            chat_thread.start()
            start = time.perf_counter()
            interval = 1.0 / rate
            total = max(int(rate * min_seconds), n)
            for i in range(total):
                due = start + i * interval
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                session = sessions[i % n]
                sent = time.time()
                body = ev.event_body(session, 1, ev.MESSAGE, {"text": "tick", "sent": sent}, sent)
                if log.append(session, 1, [body]):
                    expected[session] += 1
            level.seconds = time.perf_counter() - start
            stop_chats.set()
            chat_thread.join(60)
            deadline = time.monotonic() + DRAIN_SECONDS
            while time.monotonic() < deadline:
                if sum(len(s.ids) for s in streams) >= sum(expected.values()):
                    break
                time.sleep(0.05)
            level.web_cpu = cpu_seconds(pid) - cpu_before
            level.rss_after_kb = status_field(pid, "VmRSS")
            level.threads = status_field(pid, "Threads")
            level.redis_after = connections_to(pid, redis_port)
            level.events = sum(expected.values())
            level.refused = sum(1 for s in streams if s.status not in (0, 200))
            level.unavailable = sum(1 for s in streams if s.unavailable)
            for stream in streams:
                want = list(range(1, expected[stream.session] + 1))
                level.received += len(stream.ids)
                if not stream.closed and stream.status == 200 and stream.ids == want:
                    level.held += 1
                level.latencies += stream.latencies
        finally:
            for reader in pool:
                reader.close()
    client.close()
    return level


# -- reporting -------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _p(values: list[float], p: float) -> float:
    return percentile(values, p) if values else float("nan")


def report(levels: list[Level], rate: float) -> None:
    rows = []
    for level in levels:
        base = next(b for b in levels if b.variant == level.variant and b.streams == 1)
        p99 = _p(level.latencies, 99)
        base_p99 = _p(base.latencies, 99)
        chat_p99, idle_p99 = _p(level.chat_busy, 99), _p(level.chat_idle, 99)
        per_stream = (level.rss_after_kb - level.rss_before_kb) / level.streams
        rows.append([
            f"{level.variant}, N={level.streams}", f"{level.opened}",
            f"{level.refused}/{level.unavailable}", f"{level.held}",
            f"{level.received}/{level.events}",
            f"{level.open_seconds:.1f}+{level.settle_seconds:.1f}",
            f"{level.rss_before_kb / 1024:.0f} -> {level.rss_after_kb / 1024:.0f}",
            f"{per_stream:.0f}", f"{level.threads}",
            f"{level.redis_before} -> {level.redis_after}",
            _ms(_p(level.latencies, 50)), _ms(p99),
            "baseline" if level is base else f"{p99 / base_p99:.1f}x",
            f"{_ms(_p(level.chat_busy, 50))}/{_ms(chat_p99)}",
            f"{_ms(idle_p99)} ({chat_p99 / idle_p99:.1f}x)",
            f"{level.chat_errors}",
            f"{level.web_cpu / level.seconds * 100:.0f}%",
        ])  # fmt: skip
    header = ("web worker, streams", "open", "refused/unavail", "held", "events rcvd/sent",
              "open+settle s", "RSS MiB", "KiB/stream", "threads", "redis conns", "fan-out p50",
              "p99 ms", "p99 vs N=1", "chat p50/p99 ms", "chat p99 idle (ratio)",
              "chat errors", "web CPU")  # fmt: skip
    title = (f"one gunicorn worker process; events at {rate:g}/s in total round-robin over "
             "the N sessions (every session gets at least one)")  # fmt: skip
    print_table(title, header, rows)
    print(
        "\nopen = 200 and still open after the open phase; refused = non-200 answer;"
        " unavail = got 'event: unavailable'; held = open at the end and got every event of"
        " its session, in order, once; fan-out latency = SSE frame at the client -"
        " time.time() before EventLog.append; p99 vs N=1 = the same variant's 1-stream p99 at"
        " the same total rate; chat = POST .../agent/chat while the streams are open, idle ="
        " the same request on the same process before any stream; redis conns = the worker"
        " process's connections to Redis before any stream -> after the event phase; web CPU"
        " = worker CPU / wall in the event phase; RSS = VmRSS before any stream -> after."
    )
    print(
        f"issue target: {TARGET_STREAMS:,} held, fan-out p99 < {TARGET_FANOUT_P99_MS:g} ms, "
        f"Redis connections independent of N, chat POST p99 < {TARGET_CHAT_P99_MS:g} ms"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--streams", default="1000,5000,10000", help="comma-separated N values")
    parser.add_argument("--gthread", default="500", help="N values for the gthread comparison")
    parser.add_argument("--rate", type=float, default=500.0, help="events per second in total")
    parser.add_argument("--min-seconds", type=float, default=10.0)
    parser.add_argument("--readers", type=int, default=4, help="client reader threads")
    parser.add_argument("--chats", type=int, default=100, help="timed chats before streams")
    parser.add_argument(
        "--open-rate", type=float, default=1000.0, help="new streams per second while opening"
    )
    args = parser.parse_args(argv)
    plan = [("gevent", 1)] + [("gevent", int(x)) for x in args.streams.split(",") if x.strip()]
    extra = [int(x) for x in args.gthread.split(",") if x.strip()]
    if extra:
        plan += [("gthread", 1)] + [("gthread", n) for n in extra]
    print("== open event streams on one web process while events flow ==")
    print(machine_line())
    print(load_line())
    print(f"RLIMIT_NOFILE raised to {raise_open_files(max(n for _, n in plan) + 2048)}")
    levels: list[Level] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="load-sse-")))
        server = stack.enter_context(EmbeddedRedis())
        private_key, public_key = generate_keypair()
        runs_root = tmp / "runs"
        ensure_sample_run(runs_root)
        env = {
            "REDIS_URL": server.url,
            "CODEX_RELAY_JWT_PRIVATE_KEY": private_key,
            "CODEX_RELAY_JWT_PUBLIC_KEY": public_key,
            "CODEX_RELAY_RUNS_ROOT": str(runs_root),
            "CODEX_RELAY_DEMO_SECRET_KEY": secrets.token_hex(32),
            "CODEX_RELAY_MCP_TRANSPORT": "off",
            # The timed chats queue real turns (no worker runs): lift the per-user limits.
            "CODEX_RELAY_RATE_LIMIT_PER_MINUTE": "1000000",
            "CODEX_RELAY_MAX_RUNNING_TURNS": "1000000",
            "CODEX_RELAY_MAX_SESSIONS_PER_USER": "1000000",
        }
        for variant, n in plan:
            level = run_level(
                variant, n, env, tmp, server.url, args.rate, args.min_seconds, args.readers,
                args.chats, args.open_rate,
            )  # fmt: skip
            levels.append(level)
            print(f"  {variant}, N={n}: {level.held}/{n} held, {load_line()}", flush=True)
    report(levels, args.rate)
    print(load_line())


if __name__ == "__main__":
    main()
