"""The HTTP server: routes, the background-thread :class:`DevModelServer`, and
:func:`main`, the command line ``python -m devmodel`` runs.
"""

from __future__ import annotations

import argparse
import json
import re
import select
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .responses import _ClientGone, _Request, _SseWriter, _StepPlayer
from .scenarios import (
    BUILTIN_SCENARIOS,
    DEFAULT_MODEL,
    FINISHED_TEXT,
    Json,
    ScenarioError,
    Step,
    validate_steps,
)

MAX_RECORDED_REQUESTS = 200


# --------------------------------------------------------------------------
# HTTP


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a burst of turns from several
    # workers would see refused connections, and Codex (retries off) a failure.
    request_queue_size = 128
    owner: DevModelServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is normal (Codex killed, tests
        # ending); anything else still deserves a traceback.
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError | TimeoutError | _ClientGone):
            super().handle_error(request, client_address)


class _HttpServer6(_HttpServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer
    server_version = "devmodel"

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.owner._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib name)
        if self.server.owner.verbose:
            sys.stderr.write("devmodel: " + (format % args) + "\n")

    # routes

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        owner, path = self.server.owner, self._path()
        if path == "/_health":
            self._json(200, {"status": "ok"})
        elif path == "/_requests":
            self._json(200, owner.requests)
        elif path == "/_scenarios":
            self._json(200, {"scenarios": owner.scenario_names()})
        elif path in ("/v1/models", "/models"):
            model = {"id": DEFAULT_MODEL, "object": "model", "created": 0, "owned_by": "devmodel"}
            self._json(200, {"object": "list", "data": [model]})
        else:
            self._error(404, f"no route for GET {path}")

    def do_DELETE(self) -> None:  # noqa: N802 (stdlib name)
        if self._path() == "/_requests":
            self.server.owner.clear_requests()
            self._json(200, {"status": "ok"})
        else:
            self._error(404, f"no route for DELETE {self._path()}")

    def do_POST(self) -> None:  # noqa: N802 (stdlib name)
        path = self._path()
        try:
            body = json.loads(self._read_body() or b"null")
        except (ValueError, UnicodeDecodeError) as error:
            self._error(400, f"request body is not JSON: {error}")
            return
        if not isinstance(body, dict):
            self._error(400, "request body must be a JSON object")
        elif path == "/_scenarios":
            self._add_scenario(body)
        elif path in ("/v1/responses", "/responses"):
            self._answer(body)
        else:
            self._error(404, f"no route for POST {path}")

    def _add_scenario(self, body: Json) -> None:
        try:
            self.server.owner.add_scenario(body.get("name"), body.get("steps"))
        except ScenarioError as error:
            self._error(400, str(error))
            return
        self._json(201, {"name": body["name"], "steps": len(body["steps"])})

    # the model

    def _answer(self, body: Json) -> None:
        owner = self.server.owner
        owner._record(body)
        request = _Request(body)
        scenario, step = owner._step_for(request)
        try:
            self._play(request, scenario, step)
        except _ClientGone:
            self.close_connection = True

    def _play(self, request: _Request, scenario: str, step: Step) -> None:
        self._wait(float(step.get("delay", 0)))
        if "http_error" in step:
            self._scripted_error(step)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._wait(float(step.get("stall", 0)))
        if "raw_sse" in step:  # at the top level it is the whole answer
            for event in step["raw_sse"]:
                self._write_chunk(_raw_event(event))
            if step.get("disconnect"):
                raise _ClientGone("scripted disconnect")
        else:
            writer = _SseWriter(self._write_chunk, self._wait)
            _StepPlayer(request, scenario, writer, self.server.owner.pace).answer(step)
        self._end_chunks()

    def _scripted_error(self, step: Step) -> None:
        status = int(step["http_error"])
        body = step.get("body")
        if isinstance(body, str):
            data, ctype = body.encode(), "text/plain; charset=utf-8"
        else:
            if body is None:
                kind = "server_error" if status >= 500 else "invalid_request_error"
                message = f"scripted HTTP {status} from devmodel"
                body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
            data, ctype = json.dumps(body).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in dict(step.get("headers", {})).items():
            self.send_header(str(name), str(value))
        self.end_headers()
        self._send(data)

    # plumbing

    def _path(self) -> str:
        path = self.path.split("?", 1)[0]
        return path.rstrip("/") or "/"

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            raw = bytes(data)
        else:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            import gzip

            raw = gzip.decompress(raw)
        return raw

    def _json(self, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self._send(data)

    def _error(self, status: int, message: str) -> None:
        self._json(
            status,
            {
                "error": {
                    "code": "bad_request" if status == 400 else "not_found",
                    "message": message,
                }
            },
        )

    def _send(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError as error:
            raise _ClientGone(str(error)) from error

    def _write_chunk(self, data: bytes) -> None:
        if data:
            self._send(b"%x\r\n%s\r\n" % (len(data), data))

    def _end_chunks(self) -> None:
        self._send(b"0\r\n\r\n")

    def _wait(self, seconds: float) -> None:
        """Sleeps, but ends early (_ClientGone) when the client hangs up or we stop."""
        deadline = time.monotonic() + seconds
        stopping = self.server.owner._stopping
        while (left := deadline - time.monotonic()) > 0:
            if stopping.is_set():
                raise _ClientGone("server stopping")
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable:
                try:
                    peek = self.connection.recv(1, socket.MSG_PEEK)
                except OSError as error:
                    raise _ClientGone(str(error)) from error
                if not peek:
                    raise _ClientGone("client closed the connection")
                time.sleep(min(left, 0.05))


def _raw_event(event: Mapping[str, Any]) -> bytes:
    data = json.dumps(dict(event), separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


# --------------------------------------------------------------------------
# The server object


class DevModelServer:
    """The scripted model server, run on a background thread.

    ``scenarios`` (name to step list) are added to :data:`BUILTIN_SCENARIOS`.
    ``default_scenario`` answers messages without a ``#scenario:`` directive.
    ``pace``: seconds between text deltas (a step's own ``pace`` wins); 0 streams
    each answer at once.
    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        scenarios: Mapping[str, object] | None = None,
        *,
        default_scenario: str = "demo",
        max_recorded: int = MAX_RECORDED_REQUESTS,
        verbose: bool = False,
        pace: float = 0.0,
    ) -> None:
        self.host = host
        self.port = port
        self.default_scenario = default_scenario
        #: Seconds between text deltas for steps that do not set their own ``pace``.
        self.pace = pace
        self.verbose = verbose
        self._lock = threading.Lock()
        self._scenarios: dict[str, list[Json]] = {
            name: list(steps) for name, steps in BUILTIN_SCENARIOS.items()
        }
        for name, steps in (scenarios or {}).items():
            self.add_scenario(name, steps)
        self._requests: deque[Json] = deque(maxlen=max_recorded)
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> DevModelServer:
        """Binds the port and serves on a daemon thread; returns self."""
        if self._httpd is not None:
            raise RuntimeError("DevModelServer is already started")
        server_class = _HttpServer6 if ":" in self.host else _HttpServer
        httpd = server_class((self.host, self.port), _Handler)
        httpd.owner = self
        self.port = httpd.server_address[1]
        self._stopping.clear()
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="devmodel", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and drops open connections (stalled answers end too)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> DevModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://host:port`` (the control routes live here)."""
        if self._httpd is None:
            raise RuntimeError("DevModelServer is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL to give Codex, ending in ``/v1``."""
        return self.url + "/v1"

    # scenarios and records

    def add_scenario(self, name: object, steps: object) -> None:
        """Adds or replaces a scenario; raises :class:`ScenarioError` if invalid."""
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
            raise ScenarioError("a scenario name is letters, digits, '_', '.' or '-'")
        checked = validate_steps(steps)
        with self._lock:
            self._scenarios[name] = checked

    def scenario_names(self) -> list[str]:
        """The names of every scenario this server can play, sorted."""
        with self._lock:
            return sorted(self._scenarios)

    @property
    def requests(self) -> list[Json]:
        """The recorded ``/v1/responses`` request bodies, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forgets the recorded request bodies."""
        with self._lock:
            self._requests.clear()

    def _record(self, body: Json) -> None:
        with self._lock:
            self._requests.append(body)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _step_for(self, request: _Request) -> tuple[str, Step]:
        name = request.scenario_name(self.default_scenario)
        with self._lock:
            steps = self._scenarios.get(name)
            known = sorted(self._scenarios)
        if steps is None:
            listing = ", ".join(f"`{n}`" for n in known)
            return name, {"say": f"Unknown scenario `{name}`. Known scenarios: {listing}."}
        if request.step < len(steps):
            return name, steps[request.step]
        return name, {"say": FINISHED_TEXT}


# --------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    """``python -m devmodel``: serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(
        prog="python -m devmodel",
        description="Scripted offline stand-in for a Responses-API model (not a model).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--scenarios", metavar="FILE.json", help="object of name to step list")
    parser.add_argument("--default-scenario", default="demo")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    parser.add_argument(
        "--pace",
        type=float,
        default=0.0,
        help="seconds between text deltas (live text in the demo); default 0",
    )
    args = parser.parse_args(argv)
    scenarios: Json = {}
    if args.scenarios:
        try:
            with open(args.scenarios, encoding="utf-8") as fh:
                scenarios = json.load(fh)
            if not isinstance(scenarios, dict):
                raise ScenarioError("the file must hold a JSON object of name to step list")
            server = DevModelServer(
                args.host,
                args.port,
                scenarios,
                default_scenario=args.default_scenario,
                verbose=args.verbose,
                pace=args.pace,
            )
        except (OSError, ValueError) as error:
            parser.exit(2, f"devmodel: {args.scenarios}: {error}\n")
    else:
        server = DevModelServer(
            args.host,
            args.port,
            default_scenario=args.default_scenario,
            verbose=args.verbose,
            pace=args.pace,
        )
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    server.start()
    print(f"devmodel listening on {server.base_url}", flush=True)
    while not done.wait(0.5):
        pass
    server.stop()
    return 0
