"""The one place a Codex command line is built (and what an app-server turn asks for).

:func:`prepare_launch` writes the turn's ``config.toml`` and returns
everything needed to start ``codex exec`` for a turn: argv, environment,
working directory, the prompt for stdin, and the host paths Codex must be
able to read. :func:`prepare_app_server_launch` does the same for ``codex
app-server``, which may be started before its turn is known (a worker keeps
one warm), so nothing of a turn is in it; what a turn asks of it (working
directory, sandbox mode, policy, developer instructions, the MCP server with
the turn's token, the prompt) is :func:`app_server_plan`, sent over
JSON-RPC. The RQ job, the worker's warm start and the benchmarks all call
these (through :mod:`bootstrap.sandbox`, which puts them in the turn
sandbox), so a benchmark always measures what the job runs, and the sandbox
wraps both runners alike.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

from relay.app_server_turn import TurnPlan
from relay.settings import Settings
from relay.turns import TurnRequest

from .codex_home import CodexHome, codex_environment, mcp_server_table
from .mcp_registration import mcp_registration
from .prompt import developer_instructions, user_prompt

__all__ = [
    "CodexLaunch",
    "app_server_argv",
    "app_server_plan",
    "codex_package_dir",
    "codex_sandbox_mode",
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
    #: Host paths Codex must be able to read besides its home, its temporary
    #: directory and the run: its own package, the model catalog, a stdio MCP
    #: server's Python. The turn sandbox shows exactly these, read-only.
    reads: tuple[str, ...] = field(default=())


def codex_sandbox_mode(configured: str, tier: str) -> str:
    """Codex's own sandbox mode for a turn: the configured one, ``read-only`` for tier ``read``.

    Tier ``read`` never gets a shell that may write, whatever the setting:
    and with the run directory mounted read-only, Codex 0.169.0's
    ``workspace-write`` fails every command (its bubblewrap cannot create the
    ``.git`` mount point it protects in the working directory).
    """
    return "read-only" if tier == "read" else configured


def codex_package_dir(codex_path: str) -> str:
    """The directory a Codex binary needs beside it: its npm platform package, or itself.

    The npm package ships ``vendor/<target>/bin/codex`` with its helpers in
    ``vendor/<target>/codex-resources`` (``bwrap``) and ``codex-path`` (``rg``).
    The path is kept as given when it has that shape (so a link to the package
    stays a path the caller knows), else the link is followed (the Dockerfile's
    ``/usr/local/bin/codex``).
    """
    for path in (os.path.abspath(codex_path), os.path.realpath(codex_path)):
        bin_dir = os.path.dirname(path)
        target = os.path.dirname(bin_dir)
        if os.path.basename(bin_dir) == "bin" and os.path.basename(os.path.dirname(target)) == (
            "vendor"
        ):
            return target
    return os.path.realpath(codex_path)


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


def _reads(settings: Settings, codex_path: str, stdio_server: bool) -> tuple[str, ...]:
    reads = [codex_path, codex_package_dir(codex_path)]
    if settings.model_catalog:
        reads.append(os.path.abspath(settings.model_catalog))
    if stdio_server:
        # Codex starts `python -m mcp_tools` itself, inside the turn sandbox.
        import mcp_tools
        import relay

        reads += [sys.executable, sys.prefix, sys.base_prefix]
        for package in (mcp_tools, relay):
            reads.append(os.path.dirname(os.path.abspath(package.__file__ or "")))
    return tuple(dict.fromkeys(reads))


def prepare_launch(
    settings: Settings,
    home: CodexHome,
    request: TurnRequest,
    codex_path: str,
    thread_id: str | None,
) -> CodexLaunch:
    """Write ``home``'s config for ``request`` and return the launch of its Codex."""
    mcp, mcp_token = mcp_registration(settings, request)
    mode = codex_sandbox_mode(settings.sandbox, request.tier)
    home.write_config(
        mcp,
        sandbox_mode=mode,
        developer_instructions=developer_instructions(request),
        project_dir=request.run_dir,
    )
    return CodexLaunch(
        argv=exec_argv(codex_path, request.run_dir, mode, thread_id),
        env=codex_environment(settings, home, mcp_token=mcp_token),
        cwd=request.run_dir,
        stdin=user_prompt(request).encode(),
        reads=_reads(settings, codex_path, mcp is not None and "command" in mcp.transport),
    )


def app_server_argv(codex_path: str) -> list[str]:
    """``codex app-server``: JSON-RPC on stdio, one JSON object a line."""
    return [codex_path, "app-server"]


def prepare_app_server_launch(
    settings: Settings, home: CodexHome, codex_path: str, *, project_dir: str
) -> CodexLaunch:
    """Write ``home``'s config (no MCP server: that comes per thread) and return the launch.

    ``project_dir`` is where the thread will work (marked untrusted in the
    config, as for ``exec``). Codex works in the directory each thread
    names; the process itself starts in its home. No token is in its
    environment.
    """
    home.write_config(
        None,
        sandbox_mode=settings.sandbox,
        developer_instructions="",  # per thread: thread/start's developerInstructions
        project_dir=project_dir,
    )
    return CodexLaunch(
        argv=app_server_argv(codex_path),
        env=codex_environment(settings, home),
        cwd=str(home.path),
        stdin=b"",
        reads=_reads(settings, codex_path, settings.mcp_transport == "stdio"),
    )


def app_server_plan(
    settings: Settings,
    request: TurnRequest,
    thread_id: str | None,
    initialised: bool,
    cwd: str | None = None,
) -> TurnPlan:
    """What one turn asks of an app-server: its thread, directory, policy, tools and prompt.

    ``cwd`` is where the run appears to Codex (default: its own path; a warm
    Codex sees it at the sandbox's fixed workspace path).
    """
    cwd = cwd or request.run_dir
    mcp, _ = mcp_registration(settings, request)
    # The run is never trusted: its .codex/config.toml (hooks, servers) is not loaded.
    config: dict[str, Any] = {"projects": {cwd: {"trust_level": "untrusted"}}}
    if mcp is not None:
        table = mcp_server_table(
            mcp, bearer_token=request.token if "url" in mcp.transport else None
        )
        config["mcp_servers"] = {"codex_relay": table}
    return TurnPlan(
        cwd=cwd,
        prompt=user_prompt(request),
        developer_instructions=developer_instructions(request),
        thread_id=thread_id,
        approval_policy=request.approval_policy,
        sandbox=codex_sandbox_mode(settings.sandbox, request.tier),
        model=settings.model,
        config=config,
        initialised=initialised,
    )
