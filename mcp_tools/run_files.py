"""The run-file tools: what the run holds, a directory listing, a text file.

Every path goes through :mod:`mcp_tools.path_guard`; every answer is bounded.

Categories (:func:`describe_run_contents`) come from the *top-level*
directory a file is in (case-insensitive): ``reports``/``report`` → reports;
``inputs``/``input``/``data``/``config``/``configs`` → inputs;
``outputs``/``output``/``results``/``figures``/``plots`` → outputs;
``logs``/``log`` → logs. A file elsewhere whose name ends in ``.log`` is a
log; everything else is ``other``.

Text (:func:`read_run_file`): the encoding is chosen from the first
:data:`SNIFF_BYTES` of the file: a byte-order mark selects UTF-8 (``utf-8-sig``,
the mark is not returned), UTF-16 or UTF-32; otherwise known binary
signatures (PNG, PDF, ZIP, ELF, ...) or a NUL byte mean binary, valid UTF-8
means ``utf-8``, and anything else is read as ``latin-1``; either way, more
than 5 % of control characters (other than tab, newlines, form feed, backspace
and escape) means binary. A window that is not valid
UTF-8 in an otherwise UTF-8 file is returned as ``latin-1`` (and says so).
UTF-16 and UTF-32 need their byte-order mark. Offsets are in *bytes*; a
window is moved to whole characters (never splitting a UTF-8 sequence or a
UTF-16 surrogate pair) and reports the offsets it really used.
"""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path
from typing import Literal

from typing_extensions import TypedDict

from . import path_guard
from .errors import BadArgument, BinaryFile, TooLarge, ToolError

__all__ = [
    "CATEGORIES",
    "DEFAULT_MAX_ENTRIES",
    "DEFAULT_MAX_READ_BYTES",
    "CategorySummary",
    "DirectoryListing",
    "FileEntry",
    "FileText",
    "RunContents",
    "category_of",
    "describe_run_contents",
    "list_run_files",
    "read_run_file",
]

#: Largest file read whole, and largest window, in bytes.
DEFAULT_MAX_READ_BYTES = 1024 * 1024
#: Most entries one listing returns.
DEFAULT_MAX_ENTRIES = 200
#: Most files listed per category by :func:`describe_run_contents`.
DEFAULT_FILES_PER_CATEGORY = 50
#: Most directory entries one description visits, and how deep it goes.
MAX_SCAN_ENTRIES = 10_000
MAX_SCAN_DEPTH = 16
#: Bytes looked at to tell text from binary and pick the encoding.
SNIFF_BYTES = 8192
#: Smallest window actually read: skipping a cut character (3 bytes at most)
#: still leaves a whole character of at most 4 bytes.
MIN_WINDOW = 8

Category = Literal["reports", "inputs", "outputs", "logs", "other"]
CATEGORIES: tuple[Category, ...] = ("reports", "inputs", "outputs", "logs", "other")
_CATEGORY_DIRS: dict[str, Category] = {
    **dict.fromkeys(("reports", "report"), "reports"),
    **dict.fromkeys(("inputs", "input", "data", "config", "configs"), "inputs"),
    **dict.fromkeys(("outputs", "output", "results", "figures", "plots"), "outputs"),
    **dict.fromkeys(("logs", "log"), "logs"),
}
_BOMS: tuple[tuple[bytes, str, str, int], ...] = (
    # (mark, name reported, codec, code unit size); UTF-32-LE before UTF-16-LE.
    (codecs.BOM_UTF32_LE, "utf-32", "utf-32-le", 4),
    (codecs.BOM_UTF32_BE, "utf-32", "utf-32-be", 4),
    (codecs.BOM_UTF8, "utf-8-sig", "utf-8", 1),
    (codecs.BOM_UTF16_LE, "utf-16", "utf-16-le", 2),
    (codecs.BOM_UTF16_BE, "utf-16", "utf-16-be", 2),
)
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF8", "GIF image"),
    (b"%PDF-", "PDF document"),
    (b"PK\x03\x04", "ZIP archive (or docx/xlsx/jar)"),
    (b"\x1f\x8b", "gzip data"),
    (b"BZh", "bzip2 data"),
    (b"\xfd7zXZ\x00", "xz data"),
    (b"\x28\xb5\x2f\xfd", "zstd data"),
    (b"\x7fELF", "ELF executable"),
    (b"SQLite format 3\x00", "SQLite database"),
    (b"\x89HDF\r\n\x1a\n", "HDF5 data"),
    (b"PAR1", "Parquet data"),
    (b"\x93NUMPY", "NumPy array"),
)
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\v\b\x1b")


class FileEntry(TypedDict):
    """One file or directory of a listing."""

    name: str
    path: str
    type: Literal["file", "dir"]
    size: int


class DirectoryListing(TypedDict):
    """The answer of ``list_run_files``."""

    directory: str
    entries: list[FileEntry]
    total: int
    truncated: bool
    omitted_hidden: int
    omitted_special: int
    omitted_outside_run: int


class CategoryFile(TypedDict):
    """A file of a category, with its size."""

    path: str
    size: int


class CategorySummary(TypedDict):
    """The files of one category."""

    category: str
    files: int
    bytes: int
    items: list[CategoryFile]
    truncated: bool


class RunContents(TypedDict):
    """The answer of ``describe_run_contents``."""

    runid: str
    categories: list[CategorySummary]
    scan_truncated: bool


class FileText(TypedDict):
    """The answer of ``read_run_file``."""

    path: str
    size: int
    encoding: str
    offset: int
    next_offset: int | None
    eof: bool
    text: str


def category_of(rel_path: str) -> Category:
    """The category of a run-relative file path (see the module docstring)."""
    parts = rel_path.split("/")
    if len(parts) > 1 and parts[0].lower() in _CATEGORY_DIRS:
        return _CATEGORY_DIRS[parts[0].lower()]
    if parts[-1].lower().endswith(".log"):
        return "logs"
    return "other"


# ---------------------------------------------------------------- listing


def _classify(
    run_dir: Path, dir_real: str, rel_dir: str, entry: os.DirEntry[str]
) -> tuple[Literal["file", "dir"], int] | Literal["hidden", "special", "outside"]:
    """What a directory entry is for the tools, or why it is left out.

    ``dir_real`` is the real path of the *opened* directory (from its
    descriptor), so a link target is judged from where the entry really is.
    """
    if path_guard.is_hidden(entry.name) or entry.name in path_guard.DENIED_NAMES:
        return "hidden"
    try:
        st = entry.stat(follow_symlinks=False)
        if entry.is_symlink():
            target = os.path.realpath(os.path.join(dir_real, entry.name))
            if not path_guard.is_inside(str(run_dir), target):
                return "outside"
            rel_parts = Path(target).relative_to(run_dir).parts
            if any(part in path_guard.DENIED_NAMES for part in rel_parts):
                return "hidden"
            st = path_guard.stat_in_run(run_dir, target, f"{rel_dir}{entry.name}")
    except (OSError, ToolError):  # vanished, dangling link, loop, swapped meanwhile
        return "special"
    if stat.S_ISREG(st.st_mode):
        return "file", st.st_size
    if stat.S_ISDIR(st.st_mode):
        return "dir", 0
    return "special"


def list_run_files(
    run_dir: Path, subdir: str = "", *, max_entries: int = DEFAULT_MAX_ENTRIES
) -> DirectoryListing:
    """One directory of the run: directories first, then files, by name, at most ``max_entries``."""
    guarded = path_guard.resolve(run_dir, subdir or ".", want="dir")
    fd = path_guard.open_directory(run_dir, guarded)
    visible: list[FileEntry] = []
    omitted = {"hidden": 0, "special": 0, "outside": 0}
    scanned = 0
    prefix = "" if guarded.rel == "." else guarded.rel + "/"
    try:
        dir_real = path_guard.opened_path(fd) or str(guarded.real)
        with os.scandir(fd) as entries:
            for entry in entries:
                scanned += 1
                if scanned > MAX_SCAN_ENTRIES:
                    break
                kind = _classify(run_dir, dir_real, prefix, entry)
                if isinstance(kind, str):
                    omitted[kind] += 1
                    continue
                rel = entry.name if guarded.rel == "." else f"{guarded.rel}/{entry.name}"
                visible.append(FileEntry(name=entry.name, path=rel, type=kind[0], size=kind[1]))
    finally:
        os.close(fd)
    visible.sort(key=lambda item: (item["type"] != "dir", item["name"]))
    return DirectoryListing(
        directory=guarded.rel,
        entries=visible[:max_entries],
        total=len(visible),
        truncated=len(visible) > max_entries or scanned > MAX_SCAN_ENTRIES,
        omitted_hidden=omitted["hidden"],
        omitted_special=omitted["special"],
        omitted_outside_run=omitted["outside"],
    )


class _Walk:
    """A bounded depth-first walk of the run through directory descriptors."""

    def __init__(self, run_dir: Path, max_scan: int) -> None:
        self.run_dir = run_dir
        self.max_scan = max_scan
        self.scanned = 0
        self.files: list[tuple[str, int]] = []

    def visit(self, fd: int, rel_dir: str, depth: int) -> bool:
        """List the open directory ``fd`` and below; ``False`` once the scan is cut."""
        dir_real = path_guard.opened_path(fd) or str(self.run_dir)
        subdirs: list[str] = []
        try:
            entries = os.scandir(fd)
        except OSError:  # vanished or unreadable: nothing to list there
            return True
        with entries:
            for entry in entries:
                self.scanned += 1
                if self.scanned > self.max_scan:
                    return False
                kind = _classify(self.run_dir, dir_real, rel_dir, entry)
                if isinstance(kind, str):
                    continue
                if kind[0] == "file":
                    self.files.append((f"{rel_dir}{entry.name}", kind[1]))
                elif not entry.is_symlink() and depth < MAX_SCAN_DEPTH:
                    subdirs.append(entry.name)
        for name in subdirs:
            rel = f"{rel_dir}{name}"
            try:
                # O_NOFOLLOW: a directory swapped for a link meanwhile is not entered.
                child = path_guard.open_child_directory(self.run_dir, fd, name, rel)
            except ToolError:
                continue
            try:
                if not self.visit(child, rel + "/", depth + 1):
                    return False
            finally:
                os.close(child)
        return True


def _walk_files(run_dir: Path, max_scan: int) -> tuple[list[tuple[str, int]], bool]:
    """Every visible regular file of the run as ``(rel_path, size)``; bounded.

    Directories are entered through descriptors, one level at a time, never
    through a symbolic link (no loops, no double counting, nothing swapped in
    from outside); linked files inside the run are counted.
    """
    walk = _Walk(run_dir, max_scan)
    root = path_guard.open_directory(run_dir, path_guard.resolve(run_dir, ".", want="dir"))
    try:
        complete = walk.visit(root, "", 0)
    finally:
        os.close(root)
    return walk.files, not complete


def describe_run_contents(
    run_dir: Path,
    runid: str,
    category: str | None = None,
    *,
    files_per_category: int = DEFAULT_FILES_PER_CATEGORY,
    max_scan: int = MAX_SCAN_ENTRIES,
) -> RunContents:
    """The run's visible files grouped by category, with counts, bytes and the first files."""
    if category is not None and category not in CATEGORIES:
        raise BadArgument(
            f"Unknown category '{category[:40]}'; use one of: {', '.join(CATEGORIES)}."
        )
    files, cut = _walk_files(run_dir, max_scan)
    files.sort()
    wanted = [category] if category else list(CATEGORIES)
    summaries: list[CategorySummary] = []
    for name in wanted:
        members = [(rel, size) for rel, size in files if category_of(rel) == name]
        summaries.append(
            CategorySummary(
                category=name,
                files=len(members),
                bytes=sum(size for _, size in members),
                items=[CategoryFile(path=rel, size=size) for rel, size in members][
                    :files_per_category
                ],
                truncated=len(members) > files_per_category,
            )
        )
    return RunContents(runid=runid, categories=summaries, scan_truncated=cut)


# ---------------------------------------------------------------- reading


def _sniff(head: bytes, whole: bool) -> tuple[str, str, int, int] | str:
    """``(name, codec, unit, bom length)`` of a text file from its head, or a binary type name.

    ``whole`` says ``head`` is the entire file (so a cut UTF-8 sequence at its
    end is an error, not the edge of the sample).
    """
    for mark, name, codec, unit in _BOMS:
        if head.startswith(mark):
            return name, codec, unit, len(mark)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if b"\x00" in head:
        return "binary data (contains NUL bytes)"
    controls = sum(1 for byte in head if byte < 0x20 and byte not in _TEXT_CONTROLS)
    if head and controls / len(head) > 0.05:
        return "binary data (control characters)"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=whole)
        return "utf-8", "utf-8", 1, 0
    except UnicodeDecodeError:
        return "latin-1", "latin-1", 1, 0


def _binary_type(name: str, sniffed: str) -> str:
    if not sniffed.startswith("binary data"):
        return sniffed
    import mimetypes

    guessed, _ = mimetypes.guess_type(name)
    return f"{guessed}, {sniffed}" if guessed else sniffed


def _utf8_start(data: bytes) -> int:
    """Bytes to skip so ``data`` starts on a UTF-8 character (at most 3)."""
    skip = 0
    while skip < min(3, len(data)) and 0x80 <= data[skip] <= 0xBF:
        skip += 1
    return skip


def _utf8_end(data: bytes) -> int:
    """Length of ``data`` without a cut UTF-8 sequence at its end."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)
        if byte >= 0xC0:  # a lead byte: is its sequence complete?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if back >= need else len(data) - back
    return len(data)


def _window(
    fd: int, size: int, start: int, length: int, codec: str, unit: int, bom: int
) -> tuple[int, bytes]:
    """Read ``length`` bytes from ``start``, moved to whole characters: ``(start, data)``.

    The window is at least :data:`MIN_WINDOW` bytes, so it always holds one
    whole character and a reader paging through the file always advances.
    """
    length = max(length, MIN_WINDOW)
    start = max(start, bom)
    if unit > 1:
        start -= (start - bom) % unit
    data = os.pread(fd, min(length, size - start), start)
    at_eof = start + len(data) >= size
    if codec == "utf-8":
        skip = _utf8_start(data) if start > bom else 0
        start, data = start + skip, data[skip:]
        if not at_eof:
            data = data[: _utf8_end(data)]
    elif unit > 1:
        data = data[: len(data) - len(data) % unit]
        if unit == 2 and not at_eof and len(data) >= 2:
            last = data[-2:] if codec.endswith("le") else data[-2:][::-1]
            if 0xD8 <= last[1] <= 0xDB:  # a high surrogate: keep the pair together
                data = data[:-2]
    return start, data


def read_run_file(
    run_dir: Path,
    path: str,
    offset: int | None = None,
    limit: int | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_READ_BYTES,
) -> FileText:
    """A text file of the run, whole or as a byte window (see the module docstring)."""
    if offset is not None and offset < 0:
        raise BadArgument("offset must be 0 or more (a byte position in the file).")
    if limit is not None and not 1 <= limit <= max_bytes:
        raise BadArgument(f"limit must be between 1 and {max_bytes} bytes.")
    guarded = path_guard.resolve(run_dir, path, want="file")
    fd, st = path_guard.open_regular_file(run_dir, guarded)
    try:
        size = st.st_size
        windowed = offset is not None or limit is not None
        if not windowed and size > max_bytes:
            raise TooLarge(
                f"'{guarded.rel}' is {size} bytes, over the {max_bytes}-byte limit; read it in "
                f"windows with offset and limit (at most {max_bytes} bytes each)."
            )
        head = os.pread(fd, SNIFF_BYTES, 0)
        sniffed = _sniff(head, whole=len(head) >= size)
        if isinstance(sniffed, str):
            raise BinaryFile(
                f"'{guarded.rel}' is not text ({_binary_type(guarded.rel, sniffed)}, {size} "
                "bytes); only text files can be read."
            )
        name, codec, unit, bom = sniffed
        requested = offset or 0
        if requested > size:
            raise BadArgument(
                f"offset {requested} is past the end of '{guarded.rel}' ({size} bytes)."
            )
        start, data = _window(fd, size, requested, limit or max_bytes, codec, unit, bom)
    finally:
        os.close(fd)
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        if codec == "utf-8":
            name, text = "latin-1", data.decode("latin-1")
        else:  # a lone surrogate in UTF-16/32: keep the rest readable
            text = data.decode(codec, errors="replace")
    end = start + len(data)
    return FileText(
        path=guarded.rel,
        size=size,
        encoding=name,
        offset=start,
        next_offset=None if end >= size else end,
        eof=end >= size,
        text=text,
    )
