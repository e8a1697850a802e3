"""Cancel latency: ``cancel_turn()`` -> ``turn.completed(cancelled)`` and -> no Codex process left.

Each turn makes the real Codex CLI run ``sleep 30.<n>`` (scripted model, a
scenario with one shell step, ``timeout_ms`` 60000, then a message it never
reaches) through a real ``codex-relay worker`` process. Once the command's
``tool.started`` is in the log and the ``sleep`` process exists under
Codex, this process snapshots the Codex process tree (the process group
leader, ``codex_pgid`` in the session record, and every descendant) and
then:

- **cancel**: calls ``relay.turns.cancel_turn()`` (what ``POST .../cancel``
  does) and times, from that call, (a) ``turn.completed`` with
  ``status: "cancelled"`` appearing in the session's log and (b) every
  process of the snapshot being gone (exited or a zombie);
- **idle timeout**: sends no cancel; a second worker has
  ``CODEX_RELAY_IDLE_TIMEOUT`` = ``IDLE_TIMEOUT``, and the same two times are
  taken from the idle deadline (the ``ts`` of the turn's last event before
  the silence + the idle timeout) to ``turn.completed`` with
  ``status: "timeout"``.

Baseline: the configured ``CODEX_RELAY_KILL_GRACE`` (the most the stop
sequence waits between SIGTERM and SIGKILL). "left" counts snapshot
processes still alive 3 s after ``turn.completed`` (they are then killed by
pid so the run ends clean). The workers use their own Redis databases, so
their queues are separate.

Run: ``python -m benchmarks.cancel_latency``
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import orjson

from bootstrap.codex_binary import locate_codex, probe_codex
from bootstrap.codex_process import descendants
from cli.embedded_redis import EmbeddedRedis
from relay.runtime import RelayRuntime
from relay.session_store import SessionRecord
from relay.settings import load_settings
from relay.tokens import generate_keypair, sign_run_token
from relay.turns import cancel_turn, start_turn

from ._common import machine_line, percentile, print_table
from ._stack import ModelServer, load_line, model_server, redis_db_url, relay_environment
from .turn_overhead import running_worker, wait_until_idle

RUNS = 10
KILL_GRACE = 1.0
IDLE_TIMEOUT = 3.0
TARGET_S = 2.0
POLL = 0.002
LEFT_CHECK = 3.0


@dataclass(frozen=True)
class Stop:
    """One stopped turn, seconds from the cancel call (or the idle deadline)."""

    completed: float
    gone: float
    left: int


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :][:1] != b"Z"


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ")
    except OSError:
        return b""


class Driver:
    """Start sleeping turns on one worker's database and watch them end."""

    def __init__(self, rt: RelayRuntime, model: ModelServer, run_dir: Path, key: str) -> None:
        self.rt = rt
        self.model = model
        self.run_dir = run_dir
        self.key = key

    def start(self, marker: str) -> tuple[SessionRecord, list[int]]:
        """Start a turn running ``sleep <marker>``; return it and its process tree."""
        name = "sleep_" + marker.replace(".", "_")
        self.model.add_scenario(name, [{"shell": f"sleep {marker}", "timeout_ms": 60000},
                                       {"say": "the sleep ended"}])  # fmt: skip
        record = self.rt.sessions.create("bench", self.run_dir.name, "default", "edit",
                                         str(self.run_dir))  # fmt: skip

        def mint(turn: int) -> str:
            return sign_run_token(self.key, user=record.user, runid=record.runid,
                                  config=record.config, session=record.id, tier=record.tier,
                                  lifetime=300, run_dir=record.run_dir)  # fmt: skip

        start_turn(self.rt, record, f"#scenario:{name}", mint)
        deadline = time.monotonic() + 60
        needle = f"sleep {marker}".encode()
        while time.monotonic() < deadline:
            fresh = self.rt.sessions.get(record.id)
            assert fresh is not None
            types = [orjson.loads(e.data)["type"] for e in self.rt.events.read(record.id)]
            if "turn.completed" in types:
                raise RuntimeError(f"the turn ended before it could be stopped: {types}")
            if "tool.started" in types and fresh.codex_pgid:
                tree = [fresh.codex_pgid, *descendants(fresh.codex_pgid)]
                if any(needle in _cmdline(pid) for pid in tree):
                    return fresh, tree
            time.sleep(0.01)
        raise RuntimeError("the sleep command did not start")

    def watch(
        self, record: SessionRecord, tree: list[int], status: str
    ) -> tuple[float, float, int]:
        """Wall times of ``turn.completed`` and of the tree being gone; processes left."""
        completed = gone = None
        last = None
        deadline = time.monotonic() + 60
        while (completed is None or gone is None) and time.monotonic() < deadline:
            for stored in self.rt.events.read(record.id, after=last):
                last = stored.id
                event = orjson.loads(stored.data)
                if event["type"] == "turn.completed":
                    completed = time.time()
                    if event["status"] != status:
                        raise RuntimeError(f"expected {status}, got {event}")
            if gone is None and not any(_alive(pid) for pid in tree):
                gone = time.time()
            time.sleep(POLL)
        if completed is None:
            raise RuntimeError("no turn.completed within 60 s")
        time.sleep(max(0.0, completed + LEFT_CHECK - time.time()))
        left = [pid for pid in tree if _alive(pid)]
        for pid in left:  # processes of this run's own turn: end them so nothing leaks
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        return completed, gone if gone is not None else float("inf"), len(left)

    def cancelled(self, marker: str) -> Stop:
        record, tree = self.start(marker)
        called = time.time()
        if not cancel_turn(self.rt, record):
            raise RuntimeError("cancel_turn found no running turn")
        completed, gone, left = self.watch(record, tree, "cancelled")
        return Stop(completed - called, gone - called, left)

    def idled(self, marker: str) -> Stop:
        record, tree = self.start(marker)
        completed, gone, left = self.watch(record, tree, "timeout")
        events = [orjson.loads(e.data) for e in self.rt.events.read(record.id)]
        quiet = [e["ts"] for e in events if e["type"] not in ("error", "turn.completed")]
        deadline = max(quiet) + IDLE_TIMEOUT
        return Stop(completed - deadline, gone - deadline, left)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def report(cancel: list[Stop], idle: list[Stop]) -> None:
    """p50/p95/max of both times for both ways of stopping, beside the kill grace."""
    target = f"< {TARGET_S:g} s, 0 left"

    def row(label: str, stops: list[Stop]) -> list[str]:
        done = [s.completed for s in stops]
        gone = [s.gone for s in stops]
        return [label, str(len(stops)), _ms(percentile(done, 50)), _ms(percentile(done, 95)),
                _ms(max(done)), _ms(percentile(gone, 50)), _ms(percentile(gone, 95)),
                _ms(max(gone)), str(sum(s.left for s in stops)),
                f"{percentile(done, 50) / KILL_GRACE:.2f}x", target]  # fmt: skip

    rows = [
        row("cancel_turn() -> ...", cancel),
        row(f"idle deadline ({IDLE_TIMEOUT:g} s) -> ...", idle),
        ["baseline: CODEX_RELAY_KILL_GRACE", "", _ms(KILL_GRACE), "", "", "", "", "", "",
         "1.00x", ""],
    ]  # fmt: skip
    header = ["stop (ms)", "n", "completed p50", "p95", "max", "tree gone p50", "p95", "max",
              "left", "done p50 / grace", "issue target"]  # fmt: skip
    print_table(
        "turn running `sleep 30` (shell step, timeout_ms 60000): time to stop it", header, rows
    )
    print("\ncompleted = turn.completed in the log; tree gone = Codex's process group leader and "
          "every descendant exited (zombies count as gone).")  # fmt: skip


def main() -> None:
    """Start Redis, the scripted model and two workers; stop sleeping turns; print."""
    print("== cancel latency: cancel_turn / idle timeout -> turn.completed, no child (issue 2) ==")
    print(machine_line())
    print(f"Codex CLI {probe_codex(locate_codex(None)).version}; CODEX_RELAY_KILL_GRACE="
          f"{KILL_GRACE:g}; before: {load_line()}")  # fmt: skip
    cancel: list[Stop] = []
    idle: list[Stop] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-cancel-")))
        server = stack.enter_context(EmbeddedRedis())
        model = stack.enter_context(model_server(tmp))
        private_key, public_key = generate_keypair()
        run_dir = tmp / "runs" / "run-1"
        run_dir.mkdir(parents=True)
        drivers = {}
        for db, (name, idle_timeout) in enumerate((("cancel", 30.0), ("idle", IDLE_TIMEOUT)), 1):
            env = relay_environment(
                redis_db_url(server.url, db),
                model.base_url,
                model.catalog,
                public_key,
                str(tmp / f"work-{name}"),
                CODEX_RELAY_KILL_GRACE=str(KILL_GRACE),
                CODEX_RELAY_IDLE_TIMEOUT=str(idle_timeout),
            )
            rt = RelayRuntime.from_settings(load_settings({**os.environ, **env}))
            worker = stack.enter_context(running_worker(env, tmp / f"worker-{name}.log"))
            drivers[name] = (Driver(rt, model, run_dir, private_key), worker)
        for n in range(RUNS):
            for name, results in (("cancel", cancel), ("idle", idle)):
                driver, worker = drivers[name]
                wait_until_idle(driver.rt, worker)
                marker = f"30.{1 if name == 'cancel' else 2}{n:03d}"
                stop = driver.cancelled(marker) if name == "cancel" else driver.idled(marker)
                results.append(stop)
        for driver, _ in drivers.values():
            driver.rt.redis.close()
    report(cancel, idle)
    print(f"after: {load_line()}")


if __name__ == "__main__":
    main()
