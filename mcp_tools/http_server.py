"""The long-running streamable-HTTP ``codex_relay`` server: in a thread or a subprocess.

One server answers every turn on a worker host. Codex sends the turn's token
on every request (``bearer_token_env_var``); :class:`BearerGate` turns away a
request to ``/mcp`` whose token does not verify (401, before any MCP work),
and each tool call then checks the token in full, revocation included
(:class:`~mcp_tools.server.ToolGate`). The MCP endpoint is stateless with
JSON responses: no session outlives a request, so a Codex process killed
mid-turn leaves nothing behind.

``GET /healthz`` answers ``{"status": "ok"}`` without a token.

When it listens, the server writes one line on stderr::

    codex_relay MCP server listening on http://127.0.0.1:8765/mcp
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

from relay.errors import ToolsUnavailable
from relay.processes import die_with_parent

from .auth import RunAuthoriser
from .errors import ToolError
from .server import SERVER_NAME, bearer_token, build_server

__all__ = [
    "MCP_PATH",
    "READY_PREFIX",
    "BearerGate",
    "McpHttpProcess",
    "McpHttpServer",
    "create_http_app",
    "http_server_command",
    "start_http_server_thread",
    "start_http_subprocess",
]

#: Path of the MCP endpoint.
MCP_PATH = "/mcp"
#: Start of the readiness line on stderr; the URL follows.
READY_PREFIX = f"{SERVER_NAME} MCP server listening on "

_log = logging.getLogger("codex_relay.mcp.http")
Asgi = Callable[..., Any]


def _header(scope: Mapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class BearerGate:
    """ASGI middleware: ``/mcp`` needs a bearer token that verifies; ``/healthz`` is open."""

    def __init__(self, app: Asgi, authoriser: RunAuthoriser) -> None:
        self.app = app
        self.authoriser = authoriser

    async def __call__(self, scope: dict[str, Any], receive: Asgi, send: Asgi) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "").rstrip("/")
        if path == "/healthz":
            await self._json(send, 200, {"status": "ok", "server": SERVER_NAME})
            return
        if path == MCP_PATH:
            value = _header(scope, b"authorization") or ""
            token = value[7:].strip() if value[:7].lower() == "bearer " else ""
            try:
                # Signature, expiry, audience, claims; revocation is per tool call.
                self.authoriser.verify(token, check_revoked=False)
            except ToolError as exc:
                body = {"error": {"code": exc.code, "message": exc.message}}
                extra = [(b"www-authenticate", b'Bearer error="invalid_token"')]
                await self._json(send, 401, body, extra)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _json(
        send: Asgi, status: int, body: object, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
        await send(
            {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
        )
        await send({"type": "http.response.body", "body": data})


def create_http_app(authoriser: RunAuthoriser, host: str = "127.0.0.1") -> Asgi:
    """The ASGI app: the MCP server (stateless, JSON responses) behind :class:`BearerGate`."""
    server = build_server(authoriser, bearer_token)
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH, stateless_http=True, json_response=True, host=host
    )
    return BearerGate(app, authoriser)


class McpHttpServer:
    """A uvicorn server for :func:`create_http_app` on a socket bound at construction.

    ``port=0`` picks a free port; :attr:`url` is known as soon as the object
    exists. Run it with :meth:`run` (blocking) or :meth:`start_in_thread`.
    """

    def __init__(
        self,
        authoriser: RunAuthoriser,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str = "warning",
    ) -> None:
        import uvicorn

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # proto must say TCP: asyncio sets TCP_NODELAY on accepted connections only
        # when the socket's proto is IPPROTO_TCP (CPython 3.11). With proto 0, every
        # keep-alive response after the first waited ~40 ms (Nagle + delayed ACK).
        self.socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.socket.listen(128)
        self.port = int(self.socket.getsockname()[1])
        shown_host = f"[{host}]" if family == socket.AF_INET6 else host
        self.url = f"http://{shown_host}:{self.port}{MCP_PATH}"
        config = uvicorn.Config(
            create_http_app(authoriser, host),
            log_level=log_level,
            access_log=False,
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    async def serve(self, ready: Callable[[str], None] | None = None) -> None:
        """Serve until stopped; call ``ready(url)`` once listening."""
        task = asyncio.create_task(self._server.serve(sockets=[self.socket]))
        while not self._server.started and not task.done():
            await asyncio.sleep(0.005)
        if ready is not None and self._server.started:
            ready(self.url)
        await task

    def run(self, ready: Callable[[str], None] | None = None) -> None:
        """Serve in this thread until SIGINT/SIGTERM (main thread) or :meth:`stop`."""
        asyncio.run(self.serve(ready))

    def start_in_thread(self, timeout: float = 10.0) -> McpHttpServer:
        """Serve in a daemon thread; returns once listening."""
        started = threading.Event()
        self._thread = threading.Thread(
            target=self.run,
            args=(lambda _url: started.set(),),
            name="codex-relay-mcp-http",
            daemon=True,
        )
        self._thread.start()
        if not started.wait(timeout):
            self.stop()
            raise ToolsUnavailable(f"the MCP HTTP server did not start within {timeout} s")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit and wait for its thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self.socket.close()


def start_http_server_thread(
    authoriser: RunAuthoriser, host: str = "127.0.0.1", port: int = 0
) -> McpHttpServer:
    """Start the HTTP server in a daemon thread of this process; ``.url``, ``.stop()``."""
    return McpHttpServer(authoriser, host, port).start_in_thread()


def http_server_command(host: str = "127.0.0.1", port: int = 0) -> list[str]:
    """The argv that runs the HTTP server as its own process (same interpreter)."""
    return [sys.executable, "-m", "mcp_tools", "--http", "--host", host, "--port", str(port)]


class McpHttpProcess:
    """A ``python -m mcp_tools --http`` child process (see :func:`start_http_subprocess`)."""

    def __init__(self, process: subprocess.Popen[str], url: str, pump: threading.Thread) -> None:
        self.process = process
        #: The MCP endpoint, as the readiness line gave it.
        self.url = url
        self._pump = pump

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; closes the stderr pipe."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._pump.join(timeout)
        if self.process.stderr is not None:
            self.process.stderr.close()


def start_http_subprocess(
    host: str = "127.0.0.1",
    port: int = 0,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> McpHttpProcess:
    """Spawn :func:`http_server_command` and wait for its readiness line.

    The child's environment is ``env`` (default: this process's); it needs
    the public key and ``REDIS_URL`` (see ``python -m mcp_tools --help``).
    Its stderr (audit lines included) is forwarded to the logger
    ``codex_relay.mcp.http`` by a daemon thread, so the pipe never fills.
    Raises :class:`~relay.errors.ToolsUnavailable` if it exits or stays silent for ``timeout`` s.
    Stop it with :meth:`McpHttpProcess.stop`.
    """
    process = subprocess.Popen(
        http_server_command(host, port),
        env=dict(os.environ if env is None else env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        process_group=0,
        preexec_fn=die_with_parent,  # never outlive the worker that started it
    )
    found: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            line = line.rstrip("\n")
            if not found and line.startswith(READY_PREFIX):
                found.append(line[len(READY_PREFIX) :].strip())
                ready.set()
            else:
                _log.info("%s", line)
        ready.set()

    thread = threading.Thread(target=pump, name="codex-relay-mcp-stderr", daemon=True)
    thread.start()
    child = McpHttpProcess(process, "", thread)
    if not ready.wait(timeout) or not found:
        child.stop(timeout=1.0)
        raise ToolsUnavailable("the MCP HTTP server did not report that it was listening")
    child.url = found[0]
    return child
