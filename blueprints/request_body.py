"""Reading a route's JSON body: size, content type, syntax, shape, known fields.

Every body a relay route accepts is one small JSON object. :func:`json_object`
refuses anything else with :class:`~relay.errors.BadRequest` (or
:class:`~relay.errors.BodyTooLarge`) before a route looks at its fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from flask import request

from relay.errors import BadRequest, BodyTooLarge

__all__ = ["json_object"]


def json_object(max_bytes: int, fields: Iterable[str]) -> dict[str, Any]:
    """The request's JSON object, at most ``max_bytes``, with no member outside ``fields``."""
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
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise BadRequest(f"Unknown field(s): {', '.join(unknown)[:200]}.")
    return body
