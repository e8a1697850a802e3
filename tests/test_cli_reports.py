"""``codex-relay reports history RUN REPORT``: a report's edits and undos, for operators."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_tools import report_history, reports
from mcp_tools.report_edits import EditActor


def cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``codex-relay`` as its own process, without the caller's relay settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CODEX_RELAY_")}
    return subprocess.run(
        [sys.executable, "-m", "cli", *argv],
        env=base | {"NO_COLOR": "1"} | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def run(tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "run-1"
    (run / "reports").mkdir(parents=True)
    (run / "reports" / "summary.md").write_text("# S\n\n## Intro\n\nold\n\n## End\n\nbye\n")
    return run


@pytest.fixture
def ids(run: Path) -> list[str]:
    """An edit of Intro, an edit of End, and an undo of the second: newest first."""
    first = reports.replace_report_section(
        run, "summary", "Intro", "one\ntwo", actor=EditActor("alice", "s-1")
    )["edit_id"]
    second = reports.replace_report_section(
        run, "summary", "End", "ciao", actor=EditActor("alice", "s-1")
    )["edit_id"]
    undo = report_history.undo_report_edit(run, "summary", str(second), EditActor("bob"))
    return [undo["undo_id"], str(second), str(first)]


def test_the_history_is_a_table_newest_first(run: Path, ids: list[str]) -> None:
    result = cli("reports", "history", "run-1", "summary", "--runs-root", str(run.parent))
    assert result.returncode == 0, result.stderr
    header, first_row, second_row, third_row = result.stdout.splitlines()[1:]
    assert header.split()[:3] == ["when", "(UTC)", "who"]
    assert ids[0] in first_row and "bob" in first_row and f"undo of {ids[1][:8]}" in first_row
    assert ids[1] in second_row and f"undone by {ids[0][:8]}" in second_row
    assert ids[2] in third_row and "S/Intro" in third_row and "+2 -1" in third_row
    assert "in effect, undoable" in third_row


def test_json_output_is_the_history_of_the_routes(run: Path, ids: list[str]) -> None:
    result = cli(
        "reports", "history", "run-1", "summary.md", "--json", "--runs-root", str(run.parent)
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == report_history.report_history(run, "summary")


def test_the_runs_root_setting_is_used_by_default(run: Path, ids: list[str]) -> None:
    env = {"CODEX_RELAY_RUNS_ROOT": str(run.parent)}
    result = cli("reports", "history", "run-1", "summary", "--json", env=env)
    assert [e["id"] for e in json.loads(result.stdout)["edits"]] == ids


def test_without_a_runs_root_the_setting_is_named(run: Path) -> None:
    result = cli("reports", "history", "run-1", "summary")
    assert result.returncode == 1
    assert "CODEX_RELAY_RUNS_ROOT" in result.stderr


@pytest.mark.parametrize("runid", ["run-2", "..", "../runs/run-1", "run-1/..", ".", "run-1\n"])
def test_an_unknown_or_hostile_run_is_refused(run: Path, runid: str) -> None:
    result = cli("reports", "history", runid, "summary", "--runs-root", str(run.parent))
    assert result.returncode == 1 and "There is no run" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("report", ["../summary", ".edits", "nope", "summary/../summary"])
def test_an_unknown_or_hostile_report_is_refused(run: Path, report: str) -> None:
    result = cli("reports", "history", "run-1", report, "--runs-root", str(run.parent))
    assert result.returncode == 1 and result.stderr.startswith("codex-relay: ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("argv", [["reports"], ["reports", "history"], ["reports", "history", "x"]])
def test_missing_arguments_are_a_usage_error(argv: list[str]) -> None:
    assert cli(*argv).returncode == 2
    assert cli(*argv[:2], "--help").returncode == 0
