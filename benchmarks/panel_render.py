"""The command-bar panel in real Chromium: render cost, memory, input latency under a stream.

Everything is real: a Redis server, the demo host app under gunicorn (the
relay's events route serving SSE), Debian's Chromium driven by Playwright.
Events reach the page through the real server path: they are appended to
the session's Redis stream with :class:`relay.event_log.EventLog` (what a
worker does) while the page is connected to the events route, so no Codex
or worker is needed. The mix per turn of 20 events: ``turn.queued``,
``turn.started``, agent messages (markdown with a list and a code block),
reasoning, command tool cards (``tool.started`` + ``tool.completed`` with a
few lines of output), ``usage``, ``turn.completed``.

Figures:

- **render**: 100 events (baseline) and 1,000 events, appended at once;
  "end to end" runs from the append in this process until every node is in
  the panel's log (the page polls each animation frame); "in page" from the
  first node to the last. Heap is ``JSHeapUsedSize`` (CDP
  ``Performance.getMetrics``) after a forced garbage collection.
- **input latency**: characters typed into the Message box (CDP key events,
  one every 25 ms); per key, the time from the ``keydown`` event's timestamp
  to the next animation frame after its ``input`` event (when the character
  can be painted), and the keydown handler's own start delay. Baseline: the
  panel idle; then while events stream at 200/s (10 every 50 ms).

Run: ``python -m benchmarks.panel_render``
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import redis
from playwright.sync_api import Browser, Page, sync_playwright

from blueprints.web_server import web_server_argv
from cli.embedded_redis import EmbeddedRedis, free_port
from relay import events as ev
from relay.event_log import EventLog
from relay.keys import RelayKeys
from relay.session_store import SessionStore
from relay.tokens import generate_keypair

from ._common import machine_line, percentile, print_table

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RUN = "sample-run"
USER = "bench"
TURN_SIZE = 20  # events per turn (a multiple of STREAM_CHUNK)
STREAM_RATE = 200  # events per second while typing
STREAM_CHUNK = 10  # events per append while streaming
TYPED = "the quick brown fox jumps over the lazy dog " * 3
KEY_DELAY_MS = 25
TARGET_LATENCY_MS = 50.0

# Nodes a rendered event adds to the log (tool.completed updates its card in place).
_NODES = {
    "turn.queued": 1,
    "message": 1,
    "reasoning": 1,
    "tool.started": 1,
    "usage": 1,
    "turn.completed": 1,
}

_MESSAGE = (
    "Here is what I found in **turn {turn}**, step {i}:\n\n- the inputs look fine\n"
    "- `metrics.json` has the accuracy\n\n```python\nprint({i})\n```\n"
)


def turn_events(session: str, turn: int) -> list[dict[str, Any]]:
    """One turn of TURN_SIZE events: queued, started, 16 mixed, usage, completed."""
    body = ev.event_body
    out = [
        body(session, turn, "turn.queued", {"message": f"question number {turn}"}),
        body(session, turn, "turn.started", {"thread_id": "bench-thread"}),
    ]
    i = 0
    while len(out) < TURN_SIZE - 2:
        kind = i % 4
        if kind == 0:
            out.append(body(session, turn, "message", {"text": _MESSAGE.format(turn=turn, i=i)}))
        elif kind == 1:
            out.append(body(session, turn, "reasoning", {"text": f"Thinking about step {i}."}))
        else:
            tool = {
                "id": f"item_{i}",
                "kind": "command",
                "title": f"cat file-{i}.txt",
                "command": f"cat file-{i}.txt",
                "status": "in_progress",
            }
            out.append(body(session, turn, "tool.started", {"tool": tool}))
            done = tool | {
                "status": "completed",
                "exit_code": 0,
                "duration_ms": 12,
                "output": "\n".join(f"line {n} of file {i}" for n in range(6)),
            }
            out.append(body(session, turn, "tool.completed", {"tool": done}))
        i += 1
    out = out[: TURN_SIZE - 2]
    out.append(
        body(
            session,
            turn,
            "usage",
            {
                "input_tokens": 100,
                "cached_input_tokens": 0,
                "output_tokens": 50,
                "reasoning_output_tokens": 0,
                "thread_total": {},
            },
        )
    )
    out.append(body(session, turn, "turn.completed", {"status": "completed", "duration_ms": 900}))
    return out


def events_for(session: str, count: int, first_turn: int = 1) -> list[list[dict[str, Any]]]:
    """``count`` events (a multiple of TURN_SIZE) as a list of turns."""
    return [turn_events(session, first_turn + t) for t in range(count // TURN_SIZE)]


def nodes_for(turns: list[list[dict[str, Any]]]) -> int:
    return sum(_NODES.get(e["type"], 0) for turn in turns for e in turn)


class Stack:
    """Redis and the demo host app under gunicorn (no worker: events are appended here)."""

    def __init__(self) -> None:
        self.state = Path(tempfile.mkdtemp(prefix="panel-render-"))
        self.redis_server = EmbeddedRedis(data_dir=str(self.state / "redis")).start()
        self.client = redis.Redis.from_url(self.redis_server.url)
        self.keys = RelayKeys()
        self.events = EventLog(self.client, self.keys)
        self.sessions = SessionStore(self.client, self.keys, 86_400)
        from cli.demo_app import ensure_sample_run

        self.run_dir = ensure_sample_run(self.state / "runs")
        self.port = free_port()
        private, public = generate_keypair()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CODEX_RELAY_")}
        env.update(
            REDIS_URL=self.redis_server.url,
            CODEX_RELAY_RUNS_ROOT=str(self.state / "runs"),
            CODEX_RELAY_JWT_PRIVATE_KEY=private,
            CODEX_RELAY_JWT_PUBLIC_KEY=public,
            CODEX_RELAY_DEMO_SECRET_KEY="panel-render-bench",
        )
        self.web = subprocess.Popen(
            web_server_argv(
                "cli.demo_app:create_app()", f"127.0.0.1:{self.port}", log_level="warning"
            ),
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
        )
        self._wait()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.web.poll() is not None:
                raise RuntimeError("the web app exited")
            try:
                with urllib.request.urlopen(f"{self.base}/agent/health", timeout=2):
                    return
            except urllib.error.HTTPError as exc:
                exc.close()
                return  # 503: up, no worker (none is needed here)
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the web app did not start")

    def new_session(self) -> str:
        return self.sessions.create(USER, RUN, "default", "edit", str(self.run_dir)).id

    def append_turns(self, session: str, turns: list[list[dict[str, Any]]]) -> None:
        for turn in turns:
            self.events.append(session, turn[0]["turn"], turn)

    def stop(self) -> None:
        if self.web.poll() is None:
            self.web.send_signal(signal.SIGTERM)
            try:
                self.web.wait(20)
            except subprocess.TimeoutExpired:
                self.web.kill()
                self.web.wait()
        self.client.close()
        self.redis_server.stop()


def open_panel(browser: Browser, stack: Stack, session: str) -> Page:
    """A fresh context on the run page, the panel resuming ``session`` and connected."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.add_init_script(f"localStorage.setItem('codex-relay:session:{RUN}:default', {session!r})")
    page = ctx.new_page()
    assert page.request.post(f"{stack.base}/demo/login", data={"user": USER}).status == 200
    page.goto(f"{stack.base}/runs/{RUN}/default/")
    page.wait_for_function(
        "() => { const p = document.querySelector('codex-relay-panel');"
        " return p && p.connectionState === 'connected'; }",
        timeout=20_000,
    )
    return page


def heap_mb(page: Page) -> float:
    cdp = page.context.new_cdp_session(page)
    cdp.send("HeapProfiler.enable")
    cdp.send("HeapProfiler.collectGarbage")
    cdp.send("Performance.enable")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    cdp.detach()
    return metrics["JSHeapUsedSize"] / 1e6


_WATCH = """n => new Promise((resolve) => {
  const log = document.querySelector('codex-relay-panel').shadowRoot.querySelector('[role=log]');
  let first = null;
  const tick = () => {
    const count = log.children.length;
    if (count && first === null) first = performance.now();
    if (count >= n) resolve({first, last: performance.now(), count});
    else requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})"""


def bench_render(browser: Browser, stack: Stack, count: int) -> dict[str, float]:
    session = stack.new_session()
    page = open_panel(browser, stack, session)
    heap_before = heap_mb(page)
    turns = events_for(session, count)
    expected = nodes_for(turns)
    page.evaluate("n => { window.__watch = (" + _WATCH + ")(n); }", expected)
    started = time.perf_counter()
    stack.append_turns(session, turns)
    seen = page.evaluate("window.__watch")
    end_to_end = (time.perf_counter() - started) * 1000
    nodes = page.evaluate(
        "document.querySelector('codex-relay-panel').shadowRoot.querySelectorAll('*').length"
    )
    heap_after = heap_mb(page)
    page.context.close()
    return {
        "e2e": end_to_end,
        "in_page": seen["last"] - seen["first"],
        "heap_before": heap_before,
        "heap_after": heap_after,
        "nodes": nodes,
        "children": seen["count"],
    }


_LATENCY = """() => {
  const box = document.querySelector('codex-relay-panel').shadowRoot.querySelector('textarea');
  window.__lat = [];
  window.__delay = [];
  let pending = null;
  box.addEventListener('keydown', (e) => {
    pending = e.timeStamp;
    window.__delay.push(performance.now() - e.timeStamp);
  });
  box.addEventListener('input', () => {
    const start = pending;
    requestAnimationFrame(() => window.__lat.push(performance.now() - start));
  });
}"""


def bench_input(browser: Browser, stack: Stack, stream: bool) -> dict[str, Any]:
    session = stack.new_session()
    page = open_panel(browser, stack, session)
    page.evaluate(_LATENCY)
    box = page.get_by_role("textbox", name="Message")
    box.click()
    stop = threading.Event()
    sent = [0]

    def feed() -> None:
        client = redis.Redis.from_url(stack.redis_server.url)
        log = EventLog(client, stack.keys)
        turn = 1
        next_at = time.perf_counter()
        while not stop.is_set():
            for chunk_start in range(0, TURN_SIZE, STREAM_CHUNK):
                events = turn_events(session, turn)[chunk_start : chunk_start + STREAM_CHUNK]
                log.append(session, turn, events)
                sent[0] += len(events)
                next_at += STREAM_CHUNK / STREAM_RATE
                time.sleep(max(0.0, next_at - time.perf_counter()))
                if stop.is_set():
                    break
            turn += 1
        client.close()

    feeder = threading.Thread(target=feed, daemon=True) if stream else None
    if feeder:
        feeder.start()
        time.sleep(1.0)  # the stream is flowing and the log has grown
    started = time.perf_counter()
    page.keyboard.type(TYPED, delay=KEY_DELAY_MS)
    elapsed = time.perf_counter() - started
    page.wait_for_timeout(100)
    if feeder:
        stop.set()
        feeder.join()
    latencies = page.evaluate("window.__lat")
    delays = page.evaluate("window.__delay")
    typed_ok = box.input_value() == TYPED
    rendered = page.evaluate(
        "document.querySelector('codex-relay-panel').shadowRoot"
        ".querySelector('[role=log]').children.length"
    )
    page.context.close()
    return {
        "lat": latencies,
        "delay": delays,
        "typed_ok": typed_ok,
        "rate": sent[0] / (elapsed + 1.0) if stream else 0.0,
        "rendered": rendered,
    }


def main() -> None:
    print("Command-bar panel in Chromium: render cost and input latency")
    print(machine_line())
    stack = Stack()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            print(f"Chromium {browser.version}, headless; viewport 1280x800")
            bench_render(browser, stack, 100)  # warm-up: caches, JIT
            render = {n: [bench_render(browser, stack, n) for _ in range(3)] for n in (100, 1000)}
            idle = bench_input(browser, stack, stream=False)
            busy = bench_input(browser, stack, stream=True)
            browser.close()
    finally:
        stack.stop()

    def med(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    base = render[100]
    rows = []
    for n, runs in render.items():
        rows.append(
            [
                f"{n:,} events ({runs[0]['children']} log items)"
                + (" baseline" if n == 100 else ""),
                f"{med(runs, 'e2e'):.0f}",
                f"{med(runs, 'in_page'):.0f}",
                f"{med(runs, 'e2e') / med(base, 'e2e'):.1f}x",
                f"{med(runs, 'heap_before'):.1f}",
                f"{med(runs, 'heap_after'):.1f}",
                f"{med(runs, 'nodes'):.0f}",
            ]
        )
    print_table(
        "Render: events appended to the session's stream at once (median of 3)",
        [
            "workload",
            "end to end ms",
            "in page ms",
            "vs 100",
            "heap before MB",
            "heap after MB",
            "panel DOM nodes",
        ],
        rows,
    )

    def lat_row(name: str, r: dict[str, Any]) -> list[str]:
        lat = r["lat"]
        return [
            name,
            str(len(lat)),
            f"{statistics.median(lat):.1f}",
            f"{percentile(lat, 95):.1f}",
            f"{max(lat):.1f}",
            f"{percentile(r['delay'], 95):.1f}",
            "yes" if r["typed_ok"] else "NO",
            f"{r['rate']:.0f}" if r["rate"] else "-",
            f"< {TARGET_LATENCY_MS:.0f}",
        ]

    print_table(
        f"Input latency: keydown to the next frame after input, {KEY_DELAY_MS} ms between keys",
        [
            "panel",
            "keys",
            "median ms",
            "p95 ms",
            "max ms",
            "handler delay p95 ms",
            "text intact",
            "events/s",
            "target ms",
        ],
        [lat_row("idle (baseline)", idle), lat_row("streaming 200 events/s", busy)],
    )
    print(f"(log items rendered during the streaming run: {busy['rendered']})")


if __name__ == "__main__":
    main()
