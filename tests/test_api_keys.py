"""API keys for the OpenAI-compatible API: made once, stored hashed, looked up, revoked.

A real Redis; the store (:mod:`relay.api_keys`) and the ``codex-relay
api-keys`` command that operators use.
"""

from __future__ import annotations

import time

import pytest

from cli.main import main
from relay.api_keys import KEY_PREFIX, ApiKeyStore, hash_key


@pytest.fixture
def store(redis_client) -> ApiKeyStore:
    return ApiKeyStore(redis_client)


def _everything_in(redis_client) -> bytes:
    """Every key name and every value in the database, as one blob."""
    blob = b""
    for name in redis_client.keys("*"):
        blob += name
        kind = redis_client.type(name)
        if kind == b"hash":
            for field, value in redis_client.hgetall(name).items():
                blob += field + value
        elif kind == b"string":
            blob += redis_client.get(name)
    return blob


def test_a_new_key_stands_for_its_user(store):
    key, info = store.create("alice", "laptop")
    assert key.startswith(KEY_PREFIX) and len(key) == len(KEY_PREFIX) + 43
    assert store.user_for(key) == "alice"
    assert (info.user, info.label) == ("alice", "laptop")


def test_only_the_keys_sha256_is_stored_never_the_key(store, redis_client):
    key, _ = store.create("alice")
    secret = key[len(KEY_PREFIX) :].encode()
    blob = _everything_in(redis_client)
    assert secret not in blob
    assert hash_key(key).encode() in blob


def test_two_keys_are_never_the_same(store):
    keys = {store.create("alice")[0] for _ in range(50)}
    assert len(keys) == 50


@pytest.mark.parametrize(
    "candidate",
    [
        "",
        KEY_PREFIX,
        KEY_PREFIX + "A" * 43,
        "sk-" + "A" * 48,
        "Bearer crk_x",
        KEY_PREFIX + "x" * 500,
        KEY_PREFIX + "\x00",
        "*",
    ],
    ids=["empty", "prefix", "unknown", "openai_style", "with_scheme", "huge", "nul", "glob"],
)
def test_anything_that_is_not_a_live_key_stands_for_no_one(store, candidate):
    store.create("alice")
    assert store.user_for(candidate) is None


def test_a_key_off_by_one_character_stands_for_no_one(store):
    key, _ = store.create("alice")
    other = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert store.user_for(other) is None
    assert store.user_for(key) == "alice"


def test_a_revoked_key_stops_working_and_the_others_go_on(store):
    first, info = store.create("alice")
    second, _ = store.create("alice")
    assert store.revoke(info.id) is True
    assert store.user_for(first) is None
    assert store.user_for(second) == "alice"
    assert store.revoke(info.id) is False
    assert info.id not in [i.id for i in store.list_keys()]


def test_list_shows_who_what_and_when_but_no_key(store):
    key, alice = store.create("alice", "ci")
    _, bob = store.create("bob")
    assert store.list_keys()[0].last_used == 0.0
    before = time.time()
    store.user_for(key)
    listed = {i.id: i for i in store.list_keys()}
    assert set(listed) == {alice.id, bob.id}
    assert listed[alice.id].last_used >= before
    assert [i.id for i in store.list_keys("bob")] == [bob.id]
    assert key not in repr(store.list_keys())


def test_the_last_used_touch_never_brings_back_a_revoked_key(store, redis_client):
    key, info = store.create("alice")
    name = store.keys.api_key(hash_key(key))
    store.revoke(info.id)
    store._touch(keys=[name], args=[time.time()])  # a request that read the key just before
    assert not redis_client.exists(name)


@pytest.mark.parametrize(
    ("user", "label"),
    [("", ""), (" ", ""), ("a\x00b", ""), ("x" * 129, ""), ("alice", "l\nl"), ("alice", "x" * 101)],
    ids=["empty_user", "blank_user", "nul_user", "long_user", "newline_label", "long_label"],
)
def test_a_bad_user_or_label_is_refused(store, user, label):
    from relay.errors import BadRequest

    with pytest.raises(BadRequest):
        store.create(user, label)
    assert store.list_keys() == []


def test_the_cli_prints_the_key_once_and_lists_and_revokes(relay_env, redis_client, capsys):
    assert main(["api-keys", "create", "--user", "alice", "--label", "laptop"]) == 0
    out, err = capsys.readouterr()
    key = out.strip()
    assert key.startswith(KEY_PREFIX) and "not shown again" in err
    assert ApiKeyStore(redis_client).user_for(key) == "alice"

    assert main(["api-keys", "list"]) == 0
    listing, _ = capsys.readouterr()
    assert "alice" in listing and "laptop" in listing and key not in listing
    key_id = ApiKeyStore(redis_client).list_keys()[0].id

    assert main(["api-keys", "revoke", key_id]) == 0
    assert ApiKeyStore(redis_client).user_for(key) is None
    assert main(["api-keys", "revoke", key_id]) == 1
    assert "no API key" in capsys.readouterr().err


def test_the_cli_refuses_a_bad_user_with_a_clear_message(relay_env, capsys):
    assert main(["api-keys", "create", "--user", ""]) == 1
    assert "user name" in capsys.readouterr().err
