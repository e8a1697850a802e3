"""Map ``codex app-server`` notifications to relay event payloads.

:class:`AppServerNormaliser` is fed the notifications of one turn in order
(see :mod:`relay.jsonrpc`) and returns ``(type, payload)`` pairs in the
schema of DESIGN.md, the same schema :class:`~relay.normalise.CodexNormaliser`
produces for ``codex exec --json``. It does so by translating each
app-server item and turn event into its ``exec`` equivalent and handing it to
a :class:`CodexNormaliser`, so both runners share one mapping of items to
tool cards, one set of field caps and one way of counting usage; only what
``exec`` cannot say is mapped here:

- ``item/agentMessage/delta`` -> ``message.delta {item_id, delta}``;
- ``item/reasoning/summaryTextDelta`` -> ``reasoning.delta {item_id, delta}``
  (a new summary part starts with a blank line, as the whole text joins them);
- ``item/commandExecution/outputDelta`` -> ``tool.output {tool_id, delta}``,
  at most ``max_chars`` characters per tool (the last piece then says
  ``"truncated": true`` and later output is dropped);
- ``turn/plan/updated`` -> a ``todo`` tool card, completed with the turn.

Housekeeping notifications (rate limits, status changes, MCP start-up) are
left out; anything unknown is passed on as ``codex.<method>``, as unknown
``exec`` events are. Shapes seen with ``@openai/codex`` 0.169.0 and 0.171.0.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from . import events as ev
from .jsonrpc import Malformed, Notification
from .normalise import CodexNormaliser, Normalised

__all__ = ["PLAN_TOOL_ID", "AppServerNormaliser"]

#: The tool id of the plan (todo) card of a turn.
PLAN_TOOL_ID: Final = "plan"

#: app-server item types and their ``exec --json`` names.
_ITEM_TYPES: Final = {
    "agentMessage": "agent_message",
    "reasoning": "reasoning",
    "commandExecution": "command_execution",
    "mcpToolCall": "mcp_tool_call",
    "fileChange": "file_change",
    "webSearch": "web_search",
}
#: app-server item statuses and their ``exec --json`` names ("declined": an approval said no).
_STATUSES: Final = {"inProgress": "in_progress", "pending": "pending"}
#: Notifications that tell the user nothing (or nothing the items do not).
_QUIET: Final = frozenset(
    {
        "thread/started",
        "thread/status/changed",
        "thread/tokenUsage/updated",
        "thread/goal/cleared",
        "thread/name/updated",
        "thread/settings/updated",
        "thread/readState/changed",
        "turn/started",
        "turn/diff/updated",
        "account/rateLimits/updated",
        "remoteControl/status/changed",
        "serverRequest/resolved",
        "mcpServer/startupStatus/updated",
        "item/reasoning/summaryPartAdded",
        "item/reasoning/textDelta",
        "item/fileChange/outputDelta",
        "item/fileChange/patchUpdated",
        "item/mcpToolCall/progress",
        "skills/changed",
        "deprecationNotice",
        "hook/started",
        "hook/completed",
    }
)
_TOKEN_FIELDS: Final = {
    "input_tokens": "inputTokens",
    "cached_input_tokens": "cachedInputTokens",
    "output_tokens": "outputTokens",
    "reasoning_output_tokens": "reasoningOutputTokens",
}


@dataclass
class AppServerNormaliser:
    """Stateful mapper for the app-server notifications of one turn.

    ``thread_total`` is the thread's cumulative usage before this turn;
    ``max_chars`` caps every large text field and each tool's live output.
    """

    max_chars: int = 32_768
    thread_total: dict[str, int] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    thread_id: str | None = None
    turn_id: str | None = None
    #: Codex's status of the turn once ``turn/completed`` arrived
    #: (``completed``, ``interrupted``, ``failed``), else ``None``.
    status: str | None = None
    _exec: CodexNormaliser = field(init=False)
    _items: dict[str, dict[str, Any]] = field(default_factory=dict)
    _output_chars: dict[str, int] = field(default_factory=dict)
    _summary_part: dict[str, int] = field(default_factory=dict)
    _usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    _plan: list[dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        self._exec = CodexNormaliser(self.max_chars, dict(self.thread_total), self.clock)

    @property
    def failure(self) -> str | None:
        """Codex's message when the turn failed (``None`` otherwise)."""
        return self._exec.failure

    @property
    def usage_total(self) -> dict[str, int]:
        """The thread's cumulative usage after this turn (before it, until it ends)."""
        return self._exec.thread_total

    def new_thread(self) -> None:
        """The thread could not be resumed: a new one counts its usage from zero."""
        self._exec.thread_total = {}

    def item(self, item_id: str) -> dict[str, Any] | None:
        """The latest state of a running command or file change (for its approval)."""
        return self._items.get(item_id)

    def approval(
        self, kind: str, params: dict[str, Any], approval_id: str, expires_at: float
    ) -> dict[str, Any]:
        """The ``approval`` of ``approval.requested`` for a server request of ``kind``.

        A file change's request names only its item, so the changes (with
        their diffs, within ``max_chars`` in all) come from that item.
        """
        tool_id = str(params.get("itemId") or "")
        item = self._items.get(tool_id) or {}
        approval: dict[str, Any] = {"id": approval_id, "kind": kind, "expires_at": expires_at}
        if tool_id:
            approval["tool_id"] = tool_id
        if kind == "command":
            command = params.get("command") or item.get("command")
            cwd = params.get("cwd") or item.get("cwd")
            if isinstance(command, str):
                approval["command"], _ = ev.cap_text(command, self.max_chars)
            if isinstance(cwd, str):
                approval["cwd"] = cwd
        elif kind == "file_change":
            changes = item.get("changes")
            approval["changes"] = _capped_changes(
                changes if isinstance(changes, list) else [], self.max_chars
            )
        elif kind == "mcp":
            if isinstance(params.get("serverName"), str):
                approval["server"] = params["serverName"]
        reason = params.get("reason") if kind != "mcp" else params.get("message")
        if isinstance(reason, str) and reason:
            approval["reason"], _ = ev.cap_text(reason, self.max_chars)
        return approval

    def turn_started(self, thread_id: str, turn_id: str) -> list[Normalised]:
        """Codex accepted ``turn/start``: the ``turn.started`` event."""
        self.thread_id, self.turn_id = thread_id, turn_id
        self._exec.thread_id = thread_id
        return [(ev.TURN_STARTED, {"thread_id": thread_id})]

    def feed(self, message: Notification | Malformed) -> list[Normalised]:
        """Normalise one notification (or a line that was not JSON-RPC)."""
        if isinstance(message, Malformed):
            text = f"Codex printed a line that is not a JSON-RPC message ({message.reason})"
            if message.preview:
                text += f": {message.preview}"
            return [(ev.ERROR, ev.error_payload(text, "bad_output"))]
        handler = _HANDLERS.get(message.method)
        if handler is not None:
            return handler(self, message.params)
        if message.method in _QUIET:
            return []
        return [
            self._exec.passthrough(message.method, {"method": message.method, **message.params})
        ]

    # -- items --------------------------------------------------------------

    def _item(self, params: dict[str, Any], phase: str) -> list[Normalised]:
        item = params.get("item")
        kind = item.get("type") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(kind, str):
            return [self._exec.passthrough(phase, params)]
        if kind == "userMessage":
            return []  # the relay logged the user's message as turn.queued
        exec_kind = _ITEM_TYPES.get(kind)
        if exec_kind is None:
            # Unknown item types once, when they are complete (exec passes both phases).
            return [self._exec.passthrough(kind, item)] if phase == "item.completed" else []
        item_id = str(item.get("id") or "")
        if kind in ("commandExecution", "fileChange"):
            if phase == "item.completed":
                self._items.pop(item_id, None)
            else:
                self._items[item_id] = item
        if kind == "reasoning" and not _summary(item):
            return []  # no summary: nothing a user could read
        return self._exec.feed({"type": phase, "item": _as_exec_item(exec_kind, item)})

    def _item_started(self, params: dict[str, Any]) -> list[Normalised]:
        return self._item(params, "item.started")

    def _item_completed(self, params: dict[str, Any]) -> list[Normalised]:
        return self._item(params, "item.completed")

    # -- live text ----------------------------------------------------------

    def _message_delta(self, params: dict[str, Any]) -> list[Normalised]:
        delta = params.get("delta")
        if not isinstance(delta, str) or not delta:
            return []
        return [(ev.MESSAGE_DELTA, {"item_id": str(params.get("itemId") or ""), "delta": delta})]

    def _reasoning_delta(self, params: dict[str, Any]) -> list[Normalised]:
        delta = params.get("delta")
        if not isinstance(delta, str) or not delta:
            return []
        item_id = str(params.get("itemId") or "")
        index = params.get("summaryIndex")
        index = index if isinstance(index, int) and not isinstance(index, bool) else 0
        previous = self._summary_part.setdefault(item_id, index)
        if index > previous:
            # The whole reasoning text joins the summary parts with a blank line.
            self._summary_part[item_id] = index
            delta = "\n\n" + delta
        return [(ev.REASONING_DELTA, {"item_id": item_id, "delta": delta})]

    def _output_delta(self, params: dict[str, Any]) -> list[Normalised]:
        delta = params.get("delta")
        if not isinstance(delta, str) or not delta:
            return []
        tool_id = str(params.get("itemId") or "")
        room = self.max_chars - self._output_chars.get(tool_id, 0)
        if room <= 0:
            return []  # over the cap: the rest is in the completed tool's output
        piece = delta[:room]
        self._output_chars[tool_id] = self.max_chars - room + len(piece)
        payload: dict[str, Any] = {"tool_id": tool_id, "delta": piece}
        if len(delta) > room:
            payload["truncated"] = True
        return [(ev.TOOL_OUTPUT, payload)]

    # -- the plan -----------------------------------------------------------

    def _plan_updated(self, params: dict[str, Any]) -> list[Normalised]:
        steps = params.get("plan")
        items = (
            [_plan_step(s) for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []
        )
        phase = "item.started" if self._plan is None else "item.updated"
        self._plan = items
        return self._exec.feed({"type": phase, "item": _plan_item(items, "in_progress")})

    # -- the turn -----------------------------------------------------------

    def _token_usage(self, params: dict[str, Any]) -> list[Normalised]:
        usage = params.get("tokenUsage")
        total = usage.get("total") if isinstance(usage, dict) else None
        if isinstance(total, dict):
            # A resumed thread first repeats its previous turn's figures: keep them by turn.
            self._usage[str(params.get("turnId") or "")] = total
        return []

    def _error(self, params: dict[str, Any]) -> list[Normalised]:
        error = params.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        text = str(message or "Codex reported an error")
        if params.get("willRetry") is True:
            capped, _ = ev.cap_text(text, self.max_chars)
            return [(ev.ERROR, ev.error_payload(capped, "codex_retrying", retryable=True))]
        return self._exec.feed({"type": "error", "message": text})

    def _turn_completed(self, params: dict[str, Any]) -> list[Normalised]:
        turn = params.get("turn")
        turn = turn if isinstance(turn, dict) else {}
        self.status = str(turn.get("status") or "completed")
        turn_id = str(turn.get("id") or self.turn_id or "")
        out: list[Normalised] = []
        if self._plan is not None:
            out += self._exec.feed({"type": "item.completed", "item": _plan_item(self._plan)})
        if self.status == "failed":
            error = turn.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            out += self._exec.feed({"type": "turn.failed", "error": {"message": message}})
        total = self._usage.get(turn_id)
        if total is not None and self.status != "failed":
            # As with exec, a failed turn reports no usage (Codex prints none there).
            usage = {name: total.get(key) for name, key in _TOKEN_FIELDS.items()}
            out += self._exec.feed({"type": "turn.completed", "usage": usage})
        return out


def _summary(item: dict[str, Any]) -> str:
    parts = item.get("summary")
    if not isinstance(parts, list):
        return ""
    return "\n\n".join(p for p in parts if isinstance(p, str) and p)


def _status(item: dict[str, Any]) -> str | None:
    status = item.get("status")
    return _STATUSES.get(status, status) if isinstance(status, str) else None


def _as_exec_item(kind: str, item: dict[str, Any]) -> dict[str, Any]:
    """The ``exec --json`` form of an app-server item (only the fields the mapping reads)."""
    out: dict[str, Any] = {"id": item.get("id"), "type": kind, "status": _status(item)}
    if kind == "agent_message":
        out["text"] = item.get("text")
    elif kind == "reasoning":
        out["text"] = _summary(item)
    elif kind == "command_execution":
        out.update(
            command=item.get("command"),
            # As exec prints it: "" until there is output (app-server: null).
            aggregated_output=item.get("aggregatedOutput") or "",
            exit_code=item.get("exitCode"),
        )
    elif kind == "mcp_tool_call":
        result = item.get("result")
        if isinstance(result, dict):
            result = {
                "content": result.get("content"),
                "structured_content": result.get("structuredContent"),
            }
        out.update(
            server=item.get("server"),
            tool=item.get("tool"),
            arguments=item.get("arguments"),
            result=result,
            error=item.get("error"),
        )
    elif kind == "file_change":
        changes = item.get("changes")
        out["changes"] = (
            [_change(c) for c in changes if isinstance(c, dict)]
            if isinstance(changes, list)
            else []
        )
    elif kind == "web_search":
        out.update(query=item.get("query"), action=item.get("action"))
    return out


def _change(change: dict[str, Any]) -> dict[str, Any]:
    kind = change.get("kind")
    return {
        "path": change.get("path"),
        "kind": kind.get("type") if isinstance(kind, dict) else kind,
    }


def _capped_changes(changes: list[Any], limit: int) -> list[dict[str, Any]]:
    """Each change's path and kind, and its diff while the diffs fit in ``limit`` characters."""
    out, room = [], limit
    for change in changes:
        if not isinstance(change, dict):
            continue
        entry = _change(change)
        diff = change.get("diff")
        if isinstance(diff, str):
            entry["diff"], cut = ev.cap_text(diff, max(room, 0))
            room -= len(entry["diff"])
            if cut:
                entry["truncated"] = True
        out.append(entry)
    return out


def _plan_step(step: dict[str, Any]) -> dict[str, Any]:
    status = step.get("status")
    return {
        "step": str(step.get("step") or ""),
        "status": _STATUSES.get(status, status) if isinstance(status, str) else "pending",
    }


def _plan_item(items: list[dict[str, Any]], status: str = "completed") -> dict[str, Any]:
    return {"id": PLAN_TOOL_ID, "type": "todo_list", "items": items, "status": status}


_HANDLERS: dict[str, Callable[[AppServerNormaliser, dict[str, Any]], list[Normalised]]] = {
    "item/started": AppServerNormaliser._item_started,
    "item/completed": AppServerNormaliser._item_completed,
    "item/agentMessage/delta": AppServerNormaliser._message_delta,
    "item/reasoning/summaryTextDelta": AppServerNormaliser._reasoning_delta,
    "item/commandExecution/outputDelta": AppServerNormaliser._output_delta,
    "turn/plan/updated": AppServerNormaliser._plan_updated,
    "thread/tokenUsage/updated": AppServerNormaliser._token_usage,
    "error": AppServerNormaliser._error,
    "turn/completed": AppServerNormaliser._turn_completed,
}
