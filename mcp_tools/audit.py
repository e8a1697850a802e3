"""One structured line per tool call, on the logger ``codex_relay.mcp.audit``.

Each record is a JSON object::

    {"event": "mcp.tool_call", "tool": "read_run_file", "arguments": {...},
     "user": "ada", "run": "run-1", "session": "s-1", "tier": "read",
     "ok": true, "result_bytes": 1234, "duration_ms": 3.1}

or, for a refused or failed call, ``"ok": false, "error": {"code", "message"}``
(``user``/``run``/``session`` are null when the token itself was refused).
String arguments longer than :data:`MAX_ARGUMENT_CHARS` are cut and say how
long they were (a report's new ``content`` is not copied into the log).

The server sends this logger to **stderr**: in stdio mode stdout is the MCP
protocol channel and must carry nothing else.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from relay.tokens import RunClaims

__all__ = ["AUDIT_LOGGER", "MAX_ARGUMENT_CHARS", "audit_record", "log_call", "send_audit_to"]

#: Name of the audit logger.
AUDIT_LOGGER = "codex_relay.mcp.audit"
#: Longest string argument copied into a record.
MAX_ARGUMENT_CHARS = 200

logger = logging.getLogger(AUDIT_LOGGER)


def _cut(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_ARGUMENT_CHARS:
        return f"{value[:MAX_ARGUMENT_CHARS]}… ({len(value)} characters)"
    if isinstance(value, Mapping):
        return {str(key): _cut(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_cut(item) for item in value[:20]]
    return value


def audit_record(
    tool: str,
    arguments: Mapping[str, Any],
    claims: RunClaims | None,
    *,
    duration: float,
    result_bytes: int | None = None,
    error: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The audit record of one call (see the module docstring)."""
    record: dict[str, Any] = {
        "event": "mcp.tool_call",
        "tool": tool,
        "arguments": _cut({key: value for key, value in arguments.items() if value is not None}),
        "user": claims.sub if claims else None,
        "run": claims.runid if claims else None,
        "session": claims.session if claims else None,
        "tier": claims.tier if claims else None,
        "ok": error is None,
        "duration_ms": round(duration * 1000, 2),
    }
    if error is None:
        record["result_bytes"] = result_bytes
    else:
        record["error"] = {"code": error[0], "message": error[1][:300]}
    return record


def log_call(
    tool: str,
    arguments: Mapping[str, Any],
    claims: RunClaims | None,
    *,
    duration: float,
    result_bytes: int | None = None,
    error: tuple[str, str] | None = None,
) -> None:
    """Log one call's :func:`audit_record` as a JSON line (INFO, or WARNING when refused)."""
    record = audit_record(
        tool, arguments, claims, duration=duration, result_bytes=result_bytes, error=error
    )
    level = logging.INFO if error is None else logging.WARNING
    logger.log(level, json.dumps(record, ensure_ascii=False, default=str))


def send_audit_to(stream: IO[str] | None = None) -> logging.Handler:
    """Send audit lines (message only) to ``stream`` (default stderr); returns the handler.

    Idempotent per stream; the logger stops propagating so each line is
    written once, whatever the root logger does.
    """
    target = stream if stream is not None else sys.stderr
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is target:
            return handler
    handler = logging.StreamHandler(target)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler
