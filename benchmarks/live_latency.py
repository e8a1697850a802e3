"""Runners compared: how soon a turn starts and its text shows, and what a turn costs.

For each runner in one run (``exec``, then ``app-server`` with its warm start),
through the real stack on loopback: an embedded Redis, the scripted model,
one ``codex-relay worker`` (``CODEX_RELAY_MCP_TRANSPORT=off``, as
``chat_latency``) and the demo host app under gunicorn. This process is the
browser: it logs in, then for each turn sends ``POST .../agent/chat`` and
reads the session's SSE stream, stamping each event as it arrives:

- **POST -> turn.started** and **POST -> first text** (the first
  ``message.delta`` under app-server; the whole ``message`` under exec, which
  has no deltas), p50 and p95;
- **model's first delta -> SSE client**, p99: the scripted model runs in this
  process (a thread), so the moment it writes a turn's first
  ``response.output_text.delta`` and the moment the browser gets the first
  ``message.delta`` are on one clock; this is the path model -> Codex ->
  worker -> Redis -> gunicorn -> browser (app-server only: exec has no deltas);
- **CPU per turn**: user + system seconds of the worker and everything it
  started (work horses, Codex, the warm Codex), from ``getrusage(RUSAGE_CHILDREN)``
  around a worker that serves N turns, minus the same for a worker that
  starts and stops serving none (its fixed cost).

Baselines measured in the same run: ``GET /agent/health`` on a fresh
connection (a web round trip), interleaved with the turns; the idle worker
above. Figures are ratios against those and between the runners.

Run: ``python -m benchmarks.live_latency``
"""

from __future__ import annotations

import json
import resource
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bootstrap.codex_binary import locate_codex, probe_codex
from cli.demo_app import ensure_sample_run
from cli.embedded_redis import EmbeddedRedis
from devmodel import DevModelServer, codex_model_catalog
from devmodel import responses as model_responses
from relay.runtime import RelayRuntime
from relay.settings import load_settings
from relay.tokens import generate_keypair

from ._common import machine_line, percentile, print_table
from ._stack import HttpUser, load_line, relay_environment, web_app
from .chat_latency import health_round_trip, stream_turn
from .turn_overhead import running_worker, wait_until_idle

RUNS = 30
WARMUP = 3
#: A text-only answer in several deltas (the scripted model sends them at once).
WORDS = ["The ", "runner ", "streams ", "this ", "answer ", "as ", "it ", "is ", "written."]
RUNNERS = ("exec", "app-server")


@dataclass(frozen=True)
class LiveTiming:
    """One turn, seconds from sending the POST (``first_delta``: model -> browser)."""

    started: float
    first_text: float
    model_to_browser: float | None


class ModelClock:
    """Stamps (this process's clock) when the scripted model writes a response's first delta."""

    def __init__(self) -> None:
        self.stamps: list[float] = []
        original = model_responses._SseWriter.event

        def event(writer: Any, payload: dict[str, Any]) -> None:
            if payload.get("type") == "response.output_text.delta" and not getattr(
                writer, "_stamped", False
            ):
                writer._stamped = True
                self.stamps.append(time.time())
            original(writer, payload)

        model_responses._SseWriter.event = event  # type: ignore[method-assign]


def live_turn(user: HttpUser, message: str, clock: ModelClock) -> LiveTiming:
    """Send one message; follow its stream to ``turn.completed``."""
    before = len(clock.stamps)
    start, _, seen = stream_turn(user, message)
    first_text = seen.get("message.delta", seen["message"])
    model = clock.stamps[before] if len(clock.stamps) > before else None
    to_browser = seen["message.delta"] - model if "message.delta" in seen and model else None
    return LiveTiming(seen["turn.started"] - start, first_text - start, to_browser)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wait_warm(log: Path, count: int, timeout: float = 60) -> None:
    """Until the worker has warmed ``count`` app-servers (its log says so)."""
    deadline = time.monotonic() + timeout
    while log.read_text(errors="replace").count("warm Codex ready") < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not warm Codex; see {log}")
        time.sleep(0.005)


@contextmanager
def _worker(env: dict[str, str], runner: str, log: Path, rt: RelayRuntime) -> Any:
    with running_worker({**env, "CODEX_RELAY_RUNNER": runner}, log) as worker:
        wait_until_idle(rt, worker)
        if runner == "app-server":
            _wait_warm(log, 1)
        yield worker


def run_phase(
    env: dict[str, str], runner: str, user: HttpUser, rt: RelayRuntime, clock: ModelClock, tmp: Path
) -> tuple[list[LiveTiming], list[float], float]:
    """``RUNS`` turns under ``runner``: timings, health baselines, CPU seconds per turn."""
    # The fixed cost of a worker that serves nothing (start, preflight, a warm Codex, stop).
    idle_before = _children_cpu()
    with _worker(env, runner, tmp / f"idle-{runner}.log", rt):
        pass
    idle = _children_cpu() - idle_before
    timings: list[LiveTiming] = []
    health: list[float] = []
    busy_before = _children_cpu()
    log = tmp / f"worker-{runner}.log"
    with _worker(env, runner, log, rt) as worker:
        for index in range(WARMUP + RUNS):
            wait_until_idle(rt, worker)
            if runner == "app-server":
                _wait_warm(log, index + 1)
            timing = live_turn(user, f"#scenario:bench_live {runner} {index}", clock)
            h = health_round_trip(user)
            if index >= WARMUP:
                timings.append(timing)
                health.append(h)
    cpu_per_turn = (_children_cpu() - busy_before - idle) / (WARMUP + RUNS)
    return timings, health, cpu_per_turn


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def report(results: dict[str, tuple[list[LiveTiming], list[float], float]]) -> None:
    """p50/p95 per runner, beside the web round trip and each other."""
    health = [h for _, hs, _ in results.values() for h in hs]
    h50 = percentile(health, 50)
    rows = []
    for measure, pick in (
        ("POST -> turn.started", lambda t: t.started),
        ("POST -> first text", lambda t: t.first_text),
    ):
        base = [pick(t) for t in results["exec"][0]]
        for runner in RUNNERS:
            values = [pick(t) for t in results[runner][0]]
            p50, p95 = percentile(values, 50), percentile(values, 95)
            vs_exec = f"{p50 / percentile(base, 50):.2f}x" if runner != "exec" else "-"
            rows.append([f"{measure} ({runner})", _ms(p50), _ms(p95), f"{p50 / h50:.1f}x", vs_exec])
    deltas = [
        t.model_to_browser for t in results["app-server"][0] if t.model_to_browser is not None
    ]
    p99 = percentile(deltas, 99)
    rows.append(
        ["model's first delta -> SSE client, p99 (app-server)", _ms(p99), "",
         f"{p99 / percentile(health, 99):.1f}x (vs health p99)", ""]
    )  # fmt: skip
    rows.append(["baseline: GET /agent/health", _ms(h50), _ms(percentile(health, 95)), "1.0x", ""])
    cpu = {runner: results[runner][2] for runner in RUNNERS}
    for runner in RUNNERS:
        rows.append([f"CPU per turn, worker + Codex ({runner}), s", f"{cpu[runner]:.3f}", "", "",
                     f"{cpu[runner] / cpu['exec']:.2f}x" if runner != "exec" else "-"])  # fmt: skip
    header = ["measure (ms unless noted)", "p50", "p95", "vs web round trip", "vs exec"]
    n = len(results["exec"][0])
    print_table(f"runners compared (scenario: 9 text deltas), N={n} turns each", header, rows)
    target = percentile([t.started for t in results["app-server"][0]], 50)
    print(
        f"\nissue 11 target: POST -> turn.started p50 <= 60 ms (app-server warm): {_ms(target)} ms"
    )


def main() -> None:
    """Start the stack; run both runners' phases; print."""
    print("== live turns: exec vs app-server (warm): start, first text, deltas, CPU (issue 11) ==")
    print(machine_line())
    print(f"Codex CLI {probe_codex(locate_codex(None)).version}; "
          f"CODEX_RELAY_MCP_TRANSPORT=off; before: {load_line()}")  # fmt: skip
    clock = ModelClock()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-live-")))
        server = stack.enter_context(EmbeddedRedis())
        model = stack.enter_context(DevModelServer())
        model.add_scenario("bench_live", [{"say": WORDS}])
        catalog = tmp / "devmodel-catalog.json"
        catalog.write_text(json.dumps(codex_model_catalog()))
        private_key, public_key = generate_keypair()
        runs_root = tmp / "runs"
        runs_root.mkdir()
        ensure_sample_run(runs_root)
        env = relay_environment(server.url, model.base_url, str(catalog), public_key,
                                str(tmp / "work"),
                                CODEX_RELAY_RUNS_ROOT=str(runs_root),
                                CODEX_RELAY_RATE_LIMIT_PER_MINUTE="100000")  # fmt: skip
        rt = RelayRuntime.from_settings(load_settings(env))
        web_env = {**env, "CODEX_RELAY_JWT_PRIVATE_KEY": private_key}
        port = stack.enter_context(web_app(web_env, tmp / "web.log"))
        user = HttpUser(port)
        user.login("bench")
        results = {runner: run_phase(env, runner, user, rt, clock, tmp) for runner in RUNNERS}
        rt.redis.close()
    report(results)
    print(f"after: {load_line()}")


if __name__ == "__main__":
    main()
