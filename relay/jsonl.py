"""Incremental JSON Lines decoding over arbitrary byte chunks.

Codex writes one JSON object per line on stdout, but a pipe delivers bytes
in chunks that split lines anywhere; a single line can be many megabytes
(a command's whole output). :class:`JsonLinesDecoder` joins the pieces,
tolerates CRLF and blank lines, and turns anything that is not one JSON
object per line into a :class:`BadLine` instead of raising.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["BadLine", "JsonLinesDecoder"]

#: How much of a bad line is kept for the error message.
_PREVIEW_CHARS = 200


@dataclass(frozen=True)
class BadLine:
    """A stdout line that is not a JSON object."""

    reason: str
    preview: str
    size: int


class JsonLinesDecoder:
    """Feed bytes in, get decoded JSON objects (or :class:`BadLine`) out.

    Lines longer than ``max_line_bytes`` are not kept in memory: they are
    reported as one :class:`BadLine` once their end arrives.
    """

    def __init__(self, max_line_bytes: int = 64 * 1024 * 1024) -> None:
        self._max = max_line_bytes
        self._parts: list[bytes] = []
        self._size = 0
        self._overflow = False

    def feed(self, chunk: bytes) -> list[dict[str, Any] | BadLine]:
        """Decode every line completed by ``chunk``."""
        out: list[dict[str, Any] | BadLine] = []
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                self._keep(chunk[start:])
                return out
            if self._parts or self._overflow:
                self._keep(chunk[start:end])
                line, size, overflow = self._take()
            else:
                # The limit holds however the pipe split the line.
                size = end - start
                line, overflow = chunk[start:end], size > self._max
            self._decode(line, size, overflow, out)
            start = end + 1

    def close(self) -> list[dict[str, Any] | BadLine]:
        """Decode a last line that had no newline (at end of stream)."""
        out: list[dict[str, Any] | BadLine] = []
        if self._parts or self._overflow:
            line, size, overflow = self._take()
            self._decode(line, size, overflow, out)
        return out

    def _keep(self, piece: bytes) -> None:
        if not piece:
            return
        self._size += len(piece)
        if self._overflow:
            return
        if self._size > self._max:
            self._overflow = True
            self._parts.clear()
        else:
            self._parts.append(piece)

    def _take(self) -> tuple[bytes, int, bool]:
        line = b"".join(self._parts)
        size, overflow = self._size, self._overflow
        self._parts, self._size, self._overflow = [], 0, False
        return line, size, overflow

    def _decode(
        self, line: bytes, size: int, overflow: bool, out: list[dict[str, Any] | BadLine]
    ) -> None:
        if overflow:
            out.append(BadLine(f"line of {size} bytes is over the limit", "", size))
            return
        line = line.strip()
        if not line:
            return
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            out.append(BadLine("not JSON", _preview(line), size))
            return
        if isinstance(value, dict):
            out.append(value)
        else:
            out.append(BadLine("not a JSON object", _preview(line), size))


def _preview(line: bytes) -> str:
    return line[: _PREVIEW_CHARS * 4].decode("utf-8", "replace")[:_PREVIEW_CHARS]
