"""Server-sent events from a session's event log.

The stream first replays what the client missed (everything after its
``Last-Event-ID``, or after ``?after=``, or from the start), then follows
the log with a blocking ``XREAD`` — the stream, not pub/sub, so nothing
published between the replay and the live part can fall in a gap. If the
client's id is older than the oldest event kept (the log is capped), the
stream sends a ``reset`` event and replays from the start. A comment line
goes out every 15 s to keep proxies from closing the connection; while it
waits, the stream also checks that a running turn still has a live worker.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import redis
from flask import Response

from relay.errors import BadRequest
from relay.reaper import reap_session
from relay.runtime import RelayRuntime

__all__ = ["HEARTBEAT_SECONDS", "event_stream", "request_shutdown"]

HEARTBEAT_SECONDS = 15.0
#: How long one blocking read waits before the loop looks around.
_BLOCK_MS = 2000
_EVENT_ID = re.compile(r"^(\d{1,19})-(\d{1,19})$")
_SHUTDOWN = threading.Event()


def request_shutdown() -> None:
    """End every open stream of this process at its next wake-up (server stopping)."""
    _SHUTDOWN.set()


def _seq(event_id: str) -> int:
    return int(event_id.split("-", 1)[0])


def _frame(event_id: str, data: bytes) -> bytes:
    return b"id: " + event_id.encode() + b"\ndata: " + data + b"\n\n"


def _replay(rt: RelayRuntime, session: str, after: str | None) -> tuple[list[bytes], str]:
    """Frames of the stored events after ``after`` and the id to follow from."""
    frames: list[bytes] = []
    if after is not None:
        first = rt.events.first_id(session)
        if first is not None and _seq(first) > _seq(after) + 1:
            frames.append(b'event: reset\ndata: {"reason": "trimmed"}\n\n')
            after = None
    cursor = after or "0-0"
    while True:
        batch = rt.events.read(session, after=None if cursor == "0-0" else cursor)
        for event in batch:
            frames.append(_frame(event.id, event.data))
            cursor = event.id
        if len(batch) < 1000:
            return frames, cursor


def event_stream(rt: RelayRuntime, session: str, after: str | None) -> Response:
    """The SSE response for ``session`` (the caller has checked ownership)."""
    if after is not None and not _EVENT_ID.match(after):
        raise BadRequest("Last-Event-ID must look like '<number>-<number>'.")
    frames, cursor = _replay(rt, session, after)

    def generate() -> Iterator[bytes]:
        nonlocal cursor
        yield b"retry: 2000\n\n"
        yield from frames
        last_beat = time.monotonic()
        while not _SHUTDOWN.is_set():
            try:
                batch = rt.events.wait(session, cursor, block_ms=_BLOCK_MS)
            except (redis.ConnectionError, redis.TimeoutError):
                # Let the client reconnect (to this or another web process).
                yield b"event: unavailable\ndata: {}\n\n"
                return
            for event in batch:
                yield _frame(event.id, event.data)
                cursor = event.id
            if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                last_beat = time.monotonic()
                yield b": heartbeat\n\n"
            if not batch and not _still_there(rt, session):
                return

    response = Response(generate(), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache, no-transform"
    response.headers["X-Accel-Buffering"] = "no"
    return response


def _still_there(rt: RelayRuntime, session: str) -> bool:
    """Whether the session still exists; nudges the watchdog for a running turn."""
    record = rt.sessions.get(session)
    if record is None:
        return False
    if record.running_turn:
        reap_session(rt, session, record.running_turn)
    return True
