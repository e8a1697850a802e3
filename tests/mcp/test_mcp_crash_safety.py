"""A report is never lost: killed writers, concurrent writers, a held lock."""

from __future__ import annotations

import fcntl
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import pytest

from mcp_tools import reports
from mcp_tools.errors import Busy

ITERATIONS = 50
BACKUP_NAME = re.compile(r"^r\.\d{8}T\d{6}\.\d{6}Z(?:-\d+)?\.md$")

# A writer that, once told to go, replaces one section again and again,
# alternating two texts, ``count`` times (0: until it is killed).
WRITER = """
import sys
from pathlib import Path
from mcp_tools import reports
run, first, second = Path(sys.argv[1]), Path(sys.argv[2]).read_text(), Path(sys.argv[3]).read_text()
section, count = sys.argv[4], int(sys.argv[5])
reports.report_sections.parse_document("# warm up\\n")
print("ready", flush=True)
sys.stdin.readline()
turn = 0
while count == 0 or turn < count:
    reports.replace_report_section(run, "r", section, first if turn % 2 == 0 else second)
    turn += 1
"""


def _report(big: str) -> str:
    rows = "".join(f"| {n} | {'x' * 40} |\n" for n in range(1000))
    return f"# Intro\n\nhello\n\n# Big\n\n{big}\n\n# Data\n\n{rows}\n# End\n\nbye\n"


def _spawn(
    run: Path, first: Path, second: Path, section: str = "Big", count: int = 0
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(run), str(first), str(second), section, str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _ready(process: subprocess.Popen[str]) -> subprocess.Popen[str]:
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    return process


def _edit_seconds(run: Path, first: str, second: str) -> float:
    """How long the slower of two edits of a report like the writers' takes here."""
    (run / "reports").mkdir(parents=True)
    (run / "reports" / "r.md").write_text(_report("the original body"))
    took = []
    for text in (first, second):
        started = time.monotonic()
        reports.replace_report_section(run, "r", "Big", text)
        took.append(time.monotonic() - started)
    return max(took)


def test_a_writer_killed_at_random_points_never_leaves_a_broken_report(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "reports").mkdir(parents=True)
    report = run / "reports" / "r.md"
    first_text = "".join(f"first version, line {n}\n" for n in range(1000))
    second_text = "".join(f"second version, line {n}\n" for n in range(1000))
    (tmp_path / "first.md").write_text(first_text)
    (tmp_path / "second.md").write_text(second_text)
    original = _report("the original body")
    valid = {original, _report(first_text.strip()), _report(second_text.strip())}
    report.write_text(original)
    # Kill within a few edits' time as measured here and now, not a fixed 150 ms:
    # on a loaded machine an edit can take longer than that, and no writer would
    # ever finish one.
    window = max(0.15, 3 * _edit_seconds(tmp_path / "calibration", first_text, second_text))

    rng = random.Random(4)
    pending: deque[subprocess.Popen[str]] = deque(
        _spawn(run, tmp_path / "first.md", tmp_path / "second.md") for _ in range(3)
    )
    changed = temp_files_seen = 0
    for iteration in range(ITERATIONS):
        writer = _ready(pending.popleft())
        if iteration + len(pending) + 1 < ITERATIONS:
            pending.append(_spawn(run, tmp_path / "first.md", tmp_path / "second.md"))
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
        time.sleep(rng.uniform(0.0, window))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdin.close()
        assert writer.stdout is not None
        writer.stdout.close()

        text = report.read_text()
        assert text in valid, f"iteration {iteration}: the report is neither old nor new"
        backups = sorted(p for p in (run / "reports" / ".backups").glob("r.*.md"))
        backups = [p for p in backups if BACKUP_NAME.match(p.name)]
        if text != original:
            changed += 1
            assert backups, f"iteration {iteration}: the report changed without a backup"
        for backup in backups:
            assert backup.read_text() in valid, f"iteration {iteration}: a broken backup"
        temp_files_seen += any(p.name.endswith(".tmp") for p in run.rglob(".*"))
    assert changed > ITERATIONS // 2  # the writers did get to write most of the time

    # The next edit cleans up whatever the killed writers left half-written.
    reports.replace_report_section(run, "r", "Intro", "cleaned up")
    assert not [p for p in run.rglob("*.tmp")]
    assert len(list((run / "reports" / ".backups").glob("r.*.md"))) <= 20
    print(f"{changed} of {ITERATIONS} kills after a change; {temp_files_seen} left temp files")


def test_two_processes_editing_different_sections_both_land(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "reports").mkdir(parents=True)
    report = run / "reports" / "r.md"
    report.write_text(_report("big"))
    for name in ("a1", "a2", "b1", "b2"):
        (tmp_path / name).write_text(f"text {name}")
    writers = [
        _ready(_spawn(run, tmp_path / "a1", tmp_path / "a2", "Intro", count=5)),
        _ready(_spawn(run, tmp_path / "b1", tmp_path / "b2", "End", count=6)),
    ]
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    for writer in writers:
        assert writer.wait(30) == 0
        for stream in (writer.stdin, writer.stdout):
            assert stream is not None
            stream.close()
    text = report.read_text()
    intro = reports.read_report_section(run, "r", "Intro")["markdown"]
    end = reports.read_report_section(run, "r", "End")["markdown"]
    assert intro == "# Intro\n\ntext a1\n\n"  # the fifth of five edits
    assert end == "# End\n\ntext b2\n"  # the sixth of six
    assert "big" in text and text.count("# ") == 4


def test_many_threads_editing_one_report_lose_no_update(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    run = tmp_path / "run"
    (run / "reports").mkdir(parents=True)
    names = [f"S{n}" for n in range(8)]
    (run / "reports" / "r.md").write_text("".join(f"# {name}\n\nold\n\n" for name in names))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: reports.replace_report_section(run, "r", n, f"new {n}"), names))
    for name in names:
        assert reports.read_report_section(run, "r", name)["markdown"].startswith(
            f"# {name}\n\nnew {name}\n"
        )


def test_an_edit_waits_for_the_lock_and_then_gives_up_clearly(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "reports").mkdir(parents=True)
    (run / "reports" / "r.md").write_text("# A\n\nold\n")
    holder = os.open(run / "reports" / ".r.md.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        started = time.monotonic()
        with pytest.raises(Busy, match="being edited by another call"):
            reports.replace_report_section(run, "r", "A", "new", lock_timeout=0.2)
        assert 0.2 <= time.monotonic() - started < 2
    finally:
        os.close(holder)
    assert (run / "reports" / "r.md").read_text() == "# A\n\nold\n"
    reports.replace_report_section(run, "r", "A", "new")  # the lock is free again
    shutil.rmtree(run)


def test_a_writer_killed_inside_the_write_and_rename_window_never_breaks_the_report(
    tmp_path: Path,
) -> None:
    # Random delays mostly kill a writer while it parses; here each kill is aimed
    # at the moment its temporary file exists (written, being fsynced or renamed).
    run = tmp_path / "run"
    reports_dir = run / "reports"
    reports_dir.mkdir(parents=True)
    report = reports_dir / "r.md"
    first_text = "".join(f"first version, line {n}\n" for n in range(3000))
    second_text = "".join(f"second version, line {n}\n" for n in range(3000))
    (tmp_path / "first.md").write_text(first_text)
    (tmp_path / "second.md").write_text(second_text)
    original = _report("the original body")
    valid = {original, _report(first_text.strip()), _report(second_text.strip())}
    report.write_text(original)

    aimed = 0
    for iteration in range(20):
        writer = _ready(_spawn(run, tmp_path / "first.md", tmp_path / "second.md"))
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if any(name.endswith(".tmp") for name in os.listdir(reports_dir)):
                aimed += 1
                break
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdin.close()
        assert writer.stdout is not None
        writer.stdout.close()
        assert report.read_text() in valid, f"iteration {iteration}: neither old nor new"
        for backup in (reports_dir / ".backups").glob("r.*.md"):
            assert backup.read_text() in valid, f"iteration {iteration}: a broken backup"
    print(f"{aimed} of 20 kills aimed inside the write-and-rename window")
    assert aimed >= 10  # most kills really landed inside the window
    reports.replace_report_section(run, "r", "Intro", "cleaned up")
    assert not list(run.rglob("*.tmp"))
