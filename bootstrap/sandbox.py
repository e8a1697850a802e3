"""Each turn's Codex in a sandbox of its own: bubblewrap user and mount namespaces.

:func:`sandboxed` turns a :class:`~bootstrap.codex_command.CodexLaunch`
(``codex exec`` or ``codex app-server``) into the same launch run under
``bwrap``. A warm app-server, started before its run is known, goes in
through :func:`warm_sandboxed` instead: its sandbox shows an empty runs root
until :func:`show_warm_run` has its keeper (:mod:`bootstrap.sandbox_keeper`)
bind the turn's run there. Inside, the turn sees:

==========================  =====================================================
``/usr`` (``/bin``, ``/lib*``  read-only: the system's programs and libraries
and ``/sbin`` as on the host)
a few files of ``/etc``     read-only: users and groups, name resolution, TLS
                            certificates, the dynamic linker's cache, time zone,
                            ``alternatives`` (:data:`ETC_ENTRIES`); nothing else
``/proc``, ``/dev``         a fresh ``procfs`` of the turn's own PID namespace,
                            and a minimal ``/dev`` (``null``, ``urandom``, ``pts``...)
the run directory           at its own path; read-only for tier ``read``
``/codex/home``             the turn's private ``CODEX_HOME`` (also ``HOME``)
``/tmp``                    the turn's private temporary directory (``TMPDIR``)
what Codex needs to read    at their own paths, read-only: Codex's npm package,
                            the model catalog, a stdio MCP server's Python
                            (:attr:`CodexLaunch.reads`), and the operator's
                            ``CODEX_RELAY_SANDBOX_READ_ONLY_PATHS``
==========================  =====================================================

and nothing else: no other run, no other turn's home, none of the relay's
files (the repository, its virtualenv, the worker's work directory), not the
host's ``/tmp``, ``/home``, ``/var``, ``/run`` or ``/sys``. The root itself is
read-only. The turn has PID, IPC, UTS and cgroup namespaces of its own, so
it sees no other process; everything in it dies with Codex (the namespace's
init exits) or with the worker (``--die-with-parent``).

The network namespace is shared: Codex itself must reach the model endpoint
and the MCP tools server (both may be on loopback). The agent's *commands*
get no network from Codex's own sandbox, which runs nested inside this one
(its bubblewrap and seccomp filter deny ``socket()`` for TCP and for Unix
sockets alike, in ``read-only`` and ``workspace-write``). So
``danger-full-access``, which would leave commands the network (the
relay's Redis included) and Codex's home to write, is refused while the
turn sandbox is on (:func:`check_sandbox_settings`).

``CODEX_HOME`` lies outside ``/tmp`` on purpose: Codex 0.169.0 refuses to
create its ``codex-linux-sandbox`` helper under the temporary directory, and
with a system ``bwrap`` every agent command would then fail.

The ``bwrap`` binary is the system's when one is on ``PATH`` (Debian's
``bubblewrap``), else the one the Codex npm package ships
(``codex-resources/bwrap``); ``CODEX_RELAY_BWRAP`` names another.
:func:`probe_sandbox` (the worker's start-up check) runs a real command
through Codex's sandbox nested in this one and refuses to start when that
fails, saying why.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace

from relay.errors import ConfigError, SandboxUnavailable
from relay.settings import Settings, setting_name
from relay.turns import TurnRequest

from .codex_command import (
    CodexLaunch,
    codex_package_dir,
    prepare_app_server_launch,
    prepare_launch,
)
from .codex_home import CodexHome
from .sandbox_keeper import KEEPER_SCRIPT, KeeperLink

__all__ = [
    "ETC_ENTRIES",
    "HOME_INSIDE",
    "TMP_INSIDE",
    "OFF_WARNING",
    "PROBE_OUTPUT",
    "SandboxInfo",
    "WarmWorkspace",
    "bwrap_argv",
    "check_sandbox_settings",
    "find_bwrap",
    "probe_launch",
    "probe_sandbox",
    "run_bind",
    "sandboxed",
    "show_warm_run",
    "turn_app_server_launch",
    "turn_launch",
    "vendored_bwrap",
    "warm_sandboxed",
]

log = logging.getLogger("codex_relay.sandbox")

#: Where the turn's ``CODEX_HOME`` appears inside the sandbox (not under ``/tmp``).
HOME_INSIDE = "/codex/home"
#: Where the turn's private temporary directory appears inside the sandbox.
TMP_INSIDE = "/tmp"
#: The entries of ``/etc`` a turn can read (those that exist on the host).
ETC_ENTRIES = (
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "debian_version",
    "gai.conf",
    "group",
    "host.conf",
    "hosts",
    "inputrc",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "locale.alias",
    "magic",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "passwd",
    "pki",
    "protocols",
    "resolv.conf",
    "services",
    "ssl",
    "timezone",
)
#: Top-level names that are ``/usr`` subdirectories or links to them (merged /usr).
_SYSTEM_DIRS = ("bin", "lib", "lib32", "lib64", "libx32", "sbin")
_PROBE_TIMEOUT = 30.0
#: Logged when the worker starts and on every turn while the sandbox is off.
OFF_WARNING = (
    f"{setting_name('turn_sandbox')}=off: the agent's shell commands run WITHOUT the turn "
    "sandbox; they can read other runs, other turns' Codex homes and the host's files as the "
    "worker's user. Use this only for a trusted single-user setup."
)


@dataclass(frozen=True)
class SandboxInfo:
    """The result of :func:`probe_sandbox`: which ``bwrap`` works here."""

    bwrap: str
    #: ``system`` (found on PATH), ``vendored`` (Codex's own) or ``configured``.
    origin: str


def check_sandbox_settings(settings: Settings) -> None:
    """Refuse settings the turn sandbox cannot make safe (:class:`ConfigError`)."""
    if settings.turn_sandbox == "on" and settings.sandbox == "danger-full-access":
        raise ConfigError(
            setting_name("sandbox"),
            "danger-full-access would give the agent's commands the network (the relay's "
            "Redis included) and a writable Codex home; use workspace-write or read-only "
            f"(or set {setting_name('turn_sandbox')}=off, for a trusted single-user setup only)",
        )


def vendored_bwrap(codex_path: str) -> str | None:
    """The ``bwrap`` the Codex npm package ships next to ``codex_path``, if any."""
    package = codex_package_dir(codex_path)
    candidate = os.path.join(package, "codex-resources", "bwrap")
    return candidate if os.access(candidate, os.X_OK) else None


def find_bwrap(
    settings: Settings, codex_path: str, search_path: str | None = None
) -> tuple[str, str]:
    """``(path, origin)`` of the ``bwrap`` to use; see the module docstring.

    ``search_path`` is the ``PATH`` to search (default: the worker's own).
    """
    if settings.bwrap:
        if not os.access(settings.bwrap, os.X_OK):
            raise ConfigError(setting_name("bwrap"), f"{settings.bwrap} is not an executable")
        return os.path.abspath(settings.bwrap), "configured"
    system = shutil.which("bwrap", path=search_path)
    if system:
        return os.path.abspath(system), "system"
    vendored = vendored_bwrap(codex_path)
    if vendored:
        return vendored, "vendored"
    raise SandboxUnavailable(
        "No bubblewrap for the turn sandbox: install it (Debian: apt install bubblewrap) or "
        f"point {setting_name('bwrap')} at one; the Codex package at "
        f"{codex_package_dir(codex_path)} ships none."
    )


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in _SYSTEM_DIRS:
        path = "/" + name
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in ETC_ENTRIES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


def _read_binds(paths: list[str]) -> list[str]:
    """``--ro-bind`` for each path that exists: the real file, shown at the given path."""
    args: list[str] = []
    for path in dict.fromkeys(os.path.abspath(p) for p in paths if p):
        if os.path.exists(path):
            args += ["--ro-bind", os.path.realpath(path), path]
    return args


def _extra_paths(settings: Settings) -> list[str]:
    """``CODEX_RELAY_SANDBOX_READ_ONLY_PATHS``, checked: absolute, none above the work dir."""
    name = setting_name("sandbox_read_only_paths")
    work = os.path.realpath(settings.work_dir or tempfile.gettempdir())
    paths = [p for p in (settings.sandbox_read_only_paths or "").split(os.pathsep) if p.strip()]
    for path in paths:
        if not os.path.isabs(path):
            raise ConfigError(name, f"{path!r} is not an absolute path")
        real = os.path.realpath(path).rstrip("/") + "/"
        if (work + "/").startswith(real):
            raise ConfigError(
                name, f"{path!r} holds the relay's work directory (every turn's home)"
            )
    return paths


def _check_run_dir(run_dir: str, home: CodexHome, runs_root: str | None) -> str:
    """The run directory's real path, if a turn may be shown it (else :class:`SandboxUnavailable`).

    Never one that holds the worker's work directory (every turn's home), and
    with a runs root configured, only a directory strictly below it (as the
    tools require of a token's ``run_dir``), never the root with every run.
    """
    real = os.path.realpath(run_dir)
    if not os.path.isdir(real):
        raise SandboxUnavailable(f"The run directory {run_dir} does not exist.")
    turn = os.path.realpath(home.root)
    if real == "/" or turn == real or turn.startswith(real.rstrip("/") + "/"):
        raise SandboxUnavailable(
            f"The run directory {run_dir} contains the relay's work directory; "
            f"set {setting_name('work_dir')} outside the runs."
        )
    root = os.path.realpath(runs_root) if runs_root else None
    if root is not None and not real.startswith(root.rstrip("/") + "/"):
        raise SandboxUnavailable(
            f"The run directory {run_dir} is not below {setting_name('runs_root')} ({runs_root})."
        )
    return real


def run_bind(run_dir: str, *, writable: bool) -> list[str]:
    """The ``bwrap`` options that show the run at its own path (read-only unless ``writable``)."""
    return [
        "--bind" if writable else "--ro-bind",
        os.path.realpath(run_dir),
        os.path.abspath(run_dir),
    ]


def bwrap_argv(
    bwrap: str,
    *,
    workspace: list[str],
    home: CodexHome,
    reads: list[str],
    cwd: str,
) -> list[str]:
    """The ``bwrap`` options (up to ``--``) of a turn; see the module docstring.

    ``workspace`` shows the run: :func:`run_bind`, or a warm slot's empty
    directory that its keeper fills later (:func:`warm_sandboxed`).
    """
    return [
        bwrap,
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "codex-turn",
        "--die-with-parent",
        "--new-session",
        *_system_binds(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--bind",
        str(home.tmp),
        TMP_INSIDE,
        "--bind",
        str(home.path),
        HOME_INSIDE,
        # Mount points below /tmp land in the turn's own tmp: nothing outside changes.
        *_read_binds(reads),
        *workspace,
        "--remount-ro",
        "/",
        "--chdir",
        cwd,
        "--",
    ]


def sandboxed(
    launch: CodexLaunch,
    settings: Settings,
    *,
    run_dir: str,
    tier: str,
    home: CodexHome,
    bwrap: str,
) -> CodexLaunch:
    """``launch`` run inside the turn sandbox (see the module docstring).

    ``tier`` ``read`` mounts ``run_dir`` read-only; ``home`` is the turn's
    private ``CODEX_HOME`` and temporary directory, shown at
    :data:`HOME_INSIDE` and :data:`TMP_INSIDE`.
    """
    check_sandbox_settings(settings)
    _check_run_dir(run_dir, home, settings.runs_root)
    argv = bwrap_argv(
        bwrap,
        workspace=run_bind(run_dir, writable=tier == "edit"),
        home=home,
        reads=[*launch.reads, *_extra_paths(settings)],
        cwd=os.path.abspath(launch.cwd),
    )
    env = dict(launch.env, HOME=HOME_INSIDE, CODEX_HOME=HOME_INSIDE, TMPDIR=TMP_INSIDE)
    return replace(launch, argv=argv + launch.argv, env=env)


def turn_launch(
    settings: Settings,
    home: CodexHome,
    request: TurnRequest,
    codex_path: str,
    thread_id: str | None,
) -> CodexLaunch:
    """A turn's Codex launch: :func:`prepare_launch`, in the turn sandbox unless it is off."""
    launch = prepare_launch(settings, home, request, codex_path, thread_id)
    return _for_turn(launch, settings, home, request, codex_path)


def turn_app_server_launch(
    settings: Settings, home: CodexHome, request: TurnRequest, codex_path: str
) -> CodexLaunch:
    """A turn's ``codex app-server`` started for it (no warm one): in the turn sandbox too.

    It starts in the run directory, as ``exec`` does; the thread it is asked
    for works there (:func:`~bootstrap.codex_command.app_server_plan`).
    """
    launch = prepare_app_server_launch(settings, home, codex_path, project_dir=request.run_dir)
    launch = replace(launch, cwd=request.run_dir)
    return _for_turn(launch, settings, home, request, codex_path)


def _for_turn(
    launch: CodexLaunch,
    settings: Settings,
    home: CodexHome,
    request: TurnRequest,
    codex_path: str,
) -> CodexLaunch:
    """``launch`` in the sandbox of ``request``'s turn; as it is (and said so) when that is off."""
    if settings.turn_sandbox == "off":
        log.warning(OFF_WARNING, extra={"session": request.session, "turn": request.turn})
        return launch
    bwrap, _ = find_bwrap(settings, codex_path)
    return sandboxed(
        launch, settings, run_dir=request.run_dir, tier=request.tier, home=home, bwrap=bwrap
    )


@dataclass(frozen=True)
class WarmWorkspace:
    """Where a warm slot will show its run: ``slot`` appears at ``runs_root`` in the sandbox."""

    #: The slot's empty directory on the host; its keeper binds the run below it.
    slot: str
    #: A private mount point the keeper makes a read-only view of the run on.
    stage: str
    #: The runs root as the sandbox shows it (its absolute path, as configured).
    runs_root: str


def warm_sandboxed(
    launch: CodexLaunch, settings: Settings, home: CodexHome, codex_path: str, control_fd: int
) -> tuple[CodexLaunch, WarmWorkspace]:
    """A warm app-server's ``launch`` in the turn sandbox, through a keeper.

    The sandbox shows an empty slot at the runs root (read-only) until the
    turn's run is bound into it (:func:`show_warm_run`), so the run appears
    at its own path, as under :func:`sandboxed`; see
    :mod:`bootstrap.sandbox_keeper`. Needs ``CODEX_RELAY_RUNS_ROOT``: the
    sandbox is set up before the run is known, only its root is.
    """
    check_sandbox_settings(settings)
    if not settings.runs_root:
        raise SandboxUnavailable(
            f"A warm Codex in the turn sandbox needs {setting_name('runs_root')}."
        )
    bwrap, _ = find_bwrap(settings, codex_path)
    workspace = WarmWorkspace(
        slot=str(home.root / "slot"),
        stage=str(home.root / "stage"),
        runs_root=os.path.abspath(settings.runs_root),
    )
    os.mkdir(workspace.slot, 0o755)
    os.mkdir(workspace.stage, 0o700)
    argv = bwrap_argv(
        bwrap,
        workspace=["--ro-bind", workspace.slot, workspace.runs_root],
        home=home,
        reads=[*launch.reads, *_extra_paths(settings)],
        cwd=HOME_INSIDE,
    )
    keeper = [sys.executable, "-I", "-S", KEEPER_SCRIPT, str(control_fd)]
    keeper += [workspace.slot, workspace.stage, "--"]
    env = dict(launch.env, HOME=HOME_INSIDE, CODEX_HOME=HOME_INSIDE, TMPDIR=TMP_INSIDE)
    return replace(launch, argv=keeper + argv + launch.argv, env=env), workspace


def show_warm_run(
    settings: Settings,
    home: CodexHome,
    request: TurnRequest,
    workspace: WarmWorkspace,
    keeper: KeeperLink,
) -> str:
    """Have a warm slot's keeper show ``request``'s run; return where the turn sees it.

    The same checks as a cold turn's (:class:`SandboxUnavailable`); a keeper
    that cannot do it raises :class:`~bootstrap.sandbox_keeper.KeeperError`.
    """
    real = _check_run_dir(request.run_dir, home, settings.runs_root)
    shown = os.path.abspath(request.run_dir)
    inside = os.path.relpath(shown, workspace.runs_root)
    if inside.startswith(".."):  # below the root only through a link: show its real place
        inside = os.path.relpath(real, os.path.realpath(workspace.runs_root))
        shown = os.path.join(workspace.runs_root, inside)
    keeper.show_run(real, inside, writable=request.tier == "edit")
    return shown


#: What the probe's command prints when it could write and read in its run.
PROBE_OUTPUT = b"sandbox-ok"


def probe_launch(settings: Settings, codex_path: str, home: CodexHome, bwrap: str) -> CodexLaunch:
    """The probe of :func:`probe_sandbox`, sandboxed, on a scratch run in ``home``.

    ``codex sandbox`` (Codex's own Linux sandbox, ``workspace-write``) runs a
    shell that writes and reads a file in the run: both sandboxes, nested.
    """
    run = home.root / "run"
    run.mkdir(exist_ok=True)
    script = f"echo {PROBE_OUTPUT.decode()} > probe.txt && cat probe.txt"
    launch = CodexLaunch(
        argv=[codex_path, "sandbox", "-c", 'sandbox_mode="workspace-write"', "--"]
        + ["/bin/sh", "-c", script],
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"},
        cwd=str(run),
        stdin=b"",
        reads=(codex_path, codex_package_dir(codex_path)),
    )
    # The scratch run lies in the turn's own directory, which a real run never may.
    argv = bwrap_argv(
        bwrap,
        workspace=run_bind(str(run), writable=True),
        home=home,
        reads=[*launch.reads, *_extra_paths(settings)],
        cwd=str(run),
    )
    env = dict(launch.env, HOME=HOME_INSIDE, CODEX_HOME=HOME_INSIDE, TMPDIR=TMP_INSIDE)
    return replace(launch, argv=argv + launch.argv, env=env, cwd="/")


def probe_sandbox(settings: Settings, codex_path: str) -> SandboxInfo:
    """Check that a turn sandbox works here, with Codex's own sandbox nested inside it.

    Runs :func:`probe_launch` and expects its output. Raises
    :class:`SandboxUnavailable` saying why (missing ``bwrap``, user namespaces
    refused, ...).
    """
    check_sandbox_settings(settings)
    bwrap, origin = find_bwrap(settings, codex_path)
    home = CodexHome(settings, "sandbox-probe")
    try:
        launch = probe_launch(settings, codex_path, home, bwrap)
        try:
            result = subprocess.run(
                launch.argv,
                env=launch.env,
                cwd=launch.cwd,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=_PROBE_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailable(f"The turn sandbox ({bwrap}) could not run: {exc}") from None
        if result.returncode != 0 or PROBE_OUTPUT not in result.stdout:
            raise SandboxUnavailable(_probe_failure(bwrap, result))
        return SandboxInfo(bwrap=bwrap, origin=origin)
    finally:
        home.remove()


def _probe_failure(bwrap: str, result: subprocess.CompletedProcess[bytes]) -> str:
    said = (result.stderr or result.stdout).decode("utf-8", "replace").strip().splitlines()
    detail = said[-1][:300] if said else f"exit status {result.returncode}"
    hint = ""
    if "bwrap" in detail or "namespace" in detail:
        hint = (
            " It needs unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, "
            "user.max_user_namespaces > 0; in a container, a seccomp and AppArmor policy that "
            "allow them: see the README's Security section)."
        )
    return (
        f"The turn sandbox does not work here ({bwrap}): a probe command in it failed: "
        f"{detail}.{hint} For a trusted single-user setup only, "
        f"{setting_name('turn_sandbox')}=off runs turns without it."
    )
