"""The built-in scenarios, the demo's keyword routes and the checking of steps.

What a scenario and a step are is described in the package docstring
(:mod:`devmodel`); :func:`validate_steps` enforces it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

Json = dict[str, Any]
Step = Mapping[str, Any]

DEFAULT_MODEL = "devmodel"
"""The model name the server reports; Codex may pass any name."""

FINISHED_TEXT = "(scenario finished)"
_OUTPUT_KEYS = ("reason", "web_search", "say", "shell", "mcp", "patch", "plan", "call")
_OPTION_KEYS = {
    "timeout_ms": "shell",
    "workdir": "shell",
    "login": "shell",
    "explanation": "plan",
    "body": "http_error",
    "headers": "http_error",
}
_CONTROL_KEYS = (
    "delay",
    "pace",
    "http_error",
    "stall",
    "disconnect",
    "fail",
    "usage",
    "items",
    "raw_sse",
)
_IN_STREAM_KEYS = ("stall", "delay", "pace", "disconnect", "raw_sse")


class ScenarioError(ValueError):
    """A scenario or step that this server cannot play."""


# --------------------------------------------------------------------------
# Built-in scenarios

_DEMO_TEXT = """\
### Hello from the offline demo model

This answer comes from **`devmodel`**, the scripted stand-in that \
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
#: own words (after a "User message:" marker, when a prompt has one). The stand-in does not
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


def _is_pace(value: object) -> bool:
    return _is_number(value) and isinstance(value, int | float) and value <= 10


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
    "pace": (_is_pace, "a number of seconds from 0 to 10"),
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
