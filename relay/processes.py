"""Process helpers shared by the worker, the supervisor and the MCP server."""

from __future__ import annotations

import ctypes
import signal

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child before ``exec``: have the kernel SIGKILL it when its parent dies.

    For ``subprocess.Popen(preexec_fn=...)``: a Codex or MCP server process
    must not outlive the worker that started it (``kill -9``, OOM killer).
    Linux only; a no-op elsewhere.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # pragma: no cover - non-Linux
        pass
