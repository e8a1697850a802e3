"""A warm Codex in the turn sandbox: the keeper shows it its run once the turn is known.

The turn sandbox (:mod:`bootstrap.sandbox`) binds the run directory when
``bwrap`` starts, but a warm app-server starts before its run is known. So a
warm slot is started through this keeper, a small stdlib-only program
(``python -I -S sandbox_keeper.py FD SLOT STAGE -- bwrap ...``) which:

1. enters a user and mount namespace of its own, mapped to the worker's own
   user and group, where it may mount (nothing it mounts is seen outside);
2. bind-mounts the empty slot directory ``SLOT`` onto itself and makes it a
   *shared* mount, then starts ``bwrap``, which shows ``SLOT`` read-only at
   the runs root's path. ``bwrap`` turns every mount it copies into a slave,
   so from then on mounts made below ``SLOT`` here appear in the sandbox too
   (``mount_namespaces(7)``, shared subtrees);
3. waits on its control socket (``FD``) for one request, ``{"run": <host
   path>, "inside": <path below SLOT>, "writable": <bool>}``: it creates
   ``SLOT/inside`` and binds the run there (read-only runs go through
   ``STAGE`` first, remounted read-only, since a remount does not propagate
   but a read-only mount does), answers ``ok`` or ``error <why>``, and
   refuses any further request: a slot serves exactly one turn. The job asks
   only once Codex has answered ``initialize``, so ``bwrap`` has set up its
   mounts by then (a run bound earlier would be copied into the sandbox
   read-only with the rest of ``SLOT``: never more than asked for).

Codex's stdin, stdout and stderr are the keeper's own, passed straight to
``bwrap``. The keeper exits with ``bwrap``'s status; it dies with its
parent, and ``bwrap --die-with-parent`` takes the sandbox down with it.
The worker's side is :class:`KeeperLink`.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import socket
import subprocess
import sys

__all__ = ["KEEPER_SCRIPT", "KeeperError", "KeeperLink"]

#: This file: the program the worker starts.
KEEPER_SCRIPT = os.path.abspath(__file__)

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_MS_SHARED = 1 << 20
_PR_SET_PDEATHSIG = 1
#: Seconds the worker's side waits for the keeper's answer.
_ANSWER_TIMEOUT = 10.0


class KeeperError(OSError):
    """The keeper could not show the run to the warm Codex (the turn then starts cold)."""


class KeeperLink:
    """The worker's (then the job's) end of a keeper's control socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    def pair(cls) -> tuple[KeeperLink, socket.socket]:
        """A new link and the keeper's end of it (to pass to the keeper, then close here)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        return cls(ours), theirs

    def show_run(self, run: str, inside: str, *, writable: bool) -> None:
        """Ask the keeper to bind ``run`` at ``SLOT/inside``; :class:`KeeperError` if it cannot."""
        request = json.dumps({"run": run, "inside": inside, "writable": writable})
        try:
            self.sock.settimeout(_ANSWER_TIMEOUT)
            self.sock.sendall(request.encode() + b"\n")
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise KeeperError("the sandbox keeper is gone")
                answer += chunk
        except OSError as exc:
            raise KeeperError(f"the sandbox keeper did not answer: {exc}") from None
        text = answer.decode("utf-8", "replace").strip()
        if text != "ok":
            raise KeeperError(text.removeprefix("error ").strip() or "the sandbox keeper refused")

    def close(self) -> None:
        """Close this end (the keeper goes on; its Codex still has its pipes)."""
        self.sock.close()


# -- the keeper itself (runs as its own program) --------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, flags: int) -> None:
    src = source.encode() if source is not None else None
    _check(_libc.mount(src, target.encode(), None, ctypes.c_ulong(flags), None), f"mount {target}")


def _enter_namespaces() -> None:
    """A user namespace mapped to our own ids (not root), and a mount namespace in it."""
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS), "unshare")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                       ("gid_map", f"{gid} {gid} 1")):  # fmt: skip
        with open(f"/proc/self/{name}", "w") as fh:
            fh.write(text)
    # Nothing mounted here propagates back; only SLOT is shared, with bwrap.
    _mount(None, "/", _MS_REC | _MS_PRIVATE)


def _show_run(slot: str, stage: str, request: object) -> None:
    if not isinstance(request, dict):
        raise ValueError("malformed request")
    run, inside, writable = request.get("run"), request.get("inside"), request.get("writable")
    if not isinstance(run, str) or not isinstance(inside, str) or not isinstance(writable, bool):
        raise ValueError("malformed request")
    parts = inside.split("/")
    if not inside or inside.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a plain relative path: {inside!r}")
    if not os.path.isabs(run) or not os.path.isdir(run):
        raise ValueError(f"not a directory: {run!r}")
    target = os.path.join(slot, inside)
    os.makedirs(target, mode=0o755, exist_ok=True)
    source = run
    if not writable:
        _mount(run, stage, _MS_BIND)
        _mount(None, stage, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
        source = stage
    _mount(source, target, _MS_BIND)


def _serve(control: socket.socket, bwrap: subprocess.Popen[bytes], slot: str, stage: str) -> None:
    """Answer one request, refuse any other, until ``bwrap`` exits."""
    served = False
    buffer = b""
    while bwrap.poll() is None:
        ready, _, _ = select.select([control], [], [], 0.5)
        if not ready:
            continue
        chunk = control.recv(4096)
        if not chunk:
            return  # the job is gone; Codex goes when its stdin closes
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if served:
                answer = "error this slot has served its turn"
            else:
                served = True
                try:
                    _show_run(slot, stage, json.loads(line))
                    answer = "ok"
                except (OSError, ValueError) as exc:
                    answer = f"error {exc}"
            control.sendall(answer.encode() + b"\n")


def main(argv: list[str]) -> int:
    """``FD SLOT STAGE -- BWRAP-ARGV...``: see the module docstring."""
    if len(argv) < 5 or argv[3] != "--" or not argv[0].isdigit():
        print("usage: sandbox_keeper.py FD SLOT STAGE -- BWRAP-ARGV...", file=sys.stderr)
        return 2
    slot, stage, command = argv[1], argv[2], argv[4:]
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    control = socket.socket(fileno=int(argv[0]))
    try:
        _enter_namespaces()
        _mount(slot, slot, _MS_BIND)
        _mount(None, slot, _MS_SHARED)
    except OSError as exc:
        print(f"sandbox keeper: {exc}", file=sys.stderr)
        return 125
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bwrap = subprocess.Popen(command, close_fds=True)  # stdio: Codex's pipes; not the socket
    try:
        _serve(control, bwrap, slot, stage)
        return bwrap.wait()
    finally:
        if bwrap.poll() is None:
            bwrap.kill()
            bwrap.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
