"""Relay overhead per turn: a scripted turn through the RQ worker vs ``codex exec`` run directly.

Both sides run the real Codex CLI against the scripted model
(``devmodel``, scenario ``hello``: one text-only answer), with the same
``config.toml`` (written by ``bootstrap.codex_home.CodexHome``), the same
environment (``codex_environment``), the same argv and the same prompt, in
the same turn sandbox (``bootstrap.sandbox.turn_launch``; its own cost is
``benchmarks/sandbox_cost.py``):

- **relay**: a real ``codex-relay worker`` process, already running and idle,
  on a real Redis; the clock runs from ``start_turn`` (lock the session, log
  ``turn.queued``, enqueue, as the web route does) until ``turn.completed``
  is in the session's event log (read with a blocking ``XREAD``);
- **direct**: ``codex exec`` spawned from this process; the clock runs from
  spawn to exit, with stdout read to the end.

The runs are interleaved (relay, direct, direct, relay, ...) after a short
warm-up of each. ``CODEX_RELAY_MCP_TRANSPORT=off`` here, so neither side
starts an MCP server; with the default stdio transport every relay turn also
waits for ``python -m mcp_tools`` to start (about 0.5 s, see DESIGN.md),
which is the cost of giving Codex the tools, not of relaying.

Run: ``python -m benchmarks.turn_overhead``
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
from rq import Worker

from bootstrap.codex_binary import locate_codex, probe_codex
from bootstrap.codex_home import CodexHome
from bootstrap.sandbox import turn_launch
from cli.embedded_redis import EmbeddedRedis
from devmodel import DevModelServer, codex_model_catalog
from relay.runtime import RelayRuntime
from relay.settings import Settings, load_settings
from relay.tokens import generate_keypair, sign_run_token
from relay.turns import TurnRequest, start_turn

from ._common import machine_line, percentile, print_table
from ._stack import relay_environment

RUNS = 20
WARMUP = 2
MESSAGE = "#scenario:hello say hi"
TURN_TIMEOUT = 60.0
TARGET_MS = 100.0
TARGET_PERCENT = 10.0


@dataclass(frozen=True)
class Timing:
    """One turn, in seconds from its start."""

    total: float
    first_event: float


# -- the stack ---------------------------------------------------------------


@contextmanager
def running_worker(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A long-running ``codex-relay worker`` process; stopped (by its pid) on exit."""
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "cli", "worker"],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def wait_until_idle(rt: RelayRuntime, worker: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Wait until the worker has registered and waits for a job."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with status {worker.returncode}")
        workers = Worker.all(connection=rt.redis)
        if workers and all(w.get_state() == "idle" for w in workers):
            return
        time.sleep(0.005)
    raise RuntimeError("the worker did not become idle")


# -- one turn each way --------------------------------------------------------


def relay_turn(rt: RelayRuntime, run_dir: Path, private_key: str) -> Timing:
    """Enqueue a turn as the web route does; time it until ``turn.completed`` is logged."""
    record = rt.sessions.create("bench", run_dir.name, "default", "read", str(run_dir))

    def mint(turn: int) -> str:
        return sign_run_token(
            private_key,
            user=record.user,
            runid=record.runid,
            config=record.config,
            session=record.id,
            tier=record.tier,
            lifetime=120,
            run_dir=record.run_dir,
        )

    start = time.perf_counter()
    start_turn(rt, record, MESSAGE, mint)
    last, first_event = "0-0", None
    deadline = time.monotonic() + TURN_TIMEOUT
    while time.monotonic() < deadline:
        for stored in rt.events.wait(record.id, last, block_ms=1000):
            now = time.perf_counter()
            last = stored.id
            event = orjson.loads(stored.data)
            if event["type"] == "turn.started" and first_event is None:
                first_event = now - start
            if event["type"] == "turn.completed":
                if event["status"] != "completed" or first_event is None:
                    raise RuntimeError(f"relay turn ended badly: {event}")
                return Timing(now - start, first_event)
    raise RuntimeError("relay turn did not complete")


def direct_turn(settings: Settings, run_dir: Path) -> Timing:
    """Run ``codex exec`` with the relay's config, environment, argv and prompt; time it."""
    home = CodexHome(settings, "direct")
    try:
        request = TurnRequest(
            session="direct",
            turn=1,
            user="bench",
            runid=run_dir.name,
            config="default",
            tier="read",
            run_dir=str(run_dir),
            message=MESSAGE,
            token="",
        )
        codex_path = probe_codex(locate_codex(settings.codex_bin)).path
        launch = turn_launch(settings, home, request, codex_path, None)  # as the worker does
        start = time.perf_counter()
        codex = subprocess.Popen(
            launch.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=launch.env,
            cwd=launch.cwd,
        )
        assert codex.stdin is not None and codex.stdout is not None
        codex.stdin.write(launch.stdin)
        codex.stdin.close()
        first_event, completed = None, False
        for line in codex.stdout:
            if first_event is None and b'"turn.started"' in line:
                first_event = time.perf_counter() - start
            completed = completed or b'"turn.completed"' in line
        returncode = codex.wait(TURN_TIMEOUT)
        total = time.perf_counter() - start
        if returncode != 0 or not completed or first_event is None:
            raise RuntimeError(f"direct codex exec ended badly (status {returncode})")
        return Timing(total, first_event)
    finally:
        home.remove()


# -- reporting ----------------------------------------------------------------


TARGET = f"< {TARGET_MS:g} ms and < {TARGET_PERCENT:g}%"
HEADER = (
    "measure (ms)", "relay p50", "relay p95", "direct p50", "direct p95",
    "added p50", "added p95", "added %", "issue target",
)  # fmt: skip


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def _row(label: str, relay: list[float], direct: list[float], target: str) -> list[str]:
    r50, r95 = percentile(relay, 50), percentile(relay, 95)
    d50, d95 = percentile(direct, 50), percentile(direct, 95)
    added = f"{(r50 - d50) / d50 * 100:.0f}%"
    return [label, _ms(r50), _ms(r95), _ms(d50), _ms(d95), _ms(r50 - d50), _ms(r95 - d95),
            added, target]  # fmt: skip


def report(relay: list[Timing], direct: list[Timing]) -> None:
    """Print p50/p95 of both sides and what the relay adds."""
    paired = statistics.median(r.total - d.total for r, d in zip(relay, direct, strict=True))
    paired_share = paired / statistics.median(d.total for d in direct) * 100
    rows = [
        _row("whole turn (enqueue -> turn.completed | spawn -> exit)",
             [t.total for t in relay], [t.total for t in direct], TARGET),
        _row("until turn.started (first event)",
             [t.first_event for t in relay], [t.first_event for t in direct], "-"),
        ["whole turn, median of paired differences", "", "", "", "", _ms(paired), "",
         f"{paired_share:.0f}%", TARGET],
    ]  # fmt: skip
    title = f"text-only turn (devmodel scenario 'hello'), N={len(relay)} each, interleaved"
    print_table(title, HEADER, rows)
    print("\nadded = relay - direct; added % = added p50 / direct p50 (paired: / direct median).")


def main() -> None:
    """Start Redis, the scripted model and a worker; time the turns; print the table."""
    print("== relay overhead per turn: RQ worker + event log vs codex exec directly ==")
    print(machine_line())
    codex = probe_codex(locate_codex(None))
    print(
        f"Codex CLI {codex.version}; CODEX_RELAY_MCP_TRANSPORT=off (no MCP server on either side)"
    )
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-turn-")))
        server = stack.enter_context(EmbeddedRedis())
        model = stack.enter_context(DevModelServer())
        catalog = tmp / "catalog.json"
        catalog.write_text(json.dumps(codex_model_catalog()))
        private_key, public_key = generate_keypair()
        env = relay_environment(
            server.url, model.base_url, str(catalog), public_key, str(tmp / "work")
        )
        settings = load_settings({**os.environ, **env})  # what the worker sees
        rt = RelayRuntime.from_settings(settings)
        run_dir = tmp / "runs" / "run-1"
        (run_dir / "reports").mkdir(parents=True)
        (run_dir / "reports" / "summary.md").write_text("# Summary\n\nLoss fell.\n")
        worker = stack.enter_context(running_worker(env, tmp / "worker.log"))
        relay: list[Timing] = []
        direct: list[Timing] = []
        for index in range(WARMUP + RUNS):
            wait_until_idle(rt, worker)
            if index % 2 == 0:  # alternate which side goes first
                r, d = relay_turn(rt, run_dir, private_key), direct_turn(settings, run_dir)
            else:
                d, r = direct_turn(settings, run_dir), relay_turn(rt, run_dir, private_key)
            if index >= WARMUP:
                relay.append(r)
                direct.append(d)
        rt.redis.close()
    report(relay, direct)


if __name__ == "__main__":
    main()
