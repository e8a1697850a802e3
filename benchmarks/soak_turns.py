"""Soak: many turns through the real web app and 4 workers, with random cancels and reconnects.

The real stack on loopback: an embedded Redis, the scripted model
(``python -m devmodel``), 4 ``codex-relay worker`` processes and the
demo host app under gunicorn (``blueprints.gunicorn_conf``). Client threads
(``--clients``, default 8), each its own logged-in user, drive sessions over
HTTP the way the panel does: keep the session's SSE stream open, ``POST
chat``, read events until the turn's ``turn.completed``; every
``--session-turns`` turns a thread starts a new session. Per turn, at random:

- ~10% are cancelled (``POST .../cancel``), half right after ``turn.queued``
  (the turn may still be queued), half 0-0.2 s after ``turn.started``; those
  turns run a 0.5 s shell command (scenario ``sleep_half``), the others the
  text-only ``hello``;
- ~20% drop the SSE connection mid-turn (after 1-3 events of the turn) and
  reconnect with ``Last-Event-ID`` after 0-0.3 s.

At the end, after a drain, the checks (figures, not verdicts):

- *lost events*: each session's log (``EventLog.read``, every page) against
  the events its client received, deduplicated by id: ids and JSON must match
  exactly; *duplicates* counts ids delivered twice (after a reconnect) and
  *gaps* ids that skipped ahead on one connection;
- *orphan Codex processes*: ``codex exec`` processes (``/proc``) whose
  command line names this soak's run directory, and any process whose working
  directory is inside it (the shell commands Codex starts);
- *stuck sessions*: records with ``running_turn != 0`` after the drain;
- *turn.completed per turn*: exactly one for every turn of every session log.

Run: ``python -m benchmarks.soak_turns [--turns 1000] [--time-cap 1200]
[--clients 8] [--seed 1]``
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cli.demo_app import SAMPLE_RUN, ensure_sample_run
from cli.embedded_redis import EmbeddedRedis
from relay.runtime import RelayRuntime
from relay.settings import load_settings
from relay.tokens import generate_keypair

from ._common import machine_line, print_table
from ._stack import HttpUser, load_line, model_server, relay_environment, stop_process, web_app

CONFIG = "default"
PREFIX = f"/runs/{SAMPLE_RUN}/{CONFIG}/agent"
WORKERS = 4
TURN_DEADLINE = 90.0
READ_TIMEOUT = 20.0  # the stream sends a heartbeat every 15 s
DRAIN_SECONDS = 60.0
CANCEL_SHARE = 0.10
RECONNECT_SHARE = 0.20
SLEEP_SCENARIO = [{"shell": "sleep 0.5"}, {"say": "Slept half a second."}]


# -- the SSE client ----------------------------------------------------------------


class Stream:
    """One SSE connection (``http.client``), read message by message."""

    def __init__(self, port: int, cookie: str, session: str, last_id: str | None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=READ_TIMEOUT)
        headers = {"Cookie": cookie, "Accept": "text/event-stream"}
        if last_id:
            headers["Last-Event-ID"] = last_id
        self.conn.request("GET", f"{PREFIX}/sessions/{session}/events", headers=headers)
        self.response = self.conn.getresponse()
        if self.response.status != 200:
            self.conn.close()
            raise RuntimeError(f"SSE refused: {self.response.status}")

    def next(self) -> tuple[str, str, bytes] | None:
        """``(event name, id, data)`` of the next message with data; ``None`` at the end."""
        name, event_id, data = "message", "", b""
        while True:
            line = self.response.readline()
            if not line:
                return None
            if line == b"\n":
                if data:
                    return name, event_id, data
                name, event_id, data = "message", "", b""
            elif line.startswith(b"event: "):
                name = line[7:].decode().strip()
            elif line.startswith(b"id: "):
                event_id = line[4:].decode().strip()
            elif line.startswith(b"data: "):
                data = line[6:].rstrip(b"\n")

    def close(self) -> None:
        self.conn.close()


# -- the clients -------------------------------------------------------------------------


@dataclass
class SessionSeen:
    """What a client received for one session."""

    id: str
    events: dict[str, bytes] = field(default_factory=dict)
    last_seq: int = 0
    duplicates: int = 0
    gaps: int = 0


@dataclass
class Tally:
    """Counts shared by the client threads (updated under ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    #: ``code: message`` of the error events of turns that did not complete.
    failures: Counter[str] = field(default_factory=Counter)
    sessions: list[SessionSeen] = field(default_factory=list)
    started: int = 0

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n


class Budget:
    """Turns left to start, and the time cap."""

    def __init__(self, turns: int, seconds: float) -> None:
        self.left = turns
        self.deadline = time.monotonic() + seconds
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.left <= 0 or time.monotonic() > self.deadline:
                return False
            self.left -= 1
            return True


class Client(threading.Thread):
    """One user driving sessions turn after turn."""

    def __init__(self, index: int, port: int, budget: Budget, tally: Tally, args: Any) -> None:
        super().__init__(name=f"soak-client-{index}", daemon=True)
        self.user = HttpUser(port)
        self.user.login(f"soak{index}")
        self.port = port
        self.budget = budget
        self.tally = tally
        self.session_turns = args.session_turns
        self.rng = random.Random(args.seed * 1000 + index)
        self.seen: SessionSeen | None = None
        self.stream: Stream | None = None
        self.turns_here = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while self.budget.take():
                self.one_turn()
        except BaseException as exc:  # reported in the table, not raised
            self.error = exc
        finally:
            if self.stream is not None:
                self.stream.close()

    # each received message goes through here
    def _receive(self, event_id: str, data: bytes) -> dict[str, Any]:
        assert self.seen is not None
        seq = int(event_id.split("-", 1)[0])
        if event_id in self.seen.events:
            self.seen.duplicates += 1
        else:
            self.seen.events[event_id] = data
        if seq > self.seen.last_seq + 1:
            self.seen.gaps += 1
        self.seen.last_seq = max(self.seen.last_seq, seq)
        return orjson.loads(data)

    def _last_id(self) -> str | None:
        assert self.seen is not None
        return f"{self.seen.last_seq}-0" if self.seen.last_seq else None

    def _reopen(self, pause: float = 0.0) -> None:
        assert self.seen is not None
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        if pause:
            time.sleep(pause)
        self.stream = Stream(self.port, self.user.cookie, self.seen.id, self._last_id())

    def one_turn(self) -> None:
        cancel = self.rng.random() < CANCEL_SHARE
        cancel_early = self.rng.random() < 0.5
        reconnect = self.rng.random() < RECONNECT_SHARE
        reconnect_after = self.rng.randint(1, 3)
        if self.seen is not None and self.turns_here >= self.session_turns:
            if self.stream is not None:
                self.stream.close()
            self.seen, self.stream, self.turns_here = None, None, 0
        scenario = "sleep_half" if cancel else "hello"
        body: dict[str, Any] = {"message": f"#scenario:{scenario} soak"}
        if self.seen is not None:
            body["session_id"] = self.seen.id
        status, answer = self.user.request("POST", f"{PREFIX}/chat", body)
        self.tally.add(f"chat {status}")
        if status != 202:
            time.sleep(0.5)
            return
        with self.tally.lock:
            self.tally.started += 1
        if self.seen is None:
            self.seen = SessionSeen(answer["session_id"])
            with self.tally.lock:
                self.tally.sessions.append(self.seen)
        self.turns_here += 1
        if self.stream is None:
            self._reopen()
        turn = answer["turn"]
        if cancel:
            self.tally.add("cancel requested")
        if reconnect:
            self.tally.add("reconnect planned")
        in_turn, cancelled, reconnected = 0, False, False
        errors_seen: list[str] = []
        deadline = time.monotonic() + TURN_DEADLINE
        while time.monotonic() < deadline:
            assert self.stream is not None
            try:
                message = self.stream.next()
            except (OSError, http.client.HTTPException):
                self.tally.add("stream read error, reconnected")
                self._reopen(0.2)
                continue
            if message is None:
                self.tally.add("stream ended by server, reconnected")
                self._reopen(0.2)
                continue
            name, event_id, data = message
            if name != "message" or not event_id:
                self.tally.add(f"sse event {name}")
                continue
            event = self._receive(event_id, data)
            if event.get("turn") != turn:
                continue
            in_turn += 1
            if event["type"] == "error":
                errors_seen.append(f"{event.get('code')}: {str(event.get('message'))[:160]}")
            if event["type"] == "turn.completed":
                with self.tally.lock:
                    self.tally.statuses[event["status"]] += 1
                    if event["status"] in ("failed", "timeout"):
                        for error in errors_seen or ["(no error event)"]:
                            self.tally.failures[error] += 1
                return
            if cancel and not cancelled:
                early = cancel_early and event["type"] == "turn.queued"
                late = not cancel_early and event["type"] == "turn.started"
                if early or late:
                    if late:
                        time.sleep(self.rng.uniform(0, 0.2))
                    code, _ = self.user.request(
                        "POST", f"{PREFIX}/sessions/{self.seen.id}/cancel", {}
                    )
                    self.tally.add(f"cancel {code}")
                    cancelled = True
            if reconnect and not reconnected and in_turn >= reconnect_after:
                self._reopen(self.rng.uniform(0, 0.3))
                self.tally.add("reconnect done")
                reconnected = True
        self.tally.add("turn not completed within the client's deadline")


# -- checks ------------------------------------------------------------------------------


def full_log(rt: RelayRuntime, session: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    after = None
    while True:
        batch = rt.events.read(session, after=after)
        for event in batch:
            out[event.id] = event.data
            after = event.id
        if len(batch) < 1000:
            return out


def scan_orphans(run_dir: Path, own: set[int]) -> tuple[list[str], list[str]]:
    """``codex exec`` processes naming ``run_dir``; other processes working inside it."""
    codex, inside = [], []
    root = str(run_dir.resolve())
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in own:
            continue
        try:
            argv = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(f"/proc/{name}/cwd")
        except OSError:
            continue
        line = b" ".join(argv).decode(errors="replace")
        if "codex" in line and "exec" in argv and root in line:
            codex.append(f"{name}: {line[:120]}")
        elif cwd == root or cwd.startswith(root + "/"):
            inside.append(f"{name}: {line[:120]}")
    return codex, inside


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--time-cap", type=float, default=1200.0, help="seconds")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--session-turns", type=int, default=12, help="turns per session")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print("== soak: turns over HTTP with random cancels and reconnects ==")
    print(machine_line())
    print(load_line())
    tally = Tally()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-turns-")))
        server = stack.enter_context(EmbeddedRedis())
        model = stack.enter_context(model_server(tmp))
        model.add_scenario("sleep_half", SLEEP_SCENARIO)
        private_key, public_key = generate_keypair()
        runs_root = tmp / "runs"
        run_dir = ensure_sample_run(runs_root)
        worker_env = relay_environment(
            server.url, model.base_url, model.catalog, public_key, str(tmp / "work"),
            CODEX_RELAY_IDLE_TIMEOUT="30",
            CODEX_RELAY_KILL_GRACE="0.5",
        )  # fmt: skip
        web_env = {
            **worker_env,
            "CODEX_RELAY_JWT_PRIVATE_KEY": private_key,
            "CODEX_RELAY_RUNS_ROOT": str(runs_root),
            "CODEX_RELAY_DEMO_SECRET_KEY": secrets.token_hex(32),
            "CODEX_RELAY_RATE_LIMIT_PER_MINUTE": "600",
        }
        workers = []
        for i in range(WORKERS):
            with open(tmp / f"worker-{i}.log", "wb") as log:
                workers.append(subprocess.Popen(
                    [sys.executable, "-m", "cli", "worker"],
                    env={**os.environ, **worker_env}, stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                ))  # fmt: skip
            stack.callback(stop_process, workers[-1])
        port = stack.enter_context(web_app(web_env, tmp / "web.log"))
        rt = RelayRuntime.from_settings(load_settings({**os.environ, **worker_env}))
        budget = Budget(args.turns, args.time_cap)
        clients = [Client(i, port, budget, tally, args) for i in range(args.clients)]
        start = time.monotonic()
        for client in clients:
            client.start()
        for client in clients:
            client.join(args.time_cap + TURN_DEADLINE + 30)
        soak_seconds = time.monotonic() - start
        # drain, then the checks
        drain_start = time.monotonic()
        ids = [seen.id for seen in tally.sessions]
        stuck: list[str] = ids
        while time.monotonic() - drain_start < DRAIN_SECONDS:
            stuck = [s for s in ids if (r := rt.sessions.get(s)) and r.running_turn]
            if not stuck:
                break
            time.sleep(0.5)
        time.sleep(2.0)
        own = {os.getpid()} | {w.pid for w in workers}
        orphans, inside = scan_orphans(run_dir, own)
        lost = extra = mismatched = duplicates = gaps = bad_final = events_total = 0
        turns_total = 0
        for seen in tally.sessions:
            log = full_log(rt, seen.id)
            events_total += len(log)
            lost += len(log.keys() - seen.events.keys())
            extra += len(seen.events.keys() - log.keys())
            mismatched += sum(
                1 for i in log.keys() & seen.events.keys()
                if orjson.loads(log[i]) != orjson.loads(seen.events[i])
            )  # fmt: skip
            duplicates += seen.duplicates
            gaps += seen.gaps
            record = rt.sessions.get(seen.id)
            finals = Counter(
                e["turn"] for e in map(orjson.loads, log.values()) if e["type"] == "turn.completed"
            )
            turns = record.turn if record else max(finals, default=0)
            turns_total += turns
            bad_final += sum(1 for t in range(1, turns + 1) if finals.get(t, 0) != 1)
        workers_alive = sum(1 for w in workers if w.poll() is None)
        rt.redis.close()
    errors = [f"{c.name}: {c.error!r}" for c in clients if c.error is not None]
    rows = [
        ["turns started (chat 202)", str(tally.started), ""],
        ["turn.completed received by clients, by status",
         " ".join(f"{k}:{v}" for k, v in sorted(tally.statuses.items())), ""],
        *[[key, str(value), ""] for key, value in sorted(tally.counts.items())],
        ["sessions", str(len(tally.sessions)), ""],
        ["events in the session logs", str(events_total), ""],
        ["lost events (in log, never received)", str(lost), "0"],
        ["received but not in log / JSON differs", f"{extra} / {mismatched}", "0 / 0"],
        ["duplicates delivered (after reconnects)", str(duplicates), "0"],
        ["gaps on one connection", str(gaps), "0"],
        ["orphan codex exec processes", str(len(orphans)), "0"],
        ["other processes left in the run dir", str(len(inside)), "0"],
        ["stuck sessions after drain (running_turn != 0)", str(len(stuck)), "0"],
        ["turns without exactly one turn.completed", f"{bad_final} of {turns_total}", "0"],
        ["workers alive at the end", f"{workers_alive}/{WORKERS}", ""],
        ["client thread errors", str(len(errors)), "0"],
    ]  # fmt: skip
    print_table(
        f"soak: {args.clients} clients, {WORKERS} workers, {soak_seconds:.0f} s "
        f"({tally.started / soak_seconds * 60:.0f} turns/min); cancel ~{CANCEL_SHARE:.0%},"
        f" reconnect ~{RECONNECT_SHARE:.0%}",
        ("measure", "value", "issue target"),
        rows,
    )
    for line in orphans + inside + errors + [f"stuck: {s}" for s in stuck]:
        print("  " + line)
    for failure, count in tally.failures.most_common():
        print(f"  failed turn x{count}: {failure}")
    print(load_line())


if __name__ == "__main__":
    main()
