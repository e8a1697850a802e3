"""The one place that turns a path from the model into a file of the run.

Every tool goes through :func:`resolve` (and :func:`open_regular_file` or
:func:`open_directory` to read). A path is *relative to the run directory*,
written with ``/``. The rules, in the order they are checked:

Refused by its text alone (:class:`~mcp_tools.errors.UnsafePath`):
  * NUL bytes and other control characters;
  * more than :data:`MAX_PATH_CHARS` characters, a component over
    :data:`MAX_COMPONENT_BYTES` UTF-8 bytes, more than :data:`MAX_DEPTH` components;
  * absolute paths (``/etc``, ``//server/share``), ``~`` and ``~user``;
  * any ``..`` component, even one that would stay inside the run;
  * Windows forms: backslashes anywhere (``..\\x``, ``\\\\server\\share``),
    drive letters (``C:``, ``C:/x``, ``C:\\x``), and URLs (``file:///etc``);
  * a component in :data:`DENIED_NAMES` (``.git``, ``.ssh``, ``.env``, ...).

Not decoded: percent-encoding (``%2e%2e/``), HTML entities and look-alike
Unicode dots (``\\u2024``, full-width ``\\uff0e``) are taken *literally*, as
the characters of a file name, exactly like the filesystem does; such a path
is just a name that usually does not exist. Nothing is URL-decoded or
Unicode-normalised anywhere, so there is no second interpretation to exploit.

Refused after resolving it (``os.path.realpath``):
  * the result is not the run directory or below it: a symbolic link (the file
    or any parent) leading out of the run, including to a sibling whose name
    merely starts like the run's (``run-evil`` next to ``run``: containment is
    checked on whole path components, never on a string prefix);
  * a symbolic link landing in a denied directory, or a link loop;
  * device files, FIFOs and sockets (only regular files and directories exist
    for the tools).

Symbolic links that stay inside the run are followed. Opening is race-safe:
the file is opened without following a final link (``O_NOFOLLOW``), without
blocking (``O_NONBLOCK``: a FIFO swapped in cannot hang the server), then the
*opened* file is checked again with ``fstat`` and its real path from
``/proc/self/fd`` (Linux): inside the run, and no component in
:data:`DENIED_NAMES`. So a directory swapped for a link (to outside the run,
or to ``.git``) between the check and the open is caught. Directories are
walked one level at a time through descriptors (:func:`open_child_directory`),
never by path.

Hidden files: names starting with ``.`` are **not listed** by
``list_run_files`` and ``describe_run_contents`` (they are backups, locks and
tool state), but can be **read when named explicitly** (for example a
backup under ``reports/.backups/``), unless a component is in
:data:`DENIED_NAMES`, which are never listed nor read.

A regular file with more than one hard link is refused: any of its other
names may be a protected one (a second link to ``.git/config`` under
``reports/``), and nothing short of scanning the run could tell. An edit
replaces a report (``rename``), so the relay itself never makes such links.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import NotFound, UnsafePath, WrongKind

__all__ = [
    "DENIED_NAMES",
    "MAX_COMPONENT_BYTES",
    "MAX_DEPTH",
    "MAX_PATH_CHARS",
    "GuardedPath",
    "is_hidden",
    "is_inside",
    "open_child_directory",
    "open_directory",
    "open_regular_file",
    "opened_path",
    "resolve",
    "shown",
    "split_relative",
    "stat_in_run",
]

#: Longest path accepted, in characters.
MAX_PATH_CHARS = 1024
#: Longest path component accepted, in UTF-8 bytes (the usual filesystem limit).
MAX_COMPONENT_BYTES = 255
#: Most components in one path.
MAX_DEPTH = 48
#: Names that are never listed nor read, wherever they are in the run.
DENIED_NAMES = frozenset(
    {".git", ".hg", ".svn", ".ssh", ".gnupg", ".aws", ".env", ".netrc", ".pgpass", ".codex"}
)

Kind = Literal["file", "dir"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


@dataclass(frozen=True)
class GuardedPath:
    """A path that passed the guard: inside the run, a regular file or a directory."""

    #: The resolved absolute path (never shown to the model).
    real: Path
    #: The path relative to the run directory, with ``/`` (``.`` for the run itself).
    rel: str
    kind: Kind
    #: Size in bytes (0 for directories).
    size: int


def shown(path: str, limit: int = 80) -> str:
    """``path`` quoted for an error message: control characters escaped, cut to ``limit``."""
    text = repr(path)[1:-1]
    return f"'{text[:limit]}…'" if len(text) > limit else f"'{text}'"


def is_hidden(name: str) -> bool:
    """Whether a file name is hidden (starts with a dot), so not listed."""
    return name.startswith(".")


def is_inside(root: str, candidate: str) -> bool:
    """Whether ``candidate`` is ``root`` or below it, compared by whole components.

    Both must be absolute, normalised paths. ``/runs/run-evil`` is *not*
    inside ``/runs/run``.
    """
    if candidate == root:
        return True
    return candidate.startswith(root if root.endswith(os.sep) else root + os.sep)


def split_relative(path: str, *, allow_root: bool = False) -> list[str]:
    """The components of ``path`` after the textual checks (see the module docstring).

    Empty components and ``.`` are dropped (``./a//b/`` is ``a/b``). An empty
    result (the run directory itself) is refused unless ``allow_root``.
    """
    if not isinstance(path, str):
        raise UnsafePath("The path must be a string.")
    if "\x00" in path:
        raise UnsafePath(f"The path {shown(path)} contains a NUL byte; refused.")
    if _CONTROL.search(path):
        raise UnsafePath(f"The path {shown(path)} contains control characters; refused.")
    if len(path) > MAX_PATH_CHARS:
        raise UnsafePath(
            f"The path is too long ({len(path)} characters, at most {MAX_PATH_CHARS})."
        )
    if "\\" in path:
        raise UnsafePath(
            f"The path {shown(path)} contains a backslash; use '/' and a path inside the run."
        )
    if _DRIVE.match(path) or _URL.match(path):
        raise UnsafePath(f"The path {shown(path)} is not a path inside the run; refused.")
    if path.startswith("/"):
        raise UnsafePath(
            f"The path {shown(path)} is absolute; give a path relative to the run directory."
        )
    if path.startswith("~"):
        raise UnsafePath(f"The path {shown(path)} starts with '~'; give a path inside the run.")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    for part in parts:
        if part == "..":
            raise UnsafePath(f"The path {shown(path)} contains '..'; paths cannot leave the run.")
        if len(part.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES:
            raise UnsafePath(f"A name in the path is longer than {MAX_COMPONENT_BYTES} bytes.")
        if part in DENIED_NAMES:
            raise UnsafePath(f"'{part}' is a protected name; it cannot be read or listed.")
    if len(parts) > MAX_DEPTH:
        raise UnsafePath(f"The path has more than {MAX_DEPTH} components.")
    if not parts and not allow_root:
        raise UnsafePath("The path is empty; name a file inside the run.")
    return parts


def resolve(run_dir: Path, path: str, *, want: Kind | None = None) -> GuardedPath:
    """Resolve ``path`` inside ``run_dir`` (already resolved) and check what it names.

    ``want`` asks for a file or a directory (:class:`WrongKind` otherwise);
    ``None`` accepts both. Raises :class:`UnsafePath` or :class:`NotFound`.
    """
    parts = split_relative(path, allow_root=want != "file")
    root = str(run_dir)
    try:
        real = os.path.realpath(os.path.join(root, *parts))
    except OSError:  # Python 3.11: a link removed while it is being read
        raise NotFound(f"The path {shown(path)} changed while it was being resolved.") from None
    if not is_inside(root, real):
        raise UnsafePath(f"The path {shown(path)} leads outside the run (through a symbolic link).")
    rel_parts = Path(real).relative_to(root).parts
    if any(part in DENIED_NAMES for part in rel_parts):
        raise UnsafePath(f"The path {shown(path)} leads into a protected directory; refused.")
    try:
        st = os.lstat(real)
    except FileNotFoundError:
        raise NotFound(f"There is no file or directory {shown(path)} in this run.") from None
    except OSError:
        raise NotFound(f"The path {shown(path)} cannot be accessed.") from None
    rel = "/".join(rel_parts) or "."
    kind = _kind_of(st.st_mode, path)
    if want == "file" and kind == "dir":
        raise WrongKind(f"'{rel}' is a directory; list it with list_run_files.")
    if want == "dir" and kind == "file":
        raise WrongKind(f"'{rel}' is a file, not a directory; read it with read_run_file.")
    return GuardedPath(
        real=Path(real), rel=rel, kind=kind, size=st.st_size if kind == "file" else 0
    )


def _kind_of(mode: int, path: str) -> Kind:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):  # realpath leaves a link in place only when it loops
        raise UnsafePath(f"The path {shown(path)} is a symbolic link loop; refused.")
    raise UnsafePath(
        f"The path {shown(path)} is a special file (device, FIFO or socket); only regular "
        "files can be read."
    )


def opened_path(fd: int) -> str | None:
    """The real path of an open descriptor (Linux ``/proc``), or None elsewhere."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def _check_opened(run_dir: Path, fd: int, rel: str) -> None:
    """What was really opened is inside the run and under no protected name."""
    opened = opened_path(fd)
    if opened is None:
        return
    if not is_inside(str(run_dir), opened):
        raise UnsafePath(f"'{rel}' changed into a path outside the run; refused.")
    if any(part in DENIED_NAMES for part in Path(opened).relative_to(run_dir).parts):
        raise UnsafePath(f"'{rel}' changed into a protected path; refused.")


def _open_checked(run_dir: Path, guarded: GuardedPath, flags: int) -> tuple[int, os.stat_result]:
    try:
        fd = os.open(guarded.real, flags)
    except FileNotFoundError:
        raise NotFound(f"'{guarded.rel}' disappeared while it was being opened.") from None
    except OSError:
        # ELOOP (a link swapped in), ENXIO (a socket), EACCES, ...
        raise UnsafePath(f"'{guarded.rel}' cannot be opened safely; refused.") from None
    try:
        st = os.fstat(fd)
        _kind_of(st.st_mode, guarded.rel)
        _check_opened(run_dir, fd, guarded.rel)
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            raise UnsafePath(
                f"'{guarded.rel}' has {st.st_nlink} hard links; a file with more than one name "
                "cannot be read through the tools (another of its names may be protected)."
            )
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def stat_in_run(run_dir: Path, real: str, rel: str) -> os.stat_result:
    """``stat`` of ``real`` (a resolved path) through a descriptor, checked like an open.

    For listings: a link target is looked at only once it is known to be
    inside the run and under no protected name, whatever was swapped meanwhile.
    """
    try:
        fd = os.open(real, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        raise NotFound(f"'{rel}' cannot be looked at.") from None
    try:
        _check_opened(run_dir, fd, rel)
        return os.fstat(fd)
    finally:
        os.close(fd)


def open_regular_file(run_dir: Path, guarded: GuardedPath) -> tuple[int, os.stat_result]:
    """Open a guarded file for reading; returns ``(fd, stat)``. The caller closes ``fd``."""
    fd, st = _open_checked(run_dir, guarded, _OPEN_FLAGS)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise WrongKind(f"'{guarded.rel}' is not a regular file.")
    return fd, st


def open_directory(run_dir: Path, guarded: GuardedPath) -> int:
    """Open a guarded directory (for ``os.scandir(fd)``); the caller closes the fd."""
    fd, st = _open_checked(run_dir, guarded, _OPEN_FLAGS | os.O_DIRECTORY)
    if not stat.S_ISDIR(st.st_mode):
        os.close(fd)
        raise WrongKind(f"'{guarded.rel}' is not a directory.")
    return fd


def open_child_directory(
    run_dir: Path, parent_fd: int, name: str, rel: str, *, create: bool = False
) -> int:
    """Open directory ``name`` of the open directory ``parent_fd``, never through a link.

    With ``create`` it is made first when missing. The opened directory is
    checked to be inside the run; ``rel`` is its run-relative path for
    messages. The caller closes the fd.
    """
    if create:
        try:
            os.mkdir(name, 0o755, dir_fd=parent_fd)
        except FileExistsError:
            pass
        except OSError:
            raise UnsafePath(f"'{rel}' cannot be created.") from None
    try:
        fd = os.open(name, _OPEN_FLAGS | os.O_DIRECTORY, dir_fd=parent_fd)
    except OSError:
        raise UnsafePath(f"'{rel}' is not a plain directory inside the run; refused.") from None
    try:
        _check_opened(run_dir, fd, rel)
    except BaseException:
        os.close(fd)
        raise
    return fd
