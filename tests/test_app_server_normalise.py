"""The app-server turn and its normaliser: every recorded transcript becomes exactly these events.

``fixtures/app_server_transcripts/`` holds what the real ``codex app-server``
(0.169.0, and 0.171.0 in a subdirectory) said in one turn each. Each is
replayed through :class:`AppServerTurn`: the lines it writes must be the
conversation the recording had, and the relay events are asserted exactly.
The events are the ones the ``exec`` runner produces for the same work
(``tests/test_normalise.py``), plus the live deltas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from clocks import Tick

from relay import events as ev
from relay.app_server_normalise import PLAN_TOOL_ID, AppServerNormaliser
from relay.app_server_turn import AppServerTurn, TurnPlan
from relay.jsonl import BadLine
from relay.jsonrpc import Malformed, Notification, ServerRequest
from relay.normalise import USAGE_FIELDS

TRANSCRIPTS = Path(__file__).parent / "fixtures" / "app_server_transcripts"
NEWER = TRANSCRIPTS / "0.171.0"
THINKING = "**Thinking it through**\n\nThe user wants a short answer; no tools are needed."
HELLO = (
    "## Hello!\n\nThis is a **plain markdown** answer with:\n\n- a list item\n- `inline code`"
    "\n\n```python\nprint('hello')\n```\n"
)


@dataclass
class Replay:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    requests: list[ServerRequest] = field(default_factory=list)
    turn: AppServerTurn | None = None


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def replay(name: str, directory: Path = TRANSCRIPTS, **plan: Any) -> Replay:
    """Drive an AppServerTurn with the recorded stdout lines; answer as the recording did."""
    thread_total = plan.pop("thread_total", {})
    norm = AppServerNormaliser(clock=Tick(), thread_total=thread_total)
    turn = AppServerTurn(TurnPlan(cwd="/run", prompt="p", **plan), norm)
    out = Replay(turn=turn)
    written = [turn.start()]
    for line in lines(directory / f"{name}.jsonl"):
        if "recv" in line:
            step = turn.receive(line["recv"])
            out.events += step.events
            out.requests += step.requests
            written.append(step.send)
        elif "result" in line["sent"]:  # the recorder's answer to an approval
            [request] = [r for r in out.requests if r.id == line["sent"]["id"]]
            written.append(turn.answer(request, line["sent"]["result"]["decision"]))
        elif line["sent"].get("method") == "turn/interrupt":
            written.append(turn.interrupt())
    out.sent = [orjson.loads(x) for chunk in written for x in chunk.splitlines()]
    return out


def recorded_sent(name: str, directory: Path = TRANSCRIPTS) -> list[tuple[Any, Any]]:
    return [
        (m["sent"].get("method"), m["sent"].get("id"))
        for m in lines(directory / f"{name}.jsonl")
        if "sent" in m
    ]


def thread_of(name: str) -> str:
    for line in lines(TRANSCRIPTS / f"{name}.jsonl"):
        result = line.get("recv", {}).get("result", {})
        if "thread" in result:
            return str(result["thread"]["id"])
    raise AssertionError(name)


def item_ids(name: str, kind: str) -> list[str]:
    ids = []
    for line in lines(TRANSCRIPTS / f"{name}.jsonl"):
        message = line.get("recv", {})
        item = message.get("params", {}).get("item", {})
        if message.get("method") == "item/completed" and item.get("type") == kind:
            ids.append(item["id"])
    return ids


def usage(inp: int, cached: int, out: int, reasoning: int, total: tuple[int, ...] | None = None):
    turn = dict(zip(USAGE_FIELDS, (inp, cached, out, reasoning), strict=True))
    thread = dict(zip(USAGE_FIELDS, total, strict=True)) if total else dict(turn)
    return ("usage", {**turn, "thread_total": thread})


def started(name: str):
    return ("turn.started", {"thread_id": thread_of(name)})


def deltas(type_: str, item_id: str, *pieces: str):
    return [(type_, {"item_id": item_id, "delta": piece}) for piece in pieces]


def command(phase: str, item_id: str, cmd: str, status: str, exit_code, output, **more: Any):
    tool = {"id": item_id, "kind": "command", "title": cmd, "status": status, **more}
    tool.update(command=cmd, exit_code=exit_code, output=output)
    return (f"tool.{phase}", {"tool": tool})


# --------------------------------------------------------------------------
# The conversation: the turn writes what the recording wrote


ALL = sorted(p.stem for p in TRANSCRIPTS.glob("*.jsonl"))


@pytest.mark.parametrize("name", ALL)
def test_the_turn_says_to_codex_what_the_recording_said(name):
    plan = {"thread_id": thread_of("resume_first_turn")} if name == "resume" else {}
    out = replay(name, **plan)
    assert [(m.get("method"), m.get("id")) for m in out.sent] == recorded_sent(name)
    assert out.turn is not None and out.turn.state == "ended" and out.turn.failure is None


def test_a_warm_process_skips_initialize():
    turn = AppServerTurn(TurnPlan(cwd="/run", prompt="hi", initialised=True), AppServerNormaliser())
    [first] = [orjson.loads(line) for line in turn.start().splitlines()]
    assert first["method"] == "thread/start"
    assert first["params"]["cwd"] == "/run" and turn.state == "starting_thread"


def test_thread_start_carries_policy_sandbox_model_and_the_turns_config():
    config = {"mcp_servers": {"codex_relay": {"url": "http://127.0.0.1:1/mcp"}}}
    plan = TurnPlan(
        cwd="/r",
        prompt="p",
        approval_policy="on-request",
        sandbox="read-only",
        model="devmodel",
        config=config,
        initialised=True,
    )
    params = orjson.loads(AppServerTurn(plan, AppServerNormaliser()).start())["params"]
    assert params == {
        "cwd": "/r",
        "approvalPolicy": "on-request",
        "sandbox": "read-only",
        "config": config,
        "model": "devmodel",
    }


def test_a_resume_asks_for_the_thread_without_its_history():
    plan = TurnPlan(cwd="/r", prompt="p", thread_id="t-1", initialised=True)
    message = orjson.loads(AppServerTurn(plan, AppServerNormaliser()).start())
    assert message["method"] == "thread/resume"
    assert message["params"]["threadId"] == "t-1" and message["params"]["excludeTurns"] is True


# --------------------------------------------------------------------------
# One exact expectation per recorded transcript


def test_transcript_plain_answer_streams_deltas_then_the_whole_message():
    [msg] = item_ids("plain_answer", "agentMessage")
    pieces = ("## Hello!\n\nThis is ", "a **plain markdown** answer ", "with:\n\n- a list ")
    pieces += ("item\n- `inline code`\n\n", "```python\nprint('hello')\n```\n")
    assert replay("plain_answer").events == [
        started("plain_answer"),
        *deltas("message.delta", msg, *pieces),
        ("message", {"item_id": msg, "text": HELLO}),
        usage(18, 0, 33, 0),
    ]
    assert "".join(pieces) == HELLO


def test_transcript_paced_deltas():
    [msg] = item_ids("paced_deltas", "agentMessage")
    assert replay("paced_deltas").events == [
        started("paced_deltas"),
        *deltas("message.delta", msg, "The ", "answer ", "comes ", "in ", "pieces."),
        ("message", {"item_id": msg, "text": "The answer comes in pieces."}),
        usage(18, 0, 11, 0),
    ]


def test_transcript_reasoning():
    [rs] = item_ids("reasoning", "reasoning")
    [msg] = item_ids("reasoning", "agentMessage")
    thinking = (
        "**Thinking it through**\n\nThe user ",
        "wants a short answer; no ",
        "tools are needed.",
    )
    answer = ("Done ", "thinking: ", "the ", "answer ", "is ", "**42**.")
    assert replay("reasoning").events == [
        started("reasoning"),
        *deltas("reasoning.delta", rs, *thinking),
        ("reasoning", {"item_id": rs, "text": THINKING}),
        *deltas("message.delta", msg, *answer),
        ("message", {"item_id": msg, "text": "Done thinking: the answer is **42**."}),
        usage(18, 0, 33, 19),
    ]


def test_transcript_command_output_streams_live_and_the_card_gets_all_of_it():
    [call] = item_ids("command_output", "commandExecution")
    [msg] = item_ids("command_output", "agentMessage")
    cmd = "/bin/bash -c 'for i in 1 2 3; do echo tick$i; sleep 0.3; done'"
    assert replay("command_output").events == [
        started("command_output"),
        command("started", call, cmd, "in_progress", None, ""),
        # Codex 0.169.0 never sends the first chunk (read before item/started) as a delta.
        ("tool.output", {"tool_id": call, "delta": "tick2\n"}),
        ("tool.output", {"tool_id": call, "delta": "tick3\n"}),
        command("completed", call, cmd, "completed", 0, "tick1\ntick2\ntick3\n", duration_ms=1000),
        *deltas("message.delta", msg, "ticked"),
        ("message", {"item_id": msg, "text": "ticked"}),
        usage(38, 0, 31, 0),
    ]


def test_transcript_command_failed():
    [call] = item_ids("command_failed", "commandExecution")
    cmd = "/bin/bash -c 'ls no-such-file'"
    error = "ls: cannot access 'no-such-file': No such file or directory\n"
    events = replay("command_failed").events
    assert events[1:3] == [
        command("started", call, cmd, "in_progress", None, ""),
        command("completed", call, cmd, "failed", 2, error, duration_ms=1000),
    ]


def check_approval(name: str, status: str) -> None:
    out = replay(name, approval_policy="untrusted")
    [request] = out.requests
    [call] = item_ids(name, "commandExecution")
    cmd = "/bin/bash -c 'touch approved.txt'"
    assert request.method == "item/commandExecution/requestApproval" and request.id == 0
    assert request.params["itemId"] == call and request.params["command"] == cmd
    exit_code = None if status == "declined" else 0
    assert command("completed", call, cmd, status, exit_code, "", duration_ms=1000) in out.events
    decision = "accept" if status == "completed" else "decline"
    assert {"id": 0, "result": {"decision": decision}} in out.sent


def test_transcript_approval_accept_becomes_a_request_for_the_runner_and_the_command_runs():
    check_approval("approval_accept", "completed")


def test_transcript_approval_decline_leaves_the_command_declined():
    check_approval("approval_decline", "declined")


def test_transcript_file_change_approval_keeps_the_changes_for_the_approval_card():
    norm = AppServerNormaliser(clock=Tick())
    turn = AppServerTurn(TurnPlan(cwd="/run", prompt="p"), norm)
    turn.start()
    for line in lines(TRANSCRIPTS / "file_change_approval.jsonl"):
        if "recv" not in line:
            continue
        step = turn.receive(line["recv"])
        if step.requests:
            [request] = step.requests
            assert request.method == "item/fileChange/requestApproval"
            item = norm.item(request.params["itemId"])
            assert item is not None
            assert item["changes"][0]["diff"] == "# Notes\n\nWritten.\n"
            assert item["changes"][0]["kind"] == {"type": "add"}
    assert norm.item(request.params["itemId"]) is None  # forgotten once complete


def test_transcript_file_change_approval_is_the_exec_file_change_card():
    [call] = item_ids("file_change_approval", "fileChange")
    events = replay("file_change_approval").events
    [(_, first), (_, done)] = [e for e in events if e[0].startswith("tool.")]
    path = first["tool"]["changes"][0]["path"]
    assert path.endswith("/run/notes.md")
    common = {
        "id": call,
        "kind": "file_change",
        "title": path,
        "changes": [{"path": path, "kind": "add"}],
    }
    assert first == {"tool": {**common, "status": "in_progress"}}
    assert done == {"tool": {**common, "status": "completed", "duration_ms": 1000}}


def test_transcript_todo_list_becomes_the_plan_card_completed_with_the_turn():
    items = [
        {"step": "Look at the run files", "status": "completed"},
        {"step": "Summarise the report", "status": "in_progress"},
        {"step": "Answer the user", "status": "pending"},
    ]
    common = {"id": PLAN_TOOL_ID, "kind": "todo", "title": "Plan", "items": items}
    [msg] = item_ids("todo_list", "agentMessage")
    assert replay("todo_list").events == [
        started("todo_list"),
        ("tool.started", {"tool": {**common, "status": "in_progress"}}),
        *deltas("message.delta", msg, "Plan ", "recorded."),
        ("message", {"item_id": msg, "text": "Plan recorded."}),
        ("tool.completed", {"tool": {**common, "status": "completed", "duration_ms": 1000}}),
        usage(38, 0, 33, 0),
    ]


def test_transcript_web_search():
    [ws] = item_ids("web_search", "webSearch")
    events = replay("web_search").events
    query = "codex relay offline demo"
    assert events[1:3] == [
        (
            "tool.started",
            {
                "tool": {
                    "id": ws,
                    "kind": "web_search",
                    "title": "web search",
                    "status": "in_progress",
                    "query": "",
                }
            },
        ),
        (
            "tool.completed",
            {
                "tool": {
                    "id": ws,
                    "kind": "web_search",
                    "title": query,
                    "status": "completed",
                    "duration_ms": 1000,
                    "query": query,
                }
            },
        ),
    ]


def test_transcript_model_http_500_shows_the_failure_once():
    text = "We\u2019re currently experiencing high demand, which may cause temporary errors."
    out = replay("model_http_500")
    assert out.events == [
        started("model_http_500"),
        ("error", {"message": text, "code": "codex_error", "retryable": False}),
    ]
    assert out.turn is not None
    assert out.turn.normaliser.status == "failed" and out.turn.normaliser.failure == text


def test_transcript_model_stream_disconnect():
    [msg] = item_ids("model_stream_disconnect", "agentMessage")
    text = (
        "stream disconnected before completion: Transport error: network error: "
        "error decoding response body"
    )
    assert replay("model_stream_disconnect").events == [
        started("model_stream_disconnect"),
        *deltas("message.delta", msg, "partial ", "answer"),
        ("message", {"item_id": msg, "text": "partial answer"}),
        ("error", {"message": text, "code": "codex_error", "retryable": False}),
    ]


def test_transcript_interrupt_mid_command_ends_the_turn_interrupted():
    [call] = [
        line["recv"]["params"]["item"]["id"]
        for line in lines(TRANSCRIPTS / "interrupt_mid_command.jsonl")
        if line.get("recv", {}).get("method") == "item/started"
        and line["recv"]["params"]["item"]["type"] == "commandExecution"
    ]
    out = replay("interrupt_mid_command")
    cmd = "/bin/bash -c 'echo started; sleep 37.75'"
    assert out.events == [
        started("interrupt_mid_command"),
        command("started", call, cmd, "in_progress", None, ""),
        usage(18, 0, 25, 0),  # the model call before the interrupt did cost tokens
    ]
    assert out.turn is not None and out.turn.normaliser.status == "interrupted"
    interrupt = [m for m in out.sent if m.get("method") == "turn/interrupt"]
    assert interrupt[0]["params"] == {
        "threadId": thread_of("interrupt_mid_command"),
        "turnId": out.turn.normaliser.turn_id,
    }


def test_transcript_resume_first_turn():
    assert replay("resume_first_turn").events[-1] == usage(18, 0, 33, 0)


def test_transcript_resume_reports_this_turns_usage_and_ignores_the_repeated_totals():
    first = replay("resume_first_turn").turn
    assert first is not None
    total = first.normaliser.usage_total
    assert total == dict(zip(USAGE_FIELDS, (18, 0, 33, 0), strict=True))
    out = replay("resume", thread_id=thread_of("resume_first_turn"), thread_total=dict(total))
    assert out.events[0] == ("turn.started", {"thread_id": thread_of("resume_first_turn")})
    assert out.events[-1] == usage(43 - 18, 0, 66 - 33, 19, total=(43, 0, 66, 19))


def test_each_recorded_transcript_has_an_exact_expectation():
    tested = [name.removeprefix("test_transcript_") for name in globals()]
    missing = [n for n in ALL if not any(t.startswith(n) for t in tested)]
    assert len(ALL) >= 15 and not missing


# --------------------------------------------------------------------------
# What holds for every transcript, under both Codex versions


@pytest.mark.parametrize("name", ALL)
def test_deltas_join_up_to_the_whole_text_that_follows_them(name):
    plan = {"thread_id": thread_of("resume_first_turn")} if name == "resume" else {}
    joined: dict[str, str] = {}
    for type_, payload in replay(name, **plan).events:
        if type_ in (ev.MESSAGE_DELTA, ev.REASONING_DELTA):
            joined[payload["item_id"]] = joined.get(payload["item_id"], "") + payload["delta"]
        elif type_ in (ev.MESSAGE, ev.REASONING):
            assert joined.pop(payload["item_id"]) == payload["text"]
    assert joined == {}  # no delta without its whole text


@pytest.mark.parametrize("name", ALL)
def test_recorded_app_server_output_needs_no_pass_through(name):
    plan = {"thread_id": thread_of("resume_first_turn")} if name == "resume" else {}
    for type_, payload in replay(name, **plan).events:
        assert type_ in ev.EVENT_TYPES, type_
        orjson.dumps(payload)


@pytest.mark.parametrize("name", sorted(p.stem for p in NEWER.glob("*.jsonl")))
def test_codex_0_171_gives_the_same_events_as_the_pinned_version(name):
    def shape(directory: Path) -> list[tuple[str, Any]]:
        plan: dict[str, Any] = {}
        if name == "resume":
            first = [
                json.loads(x)
                for x in (directory / "resume_first_turn.jsonl").read_text().splitlines()
            ]
            plan["thread_id"] = next(
                m["recv"]["result"]["thread"]["id"]
                for m in first
                if "thread" in m.get("recv", {}).get("result", {})
            )
        events = replay(name, directory, **plan).events
        # Ids, paths and token counts differ between recordings; the conversation does not.
        return [
            (t, p.get("text") or p.get("delta") or p.get("tool", {}).get("status"))
            for t, p in events
        ]

    assert shape(NEWER) == shape(TRANSCRIPTS)


# --------------------------------------------------------------------------
# Hostile and unusual input


def test_a_line_that_is_not_json_becomes_a_bad_output_error_and_the_turn_goes_on():
    turn = AppServerTurn(TurnPlan(cwd="/r", prompt="p", initialised=True), AppServerNormaliser())
    turn.start()
    step = turn.receive(BadLine("not JSON", "panic: x", 8))
    [(type_, payload)] = step.events
    assert type_ == "error" and payload["code"] == "bad_output" and "panic: x" in payload["message"]
    assert not step.ended and turn.state == "starting_thread"


def test_unknown_notifications_pass_through_and_housekeeping_is_quiet():
    norm = AppServerNormaliser()
    assert norm.feed(Notification("account/rateLimits/updated", {"rateLimits": {}})) == []
    assert norm.feed(Notification("thread/compacted", {"threadId": "t"})) == [
        ("codex.thread/compacted", {"raw": {"method": "thread/compacted", "threadId": "t"}})
    ]


def test_unknown_item_types_pass_through_once_when_complete():
    norm = AppServerNormaliser()
    item = {"type": "imageView", "id": "i1", "path": "/x.png"}
    assert norm.feed(Notification("item/started", {"item": item})) == []
    assert norm.feed(Notification("item/completed", {"item": item})) == [
        ("codex.imageView", {"raw": item})
    ]


@pytest.mark.parametrize(
    "params",
    [{}, {"item": None}, {"item": "x"}, {"item": {"id": "i"}}, {"item": {"type": 5}}],
    ids=["no item", "null", "string", "no type", "type not a string"],
)
def test_items_without_a_usable_type_pass_through(params):
    [(type_, payload)] = AppServerNormaliser().feed(Notification("item/completed", params))
    assert type_ == "codex.item.completed" and payload == {"raw": params}


@pytest.mark.parametrize("delta", [None, "", 7, ["a"]], ids=repr)
def test_deltas_without_text_are_dropped(delta):
    norm = AppServerNormaliser()
    for method in (
        "item/agentMessage/delta",
        "item/reasoning/summaryTextDelta",
        "item/commandExecution/outputDelta",
    ):
        assert norm.feed(Notification(method, {"itemId": "i", "delta": delta})) == []


def test_a_second_summary_part_starts_with_a_blank_line_as_the_whole_text_joins_them():
    norm = AppServerNormaliser()
    out = []
    for index, text in ((0, "First."), (1, "Second.")):
        out += norm.feed(
            Notification(
                "item/reasoning/summaryTextDelta",
                {"itemId": "r", "delta": text, "summaryIndex": index},
            )
        )
    item = {"type": "reasoning", "id": "r", "summary": ["First.", "Second."], "content": []}
    out += norm.feed(Notification("item/completed", {"item": item}))
    assert "".join(p["delta"] for t, p in out if t == "reasoning.delta") == out[-1][1]["text"]
    assert out[-1] == ("reasoning", {"item_id": "r", "text": "First.\n\nSecond."})


def test_a_reasoning_item_without_summary_says_nothing():
    item = {"type": "reasoning", "id": "r", "summary": [], "content": ["raw"]}
    assert AppServerNormaliser().feed(Notification("item/completed", {"item": item})) == []


def test_live_output_is_capped_per_tool_and_marked_once():
    norm = AppServerNormaliser(max_chars=10)
    out = []
    for piece in ("12345", "67890abc", "more", "and more"):
        out += norm.feed(
            Notification("item/commandExecution/outputDelta", {"itemId": "c1", "delta": piece})
        )
    out += norm.feed(
        Notification("item/commandExecution/outputDelta", {"itemId": "c2", "delta": "other"})
    )
    assert out == [
        ("tool.output", {"tool_id": "c1", "delta": "12345"}),
        ("tool.output", {"tool_id": "c1", "delta": "67890", "truncated": True}),
        ("tool.output", {"tool_id": "c2", "delta": "other"}),
    ]


def test_a_retry_notice_is_a_retryable_warning_not_the_failure():
    norm = AppServerNormaliser()
    [(type_, payload)] = norm.feed(
        Notification("error", {"error": {"message": "Reconnecting... 1/5"}, "willRetry": True})
    )
    assert (type_, payload["code"], payload["retryable"]) == ("error", "codex_retrying", True)
    assert norm.failure is None


def test_a_failed_turn_without_an_error_message_still_says_it_failed():
    norm = AppServerNormaliser()
    [(type_, payload)] = norm.feed(
        Notification("turn/completed", {"turn": {"id": "u", "status": "failed", "error": None}})
    )
    assert type_ == "error" and payload["message"] == "the model request failed"
    assert norm.status == "failed"


@pytest.mark.parametrize(
    "result",
    [None, {}, {"thread": None}, {"thread": {"id": 5}}],
    ids=["null", "empty", "null thread", "id not a string"],
)
def test_a_thread_start_without_a_thread_ends_the_turn_with_codex_failed(result):
    turn = AppServerTurn(TurnPlan(cwd="/r", prompt="p", initialised=True), AppServerNormaliser())
    turn.start()
    step = turn.receive({"id": 1, "result": result})
    assert step.ended and turn.failure is not None and turn.failure[1] == "codex_failed"


def test_a_thread_whose_mcp_server_did_not_start_fails_with_tools_unavailable():
    turn = AppServerTurn(TurnPlan(cwd="/r", prompt="p", initialised=True), AppServerNormaliser())
    turn.start()
    step = turn.receive(
        {
            "id": 1,
            "error": {
                "code": -32603,
                "message": "required MCP servers failed to initialize: codex_relay",
            },
        }
    )
    assert step.ended and turn.failure is not None and turn.failure[1] == "tools_unavailable"


def test_a_resume_that_fails_starts_a_new_thread_and_says_so():
    norm = AppServerNormaliser(thread_total={"input_tokens": 50})
    turn = AppServerTurn(TurnPlan(cwd="/r", prompt="p", thread_id="gone", initialised=True), norm)
    turn.start()
    step = turn.receive({"id": 1, "error": {"code": -32600, "message": "no rollout found"}})
    [(type_, payload)] = step.events
    assert (type_, payload["code"]) == ("error", "resume_failed")
    assert orjson.loads(step.send)["method"] == "thread/start"
    assert turn.resume_failed and not step.ended and norm.usage_total == {}


def test_a_turn_start_codex_refuses_ends_the_turn():
    turn = AppServerTurn(TurnPlan(cwd="/r", prompt="p", initialised=True), AppServerNormaliser())
    turn.start()
    turn.receive({"id": 1, "result": {"thread": {"id": "t"}}})
    step = turn.receive({"id": 2, "error": {"code": -1, "message": "busy"}})
    assert step.ended and turn.failure == ("Codex did not start the turn: busy", "codex_failed")


def test_server_requests_the_relay_does_not_serve_are_refused_at_once():
    turn = AppServerTurn(TurnPlan(cwd="/r", prompt="p", initialised=True), AppServerNormaliser())
    step = turn.receive({"id": 4, "method": "item/tool/requestUserInput", "params": {}})
    assert step.requests == []
    assert orjson.loads(step.send)["error"]["code"] == -32601


def test_an_mcp_elicitation_is_an_approval_answered_with_an_action():
    turn = AppServerTurn(TurnPlan(cwd="/r", prompt="p", initialised=True), AppServerNormaliser())
    request = {"id": 5, "method": "mcpServer/elicitation/request", "params": {"message": "ok?"}}
    [approval] = turn.receive(request).requests
    assert orjson.loads(turn.answer(approval, "decline")) == {
        "id": 5,
        "result": {"action": "decline", "content": None},
    }


def test_interrupt_waits_until_codex_knows_the_turn_and_is_sent_once():
    turn = AppServerTurn(TurnPlan(cwd="/r", prompt="p", initialised=True), AppServerNormaliser())
    turn.start()
    assert turn.interrupt() == b""  # nothing to interrupt yet
    turn.receive({"id": 1, "result": {"thread": {"id": "t"}}})
    turn.receive({"id": 2, "result": {"turn": {"id": "u", "status": "inProgress"}}})
    first = orjson.loads(turn.interrupt())
    assert first["method"] == "turn/interrupt" and first["params"] == {
        "threadId": "t",
        "turnId": "u",
    }
    assert turn.interrupt() == b""


def test_malformed_messages_from_codex_are_bad_output_not_exceptions():
    norm = AppServerNormaliser()
    [(type_, payload)] = norm.feed(Malformed("neither", '{"x":1}'))
    assert type_ == "error" and payload["code"] == "bad_output"
