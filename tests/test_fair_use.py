"""Fair use: no user can exhaust the service for the others.

Route tests through the demo host app with a real Redis and, where tokens
are spent, a real worker running the Codex CLI against the scripted model.
Each limit is shown three ways: the refused user gets 429 with the limit's
code and a sentence saying what to do (and when), another user is not
affected, and the refused user's conversations are all still there.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from redis_versions import EACH_REDIS

from relay import events as ev
from relay.errors import BudgetExhausted
from relay.fair_use import FairUse, seconds_to_midnight, utc_day
from relay.runtime import RelayRuntime

RUN = "/runs/run-1/default/agent"


def _user(app: Any, name: str) -> Any:
    client = app.test_client()
    assert client.post("/demo/login", json={"user": name}).status_code == 200
    return client


def _chat(client: Any, message: str = "#scenario:hello", session_id: str | None = None) -> Any:
    body: dict[str, Any] = {"message": message}
    if session_id:
        body["session_id"] = session_id
    return client.post(f"{RUN}/chat", json=body)


def _refused(response: Any, code: str) -> str:
    assert response.status_code == 429, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code
    assert int(response.headers["Retry-After"]) >= 1
    return str(error["message"])


@pytest.mark.codex
def test_over_the_daily_token_budget_a_user_gets_429_until_midnight_utc(make_app, turns, devmodel):
    devmodel.add_scenario(
        "spend", [{"say": "costly", "usage": {"input_tokens": 700, "output_tokens": 400}}]
    )
    app = make_app(CODEX_RELAY_DAILY_TOKEN_BUDGET=1000)
    alice, bob = _user(app, "alice"), _user(app, "bob")
    first = _chat(alice, "#scenario:spend").get_json()["session_id"]
    assert turns.work().returncode == 0
    assert FairUse(turns.rt).tokens_today("alice") == 1100
    response = _chat(alice, "#scenario:hello more", first)
    message = _refused(response, "budget_exhausted")
    assert "You have used 1,100 of your 1,000 tokens for today" in message
    assert "resets at 00:00 UTC" in message
    assert abs(int(response.headers["Retry-After"]) - seconds_to_midnight(time.time())) <= 2
    _refused(_chat(alice), "budget_exhausted")  # a new conversation too
    # Bob's day is his own; Alice's conversation is all still there.
    assert _chat(bob).status_code == 202
    assert turns.types(turns.rt.sessions.get(first))[-1] == "turn.completed"
    assert alice.get(f"{RUN}/sessions/{first}").get_json()["turns"] == 1


def test_the_token_budget_is_per_utc_day(relay_env, runtime):
    limited = runtime.settings.replace(daily_token_budget=100)
    fair = FairUse(RelayRuntime.from_settings(limited, client=runtime.redis))
    today = time.time()
    tomorrow = today + seconds_to_midnight(today) + 1
    assert fair.add_tokens("alice", 150, today) == 150
    with pytest.raises(BudgetExhausted, match="150 of your 100 tokens"):
        fair.check("alice", new_session=True, now=today)
    assert utc_day(tomorrow) != utc_day(today)
    assert fair.check("alice", new_session=True, now=tomorrow).tokens_today == 0
    assert fair.check("bob", new_session=True, now=today).tokens_today == 0


def test_a_user_with_the_most_sessions_gets_429_too_many_sessions(make_app):
    app = make_app(CODEX_RELAY_MAX_SESSIONS_PER_USER=2)
    alice, bob = _user(app, "alice"), _user(app, "bob")
    first = _chat(alice).get_json()["session_id"]
    second = _chat(alice).get_json()["session_id"]
    message = _refused(_chat(alice), "too_many_sessions")
    assert message.startswith("You already have 2 conversations, the most one user may keep")
    assert "delete one" in message
    assert _chat(bob).status_code == 202
    listed = {s["session_id"] for s in alice.get(f"{RUN}/sessions").get_json()}
    assert listed == {first, second}  # nothing of Alice's was lost
    # Her existing conversations go on; deleting one makes room for a new one.
    assert alice.delete(f"{RUN}/sessions/{first}").status_code == 204
    assert _chat(alice).status_code == 202


@EACH_REDIS  # MEMORY USAGE differs between versions
def test_a_user_whose_sessions_hold_too_much_gets_429_storage_exhausted(make_app, runtime):
    app = make_app(CODEX_RELAY_MAX_STORED_BYTES_PER_USER=64 * 1024)
    alice, bob = _user(app, "alice"), _user(app, "bob")
    first = _chat(alice).get_json()["session_id"]
    # What a chatty turn leaves: 100 events of 1 KB of output each.
    record = runtime.sessions.get(first)
    bodies = [
        ev.event_body(first, 1, ev.MESSAGE, {"text": "x" * 1024}, time.time()) for _ in range(100)
    ]
    runtime.events.append(first, record.running_turn, bodies)
    stored = FairUse(runtime).usage("alice").stored_bytes
    assert stored > 64 * 1024
    message = _refused(_chat(alice, "more", first), "storage_exhausted")
    assert "Your conversations hold " in message and "over the 64 KiB one user may keep" in message
    _refused(_chat(alice), "storage_exhausted")
    assert _chat(bob).status_code == 202
    assert len(runtime.events.read(first, count=1000)) == 101  # everything kept
    # Deleting the conversation frees the space.
    assert alice.delete(f"{RUN}/sessions/{first}").status_code == 204
    assert _chat(alice).status_code == 202


@EACH_REDIS
def test_usage_counts_live_sessions_their_bytes_and_todays_tokens(relay_env, runtime):
    fair = FairUse(runtime)
    empty = fair.usage("nobody")
    assert (empty.sessions, empty.stored_bytes, empty.tokens_today) == (0, 0, 0)
    kept = runtime.sessions.create("alice", "run-1", "default", "edit", "/tmp/run-1")
    gone = runtime.sessions.create("alice", "run-1", "default", "edit", "/tmp/run-1")
    runtime.redis.delete(runtime.keys.session(gone.id))  # expired
    runtime.redis.set(runtime.keys.codex_state(kept.id), b"z" * 5000)
    fair.add_tokens("alice", 42)
    use = fair.usage("alice")
    assert use.sessions == 1
    assert use.stored_bytes >= 5000
    assert use.tokens_today == 42
    assert use.max_sessions == runtime.settings.max_sessions_per_user
    assert 0 < use.next_expiry <= runtime.settings.session_ttl
    assert [u.user for u in fair.all_usage()] == ["alice"]


def test_the_openai_facade_front_door_holds_the_same_budget(make_app, redis_client, runtime):
    from relay.api_keys import ApiKeyStore

    app = make_app(CODEX_RELAY_DAILY_TOKEN_BUDGET=1000)
    store = ApiKeyStore(redis_client)
    alice, bob = store.create("alice")[0], store.create("bob")[0]
    FairUse(runtime).add_tokens("alice", 1000)
    client = app.test_client()
    body = {"model": "run-1/default", "messages": [{"role": "user", "content": "hi"}]}
    refused = client.post(
        "/openai/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {alice}"}
    )
    assert refused.status_code == 429
    error = refused.get_json()["error"]
    assert error["code"] == "budget_exhausted" and "resets at 00:00 UTC" in error["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    # Bob's turn starts (it would run on a worker; none is needed to see it queued).
    started = client.post(
        "/openai/v1/chat/completions",
        json=body | {"stream": True},
        headers={"Authorization": f"Bearer {bob}"},
        buffered=False,
    )
    assert started.status_code == 200 and started.headers["X-Session-Id"]
    started.close()
