"""How a report's bytes are kept safe on disk: lock, read, backup, atomic replace.

Every change to ``reports/<report_id>.md`` (an edit by the agent, an undo by
the user) goes through these steps, so none can lose the user's text:

1. :func:`locked` takes an exclusive ``flock`` on a lock file beside the
   report (``.<name>.lock``), waiting at most :data:`LOCK_TIMEOUT` seconds,
   so two changes of one report (threads or processes) run one after the
   other, each on the text the previous one left.
2. Under the lock the report is read again (:func:`read_in`).
3. :func:`write_backup` saves the old bytes as
   ``reports/.backups/<report_id>.<UTC timestamp>.md`` (temporary file,
   ``fsync``, ``rename``, ``fsync`` of the directory), keeping the newest
   :data:`MAX_BACKUPS_PER_REPORT` per report.
4. :func:`atomic_write` writes the new text to a temporary file in the
   report's directory, ``fsync``\\ s it, renames it over the report and
   ``fsync``\\ s the directory. A rename is atomic, so a reader or a crash
   (even ``SIGKILL``) sees the old text or the new one, never a mix; a
   temporary file left by a killed change is removed by the next change of
   the same report (:func:`remove_stale_temporaries`).

Every write works relative to a directory descriptor opened through
:mod:`mcp_tools.path_guard` (:func:`directory`), so a directory or a link
swapped into the path meanwhile cannot redirect it. :func:`held_report` and
:meth:`HeldReport.replace` put the steps together for every kind of change.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import path_guard
from .errors import BadArgument, BinaryFile, Busy, NotFound, TooLarge, UnsafePath

__all__ = [
    "BACKUP_DIR",
    "LOCK_TIMEOUT",
    "MAX_BACKUPS_PER_REPORT",
    "MAX_REPORT_BYTES",
    "REPORTS_DIR",
    "HeldReport",
    "atomic_write",
    "backup_name_pattern",
    "decode",
    "directory",
    "held_report",
    "locked",
    "read_in",
    "read_report",
    "remove_matching",
    "remove_stale_temporaries",
    "report_path",
    "write_backup",
]

#: Directory of the run that holds the reports.
REPORTS_DIR = "reports"
#: Directory (inside :data:`REPORTS_DIR`) that holds the backups.
BACKUP_DIR = ".backups"
#: Largest report the tools parse, in bytes.
MAX_REPORT_BYTES = 8 * 1024 * 1024
#: Backups kept per report; older ones are deleted.
MAX_BACKUPS_PER_REPORT = 20
#: Seconds a change waits for another change of the same report.
LOCK_TIMEOUT = 10.0

# "\Z", not "$": "$" also matches before a final newline ("summary\n").
_REPORT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
_STAMP = r"\d{8}T\d{6}\.\d{6}Z(?:-\d+)?"


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


def backup_name_pattern(bare: str) -> re.Pattern[str]:
    """The file names of the backups of report ``bare`` (nothing else matches)."""
    return re.compile(rf"^{re.escape(bare)}\.{_STAMP}\.md\Z")


def read_report(run_dir: Path, rel: str) -> tuple[path_guard.GuardedPath, bytes, int]:
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


def decode(raw: bytes, rel: str) -> tuple[bool, str]:
    """``(has a byte-order mark, text)`` of a UTF-8 report; :class:`BinaryFile` otherwise."""
    bom = raw.startswith(codecs.BOM_UTF8)
    try:
        return bom, raw[3 if bom else 0 :].decode("utf-8")
    except UnicodeDecodeError:
        raise BinaryFile(f"'{rel}' is not UTF-8 text, so its sections cannot be used.") from None


@contextmanager
def directory(run_dir: Path, rel: str) -> Iterator[int]:
    """An fd of the run directory ``rel``, checked by the guard; every write goes through it.

    Working relative to the directory's fd (``dir_fd``) binds the lock, the
    temporary file and the rename to that one directory: a directory or a
    link swapped into the path during the change cannot redirect the write.
    """
    fd = path_guard.open_directory(run_dir, path_guard.resolve(run_dir, rel, want="dir"))
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def locked(directory: int, name: str, rel: str, timeout: float) -> Iterator[None]:
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


def read_in(
    directory: int, name: str, rel: str, limit: int = MAX_REPORT_BYTES
) -> tuple[bytes, int]:
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
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"'{rel}' is over {limit} bytes.")
    return data, stat.S_IMODE(st.st_mode)


def atomic_write(directory: int, name: str, data: bytes, mode: int) -> None:
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


def remove_matching(directory: int, pattern: re.Pattern[str], keep: int = 0) -> None:
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


def remove_stale_temporaries(directory: int, name: str) -> None:
    """Remove the temporary files a killed :func:`atomic_write` of ``name`` left behind."""
    remove_matching(directory, re.compile(rf"^\.{re.escape(name)}\.\w{{8}}\.tmp$"))


def write_backup(run_dir: Path, bare: str, raw: bytes, mode: int, keep: int) -> str:
    """Save ``raw`` as a new backup of report ``bare``; returns its run-relative path."""
    rel = f"{REPORTS_DIR}/{BACKUP_DIR}"
    with directory(run_dir, REPORTS_DIR) as reports_fd:
        backups = path_guard.open_child_directory(run_dir, reports_fd, BACKUP_DIR, rel, create=True)
    try:
        remove_matching(backups, re.compile(rf"^\.{re.escape(bare)}\.{_STAMP}\.md\.\w+\.tmp$"))
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        existing = set(os.listdir(backups))
        name, counter = f"{bare}.{stamp}.md", 0
        while name in existing:
            counter += 1
            name = f"{bare}.{stamp}-{counter}.md"
        atomic_write(backups, name, raw, mode)
        remove_matching(backups, backup_name_pattern(bare), keep=keep)
    finally:
        os.close(backups)
    return f"{rel}/{name}"


@dataclass(frozen=True)
class HeldReport:
    """A report read under its lock (see :func:`held_report`), ready to be replaced."""

    run_dir: Path
    #: The bare report id and the report's run-relative path (``reports/<id>.md``).
    bare: str
    rel: str
    #: The path the guard resolved it to (for messages), its directory's fd and its name.
    real_rel: str
    folder: int
    name: str
    #: Its bytes and permission bits, as read under the lock.
    raw: bytes
    mode: int

    def replace(self, data: bytes, keep: int = MAX_BACKUPS_PER_REPORT) -> str:
        """Back the bytes read up, then write ``data`` in their place; the backup's path.

        Temporary files a killed change left behind go first; at most
        ``keep`` backups of the report are kept.
        """
        remove_stale_temporaries(self.folder, self.name)
        backup = write_backup(self.run_dir, self.bare, self.raw, self.mode, keep)
        atomic_write(self.folder, self.name, data, self.mode)
        return backup


@contextmanager
def held_report(
    run_dir: Path, report_id: str, timeout: float = LOCK_TIMEOUT
) -> Iterator[HeldReport]:
    """Lock report ``report_id`` and read it; the lock is held until the block ends."""
    bare, rel = report_path(report_id)
    guarded = path_guard.resolve(run_dir, rel, want="file")
    parent, _, name = guarded.rel.rpartition("/")
    with directory(run_dir, parent or ".") as folder:
        with locked(folder, name, guarded.rel, timeout):
            raw, mode = read_in(folder, name, guarded.rel)
            yield HeldReport(run_dir, bare, rel, guarded.rel, folder, name, raw, mode)
