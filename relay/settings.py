"""Configuration: every setting, its default and its meaning, in one place.

Settings are read from a mapping (``os.environ``, or a Flask ``app.config``
layered over it) through :func:`load_settings`, which converts and checks
each value and names the offending key when one is wrong. All names carry
the ``CODEX_RELAY_`` prefix except ``REDIS_URL`` and ``OPENAI_API_KEY``,
which keep their conventional names.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["Settings", "load_settings", "setting_name"]


@dataclass(frozen=True)
class Settings:
    """Typed, validated configuration of the relay (web, worker and tools)."""

    #: Redis to use. ``None``: the demo starts an embedded server.
    redis_url: str | None = None
    #: Prefix of every Redis key except the two public pub/sub channels.
    key_prefix: str = "relay:"
    #: Path of the ``codex`` binary; ``None``: the one ``install-codex`` put in place.
    codex_bin: str | None = None
    #: OpenAI-compatible base URL (Responses API). ``None``: OpenAI itself.
    model_base_url: str | None = None
    #: Model name passed to Codex (``None``: Codex's own default).
    model: str | None = None
    #: Path of a Codex ``model_catalog_json`` file describing ``model`` (optional).
    model_catalog: str | None = None
    #: Name of the environment variable holding the provider's API key.
    model_api_key_env: str = "OPENAI_API_KEY"
    #: Retries of a failed model request/stream (Codex's provider setting).
    model_max_retries: int = 2
    #: Where run directories live (``<root>/<runid>/``), for the demo host app.
    runs_root: str | None = None
    #: PEM of the Ed25519 private key that signs run tokens (web process only).
    jwt_private_key: str | None = field(default=None, repr=False)
    #: PEM of the matching public key (workers and MCP tools verify with it).
    jwt_public_key: str | None = None
    #: Seconds a whole turn may take before it ends with ``timeout``.
    turn_timeout: float = 600.0
    #: Seconds without any output from Codex before the turn ends with ``timeout``.
    idle_timeout: float = 120.0
    #: Seconds a worker asked to stop (SIGTERM) lets its running turn go on.
    shutdown_grace: float = 30.0
    #: Seconds between TERM and KILL when stopping Codex.
    kill_grace: float = 1.0
    #: Events kept per session log (approximate cap, Redis ``MAXLEN ~``).
    event_log_maxlen: int = 10_000
    #: Seconds an idle session (record, log, Codex state) is kept.
    session_ttl: int = 86_400
    #: Longest text kept in one event field (command output, tool result) before truncation.
    max_field_chars: int = 32_768
    #: Longest chat message accepted, in characters.
    max_message_chars: int = 16_000
    #: Largest request body accepted, in bytes.
    max_body_bytes: int = 65_536
    #: Chat requests a user may send per minute.
    rate_limit_per_minute: int = 30
    #: Turns one user may have running at once.
    max_running_turns: int = 3
    #: Codex sandbox for shell commands: read-only, workspace-write or danger-full-access.
    sandbox: str = "workspace-write"
    #: How Codex reaches the MCP tools: ``http`` (a long-running server; adds
    #: ~0 ms per turn), ``stdio`` (a server per turn; ~1 s each) or ``off``.
    mcp_transport: str = "http"
    #: URL of the streamable-HTTP MCP server; unset, each worker starts its own on loopback.
    mcp_url: str | None = None
    #: Text placed before every prompt (the agent's profile); host-configurable.
    profile_text: str | None = None
    #: Directory for per-session Codex homes (``None``: the system temp dir).
    work_dir: str | None = None
    #: Seconds between a running turn's heartbeats.
    heartbeat_interval: float = 2.0
    #: Seconds without a heartbeat after which a running turn is declared dead.
    stale_after: float = 15.0
    #: Hard cap on a single stdout line from Codex, in bytes.
    max_line_bytes: int = 64 * 1024 * 1024
    #: Seconds the worker keeps retrying Redis during an outage before failing the turn.
    redis_retry_window: float = 30.0
    #: Largest archive of a Codex thread kept for resuming, in bytes.
    max_thread_archive_bytes: int = 32 * 1024 * 1024
    #: Mount the admin views (``<prefix>/agent/admin/``); they still need the host's consent.
    admin_enabled: bool = True
    #: Path (under the URL prefix) of the Prometheus metrics, behind the admin check.
    metrics_route: str = "/agent/admin/metrics"

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with some values changed (validated again)."""
        return _validated(dataclasses.replace(self, **changes))


#: Environment/config name of each field, for docs and error messages.
_NAMES: dict[str, str] = {
    "redis_url": "REDIS_URL",
    "model_api_key_env": "CODEX_RELAY_MODEL_API_KEY_ENV",
}

_SANDBOXES = ("read-only", "workspace-write", "danger-full-access")


def setting_name(field_name: str) -> str:
    """The environment/config name of a :class:`Settings` field."""
    return _NAMES.get(field_name, "CODEX_RELAY_" + field_name.upper())


_name = setting_name


def _convert(key: str, raw: Any, default: Any) -> Any:
    if raw is None or (isinstance(raw, str) and raw.strip() == "" and default is None):
        return None
    kind: type[Any] = type(default) if default is not None else str
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            return str(raw).strip().lower() in ("1", "true", "yes", "on")
        if kind is int:
            if isinstance(raw, bool):
                raise ValueError(raw)
            return int(raw)
        if kind is float:
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(key, f"expected {kind.__name__}, got {raw!r}") from None


def _read_key(mapping: Mapping[str, Any], name: str) -> str | None:
    value = mapping.get(name)
    file_name = mapping.get(name + "_FILE")
    if value:
        return str(value)
    if file_name:
        try:
            return Path(str(file_name)).read_text()
        except OSError as exc:
            raise ConfigError(name + "_FILE", f"cannot read {file_name}: {exc.strerror}") from None
    return None


def _validated(settings: Settings) -> Settings:
    positive = (
        "turn_timeout",
        "idle_timeout",
        "event_log_maxlen",
        "session_ttl",
        "max_field_chars",
        "max_message_chars",
        "max_body_bytes",
        "rate_limit_per_minute",
        "max_running_turns",
        "heartbeat_interval",
        "stale_after",
        "max_line_bytes",
        "redis_retry_window",
        "max_thread_archive_bytes",
    )
    for name in positive:
        if getattr(settings, name) <= 0:
            raise ConfigError(_name(name), "must be greater than zero")
    if settings.model_max_retries < 0:
        raise ConfigError(_name("model_max_retries"), "must not be negative")
    if settings.kill_grace < 0:
        raise ConfigError(_name("kill_grace"), "must not be negative")
    if settings.sandbox not in _SANDBOXES:
        raise ConfigError(_name("sandbox"), f"must be one of {', '.join(_SANDBOXES)}")
    if settings.mcp_transport not in ("stdio", "http", "off"):
        raise ConfigError(_name("mcp_transport"), "must be one of stdio, http, off")
    if not settings.metrics_route.startswith("/"):
        raise ConfigError(_name("metrics_route"), "must start with '/'")
    if settings.stale_after <= settings.heartbeat_interval:
        raise ConfigError(_name("stale_after"), "must be longer than the heartbeat interval")
    return settings


def load_settings(mapping: Mapping[str, Any] | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from ``mapping`` (default ``os.environ``).

    Keyword ``overrides`` (field names) win over the mapping. Raises
    :class:`~relay.errors.ConfigError` naming the first bad key.
    """
    source = os.environ if mapping is None else mapping
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        name = _name(f.name)
        if f.name in ("jwt_private_key", "jwt_public_key"):
            raw: Any = _read_key(source, name)
        else:
            raw = source.get(name)
        if raw is not None:
            values[f.name] = _convert(name, raw, f.default)
    for field_name, value in overrides.items():
        default = Settings.__dataclass_fields__[field_name].default
        values[field_name] = _convert(_name(field_name), value, default)
    return _validated(Settings(**values))
