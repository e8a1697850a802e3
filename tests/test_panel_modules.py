"""The panel's pure ES modules pass their node unit tests (``node --test tests/js/``).

The modules under ``static/panel/`` are tested without a browser by node's
own test runner; this runs it so that ``pytest`` (``make test``) runs them
too. Node is part of the development setup (the Codex CLI comes from npm),
so a missing ``node`` fails here rather than skipping the panel's tests.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JS_TESTS = ROOT / "tests" / "js"


def _node() -> str:
    node = shutil.which("node")
    assert node, "node is not on PATH: the panel's unit tests (tests/js/) need Node 20 or later"
    return node


def test_node_is_recent_enough_for_its_test_runner() -> None:
    version = subprocess.run(
        [_node(), "--version"], check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()
    match = re.fullmatch(r"v(\d+)\.\d+\.\d+.*", version)
    assert match and int(match.group(1)) >= 20, f"node {version}: the panel's tests need Node 20+"


def test_every_panel_module_that_node_can_run_has_a_test_file() -> None:
    tested = {p.name.removesuffix(".test.mjs") for p in JS_TESTS.glob("*.test.mjs")}
    runnable = {
        "sse-parser",
        "reconnect",
        "agent-state",
        "conversation-model",
        "format",
        "shortcuts",
        "event-stream",
        "markdown",
        "live-text",
        "approval-model",
        "report-edit-state",
    }
    assert runnable <= tested, f"no tests/js/<module>.test.mjs for {sorted(runnable - tested)}"


def test_panel_modules_pass_their_node_unit_tests() -> None:
    result = subprocess.run(
        [_node(), "--test", "--test-reporter=spec", str(JS_TESTS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20_000:]
    passed = re.search(r"^ℹ pass (\d+)$", output, re.MULTILINE)
    failed = re.search(r"^ℹ fail (\d+)$", output, re.MULTILINE)
    assert passed and failed, output[-5_000:]
    assert int(failed.group(1)) == 0 and int(passed.group(1)) > 0, output[-20_000:]
