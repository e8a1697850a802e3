"""Spawn and supervise one ``codex exec`` process.

Codex runs in a process group of its own with the prompt on stdin (closed
at once: with stdin left open Codex waits for EOF). One thread drives a
selector over stdout and stderr, so neither pipe can fill up and stall
Codex, and checks the deadlines and the cancel flag between reads.

Stopping is always the same: snapshot the process tree, SIGTERM the group
and every descendant, wait ``kill_grace`` seconds, then SIGKILL whatever is
left. Commands Codex started outside its sandbox can outlive it and may sit
in process groups of their own, so the tree is taken from ``/proc`` rather
than trusting the group alone. Codex killed by a signal prints no final
event (seen with 0.169.0); the caller writes one.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from relay.processes import die_with_parent

__all__ = ["CodexProcess", "ProcessOutcome", "descendants"]

_READ_SIZE = 256 * 1024
_STDERR_TAIL = 8 * 1024


@dataclass(frozen=True)
class ProcessOutcome:
    """How a supervised Codex process ended."""

    #: ``exited``, ``cancelled``, ``timeout`` (whole turn) or ``idle_timeout``.
    reason: str
    #: Exit status (negative: killed by that signal), ``None`` if unknown.
    returncode: int | None
    #: The last few KB of stderr, for error messages and logs.
    stderr_tail: str
    #: Seconds from spawn to the first stdout byte (``None``: no output).
    first_output: float | None


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from ``/proc``; empty where there is none)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:  # pragma: no cover - no procfs
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: split after the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


class CodexProcess:
    """One ``codex exec`` run: start it, pump its output, stop it."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        prompt: bytes,
        kill_grace: float = 1.0,
    ) -> None:
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.prompt = prompt
        self.kill_grace = kill_grace
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @property
    def pid(self) -> int:
        """Process id (also the process group id) of Codex."""
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        """Spawn Codex in its own process group and hand it the prompt."""
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            process_group=0,
            # If the job process is SIGKILLed (RQ's stop command, OOM), take
            # Codex down with it instead of leaving an orphan running the turn.
            preexec_fn=die_with_parent,
            close_fds=True,
        )
        threading.Thread(target=self._feed_prompt, name="codex-stdin", daemon=True).start()

    def _feed_prompt(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError):
            self.proc.stdin.write(self.prompt)
        with contextlib.suppress(BrokenPipeError, OSError):
            self.proc.stdin.close()

    def run(
        self,
        on_stdout: Callable[[bytes], None],
        tick: Callable[[], bool],
        turn_timeout: float,
        idle_timeout: float,
        poll: float = 0.05,
    ) -> ProcessOutcome:
        """Pump output until Codex exits, a deadline passes or ``tick()`` asks to cancel.

        ``on_stdout`` gets every stdout chunk as it arrives; ``tick`` is
        called between reads and returns ``True`` to cancel the turn.
        """
        assert self.proc is not None and self.proc.stdout and self.proc.stderr
        selector = selectors.DefaultSelector()
        for stream in (self.proc.stdout, self.proc.stderr):
            os.set_blocking(stream.fileno(), False)
            selector.register(stream, selectors.EVENT_READ)
        stderr_tail = b""
        first_output: float | None = None
        last_output = self.started_at
        reason = "exited"
        try:
            while selector.get_map():
                for key, _ in selector.select(poll):
                    data = os.read(key.fd, _READ_SIZE)
                    if not data:
                        selector.unregister(key.fileobj)
                        continue
                    last_output = time.monotonic()
                    if key.fileobj is self.proc.stdout:
                        if first_output is None:
                            first_output = last_output - self.started_at
                        on_stdout(data)
                    else:
                        stderr_tail = (stderr_tail + data)[-_STDERR_TAIL:]
                now = time.monotonic()
                if tick():
                    reason = "cancelled"
                elif now - self.started_at > turn_timeout:
                    reason = "timeout"
                elif now - last_output > idle_timeout:
                    reason = "idle_timeout"
                else:
                    continue
                self.stop()
                break
        finally:
            selector.close()
            self.proc.stdout.close()
            self.proc.stderr.close()
        returncode = self._wait()
        self._kill_leftovers()
        return ProcessOutcome(
            reason, returncode, stderr_tail.decode("utf-8", "replace"), first_output
        )

    def _wait(self) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=self.kill_grace + 5)
        except subprocess.TimeoutExpired:
            self.stop()
            return self.proc.wait()

    def stop(self) -> None:
        """Stop Codex and everything it started: TERM, ``kill_grace`` seconds, KILL."""
        assert self.proc is not None
        tree = descendants(self.pid)
        self._signal_all(signal.SIGTERM, tree)
        deadline = time.monotonic() + self.kill_grace
        while time.monotonic() < deadline:
            if self.proc.poll() is not None and not any(_alive(p) for p in tree):
                break
            time.sleep(0.02)
        self._signal_all(signal.SIGKILL, tree + descendants(self.pid))
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def _kill_leftovers(self) -> None:
        # Background commands ("sleep 100 &") stay in Codex's process group
        # after it exits; nothing of a finished turn may keep running.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def _signal_all(self, sig: signal.Signals, tree: list[int]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)
        for pid in tree:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return stat[stat.rfind(b")") + 2 :][:1] != b"Z"
    except OSError:
        return False
