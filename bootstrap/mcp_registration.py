"""How each turn's Codex is told about the codex-relay MCP tools.

Two transports, chosen by ``CODEX_RELAY_MCP_TRANSPORT``:

- ``stdio``: Codex starts ``python -m mcp_tools`` for the turn; the run
  token and the public key go into that server's environment only;
- ``http``: Codex connects to a long-running streamable-HTTP server on the
  worker host and sends the run token as a bearer token (from an
  environment variable the shell policy keeps away from commands).

Either way the server is *required*: if it cannot start, Codex exits and
the turn fails with an error instead of running without tools.
"""

from __future__ import annotations

import sys

from mcp_tools import TOKEN_ENV, TOOL_NAMES
from relay.errors import ConfigError
from relay.settings import Settings, setting_name
from relay.turns import TurnRequest

from .codex_home import McpRegistration

__all__ = ["MCP_TOOLS", "mcp_registration"]

#: The tools Codex may call (its allow-list for the server).
MCP_TOOLS = TOOL_NAMES


def mcp_registration(
    settings: Settings, request: TurnRequest
) -> tuple[McpRegistration | None, str | None]:
    """The MCP registration for this turn and the token Codex must hold (HTTP only)."""
    if settings.mcp_transport == "off":
        return None, None
    if settings.mcp_transport == "http":
        if not settings.mcp_url:
            raise ConfigError(
                setting_name("mcp_url"),
                "the worker has no MCP server URL, so the run's tools are unavailable",
            )
        return McpRegistration(transport={"url": settings.mcp_url}, tools=MCP_TOOLS), request.token
    # The stdio server reads these as its settings (and the token as its own variable).
    env = {
        TOKEN_ENV: request.token,
        setting_name("jwt_public_key"): settings.jwt_public_key or "",
        setting_name("key_prefix"): settings.key_prefix,
        setting_name("token_leeway"): str(settings.token_leeway),
    }
    if settings.runs_root:
        env[setting_name("runs_root")] = settings.runs_root
    # No REDIS_URL here: config.toml is readable by the agent's own commands, and
    # Redis credentials must not reach them. Revocation still holds: deleting a
    # session cancels its turn, and this per-turn server dies with Codex.
    transport = {"command": sys.executable, "args": ["-m", "mcp_tools"]}
    return McpRegistration(transport=transport, tools=MCP_TOOLS, env=env), None
