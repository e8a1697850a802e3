"""The per-process event fan-out (``relay.event_fanout``) against a real Redis, with real threads.

These read like its contract: a subscription replays in batches then follows
live, gap-free and without repeats however publishing and subscribing
interleave; a slow subscriber catches up from the log; deleting the session,
losing the client or stopping the process ends it; a watched turn whose
worker died is ended by the watchdog nudge; and a user's stream slots are
capped and given back.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from redis_versions import EACH_REDIS

from blueprints.client_socket import disconnect_probe
from relay import events as ev
from relay.errors import TooManyStreams
from relay.event_fanout import MAX_BUFFERED, REPLAY_BATCH, EventFanout, Signal, Subscription
from relay.event_log import StoredEvent
from relay.runtime import RelayRuntime
from relay.stream_slots import StreamSlots, open_streams, open_streams_by_user

pytestmark = EACH_REDIS


@pytest.fixture
def fanout(runtime: RelayRuntime) -> Iterator[EventFanout]:
    hub = EventFanout(runtime, StreamSlots(runtime.redis, runtime.keys, limit=3))
    yield hub
    for sub in hub.subscriptions():
        sub.close()


@pytest.fixture
def session(runtime: RelayRuntime, run_dir: Any) -> str:
    return runtime.sessions.create("alice", run_dir.name, "default", "edit", str(run_dir)).id


def _append(rt: RelayRuntime, session: str, count: int, turn: int = 1) -> list[str]:
    ids: list[str] = []
    for start in range(0, count, 200):
        bodies = [
            ev.event_body(session, turn, ev.MESSAGE, {"text": f"m{start + i}"})
            for i in range(min(200, count - start))
        ]
        ids += rt.events.append(session, turn, bodies)
    return ids


def _take(sub: Subscription, count: int, timeout: float = 20) -> list[str]:
    """The ids of the next ``count`` events (signals other than heartbeats fail the test)."""
    got: list[str] = []
    if count == 0:
        return got
    done = threading.Event()

    def consume() -> None:
        for item in sub:
            if isinstance(item, StoredEvent):
                got.append(item.id)
                if len(got) == count:
                    break
            elif item is not Signal.HEARTBEAT:
                got.append(item.value)
                break
        done.set()

    threading.Thread(target=consume, daemon=True).start()
    assert done.wait(timeout), f"only {len(got)} of {count} events arrived"
    return got


def _seqs(ids: list[str]) -> list[int]:
    return [int(i.split("-")[0]) for i in ids]


def test_replay_comes_in_batches_then_live_events_follow_without_gaps_or_repeats(
    runtime, fanout, session
):
    stored = _append(runtime, session, REPLAY_BATCH * 2 + 17)
    reads: list[int] = []
    read = runtime.events.read

    def counting_read(*args: Any, **kwargs: Any) -> list[StoredEvent]:
        rows = read(*args, **kwargs)
        reads.append(len(rows))
        return rows

    runtime.events.read = counting_read  # a spy on the real method: it still reads Redis
    with fanout.follow(session) as sub:
        first = next(iter(sub))
        assert isinstance(first, StoredEvent) and first.id == stored[0]
        assert reads == [REPLAY_BATCH]  # the first batch is out before the rest is read
        rest = _take(sub, len(stored) - 1)
        assert [first.id, *rest] == stored
        assert max(reads) == REPLAY_BATCH
        live = _append(runtime, session, 5)
        assert _take(sub, 5) == live


def test_subscribing_while_events_are_published_loses_and_repeats_nothing(runtime, fanout, session):
    total = 400
    writer_done = threading.Event()

    def write() -> None:
        for _ in range(total // 4):
            _append(runtime, session, 4)
            time.sleep(0.002)
        writer_done.set()

    writer = threading.Thread(target=write)
    writer.start()
    subs: list[tuple[int, Subscription]] = []
    while not writer_done.is_set() and len(subs) < 25:
        last = runtime.events.last_id(session)
        after = int(last.split("-")[0]) if last else 0
        subs.append((after, fanout.follow(session, f"{after}-0" if after else None)))
        time.sleep(0.01)
    writer.join()
    assert len(subs) >= 5
    for after, sub in subs:
        assert _seqs(_take(sub, total - after)) == list(range(after + 1, total + 1))
        sub.close()


def test_a_slow_subscriber_overflows_its_buffer_then_catches_up_from_the_log(
    runtime, fanout, session
):
    with fanout.follow(session) as sub:
        deadline = time.monotonic() + 15
        marker: list[str] = []
        while not sub._buffer and time.monotonic() < deadline:
            # Events published before the pub/sub subscription took effect are
            # only in the log; go on until one reaches the buffer live.
            marker += _append(runtime, session, 1)
            time.sleep(0.05)
        # Nobody reads now; the reader keeps handing events over until the buffer is full.
        stored = marker + _append(runtime, session, MAX_BUFFERED * 3)
        while not sub._overflowed and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sub._overflowed and len(sub._buffer) == 0  # memory stays bounded
        assert _take(sub, len(stored)) == stored


def test_several_subscribers_of_one_session_each_get_every_event(runtime, fanout, session):
    subs = [fanout.follow(session) for _ in range(3)]
    fanout.slots = None  # the cap is tested below; here only delivery matters
    more = [fanout.follow(session) for _ in range(5)]
    stored = _append(runtime, session, 50)
    for sub in subs + more:
        assert _take(sub, 50) == stored
        sub.close()


def test_a_trimmed_after_id_gets_a_reset_then_the_oldest_kept_events(runtime, fanout, session):
    key = runtime.keys.events(session)
    _append(runtime, session, 40)
    runtime.redis.xtrim(key, maxlen=10, approximate=False)
    with fanout.follow(session, "3-0") as sub:
        assert _take(sub, 11) == ["reset"]  # reset ends _take; the events follow it
        assert _seqs(_take(sub, 10)) == list(range(31, 41))


def test_deleting_the_session_ends_its_subscriptions(runtime, fanout, session):
    from relay.turns import delete_session

    with fanout.follow(session) as sub:
        first = _append(runtime, session, 1)
        assert _take(sub, 1) == first
        delete_session(runtime, runtime.sessions.get(session))
        ended = threading.Event()
        threading.Thread(target=lambda: (list(sub), ended.set()), daemon=True).start()
        assert ended.wait(15)


def test_a_client_that_goes_away_ends_its_subscription_and_frees_its_slot(runtime, fanout, session):
    server_side, client_side = socket.socketpair()
    probe = disconnect_probe({"gunicorn.socket": server_side})
    assert probe is not None and probe() is True
    with fanout.follow(session, owner="alice", connected=probe) as sub:
        assert open_streams(runtime.redis, runtime.keys, "alice") == 1
        ended = threading.Event()
        threading.Thread(target=lambda: (list(sub), ended.set()), daemon=True).start()
        assert not ended.wait(1.5)  # a waiting client keeps its stream
        client_side.close()
        assert ended.wait(15)  # noticed by the probe, not by a write
    assert open_streams(runtime.redis, runtime.keys, "alice") == 0
    server_side.close()


def test_a_user_gets_at_most_the_cap_of_streams_and_a_closed_one_frees_a_slot(
    runtime, fanout, session
):
    subs = [fanout.follow(session, owner="alice") for _ in range(3)]
    with pytest.raises(TooManyStreams) as refused:
        fanout.follow(session, owner="alice")
    assert refused.value.code == "too_many_streams"
    bob = fanout.follow(session, owner="bob")  # the cap is per user
    assert open_streams_by_user(runtime.redis, runtime.keys) == {"alice": 3, "bob": 1}
    subs.pop().close()
    subs.append(fanout.follow(session, owner="alice"))
    for sub in [*subs, bob]:
        sub.close()
    assert open_streams_by_user(runtime.redis, runtime.keys) == {}


def test_the_cap_holds_across_processes_sharing_redis(runtime, session):
    # Two fan-outs stand for two web processes: the slots live in Redis.
    one = EventFanout(runtime, StreamSlots(runtime.redis, runtime.keys, limit=2))
    two = EventFanout(runtime, StreamSlots(runtime.redis, runtime.keys, limit=2))
    first = one.follow(session, owner="alice")
    second = two.follow(session, owner="alice")
    with pytest.raises(TooManyStreams):
        one.follow(session, owner="alice")
    first.close()
    third = two.follow(session, owner="alice")
    for sub in (second, third):
        sub.close()


def test_a_slot_whose_process_died_is_freed_when_its_lease_runs_out(runtime):
    slots = StreamSlots(runtime.redis, runtime.keys, limit=1, lease_seconds=0.5)
    slots.take("alice")  # never freed nor renewed: its web process died
    with pytest.raises(TooManyStreams):
        slots.take("alice")
    time.sleep(0.6)
    slots.free(slots.take("alice"))


def test_a_watched_turn_whose_worker_died_is_ended_failed_by_the_watchdog_nudge(
    runtime, fanout, session
):
    record = runtime.sessions.get(session)
    turn = runtime.sessions.begin_turn(record, max_running=3)
    dead = time.time() - runtime.settings.stale_after - 5
    runtime.sessions.update(session, status="running", heartbeat=dead, worker="gone:1")
    with fanout.follow(session) as sub:
        events: list[dict[str, Any]] = []
        for item in sub:
            if isinstance(item, StoredEvent):
                events.append(orjson.loads(item.data))
                if events[-1]["type"] == ev.TURN_COMPLETED:
                    break
    assert events[-1] == {**events[-1], "turn": turn, "status": "failed"}
    assert events[-2]["code"] == "worker_lost"
    assert runtime.sessions.get(session).running_turn == 0


def test_renewing_leases_never_brings_back_a_slot_freed_meanwhile(runtime):
    slots = StreamSlots(runtime.redis, runtime.keys, limit=2)
    kept, freed = slots.take("alice"), slots.take("alice")
    slots.free(freed)
    slots.renew([kept, freed])  # the renewal raced the close
    assert open_streams(runtime.redis, runtime.keys, "alice") == 1
