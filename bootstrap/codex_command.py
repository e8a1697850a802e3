"""The one place a Codex command line is built (and what an app-server turn asks for).

:func:`prepare_launch` writes the turn's ``config.toml`` and returns
everything needed to start ``codex exec`` for a turn: argv, environment,
working directory and the prompt for stdin. :func:`prepare_app_server_launch`
does the same for ``codex app-server``, which is started before its turn is
known (a worker keeps one warm), so nothing of a turn is in it; what a turn
asks of it (working directory, policy, the MCP server with the turn's
token, the prompt) is :func:`app_server_plan`, sent over JSON-RPC. The RQ
job, the worker's warm start and the benchmarks all call these, so a
benchmark always measures what the job runs, and a sandbox that wraps a
:class:`CodexLaunch` wraps both runners alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relay.app_server_turn import TurnPlan
from relay.settings import Settings
from relay.turns import TurnRequest

from .codex_home import CodexHome, codex_environment, mcp_server_table
from .mcp_registration import mcp_registration
from .prompt import build_prompt

__all__ = [
    "CodexLaunch",
    "app_server_argv",
    "app_server_plan",
    "exec_argv",
    "prepare_app_server_launch",
    "prepare_launch",
]


@dataclass(frozen=True)
class CodexLaunch:
    """How to start Codex for one turn."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    #: The prompt, written to Codex's stdin (which is then closed).
    stdin: bytes


def exec_argv(codex_path: str, run_dir: str, sandbox: str, thread_id: str | None) -> list[str]:
    """``codex exec --json`` in ``run_dir``; ``resume <thread>`` continues a thread.

    The prompt is read from stdin (``-``): with a pipe left open Codex would
    wait for EOF and append stdin to an argument prompt (0.169.0).
    """
    argv = [
        codex_path,
        "exec",
        "--json",
        "--skip-git-repo-check",
        "--color",
        "never",
        "--cd",
        run_dir,
        "--sandbox",
        sandbox,
    ]
    # Options go before `resume`; Codex reads them only there.
    return argv + (["resume", thread_id, "-"] if thread_id else ["-"])


def prepare_launch(
    settings: Settings,
    home: CodexHome,
    request: TurnRequest,
    codex_path: str,
    thread_id: str | None,
) -> CodexLaunch:
    """Write ``home``'s config for ``request`` and return the launch of its Codex."""
    mcp, mcp_token = mcp_registration(settings, request)
    home.write_config(mcp)
    return CodexLaunch(
        argv=exec_argv(codex_path, request.run_dir, settings.sandbox, thread_id),
        env=codex_environment(settings, home, mcp_token=mcp_token),
        cwd=request.run_dir,
        stdin=build_prompt(request, resumed=thread_id is not None).encode(),
    )


def app_server_argv(codex_path: str) -> list[str]:
    """``codex app-server``: JSON-RPC on stdio, one JSON object a line."""
    return [codex_path, "app-server"]


def prepare_app_server_launch(settings: Settings, home: CodexHome, codex_path: str) -> CodexLaunch:
    """Write ``home``'s config (no MCP server: that comes per thread) and return the launch.

    Codex works in the directory each thread names; the process itself
    starts in its home. No token is in its environment.
    """
    home.write_config(None)
    return CodexLaunch(
        argv=app_server_argv(codex_path),
        env=codex_environment(settings, home),
        cwd=str(home.path),
        stdin=b"",
    )


def app_server_plan(
    settings: Settings, request: TurnRequest, thread_id: str | None, initialised: bool
) -> TurnPlan:
    """What one turn asks of an app-server: its thread, directory, policy, tools and prompt."""
    mcp, _ = mcp_registration(settings, request)
    config: dict[str, Any] = {}
    if mcp is not None:
        table = mcp_server_table(
            mcp, bearer_token=request.token if "url" in mcp.transport else None
        )
        config["mcp_servers"] = {"codex_relay": table}
    return TurnPlan(
        cwd=request.run_dir,
        prompt=build_prompt(request, resumed=thread_id is not None),
        thread_id=thread_id,
        approval_policy=request.approval_policy,
        sandbox=settings.sandbox,
        model=settings.model,
        config=config,
        initialised=initialised,
    )
