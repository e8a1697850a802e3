"""The OpenAI facade's HTTP edges, through the Flask test client: keys, models, refusals.

A real Redis and the demo host app; no worker is needed, since every
request here is answered (or refused) before a turn would run. The turns
themselves, through the ``openai`` SDK and the whole stack, are in
``test_openai_live.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from relay.api_keys import ApiKeyStore

API = "/openai/v1"
JSON = "application/json"


@pytest.fixture
def keys(redis_client) -> dict[str, str]:
    store = ApiKeyStore(redis_client)
    return {user: store.create(user)[0] for user in ("alice", "bob")}


def _headers(key: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **more}


def _chat_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "run-1/default",
        "messages": [{"role": "user", "content": "hi"}],
    }
    body.update(changes)
    return body


def _assert_openai_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_models_lists_the_runs_the_keys_user_may_use(client, keys, run_dir):
    (run_dir.parent / "run-2").mkdir()
    (run_dir.parent / "not a run name").mkdir()
    response = client.get(f"{API}/models", headers=_headers(keys["alice"]))
    assert response.status_code == 200
    body = response.get_json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["run-1/default", "run-2/default"]
    for model in body["data"]:
        assert model["object"] == "model" and model["owned_by"] == "codex-relay"
        assert isinstance(model["created"], int) and model["created"] > 0


def test_one_model_can_be_retrieved_and_an_unlisted_one_cannot(client, keys):
    ok = client.get(f"{API}/models/run-1/default", headers=_headers(keys["alice"]))
    assert ok.status_code == 200 and ok.get_json()["id"] == "run-1/default"
    missing = client.get(f"{API}/models/run-1/other", headers=_headers(keys["alice"]))
    _assert_openai_error(missing, 404, "model_not_found")


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic YWxpY2U6eA==", "Bearer crk_wrong", "Token crk_x"],
    ids=["none", "empty", "scheme_only", "blank_key", "basic", "unknown_key", "other_scheme"],
)
@pytest.mark.parametrize("route", ["models", "chat"])
def test_no_or_a_bad_key_is_401_in_openais_shape(client, keys, authorization, route):
    headers = {} if authorization is None else {"Authorization": authorization}
    if route == "models":
        response = client.get(f"{API}/models", headers=headers)
    else:
        response = client.post(f"{API}/chat/completions", json=_chat_body(), headers=headers)
    error = _assert_openai_error(response, 401, "invalid_api_key")
    assert error["type"] == "authentication_error"


def test_a_revoked_key_is_refused(client, keys, redis_client):
    store = ApiKeyStore(redis_client)
    store.revoke(store.list_keys("alice")[0].id)
    _assert_openai_error(client.get(f"{API}/models", headers=_headers(keys["alice"])), 401,
                         "invalid_api_key")  # fmt: skip
    assert client.get(f"{API}/models", headers=_headers(keys["bob"])).status_code == 200


@pytest.mark.parametrize("model", ["run-9/default", "run-1", "../run-1/default", "run-1/default/x"])
def test_an_unknown_model_is_404_model_not_found(client, keys, model):
    response = client.post(
        f"{API}/chat/completions", json=_chat_body(model=model), headers=_headers(keys["alice"])
    )
    error = _assert_openai_error(response, 404, "model_not_found")
    assert error["param"] == "model"


# (id, request kwargs, status, code, param)
MALFORMED: list[tuple[str, dict[str, Any], int, str, str | None]] = [
    ("not_json", {"data": b"{nope", "content_type": JSON}, 400, "bad_request", None),
    ("form_body", {"data": {"model": "run-1/default"}}, 400, "bad_request", None),
    ("array_body", {"json": [1]}, 400, "bad_request", None),
    ("huge_body", {"data": b'{"x": "' + b"a" * (1024 * 1024) + b'"}', "content_type": JSON},
     400, "body_too_large", None),
    ("no_user_message", {"json": _chat_body(messages=[{"role": "system", "content": "x"}])},
     400, "invalid_value", "messages"),
    ("wrong_types", {"json": _chat_body(messages="hi")}, 400, "invalid_value", "messages"),
    ("tools", {"json": _chat_body(tools=[{"type": "function"}])}, 400, "invalid_value",
     "tools"),
    ("image", {"json": _chat_body(messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:,"}}]}])}, 400, "invalid_value",
     "messages[0].content[0]"),
    ("too_long", {"json": _chat_body(messages=[{"role": "user", "content": "x" * 16001}])},
     400, "message_too_long", None),
]  # fmt: skip


@pytest.mark.parametrize(("kwargs", "status", "code", "param"), [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])  # fmt: skip
def test_a_malformed_body_is_a_clear_400_and_starts_nothing(
    client, keys, redis_client, kwargs, status, code, param
):
    response = client.post(f"{API}/chat/completions", headers=_headers(keys["alice"]), **kwargs)
    error = _assert_openai_error(response, status, code)
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert redis_client.keys("relay:session:*") == []


def test_another_users_session_is_404_and_untouched(client, keys, turns):
    record = turns.new_session("alice")
    response = client.post(
        f"{API}/chat/completions",
        json=_chat_body(),
        headers=_headers(keys["bob"], **{"X-Session-Id": record.id}),
    )
    _assert_openai_error(response, 404, "not_found")
    assert turns.events(record) == []


def test_a_session_of_another_run_is_404(client, keys, turns, run_dir):
    (run_dir.parent / "run-2").mkdir()
    record = turns.new_session("alice")
    response = client.post(
        f"{API}/chat/completions",
        json=_chat_body(model="run-2/default"),
        headers=_headers(keys["alice"], **{"X-Session-Id": record.id}),
    )
    _assert_openai_error(response, 404, "not_found")


def test_a_busy_session_is_409_and_says_so(client, keys, turns):
    record = turns.new_session("alice")
    turns.start(record, "first")  # queued; no worker runs it
    response = client.post(
        f"{API}/chat/completions",
        json=_chat_body(),
        headers=_headers(keys["alice"], **{"X-Session-Id": record.id}),
    )
    error = _assert_openai_error(response, 409, "turn_in_progress")
    assert error["type"] == "conflict_error"


def test_the_rate_limit_is_429_with_retry_after(keys, keypair, run_dir, turns):
    from cli.demo_app import create_app

    app = create_app(
        {
            "TESTING": True,
            "CODEX_RELAY_JWT_PRIVATE_KEY": keypair[0],
            "CODEX_RELAY_RUNS_ROOT": str(run_dir.parent),
            "CODEX_RELAY_RATE_LIMIT_PER_MINUTE": 1,
        }
    )
    record = turns.new_session("alice")
    turns.start(record, "first")  # keeps the session busy: the first request gets 409
    headers = _headers(keys["alice"], **{"X-Session-Id": record.id})
    client = app.test_client()
    first = client.post(f"{API}/chat/completions", json=_chat_body(), headers=headers)
    assert first.status_code == 409
    response = client.post(f"{API}/chat/completions", json=_chat_body(), headers=headers)
    _assert_openai_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    "chat_id",
    ["", " ", "x" * 257, "a\x7fb", "tab\there"],
    ids=["empty", "blank", "long", "del", "tab"],
)
def test_a_bad_chat_id_header_is_400(client, keys, chat_id):
    response = client.post(
        f"{API}/chat/completions",
        json=_chat_body(),
        headers=_headers(keys["alice"], **{"X-OpenWebUI-Chat-Id": chat_id}),
    )
    error = _assert_openai_error(response, 400, "invalid_value")
    assert error["param"] == "X-OpenWebUI-Chat-Id"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/completions"), ("POST", "/models"), ("GET", "/chat/completions"),
     ("DELETE", "/models/run-1/default")],
)  # fmt: skip
def test_any_other_endpoint_is_404_in_openais_shape(client, keys, method, path):
    response = client.open(f"{API}{path}", method=method, headers=_headers(keys["alice"]))
    _assert_openai_error(response, 404, "not_found")


def test_the_panel_routes_keep_their_own_error_shape(client):
    response = client.post("/runs/run-1/default/agent/chat", json={"message": "hi"})
    assert response.status_code == 401
    assert set(response.get_json()["error"]) == {"code", "message"}


def test_a_host_without_an_api_key_loader_accepts_no_key(relay_env, keypair, run_dir, keys):
    from flask import Flask

    from blueprints.extension import CodexRelay

    app = Flask(__name__)
    app.config["CODEX_RELAY_JWT_PRIVATE_KEY"] = keypair[0]
    relay = CodexRelay(app)
    relay.run_authorizer(lambda user, runid, config: True)
    response = app.test_client().get(f"{API}/models", headers=_headers(keys["alice"]))
    _assert_openai_error(response, 401, "invalid_api_key")


@pytest.mark.parametrize("prefix", ["", "/", "openai/v1", "/openai/v1/", "//x"])
def test_a_bad_facade_prefix_is_refused_naming_the_setting(prefix):
    from relay.errors import ConfigError
    from relay.settings import load_settings

    with pytest.raises(ConfigError) as raised:
        load_settings({"CODEX_RELAY_OPENAI_PREFIX": prefix})
    assert raised.value.key == "CODEX_RELAY_OPENAI_PREFIX"


def test_the_facade_follows_its_prefix_setting(relay_env, keys, keypair, run_dir):
    from cli.demo_app import create_app

    app = create_app(
        {
            "TESTING": True,
            "CODEX_RELAY_JWT_PRIVATE_KEY": keypair[0],
            "CODEX_RELAY_RUNS_ROOT": str(run_dir.parent),
            "CODEX_RELAY_OPENAI_PREFIX": "/llm",
        }
    )
    client = app.test_client()
    assert client.get("/llm/models", headers=_headers(keys["alice"])).status_code == 200
    assert client.get(f"{API}/models", headers=_headers(keys["alice"])).status_code == 404
