"""The one exception tree of codex-relay.

Every failure a caller can act on has its own type and a stable snake_case
``code``, and every one derives from :class:`RelayError`. The HTTP layer
maps them to status codes in exactly one place (``blueprints/errors.py``);
the MCP tools map theirs to tool errors in exactly one place
(``mcp_tools/errors.py``, where the ``ToolError`` branch is defined, beside
the tools that raise it).

::

    RelayError
    ├── ConfigError              a setting has a bad value (names the key)
    ├── CodexBinaryError         the Codex CLI is missing or incompatible
    ├── SandboxUnavailable       the turn sandbox (bubblewrap) cannot be set up here
    ├── RelayUnavailable         Redis or the queue cannot be reached
    │   └── ToolsUnavailable     the MCP tools server did not start
    ├── BadRequest               the request body is malformed
    │   ├── MessageTooLong       the message is over the length limit
    │   ├── BodyTooLarge         the request body is over the size limit
    │   └── BadParameter         one named field of the body is wrong (OpenAI facade)
    ├── NotAuthenticated         no user (host's user_loader returned None)
    │   └── InvalidApiKey        no or unknown API key (OpenAI facade)
    ├── Forbidden                the host refuses this user this run
    ├── NotFound                 unknown run or session (also: not yours)
    │   └── UnknownModel         unknown model id, or a run the key's user may not use
    ├── TurnFailed               the turn ended failed or timed out (OpenAI facade)
    ├── TurnInProgress           the session already has a running turn
    │   └── RequeueRefused       a failed job cannot be retried (session gone or moved on)
    ├── AlreadyResolved          an approval was answered already (names the answer that stood)
    ├── RateLimited              too many requests or running turns
    │   ├── TooManySessions      the user holds the most sessions allowed
    │   ├── StorageExhausted     the user's sessions hold the most bytes allowed
    │   ├── BudgetExhausted      the user spent today's token budget
    │   └── TooManyStreams       the user holds as many open event streams as allowed
    ├── InvalidToken             a run token is forged, expired or malformed
    │   ├── TokenRevoked         its session was deleted
    │   └── TokenScopeError      valid, but not for this run or tier
    └── ToolError                an MCP tool refused a call (mcp_tools.errors)
        ├── Unauthorised, Forbidden, BadArgument, UnsafePath, NotFound (NoSuchEdit),
        ├── WrongKind, TooLarge, BinaryFile, Busy, InternalToolError
        ├── SectionError: AmbiguousSection, NoSuchSection, UnsafeEdit
        └── EditConflict: ReportChanged, AlreadyUndone, BackupMissing
"""

from __future__ import annotations

__all__ = [
    "AlreadyResolved",
    "BadParameter",
    "BadRequest",
    "BodyTooLarge",
    "BudgetExhausted",
    "CodexBinaryError",
    "ConfigError",
    "Forbidden",
    "InvalidApiKey",
    "InvalidToken",
    "MessageTooLong",
    "NotAuthenticated",
    "NotFound",
    "RateLimited",
    "RelayError",
    "RelayUnavailable",
    "RequeueRefused",
    "SandboxUnavailable",
    "StorageExhausted",
    "TokenRevoked",
    "TokenScopeError",
    "TooManySessions",
    "TooManyStreams",
    "ToolsUnavailable",
    "TurnFailed",
    "TurnInProgress",
    "UnknownModel",
]


class RelayError(Exception):
    """Base class of every error codex-relay raises on purpose."""

    code = "relay_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(RelayError):
    """A configuration value is invalid; the message names the key."""

    code = "config_error"

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        #: What is wrong with it, without the key ("must be set").
        self.reason = message


class CodexBinaryError(RelayError):
    """The Codex CLI binary is missing, not executable or incompatible."""

    code = "codex_unavailable"


class SandboxUnavailable(RelayError):
    """The turn sandbox cannot be set up here (no bubblewrap, no user namespaces)."""

    code = "sandbox_unavailable"


class RelayUnavailable(RelayError):
    """A backing service (Redis, the RQ queue) cannot be reached."""

    code = "unavailable"


class ToolsUnavailable(RelayUnavailable):
    """The MCP tools server did not start (or stopped answering)."""

    code = "tools_unavailable"


class BadRequest(RelayError):
    """The request is malformed: bad JSON, wrong types, unknown fields."""

    code = "bad_request"


class MessageTooLong(BadRequest):
    """The chat message exceeds the configured character limit."""

    code = "message_too_long"


class BodyTooLarge(BadRequest):
    """The request body exceeds the configured byte limit."""

    code = "body_too_large"


class BadParameter(BadRequest):
    """One field of the request body is wrong; ``param`` names it (``messages[2].content``)."""

    code = "invalid_value"

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


class NotAuthenticated(RelayError):
    """There is no current user."""

    code = "not_authenticated"


class InvalidApiKey(NotAuthenticated):
    """The request carries no API key, or one the host does not know."""

    code = "invalid_api_key"


class Forbidden(RelayError):
    """The host app refuses this user access to this run."""

    code = "forbidden"


class NotFound(RelayError):
    """The run or session does not exist, or is not the caller's."""

    code = "not_found"


class UnknownModel(NotFound):
    """The model id names no run, or a run the key's user may not use (one answer for both)."""

    code = "model_not_found"
    param = "model"


class TurnFailed(RelayError):
    """The turn ended ``failed`` or ``timeout``; ``status`` is which, the message says why."""

    code = "turn_failed"

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


class TurnInProgress(RelayError):
    """A turn is already running in this session."""

    code = "turn_in_progress"


class RequeueRefused(TurnInProgress):
    """The failed job cannot be requeued (its session is gone or has moved on); HTTP 409."""

    code = "requeue_refused"


class AlreadyResolved(RelayError):
    """An approval already has its answer; ``decision`` and ``by`` say which one stood."""

    code = "already_resolved"

    def __init__(self, message: str, decision: str, by: str) -> None:
        super().__init__(message)
        self.decision = decision
        self.by = by


class RateLimited(RelayError):
    """The user sent too many requests or has too many running turns."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManySessions(RateLimited):
    """The user already holds ``CODEX_RELAY_MAX_SESSIONS_PER_USER`` sessions."""

    code = "too_many_sessions"


class StorageExhausted(RateLimited):
    """The user's sessions hold ``CODEX_RELAY_MAX_STORED_BYTES_PER_USER`` bytes or more."""

    code = "storage_exhausted"


class BudgetExhausted(RateLimited):
    """The user spent ``CODEX_RELAY_DAILY_TOKEN_BUDGET`` tokens today (UTC)."""

    code = "budget_exhausted"


class TooManyStreams(RateLimited):
    """The user already holds ``CODEX_RELAY_MAX_STREAMS_PER_USER`` open event streams."""

    code = "too_many_streams"


class InvalidToken(RelayError):
    """A run token failed verification (signature, expiry, audience, claims)."""

    code = "invalid_token"


class TokenRevoked(InvalidToken):
    """The token's session was deleted, so its tokens are revoked."""

    code = "token_revoked"


class TokenScopeError(InvalidToken):
    """The token is valid but does not grant this run or this tier."""

    code = "token_scope"
