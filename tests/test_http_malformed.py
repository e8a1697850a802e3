"""Malformed HTTP requests: every one gets the JSON error body, never HTML or a trace.

One row per request: what is sent, the status, and the error ``code``. The
body must be exactly ``{"error": {"code": str, "message": str}}``.
"""

from __future__ import annotations

from typing import Any

import pytest

RUN = "/runs/run-1/default/agent"
CHAT = f"{RUN}/chat"
JSON = "application/json"
UNKNOWN_SID = "0123456789abcdef0123456789abcdef"

# (id, method, path, request kwargs, status, code); "{sid}" is a live session of alice.
CASES: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    (
        "invalid_json",
        "POST",
        CHAT,
        {"data": b"{not json", "content_type": JSON},
        400,
        "bad_request",
    ),
    (
        "truncated_json",
        "POST",
        CHAT,
        {"data": b'{"message": "hi"', "content_type": JSON},
        400,
        "bad_request",
    ),
    (
        "invalid_utf8",
        "POST",
        CHAT,
        {"data": b'{"message": "\xff\xfe"}', "content_type": JSON},
        400,
        "bad_request",
    ),
    ("json_array", "POST", CHAT, {"json": ["hi"]}, 400, "bad_request"),
    ("json_string", "POST", CHAT, {"json": "hi"}, 400, "bad_request"),
    ("json_null", "POST", CHAT, {"data": b"null", "content_type": JSON}, 400, "bad_request"),
    ("json_number", "POST", CHAT, {"data": b"42", "content_type": JSON}, 400, "bad_request"),
    (
        "deeply_nested_json",
        "POST",
        CHAT,
        {"data": b"[" * 5000 + b"]" * 5000, "content_type": JSON},
        400,
        "bad_request",
    ),
    ("empty_body", "POST", CHAT, {"data": b"", "content_type": JSON}, 400, "bad_request"),
    ("no_content_type", "POST", CHAT, {"data": b'{"message": "hi"}'}, 400, "bad_request"),
    (
        "text_plain",
        "POST",
        CHAT,
        {"data": b'{"message": "hi"}', "content_type": "text/plain"},
        400,
        "bad_request",
    ),
    ("form_encoded", "POST", CHAT, {"data": {"message": "hi"}}, 400, "bad_request"),
    (
        "multipart",
        "POST",
        CHAT,
        {"data": {"message": "hi"}, "content_type": "multipart/form-data"},
        400,
        "bad_request",
    ),
    ("missing_message", "POST", CHAT, {"json": {}}, 400, "bad_request"),
    ("message_number", "POST", CHAT, {"json": {"message": 42}}, 400, "bad_request"),
    ("message_list", "POST", CHAT, {"json": {"message": ["hi"]}}, 400, "bad_request"),
    ("message_object", "POST", CHAT, {"json": {"message": {"text": "hi"}}}, 400, "bad_request"),
    ("message_null", "POST", CHAT, {"json": {"message": None}}, 400, "bad_request"),
    ("message_bool", "POST", CHAT, {"json": {"message": True}}, 400, "bad_request"),
    ("message_empty", "POST", CHAT, {"json": {"message": ""}}, 400, "bad_request"),
    ("message_whitespace", "POST", CHAT, {"json": {"message": " \n\t "}}, 400, "bad_request"),
    ("message_with_nul", "POST", CHAT, {"json": {"message": "a\x00b"}}, 400, "bad_request"),
    (
        "message_too_long",
        "POST",
        CHAT,
        {"json": {"message": "x" * 16_001}},
        400,
        "message_too_long",
    ),
    ("body_over_64_kib", "POST", CHAT, {"json": {"message": "x" * 70_000}}, 400, "body_too_large"),
    (
        "body_over_64_kib_padding",
        "POST",
        CHAT,
        {"data": b'{"message": "hi"}' + b" " * 66_000, "content_type": JSON},
        400,
        "body_too_large",
    ),
    (
        "unknown_field",
        "POST",
        CHAT,
        {"json": {"message": "hi", "model": "gpt"}},
        400,
        "bad_request",
    ),
    (
        "session_id_number",
        "POST",
        CHAT,
        {"json": {"message": "hi", "session_id": 7}},
        400,
        "bad_request",
    ),
    (
        "session_id_list",
        "POST",
        CHAT,
        {"json": {"message": "hi", "session_id": ["a"]}},
        400,
        "bad_request",
    ),
    (
        "session_id_unknown",
        "POST",
        CHAT,
        {"json": {"message": "hi", "session_id": UNKNOWN_SID}},
        404,
        "not_found",
    ),
    (
        "session_id_path_tricks",
        "POST",
        CHAT,
        {"json": {"message": "hi", "session_id": "../../relay:session:{sid}"}},
        404,
        "not_found",
    ),
    (
        "session_id_redis_glob",
        "POST",
        CHAT,
        {"json": {"message": "hi", "session_id": "*"}},
        404,
        "not_found",
    ),
    (
        "session_id_uppercase",
        "POST",
        CHAT,
        {"json": {"message": "hi", "session_id": UNKNOWN_SID.upper()}},
        404,
        "not_found",
    ),
    (
        "runid_bad_characters",
        "POST",
        "/runs/run$1/default/agent/chat",
        {"json": {"message": "hi"}},
        404,
        "not_found",
    ),
    (
        "runid_dot_dot",
        "POST",
        "/runs/..run-1/default/agent/chat",
        {"json": {"message": "hi"}},
        404,
        "not_found",
    ),
    (
        "runid_too_long",
        "POST",
        f"/runs/{'r' * 300}/default/agent/chat",
        {"json": {"message": "hi"}},
        404,
        "not_found",
    ),
    (
        "config_bad_characters",
        "POST",
        "/runs/run-1/def;ault/agent/chat",
        {"json": {"message": "hi"}},
        404,
        "not_found",
    ),
    ("get_on_chat", "GET", CHAT, {}, 405, "method_not_allowed"),
    ("put_on_chat", "PUT", CHAT, {"json": {"message": "hi"}}, 405, "method_not_allowed"),
    ("post_on_events", "POST", f"{RUN}/sessions/{{sid}}/events", {}, 405, "method_not_allowed"),
    ("get_on_cancel", "GET", f"{RUN}/sessions/{{sid}}/cancel", {}, 405, "method_not_allowed"),
    ("post_on_health", "POST", "/agent/health", {}, 405, "method_not_allowed"),
    ("unknown_route_under_agent", "GET", f"{RUN}/nope", {}, 404, "not_found"),
    ("unknown_top_level_agent_route", "GET", "/agent/nope", {}, 404, "not_found"),
    (
        "cancel_unknown_session",
        "POST",
        f"{RUN}/sessions/{UNKNOWN_SID}/cancel",
        {"json": {}},
        404,
        "not_found",
    ),
    (
        "cancel_form_encoded",
        "POST",
        f"{RUN}/sessions/{{sid}}/cancel",
        {"data": {"x": "1"}},
        400,
        "bad_request",
    ),
    (
        "cancel_text_plain",
        "POST",
        f"{RUN}/sessions/{{sid}}/cancel",
        {"data": "x", "content_type": "text/plain"},
        400,
        "bad_request",
    ),
    ("cancel_no_body", "POST", f"{RUN}/sessions/{{sid}}/cancel", {}, 400, "bad_request"),
    ("state_of_malformed_session_id", "GET", f"{RUN}/sessions/not-a-session", {}, 404, "not_found"),
    ("delete_unknown_session", "DELETE", f"{RUN}/sessions/{UNKNOWN_SID}", {}, 404, "not_found"),
    (
        "events_of_encoded_path_trick",
        "GET",
        f"{RUN}/sessions/..%2F..%2Fsessions/events",
        {},
        404,
        "not_found",
    ),
    (
        "huge_last_event_id",
        "GET",
        f"{RUN}/sessions/{{sid}}/events",
        {"headers": {"Last-Event-ID": "1" * 10_000 + "-0"}},
        400,
        "bad_request",
    ),
    (
        "last_event_id_over_64_bits",
        "GET",
        f"{RUN}/sessions/{{sid}}/events",
        {"headers": {"Last-Event-ID": "99999999999999999999-0"}},
        400,
        "bad_request",
    ),
    ("negative_after", "GET", f"{RUN}/sessions/{{sid}}/events?after=-1-0", {}, 400, "bad_request"),
    (
        "last_event_id_with_newline",
        "GET",
        f"{RUN}/sessions/{{sid}}/events?after=1-0%0Aevent:x",
        {},
        400,
        "bad_request",
    ),
]


@pytest.fixture
def sid(client, auth) -> str:
    """A live session of alice (its turn stays queued: no worker runs here)."""
    auth.login("alice")
    response = client.post(CHAT, json={"message": "#scenario:hello"})
    assert response.status_code == 202
    return response.get_json()["session_id"]


def _fill(value: Any, sid: str) -> Any:
    if isinstance(value, str):
        return value.replace("{sid}", sid)
    if isinstance(value, dict):
        return {k: _fill(v, sid) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    "method, path, kwargs, status, code", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_request_gets_a_json_error(client, sid, method, path, kwargs, status, code):
    response = client.open(_fill(path, sid), method=method, **_fill(kwargs, sid))
    assert response.status_code == status, response.get_data()[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    text = response.get_data(as_text=True)
    for leak in ("<html", "<!doctype", "Traceback", 'File "', "werkzeug", "orjson"):
        assert leak.lower() not in text.lower()


def test_the_table_has_at_least_twenty_rows():
    assert len(CASES) >= 20
    assert len({c[0] for c in CASES}) == len(CASES)


def test_a_rejected_message_starts_no_turn(client, sid, redis_client):
    before = client.get(f"{RUN}/sessions").get_json()
    client.post(CHAT, json={"message": "x" * 16_001})
    client.post(CHAT, data=b"{", content_type=JSON)
    after = client.get(f"{RUN}/sessions").get_json()
    assert [s["session_id"] for s in after] == [s["session_id"] for s in before] == [sid]


def test_a_json_content_type_with_charset_is_accepted(client, auth):
    auth.login("alice")
    response = client.post(
        CHAT, data=b'{"message": "#scenario:hello"}', content_type="application/json; charset=utf-8"
    )
    assert response.status_code == 202


def test_a_message_of_exactly_the_limit_is_accepted(client, auth):
    auth.login("alice")
    response = client.post(CHAT, json={"message": "x" * 16_000})
    assert response.status_code == 202


def test_a_cross_site_form_cannot_cancel_a_turn_but_the_panels_requests_can(client, sid):
    cancel = f"{RUN}/sessions/{sid}/cancel"
    forged = client.post(cancel, data={"anything": "1"})  # what a form on another site sends
    assert (
        forged.status_code == 400
        and "X-Codex-Relay-Request" in forged.get_json()["error"]["message"]
    )
    assert client.get(f"{RUN}/sessions/{sid}").get_json()["running_turn"] == 1  # still queued
    with_header = client.post(cancel, headers={"X-Codex-Relay-Request": "1"})
    assert with_header.status_code == 202 and with_header.get_json()["cancelling"] is True
    assert client.post(cancel, json={}).status_code == 202  # the panel sends JSON
