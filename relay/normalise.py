"""Map Codex ``exec --json`` events to relay event payloads.

:class:`CodexNormaliser` is fed the decoded stdout objects of one turn in
order and returns, for each, zero or more ``(type, payload)`` pairs in the
schema of DESIGN.md. It keeps what a turn needs across events: the thread
id, when each tool item started (for ``duration_ms``), the thread's token
totals (Codex reports cumulative usage; the relay reports per turn) and the
turn's outcome as Codex saw it.

Shapes seen with ``@openai/codex`` 0.169.0; anything unknown is passed on
as ``codex.<type>`` with the raw object, never dropped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from . import events as ev
from .jsonl import BadLine

__all__ = ["CodexNormaliser", "Normalised", "USAGE_FIELDS"]

#: A ``(type, payload)`` pair ready for :func:`relay.events.event_body`.
Normalised = tuple[str, dict[str, Any]]

USAGE_FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
)

_TOOL_KINDS = {
    "command_execution": "command",
    "mcp_tool_call": "mcp",
    "file_change": "file_change",
    "web_search": "web_search",
    "todo_list": "todo",
}
_PHASES = {
    "item.started": ev.TOOL_STARTED,
    "item.updated": ev.TOOL_UPDATED,
    "item.completed": ev.TOOL_COMPLETED,
}
_RETRY_NOTICE = re.compile(r"reconnect|retry", re.IGNORECASE)
#: A structured result's fields up to this size (JSON) survive the cap of a long result whole.
_SMALL_FIELD_CHARS = 256


@dataclass
class CodexNormaliser:
    """Stateful mapper for the Codex events of one turn.

    ``thread_total`` is the thread's cumulative usage before this turn (from
    the session record); ``max_chars`` caps every large text field.
    """

    max_chars: int = 32_768
    thread_total: dict[str, int] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    thread_id: str | None = None
    #: Codex reported ``turn.completed``.
    completed: bool = False
    #: Codex reported ``turn.failed`` (its message).
    failure: str | None = None
    _started_at: dict[str, float] = field(default_factory=dict)
    _last_error: str | None = None

    def feed(self, obj: dict[str, Any] | BadLine) -> list[Normalised]:
        """Normalise one decoded stdout line."""
        if isinstance(obj, BadLine):
            text = f"Codex printed a line that is not a JSON event ({obj.reason})"
            if obj.preview:
                text += f": {obj.preview}"
            return [(ev.ERROR, ev.error_payload(text, "bad_output"))]
        kind = obj.get("type")
        if not isinstance(kind, str):
            return [self.passthrough("unknown", obj)]
        handler = _HANDLERS.get(kind)
        if handler is None:
            return [self.passthrough(kind, obj)]
        return handler(self, obj)

    # -- top-level events -------------------------------------------------

    def _thread_started(self, obj: dict[str, Any]) -> list[Normalised]:
        thread_id = obj.get("thread_id")
        if isinstance(thread_id, str):
            self.thread_id = thread_id
        return []

    def _turn_started(self, obj: dict[str, Any]) -> list[Normalised]:
        payload: dict[str, Any] = {}
        if self.thread_id:
            payload["thread_id"] = self.thread_id
        return [(ev.TURN_STARTED, payload)]

    def _turn_completed(self, obj: dict[str, Any]) -> list[Normalised]:
        self.completed = True
        usage = obj.get("usage")
        if not isinstance(usage, dict):
            return []
        total = {k: _int(usage.get(k)) for k in USAGE_FIELDS}
        payload: dict[str, Any] = {
            k: max(0, total[k] - self.thread_total.get(k, 0)) for k in USAGE_FIELDS
        }
        payload["thread_total"] = total
        self.thread_total = total
        return [(ev.USAGE, payload)]

    def _turn_failed(self, obj: dict[str, Any]) -> list[Normalised]:
        error = obj.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        self.failure = str(message or "the model request failed")
        text, _ = ev.cap_text(self.failure, self.max_chars)
        if text == self._last_error:
            return []  # Codex printed the same message as an `error` event just before
        return [(ev.ERROR, ev.error_payload(text, "model_error", retryable=True))]

    def _error(self, obj: dict[str, Any]) -> list[Normalised]:
        message = str(obj.get("message") or "Codex reported an error")
        retrying = bool(_RETRY_NOTICE.search(message))
        text, _ = ev.cap_text(message, self.max_chars)
        self._last_error = text
        code = "codex_retrying" if retrying else "codex_error"
        return [(ev.ERROR, ev.error_payload(text, code, retryable=retrying))]

    def passthrough(self, kind: str, obj: dict[str, Any]) -> Normalised:
        """An unknown Codex event, kept whole unless it is too large."""
        if len(orjson.dumps(obj)) <= self.max_chars:
            return (ev.PASSTHROUGH_PREFIX + kind, {"raw": obj})
        return (ev.PASSTHROUGH_PREFIX + kind, {"raw": {"type": obj.get("type")}, "truncated": True})

    # -- items ------------------------------------------------------------

    def _item(self, obj: dict[str, Any]) -> list[Normalised]:
        item = obj.get("item")
        phase = str(obj.get("type"))
        item_type = item.get("type") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(item_type, str):
            # Without an item type there is no ``codex.<type>`` to name it by.
            return [self.passthrough(phase, obj)]
        done = phase == "item.completed"
        if item_type == "agent_message":
            return [self._text(ev.MESSAGE, item)] if done else []
        if item_type == "reasoning":
            return [self._text(ev.REASONING, item)] if done else []
        if item_type == "error":
            if not done:
                return []
            message, _ = ev.cap_text(str(item.get("message") or ""), self.max_chars)
            return [(ev.ERROR, ev.error_payload(message, "codex_error"))]
        kind = _TOOL_KINDS.get(str(item_type))
        if kind is None:
            return [self.passthrough(str(item_type), obj)]
        return [(_PHASES[phase], {"tool": self._tool(kind, item, phase)})]

    def _text(self, type_: str, item: dict[str, Any]) -> Normalised:
        text, truncated = ev.cap_text(str(item.get("text") or ""), self.max_chars)
        # The item id lets a client match the whole text to its deltas (app-server).
        payload: dict[str, Any] = {"item_id": str(item.get("id") or ""), "text": text}
        if truncated:
            payload["truncated"] = True
        return (type_, payload)

    def _tool(self, kind: str, item: dict[str, Any], phase: str) -> dict[str, Any]:
        item_id = str(item.get("id") or "")
        now = self.clock()
        if phase == "item.started" or item_id not in self._started_at:
            self._started_at.setdefault(item_id, now)
        tool: dict[str, Any] = {
            "id": item_id,
            "kind": kind,
            "title": "",
            "status": str(item.get("status") or _default_status(phase)),
        }
        if phase == "item.completed":
            started = self._started_at.pop(item_id, now)
            tool["duration_ms"] = round((now - started) * 1000)
        _KIND_FIELDS[kind](self, tool, item)
        return tool

    def _command(self, tool: dict[str, Any], item: dict[str, Any]) -> None:
        command, cut = ev.cap_text(str(item.get("command") or ""), self.max_chars)
        tool["title"] = _title(command)
        tool["command"] = command
        if cut:
            tool["truncated"] = True
        tool["exit_code"] = item.get("exit_code")
        output = item.get("aggregated_output")
        if isinstance(output, str):
            tool["output"], truncated = ev.cap_text(output, self.max_chars)
            if truncated:
                tool["truncated"] = True

    def _mcp(self, tool: dict[str, Any], item: dict[str, Any]) -> None:
        server, name = str(item.get("server") or ""), str(item.get("tool") or "")
        tool.update(title=f"{server}.{name}" if server else name, server=server, name=name)
        arguments = item.get("arguments")
        encoded = orjson.dumps(arguments).decode()
        if len(encoded) > self.max_chars:
            arguments, tool["truncated"] = encoded[: self.max_chars], True  # as cut JSON text
        tool["arguments"] = arguments
        error = item.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else error
            tool["error"], _ = ev.cap_text(str(message), self.max_chars)
        result = item.get("result")
        if result is not None:
            tool["result"], truncated = self._cap_json(result)
            if truncated:
                tool["truncated"] = True
            if tool["status"] == "failed" and "error" not in tool:
                # Codex 0.169.0 reports a tool's own error as a failed call with
                # `error: null` and the message in the result's text content.
                tool["error"] = _result_text(tool["result"])

    def _file_change(self, tool: dict[str, Any], item: dict[str, Any]) -> None:
        changes = item.get("changes")
        changes = changes if isinstance(changes, list) else []
        tool["changes"] = self._cap_list(tool, changes)
        paths = [str(c.get("path")) for c in changes if isinstance(c, dict)]
        tool["title"] = _title(", ".join(paths) or "file change")

    def _web_search(self, tool: dict[str, Any], item: dict[str, Any]) -> None:
        query = str(item.get("query") or "")
        tool.update(title=_title(query or "web search"), query=query)

    def _todo(self, tool: dict[str, Any], item: dict[str, Any]) -> None:
        items = item.get("items")
        tool.update(
            title="Plan", items=self._cap_list(tool, items if isinstance(items, list) else [])
        )

    def _cap_list(self, tool: dict[str, Any], values: list[Any]) -> list[Any]:
        """Keep the leading entries of ``values`` whose JSON fits in ``max_chars``."""
        kept, size = [], 0
        for value in values:
            size += len(orjson.dumps(value))
            if size > self.max_chars:
                tool["truncated"] = True
                break
            kept.append(value)
        return kept

    def _cap_json(self, value: Any) -> tuple[Any, bool]:
        """Keep ``value`` if its JSON fits, else a cut of its text and of its structured fields.

        An MCP result's ``structured_content`` keeps its small fields whole (a
        report edit's ``edit_id``, which the panel's Undo needs) and its long
        strings cut (a report edit's diff); longer lists and objects are left
        out. The text content gets the room that is left.
        """
        raw = orjson.dumps(value)
        if len(raw) <= self.max_chars:
            return value, False
        structured = value.get("structured_content") if isinstance(value, dict) else None
        kept = _cap_fields(structured, self.max_chars // 2) if isinstance(structured, dict) else {}
        texts = []
        content = value.get("content") if isinstance(value, dict) else None
        if isinstance(content, list):
            texts = [str(c.get("text")) for c in content if isinstance(c, dict) and "text" in c]
        text = "\n".join(texts) if texts else raw.decode()
        room = self.max_chars - (len(orjson.dumps(kept)) if kept else 0)
        cut, _ = ev.cap_text(text, max(0, room))
        capped: dict[str, Any] = {"content": [{"type": "text", "text": cut}]}
        if kept:
            capped["structured_content"] = kept
        return capped, True


def _cap_fields(fields: dict[str, Any], budget: int) -> dict[str, Any]:
    """``fields`` in about ``budget`` characters: small values whole, long strings cut."""
    small = {k: v for k, v in fields.items() if len(orjson.dumps(v)) <= _SMALL_FIELD_CHARS}
    long_texts = [k for k, v in fields.items() if k not in small and isinstance(v, str)]
    share = max(0, budget - len(orjson.dumps(small))) // max(1, len(long_texts))
    return {
        k: v if k in small else ev.cap_text(v, share)[0]
        for k, v in fields.items()
        if k in small or k in long_texts
    }


def _result_text(result: Any) -> str:
    content = result.get("content") if isinstance(result, dict) else None
    if not isinstance(content, list):
        return ""
    return "\n".join(str(c.get("text")) for c in content if isinstance(c, dict) and "text" in c)


def _int(value: Any) -> int:
    # Token counts are never negative; a negative total would inflate the next turn's figures.
    return max(0, value) if isinstance(value, int) and not isinstance(value, bool) else 0


def _default_status(phase: str) -> str:
    return "completed" if phase == "item.completed" else "in_progress"


def _title(text: str, limit: int = 120) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


_HANDLERS: dict[str, Callable[[CodexNormaliser, dict[str, Any]], list[Normalised]]] = {
    "thread.started": CodexNormaliser._thread_started,
    "turn.started": CodexNormaliser._turn_started,
    "turn.completed": CodexNormaliser._turn_completed,
    "turn.failed": CodexNormaliser._turn_failed,
    "error": CodexNormaliser._error,
    "item.started": CodexNormaliser._item,
    "item.updated": CodexNormaliser._item,
    "item.completed": CodexNormaliser._item,
}

_KIND_FIELDS: dict[str, Callable[[CodexNormaliser, dict[str, Any], dict[str, Any]], None]] = {
    "command": CodexNormaliser._command,
    "mcp": CodexNormaliser._mcp,
    "file_change": CodexNormaliser._file_change,
    "web_search": CodexNormaliser._web_search,
    "todo": CodexNormaliser._todo,
}
