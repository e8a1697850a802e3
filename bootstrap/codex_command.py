"""The one place a Codex command line is built.

:func:`prepare_launch` writes the turn's ``config.toml`` and returns
everything needed to start ``codex exec`` for a turn: argv, environment,
working directory and the prompt for stdin. The RQ job and the benchmarks
call it alike, so a benchmark always measures the command the job runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from relay.settings import Settings
from relay.turns import TurnRequest

from .codex_home import CodexHome, codex_environment
from .mcp_registration import mcp_registration
from .prompt import build_prompt

__all__ = ["CodexLaunch", "exec_argv", "prepare_launch"]


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
