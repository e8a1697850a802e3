"""The scripted model server (devmodel), over real HTTP and with the real Codex CLI."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devmodel import (
    BUILTIN_SCENARIOS,
    DevModelServer,
    ScenarioError,
    codex_config_overrides,
    codex_model_catalog,
    validate_steps,
)

Json = dict[str, Any]

# --------------------------------------------------------------------------
# Helpers: talking to the server as Codex does


@pytest.fixture(scope="module")
def server() -> Iterator[DevModelServer]:
    with DevModelServer() as running:
        yield running


def _connection(server: DevModelServer, timeout: float = 10) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)


def _call(
    server: DevModelServer, method: str, path: str, body: object = None
) -> tuple[int, bytes, http.client.HTTPMessage]:
    conn = _connection(server)
    try:
        payload = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read(), response.headers
    finally:
        conn.close()


def _user(text: str) -> Json:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def _environment() -> Json:
    return _user("<environment_context>\n  <cwd>/work</cwd>\n</environment_context>")


def _output(call_id: str, text: str = "done") -> Json:
    return {"type": "function_call_output", "call_id": call_id, "output": text}


def _body(*items: Json, tools: list[Json] | None = None) -> Json:
    return {"model": "devmodel", "stream": True, "input": list(items), "tools": tools or []}


def _events(server: DevModelServer, body: Json) -> list[Json]:
    """Posts a Responses request and parses the server-sent events of the answer."""
    status, data, headers = _call(server, "POST", "/v1/responses", body)
    assert status == 200, data
    assert headers["Content-Type"] == "text/event-stream"
    events = []
    for block in data.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in lines:
            event = json.loads(lines["data"])
            assert lines["event"] == event["type"]
            events.append(event)
    return events


def _items(events: list[Json]) -> list[Json]:
    return [e["item"] for e in events if e["type"] == "response.output_item.done"]


def _message_text(events: list[Json]) -> str:
    return "".join(
        part["text"]
        for item in _items(events)
        if item["type"] == "message"
        for part in item["content"]
    )


def _play(server: DevModelServer, steps: list[Json], *items: Json, **kw: Any) -> list[Json]:
    name = f"t{time.monotonic_ns()}"
    server.add_scenario(name, steps)
    return _events(server, _body(_user(f"#scenario:{name}"), *items, **kw))


# --------------------------------------------------------------------------
# Routes and lifecycle


def test_health_route_answers_ok(server: DevModelServer) -> None:
    status, data, _ = _call(server, "GET", "/_health")
    assert (status, json.loads(data)) == (200, {"status": "ok"})


def test_base_url_ends_in_v1_and_models_route_lists_the_stand_in(server: DevModelServer) -> None:
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    status, data, _ = _call(server, "GET", "/v1/models")
    assert status == 200
    assert [m["id"] for m in json.loads(data)["data"]] == ["devmodel"]


def test_unknown_route_is_a_json_404(server: DevModelServer) -> None:
    status, data, _ = _call(server, "GET", "/v2/nothing")
    assert status == 404
    assert json.loads(data)["error"]["code"] == "not_found"


def test_body_that_is_not_json_is_refused(server: DevModelServer) -> None:
    conn = _connection(server)
    try:
        conn.request("POST", "/v1/responses", body=b"{nope")
        response = conn.getresponse()
        assert response.status == 400
        assert "not JSON" in json.loads(response.read())["error"]["message"]
    finally:
        conn.close()


def test_base_url_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        _ = DevModelServer().base_url


def test_stop_is_idempotent_and_frees_the_port() -> None:
    server = DevModelServer().start()
    port = server.port
    server.stop()
    server.stop()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# --------------------------------------------------------------------------
# The event stream


def test_plain_answer_is_a_complete_responses_event_stream(server: DevModelServer) -> None:
    events = _events(server, _body(_user("#scenario:hello")))
    types = [e["type"] for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[2:4] == ["response.output_item.added", "response.content_part.added"]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert types.count("response.output_text.delta") > 1
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == _message_text(events) == BUILTIN_SCENARIOS["hello"][0]["say"]
    completed = events[-1]["response"]
    assert completed["status"] == "completed"
    assert completed["output"] == _items(events)
    assert events[0]["response"]["id"] == completed["id"]


def test_completed_usage_has_the_fields_codex_reads(server: DevModelServer) -> None:
    usage = _events(server, _body(_user("#scenario:reasoning")))[-1]["response"]["usage"]
    assert set(usage) == {
        "input_tokens",
        "input_tokens_details",
        "output_tokens",
        "output_tokens_details",
        "total_tokens",
    }
    assert usage["input_tokens_details"] == {"cached_tokens": 0}
    assert usage["output_tokens_details"]["reasoning_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_usage_is_deterministic_and_can_be_overridden(server: DevModelServer) -> None:
    first = _events(server, _body(_user("#scenario:hello")))[-1]["response"]["usage"]
    again = _events(server, _body(_user("#scenario:hello")))[-1]["response"]["usage"]
    assert first == again
    usage = {"input_tokens": 1000, "output_tokens": 7, "cached_tokens": 400}
    given_usage = _play(server, [{"say": "hi", "usage": usage}])[-1]["response"]["usage"]
    assert given_usage["input_tokens"] == 1000
    assert given_usage["input_tokens_details"] == {"cached_tokens": 400}
    assert given_usage["output_tokens"] == 7


def test_say_as_a_list_gives_the_text_deltas_exactly(server: DevModelServer) -> None:
    events = _play(server, [{"say": ["Hel", "lo ", "world"]}])
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert deltas == ["Hel", "lo ", "world"]


@settings(max_examples=25, deadline=None)
@given(text=st.text(min_size=1, max_size=300))
def test_text_deltas_always_add_up_to_the_message(server: DevModelServer, text: str) -> None:
    events = _play(server, [{"say": text}])
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == _message_text(events) == text


def _delta_arrivals(server: DevModelServer, steps: list[Json]) -> list[tuple[float, str]]:
    """``(seconds since the request, delta)`` of each text delta, as they arrive."""
    name = f"t{time.monotonic_ns()}"
    server.add_scenario(name, steps)
    conn = _connection(server)
    try:
        started = time.monotonic()
        conn.request("POST", "/v1/responses", body=json.dumps(_body(_user(f"#scenario:{name}"))))
        response = conn.getresponse()
        out = []
        for line in iter(response.fp.readline, b""):
            if line.startswith(b"data: "):
                event = json.loads(line[6:])
                if event["type"].endswith("text.delta"):
                    out.append((time.monotonic() - started, event["delta"]))
                if event["type"] == "response.completed":
                    break
        return out
    finally:
        conn.close()


def test_pace_streams_a_text_word_by_word_with_that_pause_between_words(
    server: DevModelServer,
) -> None:
    arrivals = _delta_arrivals(server, [{"pace": 0.1, "say": "one two three four"}])
    assert [d for _, d in arrivals] == ["one ", "two ", "three ", "four"]
    # Three pauses of 0.1 s lie between the first word and the last: the script's own pace.
    assert arrivals[-1][0] - arrivals[0][0] >= 3 * 0.1


def test_pace_applies_to_given_deltas_and_to_reasoning(server: DevModelServer) -> None:
    arrivals = _delta_arrivals(server, [{"pace": 0.05, "reason": "a b", "say": ["x", "y"]}])
    assert [d for _, d in arrivals] == ["a ", "b", "x", "y"]
    assert arrivals[1][0] - arrivals[0][0] >= 0.05 and arrivals[3][0] - arrivals[2][0] >= 0.05


def test_the_servers_own_pace_streams_every_answer_word_by_word() -> None:
    with DevModelServer(pace=0.01) as paced:
        events = _play(paced, [{"say": "live text for the demo"}])
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert deltas == ["live ", "text ", "for ", "the ", "demo"]


@pytest.mark.parametrize("pace", [-0.1, 10.5, "fast", True, None], ids=repr)
def test_a_pace_that_is_no_sane_number_of_seconds_is_refused(pace: object) -> None:
    with pytest.raises(ScenarioError, match="pace"):
        validate_steps([{"say": "x", "pace": pace}])


def test_reasoning_item_streams_its_summary(server: DevModelServer) -> None:
    events = _events(server, _body(_user("#scenario:reasoning")))
    reasoning, message = _items(events)
    assert reasoning["type"] == "reasoning"
    assert reasoning["summary"][0]["type"] == "summary_text"
    deltas = "".join(
        e["delta"] for e in events if e["type"] == "response.reasoning_summary_text.delta"
    )
    assert deltas == reasoning["summary"][0]["text"]
    assert message["type"] == "message"


def test_items_keep_their_order(server: DevModelServer) -> None:
    events = _play(server, [{"items": [{"say": "first"}, {"reason": "then"}, {"shell": "ls"}]}])
    assert [i["type"] for i in _items(events)] == ["message", "reasoning", "function_call"]


# --------------------------------------------------------------------------
# Picking the scenario and the step


def test_without_a_directive_the_demo_quotes_the_message(server: DevModelServer) -> None:
    text = _message_text(_events(server, _body(_environment(), _user("What is in\nthis run?"))))
    assert "scripted stand-in" in text
    assert "> What is in\n> this run?" in text


def test_default_scenario_is_configurable() -> None:
    with DevModelServer(default_scenario="hello") as server:
        assert _message_text(_events(server, _body(_user("hi")))).startswith("## Hello!")


def test_directive_anywhere_in_the_message_picks_the_scenario(server: DevModelServer) -> None:
    events = _events(server, _body(_user("please, #scenario:hello, thanks")))
    assert _message_text(events).startswith("## Hello!")


def test_unknown_scenario_answers_with_the_known_names(server: DevModelServer) -> None:
    text = _message_text(_events(server, _body(_user("#scenario:no_such_thing"))))
    assert "Unknown scenario `no_such_thing`" in text
    assert "`shell_ls`" in text


def test_step_is_the_number_of_tool_rounds_after_the_last_user_message(
    server: DevModelServer,
) -> None:
    server.add_scenario("count", [{"say": "zero"}, {"say": "one"}, {"say": "two"}])
    old = [_user("#scenario:count"), _output("call_a"), _output("call_b")]
    new = _user("#scenario:count again")
    assert _message_text(_events(server, _body(*old, new))) == "zero"
    assert _message_text(_events(server, _body(*old, new, _output("call_c")))) == "one"
    two = _body(*old, new, _output("call_c"), _output("call_d"))
    assert _message_text(_events(server, two)) == "two"


def test_calls_made_in_one_step_count_as_one_round(server: DevModelServer) -> None:
    server.add_scenario("pair", [{"items": [{"shell": "a"}, {"shell": "b"}]}, {"say": "next"}])
    calls = _items(_events(server, _body(_user("#scenario:pair"))))
    outputs = [_output(c["call_id"]) for c in calls]
    assert len(outputs) == 2
    assert _message_text(_events(server, _body(_user("#scenario:pair"), *outputs))) == "next"


def test_codex_context_after_the_message_does_not_restart_the_turn(
    server: DevModelServer,
) -> None:
    server.add_scenario("ctx", [{"say": "zero"}, {"say": "one"}])
    body = _body(_user("#scenario:ctx"), _output("call_x"), _environment())
    assert _message_text(_events(server, body)) == "one"


def test_steps_run_out_into_a_finished_message(server: DevModelServer) -> None:
    body = _body(_user("#scenario:hello"), _output("call_x"))
    assert _message_text(_events(server, body)) == "(scenario finished)"


def test_say_placeholders_expand(server: DevModelServer) -> None:
    header = "Chunk ID: 1a2b\nWall time: 0.01 seconds\nProcess exited with code 0\nOutput:\n"
    say = "{{scenario}}/{{step}}: {{last_output}} ({{user_message}}) {{unknown}}"
    server.add_scenario("echo_back", [{"shell": "ls"}, {"say": say}])
    body = _body(_user("#scenario:echo_back"), _output("call_s0_1_aa", header + "file.txt"))
    text = _message_text(_events(server, body))
    assert text == "echo_back/1: file.txt (#scenario:echo_back) {{unknown}}"


# --------------------------------------------------------------------------
# Tool calls


EXEC_COMMAND = {"type": "function", "name": "exec_command", "parameters": {}}
SHELL = {"type": "function", "name": "shell", "parameters": {}}
SHELL_COMMAND = {"type": "function", "name": "shell_command", "parameters": {}}


@pytest.mark.parametrize(
    ("tools", "name", "arguments"),
    [
        ([EXEC_COMMAND], "exec_command", {"cmd": "ls -la", "login": False}),
        ([], "exec_command", {"cmd": "ls -la", "login": False}),
        ([SHELL_COMMAND], "shell_command", {"command": "ls -la", "login": False}),
        ([SHELL], "shell", {"command": ["bash", "-lc", "ls -la"]}),
    ],
)
def test_shell_goes_through_the_tool_codex_offers(
    server: DevModelServer, tools: list[Json], name: str, arguments: Json
) -> None:
    (call,) = _items(_play(server, [{"shell": "ls -la"}], tools=tools))
    assert call["type"] == "function_call"
    assert (call["name"], json.loads(call["arguments"])) == (name, arguments)
    assert call["call_id"].startswith("call_s0_1_")


def test_shell_argv_and_options(server: DevModelServer) -> None:
    step = {"shell": ["echo", "a b"], "timeout_ms": 500, "workdir": "/tmp", "login": True}
    (call,) = _items(_play(server, [step]))
    assert json.loads(call["arguments"]) == {
        "cmd": "echo 'a b'",
        "yield_time_ms": 500,
        "workdir": "/tmp",
        "login": True,
    }


def test_mcp_call_names_the_namespace_and_the_tool_apart(server: DevModelServer) -> None:
    namespace = {"type": "namespace", "name": "mcp__codex_relay", "tools": []}
    step = {"mcp": {"server": "codex-relay", "tool": "list_run_files", "arguments": {"a": 1}}}
    (call,) = _items(_play(server, [step], tools=[namespace]))
    assert (call["namespace"], call["name"]) == ("mcp__codex_relay", "list_run_files")
    assert json.loads(call["arguments"]) == {"a": 1}


def test_patch_is_a_freeform_apply_patch_call(server: DevModelServer) -> None:
    events = _events(server, _body(_user("#scenario:file_change")))
    (call,) = _items(events)
    assert (call["type"], call["name"]) == ("custom_tool_call", "apply_patch")
    assert call["input"].startswith("*** Begin Patch\n")
    assert "response.custom_tool_call_input.done" in [e["type"] for e in events]


def test_plan_is_an_update_plan_call(server: DevModelServer) -> None:
    (call,) = _items(_events(server, _body(_user("#scenario:todo_list"))))
    arguments = json.loads(call["arguments"])
    assert call["name"] == "update_plan"
    assert arguments["plan"][0] == {"step": "Look at the run files", "status": "completed"}


def test_web_search_is_a_provider_side_item(server: DevModelServer) -> None:
    search, _message = _items(_events(server, _body(_user("#scenario:web_search"))))
    assert search["type"] == "web_search_call"
    assert search["action"] == {"type": "search", "query": "codex relay offline demo"}


# --------------------------------------------------------------------------
# Failures on purpose


def test_http_error_step_answers_with_that_status(server: DevModelServer) -> None:
    server.add_scenario("e503", [{"http_error": 503, "headers": {"Retry-After": "1"}}])
    status, data, headers = _call(server, "POST", "/v1/responses", _body(_user("#scenario:e503")))
    assert status == 503
    assert headers["Retry-After"] == "1"
    assert json.loads(data)["error"]["type"] == "server_error"


def test_http_error_body_string_is_sent_as_is(server: DevModelServer) -> None:
    status, data, _ = _call(server, "POST", "/v1/responses", _body(_user("#scenario:http_500")))
    assert (status, data) == (500, b"scripted server error")


def test_raw_sse_step_emits_exactly_those_events(server: DevModelServer) -> None:
    raw = [{"type": "response.created", "response": {"id": "r1"}}, {"type": "custom.thing"}]
    assert _play(server, [{"raw_sse": raw}]) == raw


def test_fail_ends_the_response_with_response_failed(server: DevModelServer) -> None:
    step = {"say": "partial", "fail": {"code": "context_length_exceeded", "message": "too long"}}
    events = _play(server, [step])
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"] == {
        "code": "context_length_exceeded",
        "message": "too long",
    }
    assert "response.completed" not in [e["type"] for e in events]


def test_raw_sse_inside_items_is_inserted_in_place(server: DevModelServer) -> None:
    marker = {"type": "response.custom_marker"}
    items = [{"say": "a"}, {"raw_sse": [marker], "stall": 0.05}, {"say": "b"}]
    types = [e["type"] for e in _play(server, [{"items": items}])]
    at = types.index("response.custom_marker")
    assert types[at - 1] == "response.output_item.done"
    assert types[at + 1] == "response.output_item.added"
    assert types[-1] == "response.completed"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=40, deadline=None)
@given(
    body=st.fixed_dictionaries(
        {},
        optional={
            "input": JSON_VALUES
            | st.lists(
                st.fixed_dictionaries(
                    {"type": st.sampled_from(["message", "function_call_output", "reasoning"])},
                    optional={
                        "role": st.sampled_from(["user", "assistant", "developer"]),
                        "content": JSON_VALUES,
                        "call_id": JSON_VALUES,
                        "output": JSON_VALUES,
                    },
                ),
                max_size=5,
            ),
            "tools": JSON_VALUES,
            "model": JSON_VALUES,
        },
    )
)
def test_any_json_request_gets_a_complete_answer(server: DevModelServer, body: Json) -> None:
    events = _events(server, body)
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] == "response.completed"


def test_disconnect_drops_the_stream_before_completed(server: DevModelServer) -> None:
    server.add_scenario("drop", [{"say": "partial", "disconnect": True}])
    conn = _connection(server)
    try:
        conn.request("POST", "/v1/responses", body=json.dumps(_body(_user("#scenario:drop"))))
        response = conn.getresponse()
        with pytest.raises(http.client.IncompleteRead) as caught:
            response.read()
        assert b"response.completed" not in caught.value.partial
        assert b"partial" in caught.value.partial
    finally:
        conn.close()


def test_delay_holds_the_answer_back(server: DevModelServer) -> None:
    started = time.monotonic()
    _play(server, [{"delay": 0.3, "say": "late"}])
    assert time.monotonic() - started >= 0.3


def test_stall_sends_headers_then_nothing(server: DevModelServer) -> None:
    server.add_scenario("stall_short", [{"stall": 5, "say": "late"}])
    conn = _connection(server, timeout=0.5)
    try:
        conn.request(
            "POST", "/v1/responses", body=json.dumps(_body(_user("#scenario:stall_short")))
        )
        response = conn.getresponse()
        assert response.status == 200
        with pytest.raises(TimeoutError):
            response.read(1)
    finally:
        conn.close()
    # The hung-up client ends the stalled answer: the server stays responsive.
    assert _call(server, "GET", "/_health")[0] == 200


def test_stop_ends_a_stalled_answer_quickly() -> None:
    server = DevModelServer().start()
    conn = _connection(server)
    try:
        conn.request("POST", "/v1/responses", body=json.dumps(_body(_user("#scenario:stall"))))
        assert conn.getresponse().status == 200
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2
    finally:
        conn.close()


# --------------------------------------------------------------------------
# Registering scenarios and reading what was asked


def test_scenarios_can_be_registered_over_http(server: DevModelServer) -> None:
    steps = [{"say": "from another process"}]
    status, data, _ = _call(server, "POST", "/_scenarios", {"name": "remote", "steps": steps})
    assert (status, json.loads(data)) == (201, {"name": "remote", "steps": 1})
    assert "remote" in json.loads(_call(server, "GET", "/_scenarios")[1])["scenarios"]
    assert _message_text(_events(server, _body(_user("#scenario:remote")))) == steps[0]["say"]


BAD_STEPS = [
    ("not a list", {"say": "x"}),
    ("empty step", [{}]),
    ("unknown key", [{"sya": "typo"}]),
    ("say not text", [{"say": 3}]),
    ("shell empty", [{"shell": ""}]),
    ("option without owner", [{"timeout_ms": 5}]),
    ("negative stall", [{"stall": -1}]),
    ("status not an error", [{"http_error": 200}]),
    ("mcp without tool", [{"mcp": {"server": "s"}}]),
    ("plan without steps", [{"plan": [{"status": "pending"}]}]),
    ("raw event without type", [{"raw_sse": [{"data": 1}]}]),
    ("items not a list", [{"items": {"say": "x"}}]),
    ("http_error inside items", [{"items": [{"http_error": 500}]}]),
    ("raw_sse with outputs", [{"raw_sse": [{"type": "x"}], "say": "y"}]),
    ("fail without message", [{"fail": {"code": "x"}}]),
    ("usage of unknown field", [{"say": "x", "usage": {"tokens": 1}}]),
    ("usage not a count", [{"say": "x", "usage": {"input_tokens": -1}}]),
    ("disconnect false", [{"say": "x", "disconnect": False}]),
]


@pytest.mark.parametrize(("case", "steps"), BAD_STEPS, ids=[c for c, _ in BAD_STEPS])
def test_bad_scenarios_are_refused_with_a_reason(
    server: DevModelServer, case: str, steps: object
) -> None:
    with pytest.raises(ScenarioError):
        server.add_scenario("bad", steps)
    status, data, _ = _call(server, "POST", "/_scenarios", {"name": "bad", "steps": steps})
    assert status == 400
    assert json.loads(data)["error"]["message"]


def test_scenario_names_are_restricted(server: DevModelServer) -> None:
    with pytest.raises(ScenarioError):
        server.add_scenario("no spaces", [{"say": "x"}])


def test_builtin_scenarios_are_valid() -> None:
    for steps in BUILTIN_SCENARIOS.values():
        validate_steps(steps)


def test_requests_are_recorded_bounded_and_clearable() -> None:
    with DevModelServer(max_recorded=2) as server:
        for word in ("one", "two", "three"):
            _events(server, _body(_user(word)))
        recorded = json.loads(_call(server, "GET", "/_requests")[1])
        assert [r["input"][0]["content"][0]["text"] for r in recorded] == ["two", "three"]
        assert server.requests == recorded
        assert _call(server, "DELETE", "/_requests")[0] == 200
        assert server.requests == []


# --------------------------------------------------------------------------
# Command line


def test_cli_prints_its_url_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    scenarios = tmp_path / "scenarios.json"
    scenarios.write_text(json.dumps({"from_file": [{"say": "loaded"}]}))
    process = subprocess.Popen(
        [sys.executable, "-m", "devmodel", "--scenarios", str(scenarios)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("devmodel listening on http://127.0.0.1:")
        assert line.rstrip().endswith("/v1")
        port = int(line.rsplit(":", 1)[1].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/_scenarios")
        assert "from_file" in json.loads(conn.getresponse().read())["scenarios"]
        conn.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        assert process.stderr is not None
        assert process.stderr.read() == ""
    finally:
        process.kill()
        process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_cli_refuses_a_bad_scenario_file(tmp_path: Path) -> None:
    scenarios = tmp_path / "scenarios.json"
    scenarios.write_text(json.dumps({"broken": [{"sya": "typo"}]}))
    result = subprocess.run(
        [sys.executable, "-m", "devmodel", "--scenarios", str(scenarios)],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode == 2
    assert "unknown key 'sya'" in result.stderr


# --------------------------------------------------------------------------
# The real Codex CLI against the server


def _run_codex(
    codex_bin: str, server: DevModelServer, tmp_path: Path, prompt: str
) -> tuple[int, list[Json]]:
    """Runs one ``codex exec --json`` turn against ``server``; returns exit code and events."""
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(codex_model_catalog()))
    for name in ("home", "work", "tmp"):
        (tmp_path / name).mkdir(exist_ok=True)
    args = [codex_bin, "exec", "--json", "--skip-git-repo-check", "-s", "workspace-write"]
    args += ["-C", str(tmp_path / "work"), "-c", 'approval_policy="never"', "-m", "devmodel"]
    args += codex_config_overrides(server.base_url, catalog_path=str(catalog))
    # A temporary directory beside CODEX_HOME, not above it: with a system bwrap,
    # Codex 0.169.0 will not create its sandbox helper under the temporary directory.
    env = dict(os.environ, CODEX_HOME=str(tmp_path / "home"), TMPDIR=str(tmp_path / "tmp"))
    result = subprocess.run(
        [*args, "-"], input=prompt, capture_output=True, text=True, env=env, timeout=30
    )
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines()]


def _completed(events: list[Json], kind: str) -> list[Json]:
    return [
        e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == kind
    ]


@pytest.mark.codex
def test_codex_shows_the_plain_answer(
    codex_bin: str, server: DevModelServer, tmp_path: Path
) -> None:
    code, events = _run_codex(codex_bin, server, tmp_path, "#scenario:hello")
    assert code == 0
    assert [e["type"] for e in events] == [
        "thread.started",
        "turn.started",
        "item.completed",
        "turn.completed",
    ]
    (message,) = _completed(events, "agent_message")
    assert message["text"] == BUILTIN_SCENARIOS["hello"][0]["say"]
    assert events[-1]["usage"]["output_tokens"] > 0


@pytest.mark.codex
def test_codex_runs_the_shell_command_and_reports_its_output(
    codex_bin: str, server: DevModelServer, tmp_path: Path
) -> None:
    server.add_scenario("echo", [{"shell": "echo relay-$((6*7))"}, {"say": "{{last_output}}"}])
    code, events = _run_codex(codex_bin, server, tmp_path, "#scenario:echo")
    assert code == 0
    (command,) = _completed(events, "command_execution")
    assert "echo relay-$((6*7))" in command["command"]
    assert (command["aggregated_output"], command["exit_code"]) == ("relay-42\n", 0)
    assert command["status"] == "completed"
    assert _completed(events, "agent_message")[-1]["text"].strip() == "relay-42"


@pytest.mark.codex
def test_codex_fails_the_turn_on_http_500(
    codex_bin: str, server: DevModelServer, tmp_path: Path
) -> None:
    code, events = _run_codex(codex_bin, server, tmp_path, "#scenario:http_500")
    assert code == 1
    assert events[-1]["type"] == "turn.failed"
    assert events[-1]["error"]["message"]
    assert not _completed(events, "agent_message")
