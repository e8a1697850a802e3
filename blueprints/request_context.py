"""What every relay route does with the request before and after its own work.

Tags every log line of the request with its id (the client's ``X-Request-ID``
when it is sane, else a fresh one), and reads a JSON object body within a
byte limit. Shared by the panel's routes and the OpenAI facade.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection
from typing import Any

import orjson
from flask import g, request

from relay.errors import BadRequest, BodyTooLarge
from relay.logs import log_context

__all__ = ["bind_request_id", "read_json_object", "unbind_request_id"]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def bind_request_id() -> None:
    """Tag every log line of this request with its id (the client's X-Request-ID if sane)."""
    given = request.headers.get("X-Request-ID", "")
    context = log_context(request_id=given if _REQUEST_ID.match(given) else secrets.token_hex(8))
    context.__enter__()
    g.codex_relay_log_context = context


def unbind_request_id(exc: BaseException | None) -> None:
    """Undo :func:`bind_request_id` at the end of the request."""
    context = g.pop("codex_relay_log_context", None)
    if context is not None:
        context.__exit__(None, None, None)


def read_json_object(max_bytes: int, fields: Collection[str] | None = None) -> dict[str, Any]:
    """The request body as a JSON object, read no further than ``max_bytes``.

    With ``fields``, a key not among them is refused. Raises
    :class:`BodyTooLarge` or :class:`BadRequest` (not JSON, not an object,
    an unknown field). The content type must be ``application/json``, which
    also keeps cross-site HTML forms out (they cannot send it without a
    CORS preflight).
    """
    if request.content_length is not None and request.content_length > max_bytes:
        raise BodyTooLarge(f"The request body is larger than {max_bytes} bytes.")
    if request.mimetype != "application/json":
        raise BadRequest("Send the body as JSON (Content-Type: application/json).")
    raw = request.stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise BodyTooLarge(f"The request body is larger than {max_bytes} bytes.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    unknown = sorted(set(body) - set(fields)) if fields is not None else []
    if unknown:
        raise BadRequest(f"Unknown field(s): {', '.join(unknown)[:200]}.")
    return body
