"""A private ``CODEX_HOME`` per turn, its ``config.toml``, and Codex's environment.

Secrets never go on Codex's command line (``/proc/<pid>/cmdline`` is world
readable): the provider, MCP server and policies are written to
``config.toml`` inside a 0700 directory, and the environment Codex gets is
built from scratch rather than inherited, so the JWT signing key, Redis
credentials and the host's own variables are simply not there. Codex's
shell commands get only the "core" variables (``PATH``, ``HOME``, ...).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relay.settings import Settings

__all__ = ["CodexHome", "McpRegistration", "codex_environment", "mcp_server_table", "render_toml"]

#: Name of the custom model provider in ``config.toml``.
PROVIDER_ID = "codex_relay"
#: Environment variable carrying the turn's run token to an HTTP MCP server.
MCP_TOKEN_ENV = "CODEX_RELAY_MCP_TOKEN"
_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class McpRegistration:
    """How this turn's Codex reaches the codex-relay MCP tools."""

    #: ``{"url": ...}`` for streamable HTTP or ``{"command": ..., "args": [...]}`` for stdio.
    transport: dict[str, Any]
    tools: tuple[str, ...]
    #: Environment of a stdio server (the token and the public key).
    env: dict[str, str] = field(default_factory=dict)
    startup_timeout: float = 20.0
    tool_timeout: float = 60.0


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # JSON string escapes are valid TOML basic-string escapes.
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def render_toml(tables: Mapping[str, Mapping[str, Any]]) -> str:
    """Render ``{table: {key: value}}`` as TOML (``""`` is the root table)."""
    lines: list[str] = []
    for table, values in tables.items():
        if table:
            lines.append(f"\n[{table}]")
        for key, value in values.items():
            if value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines).lstrip("\n") + "\n"


def mcp_server_table(mcp: McpRegistration, bearer_token: str | None = None) -> dict[str, Any]:
    """The ``mcp_servers.codex_relay`` table for ``mcp``.

    An HTTP server's token is read from Codex's environment
    (``bearer_token_env_var``), or, given ``bearer_token``, sent as a header
    set in the thread's config (the app-server runner: a warm Codex was
    started before the turn's token existed). Either way it never reaches
    ``config.toml``, which the agent's commands can read.
    """
    server: dict[str, Any] = dict(mcp.transport)
    server.update(
        required=True,
        enabled_tools=list(mcp.tools),
        startup_timeout_sec=float(mcp.startup_timeout),
        tool_timeout_sec=float(mcp.tool_timeout),
        default_tools_approval_mode="approve",
    )
    if "url" in server:
        if bearer_token is None:
            server["bearer_token_env_var"] = MCP_TOKEN_ENV
        else:
            server["http_headers"] = {"Authorization": f"Bearer {bearer_token}"}
    if mcp.env:
        server["env"] = dict(mcp.env)
    return server


class CodexHome:
    """A fresh, private directory (mode 0700) for one turn: ``home/`` and ``tmp/``.

    ``home`` is the turn's ``CODEX_HOME``; ``tmp`` its temporary directory.
    They are siblings, never nested: Codex 0.169.0 refuses to create its
    sandbox helper (``codex-linux-sandbox``) under the temporary directory,
    and with a system ``bwrap`` every agent command then fails.
    """

    def __init__(self, settings: Settings, session: str) -> None:
        base = settings.work_dir or tempfile.gettempdir()
        os.makedirs(base, mode=0o700, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix=f"codex-home-{session[:12]}-", dir=base))
        os.chmod(self.root, 0o700)
        #: The turn's ``CODEX_HOME`` (and ``HOME``).
        self.path = self.root / "home"
        #: The turn's temporary directory (``TMPDIR``; ``/tmp`` in the turn sandbox).
        self.tmp = self.root / "tmp"
        self.path.mkdir(mode=0o700)
        self.tmp.mkdir(mode=0o700)
        self.settings = settings

    @property
    def sessions_dir(self) -> Path:
        """Where Codex keeps the rollout files needed to resume a thread."""
        return self.path / "sessions"

    def write_config(
        self,
        mcp: McpRegistration | None,
        *,
        sandbox_mode: str,
        developer_instructions: str,
        project_dir: str,
    ) -> Path:
        """Write ``config.toml`` for this turn and return its path.

        Nothing in ``project_dir`` (the run) may steer Codex: no project doc
        (``AGENTS.md``, ``AGENTS.override.md``: ``project_doc_max_bytes = 0``),
        no skills list (``.codex/skills``, ``.agents/skills``), and the
        directory is marked untrusted, so its ``.codex/config.toml`` (hooks,
        MCP servers) is never loaded. The host's profile arrives as developer
        instructions, apart from the user's message.
        """
        s = self.settings
        root: dict[str, Any] = {
            "approval_policy": "never",
            "sandbox_mode": sandbox_mode,
            "check_for_update_on_startup": False,
            "model": s.model,
            "model_catalog_json": s.model_catalog,
            "project_doc_max_bytes": 0,
            "developer_instructions": developer_instructions,
        }
        tables: dict[str, dict[str, Any]] = {"": root}
        if s.model_base_url:
            root["model_provider"] = PROVIDER_ID
            tables[f"model_providers.{PROVIDER_ID}"] = {
                "name": "codex-relay provider",
                "base_url": s.model_base_url,
                "wire_api": "responses",
                "env_key": s.model_api_key_env,
                "request_max_retries": s.model_max_retries,
                "stream_max_retries": s.model_max_retries,
            }
        tables["tools"] = {"update_plan": {"enabled": True}}
        # Codex 0.169.0 lists every SKILL.md under the run's .codex/skills and
        # .agents/skills in its instructions unless this is off.
        tables["skills"] = {"include_instructions": False, "bundled": {"enabled": False}}
        tables[f"projects.{json.dumps(project_dir)}"] = {"trust_level": "untrusted"}
        tables["shell_environment_policy"] = {
            "inherit": "core",
            "exclude": ["*KEY*", "*TOKEN*", "*SECRET*", "*PASSWORD*", "CODEX_RELAY_*", "REDIS*"],
        }
        if mcp is not None:
            tables["mcp_servers.codex_relay"] = mcp_server_table(mcp)
        path = self.path / "config.toml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(render_toml(tables))
        return path

    def remove(self) -> None:
        """Delete the turn's directory and everything Codex and its commands left in it."""
        shutil.rmtree(self.root, ignore_errors=True)


def codex_environment(
    settings: Settings,
    home: CodexHome,
    source: Mapping[str, str] | None = None,
    mcp_token: str | None = None,
) -> dict[str, str]:
    """The whole environment Codex runs with, built explicitly.

    Only the provider's API key (when set) and, for an HTTP MCP server, the
    turn's token are passed; both are excluded from the shell by the
    ``shell_environment_policy`` written in ``config.toml``.
    """
    source = os.environ if source is None else source
    env = {
        "PATH": _SAFE_PATH,
        "HOME": str(home.path),
        "CODEX_HOME": str(home.path),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "dumb",
        "NO_COLOR": "1",
        "TMPDIR": str(home.tmp),
    }
    key_env = settings.model_api_key_env
    api_key = source.get(key_env)
    if api_key:
        env[key_env] = api_key
        if not settings.model_base_url:
            # codex exec reads CODEX_API_KEY for the built-in OpenAI provider.
            env["CODEX_API_KEY"] = api_key
    elif settings.model_base_url:
        # A local provider without auth still needs its env_key to be set.
        env[key_env] = "unused"
    if mcp_token:
        env[MCP_TOKEN_ENV] = mcp_token
    return env
