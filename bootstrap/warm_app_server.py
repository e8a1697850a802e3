"""Warm start: a worker keeps one initialised ``codex app-server`` ready for its next turn.

Starting Codex and its ``initialize`` handshake take most of the time
before a turn can start (0.2-0.9 s here, 0.169.0). A worker running the
``app-server`` runner therefore starts one Codex *before* a turn arrives,
in a fresh private ``CODEX_HOME``, and initialises it. When RQ forks the
work horse for the next job, the horse inherits the process's pipes and
adopts it (:func:`take_slot`); the worker closes its own copies of the
pipes, so Codex exits when the horse closes stdin. After the job the
worker discards the slot (stops it if it still runs, reaps it, removes its
home) and warms a new one: each warm Codex serves exactly one turn, so
nothing of one user's turn can reach the next.

The slot holds nothing of a turn: no run directory, no token, no prompt;
those come with ``thread/start`` (:func:`bootstrap.codex_command.app_server_plan`).

With the turn sandbox on (the default) the warm Codex runs in it too,
started through a keeper (:mod:`bootstrap.sandbox_keeper`): the sandbox
shows an empty runs root until the job, knowing its run, has the keeper
bind it there (:func:`~bootstrap.sandbox.show_warm_run`). That needs
``CODEX_RELAY_RUNS_ROOT``; without it a sandboxed worker starts each
turn's Codex cold.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import subprocess
import time
from dataclasses import dataclass, field

import orjson

from relay.app_server_turn import CLIENT_INFO
from relay.errors import RelayError
from relay.jsonrpc import Response, RpcChannel, parse_message
from relay.settings import Settings, setting_name

from .codex_binary import locate_codex, probe_codex
from .codex_command import prepare_app_server_launch
from .codex_home import CodexHome
from .codex_process import CodexProcess, alive
from .sandbox import WarmWorkspace, warm_sandboxed
from .sandbox_keeper import KeeperLink

__all__ = ["WarmKeeper", "WarmSlot", "fingerprint", "start_slot", "take_slot"]

log = logging.getLogger("codex_relay.warm")

#: Seconds the handshake may take before the warm Codex is given up.
_HANDSHAKE_TIMEOUT = 30.0
#: Seconds to wait before trying again after a warm start failed.
_RETRY_AFTER = 30.0
#: The session name warm homes are created under (a turn is not known yet).
_HOME_LABEL = "warm"


def fingerprint(settings: Settings) -> tuple[object, ...]:
    """What a warm Codex was started with; a job with other settings starts its own."""
    return (
        settings.codex_bin,
        settings.model_base_url,
        settings.model,
        settings.model_catalog,
        settings.model_api_key_env,
        settings.model_max_retries,
        settings.sandbox,
        settings.work_dir,
        settings.turn_sandbox,
        settings.bwrap,
        settings.runs_root,
        settings.sandbox_read_only_paths,
        settings.mcp_transport,
    )


@dataclass
class WarmSlot:
    """An initialised app-server waiting for one turn."""

    process: CodexProcess
    home: CodexHome
    key: tuple[object, ...]
    #: Stdout bytes read after the ``initialize`` answer (notifications), for the job.
    pending: bytes = b""
    #: In the turn sandbox: the keeper that will show the run, and where.
    keeper: KeeperLink | None = None
    workspace: WarmWorkspace | None = None
    taken: bool = False
    started_at: float = field(default_factory=time.monotonic)


#: The slot this worker prepared; a forked work horse inherits it.
_READY: WarmSlot | None = None


def start_slot(settings: Settings) -> WarmSlot:
    """Spawn ``codex app-server`` in a fresh home and do the ``initialize`` handshake."""
    codex = probe_codex(locate_codex(settings.codex_bin), app_server=True)
    home = CodexHome(settings, _HOME_LABEL)
    keeper: KeeperLink | None = None
    workspace: WarmWorkspace | None = None
    keeper_end = None
    process: CodexProcess | None = None
    try:
        # No run yet: each thread marks its own directory untrusted (app_server_plan).
        launch = prepare_app_server_launch(settings, home, codex.path, project_dir=str(home.path))
        if settings.turn_sandbox == "on":
            keeper, keeper_end = KeeperLink.pair()
            launch, workspace = warm_sandboxed(
                launch, settings, home, codex.path, keeper_end.fileno()
            )
        fds = (keeper_end.fileno(),) if keeper_end is not None else ()
        process = CodexProcess(
            launch.argv, launch.env, launch.cwd, None, settings.kill_grace, pass_fds=fds
        )
        process.start()
        channel = RpcChannel()
        _, line = channel.request("initialize", {"clientInfo": CLIENT_INFO})
        if not process.write(line):
            raise OSError("Codex closed its stdin")
        pending = _await_answer(process)
        process.write(channel.notification("initialized"))
    except BaseException:
        # Whatever stopped the warm start (a failure, or the worker's own stop
        # request arriving as an exception from its signal handler): leave nothing.
        if process is not None:
            with contextlib.suppress(AssertionError, OSError):
                process.stop()
            _close_pipes(process)
        if keeper is not None:
            keeper.close()
        home.remove()
        raise
    finally:
        if keeper_end is not None:
            keeper_end.close()  # the keeper has its own copy
    return WarmSlot(process, home, fingerprint(settings), pending, keeper, workspace)


def _await_answer(process: CodexProcess) -> bytes:
    """Read stdout until the answer to ``initialize`` (id 1); return every other line.

    Whatever else Codex printed (notifications, or lines that are not JSON at
    all) goes to the job, which reports it as any turn's output.
    """
    assert process.proc is not None and process.proc.stdout and process.proc.stderr
    stdout, stderr = process.proc.stdout, process.proc.stderr
    deadline = time.monotonic() + _HANDSHAKE_TIMEOUT
    buffer, kept = b"", b""
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        selector.register(stderr, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            for key, _ in selector.select(0.1):
                data = os.read(key.fd, 65536)
                if not data:
                    raise OSError("Codex exited during the handshake")
                if key.fileobj is stdout:
                    buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if _answers_initialize(line):
                    return kept + buffer
                kept += line + b"\n"
    raise TimeoutError("Codex did not answer initialize")


def _answers_initialize(line: bytes) -> bool:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    message = parse_message(obj) if isinstance(obj, dict) else None
    if not isinstance(message, Response) or message.id != 1:
        return False
    if message.error is not None:
        raise OSError(f"initialize failed: {message.error.message}")
    return True


def take_slot(settings: Settings) -> WarmSlot | None:
    """The warm app-server for this job, if the worker has one ready for these settings."""
    slot = _READY
    if slot is None or slot.taken or slot.key != fingerprint(settings):
        return None
    # Not slot.process.exited(): in the work horse the process is no child of
    # ours, and Popen.poll() would take that for an exit.
    if not alive(slot.process.pid):
        return None
    slot.taken = True
    return slot


class WarmKeeper:
    """The worker's side: warm a slot before each job, let go after the fork, discard after."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._next_try = 0.0

    @property
    def enabled(self) -> bool:
        """Warm start applies to the ``app-server`` runner; in the sandbox, with a runs root."""
        return self.cold_reason() is None

    def cold_reason(self) -> str | None:
        """Why this worker's turns start Codex cold (``None``: they start warm)."""
        s = self.settings
        if s.runner != "app-server" or not s.warm_start:
            return "warm start is off (it applies to the app-server runner)"
        if s.turn_sandbox == "on" and not s.runs_root:
            return (
                f"a warm Codex in the turn sandbox needs {setting_name('runs_root')} "
                "(the sandbox shows the runs root before the run is known)"
            )
        return None

    def ensure_ready(self) -> None:
        """Warm a slot unless one is ready (a failure is logged; jobs then start Codex cold)."""
        global _READY
        if not self.enabled or time.monotonic() < self._next_try:
            return
        if _READY is not None and not _READY.taken and not _READY.process.exited():
            return
        self.discard()
        try:
            _READY = start_slot(self.settings)
        except (OSError, TimeoutError, RelayError) as exc:
            # Not fatal: turns start Codex themselves (and report what fails).
            # Anything else, RQ's StopRequested above all, goes on up.
            self._next_try = time.monotonic() + _RETRY_AFTER
            log.warning("warm start failed, turns start Codex cold for now: %s", exc)
            return
        log.info("warm Codex ready (pid %s)", _READY.process.pid)

    def handed_over(self) -> None:
        """After the fork, in the worker: the horse owns the pipes now; close ours."""
        slot = _READY
        if slot is None:
            return
        slot.taken = True  # whether or not the job used it, it is not served twice
        _close_pipes(slot.process)
        if slot.keeper is not None:
            slot.keeper.close()

    def discard(self) -> None:
        """Stop the slot's Codex if it still runs, reap it and remove its home.

        Nothing here swallows more than the errors it expects: RQ delivers a
        stop request (SIGTERM) as an exception raised wherever the worker is,
        possibly in here, and it must reach RQ. The home goes whatever happens.
        """
        global _READY
        slot = _READY
        if slot is None:
            return
        try:
            with contextlib.suppress(OSError, AssertionError):
                if not slot.process.exited():
                    slot.process.stop()
            proc = slot.process.proc
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        finally:
            _READY = None
            _close_pipes(slot.process)  # a slot never handed over still holds them
            if slot.keeper is not None:
                slot.keeper.close()
            slot.home.remove()


def _close_pipes(process: CodexProcess) -> None:
    proc = process.proc
    if proc is not None:
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
