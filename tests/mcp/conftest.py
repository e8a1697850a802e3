"""Fixtures for the MCP tools: a run directory, tokens, and an in-memory SDK client.

``tools`` calls the real ``codex_relay`` server through the ``mcp`` SDK's
client, in memory, exactly as Codex would over a transport: arguments are
validated against the published schemas and errors come back as tool
results with ``is_error``. Nothing is mocked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp_helpers import REPORT, RUNID, ToolClient

from mcp_tools.auth import RevocationCheck, RunAuthoriser
from relay.tokens import sign_run_token


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    """The directory holding run directories (``CODEX_RELAY_RUNS_ROOT``)."""
    root = tmp_path / "runs"
    root.mkdir()
    return root


@pytest.fixture
def run(runs_root: Path) -> Path:
    """Run ``run-1``: inputs, outputs, logs, a report, a hidden file, and a sibling run."""
    run = runs_root / RUNID
    for sub in ("inputs", "outputs", "logs", "reports"):
        (run / sub).mkdir(parents=True)
    (run / "inputs" / "config.yaml").write_text("learning_rate: 0.01\nepochs: 3\n")
    (run / "outputs" / "metrics.csv").write_text("epoch,loss\n1,0.9\n2,0.5\n")
    (run / "logs" / "train.log").write_text("epoch 1 loss 0.9\nepoch 2 loss 0.5\n")
    (run / "reports" / "summary.md").write_text(REPORT)
    (run / "notes.txt").write_text("top-level note\n")
    (run / ".hidden").write_text("hidden but readable\n")
    evil = runs_root / f"{RUNID}-evil"
    evil.mkdir()
    (evil / "secret.txt").write_text("the sibling run's secret\n")
    (runs_root / "outside.txt").write_text("outside every run\n")
    return run


@pytest.fixture
def mint(keypair: tuple[str, str]) -> Callable[..., str]:
    """``mint(tier=..., runid=..., ...)``: a run token signed with the test key."""

    def mint(**overrides: Any) -> str:
        claims: dict[str, Any] = dict(
            user="ada", runid=RUNID, config="default", session="s-1", tier="edit", lifetime=60
        )
        claims.update(overrides)
        return sign_run_token(keypair[0], **claims)

    return mint


@pytest.fixture
def authoriser(keypair: tuple[str, str], runs_root: Path) -> RunAuthoriser:
    """An authoriser with the test public key and runs root, no revocation."""
    return RunAuthoriser(keypair[1], runs_root=str(runs_root))


@pytest.fixture
def make_tools(keypair: tuple[str, str], runs_root: Path, run: Path) -> Callable[..., ToolClient]:
    """``make_tools(token, is_revoked=None)``: a :class:`ToolClient` for that token."""

    def make(token: str | None, is_revoked: RevocationCheck | None = None) -> ToolClient:
        return ToolClient(RunAuthoriser(keypair[1], is_revoked, str(runs_root)), token)

    return make


@pytest.fixture
def tools(make_tools: Callable[..., ToolClient], mint: Callable[..., str]) -> ToolClient:
    """The tools with an ``edit`` token for ``run-1``."""
    return make_tools(mint())


@pytest.fixture
def read_tools(make_tools: Callable[..., ToolClient], mint: Callable[..., str]) -> ToolClient:
    """The tools with a ``read`` token for ``run-1``."""
    return make_tools(mint(tier="read"))
