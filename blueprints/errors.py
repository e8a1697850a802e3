"""The one place relay errors become HTTP responses.

Every error body is ``{"error": {"code": "<snake_case>", "message": "<sentence>"}}``;
no HTML error page and no stack trace ever leaves a relay route.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Blueprint, Response, jsonify
from werkzeug.exceptions import HTTPException

from mcp_tools import errors as tool_errors
from relay import errors

__all__ = [
    "STATUS",
    "error_response",
    "register_app_error_handlers",
    "register_error_handlers",
    "status_of",
]

log = logging.getLogger("codex_relay.http")

#: HTTP status of each relay error (subclasses inherit their parent's).
STATUS: dict[type[errors.RelayError], int] = {
    errors.BadRequest: 400,
    errors.NotAuthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.TurnInProgress: 409,
    errors.AlreadyResolved: 409,
    errors.TurnFailed: 502,
    errors.RateLimited: 429,
    errors.RelayUnavailable: 503,
    errors.CodexBinaryError: 503,
    errors.SandboxUnavailable: 503,
    errors.ConfigError: 500,
    errors.InvalidToken: 401,
    # The report routes call the report functions of mcp_tools directly.
    tool_errors.ToolError: 400,
    tool_errors.Unauthorised: 401,
    tool_errors.Forbidden: 403,
    tool_errors.UnsafePath: 403,
    tool_errors.NotFound: 404,
    tool_errors.WrongKind: 404,
    tool_errors.EditConflict: 409,
    tool_errors.Busy: 409,
    tool_errors.InternalToolError: 500,
}


def error_response(status: int, code: str, message: str, **extra: str) -> Response:
    """A JSON error response (``extra``: more members of ``error``, e.g. the answer that stood)."""
    response = jsonify({"error": {"code": code, "message": message, **extra}})
    response.status_code = status
    return response


def status_of(exc: errors.RelayError) -> int:
    """The HTTP status of a relay error (its own class's, else its nearest parent's)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def _relay_error(exc: errors.RelayError) -> Response:
    extra = {}
    if isinstance(exc, errors.AlreadyResolved):
        extra = {"decision": exc.decision, "by": exc.by}
    response = error_response(status_of(exc), exc.code, exc.message, **extra)
    if isinstance(exc, errors.RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _redis_error(exc: Exception) -> Response:
    log.warning("Redis unavailable: %s", exc)
    return error_response(
        503, "unavailable", "The relay's Redis is unavailable; try again shortly."
    )


def _http_error(exc: HTTPException) -> Response:
    code = (exc.name or "error").lower().replace(" ", "_").replace("'", "")
    return error_response(exc.code or 500, code, exc.description or exc.name or "Error.")


def _host_handler(exc: Exception) -> Any:
    """The host app's own handler for ``exc``'s type (not a catch-all), if it has one.

    A host callback (the ``user_loader``, say) may raise its own library's
    errors, e.g. flask-jwt-extended's for a bad token; Flask would give them
    to this blueprint's catch-all first, so they are handed back to the host.
    """
    from flask import current_app

    handlers = current_app.error_handler_spec.get(None, {}).get(None, {})
    for cls in type(exc).__mro__:
        if cls in (Exception, BaseException, object):
            return None
        if cls in handlers:
            return handlers[cls]
    return None


def _unexpected(exc: Exception) -> Any:
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    host = _host_handler(exc)
    if host is not None:
        return host(exc)
    log.exception("unexpected error in a relay route")
    return error_response(500, "internal_error", "The relay hit an internal error.")


def register_error_handlers(bp: Blueprint) -> None:
    """Install the handlers on the relay blueprint."""
    bp.register_error_handler(errors.RelayError, _relay_error)
    bp.register_error_handler(redis.ConnectionError, _redis_error)
    bp.register_error_handler(redis.TimeoutError, _redis_error)
    bp.register_error_handler(HTTPException, _http_error)
    bp.register_error_handler(Exception, _unexpected)


def _app_http_error(exc: HTTPException) -> Response | HTTPException:
    # Routing errors (404, 405) happen before a blueprint is chosen; answer
    # them in JSON when the path is one of the relay's, else leave them to the host.
    from flask import request

    if "/agent/" in request.path or request.path.endswith("/agent"):
        return _http_error(exc)
    return exc


def register_app_error_handlers(bp: Blueprint) -> None:
    """JSON for routing errors under the relay's paths (the host keeps its own pages)."""
    bp.app_errorhandler(404)(_app_http_error)
    bp.app_errorhandler(405)(_app_http_error)
