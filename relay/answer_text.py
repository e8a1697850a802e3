"""A turn's events as the markdown text of one chat answer (the OpenAI facade's content).

:class:`AnswerText` is fed a turn's relay events in order and returns, for
each, the text to append to the answer (often ``""``). What becomes text:

- the agent's messages, whole (runner ``exec``) or as their
  ``message.delta`` pieces (runner ``app-server``; the whole ``message``
  with the same ``item_id`` then adds only what the deltas missed);
- with activity shown: each tool as one short quoted line, written when it
  starts and finished with its outcome (a command and its exit code, a
  tool call and ``ok`` or its error, a report edit's diff summary, the
  files a patch changed), and reasoning as a ``<think>`` block (the form
  Open WebUI and other chat UIs fold away);
- a cancelled turn ends with a short note.

``error`` events are not text: the last one's message becomes
:attr:`AnswerText.error`, which the facade reports in OpenAI's error shape
when the turn fails. Pure: no Flask, no Redis.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from . import events as ev

__all__ = ["AnswerText", "code_span", "tool_line", "tool_outcome"]

_MESSAGE_DELTA = "message.delta"
_REASONING_DELTA = "reasoning.delta"
_APPROVAL_REQUESTED = "approval.requested"
#: Longest tool detail (an error's first line, a query) kept in a tool line.
_DETAIL_CHARS = 200
_BACKTICKS = re.compile(r"`+")
_FAILURE = "The turn failed."
#: What goes around each kind of text item: a message is bare, reasoning a <think> block.
_FRAMES = {ev.MESSAGE: ("", ""), ev.REASONING: ("<think>\n", "\n</think>")}


def code_span(text: str) -> str:
    """``text`` as one markdown code span, whatever backticks or newlines it holds."""
    flat = " ".join(text.split())
    longest = max((len(m) for m in _BACKTICKS.findall(flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def _short(text: object) -> str:
    lines = str(text or "").strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= _DETAIL_CHARS else line[: _DETAIL_CHARS - 1] + "…"


def tool_line(tool: Mapping[str, Any]) -> str:
    """The start of a tool's line: what it is doing."""
    kind = tool.get("kind")
    if kind == "command":
        return "> " + code_span("$ " + _short(tool.get("command") or tool.get("title")))
    if kind == "mcp":
        return "> tool " + code_span(str(tool.get("name") or tool.get("title") or "?"))
    if kind == "file_change":
        paths = [str(c.get("path")) for c in tool.get("changes") or [] if isinstance(c, dict)]
        return "> edit " + (", ".join(code_span(p) for p in paths[:5]) or "files")
    if kind == "web_search":
        return "> web search " + code_span(_short(tool.get("query")) or "…")
    if kind == "todo":
        return "> plan"
    return "> " + code_span(_short(tool.get("title")) or str(kind))


def tool_outcome(tool: Mapping[str, Any]) -> str:
    """How a finished tool ended, in a few words."""
    status = str(tool.get("status") or "completed")
    if tool.get("kind") == "command" and tool.get("exit_code") is not None:
        return f"exit {tool['exit_code']}"
    if tool.get("error"):
        return "failed: " + _short(tool["error"])
    if status not in ("completed", "success"):
        return status
    if tool.get("kind") == "mcp":
        return _report_edit(tool.get("result")) or "ok"
    if tool.get("kind") == "todo":
        items = [i for i in tool.get("items") or [] if isinstance(i, dict)]
        done = sum(1 for i in items if i.get("completed") or i.get("status") == "completed")
        return f"{done} of {len(items)} steps done"
    return "done"


def _report_edit(result: object) -> str:
    """A report edit's summary (``replace_report_section``'s result), else ``""``."""
    structured = result.get("structured_content") if isinstance(result, dict) else None
    if not isinstance(structured, dict) or not isinstance(structured.get("diff"), str):
        return ""
    diff_lines = structured["diff"].splitlines()
    added = sum(1 for x in diff_lines if x.startswith("+") and not x.startswith("+++"))
    removed = sum(1 for x in diff_lines if x.startswith("-") and not x.startswith("---"))
    where = code_span(str(structured.get("path") or structured.get("report_id") or "report"))
    section = _short(structured.get("section"))
    if not structured.get("changed", True):
        return f"ok, {where} unchanged"
    return f"edited {where}" + (f" § {section}" if section else "") + f": +{added} −{removed} lines"


class AnswerText:
    """Renders one turn's events as answer text; tracks how the turn ended."""

    def __init__(self, show_activity: bool = True) -> None:
        self.show_activity = show_activity
        #: The turn's ``turn.completed`` was seen.
        self.finished = False
        #: Its ``status`` (``completed``, ``failed``, ``cancelled``, ``timeout``).
        self.status: str | None = None
        #: The message of the last ``error`` event.
        self.error: str | None = None
        #: Token counts summed over the turn's ``usage`` events.
        self.usage: dict[str, int] = {}
        self._parts: list[str] = []
        self._tail = ""  # the last two characters written
        self._open: tuple[str, str] | None = None  # ("message"|"reasoning"|"tool", id)
        self._streamed: dict[str, str] = {}  # item_id -> text the deltas carried

    @property
    def text(self) -> str:
        """The whole answer so far."""
        return "".join(self._parts)

    @property
    def failed(self) -> bool:
        """The turn ended ``failed`` or ``timeout``."""
        return self.status in ("failed", "timeout")

    @property
    def failure(self) -> str:
        """What to tell the client when the turn failed."""
        if self.status == "timeout":
            return self.error or "The turn took too long and was stopped."
        return self.error or _FAILURE

    def feed(self, event: Mapping[str, Any]) -> str:
        """The text ``event`` adds to the answer (``""`` when none)."""
        kind = event.get("type")
        if kind == ev.USAGE:
            for name, value in event.items():
                if name.endswith("_tokens") and isinstance(value, int):
                    self.usage[name] = self.usage.get(name, 0) + value
        elif kind == ev.ERROR:
            self.error = str(event.get("message") or "") or self.error
        elif kind == ev.TURN_COMPLETED:
            return self._completed(str(event.get("status") or "completed"))
        elif kind in (_MESSAGE_DELTA, ev.MESSAGE):
            return self._item(ev.MESSAGE, event)
        elif not self.show_activity:
            return ""
        elif kind in (_REASONING_DELTA, ev.REASONING):
            return self._item(ev.REASONING, event)
        elif kind in (ev.TOOL_STARTED, ev.TOOL_COMPLETED) and isinstance(event.get("tool"), dict):
            return self._tool(kind, event["tool"])
        elif kind == _APPROVAL_REQUESTED and isinstance(event.get("approval"), dict):
            approval = event["approval"]
            what = code_span(_short(approval.get("command") or approval.get("kind")))
            return self._block(f"> waiting for approval: {what} (answer it in the panel)")
        return ""

    # -- the kinds of text -----------------------------------------------

    def _item(self, kind: str, event: Mapping[str, Any]) -> str:
        """A message or reasoning item: a delta of it, or the whole of it."""
        opening, closing = _FRAMES[kind]
        item = str(event.get("item_id") or "")
        if str(event.get("type")).endswith(".delta"):
            return self._continue(kind, item, str(event.get("delta") or ""), opening)
        text = str(event.get("text") or "")
        if item and item in self._streamed:
            return self._finish_item(kind, item, text, opening, closing)
        return self._block(opening + text + closing) if text.strip() else ""

    def _tool(self, kind: str, tool: Mapping[str, Any]) -> str:
        tool_id = str(tool.get("id") or "")
        if kind == ev.TOOL_STARTED:
            out = self._block(tool_line(tool))
            self._open = ("tool", tool_id)
            return out
        if self._open == ("tool", tool_id):
            self._open = None
            return self._emit(" — " + tool_outcome(tool))
        return self._block(f"{tool_line(tool)} — {tool_outcome(tool)}")

    def _completed(self, status: str) -> str:
        self.finished, self.status = True, status
        out = self._close()
        if status == "cancelled":
            out += self._block("_(The turn was stopped.)_")
        return out

    # -- assembling ------------------------------------------------------

    def _continue(self, kind: str, item: str, delta: str, opening: str) -> str:
        """Append a delta to item ``item``, opening its block if another one is open."""
        self._streamed[item] = self._streamed.get(item, "") + delta
        if self._open == (kind, item):
            return self._emit(delta)
        out = self._block(opening + delta)
        self._open = (kind, item)
        return out

    def _finish_item(self, kind: str, item: str, text: str, opening: str, closing: str) -> str:
        """The whole item after its deltas: only what they missed, then ``closing``."""
        streamed = self._streamed.pop(item)
        rest = text[len(streamed) :] if text.startswith(streamed) else ""
        if self._open == (kind, item):
            self._open = None
            return self._emit(rest + closing)
        return self._block(opening + rest + closing) if rest else ""

    def _close(self) -> str:
        """End an open ``<think>`` block before anything else is written."""
        kind = self._open[0] if self._open else None
        self._open = None
        return self._emit("\n</think>") if kind == "reasoning" else ""

    def _block(self, text: str) -> str:
        """``text`` as a new paragraph (a blank line from what came before)."""
        out = self._close()
        if self._tail and self._tail != "\n\n":
            out += self._emit("\n" if self._tail.endswith("\n") else "\n\n")
        return out + self._emit(text)

    def _emit(self, text: str) -> str:
        if text:
            self._parts.append(text)
            self._tail = (self._tail + text)[-2:]
        return text
