"""What giving Codex the MCP tools costs per turn: transport off vs http vs stdio.

A text-only turn (scripted model, scenario ``hello``: no tool is called)
runs through a real ``codex-relay worker`` process for each setting of
``CODEX_RELAY_MCP_TRANSPORT``:

- ``off``: Codex gets no MCP server (the baseline);
- ``http``: the worker started its own streamable-HTTP MCP server
  (``python -m mcp_tools`` over HTTP, long-running); Codex connects to it
  at start-up and lists its tools;
- ``stdio``: Codex starts ``python -m mcp_tools`` for the turn and waits for
  it before the first model request.

The three workers run side by side, each on its own Redis database of one
embedded Redis server (RQ's queue name is fixed), so only the transport
differs; only one turn runs at a time and the idle workers just wait on
Redis. The clock runs from ``start_turn`` (lock, ``turn.queued``, enqueue,
as the chat route does) until ``turn.completed`` is in the session's log.
Turns are interleaved, the order rotating each round, after a warm-up.

Run: ``python -m benchmarks.mcp_cost``
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bootstrap.codex_binary import locate_codex, probe_codex
from cli.embedded_redis import EmbeddedRedis
from relay.runtime import RelayRuntime
from relay.settings import load_settings
from relay.tokens import generate_keypair

from ._common import machine_line, percentile, print_table
from ._stack import load_line, model_server, redis_db_url, relay_environment
from .turn_overhead import Timing, relay_turn, running_worker, wait_until_idle

RUNS = 15
WARMUP = 2
TRANSPORTS = ("off", "http", "stdio")
TARGET_MS = 100.0
TARGETS = {"off": "(baseline)", "http": f"added < {TARGET_MS:g} ms", "stdio": "-"}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def report(timings: dict[str, list[Timing]]) -> None:
    """Whole-turn p50/p95 per transport and what each adds over ``off``."""
    base = [t.total for t in timings["off"]]
    b50, b95 = percentile(base, 50), percentile(base, 95)
    base_started = percentile([t.first_event for t in timings["off"]], 50)
    rows = []
    for name in TRANSPORTS:
        total = [t.total for t in timings[name]]
        started = [t.first_event for t in timings[name]]
        p50, p95 = percentile(total, 50), percentile(total, 95)
        s50 = percentile(started, 50)
        rows.append([name, _ms(p50), _ms(p95), _ms(p50 - b50), _ms(p95 - b95),
                     f"{p50 / b50:.2f}x", _ms(s50), _ms(s50 - base_started),
                     TARGETS[name]])  # fmt: skip
    header = ["transport (ms)", "turn p50", "turn p95", "added p50", "added p95", "x off",
              "turn.started p50", "added", "issue target"]  # fmt: skip
    runs = len(timings["off"])
    title = (f"text-only turn (scenario 'hello'), enqueue -> turn.completed, "
             f"N={runs} per transport, interleaved")  # fmt: skip
    print_table(title, header, rows)
    print("\nadded = transport - off (p50 - p50, p95 - p95); turn.started = enqueue -> "
          "turn.started in the log.")  # fmt: skip


def main() -> None:
    """Start Redis, the scripted model and one worker per transport; time the turns."""
    print("== MCP tools cost per turn: CODEX_RELAY_MCP_TRANSPORT off / http / stdio (issue 4) ==")
    print(machine_line())
    print(f"Codex CLI {probe_codex(locate_codex(None)).version}; before: {load_line()}")
    timings: dict[str, list[Timing]] = {name: [] for name in TRANSPORTS}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-mcp-")))
        server = stack.enter_context(EmbeddedRedis())
        model = stack.enter_context(model_server(tmp))
        private_key, public_key = generate_keypair()
        runs_root = tmp / "runs"
        run_dir = runs_root / "run-1"
        (run_dir / "reports").mkdir(parents=True)
        (run_dir / "reports" / "summary.md").write_text("# Summary\n\nLoss fell.\n")
        stacks = {}
        for db, name in enumerate(TRANSPORTS, start=1):
            env = relay_environment(
                redis_db_url(server.url, db),
                model.base_url,
                model.catalog,
                public_key,
                str(tmp / f"work-{name}"),
                CODEX_RELAY_MCP_TRANSPORT=name,
                CODEX_RELAY_RUNS_ROOT=str(runs_root),
            )
            rt = RelayRuntime.from_settings(load_settings({**os.environ, **env}))
            worker = stack.enter_context(running_worker(env, tmp / f"worker-{name}.log"))
            stacks[name] = (rt, worker)
        for round_ in range(WARMUP + RUNS):
            shift = round_ % len(TRANSPORTS)
            for name in TRANSPORTS[shift:] + TRANSPORTS[:shift]:
                rt, worker = stacks[name]
                wait_until_idle(rt, worker)
                timing = relay_turn(rt, run_dir, private_key)
                if round_ >= WARMUP:
                    timings[name].append(timing)
        for rt, _ in stacks.values():
            rt.redis.close()
    report(timings)
    print(f"after: {load_line()}")


if __name__ == "__main__":
    main()
