"""``codex-relay reports``: what the agent changed in a run's reports, for operators.

::

    codex-relay reports history RUN REPORT [--runs-root DIR] [--json]

``RUN`` is a run id, found under ``CODEX_RELAY_RUNS_ROOT`` (or ``--runs-root``);
``REPORT`` is a report id (``summary`` or ``summary.md``). The history lists
every edit and undo newest first, as the history route and the admin view do
(:func:`mcp_tools.report_history.report_history`); undoing is done from the
panel, by the user, not from here.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from blueprints.turn_access import is_plain_name
from mcp_tools.report_history import HistoryEntry, report_history
from relay.errors import ConfigError, NotFound
from relay.settings import load_settings, setting_name

from .terminal import bold, print_json, table

__all__ = ["cmd_reports", "run_directory"]


def run_directory(runid: str, runs_root: str | None) -> Path:
    """The directory of run ``runid`` under the runs root (the setting, unless given)."""
    root = runs_root or load_settings().runs_root
    if not root:
        raise ConfigError(setting_name("runs_root"), "must be set (or pass --runs-root)")
    base = Path(root).resolve()
    run = (base / runid).resolve() if is_plain_name(runid) else None
    if run is None or run.parent != base or not run.is_dir():
        raise NotFound(f"There is no run {runid!r} under {base}.")
    return run


def _state(entry: HistoryEntry) -> str:
    if entry["undone_by"]:
        return f"undone by {entry['undone_by'][:8]}"
    return "in effect, undoable" if entry["undoable"] else "in effect"


def _history(args: argparse.Namespace) -> int:
    found = report_history(run_directory(args.run, args.runs_root), args.report)
    if args.json:
        print_json(found)
        return 0
    print(bold(f"{found['path']} of run {args.run}: {len(found['edits'])} change(s), newest first"))
    rows = [
        [
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry["at"])),
            entry["user"],
            f"undo of {entry['undoes'][:8]}" if entry["undoes"] else entry["kind"],
            entry["section"],
            f"+{entry['added']} -{entry['removed']}",
            _state(entry),
            entry["id"],
        ]
        for entry in found["edits"]
    ]
    print(table(["when (UTC)", "who", "change", "section", "lines", "state", "id"], rows))
    return 0


def cmd_reports(args: argparse.Namespace) -> int:
    """``codex-relay reports history``."""
    return _history(args)
