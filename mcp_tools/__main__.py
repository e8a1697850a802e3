"""``python -m mcp_tools``: the codex_relay MCP server.

Usage::

    python -m mcp_tools                                   # stdio, one turn
    python -m mcp_tools --http [--host H] [--port N]      # streamable HTTP, long-running

Environment:

``CODEX_RELAY_JWT_PUBLIC_KEY`` / ``CODEX_RELAY_JWT_PUBLIC_KEY_FILE``
    the PEM public key that verifies run tokens (required);
``CODEX_RELAY_RUN_TOKEN``
    stdio mode: the turn's run token (required);
``REDIS_URL``, ``CODEX_RELAY_KEY_PREFIX``
    where revoked sessions are recorded (required for ``--http``; in stdio
    mode revocation is checked only when ``REDIS_URL`` is set);
``CODEX_RELAY_RUNS_ROOT``
    where run directories live when a token has no ``run_dir`` claim.

Logs and the audit lines go to stderr, never to stdout (the stdio protocol
channel). Exit status 2 means a missing or bad setting (named on stderr).
"""

from __future__ import annotations

import argparse
import logging
import sys


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mcp_tools", description="The codex_relay MCP server (stdio by default)."
    )
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP instead")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="HTTP port (0: any free port)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the server in the mode the arguments ask for; returns the exit status."""
    args = _parse(argv)
    # Configure logging before the SDK does: MCPServer() calls logging.basicConfig
    # at INFO, which would repeat every tool failure the audit line already has.
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    from .audit import send_audit_to

    send_audit_to(sys.stderr)
    if not args.http:
        from .server import stdio_main

        return stdio_main()
    from relay.errors import ConfigError
    from relay.settings import load_settings

    from .http_server import READY_PREFIX, McpHttpServer
    from .server import authoriser_from_settings

    try:
        authoriser = authoriser_from_settings(load_settings(), require_redis=True)
        server = McpHttpServer(authoriser, args.host, args.port)
    except ConfigError as exc:
        print(f"codex_relay MCP server: {exc.key} {exc.reason}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"codex_relay MCP server: {exc}", file=sys.stderr)
        return 2
    server.run(lambda url: print(f"{READY_PREFIX}{url}", file=sys.stderr, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
