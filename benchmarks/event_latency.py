"""Event latency: a line on "Codex's stdout" -> the SSE client, at 500 events/s.

The real relay path, without Codex and without a model:

- an **emitter** process stands in for Codex: it writes JSON Lines to its
  stdout at ``RATE`` lines/s for ``SECONDS`` s, each an ``item.completed``
  ``agent_message`` whose text is the ``time.time()`` taken just before the
  write;
- a **feeder** process is the job's side: it spawns the emitter with
  ``bootstrap.codex_process.CodexProcess`` (its own process group, the
  selector loop over stdout/stderr, 256 KiB reads) and hands every read to
  ``bootstrap.turn_job.TurnRunner._on_stdout``: ``JsonLinesDecoder`` ->
  ``CodexNormaliser`` -> ``EventLog.append`` (one Lua call per read), exactly
  as a running turn does;
- the **web app** is the demo host app under gunicorn
  (``blueprints.gunicorn_conf``), serving the session's events route (a
  blocking ``XREAD`` on the session's stream);
- this process is the **browser**: logged in with ``POST /demo/login``, it
  reads the SSE stream with ``http.client`` and stamps each message on
  arrival. Latency = arrival - the timestamp in the text (one machine,
  one clock).

The session is created with ``relay.session_store.SessionStore``, as the
chat route does. The first ``WARMUP_SECONDS`` of events are not counted.

Floor, in the same run: one Redis round trip (``PING``) from this process,
at idle before the feed and at 100/s during it (same load as the events).
An event needs at least two (the feeder's append, the web app's ``XREAD``
wake-up) plus the HTTP write, so about 2x PING is the practical floor.

Run: ``python -m benchmarks.event_latency``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import orjson
import redis

from cli.demo_app import ensure_sample_run
from cli.embedded_redis import EmbeddedRedis
from relay.runtime import RelayRuntime
from relay.settings import load_settings
from relay.tokens import generate_keypair

from ._common import machine_line, percentile, print_table
from ._stack import HttpUser, load_line, stop_process, web_app

RATE = 500
SECONDS = 10.0
WARMUP_SECONDS = 0.5
PINGS_IDLE = 2000
PING_INTERVAL = 0.01
TARGET_P99_MS = 5.0
END = "end"


# -- the stand-in for Codex ----------------------------------------------------


def emit(rate: float, seconds: float) -> None:
    """Write ``agent_message`` lines carrying their send time, ``rate`` a second."""
    out = sys.stdout.buffer
    out.write(orjson.dumps({"type": "thread.started", "thread_id": "bench"}) + b"\n")
    out.write(orjson.dumps({"type": "turn.started"}) + b"\n")
    out.flush()
    count = int(rate * seconds)
    start = time.monotonic()
    for n in range(count):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        item = {"id": f"item_{n}", "type": "agent_message", "text": repr(time.time())}
        out.write(orjson.dumps({"type": "item.completed", "item": item}) + b"\n")
        out.flush()
    end = {"id": "item_end", "type": "agent_message", "text": END}
    out.write(orjson.dumps({"type": "item.completed", "item": end}) + b"\n")
    out.flush()


# -- the job's side ------------------------------------------------------------


def feed(session: str, rate: float, seconds: float) -> None:
    """Run the emitter under ``CodexProcess`` and relay its stdout like a turn does."""
    from bootstrap.codex_process import CodexProcess
    from bootstrap.turn_job import TurnRunner
    from relay.turns import TurnRequest

    settings = load_settings()
    rt = RelayRuntime.from_settings(settings)
    record = rt.sessions.get(session)
    assert record is not None
    request = TurnRequest(session=session, turn=1, user=record.user, runid=record.runid,
                          config=record.config, tier=record.tier, run_dir=record.run_dir,
                          message="bench", token="")  # fmt: skip
    runner = TurnRunner(rt, request)
    argv = [sys.executable, "-m", "benchmarks.event_latency", "--emit",
            "--rate", str(rate), "--seconds", str(seconds)]  # fmt: skip
    process = CodexProcess(argv, dict(os.environ), os.getcwd(), b"", settings.kill_grace)
    process.start()
    outcome = process.run(runner._on_stdout, lambda: False, seconds + 60, 30)
    if outcome.reason != "exited" or outcome.returncode != 0:
        raise SystemExit(f"emitter ended badly: {outcome}")


# -- the browser ------------------------------------------------------------------


def pings(client: redis.Redis, count: int) -> list[float]:
    """``count`` back-to-back PING round trips, in seconds."""
    out = []
    for _ in range(count):
        start = time.perf_counter()
        client.ping()
        out.append(time.perf_counter() - start)
    return out


def paced_pings(client: redis.Redis, stop: threading.Event, out: list[float]) -> None:
    """PING every ``PING_INTERVAL`` s until ``stop`` (the floor under the feed's load)."""
    while not stop.wait(PING_INTERVAL):
        start = time.perf_counter()
        client.ping()
        out.append(time.perf_counter() - start)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def report(latencies: list[float], idle: list[float], loaded: list[float], sent: int,
           elapsed: float) -> None:  # fmt: skip
    """Latency p50/p99/max beside the PING floor."""
    floor50, floor99 = percentile(loaded, 50), percentile(loaded, 99)

    def row(label: str, values: list[float], target: str) -> list[str]:
        p50, p99 = percentile(values, 50), percentile(values, 99)
        return [label, str(len(values)), _ms(p50), _ms(p99), _ms(max(values)),
                f"{p50 / floor50:.1f}x", f"{p99 / floor99:.1f}x", target]  # fmt: skip

    rows = [
        row("stdout line -> SSE client (message event)", latencies,
            f"p99 < {TARGET_P99_MS:g} ms at {RATE}/s"),
        row("floor: Redis PING during the feed (100/s)", loaded, ""),
        row("floor: Redis PING at idle (back to back)", idle, ""),
    ]  # fmt: skip
    header = ["measure (ms)", "n", "p50", "p99", "max", "x floor p50", "x floor p99",
              "issue target"]  # fmt: skip
    title = (f"event latency, emitter -> CodexProcess -> TurnRunner._on_stdout -> Redis "
             f"-> gunicorn SSE -> client, {RATE} events/s for {SECONDS:g} s")  # fmt: skip
    print_table(title, header, rows)
    print(f"\n{sent} events sent, achieved {sent / elapsed:.0f}/s; the first "
          f"{WARMUP_SECONDS:g} s not counted; x floor = / PING during the feed.")  # fmt: skip


def main() -> None:
    """Start Redis and gunicorn, open the stream, run the feeder, print the table."""
    print("== event latency: Codex stdout line -> SSE client (issue 3) ==")
    print(machine_line())
    print(f"before: {load_line()}")
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-event-")))
        server = stack.enter_context(EmbeddedRedis())
        private_key, public_key = generate_keypair()
        runs_root = tmp / "runs"
        runs_root.mkdir()
        run_dir = ensure_sample_run(runs_root)
        env = {
            "REDIS_URL": server.url,
            "CODEX_RELAY_JWT_PUBLIC_KEY": public_key,
            "CODEX_RELAY_RUNS_ROOT": str(runs_root),
            "CODEX_RELAY_WORK_DIR": str(tmp / "work"),
        }
        rt = RelayRuntime.from_settings(load_settings({**os.environ, **env}))
        port = stack.enter_context(
            web_app({**env, "CODEX_RELAY_JWT_PRIVATE_KEY": private_key}, tmp / "web.log")
        )
        record = rt.sessions.create("bench", run_dir.name, "default", "edit", str(run_dir))
        user = HttpUser(port)
        user.login("bench")
        ping_client = redis.Redis.from_url(server.url)
        idle = pings(ping_client, PINGS_IDLE)
        loaded: list[float] = []
        latencies: list[float] = []
        stop = threading.Event()
        pinger = threading.Thread(target=paced_pings, args=(ping_client, stop, loaded))
        events_url = f"/runs/{run_dir.name}/default/agent/sessions/{record.id}/events"
        with user.stream(events_url) as messages:
            start = time.time()
            feeder = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.event_latency", "--feed", record.id,
                 "--rate", str(RATE), "--seconds", str(SECONDS)],
                env={**os.environ, **env}, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            pinger.start()
            sent, first_sent, last_sent = 0, 0.0, 0.0
            try:
                for message in messages:
                    if message.data.get("type") != "message":
                        continue
                    text = message.data["text"]
                    if text == END:
                        break
                    last_sent = sent_at = float(text)
                    first_sent = first_sent or sent_at
                    sent += 1
                    if sent_at - first_sent >= WARMUP_SECONDS:
                        latencies.append(message.received - sent_at)
                    if time.time() - start > SECONDS + 60:
                        raise RuntimeError("the feed did not finish")
                elapsed = last_sent - first_sent
            finally:
                stop.set()
                pinger.join()
                if feeder.wait(60) != 0:
                    stop_process(feeder)
                    raise RuntimeError(f"the feeder failed ({feeder.returncode})")
        ping_client.close()
        rt.redis.close()
    report(latencies, idle, loaded, sent, elapsed)
    print(f"after: {load_line()}")


def _cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emit", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--feed", metavar="SESSION", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=RATE)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    args = parser.parse_args()
    if args.emit:
        emit(args.rate, args.seconds)
    elif args.feed:
        feed(args.feed, args.rate, args.seconds)
    else:
        main()


if __name__ == "__main__":
    _cli()
