"""Shared helpers of the MCP tool tests (imported by conftest and the test files)."""

from __future__ import annotations

import asyncio
from typing import Any

from mcp.client import Client
from mcp.types import CallToolResult, Tool

from mcp_tools.auth import RunAuthoriser
from mcp_tools.run_data import DATA_NOTICE, DATA_NOTICE_KEY
from mcp_tools.server import build_server, static_token

RUNID = "run-1"
REPORT = """# Summary

Intro paragraph.

## Introduction

Old intro.

## Results

Loss fell.

### Discussion

It worked.

## Appendix

### Discussion

Extra notes.
"""


class ToolClient:
    """The six tools, called in memory through the SDK client with one token."""

    def __init__(self, authoriser: RunAuthoriser, token: str | None) -> None:
        self.server = build_server(authoriser, static_token(token))

    async def _call(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        async with Client(self.server) as client:
            return await client.call_tool(name, arguments)

    def call(self, name: str, **arguments: Any) -> CallToolResult:
        """Call ``name`` and return the raw result."""
        return asyncio.run(self._call(name, arguments))

    def ok(self, name: str, **arguments: Any) -> dict[str, Any]:
        """Call ``name``, assert it succeeded, return its structured result.

        Every result opens with the run-data notice (``mcp_tools.run_data``);
        it is checked here and left out of what is returned.
        """
        result = self.call(name, **arguments)
        assert not result.is_error, result.content
        assert result.structured_content is not None
        notice, *fields = result.structured_content.items()
        assert notice == (DATA_NOTICE_KEY, DATA_NOTICE), notice
        return dict(fields)

    def error(self, name: str, **arguments: Any) -> str:
        """Call ``name``, assert it failed, return the error text the model sees."""
        result = self.call(name, **arguments)
        assert result.is_error, result.structured_content
        text = result.content[0].text  # type: ignore[union-attr]
        assert "Traceback" not in text
        return text

    def list_tools(self) -> list[Tool]:
        """What ``tools/list`` gives."""

        async def tools() -> list[Tool]:
            async with Client(self.server) as client:
                return list((await client.list_tools()).tools)

        return asyncio.run(tools())

    def tool_names(self) -> list[str]:
        """The names ``tools/list`` gives."""
        return [tool.name for tool in self.list_tools()]
