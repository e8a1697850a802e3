"""Live events of many sessions for many watchers, from one Redis subscription per process.

:meth:`EventFanout.follow` returns a :class:`Subscription`: an iterator over
one session's events after a given id, first what is stored (read in
batches of :data:`REPLAY_BATCH`, so a long log never sits in memory at
once), then live. It also yields :class:`Signal` items (a heartbeat after a
quiet spell, a reset when the log was trimmed past the caller's id,
"unavailable" when Redis failed) and ends when the session is deleted, the
client goes away, or the process stops. Any route can use it: the SSE route
does, and a route that streams chat-completion chunks can.

However many subscriptions a process holds, it uses:

- one pub/sub connection (the *reader* thread), subscribed to
  ``agent_response-<session>`` of every watched session. The event log's Lua
  script publishes each event right after storing it, so a message carries
  the stored event itself: a subscriber whose last id is just before it takes
  it from memory, with no Redis read;
- one *housekeeping* thread: it ends the subscriptions of deleted sessions,
  nudges the watchdog for watched running turns (a worker killed mid-turn
  still ends the turn ``failed`` for whoever watches it), asks each
  subscription's ``connected`` probe whether its client is still there,
  renews stream slots, and ends everything once :func:`request_shutdown` was
  called;
- connections from the runtime's bounded pool, for replays and gap reads.

The Redis Stream stays the source of truth; pub/sub is a doorbell that also
brings the event. A subscriber that finds a gap between its last id and the
next event it was handed (messages published before the subscription took
effect, or a buffer that overflowed because its client reads slowly) reads
the gap from the stream, so delivery is gap-free and in order however the two
paths interleave.

Under gunicorn's gevent worker, ``threading`` is monkey-patched: the two
threads and every waiting subscription are greenlets. Without gevent they
are real threads (Flask's test client, the ``gthread`` worker).
"""

from __future__ import annotations

import enum
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import orjson
import redis

from .event_log import EventLog, StoredEvent
from .keys import response_channel
from .reaper import reap_session
from .runtime import RelayRuntime
from .stream_slots import LEASE_SECONDS, StreamSlot, StreamSlots

__all__ = [
    "HEARTBEAT_SECONDS",
    "REPLAY_BATCH",
    "EventFanout",
    "FollowItem",
    "Signal",
    "Subscription",
    "request_shutdown",
]

log = logging.getLogger("codex_relay.fanout")

#: Seconds of silence after which a subscription yields :attr:`Signal.HEARTBEAT`.
HEARTBEAT_SECONDS = 15.0
#: Events read from the log per round trip (replay, gap reads).
REPLAY_BATCH = 500
#: Live events held for one subscriber whose client is slow; past it, it rereads the log.
MAX_BUFFERED = 256
#: Longest the reader waits for a message before it looks at new or dropped sessions.
_POLL_SECONDS = 0.1
#: Period of the housekeeping thread (disconnect probes, shutdown).
_TICK_SECONDS = 1.0
#: Period of the watchdog nudge for watched running turns.
_CHECK_SECONDS = 2.0
#: Period of the check for deleted sessions (their streams end).
_EXISTS_SECONDS = 5.0
#: Sessions (or slots, or probes) handled between two chances for other greenlets to run:
#: housekeeping must not hold up the delivery of events for more than a moment.
_CHUNK = 100
#: The threads stop after this long without a subscription (and start again when needed).
_IDLE_EXIT_SECONDS = 30.0
#: Log reads (replays, gap reads) running at once; the rest of the pool stays free for
#: the requests (chat, cancel, health) when thousands of streams open at the same time.
_CONCURRENT_READS = 16
_REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)
_CHANNEL_PREFIX = response_channel("").encode()
# The append script writes every event as '{"id":"<seq>-0","seq":...'.
_ID_PREFIX = re.compile(rb'^\{"id":"(\d{1,19}-\d{1,19})"')


class Signal(enum.Enum):
    """What a subscription yields besides events."""

    #: The caller's last id was trimmed from the capped log; the oldest kept events follow.
    RESET = "reset"
    #: Nothing happened for :data:`HEARTBEAT_SECONDS`.
    HEARTBEAT = "heartbeat"
    #: Redis failed; the subscription ends after this (the client should reconnect).
    UNAVAILABLE = "unavailable"


FollowItem = StoredEvent | Signal


class _Process:
    """Process-wide state read by every fan-out (set from a signal handler, so a plain flag)."""

    stopping = False


def request_shutdown() -> None:
    """End every subscription of this process within a second (the server is stopping).

    Only sets a flag, so it is safe in a signal handler; new subscriptions end at once.
    """
    _Process.stopping = True


def _seq(event_id: str) -> int:
    return int(event_id.split("-", 1)[0])


def _event_from(data: Any) -> StoredEvent | None:
    """The stored event a pub/sub message carries (``None`` if it carries none)."""
    if not isinstance(data, bytes):
        return None
    match = _ID_PREFIX.match(data)
    if match is not None:
        return StoredEvent(match.group(1).decode(), data)
    try:
        event_id = orjson.loads(data).get("id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return StoredEvent(event_id, data) if isinstance(event_id, str) and event_id else None


class Subscription:
    """One watcher of one session: iterate it for :data:`FollowItem` values; close it after.

    ``cursor`` is the id of the last event handed out (``None``: none yet).
    """

    def __init__(
        self,
        fanout: EventFanout,
        session: str,
        after: str | None,
        connected: Callable[[], bool] | None,
        slot: StreamSlot | None,
        live: bool = True,
    ) -> None:
        self.session = session
        self.cursor = after
        #: Probe run about once a second: ``False`` means the client went away.
        self.connected = connected
        #: The user's stream slot this subscription holds (freed on close).
        self.slot = slot
        self._fanout = fanout
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._buffer: deque[StoredEvent] = deque()
        self._pending: deque[FollowItem] = deque()
        self._overflowed = False
        # Read the log before trusting the buffer. A session whose pub/sub
        # subscription has not taken effect yet gets its first read when it
        # does (resync), not twice: once now and once then.
        self._sync = live
        self._ended = False
        self._end_signal: Signal | None = None
        self._closed = False

    # -- called by the fan-out's threads -----------------------------------------

    def push(self, event: StoredEvent) -> None:
        """Hand over a live event (from the reader)."""
        with self._lock:
            if self._overflowed:
                return
            if len(self._buffer) >= MAX_BUFFERED:
                self._overflowed = True
                self._buffer.clear()
            else:
                self._buffer.append(event)
        self._wake.set()

    def resync(self) -> None:
        """Read the log from the cursor at the next chance (the subscription just took effect)."""
        with self._lock:
            self._sync = True
        self._wake.set()

    def end(self, signal: Signal | None = None) -> None:
        """Make the iterator finish (after yielding ``signal``, if given)."""
        with self._lock:
            if not self._ended:
                self._ended = True
                self._end_signal = signal
        self._wake.set()

    @property
    def ended(self) -> bool:
        """Whether the iterator has been told to finish."""
        return self._ended

    # -- the consumer's side -------------------------------------------------------

    def close(self) -> None:
        """Stop following: leave the fan-out and free the stream slot (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.end()
        self._fanout.leave(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[FollowItem]:
        heartbeat = self._fanout.heartbeat
        quiet_since = time.monotonic()
        while True:
            self._wake.clear()
            if self._pending:
                # Taken from the buffer or the log but not handed out yet (kept
                # here, not in the generator, so a new iterator goes on from it).
                item = self._pending.popleft()
                if isinstance(item, StoredEvent):
                    self.cursor = item.id
                yield item
                continue
            if self._ended:
                if self._end_signal is not None:
                    yield self._end_signal
                return
            try:
                batch = self._next_batch()
            except _REDIS_ERRORS:
                self.end(Signal.UNAVAILABLE)
                continue
            if batch:
                if self.cursor is not None and _seq(batch[0].id) > _seq(self.cursor) + 1:
                    self._pending.append(Signal.RESET)
                self._pending.extend(batch)
                quiet_since = time.monotonic()
                continue
            quiet = time.monotonic() - quiet_since
            if quiet >= heartbeat:
                yield Signal.HEARTBEAT
                quiet_since = time.monotonic()
                continue
            self._wake.wait(heartbeat - quiet)

    def _next_batch(self) -> list[StoredEvent]:
        """The next events after the cursor: from the buffer when it follows on, else the log."""
        last = 0 if self.cursor is None else _seq(self.cursor)
        with self._lock:
            if self._overflowed:
                self._overflowed = False
                self._sync = True
            while self._buffer and _seq(self._buffer[0].id) <= last:
                self._buffer.popleft()
            if not self._sync:
                if not self._buffer:
                    return []
                if _seq(self._buffer[0].id) == last + 1:
                    return self._take_run(last)
            self._sync = False
        with self._fanout.reads:
            rows = self._fanout.events.read(self.session, after=self.cursor, count=REPLAY_BATCH)
        with self._lock:
            if len(rows) == REPLAY_BATCH:
                self._sync = True
            elif not rows and self._buffer:
                # The gap is gone from the log (trimmed or deleted): go on from the buffer.
                return self._take_run(_seq(self._buffer[0].id) - 1)
        return rows

    def _take_run(self, last: int) -> list[StoredEvent]:
        """The buffered events that follow ``last`` without a gap (caller holds the lock)."""
        out: list[StoredEvent] = []
        while self._buffer and _seq(self._buffer[0].id) == last + 1:
            event = self._buffer.popleft()
            out.append(event)
            last += 1
        return out


class EventFanout:
    """The per-process hub behind every live event stream (see the module docstring)."""

    def __init__(
        self,
        rt: RelayRuntime,
        slots: StreamSlots | None = None,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.rt = rt
        self.events: EventLog = rt.events
        #: The per-user stream cap (``None``: no cap).
        self.slots = slots
        self.heartbeat = heartbeat
        #: Held by a subscription while it reads the log (see ``_CONCURRENT_READS``).
        self.reads = threading.BoundedSemaphore(_CONCURRENT_READS)
        self._lock = threading.Lock()
        self._watchers: dict[str, set[Subscription]] = {}
        #: Sessions whose pub/sub subscription has taken effect (confirmed by Redis).
        self._live: set[str] = set()
        self._changed = False
        self._generation = 0
        self._running = False
        self._pid = os.getpid()
        self._idle_since = time.monotonic()

    def follow(
        self,
        session: str,
        after: str | None = None,
        *,
        owner: str | None = None,
        connected: Callable[[], bool] | None = None,
    ) -> Subscription:
        """Follow ``session`` from after ``after`` (``None``: from the start).

        With ``owner`` (and a cap configured) the subscription takes one of
        the owner's stream slots, or raises :class:`~relay.errors.TooManyStreams`.
        ``connected`` is probed about once a second; when it returns ``False``
        the subscription ends. Close the subscription when done with it.
        """
        slot = self.slots.take(owner) if owner is not None and self.slots is not None else None
        with self._lock:
            self._after_fork()
            sub = Subscription(self, session, after, connected, slot, session in self._live)
            self._watchers.setdefault(session, set()).add(sub)
            self._changed = True
            if not self._running:
                self._start_threads()
        if _Process.stopping:
            sub.end()
        return sub

    def leave(self, sub: Subscription) -> None:
        """Forget ``sub`` (called by :meth:`Subscription.close`) and free its slot."""
        with self._lock:
            subs = self._watchers.get(sub.session)
            if subs is not None and sub in subs:
                subs.discard(sub)
                if not subs:
                    del self._watchers[sub.session]
                    self._changed = True
                if not self._watchers:
                    self._idle_since = time.monotonic()
        if sub.slot is not None and self.slots is not None:
            try:
                self.slots.free(sub.slot)
            except _REDIS_ERRORS:
                log.warning("could not free a stream slot of %s; its lease will run out", sub.slot)

    def subscriptions(self) -> list[Subscription]:
        """Every open subscription of this fan-out."""
        with self._lock:
            return [sub for subs in self._watchers.values() for sub in subs]

    def _of(self, session: str) -> list[Subscription]:
        with self._lock:
            return list(self._watchers.get(session, ()))

    # -- threads ---------------------------------------------------------------------

    def _after_fork(self) -> None:
        if self._pid != os.getpid():  # forked (e.g. gunicorn --preload): no threads here
            self._pid = os.getpid()
            self._watchers = {}
            self._live = set()
            self._running = False

    def _start_threads(self) -> None:
        self._generation += 1
        self._running = True
        for name, target in (("reader", self._read_loop), ("housekeeping", self._housekeep)):
            thread = threading.Thread(
                target=target,
                args=(self._generation,),
                name=f"codex-relay-fanout-{name}",
                daemon=True,
            )
            thread.start()

    def _current(self, generation: int) -> bool:
        return self._generation == generation and self._pid == os.getpid()

    def _idle_exit(self, generation: int) -> None:
        """Retire the threads after a spell without subscriptions."""
        with self._lock:
            idle = time.monotonic() - self._idle_since
            if self._generation == generation and not self._watchers and idle > _IDLE_EXIT_SECONDS:
                self._generation += 1
                self._running = False

    def _read_loop(self, generation: int) -> None:
        pubsub: Any = None
        subscribed: set[str] = set()
        while self._current(generation):
            try:
                if pubsub is None:
                    pubsub = _own_connection(self.rt.redis).pubsub()
                    subscribed = set()
                    with self._lock:
                        self._changed = True
                        self._live.clear()
                self._reconcile(pubsub, subscribed)
                self._drain(pubsub)
            except _REDIS_ERRORS as exc:
                log.warning("event fan-out lost Redis (%s); open streams end", exc)
                for sub in self.subscriptions():
                    sub.end(Signal.UNAVAILABLE)
                _close_quietly(pubsub)
                pubsub = None
                time.sleep(_POLL_SECONDS * 5)
            except Exception:  # never let the reader die: every stream would hang
                log.exception("event fan-out reader failed; restarting it")
                _close_quietly(pubsub)
                pubsub = None
                time.sleep(_POLL_SECONDS * 5)
        _close_quietly(pubsub)

    def _reconcile(self, pubsub: Any, subscribed: set[str]) -> None:
        """Subscribe to newly watched sessions and drop the ones nobody watches."""
        with self._lock:
            if not self._changed:
                return
            self._changed = False
            wanted = set(self._watchers)
            added, dropped = list(wanted - subscribed), list(subscribed - wanted)
            self._live.difference_update(dropped)
        for start in range(0, len(added), 1000):
            pubsub.subscribe(*(response_channel(s) for s in added[start : start + 1000]))
        for start in range(0, len(dropped), 1000):
            pubsub.unsubscribe(*(response_channel(s) for s in dropped[start : start + 1000]))
        subscribed.update(added)
        subscribed.difference_update(dropped)

    def _drain(self, pubsub: Any) -> None:
        """Hand out the messages that arrive within one poll interval."""
        message = pubsub.get_message(timeout=_POLL_SECONDS)
        handled = 0
        while message is not None:
            self._dispatch(message)
            handled += 1
            if handled % 100 == 0:
                time.sleep(0)  # let the woken subscribers write (gevent)
            message = pubsub.get_message(timeout=0)

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        if not isinstance(channel, bytes) or not channel.startswith(_CHANNEL_PREFIX):
            return
        session = channel[len(_CHANNEL_PREFIX) :].decode()
        kind = message.get("type")
        if kind == "message":
            event = _event_from(message.get("data"))
            if event is not None:
                for sub in self._of(session):
                    sub.push(event)
        elif kind == "subscribe":
            # Events published before the subscription took effect are only in the log.
            with self._lock:
                self._live.add(session)
            for sub in self._of(session):
                sub.resync()

    def _housekeep(self, generation: int) -> None:
        next_check = next_exists = next_renew = time.monotonic()
        while self._current(generation):
            time.sleep(_TICK_SECONDS)
            try:
                subs = self.subscriptions()
                if _Process.stopping:
                    for sub in subs:
                        sub.end()
                    continue
                _probe(subs)
                now = time.monotonic()
                if now >= next_exists:
                    next_exists = now + _EXISTS_SECONDS
                    self._end_deleted()
                if now >= next_check:
                    next_check = now + _CHECK_SECONDS
                    self._nudge_watchdog()
                if self.slots is not None and now >= next_renew:
                    next_renew = now + LEASE_SECONDS / 3
                    held = [sub.slot for sub in subs if sub.slot and not sub.ended]
                    for start in range(0, len(held), _CHUNK * 10):
                        self.slots.renew(held[start : start + _CHUNK * 10])
                        time.sleep(0)
                self._idle_exit(generation)
            except _REDIS_ERRORS as exc:
                log.warning("event fan-out housekeeping: Redis unavailable (%s)", exc)
            except Exception:
                log.exception("event fan-out housekeeping failed; going on")

    def _end_deleted(self) -> None:
        """End the subscriptions of sessions that no longer exist."""
        with self._lock:
            sessions = list(self._watchers)
        for start in range(0, len(sessions), _CHUNK):
            chunk = sessions[start : start + _CHUNK]
            with self.rt.redis.pipeline(transaction=False) as pipe:
                for session in chunk:
                    pipe.exists(self.rt.keys.session(session))
                found = pipe.execute()
            for session, exists in zip(chunk, found, strict=True):
                if not exists:
                    for sub in self._of(session):
                        sub.end()
            time.sleep(0)

    def _nudge_watchdog(self) -> None:
        """Check the watched running turns (a dead worker's turn ends ``failed``)."""
        with self._lock:
            if not self._watchers:
                return
            watched = set(self._watchers)
        for session, turn in self.rt.sessions.running_turns().items():
            if session in watched:
                reap_session(self.rt, session, turn)


def _probe(subs: list[Subscription]) -> None:
    """End the subscriptions whose client went away."""
    for index, sub in enumerate(subs):
        if sub.connected is not None and not sub.ended and not sub.connected():
            sub.end()
        if index % _CHUNK == _CHUNK - 1:
            time.sleep(0)


def _own_connection(client: redis.Redis) -> redis.Redis:
    """A client on its own connection to the same server, for the pub/sub reader.

    Not from the shared pool: a reader waiting for a pooled connection while
    thousands of streams open would be taken for a Redis outage.
    """
    pool = client.connection_pool
    own = redis.ConnectionPool(
        connection_class=pool.connection_class, max_connections=1, **pool.connection_kwargs
    )
    return redis.Redis(connection_pool=own)


def _close_quietly(pubsub: Any) -> None:
    if pubsub is not None:
        try:
            pubsub.close()
        except Exception:  # a broken connection may fail to close; it is dropped anyway
            log.debug("closing the fan-out's pub/sub failed", exc_info=True)
