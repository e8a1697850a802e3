"""JSON-RPC the way ``codex app-server`` speaks it, without any I/O.

``codex app-server`` reads and writes one JSON object a line on stdio (the
lines are framed by :class:`relay.jsonl.JsonLinesDecoder`); the objects are
JSON-RPC 2.0 without the ``"jsonrpc"`` member (0.169.0, 0.171.0). Three kinds
arrive from Codex:

- a *response* to one of our requests: ``{"id", "result"}`` or ``{"id", "error"}``;
- a *notification*: ``{"method", "params"}`` (deltas, items, the turn's end);
- a *server request*: ``{"id", "method", "params"}``, which waits for our
  answer (approvals; the turn waits meanwhile).

:class:`RpcChannel` numbers our requests, remembers which method each id
was for (so a response says what it answers), classifies what arrives, and
encodes what we send as bytes ready for Codex's stdin. Nothing here touches
a process, Redis or Flask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from .jsonl import BadLine

__all__ = [
    "INVALID_PARAMS",
    "METHOD_NOT_FOUND",
    "Malformed",
    "Notification",
    "Response",
    "RpcChannel",
    "RpcError",
    "RpcMessage",
    "ServerRequest",
    "parse_message",
]

#: JSON-RPC error code: the method is not supported (here: a server request we do not serve).
METHOD_NOT_FOUND: Final = -32601
#: JSON-RPC error code: the parameters are not acceptable.
INVALID_PARAMS: Final = -32602

RequestId = int | str
_PREVIEW_CHARS = 200


@dataclass(frozen=True)
class RpcError:
    """The ``error`` member of a JSON-RPC response."""

    code: int
    message: str
    data: Any = None


@dataclass(frozen=True)
class Response:
    """Codex's answer to one of our requests; ``method`` is the request's (``""``: unknown id)."""

    id: RequestId
    method: str
    result: Any = None
    error: RpcError | None = None


@dataclass(frozen=True)
class Notification:
    """A message from Codex that needs no answer."""

    method: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerRequest:
    """A request from Codex (an approval): it waits for :meth:`RpcChannel.reply`."""

    id: RequestId
    method: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Malformed:
    """A JSON object (or line) that is not a JSON-RPC message."""

    reason: str
    preview: str


RpcMessage = Response | Notification | ServerRequest | Malformed


def _is_id(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def _preview(obj: Any) -> str:
    return orjson.dumps(obj)[: _PREVIEW_CHARS * 4].decode("utf-8", "replace")[:_PREVIEW_CHARS]


def parse_message(obj: dict[str, Any] | BadLine) -> RpcMessage:
    """Classify one decoded line (``method`` for a response is left empty)."""
    if isinstance(obj, BadLine):
        return Malformed(obj.reason, obj.preview)
    method = obj.get("method")
    params = obj.get("params", {})
    if params is None:
        params = {}
    if method is not None:
        if not isinstance(method, str) or not method or not isinstance(params, dict):
            return Malformed(
                "a method must be a non-empty string with object params", _preview(obj)
            )
        if "id" in obj:
            if not _is_id(obj["id"]):
                return Malformed("a request id must be a number or a string", _preview(obj))
            return ServerRequest(obj["id"], method, params)
        return Notification(method, params)
    if "id" in obj and _is_id(obj["id"]):
        if "error" in obj:
            return Response(obj["id"], "", error=_error(obj["error"]))
        if "result" in obj:
            return Response(obj["id"], "", result=obj["result"])
    return Malformed("neither a request, a notification nor a response", _preview(obj))


def _error(raw: Any) -> RpcError:
    if not isinstance(raw, dict):
        return RpcError(0, str(raw))
    code = raw.get("code")
    return RpcError(
        code if isinstance(code, int) and not isinstance(code, bool) else 0,
        str(raw.get("message") or "error"),
        raw.get("data"),
    )


class RpcChannel:
    """The client's side of one app-server connection: ids, pending requests, encoding."""

    def __init__(self) -> None:
        self._next_id = 1
        #: Requests sent and not yet answered: id -> method.
        self.pending: dict[RequestId, str] = {}

    def request(self, method: str, params: dict[str, Any] | None = None) -> tuple[int, bytes]:
        """A new request: its id and the line to write."""
        request_id = self._next_id
        self._next_id += 1
        self.pending[request_id] = method
        return request_id, _line({"id": request_id, "method": method, "params": params or {}})

    def notification(self, method: str, params: dict[str, Any] | None = None) -> bytes:
        """A notification line (``initialized`` takes no params)."""
        message: dict[str, Any] = {"method": method}
        if params is not None:
            message["params"] = params
        return _line(message)

    def reply(self, request_id: RequestId, result: Any) -> bytes:
        """The answer to a server request."""
        return _line({"id": request_id, "result": result})

    def reply_error(self, request_id: RequestId, code: int, message: str) -> bytes:
        """An error answer to a server request (one we do not serve)."""
        return _line({"id": request_id, "error": {"code": code, "message": message}})

    def read(self, obj: dict[str, Any] | BadLine) -> RpcMessage:
        """Classify a decoded line; a response is matched to the request it answers."""
        message = parse_message(obj)
        if isinstance(message, Response):
            method = self.pending.pop(message.id, "")
            return Response(message.id, method, message.result, message.error)
        return message


def _line(message: dict[str, Any]) -> bytes:
    return orjson.dumps(message) + b"\n"
