"""Concurrent turns through 4 relay workers vs the same Codex turns run directly, 4 at a time.

Both sides run the real Codex CLI against the scripted model (``python -m
devmodel``, its own process) with the relay's ``config.toml``
(``bootstrap.codex_home.CodexHome``), environment (``codex_environment``),
argv and prompt, in two scenarios: ``hello`` (one text-only answer) and
``shell_ls`` (a shell round trip: ``ls -la``, then an answer).

- **relay**: 4 real ``codex-relay worker`` processes (RQ forking workers: one
  work horse per job, which spawns Codex) on an embedded Redis. ``--turns``
  sessions get one turn each, all queued at once with ``start_turn`` (what
  the chat route does: lock, ``turn.queued``, enqueue); the clock runs from
  the first enqueue to the last ``turn.completed`` read from the event logs.
- **direct**: the same number of ``codex exec`` runs from a plain pool of 4
  threads in this process, each spawning Codex and reading its stdout to the
  end; the clock runs from the first spawn to the last exit.

CPU, all from the kernel's own accounting:

- *worker main*: ``utime+stime`` of the 4 worker processes themselves
  (``/proc/<pid>/stat``, delta over the batch): dequeue, fork, monitoring;
- *horses + Codex*: the workers' ``cutime+cstime`` delta: every reaped work
  horse, including the Codex process it waited for and Codex's own children;
- *Codex (direct)*: ``RUSAGE_CHILDREN`` of this process over the direct batch:
  exactly the Codex processes (and their children) of that batch;
- *relay CPU/turn* = (worker main + horses + Codex) / turns - Codex (direct) /
  turns of the same scenario: what the relay adds, assuming Codex costs the
  same on both sides (same binary, config, prompt and model script);
- *horse own (sampled)*: ``utime+stime`` of each work horse alone, read from
  ``/proc`` every 20 ms while it lives (the last read before it exits; a lower
  bound that excludes Codex entirely), as a cross-check;
- *Redis*: the Redis server's CPU delta (``/proc``) per turn (the direct side
  uses none).

The scripted model's CPU is on both sides and counted on neither. The 4
workers, the 4 Codex processes, the model and Redis share 2 cores, so the
load average is printed. The issue sets no number for this one.

Run: ``python -m benchmarks.load_turns [--turns 40] [--workers 4]``
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from rq import Worker

from bootstrap.codex_binary import locate_codex, probe_codex
from bootstrap.codex_command import prepare_launch
from bootstrap.codex_home import CodexHome
from cli.demo_app import ensure_sample_run
from cli.embedded_redis import EmbeddedRedis
from relay.runtime import RelayRuntime
from relay.settings import Settings, load_settings
from relay.tokens import generate_keypair, sign_run_token
from relay.turns import TurnRequest, start_turn

from ._common import machine_line, print_table
from ._stack import load_line, model_server, relay_environment, stop_process

SCENARIOS = ("hello", "shell_ls")
TURN_TIMEOUT = 120.0
WARMUP = 4
_TICK = os.sysconf("SC_CLK_TCK")


# -- /proc -----------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def own_cpu(pid: int) -> float:
    """utime + stime of ``pid`` alone, in seconds."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / _TICK


def children_cpu(pid: int) -> float:
    """cutime + cstime of ``pid``: its reaped children (and theirs), in seconds."""
    fields = _stat_fields(pid)
    return (int(fields[13]) + int(fields[14])) / _TICK


def child_pids(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class HorseSampler(threading.Thread):
    """Reads each work horse's own CPU every ``interval`` s while it lives."""

    def __init__(self, workers: list[int], interval: float = 0.02) -> None:
        super().__init__(name="horse-sampler", daemon=True)
        self.workers = workers
        self.interval = interval
        self.seen: dict[int, float] = {}
        self.stopped = threading.Event()

    def reset(self) -> None:
        self.seen = {}

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            for worker in self.workers:
                for horse in child_pids(worker):
                    try:
                        self.seen[horse] = max(self.seen.get(horse, 0.0), own_cpu(horse))
                    except OSError:
                        pass


# -- the two sides -------------------------------------------------------------------


@dataclass
class Batch:
    """One batch of concurrent turns and its costs."""

    side: str
    scenario: str
    turns: int
    wall: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    worker_main: float = 0.0
    horses_and_codex: float = 0.0
    codex: float = 0.0
    horse_own: float = 0.0
    horses_seen: int = 0
    redis: float = 0.0

    @property
    def per_minute(self) -> float:
        return self.turns / self.wall * 60


def wait_idle(
    rt: RelayRuntime, workers: list[subprocess.Popen[bytes]], timeout: float = 60
) -> None:
    """Until every worker has registered and is idle (its last horse reaped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in workers:
            if proc.poll() is not None:
                raise RuntimeError(f"a worker exited with status {proc.returncode}")
        found = Worker.all(connection=rt.redis)
        if len(found) == len(workers) and all(w.get_state() == "idle" for w in found):
            return
        time.sleep(0.02)
    raise RuntimeError("the workers did not become idle")


def relay_batch(
    rt: RelayRuntime, run_dir: Path, private_key: str, scenario: str, turns: int,
    workers: list[subprocess.Popen[bytes]], sampler: HorseSampler, redis_pid: int,
) -> Batch:  # fmt: skip
    """Queue ``turns`` turns at once (one per session) and wait for every ``turn.completed``."""
    batch = Batch("relay", scenario, turns)
    records = [
        rt.sessions.create("bench", run_dir.name, "default", "edit", str(run_dir))
        for _ in range(turns)
    ]
    wait_idle(rt, workers)
    pids = [w.pid for w in workers]
    main_before = sum(own_cpu(p) for p in pids)
    kids_before = sum(children_cpu(p) for p in pids)
    redis_before = own_cpu(redis_pid)
    sampler.reset()
    start = time.perf_counter()
    for record in records:

        def mint(turn: int, record=record) -> str:  # type: ignore[no-untyped-def]
            return sign_run_token(private_key, user=record.user, runid=record.runid,
                                  config=record.config, session=record.id, tier=record.tier,
                                  lifetime=600, run_dir=record.run_dir)  # fmt: skip

        start_turn(rt, record, f"#scenario:{scenario} go", mint)
    cursors = {rt.keys.events(r.id): "0-0" for r in records}
    deadline = time.monotonic() + TURN_TIMEOUT
    while cursors and time.monotonic() < deadline:
        reply = rt.redis.xread(cursors, block=1000, count=100)
        for key, rows in reply or []:
            key = key.decode()
            for entry_id, fields in rows:
                cursors[key] = entry_id.decode()
                event = orjson.loads(fields[b"e"])
                if event["type"] == "turn.completed":
                    batch.statuses[event["status"]] += 1
                    del cursors[key]
                    break
    batch.wall = time.perf_counter() - start
    batch.statuses["unfinished"] += len(cursors)
    wait_idle(rt, workers)
    time.sleep(0.1)
    batch.worker_main = sum(own_cpu(p) for p in pids) - main_before
    batch.horses_and_codex = sum(children_cpu(p) for p in pids) - kids_before
    batch.redis = own_cpu(redis_pid) - redis_before
    batch.horse_own = sum(sampler.seen.values())
    batch.horses_seen = len(sampler.seen)
    return batch


def direct_turn(settings: Settings, run_dir: Path, codex_path: str, message: str, n: int) -> str:
    """``codex exec`` with the relay's config, environment, argv and prompt; its final status."""
    home = CodexHome(settings, f"direct-{n}")
    try:
        request = TurnRequest(session=f"direct-{n}", turn=1, user="bench", runid=run_dir.name,
                              config="default", tier="edit", run_dir=str(run_dir),
                              message=message, token="")  # fmt: skip
        launch = prepare_launch(settings, home, request, codex_path, None)  # as the worker does
        codex = subprocess.Popen(launch.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, env=launch.env,
                                 cwd=launch.cwd)  # fmt: skip
        assert codex.stdin is not None and codex.stdout is not None
        codex.stdin.write(launch.stdin)
        codex.stdin.close()
        completed = False
        for line in codex.stdout:
            completed = completed or b'"turn.completed"' in line
        codex.stdout.close()
        code = codex.wait(TURN_TIMEOUT)
        return "completed" if code == 0 and completed else f"failed ({code})"
    finally:
        home.remove()


def direct_batch(
    settings: Settings, run_dir: Path, codex_path: str, scenario: str, turns: int, pool: int
) -> Batch:
    """``turns`` Codex runs, ``pool`` at a time, from a plain thread pool."""
    batch = Batch("direct", scenario, turns)
    message = f"#scenario:{scenario} go"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with ThreadPoolExecutor(pool) as executor:
        results = list(
            executor.map(lambda n: direct_turn(settings, run_dir, codex_path, message, n),
                         range(turns))
        )  # fmt: skip
    batch.wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    batch.codex = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    batch.statuses.update(results)
    return batch


# -- reporting -----------------------------------------------------------------------


def _ms(seconds: float, turns: int) -> str:
    return f"{seconds / turns * 1000:.0f}"


def _statuses(counter: Counter[str]) -> str:
    return " ".join(f"{k}:{v}" for k, v in sorted(counter.items()) if v)


def report(results: dict[str, tuple[Batch, Batch]], workers: int) -> None:
    rows = []
    for scenario, (relay, direct) in results.items():
        for batch in (relay, direct):
            ratio = "1.00" if batch is direct else f"{relay.per_minute / direct.per_minute:.2f}"
            rows.append([f"{scenario} / {batch.side}", str(batch.turns), _statuses(batch.statuses),
                         f"{batch.wall:.1f}", f"{batch.per_minute:.0f}", ratio, "-"])  # fmt: skip
    print_table(
        f"throughput: {workers} relay workers vs {workers} concurrent codex exec",
        ("scenario / side", "turns", "final statuses", "wall s", "turns/min", "vs direct",
         "issue target"),
        rows,
    )  # fmt: skip
    rows = []
    for scenario, (relay, direct) in results.items():
        n = relay.turns
        relay_total = relay.worker_main + relay.horses_and_codex
        added = relay_total / n - direct.codex / direct.turns
        rows.append([
            scenario, _ms(relay.worker_main, n), _ms(relay.horses_and_codex, n),
            _ms(relay_total, n), _ms(direct.codex, direct.turns), f"{added * 1000:.0f}",
            f"{relay_total / n / (direct.codex / direct.turns):.2f}",
            f"{_ms(relay.horse_own, n)} ({relay.horses_seen} horses)", _ms(relay.redis, n), "-",
        ])  # fmt: skip
    print_table(
        "CPU per turn (ms): relay side (kernel accounting of the worker processes) vs direct Codex",
        ("scenario", "worker main", "horses+Codex", "relay total", "Codex direct",
         "relay added", "total/direct", "horse own (sampled)", "Redis", "issue target"),
        rows,
    )  # fmt: skip
    print(
        "\nrelay added = relay total - Codex direct (same scenario); horse own is a lower bound"
        " (last /proc read, every 20 ms, before the horse exits). See the module docstring."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--turns", type=int, default=40, help="turns per batch")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    print("== concurrent turns: relay workers vs codex exec directly ==")
    print(machine_line())
    print(load_line())
    codex = probe_codex(locate_codex(None))
    print(f"Codex CLI {codex.version}; CODEX_RELAY_MCP_TRANSPORT=off on both sides")
    results: dict[str, tuple[Batch, Batch]] = {}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="load-turns-")))
        server = stack.enter_context(EmbeddedRedis())
        assert server.process is not None
        model = stack.enter_context(model_server(tmp))
        private_key, public_key = generate_keypair()
        env = relay_environment(
            server.url, model.base_url, model.catalog, public_key, str(tmp / "work"),
            CODEX_RELAY_TURN_TIMEOUT=str(TURN_TIMEOUT),
            CODEX_RELAY_MAX_RUNNING_TURNS="100000",
        )  # fmt: skip
        settings = load_settings({**os.environ, **env})
        rt = RelayRuntime.from_settings(settings)
        run_dir = ensure_sample_run(tmp / "runs")
        workers: list[subprocess.Popen[bytes]] = []
        for i in range(args.workers):
            with open(tmp / f"worker-{i}.log", "wb") as log:
                workers.append(subprocess.Popen(
                    [sys.executable, "-m", "cli", "worker"], env={**os.environ, **env},
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                ))  # fmt: skip
            stack.callback(stop_process, workers[-1])
        sampler = HorseSampler([w.pid for w in workers])
        sampler.start()
        stack.callback(sampler.stopped.set)
        wait_idle(rt, workers)
        redis_pid = server.process.pid
        for index, scenario in enumerate(SCENARIOS):
            relay_batch(rt, run_dir, private_key, scenario, WARMUP, workers, sampler, redis_pid)
            direct_batch(settings, run_dir, codex.path, scenario, WARMUP, args.workers)
            if index % 2 == 0:
                relay = relay_batch(rt, run_dir, private_key, scenario, args.turns, workers,
                                    sampler, redis_pid)  # fmt: skip
                direct = direct_batch(settings, run_dir, codex.path, scenario, args.turns,
                                      args.workers)  # fmt: skip
            else:
                direct = direct_batch(settings, run_dir, codex.path, scenario, args.turns,
                                      args.workers)  # fmt: skip
                relay = relay_batch(rt, run_dir, private_key, scenario, args.turns, workers,
                                    sampler, redis_pid)  # fmt: skip
            results[scenario] = (relay, direct)
            print(f"  {scenario}: relay {relay.wall:.1f} s, direct {direct.wall:.1f} s")
        rt.redis.close()
    report(results, args.workers)
    print(load_line())


if __name__ == "__main__":
    main()
