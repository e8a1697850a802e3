"""How the operator commands print: plain tables, JSON, and colour only on a terminal.

Colour is used when stdout is a terminal and ``NO_COLOR`` is unset
(https://no-color.org), so piped output stays plain text.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import orjson

__all__ = ["ago", "bold", "green", "print_json", "red", "table"]


def _colour(text: str, code: str) -> str:
    if not sys.stdout.isatty() or os.environ.get("NO_COLOR"):
        return text
    return f"\033[{code}m{text}\033[0m"


def green(text: str) -> str:
    """``text`` in green on a terminal."""
    return _colour(text, "32")


def red(text: str) -> str:
    """``text`` in red on a terminal."""
    return _colour(text, "31")


def bold(text: str) -> str:
    """``text`` in bold on a terminal."""
    return _colour(text, "1")


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON with sorted keys."""
    print(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: bold headers, columns padded to their widest cell, ``-`` for None."""
    cells = [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(bold(h.ljust(w)) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def ago(ts: float | None, now: float) -> str:
    """How long before ``now`` ``ts`` was, in seconds (``-`` when unknown)."""
    return "-" if not ts else f"{max(0.0, now - ts):.0f}s"
