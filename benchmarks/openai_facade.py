"""The OpenAI facade against the panel's own routes, for the same turn, through the real stack.

Real processes on loopback: an embedded Redis, the scripted model
(``python -m devmodel``, scenario ``hello``: one text-only answer), one
``codex-relay worker`` (idle between turns, ``CODEX_RELAY_MCP_TRANSPORT=off``)
running the real Codex CLI, and the demo host app under gunicorn
(``blueprints.gunicorn_conf``). This process is the client, over plain
``http.client`` (no SDK), so the figures are the server's. Each round runs
the same turn three ways, each on a new session:

- **panel**: ``POST .../agent/chat`` (202), then ``GET`` the session's SSE
  stream, read to ``turn.completed``;
- **facade, streamed**: ``POST /openai/v1/chat/completions`` with
  ``stream: true``, read to ``data: [DONE]``;
- **facade, whole**: the same with ``stream: false``, to the JSON answer.

Compared pairwise: the facade's first chunk (the role chunk) with the
panel's first SSE event (``turn.queued``); its first content chunk with the
panel's first ``message`` event; its end (``[DONE]``, or the whole answer)
with the panel's ``turn.completed``. The facade's added cost per turn is the
paired difference of those ends (same round, same worker, same Codex), and
the web processes' CPU per turn (gunicorn master and worker, from
``/proc``, a mean: the kernel counts it in 10 ms ticks). The panel's path
takes two requests (POST, then the stream); the facade's one. The order of
the three rotates from round to round, so none always goes first.

Run: ``python -m benchmarks.openai_facade``
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bootstrap.codex_binary import locate_codex, probe_codex

from ._common import machine_line, percentile, print_table, process_cpu_seconds
from ._stack import HttpUser, load_line
from .chat_latency import start_web_stack
from .turn_overhead import wait_until_idle

ROUNDS = 30
WARMUP = 3
MESSAGE = "#scenario:hello say hi"
MODEL = "sample-run/default"
TURN_TIMEOUT = 60.0


@dataclass(frozen=True)
class Turn:
    """One turn through one door: seconds from sending the request, and web CPU seconds."""

    first: float  # first SSE event / first chunk / (whole) the answer
    content: float  # first message event / first content chunk / (whole) the answer
    end: float  # turn.completed / [DONE] / the answer
    web_cpu: float


def _web_pids(port: int) -> list[int]:
    """The gunicorn master and worker serving ``port``."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if b"gunicorn" in argv and f"127.0.0.1:{port}".encode() in argv:
            found.append(int(entry))
    return found


def _cpu(pids: list[int]) -> float:
    return sum(process_cpu_seconds(pid) for pid in pids)


def _sse_lines(response: http.client.HTTPResponse) -> Any:
    """``(arrival time, data payload)`` of each ``data:`` line of an SSE response."""
    while True:
        line = response.readline()
        if not line:
            return
        if line.startswith(b"data: "):
            yield time.perf_counter(), line[6:].strip()


def panel_turn(user: HttpUser) -> tuple[float, float, float]:
    """The panel's path: POST chat, then its SSE stream to ``turn.completed``."""
    start = time.perf_counter()
    status, body = user.request("POST", f"/runs/{MODEL}/agent/chat", {"message": MESSAGE})
    if status != 202:
        raise RuntimeError(f"chat refused: {status} {body}")
    conn = http.client.HTTPConnection("127.0.0.1", user.port, timeout=TURN_TIMEOUT)
    try:
        conn.request("GET", body["events_url"], headers={"Cookie": user.cookie})
        response = conn.getresponse()
        first = content = None
        for arrived, data in _sse_lines(response):
            event = json.loads(data)
            first = first or arrived
            if event["type"] == "message" and content is None:
                content = arrived
            if event["type"] == "turn.completed":
                if event["status"] != "completed" or content is None:
                    raise RuntimeError(f"panel turn ended badly: {event}")
                return first - start, content - start, arrived - start
    finally:
        conn.close()
    raise RuntimeError("the panel's stream ended before turn.completed")


def facade_turn(port: int, key: str, stream: bool) -> tuple[float, float, float]:
    """One chat completion, streamed (to ``[DONE]``) or whole."""
    body = json.dumps({"model": MODEL, "stream": stream,
                       "messages": [{"role": "user", "content": MESSAGE}]})  # fmt: skip
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TURN_TIMEOUT)
    try:
        start = time.perf_counter()
        conn.request("POST", "/openai/v1/chat/completions", body=body, headers=headers)
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"facade refused: {response.status} {response.read()[:200]!r}")
        if not stream:
            answer = json.loads(response.read())
            done = time.perf_counter() - start
            if not answer["choices"][0]["message"]["content"]:
                raise RuntimeError("empty answer")
            return done, done, done
        first = content = None
        for arrived, data in _sse_lines(response):
            first = first or arrived
            if data == b"[DONE]":
                if content is None:
                    raise RuntimeError("the stream carried no content")
                return first - start, content - start, arrived - start
            chunk = json.loads(data)
            if "error" in chunk:
                raise RuntimeError(f"facade turn failed: {chunk}")
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content") and not content:
                content = arrived
    finally:
        conn.close()
    raise RuntimeError("the facade's stream ended before [DONE]")


def _timed(pids: list[int], run: Callable[[], tuple[float, float, float]]) -> Turn:
    before = _cpu(pids)
    first, content, end = run()
    return Turn(first, content, end, _cpu(pids) - before)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def report(panel: list[Turn], streamed: list[Turn], whole: list[Turn]) -> None:
    """p50/p95 of each door beside the panel's, and the paired differences."""

    def p50(turns: list[Turn], attr: str) -> float:
        return percentile([getattr(t, attr) for t in turns], 50)

    def row(label: str, turns: list[Turn], attr: str, base_attr: str) -> list[str]:
        values = [getattr(t, attr) for t in turns]
        base = p50(panel, base_attr)
        paired = statistics.median(
            getattr(t, attr) - getattr(p, base_attr) for t, p in zip(turns, panel, strict=True)
        )
        return [label, _ms(percentile(values, 50)), _ms(percentile(values, 95)), _ms(base),
                f"{percentile(values, 50) / base:.2f}x", f"{paired * 1000:+.0f}"]  # fmt: skip

    rows = [
        row("streamed: first chunk (role) vs first SSE event", streamed, "first", "first"),
        row("streamed: first content chunk vs first message event", streamed, "content",
            "content"),
        row("streamed: [DONE] vs turn.completed", streamed, "end", "end"),
        row("whole: the answer vs turn.completed", whole, "end", "end"),
        ["panel itself: POST -> first SSE event", _ms(p50(panel, "first")),
         _ms(percentile([t.first for t in panel], 95)), "", "", ""],
        ["panel itself: POST -> turn.completed", _ms(p50(panel, "end")),
         _ms(percentile([t.end for t in panel], 95)), "", "", ""],
    ]  # fmt: skip
    header = ["measure (ms from the request)", "p50", "p95", "panel p50", "ratio", "paired Δ"]
    print_table(f"OpenAI facade vs the panel's routes, same turn (scenario 'hello'), "
                f"N={len(panel)} rounds, interleaved", header, rows)  # fmt: skip
    # /proc counts CPU in 10 ms ticks: only the mean over many turns means anything.
    base_cpu = statistics.mean(t.web_cpu for t in panel)
    cpu_rows = []
    for name, turns in (("panel (POST + SSE)", panel), ("facade, streamed", streamed),
                        ("facade, whole", whole)):  # fmt: skip
        cpu = statistics.mean(t.web_cpu for t in turns)
        cpu_rows.append([name, f"{cpu * 1000:.1f}", f"{cpu / base_cpu:.2f}x" if base_cpu else "-"])
    print_table("web CPU per turn (gunicorn master + worker, /proc)",
                ["door", "CPU ms per turn (mean)", "vs panel"], cpu_rows)  # fmt: skip


def main() -> None:
    """Start Redis, the scripted model, a worker and gunicorn; time the rounds; print."""
    print("== OpenAI facade: time to first chunk and added cost per turn (issue 13) ==")
    print(machine_line())
    print(f"Codex CLI {probe_codex(locate_codex(None)).version}; "
          f"CODEX_RELAY_MCP_TRANSPORT=off; before: {load_line()}")  # fmt: skip
    with ExitStack() as stack:
        web = start_web_stack(stack, "bench-openai-")
        rt, worker, port = web.rt, web.worker, web.port
        pids = _web_pids(port)
        user = HttpUser(port)
        user.login("bench")
        key, _ = rt.api_keys.create("bench")
        panel: list[Turn] = []
        streamed: list[Turn] = []
        whole: list[Turn] = []
        doors = [
            lambda: panel_turn(user),
            lambda: facade_turn(port, key, stream=True),
            lambda: facade_turn(port, key, stream=False),
        ]
        for index in range(WARMUP + ROUNDS):
            runs: dict[int, Turn] = {}
            for offset in range(len(doors)):
                door = (index + offset) % len(doors)  # each door goes first in turn
                wait_until_idle(rt, worker)
                runs[door] = _timed(pids, doors[door])
            if index >= WARMUP:
                panel.append(runs[0])
                streamed.append(runs[1])
                whole.append(runs[2])
    report(panel, streamed, whole)
    print(f"after: {load_line()}")


if __name__ == "__main__":
    main()
