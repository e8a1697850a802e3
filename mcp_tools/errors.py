"""The MCP tools' branch of the exception tree, and its one mapping to MCP tool errors.

Every failure a tool anticipates raises one of these. :func:`to_mcp_error`
turns it into the SDK's tool error, which the model reads as an error result
(``is_error: true``) with the text ``<code>: <message>``. Messages are short,
say what to do next where that helps, name files only by their path inside
the run, and never carry a stack trace: anything that is *not* a
:class:`ToolError` becomes :class:`InternalToolError`'s fixed message, and the
traceback goes to the server log (stderr) only.

::

    ToolError (a RelayError)        base; ``code`` is a stable snake_case string
    ├── Unauthorised                token missing, forged, expired, malformed or revoked
    ├── Forbidden                   valid token, but another run or too low a tier
    ├── BadArgument                 an argument has a wrong value (offset, report id, ...)
    ├── UnsafePath                  the path could leave the run or names a special file
    ├── NotFound                    no such file, directory or report
    │   └── NoSuchEdit              no such edit in the report's journal
    ├── WrongKind                   a directory where a file is needed, or the reverse
    ├── TooLarge                    over a size limit (the message gives the size)
    ├── BinaryFile                  not text (the message gives size and type)
    ├── SectionError                a report section cannot be addressed or edited
    │   ├── AmbiguousSection        the pattern matches several sections (lists them)
    │   ├── NoSuchSection           the pattern matches no section (lists some)
    │   └── UnsafeEdit              the new content would change other sections
    ├── Busy                        another edit holds the report's lock too long
    ├── EditConflict                an undo that cannot be done now (nothing was written)
    │   ├── ReportChanged           the report changed after that edit
    │   ├── AlreadyUndone           the edit is undone already
    │   └── BackupMissing           the text from before the edit is no longer kept
    └── InternalToolError           an unexpected failure; details only in the log
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relay.errors import RelayError

if TYPE_CHECKING:  # the SDK is imported lazily: keeps ``import mcp_tools.*`` cheap
    from mcp.server.mcpserver.exceptions import ToolError as SdkToolError

__all__ = [
    "AlreadyUndone",
    "AmbiguousSection",
    "BackupMissing",
    "BadArgument",
    "BinaryFile",
    "Busy",
    "EditConflict",
    "Forbidden",
    "InternalToolError",
    "NoSuchEdit",
    "NoSuchSection",
    "NotFound",
    "ReportChanged",
    "SectionError",
    "TooLarge",
    "ToolError",
    "Unauthorised",
    "UnsafeEdit",
    "UnsafePath",
    "WrongKind",
    "to_mcp_error",
]


class ToolError(RelayError):
    """Base class of every failure an MCP tool of codex-relay raises on purpose."""

    code = "tool_error"

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class Unauthorised(ToolError):
    """The run token is missing, forged, expired, malformed or revoked."""

    code = "unauthorised"


class Forbidden(ToolError):
    """The token is valid but for another run, or its tier is too low."""

    code = "forbidden"


class BadArgument(ToolError):
    """An argument has a value the tool cannot use."""

    code = "bad_argument"


class UnsafePath(ToolError):
    """The path is refused: it could leave the run or names a special file."""

    code = "unsafe_path"


class NotFound(ToolError):
    """No such file, directory or report in the run."""

    code = "not_found"


class NoSuchEdit(NotFound):
    """The report's journal has no edit with that id."""

    code = "no_such_edit"


class WrongKind(ToolError):
    """The path is a directory where a file is needed, or the reverse."""

    code = "wrong_kind"


class TooLarge(ToolError):
    """A file or an argument is over its size limit."""

    code = "too_large"


class BinaryFile(ToolError):
    """The file is not text."""

    code = "binary_file"


class SectionError(ToolError):
    """A report section cannot be addressed or edited."""

    code = "section_error"


class AmbiguousSection(SectionError):
    """The pattern matches more than one section."""

    code = "ambiguous_section"


class NoSuchSection(SectionError):
    """The pattern matches no section."""

    code = "no_such_section"


class UnsafeEdit(SectionError):
    """The new content would change the headings of other sections."""

    code = "unsafe_edit"


class Busy(ToolError):
    """Another edit of the same report holds its lock for too long."""

    code = "busy"


class EditConflict(ToolError):
    """An edit cannot be undone now; nothing was written."""

    code = "edit_conflict"


class ReportChanged(EditConflict):
    """The report changed after the edit, so undoing it would lose the later text."""

    code = "report_changed"


class AlreadyUndone(EditConflict):
    """The edit has been undone already (undo the undo to bring it back)."""

    code = "already_undone"


class BackupMissing(EditConflict):
    """The text from before the edit is no longer kept (its backup was removed or altered)."""

    code = "backup_missing"


class InternalToolError(ToolError):
    """An unexpected failure; the details are in the server log only."""

    code = "internal_error"

    def __init__(
        self, message: str = "The tool failed unexpectedly; the details are in the server log."
    ) -> None:
        super().__init__(message)


def to_mcp_error(exc: BaseException) -> SdkToolError:
    """The SDK tool error the model sees for ``exc`` (the one place of this mapping).

    A :class:`ToolError` keeps its code and message; anything else becomes the
    fixed :class:`InternalToolError` text, so no exception text (which may hold
    an absolute path) or traceback reaches the model.
    """
    from mcp.server.mcpserver.exceptions import ToolError as SdkToolError

    mapped = exc if isinstance(exc, ToolError) else InternalToolError()
    return SdkToolError(str(mapped))
