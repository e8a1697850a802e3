"""Reading a JSON request body: bounded, an object, no unknown fields.

Every relay route that takes a body reads it here, so they all refuse the
same things the same way (:class:`~relay.errors.BadRequest`, or
:class:`~relay.errors.BodyTooLarge`): a body over the size limit (checked
before and while reading, whatever ``Content-Length`` claims), another
content type (which also keeps cross-site HTML forms out: they cannot send
``application/json`` without a CORS preflight), bad JSON, anything but an
object, and fields the route does not know.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson
from flask import request

from relay.errors import BadRequest, BodyTooLarge

__all__ = ["read_json_object"]


def read_json_object(max_bytes: int, fields: Collection[str]) -> dict[str, Any]:
    """The request's JSON object, of at most ``max_bytes`` and only the keys in ``fields``."""
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
