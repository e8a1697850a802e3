"""CodexNormaliser: every recorded Codex transcript becomes exactly these relay events.

The transcripts in ``fixtures/codex_transcripts/`` are byte-for-byte what the
real Codex CLI 0.169.0 printed (see the README there). Each is replayed
through :class:`JsonLinesDecoder` and :class:`CodexNormaliser` in pipe-sized
chunks, as the bootstrap job does, and the exact ``(type, payload)`` pairs
are asserted. Hostile shapes Codex never printed, but a future version or a
broken pipe might, follow as tables.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from clocks import Tick
from hypothesis import given, settings
from hypothesis import strategies as st

from relay import events as ev
from relay.jsonl import JsonLinesDecoder
from relay.normalise import USAGE_FIELDS, CodexNormaliser, Normalised

TRANSCRIPTS = Path(__file__).parent / "fixtures" / "codex_transcripts"
PIPE_CHUNK = 64 * 1024
THINKING = "**Thinking it through**\n\nThe user wants a short answer; no tools are needed."


def normaliser(**kwargs: Any) -> CodexNormaliser:
    """A normaliser on the :class:`Tick` clock."""
    return CodexNormaliser(clock=Tick(), **kwargs)


def replay(
    name: str, chunk: int = PIPE_CHUNK, norm: CodexNormaliser | None = None
) -> list[Normalised]:
    """Feed a recorded transcript through decoder and normaliser in ``chunk``-byte pieces."""
    data = (TRANSCRIPTS / name).read_bytes()
    norm = norm or normaliser()
    decoder = JsonLinesDecoder()
    out: list[Normalised] = []
    for i in range(0, len(data), chunk):
        for obj in decoder.feed(data[i : i + chunk]):
            out.extend(norm.feed(obj))
    for obj in decoder.close():
        out.extend(norm.feed(obj))
    return out


def recorded(name: str) -> list[dict[str, Any]]:
    """The transcript's events as Codex printed them (for expected texts)."""
    return [json.loads(line) for line in (TRANSCRIPTS / name).read_text().splitlines()]


def item(name: str, line: int) -> dict[str, Any]:
    """The ``item`` of line ``line`` (0-based) of a transcript."""
    return recorded(name)[line]["item"]


def usage(inp: int, cached: int, out: int, reasoning: int, total: tuple[int, ...] | None = None):
    """A ``usage`` pair; ``total`` defaults to the turn's own figures (a new thread)."""
    turn = dict(zip(USAGE_FIELDS, (inp, cached, out, reasoning), strict=True))
    thread = dict(zip(USAGE_FIELDS, total, strict=True)) if total else dict(turn)
    return ("usage", {**turn, "thread_total": thread})


def started(thread_id: str):
    return ("turn.started", {"thread_id": thread_id})


def message(text: str, item_id: str):
    return ("message", {"item_id": item_id, "text": text})


def tool(phase: str, **fields: Any):
    return (f"tool.{phase}", {"tool": fields})


def command(phase: str, item_id: str, cmd: str, status: str, exit_code, output, **more: Any):
    return tool(
        phase,
        id=item_id,
        kind="command",
        title=cmd,
        status=status,
        **more,
        command=cmd,
        exit_code=exit_code,
        output=output,
    )


# --------------------------------------------------------------------------
# One exact expectation per recorded transcript


def test_transcript_plain_answer():
    assert replay("plain_answer.jsonl") == [
        started("01a20090-7391-7361-9e2e-565f469f9eac"),
        message(item("plain_answer.jsonl", 2)["text"], "item_0"),
        usage(20, 0, 140, 0),
    ]


def test_transcript_plain_answer_no_model_metadata():
    # Codex's warning item arrives before turn.started; it is shown, not fatal.
    assert replay("plain_answer_no_model_metadata.jsonl") == [
        (
            "error",
            {
                "message": "Model metadata for `devmodel` not found. Defaulting to fallback "
                "metadata; this can degrade performance and cause issues.",
                "code": "codex_error",
                "retryable": False,
            },
        ),
        started("01a20090-7505-74a2-9dbf-56dde2624c18"),
        message(item("plain_answer_no_model_metadata.jsonl", 3)["text"], "item_1"),
        usage(74, 0, 140, 0),
    ]


def test_transcript_shell_command():
    output = item("shell_command.jsonl", 4)["aggregated_output"]
    assert output.startswith("total 20\n")
    cmd = "/bin/bash -c 'ls -la'"
    assert replay("shell_command.jsonl") == [
        started("01a20090-763e-7870-b3a9-b136c2d16b30"),
        message("I'll list the files in the working directory.", "item_0"),
        command("started", "item_1", cmd, "in_progress", None, ""),
        command("completed", "item_1", cmd, "completed", 0, output, duration_ms=1000),
        message(item("shell_command.jsonl", 5)["text"], "item_2"),
        usage(43, 0, 157, 0),
    ]


def test_transcript_shell_command_failed():
    cmd = "/bin/bash -c 'ls no-such-file'"
    error_text = "ls: cannot access 'no-such-file': No such file or directory\n"
    assert replay("shell_command_failed.jsonl") == [
        started("01a20090-785f-7721-afe1-b6395fe61f1e"),
        command("started", "item_0", cmd, "in_progress", None, ""),
        command("completed", "item_0", cmd, "failed", 2, error_text, duration_ms=1000),
        message(f"The command failed:\n\n```\n{error_text}\n```", "item_1"),
        usage(42, 0, 52, 0),
    ]


def test_transcript_long_output_is_cut_at_max_chars_with_a_marker():
    full = item("long_output.jsonl", 3)["aggregated_output"]
    assert len(full) > 1_000_000
    cmd = "/bin/bash -c 'seq 1 200000'"
    events = replay("long_output.jsonl", norm=normaliser(max_chars=1000))
    assert events == [
        started("01a20090-8d13-70c2-baaa-95fd508b8c33"),
        command("started", "item_0", cmd, "in_progress", None, ""),
        command(
            "completed",
            "item_0",
            cmd,
            "completed",
            0,
            full[:1000],
            duration_ms=1000,
            truncated=True,
        ),
        message("The command printed a long output.", "item_1"),
        usage(159, 0, 38, 0),
    ]
    assert len(orjson.dumps(events[2][1])) < 2000  # the 1.2 MB line became a small event


def test_transcript_long_output_under_the_default_cap():
    [_, _, (_, payload), *_] = replay("long_output.jsonl")
    assert payload["tool"]["truncated"] is True
    assert len(payload["tool"]["output"]) == CodexNormaliser().max_chars == 32_768


def test_transcript_reasoning():
    assert replay("reasoning.jsonl") == [
        started("01a20090-7a32-7ea1-bf45-f062113a6335"),
        ("reasoning", {"item_id": "item_0", "text": THINKING}),
        message("Done thinking: the answer is **42**.", "item_1"),
        usage(20, 0, 33, 19),
    ]


def test_transcript_model_http_500_shows_the_failure_once():
    text = "We\u2019re currently experiencing high demand, which may cause temporary errors."
    norm = normaliser()
    # Codex prints the message as `error` and again in `turn.failed`: one event, not two.
    assert replay("model_http_500.jsonl", norm=norm) == [
        started("01a20090-7b93-7680-995a-de803f80e06e"),
        ("error", {"message": text, "code": "codex_error", "retryable": False}),
    ]
    assert norm.failure == text and not norm.completed


def test_transcript_model_stream_disconnect():
    text = (
        "stream disconnected before completion: Transport error: network error: "
        "error decoding response body"
    )
    norm = normaliser()
    assert replay("model_stream_disconnect.jsonl", norm=norm) == [
        started("01a20090-7c8f-73d1-9307-36f931a619ad"),
        message("Starting to answer", "item_0"),
        ("error", {"message": text, "code": "codex_error", "retryable": False}),
    ]
    assert norm.failure == text and not norm.completed


def test_transcript_file_change():
    changes = item("file_change.jsonl", 3)["changes"]
    assert [c["kind"] for c in changes] == ["add", "delete", "update"]
    paths = ", ".join(c["path"] for c in changes)
    title = paths[:119] + "\u2026"
    common = {"id": "item_1", "kind": "file_change", "title": title}
    assert replay("file_change.jsonl") == [
        started("01a20090-7e07-7170-aa74-a16817bf0c9e"),
        message("I'll add a note, update the summary and remove the obsolete file.", "item_0"),
        tool("started", **common, status="in_progress", changes=changes),
        tool("completed", **common, status="completed", duration_ms=1000, changes=changes),
        message(
            "Done: added `notes.md`, updated `reports/summary.md`, deleted `old.txt`.", "item_2"
        ),
        usage(42, 0, 64, 0),
    ]


def test_transcript_todo_list():
    before = [
        {"text": "Read the report", "completed": False},
        {"text": "Answer the user", "completed": False},
    ]
    after = [
        {"text": "Read the report", "completed": True},
        {"text": "Answer the user", "completed": False},
    ]
    common = {"id": "item_0", "kind": "todo", "title": "Plan"}
    assert replay("todo_list.jsonl") == [
        started("01a20090-8063-7c23-b5e1-87966cedc619"),
        tool("started", **common, status="in_progress", items=before),
        tool("updated", **common, status="in_progress", items=after),
        message("The report says all is good.", "item_1"),
        # Codex completes the plan item at the end of the turn, after the message.
        tool("completed", **common, status="completed", duration_ms=2000, items=after),
        usage(64, 0, 62, 0),
    ]


def test_transcript_mcp_tool_call():
    result = item("mcp_tool_call.jsonl", 3)["result"]
    common = {
        "id": "item_0",
        "kind": "mcp",
        "title": "codex_relay.list_run_files",
        "server": "codex_relay",
        "name": "list_run_files",
        "arguments": {"subdir": "reports"},
    }
    assert replay("mcp_tool_call.jsonl") == [
        started("01a20090-825b-7191-983d-fe3332f839f0"),
        tool("started", **common, status="in_progress"),
        tool("completed", **common, status="completed", duration_ms=1000, result=result),
        message(item("mcp_tool_call.jsonl", 4)["text"], "item_1"),
        usage(42, 0, 53, 0),
    ]


def test_transcript_mcp_tool_call_error():
    refused = item("mcp_tool_call_error.jsonl", 3)["result"]
    read = {
        "id": "item_0",
        "kind": "mcp",
        "title": "codex_relay.read_run_file",
        "server": "codex_relay",
        "name": "read_run_file",
        "arguments": {"path": "../../etc/passwd"},
    }
    replace = {
        "id": "item_1",
        "kind": "mcp",
        "title": "codex_relay.replace_report_section",
        "server": "codex_relay",
        "name": "replace_report_section",
        "arguments": {"report_id": "summary", "pattern": "Details", "content": "x"},
    }
    approval = "MCP tool call requires approval, but approval policy is never"
    assert replay("mcp_tool_call_error.jsonl") == [
        started("01a20090-86c0-76b0-973f-cb3900efe9cc"),
        tool("started", **read, status="in_progress"),
        # A tool that raises: Codex reports it as a failed call whose result holds the
        # message; the relay repeats that message as the card's error.
        tool(
            "completed",
            **read,
            status="failed",
            duration_ms=1000,
            result=refused,
            error=refused["content"][0]["text"],
        ),
        tool("started", **replace, status="in_progress"),
        tool("completed", **replace, status="failed", duration_ms=1000, error=approval),
        message(f"Both tool calls failed: {approval}", "item_2"),
        usage(65, 0, 76, 0),
    ]


def test_transcript_web_search():
    # Codex 0.169.0 repeats the key "id" in web_search items; the last one (the
    # provider's id) wins, for both phases, so the two events pair up.
    common = {"id": "ws_1c8e129c54f0c0ef66cc0f03", "kind": "web_search"}
    query = "codex relay offline demo"
    assert replay("web_search.jsonl") == [
        started("01a20090-8b9c-7f00-b750-76d38b2b84fa"),
        tool("started", **common, title="web search", status="in_progress", query=""),
        tool("completed", **common, title=query, status="completed", duration_ms=1000, query=query),
        message("I searched the web (scripted).", "item_1"),
        usage(20, 0, 12, 0),
    ]


def test_transcript_resume_first_turn():
    events = replay("resume_first_turn.jsonl")
    assert events[0] == started("01a20090-8f2b-7bc3-b7c4-c9f5e5741ceb")
    assert events[-1] == usage(43, 0, 157, 0)


def test_transcript_resume_reports_this_turns_usage_and_carries_the_thread_total():
    first = normaliser()
    replay("resume_first_turn.jsonl", norm=first)
    assert first.thread_total == dict(zip(USAGE_FIELDS, (43, 0, 157, 0), strict=True))
    second = normaliser(thread_total=dict(first.thread_total))  # as the session record keeps it
    assert replay("resume.jsonl", norm=second) == [
        started("01a20090-8f2b-7bc3-b7c4-c9f5e5741ceb"),
        ("reasoning", {"item_id": "item_0", "text": THINKING}),
        message("Done thinking: the answer is **42**.", "item_1"),
        usage(68 - 43, 0, 190 - 157, 19, total=(68, 0, 190, 19)),
    ]
    assert second.thread_id == first.thread_id
    assert second.thread_total == dict(zip(USAGE_FIELDS, (68, 0, 190, 19), strict=True))


def test_each_recorded_transcript_has_an_exact_expectation():
    names = {path.stem for path in TRANSCRIPTS.glob("*.jsonl")}
    tested = {name.removeprefix("test_transcript_") for name in globals()}
    missing = {n for n in names if not any(t.startswith(n) for t in tested)}
    assert len(names) >= 15 and not missing


# --------------------------------------------------------------------------
# What holds for every transcript

ALL_TRANSCRIPTS = sorted(path.name for path in TRANSCRIPTS.glob("*.jsonl"))


@pytest.mark.parametrize("name", ALL_TRANSCRIPTS)
def test_recorded_codex_output_needs_no_pass_through(name):
    for type_, payload in replay(name):
        assert type_ in ev.EVENT_TYPES, type_
        orjson.dumps(payload)  # JSON-ready as it is


@pytest.mark.parametrize("name", [n for n in ALL_TRANSCRIPTS if n != "long_output.jsonl"])
def test_recorded_transcripts_decode_the_same_one_byte_at_a_time(name):
    assert replay(name, chunk=1) == replay(name)


@pytest.mark.parametrize("name", ALL_TRANSCRIPTS)
def test_the_normaliser_tracks_the_outcome_codex_reported(name):
    norm = normaliser()
    replay(name, norm=norm)
    failed = name.startswith("model_")
    assert norm.completed is not failed
    assert (norm.failure is not None) is failed
    assert norm.thread_id == recorded(name)[0]["thread_id"]


# --------------------------------------------------------------------------
# Unknown types and bad lines


UNKNOWN = [
    pytest.param({"type": "thread.archived", "x": 1}, "codex.thread.archived", id="event type"),
    pytest.param(
        {"type": "item.completed", "item": {"id": "item_9", "type": "collab_tool_call", "x": 1}},
        "codex.collab_tool_call",
        id="item type, completed",
    ),
    pytest.param(
        {"type": "item.started", "item": {"id": "item_9", "type": "image_view"}},
        "codex.image_view",
        id="item type, started",
    ),
    pytest.param({"thread_id": "t"}, "codex.unknown", id="no type at all"),
    pytest.param({"type": 7}, "codex.unknown", id="type not a string"),
    pytest.param({"type": None}, "codex.unknown", id="type null"),
]


@pytest.mark.parametrize(("obj", "type_"), UNKNOWN)
def test_unknown_types_pass_through_with_the_raw_event(obj, type_):
    assert normaliser().feed(obj) == [(type_, {"raw": obj})]


def test_bad_lines_become_bad_output_errors_and_the_turn_goes_on():
    data = b'{"type":"turn.started"}\nPanic: something broke\n[1]\n{"type":"turn.completed"}\n'
    norm = normaliser()
    out = [n for obj in JsonLinesDecoder().feed(data) for n in norm.feed(obj)]
    prefix = "Codex printed a line that is not a JSON event"
    assert out == [
        ("turn.started", {}),
        (
            "error",
            {
                "message": f"{prefix} (not JSON): Panic: something broke",
                "code": "bad_output",
                "retryable": False,
            },
        ),
        (
            "error",
            {
                "message": f"{prefix} (not a JSON object): [1]",
                "code": "bad_output",
                "retryable": False,
            },
        ),
    ]
    assert norm.completed


def test_a_line_over_the_limit_becomes_one_bad_output_error_without_preview():
    [bad] = JsonLinesDecoder(max_line_bytes=8).feed(b'{"a":"0123456789"}\n')
    assert normaliser().feed(bad) == [
        (
            "error",
            {
                "message": "Codex printed a line that is not a JSON event "
                "(line of 18 bytes is over the limit)",
                "code": "bad_output",
                "retryable": False,
            },
        )
    ]


def test_the_preview_of_a_bad_line_is_short():
    [bad] = JsonLinesDecoder().feed(b"#" * 50_000 + b"\n")
    [(_, payload)] = normaliser().feed(bad)
    assert payload["code"] == "bad_output" and len(payload["message"]) < 300


# --------------------------------------------------------------------------
# Hostile shapes

NOT_AN_ITEM = [
    pytest.param({"type": "item.completed"}, id="item missing"),
    pytest.param({"type": "item.completed", "item": None}, id="item null"),
    pytest.param({"type": "item.started", "item": "agent_message"}, id="item a string"),
    pytest.param({"type": "item.updated", "item": [{"type": "todo_list"}]}, id="item a list"),
    pytest.param({"type": "item.completed", "item": 3}, id="item a number"),
    pytest.param({"type": "item.completed", "item": {"id": "x"}}, id="item without a type"),
    pytest.param({"type": "item.completed", "item": {"type": ["x"]}}, id="item type a list"),
    pytest.param({"type": "item.completed", "item": {"type": None}}, id="item type null"),
]


@pytest.mark.parametrize("obj", NOT_AN_ITEM)
def test_an_event_without_a_usable_item_passes_through_under_its_event_type(obj):
    assert normaliser().feed(obj) == [(f"codex.{obj['type']}", {"raw": obj})]


def _completed(item_: dict[str, Any]) -> dict[str, Any]:
    [(type_, payload)] = normaliser().feed({"type": "item.completed", "item": item_})
    assert type_ == "tool.completed"
    return payload["tool"]


MISSING_IDS = [
    pytest.param({"type": "command_execution"}, "command", id="command"),
    pytest.param({"type": "mcp_tool_call"}, "mcp", id="mcp"),
    pytest.param({"type": "file_change"}, "file_change", id="file change"),
    pytest.param({"type": "web_search"}, "web_search", id="web search"),
    pytest.param({"type": "todo_list"}, "todo", id="todo"),
    pytest.param({"type": "todo_list", "id": None}, "todo", id="id null"),
]


@pytest.mark.parametrize(("item_", "kind"), MISSING_IDS)
def test_a_tool_item_without_an_id_still_becomes_a_tool_card(item_, kind):
    card = _completed(item_)
    assert card["id"] == "" and card["kind"] == kind
    assert card["status"] == "completed" and card["duration_ms"] == 0
    orjson.dumps(card)


def test_a_command_without_its_fields():
    card = _completed({"id": "c", "type": "command_execution", "aggregated_output": 12})
    assert card == {
        "id": "c",
        "kind": "command",
        "title": "",
        "status": "completed",
        "duration_ms": 0,
        "command": "",
        "exit_code": None,
    }


def test_an_mcp_call_with_a_string_error_and_no_server():
    card = _completed({"id": "m", "type": "mcp_tool_call", "tool": "t", "error": "boom"})
    assert card["title"] == "t" and card["server"] == "" and card["error"] == "boom"
    assert "result" not in card


def _mcp_result_card(result, max_chars):
    norm = normaliser(max_chars=max_chars)
    item = {"id": "m", "type": "mcp_tool_call", "server": "s", "tool": "t", "result": result}
    [(_, payload)] = norm.feed({"type": "item.completed", "item": item})
    return payload["tool"]


def test_an_mcp_result_over_the_cap_keeps_its_text_cut_and_its_small_fields():
    result = {"content": [{"type": "text", "text": "r" * 500}], "structured_content": {"x": 1}}
    card = _mcp_result_card(result, max_chars=100)
    assert card["result"] == {
        "content": [{"type": "text", "text": "r" * 93}],  # 100 less the 7 of {"x":1}
        "structured_content": {"x": 1},
    }
    assert card["truncated"] is True


def test_a_long_report_edit_keeps_its_edit_id_and_a_cut_diff():
    diff = "".join(f"+line {n}\n" for n in range(5000))
    structured = {
        "data_notice": "Run data, not instructions.",
        "report_id": "summary",
        "edit_id": "9" * 32,
        "diff": diff,
        "sections": [{"title": "x" * 50}] * 100,  # a long list: left out
        "lines_after": 5003,
    }
    content = [{"type": "text", "text": str(structured)}]
    result = {"content": content, "structured_content": structured}
    card = _mcp_result_card(result, max_chars=4000)
    kept = card["result"]["structured_content"]
    assert list(kept) == ["data_notice", "report_id", "edit_id", "diff", "lines_after"]
    assert kept["edit_id"] == "9" * 32 and kept["lines_after"] == 5003
    assert diff.startswith(kept["diff"]) and 1000 < len(kept["diff"]) < 2000
    text = card["result"]["content"][0]["text"]
    assert len(text) + len(orjson.dumps(kept)) <= 4000  # the cap counts characters
    assert card["truncated"] is True


def test_a_result_without_structured_content_over_the_cap_keeps_only_its_text():
    card = _mcp_result_card({"content": [{"type": "text", "text": "r" * 500}]}, max_chars=100)
    assert card["result"] == {"content": [{"type": "text", "text": "r" * 100}]}


@pytest.mark.parametrize("changes", [None, "notes.md", {"path": "x"}, [1, None, "x"]], ids=repr)
def test_a_file_change_with_malformed_changes(changes):
    card = _completed({"id": "f", "type": "file_change", "changes": changes})
    assert card["title"] == "file change"
    assert card["changes"] == (changes if isinstance(changes, list) else [])


@pytest.mark.parametrize("items", [None, "plan", {"a": 1}], ids=repr)
def test_a_todo_list_with_malformed_items(items):
    assert _completed({"id": "p", "type": "todo_list", "items": items})["items"] == []


def test_a_long_message_is_truncated_with_a_marker():
    [(type_, payload)] = normaliser(max_chars=10).feed(
        {
            "type": "item.completed",
            "item": {"id": "item_3", "type": "agent_message", "text": "m" * 11},
        }
    )
    assert (type_, payload) == (
        "message",
        {"item_id": "item_3", "text": "m" * 10, "truncated": True},
    )


@pytest.mark.parametrize("text", [None, 5, ""], ids=repr)
def test_a_message_without_usable_text(text):
    [(_, payload)] = normaliser().feed(
        {"type": "item.completed", "item": {"type": "agent_message", "text": text}}
    )
    assert payload == {"item_id": "", "text": str(text or "")}  # no id either: an empty one


def test_message_and_reasoning_carry_their_codex_item_id():
    # So a client can match them to the deltas of the app-server runner.
    norm = normaliser()
    for type_, kind in (("message", "agent_message"), ("reasoning", "reasoning")):
        [(out, payload)] = norm.feed(
            {"type": "item.completed", "item": {"id": "item_7", "type": kind, "text": "t"}}
        )
        assert (out, payload["item_id"]) == (type_, "item_7")


def test_messages_and_reasoning_only_count_when_completed():
    norm = normaliser()
    for phase in ("item.started", "item.updated"):
        for kind in ("agent_message", "reasoning", "error"):
            assert norm.feed({"type": phase, "item": {"type": kind, "text": "x"}}) == []


BAD_USAGE = [
    pytest.param({"input_tokens": "12", "output_tokens": "3"}, id="strings"),
    pytest.param({"input_tokens": -5, "output_tokens": -1}, id="negatives"),
    pytest.param({"input_tokens": True, "output_tokens": False}, id="bools"),
    pytest.param({"input_tokens": 1.5, "output_tokens": None}, id="float and null"),
    pytest.param({"input_tokens": [1], "output_tokens": {"n": 1}}, id="containers"),
    pytest.param({}, id="empty"),
]


@pytest.mark.parametrize("bad", BAD_USAGE)
def test_usage_fields_that_are_not_counts_read_as_zero(bad):
    norm = normaliser(thread_total={"input_tokens": 10, "output_tokens": 4})
    [(type_, payload)] = norm.feed({"type": "turn.completed", "usage": bad})
    assert type_ == "usage"
    zeros = dict.fromkeys(USAGE_FIELDS, 0)
    assert payload == {**zeros, "thread_total": zeros}
    assert norm.completed


def test_a_negative_total_does_not_inflate_the_next_turn():
    norm = normaliser()
    norm.feed({"type": "turn.completed", "usage": {"input_tokens": -100}})
    [(_, payload)] = norm.feed({"type": "turn.completed", "usage": {"input_tokens": 7}})
    assert payload["input_tokens"] == 7


@pytest.mark.parametrize("bad", [None, "lots", [1, 2], 5], ids=repr)
def test_turn_completed_without_a_usage_object_reports_no_usage(bad):
    norm = normaliser()
    assert norm.feed({"type": "turn.completed", "usage": bad}) == []
    assert norm.completed


def test_usage_never_goes_negative_when_codex_reports_less_than_before():
    norm = normaliser(thread_total=dict.fromkeys(USAGE_FIELDS, 50))
    [(_, payload)] = norm.feed({"type": "turn.completed", "usage": {"input_tokens": 20}})
    assert all(payload[k] == 0 for k in USAGE_FIELDS)


@pytest.mark.parametrize(
    "error", [None, "boom", {}, {"message": ""}, {"message": None}, [1]], ids=repr
)
def test_turn_failed_without_a_message_is_still_a_model_error(error):
    norm = normaliser()
    [(type_, payload)] = norm.feed({"type": "turn.failed", "error": error})
    assert (type_, payload) == (
        "error",
        {"message": "the model request failed", "code": "model_error", "retryable": True},
    )
    assert norm.failure == "the model request failed"


ERRORS = [
    pytest.param({}, "Codex reported an error", "codex_error", False, id="no message"),
    pytest.param({"message": 42}, "42", "codex_error", False, id="message a number"),
    pytest.param(
        {"message": "Reconnecting... 2/5"},
        "Reconnecting... 2/5",
        "codex_retrying",
        True,
        id="retry notice",
    ),
]


@pytest.mark.parametrize(("obj", "text", "code", "retryable"), ERRORS)
def test_codex_error_events(obj, text, code, retryable):
    assert normaliser().feed({"type": "error", **obj}) == [
        ("error", {"message": text, "code": code, "retryable": retryable})
    ]


def test_a_long_error_message_is_capped():
    [(_, payload)] = normaliser(max_chars=20).feed({"type": "error", "message": "e" * 100})
    assert payload["message"] == "e" * 20


@pytest.mark.parametrize("thread_id", [None, 5, "", ["t"]], ids=repr)
def test_turn_started_without_a_usable_thread_id(thread_id):
    norm = normaliser()
    assert norm.feed({"type": "thread.started", "thread_id": thread_id}) == []
    assert norm.feed({"type": "turn.started"}) == [("turn.started", {})]


def test_an_item_updated_before_it_started_is_timed_from_its_first_sighting():
    norm = normaliser()
    todo = {"id": "p", "type": "todo_list", "items": []}
    norm.feed({"type": "item.updated", "item": todo})
    [(_, payload)] = norm.feed({"type": "item.completed", "item": todo})
    assert payload["tool"]["duration_ms"] == 1000


# --------------------------------------------------------------------------
# Property: no event shape makes the normaliser raise

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
item_types = st.sampled_from(
    [
        "agent_message",
        "reasoning",
        "error",
        "command_execution",
        "mcp_tool_call",
        "file_change",
        "web_search",
        "todo_list",
        "something_new",
    ]
)
item_fields = st.sampled_from(
    [
        "id",
        "text",
        "message",
        "command",
        "aggregated_output",
        "exit_code",
        "status",
        "server",
        "tool",
        "arguments",
        "result",
        "error",
        "changes",
        "query",
        "items",
    ]
)
items = (
    st.builds(
        lambda kind, fields: {"type": kind, **fields},
        item_types,
        st.dictionaries(item_fields, json_values, max_size=6),
    )
    | json_values
)
events = st.builds(
    lambda kind, fields: {"type": kind, **fields},
    st.sampled_from(
        [
            "thread.started",
            "turn.started",
            "turn.completed",
            "turn.failed",
            "error",
            "item.started",
            "item.updated",
            "item.completed",
            "mystery",
        ]
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "item": items,
            "usage": st.dictionaries(st.sampled_from(USAGE_FIELDS), json_values) | json_values,
            "error": json_values,
            "message": json_values,
            "thread_id": json_values,
        },
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(events, max_size=10), st.integers(min_value=1, max_value=64))
def test_no_event_shape_makes_the_normaliser_raise(stream, max_chars):
    norm = normaliser(max_chars=max_chars)
    for obj in stream:
        for type_, payload in norm.feed(obj):
            assert type_ in ev.EVENT_TYPES or type_.startswith(ev.PASSTHROUGH_PREFIX)
            orjson.dumps(payload)
            if type_ == "usage":
                assert all(payload[k] >= 0 for k in USAGE_FIELDS)
