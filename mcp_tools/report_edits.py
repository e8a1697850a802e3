"""The edit journal of a report: every change made through codex-relay, and who made it.

Each change of ``reports/<id>.md`` made by the tools (an edit by
``replace_report_section``) or by a user (an undo) appends one JSON line to
``reports/.edits/<id>.jsonl``::

    {"v": 1, "id": "9f1c…", "kind": "edit", "report": "summary",
     "section": "Summary/Introduction", "user": "ada", "session": "8c2e…",
     "at": 1718000000.12, "backup": "reports/.backups/summary.20240610T061320.120000Z.md",
     "before": "<sha256 of the old bytes>", "after": "<sha256 of the new bytes>",
     "added": 3, "removed": 1, "undoes": null}

``backup`` holds the exact bytes from before the change; an undo
(``"kind": "undo"``) names the change it undid in ``undoes``. Which changes
are undone now follows from the order of the lines (:func:`undone_by`).

Why it is kept this way:

* **Files beside the report, not Redis.** The tools server may run per turn
  over stdio with no Redis credentials at all, and the web process must read
  and extend the same record; both already reach the run directory. The
  journal lives and moves with the text it describes, and outlives any
  Redis key (a flushed or expired Redis loses nothing here).
* **Its own directory, not ``.backups``.** Backups are pruned (the newest
  ``MAX_BACKUPS_PER_REPORT`` per report, and ``codex-relay cleanup`` by
  age); the history outlives them. An edit whose backup is gone is still
  listed; it just cannot be undone.
* **Appended after the new text is in place,** under the report's lock, as
  one ``write`` of a whole line, then ``fsync``. A crash (even ``SIGKILL``)
  between the rename and the append leaves a change unrecorded, never a
  record of a change that did not happen; a torn last line is skipped.
* **Bounded.** Past :data:`MAX_JOURNAL_BYTES` the file is rewritten
  atomically, under the same lock, with its newer half.
* **Read as untrusted data.** An agent with edit access may write to the run
  directory from its shell, so every line is checked (field types, id and
  hash formats, backup names of this report only) and anything else is
  skipped. A forged line can at most offer to restore a backup of the same
  report, which such an agent could overwrite anyway.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from . import path_guard
from .errors import TooLarge
from .report_store import BACKUP_DIR, REPORTS_DIR, atomic_write, backup_name_pattern, directory

__all__ = [
    "EDITS_DIR",
    "MAX_JOURNAL_BYTES",
    "Edit",
    "EditActor",
    "append_edit",
    "digest",
    "is_edit_id",
    "line_changes",
    "new_edit_id",
    "read_edits",
    "undone_by",
]

#: Directory (inside ``reports/``) that holds the journals.
EDITS_DIR = ".edits"
#: Size of a journal past which its older half is dropped (about 3,000 changes).
MAX_JOURNAL_BYTES = 1024 * 1024

_EDIT_ID = re.compile(r"^[0-9a-f]{32}\Z")
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
_NAME_FIELD_CHARS = 200
_FORMAT = 1

EditKind = Literal["edit", "undo"]


@dataclass(frozen=True)
class EditActor:
    """Who makes a change: the user, and the agent session it came from (``None``: a person)."""

    user: str | None
    session: str | None = None


@dataclass(frozen=True)
class Edit:
    """One journal line: one change of one report (see the module docstring)."""

    id: str
    kind: EditKind
    report: str
    section: str
    user: str | None
    session: str | None
    at: float
    backup: str
    before: str
    after: str
    added: int
    removed: int
    undoes: str | None = None

    @classmethod
    def new(
        cls,
        kind: EditKind,
        report: str,
        section: str,
        actor: EditActor | None,
        backup: str,
        texts: tuple[bytes, bytes],
        counts: tuple[int, int],
        undoes: str | None = None,
    ) -> Edit:
        """A new change of ``report`` made now by ``actor``, from ``texts`` (before, after)."""
        return cls(
            id=new_edit_id(),
            kind=kind,
            report=report,
            section=section,
            user=actor.user if actor else None,
            session=actor.session if actor else None,
            at=time.time(),
            backup=backup,
            before=digest(texts[0]),
            after=digest(texts[1]),
            added=counts[0],
            removed=counts[1],
            undoes=undoes,
        )

    def to_line(self) -> bytes:
        """The journal line of this change (UTF-8 JSON and a newline)."""
        return orjson.dumps({"v": _FORMAT, **asdict(self)}) + b"\n"

    @classmethod
    def from_json(
        cls, record: Any, report: str, backups: re.Pattern[str] | None = None
    ) -> Edit | None:
        """The change a decoded line of report ``report``'s journal records, or ``None``.

        ``backups`` is :func:`~mcp_tools.report_store.backup_name_pattern` of
        ``report`` (given when parsing many lines).
        """
        if not isinstance(record, dict) or record.get("v") != _FORMAT:
            return None
        try:
            edit = cls(**{key: record[key] for key in _FIELDS})
        except (KeyError, TypeError):
            return None
        sound = edit._is_sound(report, backups or backup_name_pattern(report))
        return edit if sound else None

    def _is_sound(self, report: str, backups: re.Pattern[str]) -> bool:
        backup = self.backup.rpartition("/") if isinstance(self.backup, str) else ("", "", "")
        return (
            is_edit_id(self.id)
            and self.kind in ("edit", "undo")
            and self.report == report
            and _is_text(self.section)
            and all(v is None or _is_text(v) for v in (self.user, self.session))
            and isinstance(self.at, int | float)
            and not isinstance(self.at, bool)
            and backup[0] == f"{REPORTS_DIR}/{BACKUP_DIR}"
            and bool(backups.match(backup[2]))
            and all(isinstance(h, str) and _SHA256.match(h) for h in (self.before, self.after))
            and all(_is_count(n) for n in (self.added, self.removed))
            and (self.undoes is None if self.kind == "edit" else is_edit_id(self.undoes))
        )


_FIELDS = tuple(Edit.__dataclass_fields__)


def _is_text(value: object) -> bool:
    return isinstance(value, str) and len(value) <= _NAME_FIELD_CHARS * 4


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def new_edit_id() -> str:
    """A fresh, unguessable edit id (32 lowercase hex digits)."""
    return secrets.token_hex(16)


def is_edit_id(value: object) -> bool:
    """Whether ``value`` has the form of an edit id (say nothing about whether it exists)."""
    return isinstance(value, str) and bool(_EDIT_ID.match(value))


def digest(data: bytes) -> str:
    """The SHA-256 of a report's bytes, as the journal records it."""
    return hashlib.sha256(data).hexdigest()


def line_changes(old: Sequence[str], new: Sequence[str]) -> tuple[int, int]:
    """``(lines added, lines removed)`` between two versions of a region, as a diff counts them.

    Line endings are ignored, as in the diff the user sees; the matching is
    the one ``difflib.unified_diff`` uses, so the figures agree with it.
    """
    matcher = difflib.SequenceMatcher(
        None, [line.rstrip("\r\n") for line in old], [line.rstrip("\r\n") for line in new]
    )
    added = removed = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            removed += i2 - i1
        if tag in ("replace", "insert"):
            added += j2 - j1
    return added, removed


def _journal_directory(run_dir: Path, create: bool) -> int | None:
    """An fd of ``reports/.edits`` (made when ``create``), or ``None`` when there is none."""
    rel = f"{REPORTS_DIR}/{EDITS_DIR}"
    with directory(run_dir, REPORTS_DIR) as reports_fd:
        if not create:
            try:
                os.stat(EDITS_DIR, dir_fd=reports_fd, follow_symlinks=False)
            except FileNotFoundError:
                return None
        return path_guard.open_child_directory(run_dir, reports_fd, EDITS_DIR, rel, create=create)


def append_edit(run_dir: Path, edit: Edit, mode: int = 0o644) -> None:
    """Append ``edit`` to its report's journal (the caller holds the report's lock)."""
    folder = _journal_directory(run_dir, create=True)
    assert folder is not None
    name = f"{edit.report}.jsonl"
    try:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(name, flags, mode, dir_fd=folder)
        try:
            os.write(fd, edit.to_line())
            os.fsync(fd)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > MAX_JOURNAL_BYTES:
            _keep_newer_half(folder, name, mode)
    finally:
        os.close(folder)


def _keep_newer_half(folder: int, name: str, mode: int) -> None:
    """Rewrite the journal ``name`` with its newest lines, about half the size limit."""
    kept: list[bytes] = []
    size = 0
    for line in reversed(_read_tail(folder, name).splitlines(keepends=True)):
        size += len(line)
        if size > MAX_JOURNAL_BYTES // 2:
            break
        kept.append(line)
    atomic_write(folder, name, b"".join(reversed(kept)), mode)


def _read_tail(folder: int, name: str) -> bytes:
    """The last :data:`MAX_JOURNAL_BYTES` of journal ``name``, from a line start."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=folder)
    except FileNotFoundError:
        return b""
    except OSError:
        raise TooLarge(f"The edit journal '{name}' cannot be read safely.") from None
    with os.fdopen(fd, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        start = max(0, size - MAX_JOURNAL_BYTES)
        handle.seek(start)
        data = handle.read(MAX_JOURNAL_BYTES)
    if start:
        data = data[data.find(b"\n") + 1 :] if b"\n" in data else b""
    return data


def read_edits(run_dir: Path, report: str) -> list[Edit]:
    """The recorded changes of report ``report`` (a bare id), oldest first.

    Lines that are not sound records are skipped (see the module docstring);
    a repeated id keeps its first record.
    """
    folder = _journal_directory(run_dir, create=False)
    if folder is None:
        return []
    try:
        data = _read_tail(folder, f"{report}.jsonl")
    finally:
        os.close(folder)
    return list(_parse(data.splitlines(), report))


def _parse(lines: Iterable[bytes], report: str) -> Iterable[Edit]:
    seen: set[str] = set()
    backups = backup_name_pattern(report)
    for line in lines:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a torn last line, or not JSON at all
        edit = Edit.from_json(record, report, backups)
        if edit is not None and edit.id not in seen:
            seen.add(edit.id)
            yield edit


def undone_by(edits: Sequence[Edit]) -> dict[str, str | None]:
    """For each change, the id of the undo that currently cancels it (``None``: in effect).

    Replayed in journal order: an undo cancels its target; undoing an undo
    brings its target back, undoing that cancels it again, and so on down
    the chain. An undo counts only when its target is recorded before it,
    so a forged journal cannot make a loop.
    """
    position = {edit.id: index for index, edit in enumerate(edits)}
    cancelled: dict[str, str | None] = {edit.id: None for edit in edits}
    target = {edit.id: edit.undoes for edit in edits}

    def earlier(later: str, candidate: str | None) -> str | None:
        known = candidate is not None and position.get(candidate, len(edits)) < position[later]
        return candidate if known else None

    for edit in edits:
        changed, active, by = earlier(edit.id, edit.undoes), False, edit.id
        while changed is not None:
            cancelled[changed] = None if active else by
            by, active = changed, not active
            changed = earlier(by, target[by])
    return cancelled
