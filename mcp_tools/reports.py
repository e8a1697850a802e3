"""The report tools: list, read and replace sections of ``reports/<report_id>.md``.

How an edit never loses the user's text (:func:`replace_report_section`):

1. It takes an exclusive ``flock`` on a lock file beside the report
   (``.<name>.lock``), waiting at most :data:`LOCK_TIMEOUT` seconds, so two
   edits of one report (threads or processes) run one after the other, each
   on the text the previous one left.
2. Under the lock it reads the report again, finds the section, builds the
   new text and checks that no heading outside the section changes.
3. It writes a backup of the old bytes to
   ``reports/.backups/<report_id>.<UTC timestamp>.md`` (temporary file,
   ``fsync``, ``rename``, ``fsync`` of the directory), keeping the newest
   :data:`MAX_BACKUPS_PER_REPORT` per report.
4. It writes the new text to a temporary file in the report's directory,
   ``fsync``\\ s it, renames it over the report and ``fsync``\\ s the directory.
   A rename is atomic, so a reader or a crash (even ``SIGKILL``) sees the
   old text or the new one, never a mix; a temporary file left by a killed
   edit is removed by the next edit of the same report.

Reports are UTF-8 (a byte-order mark is kept); the line ending of the
report (``\\n`` or ``\\r\\n``) is used for the new lines.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from typing_extensions import TypedDict

from . import path_guard, report_sections
from .errors import BadArgument, BinaryFile, Busy, NotFound, TooLarge, UnsafePath

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

#: Directory of the run that holds the reports.
REPORTS_DIR = "reports"
#: Directory (inside :data:`REPORTS_DIR`) that holds the backups.
BACKUP_DIR = ".backups"
#: Largest ``content`` accepted by one replacement, in UTF-8 bytes.
MAX_CONTENT_BYTES = 256 * 1024
#: Largest report the tools parse, in bytes.
MAX_REPORT_BYTES = 8 * 1024 * 1024
#: Backups kept per report; older ones are deleted.
MAX_BACKUPS_PER_REPORT = 20
#: Seconds an edit waits for another edit of the same report.
LOCK_TIMEOUT = 10.0

_REPORT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_STAMP = r"\d{8}T\d{6}\.\d{6}Z(?:-\d+)?"


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
    path: str
    section: str
    changed: bool
    backup: str | None
    diff: str
    lines_before: int
    lines_after: int


def report_path(report_id: str) -> tuple[str, str]:
    """``(report_id, run-relative path)`` for a bare report id (``summary`` or ``summary.md``)."""
    bare = report_id[:-3] if report_id.lower().endswith(".md") else report_id
    if not _REPORT_ID.match(bare):
        raise BadArgument(
            f"{path_guard.shown(report_id)} is not a report id: use the bare name of a file in "
            f"'{REPORTS_DIR}/' (letters, digits, '.', '_' and '-'), e.g. 'summary' for "
            f"'{REPORTS_DIR}/summary.md'."
        )
    return bare, f"{REPORTS_DIR}/{bare}.md"


def _read_report(run_dir: Path, rel: str) -> tuple[path_guard.GuardedPath, bytes, int]:
    """The report's guarded path, bytes and permission bits, within the size limit."""
    guarded = path_guard.resolve(run_dir, rel, want="file")
    fd, st = path_guard.open_regular_file(run_dir, guarded)
    try:
        if st.st_size > MAX_REPORT_BYTES:
            raise TooLarge(
                f"'{guarded.rel}' is {st.st_size} bytes; reports over {MAX_REPORT_BYTES} bytes "
                "cannot be handled by section."
            )
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            total += len(chunk)
            if total > MAX_REPORT_BYTES:
                raise TooLarge(f"'{guarded.rel}' grew over {MAX_REPORT_BYTES} bytes while read.")
    finally:
        os.close(fd)
    return guarded, b"".join(chunks), stat.S_IMODE(st.st_mode)


def _decode(raw: bytes, rel: str) -> tuple[bool, str]:
    bom = raw.startswith(codecs.BOM_UTF8)
    try:
        return bom, raw[3 if bom else 0 :].decode("utf-8")
    except UnicodeDecodeError:
        raise BinaryFile(f"'{rel}' is not UTF-8 text, so its sections cannot be used.") from None


def _load(run_dir: Path, report_id: str) -> tuple[str, str, report_sections.Document]:
    bare, rel = report_path(report_id)
    guarded, raw, _ = _read_report(run_dir, rel)
    _, text = _decode(raw, guarded.rel)
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


@contextmanager
def _directory(run_dir: Path, rel: str) -> Iterator[int]:
    """An fd of the run directory ``rel``, checked by the guard; every write goes through it.

    Working relative to the directory's fd (``dir_fd``) binds the lock, the
    temporary file and the rename to that one directory: a directory or a
    link swapped into the path during the edit cannot redirect the write.
    """
    fd = path_guard.open_directory(run_dir, path_guard.resolve(run_dir, rel, want="dir"))
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def _locked(directory: int, name: str, rel: str, timeout: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``.<name>.lock`` in ``directory``; closing releases it."""
    import fcntl

    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(f".{name}.lock", flags, 0o600, dir_fd=directory)
    except OSError:
        raise UnsafePath(f"The lock file of '{rel}' cannot be opened safely.") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePath(f"The lock file of '{rel}' is not a regular file.")
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Busy(
                        f"'{rel}' is being edited by another call; try again in a moment."
                    ) from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)


def _read_in(directory: int, name: str, rel: str) -> tuple[bytes, int]:
    """The bytes and permission bits of file ``name`` in ``directory`` (no link followed)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=directory)
    except FileNotFoundError:
        raise NotFound(f"'{rel}' disappeared while it was being edited.") from None
    except OSError:
        raise UnsafePath(f"'{rel}' changed into something that cannot be edited safely.") from None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(f"'{rel}' is no longer a regular file.")
        data = handle.read(MAX_REPORT_BYTES + 1)
    if len(data) > MAX_REPORT_BYTES:
        raise TooLarge(f"'{rel}' is over {MAX_REPORT_BYTES} bytes.")
    return data, stat.S_IMODE(st.st_mode)


def _atomic_write(directory: int, name: str, data: bytes, mode: int) -> None:
    """Replace ``name`` in ``directory`` by ``data``: temporary file, fsync, rename, fsync dir."""
    import secrets

    temporary = f".{name}.{secrets.token_hex(4)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temporary, flags, 0o600, dir_fd=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
    except BaseException:
        try:
            os.unlink(temporary, dir_fd=directory)
        except OSError:
            pass
        raise
    os.fsync(directory)


def _remove_matching(directory: int, pattern: re.Pattern[str], keep: int = 0) -> None:
    """Delete the files of ``directory`` whose names match, all but the last ``keep`` by name."""
    try:
        names = sorted(name for name in os.listdir(directory) if pattern.match(name))
    except OSError:
        return
    for name in names[: max(0, len(names) - keep)] if keep else names:
        try:
            os.unlink(name, dir_fd=directory)
        except OSError:
            pass


def _write_backup(run_dir: Path, bare: str, raw: bytes, mode: int, keep: int) -> str:
    """Save ``raw`` as a new backup of report ``bare``; returns its run-relative path."""
    rel = f"{REPORTS_DIR}/{BACKUP_DIR}"
    with _directory(run_dir, REPORTS_DIR) as reports_fd:
        directory = path_guard.open_child_directory(
            run_dir, reports_fd, BACKUP_DIR, rel, create=True
        )
    try:
        _remove_matching(directory, re.compile(rf"^\.{re.escape(bare)}\.{_STAMP}\.md\.\w+\.tmp$"))
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        existing = set(os.listdir(directory))
        name, counter = f"{bare}.{stamp}.md", 0
        while name in existing:
            counter += 1
            name = f"{bare}.{stamp}-{counter}.md"
        _atomic_write(directory, name, raw, mode)
        _remove_matching(directory, re.compile(rf"^{re.escape(bare)}\.{_STAMP}\.md$"), keep=keep)
    finally:
        os.close(directory)
    return f"{rel}/{name}"


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
) -> ReplaceResult:
    """Replace one section (see the module docstring); returns a unified diff and the backup."""
    size = len(content.encode("utf-8", "surrogatepass"))
    if size > max_content_bytes:
        raise TooLarge(f"The content is {size} bytes; at most {max_content_bytes} are accepted.")
    if "\x00" in content:
        raise BadArgument("The content contains a NUL character.")
    bare, rel = report_path(report_id)
    first = path_guard.resolve(run_dir, rel, want="file")
    parent, _, name = first.rel.rpartition("/")
    with _directory(run_dir, parent or ".") as directory:
        with _locked(directory, name, first.rel, lock_timeout):
            raw, mode = _read_in(directory, name, first.rel)
            bom, text = _decode(raw, first.rel)
            doc = report_sections.parse_document(text)
            section = report_sections.find_section(doc, pattern)
            lines, new_end = report_sections.splice_section(doc, section, content, keep_heading)
            new_text = "".join(lines)
            after = report_sections.parse_document(new_text)
            report_sections.check_structure(doc, section, after, new_end, keep_heading)
            data = (codecs.BOM_UTF8 if bom else b"") + new_text.encode("utf-8")
            if len(data) > MAX_REPORT_BYTES:
                raise TooLarge(f"The new report would be over {MAX_REPORT_BYTES} bytes.")
            backup = None
            if new_text != text:
                stale = re.compile(rf"^\.{re.escape(name)}\.\w{{8}}\.tmp$")
                _remove_matching(directory, stale)
                backup = _write_backup(run_dir, bare, raw, mode, max_backups)
                _atomic_write(directory, name, data, mode)
    diff = (
        report_sections.section_diff(doc.lines, lines, section.start, section.end, new_end, rel)
        if backup
        else ""
    )
    return ReplaceResult(
        report_id=bare,
        path=rel,
        section=section.path,
        changed=backup is not None,
        backup=backup,
        diff=diff,
        lines_before=len(doc.lines),
        lines_after=len(lines),
    )
