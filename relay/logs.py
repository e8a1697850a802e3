"""Structured JSON logs: one object per line, with context ids and no secrets.

:class:`JsonFormatter` writes ``{"ts", "level", "logger", "message", ...}``
plus the context fields ``request_id``, ``session``, ``turn`` and
``job_id`` when they are known: passed with ``extra=``, bound for a block
with :func:`log_context`, taken from the current RQ job's id, or read from
the turn job id RQ's own lines name (``turn-<session>-<n>``).

Every line goes through :func:`redact`, which masks anything that looks
like a JWT, a PEM block, an ``sk-...`` or ``crk_...`` API key or a password
in a Redis URL. Fields that carry message bodies (``body``, ``prompt``, ``text``,
``message_text``) are dropped unless ``CODEX_RELAY_LOG_BODIES`` is on or
the level is DEBUG.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import re
import sys
from collections.abc import Iterator
from typing import Any

import orjson

from .api_keys import KEY_PREFIX

__all__ = ["JsonFormatter", "configure_logging", "log_context", "redact"]

#: Context fields copied onto every record when known.
CONTEXT_FIELDS = ("request_id", "session", "turn", "job_id")
#: ``extra=`` fields that carry user or model text (dropped unless bodies are on).
BODY_FIELDS = frozenset({"body", "prompt", "text", "message_text", "output"})

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "codex_relay_log_context", default=None
)

_PATTERNS = (
    (
        re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\Z)", re.S),
        "[REDACTED PEM]",
    ),
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}(?:\.[A-Za-z0-9_-]*)?"), "[REDACTED JWT]"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), "[REDACTED KEY]"),
    (re.compile(rf"\b{re.escape(KEY_PREFIX)}[A-Za-z0-9_-]{{8,}}"), "[REDACTED KEY]"),
    (re.compile(r"(rediss?|redis\+sentinel|unix)://([^:@/\s]*):([^@/\s]+)@"), r"\1://\2:***@"),
)

# Attributes every LogRecord has; anything else came in through ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def redact(text: str) -> str:
    """``text`` with JWTs, PEM blocks, ``sk-``/``crk_`` keys and Redis passwords masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add context fields (e.g. ``session=..., turn=...``) to every log record in the block."""
    current = dict(_context.get() or {})
    current.update({k: v for k, v in fields.items() if v is not None})
    token = _context.set(current)
    try:
        yield
    finally:
        _context.reset(token)


def _job_context() -> dict[str, Any]:
    """Context of the RQ job running in this process (turn jobs are ``turn-<session>-<n>``)."""
    rq_job = sys.modules.get("rq.job")
    if rq_job is None:
        return {}
    try:
        job = rq_job.get_current_job()
    except Exception:  # no connection, no job: no context
        return {}
    if job is None:
        return {}
    found: dict[str, Any] = {"job_id": job.id}
    match = re.fullmatch(r"turn-([0-9a-f]{32})-(\d+)", job.id)
    if match:
        found["session"] = match.group(1)
        found["turn"] = int(match.group(2))
    return found


_JOB_ID = re.compile(r"\bturn-([0-9a-f]{32})-(\d+)\b")
_DESCRIPTION = re.compile(r"\bturn (\d+) of session ([0-9a-f]{32})\b")


def _message_context(message: str) -> dict[str, Any]:
    """Ids named in RQ's own lines (``Job OK (turn-<session>-<n>)``, its job description)."""
    match = _JOB_ID.search(message)
    if match:
        return {"job_id": match.group(0), "session": match.group(1), "turn": int(match.group(2))}
    match = _DESCRIPTION.search(message)
    if match:
        session, turn = match.group(2), int(match.group(1))
        return {"job_id": f"turn-{session}-{turn}", "session": session, "turn": turn}
    return {}


class JsonFormatter(logging.Formatter):
    """Format records as one redacted JSON object per line."""

    def __init__(self, bodies: bool = False) -> None:
        super().__init__()
        self.bodies = bodies

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line (no trailing newline)."""
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _job_context() or _message_context(out["message"])
        context.update(_context.get() or {})
        bodies = self.bodies or record.levelno <= logging.DEBUG
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_"):
                continue
            if key in BODY_FIELDS and not bodies:
                continue
            context[key] = value
        for key in CONTEXT_FIELDS:
            if key in context:
                out[key] = context.pop(key)
        for key, value in context.items():
            out.setdefault(key, value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        line = orjson.dumps(out, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        return redact(line)


def configure_logging(level: int | str = "INFO", json: bool = True, bodies: bool = False) -> None:
    """Send every log record (the relay's and RQ's) to stderr, as JSON lines by default.

    Replaces the root logger's handlers, and makes RQ's worker logger
    propagate to it so RQ adds no coloured handler of its own.
    """
    if isinstance(level, str):
        level = level.upper()
    handler = logging.StreamHandler(sys.stderr)
    if json:
        handler.setFormatter(JsonFormatter(bodies))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("rq", "rq.worker", "rq.scheduler"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
