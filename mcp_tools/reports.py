"""The report tools: list, read and replace sections of ``reports/<report_id>.md``.

An edit (:func:`replace_report_section`) never loses the user's text: under
the report's lock it reads the report again, finds the section, builds the
new text, checks that no heading outside the section changes, backs the old
bytes up and replaces the report atomically (the steps are
:mod:`mcp_tools.report_store`'s).

Reports are UTF-8 (a byte-order mark is kept); the line ending of the
report (``\\n`` or ``\\r\\n``) is used for the new lines. Every change is
recorded in the report's edit journal (:mod:`mcp_tools.report_edits`), and
its ``edit_id`` comes back with the diff, so a user can undo it
(:mod:`mcp_tools.report_history`).
"""

from __future__ import annotations

import codecs
from pathlib import Path

from typing_extensions import TypedDict

from . import report_sections
from .errors import BadArgument, TooLarge
from .report_edits import Edit, EditActor, append_edit, line_changes
from .report_store import (
    BACKUP_DIR,
    LOCK_TIMEOUT,
    MAX_BACKUPS_PER_REPORT,
    MAX_REPORT_BYTES,
    REPORTS_DIR,
    decode,
    held_report,
    read_report,
    report_path,
)

__all__ = [
    "BACKUP_DIR",
    "LOCK_TIMEOUT",
    "MAX_BACKUPS_PER_REPORT",
    "MAX_CONTENT_BYTES",
    "MAX_REPORT_BYTES",
    "REPORTS_DIR",
    "ReplaceResult",
    "SectionInfo",
    "SectionList",
    "SectionText",
    "list_report_sections",
    "read_report_section",
    "replace_report_section",
    "report_path",
]

#: Largest ``content`` accepted by one replacement, in UTF-8 bytes.
MAX_CONTENT_BYTES = 256 * 1024


class SectionInfo(TypedDict):
    """One section of a report; lines are 1-based and inclusive."""

    index: int
    level: int
    title: str
    path: str
    style: str
    start_line: int
    end_line: int
    body_start_line: int


class SectionList(TypedDict):
    """The answer of ``list_report_sections``."""

    report_id: str
    path: str
    lines: int
    sections: list[SectionInfo]


class SectionText(TypedDict):
    """The answer of ``read_report_section``."""

    report_id: str
    section: SectionInfo
    markdown: str


class ReplaceResult(TypedDict):
    """The answer of ``replace_report_section``."""

    report_id: str
    #: The journal id of this edit, for the undo route (``None`` when nothing changed).
    edit_id: str | None
    path: str
    section: str
    changed: bool
    backup: str | None
    diff: str
    lines_before: int
    lines_after: int


def _load(run_dir: Path, report_id: str) -> tuple[str, str, report_sections.Document]:
    bare, rel = report_path(report_id)
    guarded, raw, _ = read_report(run_dir, rel)
    _, text = decode(raw, guarded.rel)
    return bare, rel, report_sections.parse_document(text)


def _info(section: report_sections.Section) -> SectionInfo:
    return SectionInfo(
        index=section.index,
        level=section.level,
        title=section.title,
        path=section.path,
        style=section.style,
        start_line=section.start + 1,
        end_line=section.end,
        body_start_line=section.heading_end + 1,
    )


def list_report_sections(run_dir: Path, report_id: str) -> SectionList:
    """Every top-level heading of the report, with level, path and line span."""
    bare, rel, doc = _load(run_dir, report_id)
    return SectionList(
        report_id=bare,
        path=rel,
        lines=len(doc.lines),
        sections=[_info(section) for section in doc.sections],
    )


def read_report_section(run_dir: Path, report_id: str, pattern: str) -> SectionText:
    """One section's markdown (heading, body and subsections; ``\\n`` line endings)."""
    bare, _, doc = _load(run_dir, report_id)
    section = report_sections.find_section(doc, pattern)
    text = "".join(doc.lines[section.start : section.end])
    return SectionText(
        report_id=bare,
        section=_info(section),
        markdown=text.replace("\r\n", "\n").replace("\r", "\n"),
    )


def replace_report_section(
    run_dir: Path,
    report_id: str,
    pattern: str,
    content: str,
    keep_heading: bool = True,
    *,
    max_content_bytes: int = MAX_CONTENT_BYTES,
    max_backups: int = MAX_BACKUPS_PER_REPORT,
    lock_timeout: float = LOCK_TIMEOUT,
    actor: EditActor | None = None,
) -> ReplaceResult:
    """Replace one section (see the module docstring); returns a unified diff and the backup.

    A change is recorded in the report's journal (:mod:`mcp_tools.report_edits`)
    as made by ``actor``; its id is the result's ``edit_id``.
    """
    size = len(content.encode("utf-8", "surrogatepass"))
    if size > max_content_bytes:
        raise TooLarge(f"The content is {size} bytes; at most {max_content_bytes} are accepted.")
    if "\x00" in content:
        raise BadArgument("The content contains a NUL character.")
    with held_report(run_dir, report_id, lock_timeout) as report:
        bare, rel = report.bare, report.rel
        bom, text = decode(report.raw, report.real_rel)
        doc = report_sections.parse_document(text)
        section = report_sections.find_section(doc, pattern)
        lines, new_end = report_sections.splice_section(doc, section, content, keep_heading)
        new_text = "".join(lines)
        after = report_sections.parse_document(new_text)
        report_sections.check_structure(doc, section, after, new_end, keep_heading)
        data = (codecs.BOM_UTF8 if bom else b"") + new_text.encode("utf-8")
        if len(data) > MAX_REPORT_BYTES:
            raise TooLarge(f"The new report would be over {MAX_REPORT_BYTES} bytes.")
        backup = edit = None
        if new_text != text:
            backup = report.replace(data, max_backups)
            counts = line_changes(
                doc.lines[section.start : section.end], lines[section.start : new_end]
            )
            edit = Edit.new("edit", bare, section.path, actor, backup, (report.raw, data), counts)
            append_edit(run_dir, edit, report.mode)
    diff = (
        report_sections.section_diff(doc.lines, lines, section.start, section.end, new_end, rel)
        if backup
        else ""
    )
    return ReplaceResult(
        report_id=bare,
        edit_id=edit.id if edit else None,
        path=rel,
        section=section.path,
        changed=backup is not None,
        backup=backup,
        diff=diff,
        lines_before=len(doc.lines),
        lines_after=len(lines),
    )
