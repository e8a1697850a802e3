"""Reading a Chat Completions request body: checked field by field, hostile input refused.

:func:`parse_chat_request` turns the decoded JSON body into a
:class:`ChatRequest` or raises :class:`~relay.errors.BadParameter` naming
the field (``messages[3].content``), :class:`~relay.errors.UnknownModel`
for a model id that cannot name a run, or
:class:`~relay.errors.MessageTooLong`. What it accepts:

- ``model``: ``"<runid>/<config>"``, one of ``GET /models``;
- ``messages``: ``system``/``developer``/``user``/``assistant`` messages
  whose content is text (a string, or a list of ``text`` parts); the last
  ``user`` message is the turn's message;
- ``stream`` and ``stream_options.include_usage``;
- sampling fields (``temperature``, ``max_tokens``, ...) and anything else
  unknown are ignored: the run's Codex configuration decides those.

Refused with a clear 400: tools and function calling (``tools``,
``functions``, ``tool_choice``, ``tool``/``function`` messages, assistant
``tool_calls``), ``n`` other than 1, non-text content (images, audio,
files), a structured ``response_format``, NUL characters in the message.

A new session given earlier turns (a client without a session id that
resends its conversation) gets them as context: :meth:`ChatRequest.turn_message`
frames them, newest kept first, within the relay's message limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import BadParameter, MessageTooLong, UnknownModel

__all__ = ["ChatMessage", "ChatRequest", "parse_chat_request", "parse_model_id"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_ROLES = frozenset({"system", "developer", "user", "assistant"})
_TOOL_FIELDS = ("tools", "functions", "tool_choice", "function_call")
_MAX_MESSAGES = 4096
#: Longest single earlier message kept in the history given to a new session.
_HISTORY_MESSAGE_CHARS = 4000
_HISTORY_OPEN = "<earlier_conversation>"
_HISTORY_CLOSE = "</earlier_conversation>"
_HISTORY_INTRO = (
    "The chat client sent the conversation so far. It was not held in this session; "
    "use it as context only."
)
_NO_TOOLS = (
    "Function calling is not supported: the agent runs its own tools on the run. "
    "Leave out '{field}'."
)


@dataclass(frozen=True)
class ChatMessage:
    """One message of the conversation, as text."""

    role: str
    text: str


@dataclass(frozen=True)
class ChatRequest:
    """A checked Chat Completions request."""

    model: str
    runid: str
    config: str
    #: The conversation up to and including the last user message.
    messages: tuple[ChatMessage, ...]
    stream: bool = False
    include_usage: bool = False

    @property
    def message(self) -> str:
        """The last user message: the turn's message."""
        return self.messages[-1].text

    def turn_message(self, max_chars: int, with_history: bool) -> str:
        """The message to start the turn with: the last user message, or (``with_history``,
        for a new session) the earlier messages framed as context before it, so long as
        the whole stays within ``max_chars``; the oldest messages are left out first.
        """
        earlier = self.messages[:-1]
        if not with_history or not earlier:
            return self.message
        tail = f"\n{_HISTORY_CLOSE}\n\nThe user's new message:\n{self.message}"
        budget = max_chars - len(_HISTORY_INTRO) - len(_HISTORY_OPEN) - len(tail) - 80
        kept: list[str] = []
        for item in reversed(earlier):
            line = f"[{item.role}] {_as_context(item.text)}"
            if len(line) + 1 > budget:
                break
            kept.append(line)
            budget -= len(line) + 1
        if not kept:
            return self.message
        left_out = len(earlier) - len(kept)
        head = _HISTORY_INTRO
        if left_out:
            head += f" ({left_out} older message{'s' if left_out > 1 else ''} left out.)"
        return f"{head}\n{_HISTORY_OPEN}\n" + "\n".join(reversed(kept)) + tail


def _as_context(text: str) -> str:
    """An earlier message, capped and unable to close the frame around it."""
    text = text.replace("\x00", "").replace(_HISTORY_CLOSE, "").replace(_HISTORY_OPEN, "")
    if len(text) > _HISTORY_MESSAGE_CHARS:
        text = text[: _HISTORY_MESSAGE_CHARS - 1] + "…"
    return text


def parse_model_id(model: object) -> tuple[str, str]:
    """``(runid, config)`` of a model id ``"<runid>/<config>"``."""
    if not isinstance(model, str):
        raise BadParameter("'model' is required and must be a string.", "model")
    runid, slash, config = model.partition("/")
    if not slash or not _NAME.match(runid) or not _NAME.match(config):
        shown = model if len(model) <= 80 else model[:79] + "…"
        raise UnknownModel(
            f"The model {shown!r} does not exist or you do not have access to it "
            "(models are '<runid>/<config>', see GET /models)."
        )
    return runid, config


def parse_chat_request(body: object, max_chars: int) -> ChatRequest:
    """Check a decoded request body; ``max_chars`` is the longest user message accepted."""
    if not isinstance(body, dict):
        raise BadParameter("The request body must be a JSON object.", "body")
    for field in _TOOL_FIELDS:
        if body.get(field) not in (None, [], {}):
            raise BadParameter(_NO_TOOLS.format(field=field), field)
    runid, config = parse_model_id(body.get("model"))
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise BadParameter("'stream' must be true or false.", "stream")
    n = body.get("n", 1)
    if n not in (1, None) or isinstance(n, bool):
        raise BadParameter("Only one choice per request is supported ('n' must be 1).", "n")
    _check_response_format(body.get("response_format"))
    messages = _messages(body.get("messages"))
    last = messages[-1].text
    if not last.strip():
        raise BadParameter("The last user message is empty.", "messages")
    if "\x00" in last:
        raise BadParameter("The last user message contains a NUL character.", "messages")
    if len(last) > max_chars:
        raise MessageTooLong(f"The last user message is longer than {max_chars} characters.")
    return ChatRequest(
        model=f"{runid}/{config}",
        runid=runid,
        config=config,
        messages=messages,
        stream=bool(stream),
        include_usage=_include_usage(body.get("stream_options")),
    )


def _include_usage(options: object) -> bool:
    if options is None:
        return False
    if not isinstance(options, dict):
        raise BadParameter("'stream_options' must be an object.", "stream_options")
    include = options.get("include_usage", False)
    if not isinstance(include, bool) and include is not None:
        raise BadParameter(
            "'stream_options.include_usage' must be true or false.", "stream_options"
        )
    return bool(include)


def _check_response_format(value: object) -> None:
    if value is None:
        return
    kind = value.get("type") if isinstance(value, dict) else None
    if kind != "text":
        raise BadParameter(
            'Only text answers are supported (\'response_format\' must be {"type": "text"}).',
            "response_format",
        )


def _messages(raw: object) -> tuple[ChatMessage, ...]:
    """The conversation up to the last user message, each message as text."""
    if not isinstance(raw, list) or not raw:
        raise BadParameter("'messages' must be a non-empty list.", "messages")
    if len(raw) > _MAX_MESSAGES:
        raise BadParameter(f"At most {_MAX_MESSAGES} messages are accepted.", "messages")
    messages = [_message(item, f"messages[{i}]") for i, item in enumerate(raw)]
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    if last_user < 0:
        raise BadParameter("'messages' holds no user message.", "messages")
    return tuple(messages[: last_user + 1])


def _message(item: object, where: str) -> ChatMessage:
    if not isinstance(item, dict):
        raise BadParameter(f"{where} must be an object.", where)
    role = item.get("role")
    if role in ("tool", "function") or item.get("tool_calls") or item.get("function_call"):
        raise BadParameter(_NO_TOOLS.format(field=f"{where} (a tool message)"), where)
    if role not in _ROLES:
        raise BadParameter(
            f"{where}.role must be one of {', '.join(sorted(_ROLES))}.", f"{where}.role"
        )
    return ChatMessage(str(role), _text(item.get("content"), f"{where}.content", role))


def _text(content: object, where: str, role: object) -> str:
    if isinstance(content, str):
        return content
    if content is None and role == "assistant":
        return ""
    if not isinstance(content, list):
        raise BadParameter(f"{where} must be a string or a list of text parts.", where)
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in ("text", "input_text") or not isinstance(part.get("text"), str):
            shown = kind if isinstance(kind, str) else type(part).__name__
            raise BadParameter(
                f"Only text content is supported ({where}[{j}] is {shown[:40]!r}).",
                f"{where}[{j}]",
            )
        texts.append(part["text"])
    return "\n".join(texts)
