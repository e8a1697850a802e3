"""codex-relay's MCP server: the run's files and reports, for the agent, scoped by the run JWT.

Run it with ``python -m mcp_tools`` (stdio, one turn) or ``python -m mcp_tools
--http`` (streamable HTTP, long-running). Modules:

* :mod:`mcp_tools.errors`: the tools' exception tree and its one mapping to MCP tool errors;
* :mod:`mcp_tools.auth`: the run token, its tier and the run directory, on every call;
* :mod:`mcp_tools.path_guard`: the one path-safety check every tool uses;
* :mod:`mcp_tools.run_files`: ``describe_run_contents``, ``list_run_files``, ``read_run_file``;
* :mod:`mcp_tools.report_sections`: markdown sections (parse, address, splice, diff);
* :mod:`mcp_tools.report_store`: a report's bytes on disk (lock, backup, atomic replace);
* :mod:`mcp_tools.report_edits`: each report's edit journal (who changed what, and when);
* :mod:`mcp_tools.reports`: ``list_report_sections``, ``read_report_section``,
  ``replace_report_section``;
* :mod:`mcp_tools.report_history`: a report's history, and undoing one of its edits;
* :mod:`mcp_tools.audit`: one JSON line per call on ``codex_relay.mcp.audit``;
* :mod:`mcp_tools.server`: the ``codex_relay`` MCP server and its stdio entry point;
* :mod:`mcp_tools.http_server`: the streamable-HTTP server, in a thread or a subprocess.

Importing this package imports nothing else, so ``python -m mcp_tools`` pays
only for what its mode needs.
"""

__all__ = ["SERVER_NAME", "TOKEN_ENV", "TOOL_NAMES"]

#: The name Codex knows the server by (``mcp_servers.codex_relay``).
SERVER_NAME = "codex_relay"
#: The turn's run token, in the environment of a stdio server (one turn each).
TOKEN_ENV = "CODEX_RELAY_RUN_TOKEN"
#: Every tool, in the order they are listed (also Codex's allow-list for the server).
TOOL_NAMES = (
    "describe_run_contents",
    "list_run_files",
    "read_run_file",
    "list_report_sections",
    "read_report_section",
    "replace_report_section",
)
