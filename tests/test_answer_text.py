"""A turn's events as one chat answer's markdown (what the OpenAI facade streams as content).

Pure: relay events in, text out (:mod:`relay.answer_text`). The events have
the shapes the normaliser and the app-server runner produce (DESIGN, "Events").
"""

from __future__ import annotations

from typing import Any

import pytest

from relay.answer_text import AnswerText, code_span


def _render(events: list[dict[str, Any]], show_activity: bool = True) -> AnswerText:
    answer = AnswerText(show_activity)
    pieces = [answer.feed(e) for e in events]
    assert "".join(pieces) == answer.text  # what was streamed is the whole answer
    return answer


def _command(phase: str, exit_code: int | None = None, cmd: str = "ls -la") -> dict[str, Any]:
    tool = {"id": "item_1", "kind": "command", "title": cmd, "command": cmd}
    tool["status"] = "in_progress" if phase == "tool.started" else "completed"
    if exit_code is not None:
        tool.update(exit_code=exit_code, output="total 0\n")
    return {"type": phase, "tool": tool}


def _done(status: str = "completed") -> dict[str, Any]:
    return {"type": "turn.completed", "status": status, "duration_ms": 5}


def test_whole_messages_under_exec_become_paragraphs():
    answer = _render(
        [
            {"type": "turn.queued", "message": "hi"},
            {"type": "turn.started", "thread_id": "t"},
            {"type": "message", "text": "First."},
            {"type": "message", "text": "Second."},
            _done(),
        ]
    )
    assert answer.text == "First.\n\nSecond."
    assert answer.finished and answer.status == "completed" and not answer.failed


def test_a_command_is_one_line_with_its_exit_code():
    answer = _render([_command("tool.started"), _command("tool.completed", 0), _done()])
    assert answer.text == "> `$ ls -la` — exit 0"


def test_a_failed_command_shows_its_exit_code_too():
    answer = _render([_command("tool.completed", 2, "false"), {"type": "message", "text": "ok"}])
    assert answer.text == "> `$ false` — exit 2\n\nok"


def test_a_command_line_stays_whole_when_text_comes_between_start_and_end():
    answer = _render(
        [
            _command("tool.started"),
            {"type": "message", "text": "Meanwhile."},
            _command("tool.completed", 0),
        ]
    )
    assert answer.text == "> `$ ls -la`\n\nMeanwhile.\n\n> `$ ls -la` — exit 0"


def test_a_tool_call_shows_ok_or_its_error():
    ok = {"id": "i", "kind": "mcp", "server": "codex_relay", "name": "list_run_files"}
    failed = dict(ok, id="j", name="read_run_file", status="failed", error="No such file: x\nmore")
    answer = _render(
        [
            {"type": "tool.completed", "tool": dict(ok, status="completed", result={})},
            {"type": "tool.completed", "tool": failed},
        ]
    )
    assert answer.text == (
        "> tool `list_run_files` — ok\n\n> tool `read_run_file` — failed: No such file: x"
    )


def test_a_report_edit_shows_a_diff_summary():
    diff = "--- a/reports/summary.md\n+++ b/reports/summary.md\n@@\n-Old.\n+New one.\n+Two.\n"
    result = {
        "content": [{"type": "text", "text": diff}],
        "structured_content": {
            "report_id": "summary",
            "path": "reports/summary.md",
            "section": "Introduction",
            "changed": True,
            "diff": diff,
        },
    }
    tool = {"id": "i", "kind": "mcp", "name": "replace_report_section", "status": "completed"}
    answer = _render([{"type": "tool.completed", "tool": dict(tool, result=result)}])
    assert answer.text == (
        "> tool `replace_report_section` — edited `reports/summary.md` § Introduction: +2 −1 lines"
    )


def test_file_changes_searches_and_plans_get_a_line_each():
    changes = [{"path": "a.md", "kind": "add"}, {"path": "b.py", "kind": "update"}]
    plan = [{"text": "look", "completed": True}, {"text": "answer", "completed": False}]
    answer = _render(
        [
            {"type": "tool.completed", "tool": {"id": "1", "kind": "file_change",
                                                "status": "completed", "changes": changes}},
            {"type": "tool.completed", "tool": {"id": "2", "kind": "web_search",
                                                "status": "completed", "query": "codex"}},
            {"type": "tool.completed", "tool": {"id": "3", "kind": "todo",
                                                "status": "completed", "items": plan}},
        ]
    )  # fmt: skip
    assert answer.text.split("\n\n") == [
        "> edit `a.md`, `b.py` — done",
        "> web search `codex` — done",
        "> plan — 1 of 2 steps done",
    ]


def test_reasoning_is_a_think_block():
    answer = _render(
        [{"type": "reasoning", "text": "Let me see."}, {"type": "message", "text": "42."}]
    )
    assert answer.text == "<think>\nLet me see.\n</think>\n\n42."


def test_with_activity_off_only_the_agents_text_remains():
    answer = _render(
        [
            {"type": "reasoning", "text": "Let me see."},
            {"type": "reasoning.delta", "item_id": "r", "delta": "hm"},
            _command("tool.started"),
            _command("tool.completed", 0),
            {"type": "message", "text": "Done."},
            _done(),
        ],
        show_activity=False,
    )
    assert answer.text == "Done."


def test_message_deltas_stream_and_the_whole_message_adds_only_what_they_missed():
    answer = _render(
        [
            {"type": "message.delta", "item_id": "m1", "delta": "Hel"},
            {"type": "message.delta", "item_id": "m1", "delta": "lo"},
            {"type": "message", "item_id": "m1", "text": "Hello, world."},
            {"type": "message", "item_id": "m2", "text": "Bye."},
            _done(),
        ]
    )
    assert answer.text == "Hello, world.\n\nBye."


def test_reasoning_deltas_open_a_think_block_that_closes_before_the_answer():
    answer = _render(
        [
            {"type": "reasoning.delta", "item_id": "r1", "delta": "Think"},
            {"type": "reasoning.delta", "item_id": "r1", "delta": "ing."},
            {"type": "message.delta", "item_id": "m1", "delta": "Answer."},
            {"type": "reasoning", "item_id": "r1", "text": "Thinking."},
            {"type": "message", "item_id": "m1", "text": "Answer."},
            _done(),
        ]
    )
    assert answer.text == "<think>\nThinking.\n</think>\n\nAnswer."


def test_a_think_block_left_open_is_closed_when_the_turn_ends():
    answer = _render([{"type": "reasoning.delta", "item_id": "r", "delta": "Hm"}, _done()])
    assert answer.text == "<think>\nHm\n</think>"


def test_usage_is_summed_over_the_turn():
    usage = {"type": "usage", "input_tokens": 10, "cached_input_tokens": 4, "output_tokens": 3,
             "reasoning_output_tokens": 1, "thread_total": {"input_tokens": 99}}  # fmt: skip
    answer = _render([usage, dict(usage, input_tokens=5), _done()])
    assert answer.usage == {
        "input_tokens": 15,
        "cached_input_tokens": 8,
        "output_tokens": 6,
        "reasoning_output_tokens": 2,
    }


def test_errors_are_not_text_but_the_last_one_explains_a_failure():
    answer = _render(
        [
            {"type": "error", "message": "Reconnecting... 1/5", "code": "codex_retrying"},
            {"type": "error", "message": "unexpected status 500", "code": "model_error"},
            _done("failed"),
        ]
    )
    assert answer.text == ""
    assert answer.failed and answer.failure == "unexpected status 500"


@pytest.mark.parametrize(
    ("status", "failed", "note"),
    [
        ("cancelled", False, "_(The turn was stopped.)_"),
        ("timeout", True, ""),
        ("failed", True, ""),
    ],
)
def test_how_a_turn_ended_shows(status, failed, note):
    answer = _render([{"type": "message", "text": "Partial."}, _done(status)])
    assert answer.failed is failed
    assert answer.text == "Partial." + (f"\n\n{note}" if note else "")
    if failed:
        assert answer.failure  # never an empty error message


def test_unknown_and_passthrough_events_add_nothing():
    answer = _render([{"type": "codex.mystery", "raw": {}}, {"type": "tool.updated", "tool": {}}])
    assert answer.text == "" and not answer.finished


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("ls", "`ls`"),
        ("echo `date`", "`` echo `date` ``"),
        ("a ``b`` c", "```a ``b`` c```"),
        ("a\nb", "`a b`"),
    ],
    ids=["plain", "backticks_at_the_end", "double_backticks", "newline"],
)
def test_code_spans_survive_backticks_and_newlines(text, span):
    assert code_span(text) == span
