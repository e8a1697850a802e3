"""Parse + normalise + publish throughput, against a naive baseline in the same run.

A recorded Codex transcript is replicated until it holds at least
``MIN_EVENTS`` relay events, then pushed through each variant into a real
Redis server (``cli.embedded_redis.EmbeddedRedis``, loopback):

- **relay**: exactly what ``bootstrap/turn_job.py`` does: the bytes arrive in
  pipe-sized reads (64 KiB); each read is decoded by ``JsonLinesDecoder``
  (orjson), normalised by ``CodexNormaliser``, and its events are stored and
  published by ``EventLog.append``, one Lua script call (one round trip) per
  read;
- **relay, one event per call**: the same, but one ``append`` per event: the
  worst case, when Codex writes one line per pipe read during a live turn;
- **baseline**: a naive relay: split lines by hand, stdlib ``json.loads`` per
  line, the same normaliser, stdlib ``json.dumps``, then one ``XADD`` and one
  ``PUBLISH`` per event (two round trips, no pipelining, no Lua). It keeps
  ``seq`` in the client and sets no TTL, which only flatters it.

Two more rows time the client side alone (no Redis) to show where the gain
comes from. Every variant is run ``REPEATS`` times, interleaved; figures are
medians. CPU is this process's ``time.process_time`` plus the Redis server's
user+system time from ``/proc/<pid>/stat``; "events per CPU-second" is the
throughput the whole path would reach on one core.

Run: ``python -m benchmarks.publish_throughput``
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis

from cli.embedded_redis import EmbeddedRedis
from relay import events as ev
from relay.event_log import EventLog
from relay.jsonl import BadLine, JsonLinesDecoder
from relay.keys import RelayKeys, response_channel
from relay.normalise import CodexNormaliser, Normalised
from relay.session_store import SessionStore

from ._common import (
    TRANSCRIPTS,
    Measured,
    chunked,
    machine_line,
    measure,
    print_table,
    transcript,
)

MIN_EVENTS = 20_000
REPEATS = 3
MAXLEN = 10_000  # the relay's default event_log_maxlen
TURN = 1
TARGET_RATIO = 3.0
TARGET_RATE = 20_000

EVENTS_TARGET = f">= {TARGET_RATIO:g}x, >= {TARGET_RATE:,}/s"

#: name -> (transcripts, minimum events, the issue's target for the relay row).
#: long_output is about bytes (1.2 MB lines, cut to 32 KiB events), not events.
WORKLOADS: dict[str, tuple[list[str], int, str]] = {
    "shell turn (shell_command.jsonl)": (["shell_command.jsonl"], MIN_EVENTS, EVENTS_TARGET),
    "every small transcript, mixed": (
        sorted(p.name for p in TRANSCRIPTS.glob("*.jsonl") if p.name != "long_output.jsonl"),
        MIN_EVENTS,
        EVENTS_TARGET,
    ),
    "1.2 MB command output lines (long_output.jsonl)": (
        ["long_output.jsonl"],
        100,
        f">= {TARGET_RATIO:g}x",
    ),
}


@dataclass
class Workload:
    """A replicated transcript and how many relay events it yields."""

    name: str
    data: bytes
    events: int
    target: str


def build_workload(name: str, files: list[str], min_events: int, target: str) -> Workload:
    """Concatenate ``files`` and repeat them until they yield ``min_events`` events."""
    one = b"".join(transcript(f) for f in files)
    per_copy = len(normalise_only(one))
    copies = math.ceil(min_events / per_copy)
    return Workload(f"{name} x{copies}", one * copies, per_copy * copies, target)


# -- the relay, as bootstrap/turn_job.py runs it ----------------------------


def normalise_only(data: bytes) -> list[Normalised]:
    """Decode and normalise ``data`` with the relay's parser (no Redis)."""
    decoder, normaliser = JsonLinesDecoder(), CodexNormaliser()
    out: list[Normalised] = []
    for chunk in chunked(data):
        for obj in decoder.feed(chunk):
            out.extend(normaliser.feed(obj))
    for obj in decoder.close():
        out.extend(normaliser.feed(obj))
    return out


def relay_client_side(data: bytes, session: str) -> int:
    """The relay's work without Redis: decode, normalise, build and encode every event."""
    now = time.time()
    encoded = [ev.encode(ev.event_body(session, TURN, t, p, now)) for t, p in normalise_only(data)]
    return len(encoded)


def relay_publish(log: EventLog, session: str, data: bytes, per_event: bool = False) -> int:
    """Decode, normalise and append each pipe read's events in one call (or one per event)."""
    decoder, normaliser = JsonLinesDecoder(), CodexNormaliser()
    stored = 0

    def publish(batch: list[Normalised]) -> int:
        now = time.time()
        bodies = [ev.event_body(session, TURN, kind, payload, now) for kind, payload in batch]
        if per_event:
            return sum(len(log.append(session, TURN, [body])) for body in bodies)
        return len(log.append(session, TURN, bodies)) if bodies else 0

    for chunk in chunked(data):
        stored += publish([n for obj in decoder.feed(chunk) for n in normaliser.feed(obj)])
    stored += publish([n for obj in decoder.close() for n in normaliser.feed(obj)])
    return stored


# -- the naive baseline -------------------------------------------------------


def naive_lines(data: bytes) -> list[dict[str, Any] | BadLine]:
    """Split pipe reads into lines by hand and ``json.loads`` each one."""
    out: list[dict[str, Any] | BadLine] = []
    buffer = b""
    for chunk in chunked(data):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append(BadLine("not JSON", "", len(line)))
    return out


def naive_client_side(data: bytes, session: str) -> int:
    """The baseline's work without Redis."""
    normaliser, count = CodexNormaliser(), 0
    for obj in naive_lines(data):
        for kind, payload in normaliser.feed(obj):
            count += 1
            json.dumps(
                {"id": f"{count}-0", "seq": count, **ev.event_body(session, TURN, kind, payload)}
            )
    return count


def naive_publish(client: redis.Redis, keys: RelayKeys, session: str, data: bytes) -> int:
    """One XADD and one PUBLISH per event, each its own round trip."""
    normaliser, seq = CodexNormaliser(), 0
    stream, channel = keys.events(session), response_channel(session)
    for obj in naive_lines(data):
        for kind, payload in normaliser.feed(obj):
            seq += 1
            event_id = f"{seq}-0"
            body = ev.event_body(session, TURN, kind, payload)
            message = json.dumps({"id": event_id, "seq": seq, **body})
            client.xadd(stream, {"e": message}, id=event_id, maxlen=MAXLEN, approximate=True)
            client.publish(channel, message)
    return seq


# -- running and reporting ----------------------------------------------------


def tail(client: redis.Redis, keys: RelayKeys, session: str, count: int = 200) -> list[Any]:
    """The last ``count`` stored events, without what differs between runs.

    That is the timestamp, the session id and a tool's ``duration_ms``.
    """
    out = []
    for _, fields in client.xrevrange(keys.events(session), count=count):
        event = orjson.loads(fields[b"e"])
        del event["ts"], event["session"]
        event.get("tool", {}).pop("duration_ms", None)
        out.append(event)
    return out


def run_workload(server: EmbeddedRedis, workload: Workload) -> list[list[str]]:
    """Run every variant ``REPEATS`` times, interleaved; one table row per variant."""
    client = redis.Redis.from_url(server.url)
    keys = RelayKeys("bench:")
    log = EventLog(client, keys, maxlen=MAXLEN)
    sessions = SessionStore(client, keys)
    pid = server.process.pid if server.process else None
    data = workload.data

    def with_session(action: Callable[[str], int]) -> Callable[[], tuple[int, str]]:
        def run() -> tuple[int, str]:
            session = sessions.create("bench", "run", "default", "read", "/tmp").id
            return action(session), session

        return run

    variants: dict[str, Callable[[], tuple[int, str]]] = {
        "baseline: json, XADD + PUBLISH per event": with_session(
            lambda s: naive_publish(client, keys, s, data)
        ),
        "relay: orjson, 1 Lua call per 64 KiB read": with_session(
            lambda s: relay_publish(log, s, data)
        ),
        "relay: 1 Lua call per event (worst case)": with_session(
            lambda s: relay_publish(log, s, data, per_event=True)
        ),
        "client side only, baseline (no Redis)": lambda: (naive_client_side(data, "x"), ""),
        "client side only, relay (no Redis)": lambda: (relay_client_side(data, "x"), ""),
    }
    results = {name: Measured(name, []) for name in variants}
    stored: dict[str, list[Any]] = {}
    for _ in range(REPEATS):
        for name, run in variants.items():
            with measure(pid) as sample:
                count, session = run()
            assert count == workload.events, (name, count, workload.events)
            results[name].samples.append(sample)
            if session:
                stored[name] = tail(client, keys, session)
                client.delete(keys.events(session), keys.seq(session))
    first, *others = [rows for rows in stored.values()]
    assert all(rows == first for rows in others), "variants stored different events"
    client.close()
    return _rows(workload, list(results.values()))


def _rows(workload: Workload, results: list[Measured]) -> list[list[str]]:
    baseline = results[0]
    megabytes = len(workload.data) / 1e6
    rows = []
    for index, m in enumerate(results):
        rate = workload.events / m.wall
        target = workload.target if index == 1 else "-"
        rows.append(
            [
                m.name,
                f"{rate:,.0f}",
                f"{baseline.wall / m.wall:.2f}x",
                f"{megabytes / m.wall:,.1f}",
                f"{m.wall:.3f}",
                f"{m.client_cpu:.3f}",
                f"{m.server_cpu:.2f}" if m.server_cpu or index < 3 else "-",
                f"{workload.events / m.total_cpu:,.0f}",
                target,
            ]
        )
    return rows


HEADER = [
    "variant",
    "events/s",
    "vs base",
    "MB/s",
    "wall s",
    "client CPU s",
    "Redis CPU s",
    "events/CPU-s",
    "issue target",
]


def main() -> None:
    """Run every workload and print one table each."""
    print("== publish throughput: parse + normalise + publish into a real Redis ==")
    print(machine_line())
    with EmbeddedRedis() as server:
        info = redis.Redis.from_url(server.url).info("server")
        print(
            f"Redis {info['redis_version']} on 127.0.0.1:{server.port}; "
            f"{REPEATS} interleaved runs per variant, medians; stream MAXLEN ~{MAXLEN}"
        )
        for name, (files, min_events, target) in WORKLOADS.items():
            workload = build_workload(name, files, min_events, target)
            title = (
                f"{workload.name}: {workload.events:,} events, {len(workload.data) / 1e6:.1f} MB"
            )
            print_table(title, HEADER, run_workload(server, workload))
    print(
        "\nratio = baseline wall time / variant wall time; events/CPU-s counts this "
        "process + Redis, i.e. the rate on one core."
    )


if __name__ == "__main__":
    main()
