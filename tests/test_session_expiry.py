"""Idle sessions expire with everything they hold: record, event log, Codex thread."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.codex


def test_an_idle_session_expires_with_its_log_and_codex_state(turns, monkeypatch, redis_client):
    monkeypatch.setenv("CODEX_RELAY_SESSION_TTL", "2")
    from relay.runtime import RelayRuntime
    from relay.settings import load_settings

    turns.rt = RelayRuntime.from_settings(load_settings())
    session = turns.new_session()
    turns.start(session, "#scenario:hello")
    turns.work()
    keys = turns.rt.keys
    held = [
        keys.session(session.id),
        keys.events(session.id),
        keys.seq(session.id),
        keys.codex_state(session.id),
    ]
    assert all(redis_client.exists(k) for k in held)
    assert all(0 < redis_client.ttl(k) <= 2 for k in held)
    time.sleep(2.5)
    assert not any(redis_client.exists(k) for k in held)
    assert turns.rt.sessions.list_for("alice", session.runid) == []  # index entry dropped too


def test_activity_keeps_a_session_alive(turns, monkeypatch, redis_client):
    monkeypatch.setenv("CODEX_RELAY_SESSION_TTL", "5")
    from relay.runtime import RelayRuntime
    from relay.settings import load_settings

    turns.rt = RelayRuntime.from_settings(load_settings())
    session = turns.new_session()
    turns.start(session, "#scenario:hello one")
    turns.work()
    first_done = time.monotonic()
    time.sleep(2.5)
    turns.start(session, "#scenario:hello two")  # new activity refreshes every TTL
    turns.work()
    time.sleep(max(0.0, 5.5 - (time.monotonic() - first_done)))  # past turn 1's expiry
    assert redis_client.exists(turns.rt.keys.session(session.id))
    assert [e["turn"] for e in turns.events(session)][-1] == 2
