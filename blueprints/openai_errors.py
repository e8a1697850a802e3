"""The OpenAI facade's errors: the relay's error tree in OpenAI's shape.

Every error the facade answers, whether as a response or as the one
``data: {"error": ...}`` line of a stream that cannot go on, is built here:
``{"error": {"message", "type", "param", "code"}}``. The HTTP status of a
relay error comes from :data:`blueprints.errors.STATUS`, the one table every
relay route uses; only the body's shape differs from the panel's routes.

A failed turn (and an unexpected error) also says ``x-should-retry: false``,
which OpenAI's SDKs obey: they retry a 5xx by default, and a retry here would
start the agent's whole turn again, commands and edits included.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Blueprint, Response, jsonify
from werkzeug.exceptions import HTTPException

from relay import errors
from relay.openai_shapes import error_body

from .errors import status_of

__all__ = [
    "openai_error_response",
    "register_openai_error_handlers",
    "relay_error_body",
    "unavailable_body",
]

log = logging.getLogger("codex_relay.openai")

#: OpenAI's SDKs obey this header over their own retry rules.
_NO_RETRY = "x-should-retry"
_UNAVAILABLE = "The relay's Redis is unavailable; try again shortly."


def relay_error_body(exc: errors.RelayError) -> tuple[int, dict[str, Any]]:
    """``(status, OpenAI error body)`` of a relay error."""
    status = status_of(exc)
    return status, error_body(exc.message, status, exc.code, getattr(exc, "param", None))


def unavailable_body() -> tuple[int, dict[str, Any]]:
    """``(503, body)`` for a Redis outage."""
    return 503, error_body(_UNAVAILABLE, 503, "unavailable")


def openai_error_response(status: int, body: dict[str, Any]) -> Response:
    """A JSON error response in OpenAI's shape."""
    response = jsonify(body)
    response.status_code = status
    return response


def _relay_error(exc: errors.RelayError) -> Response:
    response = openai_error_response(*relay_error_body(exc))
    if isinstance(exc, errors.RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, errors.TurnFailed):
        response.headers[_NO_RETRY] = "false"
    return response


def _redis_error(exc: Exception) -> Response:
    log.warning("Redis unavailable: %s", exc)
    return openai_error_response(*unavailable_body())


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = (exc.name or "error").lower().replace(" ", "_").replace("'", "")
    message = exc.description or exc.name or "Error."
    return openai_error_response(status, error_body(message, status, code))


def _unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    log.exception("unexpected error in an OpenAI facade route")
    response = openai_error_response(
        500, error_body("The relay hit an internal error.", 500, "internal_error")
    )
    response.headers[_NO_RETRY] = "false"
    return response


def register_openai_error_handlers(bp: Blueprint) -> None:
    """Install the handlers on the facade's blueprint."""
    bp.register_error_handler(errors.RelayError, _relay_error)
    bp.register_error_handler(redis.ConnectionError, _redis_error)
    bp.register_error_handler(redis.TimeoutError, _redis_error)
    bp.register_error_handler(HTTPException, _http_error)
    # Flask looks up handlers by status code before by class, app-wide ones
    # included: the relay's app-level 404/405 handlers would win without these.
    bp.register_error_handler(404, _http_error)
    bp.register_error_handler(405, _http_error)
    bp.register_error_handler(Exception, _unexpected)
