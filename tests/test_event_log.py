"""The event log's contract, on each Redis a user's machine may have (7 and 6.2).

One Lua script stores and publishes a batch; these tests hold it to what the
rest of the relay relies on: ids are ``<seq>-0`` and gap-free, every stored
event is also published (byte for byte), a turn ends exactly once, a deleted
session's log is never recreated, and a capped log keeps the newest events.
"""

from __future__ import annotations

import time

import orjson
import pytest
from redis_versions import EACH_REDIS

from relay import events as ev
from relay.event_log import EventLog
from relay.keys import response_channel
from relay.runtime import RelayRuntime
from relay.session_store import SessionRecord

pytestmark = EACH_REDIS


@pytest.fixture
def record(runtime: RelayRuntime, run_dir) -> SessionRecord:
    return runtime.sessions.create("alice", run_dir.name, "default", "edit", str(run_dir))


def _bodies(record: SessionRecord, turn: int, *kinds: str) -> list[dict]:
    return [ev.event_body(record.id, turn, kind, {"n": i}) for i, kind in enumerate(kinds)]


def test_ids_are_seq_dash_zero_and_gap_free_across_batches_and_turns(runtime, record):
    first = runtime.events.append(record.id, 1, _bodies(record, 1, ev.MESSAGE, ev.MESSAGE))
    second = runtime.events.append(record.id, 2, _bodies(record, 2, ev.MESSAGE))
    assert first + second == ["1-0", "2-0", "3-0"]
    stored = runtime.events.read(record.id)
    assert [e.id for e in stored] == ["1-0", "2-0", "3-0"]
    for event in stored:
        body = orjson.loads(event.data)
        assert body["id"] == event.id and body["seq"] == int(event.id.split("-")[0])


def test_every_stored_event_is_published_with_the_same_bytes(runtime, record, redis_client):
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(response_channel(record.id))
    pubsub.get_message(timeout=1)
    runtime.events.append(record.id, 1, _bodies(record, 1, ev.MESSAGE, ev.REASONING))
    published = []
    deadline = time.monotonic() + 5
    while len(published) < 2 and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message:
            published.append(message["data"])
    pubsub.close()
    assert published == [e.data for e in runtime.events.read(record.id)]


def test_a_turn_ends_exactly_once_and_later_events_of_it_are_dropped(runtime, record):
    done = _bodies(record, 1, ev.TURN_COMPLETED)
    assert runtime.events.append(record.id, 1, done) == ["1-0"]
    assert runtime.events.append(record.id, 1, done) == []  # the watchdog, racing the job
    assert runtime.events.append(record.id, 1, _bodies(record, 1, ev.MESSAGE)) == []
    assert runtime.events.is_final(record.id, 1)
    assert runtime.events.append(record.id, 2, _bodies(record, 2, ev.MESSAGE)) == ["2-0"]


def test_events_of_a_deleted_session_do_not_recreate_its_log(runtime, record):
    runtime.events.append(record.id, 1, _bodies(record, 1, ev.MESSAGE))
    runtime.sessions.delete(record)
    runtime.events.delete(record.id)
    assert runtime.events.append(record.id, 1, _bodies(record, 1, ev.MESSAGE)) == []
    assert runtime.events.read(record.id) == []
    assert not runtime.redis.exists(runtime.keys.seq(record.id))


def test_a_capped_log_keeps_the_newest_events_and_says_where_it_starts(redis_client, record):
    events = EventLog(redis_client, maxlen=10)
    for turn in range(1, 301):
        events.append(record.id, turn, _bodies(record, turn, ev.MESSAGE))
    stored = events.read(record.id, count=1000)
    assert stored[-1].id == "300-0"
    assert len(stored) < 300  # trimmed (MAXLEN ~ trims by whole nodes)
    assert events.first_id(record.id) == stored[0].id
    assert events.last_id(record.id) == "300-0"


def test_the_log_and_its_counter_expire_with_the_session(redis_client, record):
    events = EventLog(redis_client, ttl_seconds=60)
    events.append(record.id, 1, _bodies(record, 1, ev.MESSAGE))
    for key in (events.keys.events(record.id), events.keys.seq(record.id)):
        assert 0 < redis_client.pttl(key) <= 60_000
