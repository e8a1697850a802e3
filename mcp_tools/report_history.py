"""A report's past, for the people it belongs to: its history, and undoing one change.

:func:`report_history` lists the changes recorded in the report's journal
(:mod:`mcp_tools.report_edits`), newest first: who made each, when, to which
section, how many lines it added and removed, and whether it is undone.

:func:`undo_report_edit` restores the exact bytes from before one change,
with the same lock, backup and atomic write as an edit
(:mod:`mcp_tools.report_store`):

1. under the report's lock it finds the change in the journal
   (:class:`~mcp_tools.errors.NoSuchEdit` when there is none);
2. it refuses a change that is undone already
   (:class:`~mcp_tools.errors.AlreadyUndone`), and a report whose bytes no
   longer hash to the change's ``after``
   (:class:`~mcp_tools.errors.ReportChanged`): restoring then would lose
   whatever came later;
3. it reads the change's backup and checks that it hashes to the change's
   ``before`` (:class:`~mcp_tools.errors.BackupMissing` when it is gone or
   altered);
4. it backs the current bytes up, writes the old bytes atomically and
   records the undo in the journal as a change of its own (``kind: "undo"``),
   so the undo can be undone in turn.

When any check fails nothing is written. Both functions are used by the web
routes (``blueprints.report_routes``), the admin views and the command line;
none of them goes through the agent's tools, so an undo needs no run token.
"""

from __future__ import annotations

import os
from pathlib import Path

from typing_extensions import TypedDict

from . import path_guard
from .errors import (
    AlreadyUndone,
    BackupMissing,
    BadArgument,
    NoSuchEdit,
    NotFound,
    ReportChanged,
    TooLarge,
    UnsafePath,
)
from .report_edits import (
    EDITS_DIR,
    Edit,
    EditActor,
    append_edit,
    digest,
    is_edit_id,
    read_edits,
    undone_by,
)
from .report_store import (
    BACKUP_DIR,
    LOCK_TIMEOUT,
    MAX_BACKUPS_PER_REPORT,
    REPORTS_DIR,
    directory,
    held_report,
    read_in,
    read_report,
    report_path,
)

__all__ = [
    "HistoryEntry",
    "ReportHistory",
    "UndoResult",
    "report_history",
    "run_report_ids",
    "undo_report_edit",
]


class HistoryEntry(TypedDict):
    """One recorded change of a report, as the history shows it."""

    id: str
    #: ``"edit"`` (by the agent's tool) or ``"undo"`` (by a user).
    kind: str
    #: When it was made (Unix seconds).
    at: float
    user: str | None
    #: The agent session that made it (``None`` for an undo).
    session: str | None
    section: str
    added: int
    removed: int
    #: Whether an undo currently cancels it, and which.
    undone: bool
    undone_by: str | None
    #: For an undo: the change it undid.
    undoes: str | None
    #: Whether an undo of it would succeed now (the report still as it left it, backup kept).
    undoable: bool


class ReportHistory(TypedDict):
    """The answer of :func:`report_history`."""

    report_id: str
    path: str
    edits: list[HistoryEntry]


class UndoResult(TypedDict):
    """The answer of :func:`undo_report_edit`."""

    report_id: str
    #: The change that was undone.
    edit_id: str
    #: The undo's own id (undo it to bring the change back).
    undo_id: str
    restored: bool
    #: The backup of the text the undo replaced.
    backup: str


def _current_digest(run_dir: Path, rel: str) -> str | None:
    """The digest of the report's bytes now, or ``None`` when it cannot be read."""
    try:
        _, raw, _ = read_report(run_dir, rel)
    except (NotFound, TooLarge, UnsafePath):
        return None
    return digest(raw)


def _backup_names(run_dir: Path) -> set[str]:
    """The names of the files in ``reports/.backups`` (empty when there is none)."""
    try:
        with directory(run_dir, f"{REPORTS_DIR}/{BACKUP_DIR}") as folder:
            return set(os.listdir(folder))
    except (NotFound, UnsafePath):
        return set()


def _reports_in(run_dir: Path, rel: str, suffix: str) -> set[str]:
    """``<name>.md`` for each plain file ``<name><suffix>`` in the run directory ``rel``."""
    try:
        with directory(run_dir, rel) as folder:
            entries = list(os.scandir(folder))
    except (NotFound, UnsafePath):
        return set()
    found = set()
    for entry in entries:
        if not entry.name.endswith(suffix) or not entry.is_file(follow_symlinks=False):
            continue
        name = entry.name.removesuffix(suffix) + ".md"
        try:
            report_path(name)
        except BadArgument:
            continue
        found.add(name)
    return found


def run_report_ids(run_dir: Path) -> list[str]:
    """The run's reports with a file or an edit journal (or both), as file names, sorted.

    File names (``summary.md``) are report ids that always name the same
    file again; a bare id would not for a report named ``x.md.md``.
    """
    files = _reports_in(run_dir, REPORTS_DIR, ".md")
    return sorted(files | _reports_in(run_dir, f"{REPORTS_DIR}/{EDITS_DIR}", ".jsonl"))


def report_history(run_dir: Path, report_id: str) -> ReportHistory:
    """The recorded changes of ``reports/<report_id>.md``, newest first.

    Raises :class:`~mcp_tools.errors.NotFound` when the report has neither
    a file nor a journal.
    """
    bare, rel = report_path(report_id)
    edits = read_edits(run_dir, bare)
    current = _current_digest(run_dir, rel)
    if current is None and not edits:
        raise NotFound(f"There is no report '{rel}' in this run.")
    cancelled = undone_by(edits)
    backups = _backup_names(run_dir) if current is not None else set()
    entries = [
        HistoryEntry(
            id=edit.id,
            kind=edit.kind,
            at=edit.at,
            user=edit.user,
            session=edit.session,
            section=edit.section,
            added=edit.added,
            removed=edit.removed,
            undone=cancelled[edit.id] is not None,
            undone_by=cancelled[edit.id],
            undoes=edit.undoes,
            undoable=cancelled[edit.id] is None
            and edit.after == current
            and edit.backup.rpartition("/")[2] in backups,
        )
        for edit in reversed(edits)
    ]
    return ReportHistory(report_id=bare, path=rel, edits=entries)


def _read_backup(run_dir: Path, edit: Edit) -> bytes | None:
    """The bytes of ``edit``'s backup, or ``None`` when it is gone or cannot be read safely."""
    name = edit.backup.rpartition("/")[2]
    try:
        with directory(run_dir, f"{REPORTS_DIR}/{BACKUP_DIR}") as folder:
            data, _ = read_in(folder, name, edit.backup)
    except (NotFound, UnsafePath, TooLarge):
        return None
    return data


def undo_report_edit(
    run_dir: Path,
    report_id: str,
    edit_id: str,
    actor: EditActor,
    *,
    lock_timeout: float = LOCK_TIMEOUT,
    max_backups: int = MAX_BACKUPS_PER_REPORT,
) -> UndoResult:
    """Restore the report's bytes from before change ``edit_id`` (see the module docstring)."""
    bare, rel = report_path(report_id)
    if not is_edit_id(edit_id):
        raise NoSuchEdit(f"'{rel}' has no edit {path_guard.shown(str(edit_id), 40)}.")
    with held_report(run_dir, report_id, lock_timeout) as report:
        edits = read_edits(run_dir, bare)
        target = next((edit for edit in edits if edit.id == edit_id), None)
        if target is None:
            raise NoSuchEdit(f"'{rel}' has no edit '{edit_id}'.")
        if undone_by(edits)[edit_id] is not None:
            raise AlreadyUndone(
                "This edit is undone already; undo the undo to bring it back. Nothing was changed."
            )
        if digest(report.raw) != target.after:
            raise ReportChanged(
                f"'{rel}' changed after this edit, so undoing it would lose the later changes. "
                "Nothing was changed."
            )
        old = _read_backup(run_dir, target)
        if old is None or digest(old) != target.before:
            raise BackupMissing(
                "The text from before this edit is no longer kept (its backup was removed or "
                "altered), so it cannot be undone. Nothing was changed."
            )
        backup = report.replace(old, max_backups)
        counts = (target.removed, target.added)
        texts = (report.raw, old)
        undo = Edit.new("undo", bare, target.section, actor, backup, texts, counts, edit_id)
        append_edit(run_dir, undo, report.mode)
    return UndoResult(
        report_id=bare, edit_id=edit_id, undo_id=undo.id, restored=True, backup=backup
    )
