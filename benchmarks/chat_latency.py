"""Chat latency: POST chat -> first SSE event, and -> ``turn.started``, through the real stack.

The whole path runs as real processes on loopback: an embedded Redis, the
scripted model (``python -m devmodel``, scenario ``hello``: one
text-only answer), one ``codex-relay worker`` (already running and idle;
``CODEX_RELAY_MCP_TRANSPORT=off``) running the real Codex CLI, and the demo
host app under gunicorn (``blueprints.gunicorn_conf``). This process is the
browser: it logs in (``POST /demo/login``), then for each turn

1. ``POST /runs/sample-run/default/agent/chat`` (a new session each turn),
2. opens the session's SSE stream as soon as the 202 arrives,
3. stamps every SSE message as it arrives, until ``turn.completed``.

Figures are from the moment the POST is sent. Baselines, measured in the
same run and interleaved with the turns:

- **web round trip**: ``GET /agent/health`` on the same app, fresh
  connection like the POST (what any request to the app costs);
- **codex exec itself**: ``codex exec --json`` spawned directly with the
  worker's config, environment, argv and prompt, from spawn to its first
  stdout line (and to its ``turn.started`` line): the part of
  ``turn.started`` that is Codex starting up, not the relay.

The web app's per-user rate limit is raised for the run
(``CODEX_RELAY_RATE_LIMIT_PER_MINUTE``): 50 turns in a few seconds would
otherwise hit the default of 30 a minute.

Run: ``python -m benchmarks.chat_latency``
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bootstrap.codex_binary import locate_codex, probe_codex
from bootstrap.codex_command import prepare_launch
from bootstrap.codex_home import CodexHome
from cli.demo_app import ensure_sample_run
from cli.embedded_redis import EmbeddedRedis
from relay.runtime import RelayRuntime
from relay.settings import Settings, load_settings
from relay.tokens import generate_keypair
from relay.turns import TurnRequest

from ._common import machine_line, percentile, print_table
from ._stack import HttpUser, load_line, model_server, relay_environment, web_app
from .turn_overhead import running_worker, wait_until_idle

RUNS = 50
WARMUP = 3
MESSAGE = "#scenario:hello say hi"
TURN_TIMEOUT = 60.0


@dataclass(frozen=True)
class ChatTiming:
    """One turn, seconds from sending the POST."""

    accepted: float  # the 202
    queued: float  # first SSE message (turn.queued)
    started: float  # turn.started
    completed: float  # turn.completed


@dataclass(frozen=True)
class DirectTiming:
    """``codex exec`` run directly, seconds from spawn."""

    first_line: float
    started: float


def stream_turn(user: HttpUser, message: str) -> tuple[float, float, dict[str, float]]:
    """Send ``message``; follow its stream to ``turn.completed``.

    Returns when the POST was sent, when its 202 came, and when each event
    type first arrived (``time.time()``).
    """
    start = time.time()
    status, body = user.request("POST", "/runs/sample-run/default/agent/chat", {"message": message})
    accepted = time.time()
    if status != 202:
        raise RuntimeError(f"chat refused: {status} {body}")
    seen: dict[str, float] = {}
    with user.stream(body["events_url"]) as messages:
        for item in messages:
            kind = item.data.get("type", "")
            if not seen and kind != "turn.queued":
                raise RuntimeError(f"first event was {kind}, not turn.queued")
            seen.setdefault(kind, item.received)
            if kind == "turn.completed":
                if item.data.get("status") != "completed":
                    raise RuntimeError(f"turn ended badly: {item.data}")
                break
            if time.time() - start > TURN_TIMEOUT:
                raise RuntimeError("turn did not complete")
    return start, accepted, seen


def chat_turn(user: HttpUser) -> ChatTiming:
    """Send one message and follow its stream to ``turn.completed``."""
    start, accepted, seen = stream_turn(user, MESSAGE)
    return ChatTiming(accepted - start, seen["turn.queued"] - start,
                      seen["turn.started"] - start, seen["turn.completed"] - start)  # fmt: skip


def health_round_trip(user: HttpUser) -> float:
    """``GET /agent/health`` on a fresh connection, in seconds."""
    start = time.time()
    status, _ = user.request("GET", "/agent/health")
    elapsed = time.time() - start
    if status != 200:
        raise RuntimeError(f"health answered {status}")
    return elapsed


def direct_codex(settings: Settings, run_dir: Path) -> DirectTiming:
    """``codex exec`` as the worker spawns it (turn_job.TurnRunner._spawn), from this process."""
    home = CodexHome(settings, "direct")
    try:
        request = TurnRequest(session="direct", turn=1, user="bench", runid=run_dir.name,
                              config="default", tier="edit", run_dir=str(run_dir),
                              message=MESSAGE, token="")  # fmt: skip
        codex_path = probe_codex(locate_codex(settings.codex_bin)).path
        launch = prepare_launch(settings, home, request, codex_path, None)  # as the worker does
        start = time.time()
        codex = subprocess.Popen(launch.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, env=launch.env,
                                 cwd=launch.cwd)  # fmt: skip
        assert codex.stdin is not None and codex.stdout is not None
        codex.stdin.write(launch.stdin)
        codex.stdin.close()
        first_line = started = None
        for line in codex.stdout:
            now = time.time()
            first_line = first_line or now - start
            if started is None and b'"turn.started"' in line:
                started = now - start
        codex.stdout.close()
        if codex.wait(TURN_TIMEOUT) != 0 or first_line is None or started is None:
            raise RuntimeError(f"direct codex exec ended badly (status {codex.returncode})")
        return DirectTiming(first_line, started)
    finally:
        home.remove()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def report(chat: list[ChatTiming], health: list[float], direct: list[DirectTiming]) -> None:
    """Print p50/p95 of each step beside its baseline."""
    h50, h95 = percentile(health, 50), percentile(health, 95)
    d_first = [d.first_line for d in direct]
    d_started = [d.started for d in direct]

    def row(
        label: str, values: list[float], base: str, base_values: list[float] | None
    ) -> list[str]:
        p50, p95 = percentile(values, 50), percentile(values, 95)
        if base_values is None:
            return [label, _ms(p50), _ms(p95), "", "", "", "-"]
        b50 = percentile(base_values, 50)
        return [label, _ms(p50), _ms(p95), base, _ms(b50), f"{p50 / b50:.1f}x", "-"]

    rows = [
        row("POST chat -> 202", [c.accepted for c in chat], "GET /agent/health", health),
        row("POST chat -> first SSE event (turn.queued)", [c.queued for c in chat],
            "GET /agent/health", health),
        row("POST chat -> turn.started", [c.started for c in chat],
            "codex exec: spawn -> turn.started", d_started),
        row("POST chat -> turn.completed", [c.completed for c in chat], "", None),
        ["baseline: GET /agent/health round trip", _ms(h50), _ms(h95), "", "", "", ""],
        ["baseline: codex exec spawn -> first stdout line", _ms(percentile(d_first, 50)),
         _ms(percentile(d_first, 95)), "", "", "", ""],
        ["baseline: codex exec spawn -> turn.started line", _ms(percentile(d_started, 50)),
         _ms(percentile(d_started, 95)), "", "", "", ""],
    ]  # fmt: skip
    header = ["measure (ms)", "p50", "p95", "baseline", "base p50", "ratio p50", "issue target"]
    title = (f"chat latency through gunicorn + 1 worker + Codex (scenario 'hello'), "
             f"N={len(chat)} turns, baselines interleaved")  # fmt: skip
    print_table(title, header, rows)
    relay_part = percentile([c.started for c in chat], 50) - percentile(d_started, 50)
    print(f"\nturn.started p50 minus Codex's own spawn -> turn.started p50: {_ms(relay_part)} ms "
          "(web app, queue, worker fork, CODEX_HOME, SSE).")  # fmt: skip
    print("issue 3 states no figure for this path; ratio = p50 / baseline p50.")


@dataclass
class WebStack:
    """The whole stack on loopback, as real processes, ready for turns."""

    rt: RelayRuntime
    settings: Settings
    worker: subprocess.Popen[bytes]
    port: int
    run_dir: Path


def start_web_stack(stack: ExitStack, prefix: str) -> WebStack:
    """Redis, the scripted model, one idle worker and the demo app under gunicorn.

    Everything stops when ``stack`` closes. The per-user rate limit is raised:
    a benchmark sends many turns a minute.
    """
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
    server = stack.enter_context(EmbeddedRedis())
    model = stack.enter_context(model_server(tmp))
    private_key, public_key = generate_keypair()
    runs_root = tmp / "runs"
    runs_root.mkdir()
    run_dir = ensure_sample_run(runs_root)
    env = relay_environment(server.url, model.base_url, model.catalog, public_key,
                            str(tmp / "work"), CODEX_RELAY_RUNS_ROOT=str(runs_root),
                            CODEX_RELAY_RATE_LIMIT_PER_MINUTE="100000")  # fmt: skip
    settings = load_settings({**os.environ, **env})
    rt = RelayRuntime.from_settings(settings)
    stack.callback(rt.redis.close)
    worker = stack.enter_context(running_worker(env, tmp / "worker.log"))
    web_env = {**env, "CODEX_RELAY_JWT_PRIVATE_KEY": private_key}
    port = stack.enter_context(web_app(web_env, tmp / "web.log"))
    return WebStack(rt, settings, worker, port, run_dir)


def main() -> None:
    """Start Redis, the scripted model, a worker and gunicorn; time the turns; print."""
    print("== chat latency: POST chat -> SSE turn.queued / turn.started (issue 3) ==")
    print(machine_line())
    print(f"Codex CLI {probe_codex(locate_codex(None)).version}; "
          f"CODEX_RELAY_MCP_TRANSPORT=off; before: {load_line()}")  # fmt: skip
    with ExitStack() as stack:
        web = start_web_stack(stack, "bench-chat-")
        rt, settings, worker = web.rt, web.settings, web.worker
        user = HttpUser(web.port)
        user.login("bench")
        chat: list[ChatTiming] = []
        health: list[float] = []
        direct: list[DirectTiming] = []
        for index in range(WARMUP + RUNS):
            wait_until_idle(rt, worker)
            c = chat_turn(user)
            wait_until_idle(rt, worker)
            h = health_round_trip(user)
            d = direct_codex(settings, web.run_dir)
            if index >= WARMUP:
                chat.append(c)
                health.append(h)
                direct.append(d)
    report(chat, health, direct)
    print(f"after: {load_line()}")


if __name__ == "__main__":
    main()
