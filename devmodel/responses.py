"""Reading a ``/v1/responses`` request and streaming the scripted answer.

:class:`_Request` works out the scenario and step from the request body alone;
:class:`_StepPlayer` turns a step into Responses-API output items, which
:class:`_SseWriter` writes as server-sent events.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .scenarios import (
    _OPTION_KEYS,
    _OUTPUT_KEYS,
    _USER_MARKER,
    DEFAULT_MODEL,
    DEMO_ROUTES,
    Json,
    Step,
)

_SCENARIO_DIRECTIVE = re.compile(r"#scenario:([A-Za-z0-9_.\-]+)")
_OWN_CALL_ID = re.compile(r"^call_s(\d+)_")
# Codex 0.169.0 heads what a tool returns to the model with "Chunk ID: ...",
# "Wall time: ..." and similar lines, then "Output:".
_RESULT_HEADER = re.compile(r"\A(?:Chunk ID|Wall time): [^\n]*\n(?:[^\n]*\n){0,6}?Output:\n?")
# Codex 0.169.0 wraps the context it injects as user messages in <snake_case>
# tags (environment_context, user_instructions, turn_aborted, ...).
_CODEX_CONTEXT_BLOCK = re.compile(r"^\s*<([a-z]+_[a-z_]+)>.*</\1>\s*\Z", re.S)
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
    """Splits ``text`` at word boundaries into up to ``parts`` deltas (``0``: one per word)."""
    words = re.findall(r"\S+\s*|\s+", text)
    if len(words) <= 1:
        return [text]
    size = max(1, -(-len(words) // parts)) if parts else 1
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)]


def _paced(deltas: list[str], pause: Callable[[], None]) -> Iterator[str]:
    """The deltas, with ``pause()`` between two of them."""
    for n, delta in enumerate(deltas):
        if n:
            pause()
        yield delta


def _message_events(
    deltas: list[str], pause: Callable[[], None]
) -> Callable[[Json, int], Iterator[Json]]:
    def events(item: Json, index: int) -> Iterator[Json]:
        base = {"item_id": item["id"], "output_index": index, "content_index": 0}
        text = item["content"][0]["text"]
        yield {
            "type": "response.content_part.added",
            **base,
            "part": {"type": "output_text", "text": "", "annotations": []},
        }
        for delta in _paced(deltas, pause):
            yield {"type": "response.output_text.delta", **base, "delta": delta, "logprobs": []}
        yield {"type": "response.output_text.done", **base, "text": text, "logprobs": []}
        yield {"type": "response.content_part.done", **base, "part": item["content"][0]}

    return events


def _reasoning_events(
    parts: int, pause: Callable[[], None]
) -> Callable[[Json, int], Iterator[Json]]:
    def events(item: Json, index: int) -> Iterator[Json]:
        for n, part in enumerate(item["summary"]):
            base = {"item_id": item["id"], "output_index": index, "summary_index": n}
            yield {
                "type": "response.reasoning_summary_part.added",
                **base,
                "part": {"type": "summary_text", "text": ""},
            }
            for delta in _paced(_chunks(part["text"], parts), pause):
                yield {"type": "response.reasoning_summary_text.delta", **base, "delta": delta}
            yield {"type": "response.reasoning_summary_text.done", **base, "text": part["text"]}
            yield {"type": "response.reasoning_summary_part.done", **base, "part": part}

    return events


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

    def __init__(
        self, request: _Request, scenario: str, writer: _SseWriter, pace: float = 0.0
    ) -> None:
        self.request = request
        self.scenario = scenario
        self.writer = writer
        #: Seconds between text deltas where a step does not say (``pace``).
        self.pace = pace
        self.calls = 0
        self.output_chars = 0
        self.reasoning_chars = 0

    def answer(self, step: Step) -> None:
        """Plays a whole step as one response, ``response.created`` to ``.completed``."""
        writer, model = self.writer, self.request.model
        for kind in ("response.created", "response.in_progress"):
            writer.event({"type": kind, "response": writer.response_object("in_progress", model)})
        self.play(
            {k: v for k, v in step.items() if k in _OUTPUT_KEYS or k in _OPTION_KEYS or k == "pace"}
        )
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
        pace = self._pace(step)
        self.output_chars += len(text)
        item = {
            "id": "msg_" + secrets.token_hex(12),
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
        chunks = deltas or _chunks(text, 0 if pace else 6)
        self.writer.item(item, _message_events(chunks, lambda: self.writer.wait(pace)))

    def _reason(self, step: Step) -> None:
        text = str(step["reason"])
        self.reasoning_chars += len(text)
        item = {
            "id": "rs_" + secrets.token_hex(12),
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": text}],
            "encrypted_content": None,
        }
        pace = self._pace(step)
        self.writer.item(item, _reasoning_events(0 if pace else 3, lambda: self.writer.wait(pace)))

    def _pace(self, step: Step) -> float:
        return float(step.get("pace", self.pace))

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
