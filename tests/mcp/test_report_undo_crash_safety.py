"""An undo never tears a report: killed mid-undo, racing an edit, racing another undo."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mcp_tools import report_edits, report_history, reports
from mcp_tools.report_edits import digest

ITERATIONS = 20

# Once told to go, flips the report between two versions until killed: it undoes
# the newest change when the report is still as that change left it, and makes a
# fresh edit when it is not (a killed undo may have left its change unrecorded).
FLIPPER = """
import sys
from pathlib import Path
from mcp_tools import report_edits, report_history, reports
run, first, second = Path(sys.argv[1]), Path(sys.argv[2]).read_text(), Path(sys.argv[3]).read_text()
report = run / "reports" / "r.md"
reports.report_sections.parse_document("# warm up\\n")
print("ready", flush=True)
sys.stdin.readline()
while True:
    edits = report_edits.read_edits(run, "r")
    now = report_edits.digest(report.read_bytes())
    if edits and edits[-1].after == now:
        report_history.undo_report_edit(run, "r", edits[-1].id, report_edits.EditActor("flip"))
    else:
        text = first if "second version" in report.read_text() else second
        reports.replace_report_section(run, "r", "Big", text)
"""

# Waits for "go", then does one thing: "undo <edit id>" or "edit <section> <text file>";
# prints what happened ("ok <id>" or the error's code).
ONE_CHANGE = """
import sys
from pathlib import Path
from mcp_tools import report_history, reports
from mcp_tools.errors import ToolError
from mcp_tools.report_edits import EditActor
run, action, *rest = Path(sys.argv[1]), *sys.argv[2:]
reports.report_sections.parse_document("# warm up\\n")
print("ready", flush=True)
sys.stdin.readline()
try:
    if action == "undo":
        done = report_history.undo_report_edit(run, "r", rest[0], EditActor("user"))["undo_id"]
    else:
        text = Path(rest[1]).read_text()
        done = reports.replace_report_section(run, "r", rest[0], text)["edit_id"]
    print("ok", done, flush=True)
except ToolError as exc:
    print(exc.code, flush=True)
"""


def _report(big: str, end: str = "bye") -> str:
    rows = "".join(f"| {n} | {'x' * 40} |\n" for n in range(1000))
    return f"# Intro\n\nhello\n\n# Big\n\n{big}\n\n# Data\n\n{rows}\n# End\n\n{end}\n"


def _temporaries(run: Path) -> set[Path]:
    return {p for p in (run / "reports").rglob(".*") if p.name.endswith(".tmp")}


def _spawn(script: str, *args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    return process


def _go(*processes: subprocess.Popen[str]) -> None:
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()


def _finish(process: subprocess.Popen[str]) -> str:
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    return out.strip()


@pytest.fixture
def run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "reports").mkdir(parents=True)
    return run


def test_a_process_killed_inside_an_undo_leaves_the_old_or_the_new_text(
    run: Path, tmp_path: Path
) -> None:
    # Kills aimed at the moment a temporary file exists: the backup or the report
    # being written, fsynced or renamed, or the journal line right after.
    first = "".join(f"first version, line {n}\n" for n in range(3000))
    second = "".join(f"second version, line {n}\n" for n in range(3000))
    (tmp_path / "first.md").write_text(first)
    (tmp_path / "second.md").write_text(second)
    report = run / "reports" / "r.md"
    report.write_text(_report("the original body"))
    reports.replace_report_section(run, "r", "Big", first)
    valid = {_report("the original body"), _report(first.strip()), _report(second.strip())}
    hashes = {digest(text.encode()) for text in valid}

    rng = random.Random(14)
    aimed = 0
    for iteration in range(ITERATIONS):
        flipper = _spawn(FLIPPER, str(run), str(tmp_path / "first.md"), str(tmp_path / "second.md"))
        _go(flipper)
        time.sleep(rng.uniform(0.0, 0.3))  # let it flip a few times first
        left_before = _temporaries(run)  # a killed change's leftovers do not count
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if _temporaries(run) - left_before:
                aimed += 1
                break
        flipper.send_signal(signal.SIGKILL)
        flipper.wait()
        for stream in (flipper.stdin, flipper.stdout):
            assert stream is not None
            stream.close()

        assert report.read_text() in valid, f"iteration {iteration}: neither old nor new"
        for backup in (run / "reports" / ".backups").glob("r.*.md"):
            assert backup.read_text() in valid, f"iteration {iteration}: a broken backup"
        lines = (run / "reports" / ".edits" / "r.jsonl").read_bytes().splitlines()
        edits = report_edits.read_edits(run, "r")
        assert len(edits) >= len(lines) - 1  # at most a torn last line is skipped
        assert all({e.before, e.after} <= hashes for e in edits)

    undos = [e for e in report_edits.read_edits(run, "r") if e.kind == "undo"]
    print(f"{aimed} of {ITERATIONS} kills aimed inside a write; {len(undos)} undos recorded")
    assert aimed >= ITERATIONS // 2 and len(undos) >= ITERATIONS
    # Afterwards the report works as ever: the history reads, an edit lands, temporaries go.
    assert report_history.report_history(run, "r")["edits"]
    reports.replace_report_section(run, "r", "Intro", "cleaned up")
    assert not [p for p in (run / "reports").glob(".*.tmp")]


def test_an_undo_racing_an_edit_either_lands_first_or_is_refused(run: Path, tmp_path: Path) -> None:
    report = run / "reports" / "r.md"
    (tmp_path / "end.md").write_text("a concurrent ending")
    original = _report("the original body")
    outcomes = set()
    for iteration in range(ITERATIONS):
        report.write_text(original)
        edit_id = str(reports.replace_report_section(run, "r", "Big", "edited")["edit_id"])
        undoer = _spawn(ONE_CHANGE, str(run), "undo", edit_id)
        editor = _spawn(ONE_CHANGE, str(run), "edit", "End", str(tmp_path / "end.md"))
        _go(undoer, editor)
        undone, edited = _finish(undoer), _finish(editor)
        assert edited.startswith("ok ")
        text = report.read_text()
        if undone.startswith("ok "):  # the undo went first; the edit landed on the old text
            assert text == _report("the original body", "a concurrent ending")
            order = ["edit", "undo", "edit"]
        else:  # the edit went first; undoing would have lost it, so nothing was undone
            assert undone == "report_changed", f"iteration {iteration}: {undone}"
            assert text == _report("edited", "a concurrent ending")
            order = ["edit", "edit"]
        assert [e.kind for e in report_edits.read_edits(run, "r")][-len(order) :] == order
        outcomes.add(undone.split()[0])
    print(f"outcomes seen: {sorted(outcomes)}")


def test_two_undos_of_one_edit_racing_undo_it_once(run: Path) -> None:
    report = run / "reports" / "r.md"
    original = _report("the original body")
    for iteration in range(ITERATIONS // 2):
        report.write_text(original)
        edit_id = str(reports.replace_report_section(run, "r", "Big", "edited")["edit_id"])
        racers = [_spawn(ONE_CHANGE, str(run), "undo", edit_id) for _ in range(2)]
        _go(*racers)
        results = sorted(_finish(racer).split()[0] for racer in racers)
        assert results == ["already_undone", "ok"], f"iteration {iteration}: {results}"
        assert report.read_text() == original
        history = report_history.report_history(run, "r")["edits"]
        assert [e["kind"] for e in history[:2]] == ["undo", "edit"]
        assert json.dumps(history[1]["undone"]) == "true"
