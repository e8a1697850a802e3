"""Looking for processes from the tests: is a command still running, and waiting until not."""

from __future__ import annotations

import os
import time
from pathlib import Path


def process_alive(needle: str) -> bool:
    """Whether a running (not zombie) process has ``needle`` in its command line."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
                state = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
            except OSError:
                continue
            if needle.encode() in cmdline and state != b"Z":
                return True
    return False


def wait_gone(needle: str, timeout: float = 10) -> bool:
    """Whether every process with ``needle`` in its command line ends within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive(needle):
            return True
        time.sleep(0.1)
    return False
