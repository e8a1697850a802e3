"""RpcChannel: the JSON-RPC lines codex app-server reads and writes, with no process.

What Codex sends is classified into responses (matched to the request they
answer), notifications and server requests (approvals); what the relay
sends is encoded as one JSON object a line. Hostile shapes become
``Malformed``, never an exception.
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from relay.jsonl import BadLine, JsonLinesDecoder
from relay.jsonrpc import (
    METHOD_NOT_FOUND,
    Malformed,
    Notification,
    Response,
    RpcChannel,
    RpcError,
    ServerRequest,
    parse_message,
)

TRANSCRIPTS = Path(__file__).parent / "fixtures" / "app_server_transcripts"


def test_requests_are_numbered_and_encoded_as_one_line_without_a_jsonrpc_member():
    channel = RpcChannel()
    first, line = channel.request("initialize", {"clientInfo": {"name": "x", "version": "1"}})
    second, _ = channel.request("thread/start")
    assert (first, second) == (1, 2)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert orjson.loads(line) == {
        "id": 1,
        "method": "initialize",
        "params": {"clientInfo": {"name": "x", "version": "1"}},
    }
    assert channel.pending == {1: "initialize", 2: "thread/start"}


def test_a_response_says_which_request_it_answers_and_is_no_longer_pending():
    channel = RpcChannel()
    request_id, _ = channel.request("turn/start", {"threadId": "t"})
    answer = channel.read({"id": request_id, "result": {"turn": {"id": "u"}}})
    assert answer == Response(request_id, "turn/start", {"turn": {"id": "u"}})
    assert channel.pending == {}


def test_an_error_response_carries_code_message_and_data():
    channel = RpcChannel()
    request_id, _ = channel.request("thread/resume", {"threadId": "gone"})
    answer = channel.read(
        {"id": request_id, "error": {"code": -32600, "message": "no rollout", "data": [1]}}
    )
    assert answer == Response(
        request_id, "thread/resume", error=RpcError(-32600, "no rollout", [1])
    )


def test_a_response_to_an_unknown_id_has_no_method():
    assert RpcChannel().read({"id": 99, "result": {}}) == Response(99, "", {})


def test_notifications_and_server_requests_are_told_apart_by_their_id():
    channel = RpcChannel()
    params = {"itemId": "i", "delta": "Hel"}
    assert channel.read({"method": "item/agentMessage/delta", "params": params}) == Notification(
        "item/agentMessage/delta", params
    )
    # Codex numbers its own requests from 0, in a space apart from ours.
    approval = {"method": "item/commandExecution/requestApproval", "id": 0, "params": params}
    assert channel.read(approval) == ServerRequest(0, approval["method"], params)


def test_replies_answer_server_requests_with_a_result_or_an_error():
    channel = RpcChannel()
    assert orjson.loads(channel.reply(0, {"decision": "accept"})) == {
        "id": 0,
        "result": {"decision": "accept"},
    }
    assert orjson.loads(channel.reply_error("r-1", METHOD_NOT_FOUND, "not served")) == {
        "id": "r-1",
        "error": {"code": -32601, "message": "not served"},
    }
    assert orjson.loads(channel.notification("initialized")) == {"method": "initialized"}


MALFORMED = [
    pytest.param({}, id="empty object"),
    pytest.param({"result": {}}, id="result without an id"),
    pytest.param({"id": True, "result": {}}, id="boolean id"),
    pytest.param({"id": 1.5, "result": {}}, id="float id"),
    pytest.param({"id": None, "result": {}}, id="null id"),
    pytest.param({"id": [1], "result": {}}, id="list id"),
    pytest.param({"id": 1}, id="id without result or error"),
    pytest.param({"method": ""}, id="empty method"),
    pytest.param({"method": 7}, id="method not a string"),
    pytest.param({"method": "x", "params": [1, 2]}, id="params a list"),
    pytest.param({"method": "x", "params": "p"}, id="params a string"),
    pytest.param({"method": "x", "id": {"a": 1}}, id="request with an object id"),
]


@pytest.mark.parametrize("obj", MALFORMED)
def test_what_is_no_json_rpc_message_is_malformed_not_an_exception(obj):
    message = parse_message(obj)
    assert isinstance(message, Malformed)
    assert message.reason and len(message.preview) <= 200


def test_a_huge_malformed_object_keeps_only_a_short_preview():
    message = parse_message({"junk": "x" * 1_000_000})
    assert isinstance(message, Malformed) and len(message.preview) == 200


def test_a_line_that_is_not_json_stays_a_bad_line_through_the_channel():
    assert RpcChannel().read(BadLine("not JSON", "panic: x", 8)) == Malformed(
        "not JSON", "panic: x"
    )


def test_null_params_count_as_none():
    assert parse_message({"method": "initialized", "params": None}) == Notification("initialized")


def test_an_error_response_of_any_shape_is_read_without_failing():
    assert parse_message({"id": 1, "error": "boom"}) == Response(1, "", error=RpcError(0, "boom"))
    assert parse_message({"id": 1, "error": {"code": "x"}}) == Response(
        1, "", error=RpcError(0, "error")
    )


@pytest.mark.parametrize("path", sorted(TRANSCRIPTS.glob("*.jsonl")), ids=lambda p: p.stem)
def test_every_line_codex_printed_in_the_recordings_is_a_json_rpc_message(path):
    decoder = JsonLinesDecoder()
    received = [
        json.loads(line)["recv"] for line in path.read_text().splitlines() if '"recv"' in line[:8]
    ]
    for message in received:
        [decoded] = decoder.feed(orjson.dumps(message) + b"\n")
        assert not isinstance(parse_message(decoded), Malformed), message
