"""What undoable edits cost: the journal, an undo, the history, the run-data notice.

On one report of the size agents edit (1,000 lines, about 60 KB), all on the
same disk, interleaved round by round so load affects every variant alike:

- ``edit``: ``replace_report_section`` as the tool runs it (lock, backup,
  atomic write, and now the journal line); the figure the others are set
  against;
- ``journal line alone``: the part of an edit the journal adds (one append
  and its ``fsync``), measured by appending the same record to a scratch
  journal;
- ``undo``: ``undo_report_edit`` of the edit just made (lock, hash checks,
  backup, atomic write, journal line);
- ``history``: ``report_history`` with 20 and with 1,000 journal lines,
  against ``list_report_sections`` (a read tool: parses the report) as the
  baseline of a read.

The notice every tool result now opens with is reported in bytes, against
the size of a ``read_report_section`` result of the same report.

Run: ``python -m benchmarks.report_edits``
"""

from __future__ import annotations

import functools
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mcp_tools import report_edits, report_history, reports
from mcp_tools.report_edits import EditActor
from mcp_tools.run_data import DATA_NOTICE, DATA_NOTICE_KEY

from ._common import machine_line, percentile, print_table

ROUNDS = 60
T = TypeVar("T")
ACTOR = EditActor("bench", "s-bench")


def _report() -> str:
    rows = "".join(f"| {n} | {'value ' * 6} |\n" for n in range(900))
    return f"# Report\n\n## Intro\n\nHello.\n\n## Data\n\n{rows}\n## End\n\nBye.\n"


def _timed(action: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def _run(root: Path, name: str) -> Path:
    run = root / name
    (run / "reports").mkdir(parents=True)
    (run / "reports" / "r.md").write_text(_report())
    return run


def _fill_journal(run: Path, entries: int) -> None:
    """``entries`` journal lines for report ``r`` (edits that alternate two texts)."""
    for n in range(entries):
        reports.replace_report_section(run, "r", "Intro", f"Version {n % 2}.", actor=ACTOR)


def main() -> None:
    """Print the figures (ms, p50 and p95) and each one's ratio to its baseline."""
    samples: dict[str, list[float]] = {
        name: []
        for name in (
            "edit",
            "journal line alone",
            "undo",
            "list_report_sections",
            "history, 20 lines",
            "history, 1,000 lines",
        )
    }
    with tempfile.TemporaryDirectory(prefix="bench-edits-", dir=Path.home()) as tmp:
        root = Path(tmp)
        edits, scratch = _run(root, "edits"), _run(root, "scratch")
        short, long = _run(root, "short"), _run(root, "long")
        _fill_journal(short, 20)
        _fill_journal(long, 1000)
        (record,) = report_edits.read_edits(short, "r")[-1:]
        for n in range(ROUNDS):
            took, result = _timed(
                functools.partial(
                    reports.replace_report_section, edits, "r", "Intro", f"Round {n}.", actor=ACTOR
                )
            )
            samples["edit"].append(took)
            edit_id = str(result["edit_id"])
            timed = {
                "undo": functools.partial(
                    report_history.undo_report_edit, edits, "r", edit_id, ACTOR
                ),
                "journal line alone": lambda: report_edits.append_edit(scratch, record),
                "list_report_sections": lambda: reports.list_report_sections(short, "r"),
                "history, 20 lines": lambda: report_history.report_history(short, "r"),
                "history, 1,000 lines": lambda: report_history.report_history(long, "r"),
            }
            for name, action in timed.items():
                samples[name].append(_timed(action)[0])
        section = reports.read_report_section(short, "r", "Data")

    baselines = {
        "edit": "edit",
        "journal line alone": "edit",
        "undo": "edit",
        "list_report_sections": "list_report_sections",
        "history, 20 lines": "list_report_sections",
        "history, 1,000 lines": "list_report_sections",
    }
    medians = {name: statistics.median(values) for name, values in samples.items()}
    rows = [
        [
            name,
            f"{medians[name] * 1000:.2f}",
            f"{percentile(values, 95) * 1000:.2f}",
            "(baseline)"
            if baselines[name] == name
            else f"{medians[name] / medians[baselines[name]]:.2f}x {baselines[name]}",
        ]
        for name, values in samples.items()
    ]
    print(f"Report edits, journal and undo ({ROUNDS} rounds, interleaved) - {machine_line()}")
    print_table("", ["what", "p50 ms", "p95 ms", "ratio (p50)"], rows)
    notice = len(json.dumps({DATA_NOTICE_KEY: DATA_NOTICE}, separators=(",", ":"))) - 1
    result = len(json.dumps(section, separators=(",", ":")))
    print(
        f"\nrun-data notice: +{notice} bytes per tool result "
        f"({notice / result:.1%} of a read_report_section result of {result:,} bytes)"
    )


if __name__ == "__main__":
    main()
