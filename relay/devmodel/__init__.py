"""A scripted model server: an offline stand-in for a Responses-API model.

This is **not a model**. It is a small HTTP server that speaks enough of the
OpenAI Responses API (``POST /v1/responses`` with a streamed, server-sent-event
answer) for the real Codex CLI to use it as a custom provider, and it answers
from scripts. Tests and the offline demo of codex-relay use it so that Codex
runs end to end with no network, no key and no cost.

Standard library only, no state per connection, starts in a few milliseconds.

Scenarios
=========
A *scenario* is a named list of *steps*. Step ``i`` answers the ``i``-th model
request of a turn. The server works ``i`` out from the request body alone, so
it needs no session state and works across resumed threads: ``i`` is the
number of tool-call rounds after the last user message of ``input``, that is
the number of distinct rounds among the tool outputs there
(``function_call_output``, ``custom_tool_call_output``, ...). The call ids
this server makes carry their step number (``call_s<step>_<n>_<hex>``) so
that several calls in one step count once; any other call id counts as a
round of its own.

The last user message picks the scenario: ``#scenario:<name>`` anywhere in
its text chooses ``<name>``; otherwise the server's default scenario answers
(built in: ``demo``, a friendly reply that says it is this stand-in and quotes
the message back). An unknown name gets a reply listing the known ones.
User messages that Codex writes itself (``<environment_context>`` and other
``<snake_case>`` blocks, ``# AGENTS.md instructions``) are not user messages
here.

Steps
-----
A step is one JSON object, one model response. A step with a tool call makes
Codex run the tool and send the result back: the next request, the next step.
A step without one ends the turn. Output keys, emitted in this order when several
are in one object (use ``items`` for another order)::

    {"reason": "summary text"}        a reasoning item with that summary
    {"web_search": "query"}           a provider-side web_search_call item
    {"say": "markdown"}               an assistant message; a string is
                                      streamed as several text deltas, a list
                                      of strings gives the deltas exactly
    {"shell": "ls -la"}               a command through the tool Codex offers
                                      (exec_command, shell_command, shell);
                                      a list is an argv; options "timeout_ms"
                                      (exec_command: yield_time_ms), "workdir",
                                      "login" (default false: no profile noise)
    {"mcp": {"server": "codex_relay", "tool": "list_run_files",
             "arguments": {}}}        a call to a tool of an MCP server
    {"patch": "*** Begin Patch..."}   a file change through apply_patch
    {"plan": [{"step": "...", "status": "pending"}]}
                                      the update_plan tool; option
                                      "explanation"
    {"call": {"name": "...", "arguments": {}, "namespace": "..."}}
                                      any other function tool

Control keys::

    {"delay": 0.5}                    sleep before answering
    {"http_error": 500, "body": "...", "headers": {}}
                                      answer with that HTTP status instead
                                      (body: a string as is, an object as
                                      JSON; default an OpenAI-style error)
    {"stall": 30}                     after the response headers, send
                                      nothing for that long, then go on with
                                      the rest of the step
    {"disconnect": true}              drop the connection before
                                      response.completed
    {"fail": "message"}               end with response.failed instead of
                                      response.completed; an object gives
                                      the error's "code" too (Codex treats
                                      "context_length_exceeded",
                                      "insufficient_quota" specially)
    {"usage": {"input_tokens": 1, "output_tokens": 2, "cached_tokens": 0,
               "reasoning_tokens": 0}}
                                      usage for response.completed (default:
                                      small numbers derived from the input)
    {"items": [{...}, {...}]}         output steps in this order; inside,
                                      "stall"/"delay" pause the stream there,
                                      "disconnect" drops it there and
                                      "raw_sse" inserts events there
    {"raw_sse": [{"type": ...}, ...]} emit exactly these events and nothing
                                      else (escape hatch)

``say`` text may contain ``{{user_message}}``, ``{{quoted}}`` (the same as a
markdown quote), ``{{last_output}}`` (the text of the newest tool output in
the request, without Codex's "Wall time:" header), ``{{scenario}}`` and
``{{step}}``.
When the steps run out the answer is the message ``(scenario finished)``.

Scenarios come from :data:`BUILTIN_SCENARIOS`, a JSON file (``--scenarios``,
an object of name to step list), :meth:`DevModelServer.add_scenario`, and
``POST /_scenarios`` with ``{"name": ..., "steps": [...]}``.

Other routes: ``GET /_health``, ``GET /_scenarios`` (names), ``GET
/_requests`` (the recorded ``/v1/responses`` bodies, newest last, bounded),
``DELETE /_requests``, ``GET /v1/models``.

Run ``python -m relay.devmodel [--host H] [--port P] [--scenarios FILE]``; it
prints ``devmodel listening on http://H:P/v1`` and serves until SIGTERM or
SIGINT. :func:`codex_config_overrides` gives the ``codex -c`` arguments that
point Codex at it.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import select
import shlex
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "BUILTIN_SCENARIOS",
    "DEFAULT_MODEL",
    "DevModelServer",
    "ScenarioError",
    "codex_config_overrides",
    "codex_model_catalog",
    "main",
    "validate_steps",
]

Json = dict[str, Any]
Step = Mapping[str, Any]

DEFAULT_MODEL = "devmodel"
"""The model name the server reports; Codex may pass any name."""

FINISHED_TEXT = "(scenario finished)"
MAX_RECORDED_REQUESTS = 200
_SCENARIO_DIRECTIVE = re.compile(r"#scenario:([A-Za-z0-9_.\-]+)")
_OWN_CALL_ID = re.compile(r"^call_s(\d+)_")
# Codex 0.169.0 heads what a tool returns to the model with "Chunk ID: ...",
# "Wall time: ..." and similar lines, then "Output:".
_RESULT_HEADER = re.compile(r"\A(?:Chunk ID|Wall time): [^\n]*\n(?:[^\n]*\n){0,6}?Output:\n?")
# Codex 0.169.0 wraps the context it injects as user messages in <snake_case>
# tags (environment_context, user_instructions, turn_aborted, ...).
_CODEX_CONTEXT_BLOCK = re.compile(r"^\s*<([a-z]+_[a-z_]+)>.*</\1>\s*$", re.S)
_TOOL_OUTPUT_TYPES = frozenset(
    {
        "function_call_output",
        "custom_tool_call_output",
        "local_shell_call_output",
        "mcp_tool_call_output",
        "tool_search_output",
        "computer_call_output",
    }
)
_OUTPUT_KEYS = ("reason", "web_search", "say", "shell", "mcp", "patch", "plan", "call")
_OPTION_KEYS = {
    "timeout_ms": "shell",
    "workdir": "shell",
    "login": "shell",
    "explanation": "plan",
    "body": "http_error",
    "headers": "http_error",
}
_CONTROL_KEYS = ("delay", "http_error", "stall", "disconnect", "fail", "usage", "items", "raw_sse")
_IN_STREAM_KEYS = ("stall", "delay", "disconnect", "raw_sse")


class ScenarioError(ValueError):
    """A scenario or step that this server cannot play."""


# --------------------------------------------------------------------------
# Built-in scenarios

_DEMO_TEXT = """\
### Hello from the offline demo model

This answer comes from **`relay.devmodel`**, the scripted stand-in that \
codex-relay uses when no real model is configured. It does not read or \
understand your message; it plays scripts, so the whole pipeline (Codex, \
the relay, the event stream and this panel) can be tried offline.

You wrote:

{{quoted}}

A few words pick a script in this demo: ask *what files does this run \
have*, *summarise the report*, or *fix the Introduction of the report*. \
Or put `#scenario:<name>` in a message, for example `#scenario:shell_ls` \
(runs a command), `#scenario:reasoning` or `#scenario:file_change`.
"""


def _tool(tool: str, **arguments: Any) -> Json:
    return {"mcp": {"server": "codex_relay", "tool": tool, "arguments": arguments}}


_NEW_INTRO = (
    "This run trains a tiny transformer on the sample dataset for 12 epochs and "
    "reaches an accuracy of 0.91. (Rewritten by the scripted demo model.)\n"
)

#: Keyword routes of the default ``demo`` scenario, tried in order on the user's
#: own words (after the relay's "User message:" marker). The stand-in does not
#: understand language; this only makes the offline demo show the tools at work.
DEMO_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(fix|rewrite|improve|edit)\b.*\bintro", re.I | re.S), "demo_fix_intro"),
    (re.compile(r"\b(report|summary|summari[sz]e)\b", re.I), "demo_report"),
    (re.compile(r"\b(files?|contents?)\b", re.I), "demo_files"),
    (re.compile(r"\b(ls|shell|command)\b", re.I), "shell_ls"),
]
_USER_MARKER = "User message:"

BUILTIN_SCENARIOS: dict[str, list[Json]] = {
    "demo": [{"say": _DEMO_TEXT}],
    "demo_files": [
        {"say": "Let me look at the run.", **_tool("describe_run_contents")},
        {"say": "Here is what the run holds:\n\n```json\n{{last_output}}\n```"},
    ],
    "demo_report": [
        _tool("list_report_sections", report_id="summary"),
        _tool("read_report_section", report_id="summary", pattern="Results"),
        {"say": "**The report's results** (quoted by the scripted model):\n\n{{last_output}}"},
    ],
    "demo_fix_intro": [
        _tool("read_report_section", report_id="summary", pattern="Introduction"),
        _tool(
            "replace_report_section",
            report_id="summary",
            pattern="Introduction",
            content=_NEW_INTRO,
        ),
        {
            "say": "I rewrote the Introduction of `reports/summary.md` (the old text is "
            "backed up). The change:\n\n```diff\n{{last_output}}\n```"
        },
    ],
    "hello": [
        {
            "say": "## Hello!\n\nThis is a **plain markdown** answer with:\n\n"
            "- a list item\n- `inline code`\n\n```python\nprint('hello')\n```\n"
        }
    ],
    "reasoning": [
        {
            "reason": "**Thinking it through**\n\nThe user wants a short answer; "
            "no tools are needed.",
            "say": "Done thinking: the answer is **42**.",
        }
    ],
    "shell_ls": [
        {"say": "I'll list the files in the working directory.", "shell": "ls -la"},
        {"say": "Here is the listing:\n\n```\n{{last_output}}\n```"},
    ],
    "long_output": [
        {"shell": "seq 1 200000"},
        {"say": "The command printed a long output."},
    ],
    "mcp_list_files": [
        {"mcp": {"server": "codex_relay", "tool": "list_run_files", "arguments": {}}},
        {"say": "The run contains:\n\n```\n{{last_output}}\n```"},
    ],
    "file_change": [
        {
            "patch": "*** Begin Patch\n*** Add File: devmodel-note.md\n"
            "+# Note\n+\n+Written by the scripted model.\n*** End Patch\n"
        },
        {"say": "I created `devmodel-note.md`."},
    ],
    "todo_list": [
        {
            "plan": [
                {"step": "Look at the run files", "status": "completed"},
                {"step": "Summarise the report", "status": "in_progress"},
                {"step": "Answer the user", "status": "pending"},
            ],
            "explanation": "Scripted plan.",
        },
        {"say": "Plan recorded."},
    ],
    "web_search": [
        {"web_search": "codex relay offline demo", "say": "I searched the web (scripted)."}
    ],
    "http_500": [{"http_error": 500, "body": "scripted server error"}],
    "stall": [{"stall": 3600}],
}


# --------------------------------------------------------------------------
# Validation


def validate_steps(steps: object) -> list[Json]:
    """Checks a step list and returns a private copy of it.

    Raises :class:`ScenarioError` naming the step and key that is wrong.
    """
    if not isinstance(steps, list):
        raise ScenarioError("steps must be a JSON list")
    for index, step in enumerate(steps):
        _validate_step(step, f"step {index}", top_level=True)
    try:
        copied: list[Json] = json.loads(json.dumps(steps))
    except (TypeError, ValueError) as error:
        raise ScenarioError(f"steps must be plain JSON: {error}") from None
    return copied


def _validate_step(step: object, where: str, *, top_level: bool) -> None:
    if not isinstance(step, dict) or not step:
        raise ScenarioError(f"{where}: a step must be a non-empty JSON object")
    allowed = set(_OUTPUT_KEYS) | set(_OPTION_KEYS)
    allowed |= set(_CONTROL_KEYS) if top_level else set(_IN_STREAM_KEYS)
    for key, value in step.items():
        if key not in allowed:
            raise ScenarioError(f"{where}: unknown key {key!r}")
        owner = _OPTION_KEYS.get(key)
        if owner is not None and owner not in step:
            raise ScenarioError(f"{where}: {key!r} needs {owner!r} in the same step")
        check, expected = _VALUE_RULES[key]
        if not check(value):
            raise ScenarioError(f"{where}: {key!r} must be {expected}")
    if top_level and "raw_sse" in step and any(k in step for k in (*_OUTPUT_KEYS, "items", "fail")):
        raise ScenarioError(f"{where}: a top-level 'raw_sse' replaces the whole answer")
    for n, item in enumerate(step.get("items", ())):
        _validate_step(item, f"{where} item {n}", top_level=False)


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _is_texts(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _is_object(value: object) -> bool:
    return isinstance(value, dict)


def _is_objects_with(key: str) -> Callable[[object], bool]:
    def check(value: object) -> bool:
        return isinstance(value, list) and all(isinstance(v, dict) and key in v for v in value)

    return check


def _is_tool_spec(*names: str) -> Callable[[object], bool]:
    def check(value: object) -> bool:
        return (
            isinstance(value, dict)
            and all(isinstance(value.get(name), str) for name in names)
            and isinstance(value.get("arguments", {}), dict)
        )

    return check


_USAGE_FIELDS = {"input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens"}
_VALUE_RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "say": (lambda v: _is_text(v) or _is_texts(v), "a string or a non-empty list of strings"),
    "reason": (_is_text, "a string"),
    "web_search": (_is_text, "a string"),
    "patch": (_is_text, "a string"),
    "shell": (lambda v: (_is_text(v) and bool(v)) or _is_texts(v), "a command or an argv list"),
    "mcp": (_is_tool_spec("server", "tool"), "{'server', 'tool', 'arguments'?: {...}}"),
    "call": (_is_tool_spec("name"), "{'name', 'arguments'?: {...}, 'namespace'?}"),
    "plan": (_is_objects_with("step"), "a list of {'step', 'status'} objects"),
    "timeout_ms": (_is_number, "a non-negative number"),
    "workdir": (_is_text, "a string"),
    "login": (lambda v: isinstance(v, bool), "true or false"),
    "explanation": (_is_text, "a string"),
    "delay": (_is_number, "a non-negative number"),
    "stall": (_is_number, "a non-negative number"),
    "http_error": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and 400 <= v <= 599,
        "an HTTP error status (400-599)",
    ),
    "body": (lambda v: isinstance(v, str | dict | list), "a string or JSON"),
    "headers": (_is_object, "an object"),
    "disconnect": (lambda v: v is True, "true"),
    "fail": (
        lambda v: _is_text(v) or (isinstance(v, dict) and _is_text(v.get("message"))),
        "a message or {'message', 'code'?}",
    ),
    "usage": (
        lambda v: (
            isinstance(v, dict)
            and set(v) <= _USAGE_FIELDS
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in v.values())
        ),
        f"an object of token counts ({', '.join(sorted(_USAGE_FIELDS))})",
    ),
    "items": (lambda v: isinstance(v, list), "a list of steps"),
    "raw_sse": (_is_objects_with("type"), "a list of event objects with a 'type'"),
}


# --------------------------------------------------------------------------
# Reading the request


def _text_of(content: object) -> str:
    """The text of a message's ``content`` (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = [p.get("text", "") for p in content if isinstance(p, dict)]
    return "".join(p for p in parts if isinstance(p, str))


def _is_user_message(item: object) -> bool:
    if not (isinstance(item, dict) and item.get("role") == "user"):
        return False
    if item.get("type", "message") != "message":
        return False
    text = _text_of(item.get("content"))
    if text.lstrip().startswith("# AGENTS.md instructions"):
        return False
    return _CODEX_CONTEXT_BLOCK.match(text) is None


class _Request:
    """What one ``/v1/responses`` body says about the turn."""

    def __init__(self, body: Json) -> None:
        raw_input = body.get("input")
        items: list[Any] = raw_input if isinstance(raw_input, list) else []
        if isinstance(raw_input, str):
            items = [{"type": "message", "role": "user", "content": raw_input}]
        last_user = -1
        for index, item in enumerate(items):
            if _is_user_message(item):
                last_user = index
        self.user_message = _text_of(items[last_user].get("content")) if last_user >= 0 else ""
        after = [i for i in items[last_user + 1 :] if isinstance(i, dict)]
        outputs = [i for i in after if i.get("type") in _TOOL_OUTPUT_TYPES]
        self.step = len({_round_of(str(o.get("call_id", ""))) for o in outputs})
        self.last_output = _output_text(outputs[-1]) if outputs else ""
        self.model = str(body.get("model") or DEFAULT_MODEL)
        self.input_chars = len(json.dumps(items))
        tools = body.get("tools")
        self.tools: list[Json] = (
            [t for t in tools if isinstance(t, dict)] if isinstance(tools, list) else []
        )

    def scenario_name(self, default: str) -> str:
        match = _SCENARIO_DIRECTIVE.search(self.user_message)
        if match:
            return match.group(1)
        if default == "demo":
            words = self.user_message.rsplit(_USER_MARKER, 1)[-1]
            for pattern, name in DEMO_ROUTES:
                if pattern.search(words):
                    return name
        return default

    def tool(self, name: str) -> Json | None:
        """The offered tool called ``name`` (top level), if any."""
        for tool in self.tools:
            if tool.get("name") == name:
                return tool
        return None

    def mcp_namespace(self, server: str) -> str:
        """The namespace Codex gives the MCP server ``server``'s tools."""
        wanted = "mcp__" + re.sub(r"[^A-Za-z0-9_]", "_", server)
        folded = wanted.lower().replace("-", "_")
        for tool in self.tools:
            name = tool.get("name")
            if tool.get("type") == "namespace" and isinstance(name, str):
                if name.lower().replace("-", "_") == folded:
                    return name
        return wanted


def _round_of(call_id: str) -> str:
    match = _OWN_CALL_ID.match(call_id)
    return f"step {match.group(1)}" if match else call_id


def _output_text(item: Json) -> str:
    """A tool output's text, without the header Codex puts before command output."""
    output = item.get("output")
    if isinstance(output, dict):
        output = output.get("content", output)
    if isinstance(output, list):
        parts = [p.get("text") for p in output if isinstance(p, dict)]
        output = "\n".join(p for p in parts if isinstance(p, str))
    text = output if isinstance(output, str) else json.dumps(output)
    return _RESULT_HEADER.sub("", text, count=1)


# --------------------------------------------------------------------------
# Writing the answer


class _ClientGone(Exception):
    """The client closed the connection; stop answering quietly."""


class _SseWriter:
    """Streams one response as Responses-API server-sent events."""

    def __init__(self, write: Callable[[bytes], None], wait: Callable[[float], None]) -> None:
        self._write = write
        self.wait = wait
        self.sequence = 0
        self.output: list[Json] = []
        self.response_id = "resp_" + secrets.token_hex(12)
        self.created_at = int(time.time())

    def event(self, event: Json) -> None:
        if "sequence_number" not in event:
            event = {"type": event["type"], "sequence_number": self.sequence, **event}
        self.sequence += 1
        data = json.dumps(event, separators=(",", ":"))
        self._write(f"event: {event['type']}\ndata: {data}\n\n".encode())

    def response_object(self, status: str, model: str, usage: Json | None = None) -> Json:
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": None,
            "incomplete_details": None,
            "model": model,
            "output": list(self.output) if status == "completed" else [],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "usage": usage,
        }

    def item(self, item: Json, body_events: Callable[[Json, int], Iterable[Json]]) -> None:
        """Emits ``output_item.added``, the item's own events, ``output_item.done``."""
        index = len(self.output)
        self.output.append(item)
        added = _in_progress(item)
        self.event({"type": "response.output_item.added", "output_index": index, "item": added})
        for event in body_events(item, index):
            self.event(event)
        self.event({"type": "response.output_item.done", "output_index": index, "item": item})


def _in_progress(item: Json) -> Json:
    started = dict(item, status="in_progress")
    if item["type"] == "message":
        started["content"] = []
    elif item["type"] == "reasoning":
        started["summary"] = []
        started.pop("status")
    elif item["type"] == "function_call":
        started["arguments"] = ""
    elif item["type"] == "custom_tool_call":
        started["input"] = ""
    elif item["type"] == "web_search_call":
        started.pop("action", None)
    return started


def _chunks(text: str, parts: int = 6) -> list[str]:
    """Splits ``text`` at word boundaries into up to ``parts`` deltas."""
    words = re.findall(r"\S+\s*|\s+", text)
    if len(words) <= 1:
        return [text]
    size = max(1, -(-len(words) // parts))
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)]


def _message_events(deltas: list[str]) -> Callable[[Json, int], Iterator[Json]]:
    def events(item: Json, index: int) -> Iterator[Json]:
        base = {"item_id": item["id"], "output_index": index, "content_index": 0}
        text = item["content"][0]["text"]
        yield {
            "type": "response.content_part.added",
            **base,
            "part": {"type": "output_text", "text": "", "annotations": []},
        }
        for delta in deltas:
            yield {"type": "response.output_text.delta", **base, "delta": delta, "logprobs": []}
        yield {"type": "response.output_text.done", **base, "text": text, "logprobs": []}
        yield {"type": "response.content_part.done", **base, "part": item["content"][0]}

    return events


def _reasoning_events(item: Json, index: int) -> Iterator[Json]:
    for n, part in enumerate(item["summary"]):
        base = {"item_id": item["id"], "output_index": index, "summary_index": n}
        yield {
            "type": "response.reasoning_summary_part.added",
            **base,
            "part": {"type": "summary_text", "text": ""},
        }
        for delta in _chunks(part["text"], 3):
            yield {"type": "response.reasoning_summary_text.delta", **base, "delta": delta}
        yield {"type": "response.reasoning_summary_text.done", **base, "text": part["text"]}
        yield {"type": "response.reasoning_summary_part.done", **base, "part": part}


def _function_events(item: Json, index: int) -> Iterator[Json]:
    base = {"item_id": item["id"], "output_index": index}
    yield {"type": "response.function_call_arguments.delta", **base, "delta": item["arguments"]}
    yield {"type": "response.function_call_arguments.done", **base, "arguments": item["arguments"]}


def _custom_events(item: Json, index: int) -> Iterator[Json]:
    base = {"item_id": item["id"], "output_index": index}
    yield {"type": "response.custom_tool_call_input.delta", **base, "delta": item["input"]}
    yield {"type": "response.custom_tool_call_input.done", **base, "input": item["input"]}


def _web_search_events(item: Json, index: int) -> Iterator[Json]:
    base = {"item_id": item["id"], "output_index": index}
    for phase in ("in_progress", "searching", "completed"):
        yield {"type": f"response.web_search_call.{phase}", **base}


class _StepPlayer:
    """Turns one step into output items on an :class:`_SseWriter`."""

    def __init__(self, request: _Request, scenario: str, writer: _SseWriter) -> None:
        self.request = request
        self.scenario = scenario
        self.writer = writer
        self.calls = 0
        self.output_chars = 0
        self.reasoning_chars = 0

    def answer(self, step: Step) -> None:
        """Plays a whole step as one response, ``response.created`` to ``.completed``."""
        writer, model = self.writer, self.request.model
        for kind in ("response.created", "response.in_progress"):
            writer.event({"type": kind, "response": writer.response_object("in_progress", model)})
        self.play({k: v for k, v in step.items() if k in _OUTPUT_KEYS or k in _OPTION_KEYS})
        for item in step.get("items", ()):
            self.play(item)
        if step.get("disconnect"):
            raise _ClientGone("scripted disconnect")
        if "fail" in step:
            failure = step["fail"]
            error = failure if isinstance(failure, dict) else {"message": failure}
            response = writer.response_object("failed", model)
            response["error"] = {"code": "server_error", **error}
            writer.event({"type": "response.failed", "response": response})
            return
        usage = self.usage(step.get("usage"))
        writer.event(
            {
                "type": "response.completed",
                "response": writer.response_object("completed", model, usage),
            }
        )

    def play(self, step: Step) -> None:
        """Plays one step or ``items`` entry: pause, raw events, outputs, disconnect."""
        self.writer.wait(float(step.get("delay", 0)) + float(step.get("stall", 0)))
        for event in step.get("raw_sse", ()):
            self.writer.event(dict(event))
        for key in _OUTPUT_KEYS:
            if key in step:
                getattr(self, "_" + key)(step)
        if step.get("disconnect"):
            raise _ClientGone("scripted disconnect")

    def _say(self, step: Step) -> None:
        value = step["say"]
        deltas = [self._expand(v) for v in value] if isinstance(value, list) else None
        text = "".join(deltas) if deltas else self._expand(str(value))
        self.output_chars += len(text)
        item = {
            "id": "msg_" + secrets.token_hex(12),
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
        self.writer.item(item, _message_events(deltas or _chunks(text)))

    def _reason(self, step: Step) -> None:
        text = str(step["reason"])
        self.reasoning_chars += len(text)
        item = {
            "id": "rs_" + secrets.token_hex(12),
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": text}],
            "encrypted_content": None,
        }
        self.writer.item(item, _reasoning_events)

    def _web_search(self, step: Step) -> None:
        item = {
            "id": "ws_" + secrets.token_hex(12),
            "type": "web_search_call",
            "status": "completed",
            "action": {"type": "search", "query": str(step["web_search"])},
        }
        self.writer.item(item, _web_search_events)

    def _shell(self, step: Step) -> None:
        command = step["shell"]
        argv = command if isinstance(command, list) else ["bash", "-lc", command]
        line = command if isinstance(command, str) else shlex.join(command)
        args: Json
        if self.request.tool("shell") is not None and self.request.tool("exec_command") is None:
            args = {"command": argv}
            name = "shell"
        elif self.request.tool("shell_command") is not None:
            args, name = {"command": line}, "shell_command"
        else:  # exec_command: what Codex 0.169.0 offers by default
            args, name = {"cmd": line}, "exec_command"
        if "timeout_ms" in step:
            args["yield_time_ms" if name == "exec_command" else "timeout_ms"] = step["timeout_ms"]
        if "workdir" in step:
            args["workdir"] = step["workdir"]
        if name != "shell":
            # A login shell reads the profile, whose noise would end up in the output.
            args["login"] = bool(step.get("login", False))
        self._function_call(name, args)

    def _mcp(self, step: Step) -> None:
        spec = step["mcp"]
        tool, arguments = spec["tool"], spec.get("arguments", {})
        # Codex 0.169.0 offers each MCP server's tools as a namespace
        # "mcp__<server>" (non-alphanumerics in the server name become "_") and
        # only accepts a call that names the namespace and the tool apart.
        namespace = self.request.mcp_namespace(spec["server"])
        self._function_call(tool, arguments, namespace=namespace)

    def _patch(self, step: Step) -> None:
        patch = str(step["patch"])
        offered = self.request.tool("apply_patch")
        if offered is not None and offered.get("type") == "function":
            self._function_call("apply_patch", {"input": patch})
            return
        self.calls += 1
        item = {
            "id": "ctc_" + secrets.token_hex(12),
            "type": "custom_tool_call",
            "status": "completed",
            "call_id": self._call_id(),
            "name": "apply_patch",
            "input": patch,
        }
        self.writer.item(item, _custom_events)

    def _plan(self, step: Step) -> None:
        args: Json = {"plan": step["plan"]}
        if "explanation" in step:
            args["explanation"] = step["explanation"]
        self._function_call("update_plan", args)

    def _call(self, step: Step) -> None:
        spec = step["call"]
        self._function_call(spec["name"], spec.get("arguments", {}), spec.get("namespace"))

    def _function_call(self, name: str, arguments: Json, namespace: str | None = None) -> None:
        self.calls += 1
        item: Json = {
            "id": "fc_" + secrets.token_hex(12),
            "type": "function_call",
            "status": "completed",
            "name": name,
            "arguments": json.dumps(arguments),
            "call_id": self._call_id(),
        }
        if namespace:
            item["namespace"] = namespace
        self.writer.item(item, _function_events)

    def _call_id(self) -> str:
        return f"call_s{self.request.step}_{self.calls}_{secrets.token_hex(6)}"

    def _expand(self, text: str) -> str:
        user = self.request.user_message.strip()
        quoted = "\n".join("> " + line if line else ">" for line in user.splitlines()) or "> "
        values = {
            "user_message": user,
            "quoted": quoted,
            "last_output": self.request.last_output,
            "scenario": self.scenario,
            "step": str(self.request.step),
        }
        return re.sub(r"\{\{(\w+)\}\}", lambda m: values.get(m.group(1), m.group(0)), text)

    def usage(self, override: Mapping[str, Any] | None) -> Json:
        """The ``usage`` of ``response.completed``: the step's figures, else small
        deterministic ones (about one token per 400 characters of input)."""
        given = dict(override or {})
        input_tokens = int(given.get("input_tokens", 10 + self.request.input_chars // 400))
        reasoning = int(given.get("reasoning_tokens", -(-self.reasoning_chars // 4)))
        output_tokens = int(
            given.get("output_tokens", 5 + reasoning + self.output_chars // 4 + 20 * self.calls)
        )
        return {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": int(given.get("cached_tokens", 0))},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": input_tokens + output_tokens,
        }


# --------------------------------------------------------------------------
# HTTP


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: DevModelServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is normal (Codex killed, tests
        # ending); anything else still deserves a traceback.
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError | TimeoutError | _ClientGone):
            super().handle_error(request, client_address)


class _HttpServer6(_HttpServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer
    server_version = "devmodel"

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.owner._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib name)
        if self.server.owner.verbose:
            sys.stderr.write("devmodel: " + (format % args) + "\n")

    # routes

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        owner, path = self.server.owner, self._path()
        if path == "/_health":
            self._json(200, {"status": "ok"})
        elif path == "/_requests":
            self._json(200, owner.requests)
        elif path == "/_scenarios":
            self._json(200, {"scenarios": owner.scenario_names()})
        elif path in ("/v1/models", "/models"):
            model = {"id": DEFAULT_MODEL, "object": "model", "created": 0, "owned_by": "devmodel"}
            self._json(200, {"object": "list", "data": [model]})
        else:
            self._error(404, f"no route for GET {path}")

    def do_DELETE(self) -> None:  # noqa: N802 (stdlib name)
        if self._path() == "/_requests":
            self.server.owner.clear_requests()
            self._json(200, {"status": "ok"})
        else:
            self._error(404, f"no route for DELETE {self._path()}")

    def do_POST(self) -> None:  # noqa: N802 (stdlib name)
        path = self._path()
        try:
            body = json.loads(self._read_body() or b"null")
        except (ValueError, UnicodeDecodeError) as error:
            self._error(400, f"request body is not JSON: {error}")
            return
        if not isinstance(body, dict):
            self._error(400, "request body must be a JSON object")
        elif path == "/_scenarios":
            self._add_scenario(body)
        elif path in ("/v1/responses", "/responses"):
            self._answer(body)
        else:
            self._error(404, f"no route for POST {path}")

    def _add_scenario(self, body: Json) -> None:
        try:
            self.server.owner.add_scenario(body.get("name"), body.get("steps"))
        except ScenarioError as error:
            self._error(400, str(error))
            return
        self._json(201, {"name": body["name"], "steps": len(body["steps"])})

    # the model

    def _answer(self, body: Json) -> None:
        owner = self.server.owner
        owner._record(body)
        request = _Request(body)
        scenario, step = owner._step_for(request)
        try:
            self._play(request, scenario, step)
        except _ClientGone:
            self.close_connection = True

    def _play(self, request: _Request, scenario: str, step: Step) -> None:
        self._wait(float(step.get("delay", 0)))
        if "http_error" in step:
            self._scripted_error(step)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._wait(float(step.get("stall", 0)))
        if "raw_sse" in step:  # at the top level it is the whole answer
            for event in step["raw_sse"]:
                self._write_chunk(_raw_event(event))
            if step.get("disconnect"):
                raise _ClientGone("scripted disconnect")
        else:
            _StepPlayer(request, scenario, _SseWriter(self._write_chunk, self._wait)).answer(step)
        self._end_chunks()

    def _scripted_error(self, step: Step) -> None:
        status = int(step["http_error"])
        body = step.get("body")
        if isinstance(body, str):
            data, ctype = body.encode(), "text/plain; charset=utf-8"
        else:
            if body is None:
                kind = "server_error" if status >= 500 else "invalid_request_error"
                message = f"scripted HTTP {status} from devmodel"
                body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
            data, ctype = json.dumps(body).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in dict(step.get("headers", {})).items():
            self.send_header(str(name), str(value))
        self.end_headers()
        self._send(data)

    # plumbing

    def _path(self) -> str:
        path = self.path.split("?", 1)[0]
        return path.rstrip("/") or "/"

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            raw = bytes(data)
        else:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            import gzip

            raw = gzip.decompress(raw)
        return raw

    def _json(self, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self._send(data)

    def _error(self, status: int, message: str) -> None:
        self._json(
            status,
            {
                "error": {
                    "code": "bad_request" if status == 400 else "not_found",
                    "message": message,
                }
            },
        )

    def _send(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError as error:
            raise _ClientGone(str(error)) from error

    def _write_chunk(self, data: bytes) -> None:
        if data:
            self._send(b"%x\r\n%s\r\n" % (len(data), data))

    def _end_chunks(self) -> None:
        self._send(b"0\r\n\r\n")

    def _wait(self, seconds: float) -> None:
        """Sleeps, but ends early (_ClientGone) when the client hangs up or we stop."""
        deadline = time.monotonic() + seconds
        stopping = self.server.owner._stopping
        while (left := deadline - time.monotonic()) > 0:
            if stopping.is_set():
                raise _ClientGone("server stopping")
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable:
                try:
                    peek = self.connection.recv(1, socket.MSG_PEEK)
                except OSError as error:
                    raise _ClientGone(str(error)) from error
                if not peek:
                    raise _ClientGone("client closed the connection")
                time.sleep(min(left, 0.05))


def _raw_event(event: Mapping[str, Any]) -> bytes:
    data = json.dumps(dict(event), separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


# --------------------------------------------------------------------------
# The server object


class DevModelServer:
    """The scripted model server, run on a background thread.

    ``scenarios`` (name to step list) are added to :data:`BUILTIN_SCENARIOS`.
    ``default_scenario`` answers messages without a ``#scenario:`` directive.
    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        scenarios: Mapping[str, object] | None = None,
        *,
        default_scenario: str = "demo",
        max_recorded: int = MAX_RECORDED_REQUESTS,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.default_scenario = default_scenario
        self.verbose = verbose
        self._lock = threading.Lock()
        self._scenarios: dict[str, list[Json]] = {
            name: list(steps) for name, steps in BUILTIN_SCENARIOS.items()
        }
        for name, steps in (scenarios or {}).items():
            self.add_scenario(name, steps)
        self._requests: deque[Json] = deque(maxlen=max_recorded)
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> DevModelServer:
        """Binds the port and serves on a daemon thread; returns self."""
        if self._httpd is not None:
            raise RuntimeError("DevModelServer is already started")
        server_class = _HttpServer6 if ":" in self.host else _HttpServer
        httpd = server_class((self.host, self.port), _Handler)
        httpd.owner = self
        self.port = httpd.server_address[1]
        self._stopping.clear()
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="devmodel", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and drops open connections (stalled answers end too)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> DevModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://host:port`` (the control routes live here)."""
        if self._httpd is None:
            raise RuntimeError("DevModelServer is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL to give Codex, ending in ``/v1``."""
        return self.url + "/v1"

    # scenarios and records

    def add_scenario(self, name: object, steps: object) -> None:
        """Adds or replaces a scenario; raises :class:`ScenarioError` if invalid."""
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
            raise ScenarioError("a scenario name is letters, digits, '_', '.' or '-'")
        checked = validate_steps(steps)
        with self._lock:
            self._scenarios[name] = checked

    def scenario_names(self) -> list[str]:
        """The names of every scenario this server can play, sorted."""
        with self._lock:
            return sorted(self._scenarios)

    @property
    def requests(self) -> list[Json]:
        """The recorded ``/v1/responses`` request bodies, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forgets the recorded request bodies."""
        with self._lock:
            self._requests.clear()

    def _record(self, body: Json) -> None:
        with self._lock:
            self._requests.append(body)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _step_for(self, request: _Request) -> tuple[str, Step]:
        name = request.scenario_name(self.default_scenario)
        with self._lock:
            steps = self._scenarios.get(name)
            known = sorted(self._scenarios)
        if steps is None:
            listing = ", ".join(f"`{n}`" for n in known)
            return name, {"say": f"Unknown scenario `{name}`. Known scenarios: {listing}."}
        if request.step < len(steps):
            return name, steps[request.step]
        return name, {"say": FINISHED_TEXT}


# --------------------------------------------------------------------------
# Pointing Codex at it


def codex_model_catalog(model: str = DEFAULT_MODEL) -> Json:
    """A Codex ``model_catalog_json`` document describing the stand-in model.

    Without it Codex 0.169.0 uses fallback metadata for an unknown model name:
    it adds an ``error`` item to every run, offers no ``apply_patch`` tool and
    sends its long default instructions with every request.
    """
    return {
        "models": [
            {
                "slug": model,
                "display_name": model,
                "description": "Scripted offline stand-in (relay.devmodel), not a model.",
                "default_reasoning_level": "low",
                "supported_reasoning_levels": [{"effort": "low", "description": "scripted"}],
                "shell_type": "unified_exec",
                "visibility": "list",
                "supported_in_api": True,
                "priority": 1,
                "apply_patch_tool_type": "freeform",
                "supports_search_tool": False,
                "support_verbosity": False,
                "context_window": 128000,
                "truncation_policy": {"mode": "tokens", "limit": 10000},
                "input_modalities": ["text"],
                "experimental_supported_tools": [],
                "base_instructions": "You are relay.devmodel, a scripted offline stand-in.",
            }
        ]
    }


def codex_config_overrides(
    base_url: str,
    *,
    provider: str = "devmodel",
    catalog_path: str | None = None,
    retries: int = 0,
) -> list[str]:
    """``codex`` arguments (``-c key=value`` pairs) that use the server at ``base_url``.

    Pass ``catalog_path``, a file holding :func:`codex_model_catalog`, to
    give Codex the model's metadata. ``retries`` sets the provider's request
    and stream retries (Codex's defaults retry a 500 for about 25 s).
    """
    pairs = [
        f"model_provider={provider}",
        f"model_providers.{provider}.name={provider}",
        f"model_providers.{provider}.base_url={json.dumps(base_url)}",
        f"model_providers.{provider}.wire_api=responses",
        f"model_providers.{provider}.request_max_retries={retries}",
        f"model_providers.{provider}.stream_max_retries={retries}",
        "tools.update_plan.enabled=true",
    ]
    if catalog_path is not None:
        pairs.append(f"model_catalog_json={json.dumps(catalog_path)}")
    return [arg for pair in pairs for arg in ("-c", pair)]


# --------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    """``python -m relay.devmodel``: serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(
        prog="python -m relay.devmodel",
        description="Scripted offline stand-in for a Responses-API model (not a model).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--scenarios", metavar="FILE.json", help="object of name to step list")
    parser.add_argument("--default-scenario", default="demo")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)
    scenarios: Json = {}
    if args.scenarios:
        try:
            with open(args.scenarios, encoding="utf-8") as fh:
                scenarios = json.load(fh)
            if not isinstance(scenarios, dict):
                raise ScenarioError("the file must hold a JSON object of name to step list")
            server = DevModelServer(
                args.host,
                args.port,
                scenarios,
                default_scenario=args.default_scenario,
                verbose=args.verbose,
            )
        except (OSError, ValueError) as error:
            parser.exit(2, f"devmodel: {args.scenarios}: {error}\n")
    else:
        server = DevModelServer(
            args.host, args.port, default_scenario=args.default_scenario, verbose=args.verbose
        )
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    server.start()
    print(f"devmodel listening on {server.base_url}", flush=True)
    while not done.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
