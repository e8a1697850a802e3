"""``python -m mcp_tools`` as a real process: stdio for one turn, HTTP for many."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
from mcp import StdioServerParameters
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from cli.embedded_redis import EmbeddedRedis
from mcp_tools.http_server import READY_PREFIX, start_http_subprocess
from mcp_tools.server import TOOL_NAMES

PROJECT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **extra}


def test_stdio_server_answers_over_stdin_and_stdout_only(
    keypair: tuple[str, str], runs_root: Path, run: Path, mint: Callable[..., str]
) -> None:
    env = _env(
        CODEX_RELAY_RUN_TOKEN=mint(tier="read"),
        CODEX_RELAY_JWT_PUBLIC_KEY=keypair[1],
        CODEX_RELAY_RUNS_ROOT=str(runs_root),
    )
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "test", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "read_run_file", "arguments": {"path": "../outside.txt"}},
        },
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "tools/call",
            "params": {"name": "read_run_file", "arguments": {"path": "notes.txt"}},
        },
    ]
    # stdin stays open until every answer is in, as with Codex: at EOF the SDK
    # cancels the calls still running (mcp 2.3.0).
    process = subprocess.Popen(
        [sys.executable, "-m", "mcp_tools"],
        env=env,
        cwd=run,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("".join(json.dumps(request) + "\n" for request in requests))
    process.stdin.flush()
    assert process.stderr is not None
    lines = [process.stdout.readline() for _ in range(4)]
    process.stdin.close()
    with process.stdout, process.stderr:
        rest, stderr = process.stdout.read(), process.stderr.read()
    process.wait(30)
    done = subprocess.CompletedProcess(process.args, 0, "".join(lines) + rest, stderr)
    answers = {message["id"]: message for message in map(json.loads, done.stdout.splitlines())}
    assert sorted(answers) == [1, 2, 3, 4]  # every stdout line is a JSON-RPC answer
    assert answers[1]["result"]["serverInfo"]["name"] == "codex_relay"
    assert [tool["name"] for tool in answers[2]["result"]["tools"]] == list(TOOL_NAMES)
    assert answers[3]["result"]["isError"] is True
    assert answers[4]["result"]["structuredContent"]["text"] == "top-level note\n"
    audit = [json.loads(line) for line in done.stderr.splitlines() if '"mcp.tool_call"' in line]
    # Calls run in worker threads, so their audit lines may come in either order.
    assert sorted((line["tool"], line["ok"]) for line in audit) == [
        ("read_run_file", False),
        ("read_run_file", True),
    ]


def test_stdio_server_works_with_the_sdk_client(
    keypair: tuple[str, str], runs_root: Path, run: Path, mint: Callable[..., str]
) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_tools"],
        cwd=str(run),
        env=_env(
            CODEX_RELAY_RUN_TOKEN=mint(),
            CODEX_RELAY_JWT_PUBLIC_KEY=keypair[1],
            CODEX_RELAY_RUNS_ROOT=str(runs_root),
        ),
    )

    async def session() -> dict[str, Any]:
        async with Client(params) as client:
            result = await client.call_tool(
                "replace_report_section",
                {"report_id": "summary", "pattern": "Introduction", "content": "Via stdio."},
            )
            assert result.structured_content is not None
            return result.structured_content

    assert asyncio.run(session())["changed"] is True
    assert "Via stdio." in (run / "reports" / "summary.md").read_text()


def test_stdio_server_without_a_token_exits_with_a_clear_message(
    keypair: tuple[str, str],
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mcp_tools"],
        input="",
        env=_env(CODEX_RELAY_JWT_PUBLIC_KEY=keypair[1]),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "CODEX_RELAY_RUN_TOKEN must hold the turn's run token" in done.stderr


def test_server_without_a_public_key_exits_with_a_clear_message(mint: Callable[..., str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mcp_tools"],
        input="",
        env=_env(CODEX_RELAY_RUN_TOKEN=mint()),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "CODEX_RELAY_JWT_PUBLIC_KEY or CODEX_RELAY_JWT_PUBLIC_KEY_FILE" in done.stderr


def test_http_server_needs_redis_for_revocation(keypair: tuple[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mcp_tools", "--http", "--port", "0"],
        env=_env(CODEX_RELAY_JWT_PUBLIC_KEY=keypair[1]),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "REDIS_URL must be set" in done.stderr


def test_http_server_process_reports_ready_and_serves_many_turns(
    keypair: tuple[str, str],
    runs_root: Path,
    run: Path,
    mint: Callable[..., str],
    redis_server: EmbeddedRedis,
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "public.pem"
    key_file.write_text(keypair[1])
    env = _env(
        CODEX_RELAY_JWT_PUBLIC_KEY_FILE=str(key_file),
        CODEX_RELAY_RUNS_ROOT=str(runs_root),
        REDIS_URL=redis_server.url,
    )
    server = start_http_subprocess(port=0, env=env)
    url = server.url
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp")
        assert httpx2.get(url.replace("/mcp", "/healthz")).status_code == 200

        async def turn(token: str) -> str:
            headers = {"Authorization": f"Bearer {token}"}
            async with create_mcp_http_client(headers=headers) as http:
                async with Client(streamable_http_client(url, http_client=http)) as client:
                    result = await client.call_tool("read_run_file", {"path": "notes.txt"})
                    assert result.structured_content is not None
                    return str(result.structured_content["text"])

        for session in ("s-a", "s-b"):  # two turns, two tokens, one server
            assert asyncio.run(turn(mint(session=session))) == "top-level note\n"
    finally:
        server.stop()
    assert server.process.returncode is not None
    assert READY_PREFIX.startswith("codex_relay MCP server listening on ")
