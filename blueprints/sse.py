"""Server-sent events from a session's event log, through the process's event fan-out.

The stream replays what the client missed (everything after its
``Last-Event-ID``, or after ``?after=``, or from the start), in batches,
then follows live events. Both come from :class:`relay.event_fanout.EventFanout`,
which reads the durable log (the Redis Stream) and takes live events from one
pub/sub connection per process, so an open stream costs neither a thread nor
a Redis connection of its own. If the client's id is older than the oldest
event kept (the log is capped), the stream sends ``event: reset`` and goes
on from the oldest kept event. A comment line goes out after 15 s of silence
to keep proxies from closing the connection. When Redis fails the stream
sends ``event: unavailable`` and ends (the client reconnects, here or to
another web process). It also ends when the session is deleted, when the
client goes away (its stream slot is freed within about a second), and when
the server stops (:func:`request_shutdown`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from flask import Response

from relay import event_fanout
from relay.errors import BadRequest
from relay.event_fanout import EventFanout, Signal, Subscription
from relay.event_log import StoredEvent

from .client_socket import disconnect_probe

__all__ = ["HEARTBEAT_SECONDS", "event_stream", "request_shutdown"]

HEARTBEAT_SECONDS = event_fanout.HEARTBEAT_SECONDS
_EVENT_ID = re.compile(r"^(\d{1,19})-(\d{1,19})\Z")
_SIGNAL_FRAMES = {
    Signal.HEARTBEAT: b": heartbeat\n\n",
    Signal.RESET: b'event: reset\ndata: {"reason": "trimmed"}\n\n',
    Signal.UNAVAILABLE: b"event: unavailable\ndata: {}\n\n",
}


def request_shutdown() -> None:
    """End every open stream of this process within a second (server stopping)."""
    event_fanout.request_shutdown()


def _frames(subscription: Subscription) -> Iterator[bytes]:
    yield b"retry: 2000\n\n"
    for item in subscription:
        if isinstance(item, StoredEvent):
            yield b"id: " + item.id.encode() + b"\ndata: " + item.data + b"\n\n"
        else:
            yield _SIGNAL_FRAMES[item]


def event_stream(
    fanout: EventFanout,
    session: str,
    after: str | None,
    user: str,
    environ: Mapping[str, Any],
) -> Response:
    """The SSE response for ``session`` (the caller has checked that ``user`` owns it).

    Raises :class:`~relay.errors.BadRequest` for a malformed id and
    :class:`~relay.errors.TooManyStreams` when ``user`` holds every stream slot.
    """
    if after is not None and not _EVENT_ID.match(after):
        raise BadRequest("Last-Event-ID must look like '<number>-<number>'.")
    subscription = fanout.follow(session, after, owner=user, connected=disconnect_probe(environ))
    response = Response(_frames(subscription), mimetype="text/event-stream")
    # Called by the server when the response ends or the client went away,
    # even if the body was never iterated: the slot must come back.
    response.call_on_close(subscription.close)
    response.headers["Cache-Control"] = "no-cache, no-transform"
    response.headers["X-Accel-Buffering"] = "no"
    return response
