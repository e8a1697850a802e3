"""Real processes for the end-to-end benchmarks: the scripted model, workers, the web app.

Everything here is the shipped code started the way a deployment (or
``codex-relay demo``) starts it, on loopback: ``python -m devmodel``,
``python -m cli worker`` and the demo host app under gunicorn with
``blueprints.gunicorn_conf``. Every process is stopped by its own pid.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blueprints.web_server import web_server_argv
from bootstrap.codex_binary import locate_codex, probe_codex
from cli.embedded_redis import free_port
from devmodel import codex_model_catalog

__all__ = [
    "HttpUser",
    "SseMessage",
    "load_line",
    "model_server",
    "redis_db_url",
    "relay_environment",
    "stop_process",
    "web_app",
]


def load_line() -> str:
    """The load average, which the figures depend on (2 cores, other suites may run)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} CPUs"


def redis_db_url(url: str, db: int) -> str:
    """``url`` (``redis://host:port/0``) pointed at database ``db``."""
    return url.rsplit("/", 1)[0] + f"/{db}"


def stop_process(proc: subprocess.Popen[Any], timeout: float = 15) -> None:
    """SIGTERM ``proc`` (by its pid), then SIGKILL if it does not exit."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def relay_environment(
    redis_url: str,
    model_url: str,
    catalog: str,
    public_key: str,
    work_dir: str,
    **extra: str,
) -> dict[str, str]:
    """A worker's settings, as ``tests/conftest.py``'s ``relay_env`` sets them."""
    env = {
        "REDIS_URL": redis_url,
        "CODEX_RELAY_CODEX_BIN": probe_codex(locate_codex(None)).path,
        "CODEX_RELAY_MODEL_BASE_URL": model_url,
        "CODEX_RELAY_MODEL": "devmodel",
        "CODEX_RELAY_MODEL_CATALOG": catalog,
        "CODEX_RELAY_MODEL_MAX_RETRIES": "0",
        "CODEX_RELAY_JWT_PUBLIC_KEY": public_key,
        "CODEX_RELAY_WORK_DIR": work_dir,
        "CODEX_RELAY_MCP_TRANSPORT": "off",
        "CODEX_RELAY_TURN_TIMEOUT": "60",
        # One benchmark user opens hundreds of sessions: fair use is not what is measured.
        "CODEX_RELAY_MAX_SESSIONS_PER_USER": "1000000",
        "CODEX_RELAY_DAILY_TOKEN_BUDGET": "0",
    }
    env.update(extra)
    return env


@dataclass
class ModelServer:
    """The scripted model as its own process."""

    base_url: str
    catalog: str

    def add_scenario(self, name: str, steps: list[dict[str, Any]]) -> None:
        """Register a scenario through ``POST /_scenarios``."""
        root = self.base_url.removesuffix("/v1")
        request = urllib.request.Request(
            root + "/_scenarios",
            data=json.dumps({"name": name, "steps": steps}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


@contextmanager
def model_server(tmp: Path) -> Iterator[ModelServer]:
    """``python -m devmodel`` on a free loopback port, and a catalog describing it."""
    catalog = tmp / "devmodel-catalog.json"
    catalog.write_text(json.dumps(codex_model_catalog()))
    proc = subprocess.Popen(
        [sys.executable, "-m", "devmodel", "--host", "127.0.0.1", "--port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on " not in line:
            raise RuntimeError(f"the scripted model did not start: {line!r}")
        yield ModelServer(line.split("listening on ", 1)[1].strip(), str(catalog))
    finally:
        stop_process(proc)
        if proc.stdout is not None:
            proc.stdout.close()


@contextmanager
def web_app(
    env: dict[str, str], log_path: Path, app: str = "cli.demo_app:create_app()"
) -> Iterator[int]:
    """``app`` (default: the demo host app) under gunicorn with ``blueprints.gunicorn_conf``.

    Yields its port once ``/agent/health`` answers.
    """
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            web_server_argv(app, f"127.0.0.1:{port}", log_level="warning"),
            env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({proc.returncode}); see {log_path}")
            try:
                status, _ = HttpUser(port).request("GET", "/agent/health")
                if status in (200, 503):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the web app did not start")
            time.sleep(0.1)
        yield port
    finally:
        stop_process(proc)


@dataclass
class SseMessage:
    """One SSE message and when its blank line arrived (``time.time()``)."""

    received: float
    id: str
    data: dict[str, Any] = field(default_factory=dict)


class HttpUser:
    """A browser-like client over ``http.client``: a cookie, JSON requests, an SSE reader."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie = ""

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One request on a fresh connection; ``(status, decoded JSON or None)``."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Cookie": self.cookie} if self.cookie else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            cookie = response.getheader("Set-Cookie")
            if cookie:
                self.cookie = cookie.split(";", 1)[0]
            return response.status, json.loads(raw) if raw.strip() else None
        finally:
            conn.close()

    def login(self, user: str) -> None:
        """``POST /demo/login``."""
        status, body = self.request("POST", "/demo/login", {"user": user})
        if status != 200:
            raise RuntimeError(f"login failed: {status} {body}")

    @contextmanager
    def stream(self, path: str) -> Iterator[Iterator[SseMessage]]:
        """Open an SSE stream; iterate its messages, each stamped on arrival."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(
                "GET", path, headers={"Cookie": self.cookie, "Accept": "text/event-stream"}
            )
            response = conn.getresponse()
            if response.status != 200:
                raise RuntimeError(f"SSE stream refused: {response.status}")

            def messages() -> Iterator[SseMessage]:
                event_id, data = "", b""
                while True:
                    line = response.readline()  # de-chunks if needed
                    if not line:
                        return
                    if line == b"\n":
                        if data:
                            yield SseMessage(time.time(), event_id, json.loads(data))
                        event_id, data = "", b""
                    elif line.startswith(b"id: "):
                        event_id = line[4:].decode().strip()
                    elif line.startswith(b"data: "):
                        data = line[6:]

            yield messages()
        finally:
            conn.close()
