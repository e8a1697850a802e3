"""Spawn and supervise one Codex process (``codex exec`` or ``codex app-server``).

Codex runs in a process group of its own. ``codex exec`` gets the prompt on
stdin, closed at once (with stdin left open it waits for EOF);
``codex app-server`` keeps stdin open for JSON-RPC (:meth:`CodexProcess.write`)
and exits when it is closed. A warm app-server started earlier by the worker
is *adopted* (:meth:`CodexProcess.adopt`): the job's process did not spawn
it, so it cannot reap it, and watches it through ``/proc`` instead. One
thread drives a selector over stdout and stderr, so neither pipe can fill up
and stall Codex, and checks the deadlines and the cancel flag between reads.

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
from typing import IO

from relay.processes import die_with_parent

__all__ = ["CodexProcess", "ProcessOutcome", "alive", "descendants"]

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
    """One Codex run: start (or adopt) it, pump its output, write to it, stop it."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        prompt: bytes | None,
        kill_grace: float = 1.0,
        pass_fds: Sequence[int] = (),
    ) -> None:
        """``prompt``: written to stdin, which is then closed; ``None`` keeps stdin open.

        ``pass_fds``: descriptors Codex (or what starts it) inherits besides its pipes.
        """
        self.argv = list(argv)
        self.pass_fds = tuple(pass_fds)
        self.env = dict(env)
        self.cwd = cwd
        self.prompt = prompt
        self.kill_grace = kill_grace
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._pid = 0
        self._stdin: IO[bytes] | None = None
        self._stdout: IO[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @classmethod
    def adopt(
        cls,
        pid: int,
        stdin: IO[bytes],
        stdout: IO[bytes],
        stderr: IO[bytes],
        kill_grace: float = 1.0,
    ) -> CodexProcess:
        """Take over a running Codex this process did not spawn (a warm app-server).

        Its exit status cannot be known here (its parent reaps it): an adopted
        process's outcome has ``returncode`` ``None``.
        """
        process = cls([], {}, "", None, kill_grace)
        process._pid = pid
        process._stdin, process._stdout, process._stderr = stdin, stdout, stderr
        process.started_at = time.monotonic()
        return process

    @property
    def pid(self) -> int:
        """Process id (also the process group id) of Codex."""
        assert self._pid, "not started"
        return self._pid

    def start(self) -> None:
        """Spawn Codex in its own process group and hand it the prompt (if any)."""
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
            pass_fds=self.pass_fds,
        )
        self._pid = self.proc.pid
        self._stdin, self._stdout, self._stderr = (
            self.proc.stdin,
            self.proc.stdout,
            self.proc.stderr,
        )
        if self.prompt is not None:
            threading.Thread(target=self._feed_prompt, name="codex-stdin", daemon=True).start()

    def _feed_prompt(self) -> None:
        assert self._stdin is not None and self.prompt is not None
        with contextlib.suppress(BrokenPipeError, OSError):
            self._stdin.write(self.prompt)
        self.close_stdin()

    def write(self, data: bytes) -> bool:
        """Write ``data`` to Codex's stdin; ``False`` if Codex no longer reads it."""
        if not data or self._stdin is None or self._stdin.closed:
            return False
        try:
            self._stdin.write(data)
            self._stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def close_stdin(self) -> None:
        """Close Codex's stdin (an app-server then exits)."""
        if self._stdin is not None:
            with contextlib.suppress(BrokenPipeError, OSError, ValueError):
                self._stdin.close()

    def run(
        self,
        on_stdout: Callable[[bytes], None],
        tick: Callable[[], bool],
        turn_timeout: float,
        idle_timeout: float,
        poll: float = 0.05,
        waiting: Callable[[], bool] = lambda: False,
    ) -> ProcessOutcome:
        """Pump output until Codex exits, a deadline passes or ``tick()`` asks to stop.

        ``on_stdout`` gets every stdout chunk as it arrives; ``tick`` is
        called between reads and returns ``True`` to stop Codex now (a
        cancel, or a runner that gave up waiting). While ``waiting()`` is
        true (an approval waits for the user) silence is not idleness.
        """
        assert self._stdout is not None and self._stderr is not None
        selector = selectors.DefaultSelector()
        for stream in (self._stdout, self._stderr):
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
                    if key.fileobj is self._stdout:
                        if first_output is None:
                            first_output = last_output - self.started_at
                        on_stdout(data)
                    else:
                        stderr_tail = (stderr_tail + data)[-_STDERR_TAIL:]
                now = time.monotonic()
                if waiting():
                    last_output = now
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
            self._stdout.close()
            self._stderr.close()
            self.close_stdin()
        returncode = self._wait()
        self._kill_leftovers()
        return ProcessOutcome(
            reason, returncode, stderr_tail.decode("utf-8", "replace"), first_output
        )

    def _wait(self) -> int | None:
        if self.proc is None:  # adopted: not ours to reap, only to watch
            deadline = time.monotonic() + self.kill_grace + 5
            while alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if alive(self.pid):
                self.stop()
            return None
        try:
            return self.proc.wait(timeout=self.kill_grace + 5)
        except subprocess.TimeoutExpired:
            self.stop()
            return self.proc.wait()

    def exited(self) -> bool:
        """Whether Codex has exited (a zombie counts as exited)."""
        if self.proc is not None:
            return self.proc.poll() is not None
        return not alive(self.pid)

    def stop(self) -> None:
        """Stop Codex and everything it started: TERM, ``kill_grace`` seconds, KILL."""
        tree = descendants(self.pid)
        self._signal_all(signal.SIGTERM, tree)
        deadline = time.monotonic() + self.kill_grace
        while time.monotonic() < deadline:
            if self.exited() and not any(alive(p) for p in tree):
                break
            time.sleep(0.02)
        self._signal_all(signal.SIGKILL, tree + descendants(self.pid))
        if self.proc is not None:
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


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not); works for processes that are not our children."""
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
