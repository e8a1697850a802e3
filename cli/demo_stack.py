"""``codex-relay demo``: the whole pipeline on one machine, as real processes.

Starts, each as a child process: Redis (``REDIS_URL`` if set, else an
embedded server), the scripted model server (unless a real provider is
configured: ``CODEX_RELAY_MODEL_BASE_URL`` or ``OPENAI_API_KEY``), the MCP
tools server (with the default ``http`` transport), one RQ worker, and the
demo host app under gunicorn (``codex-relay web``'s settings). The signing
key pair is generated for the demo; only the web process gets the private key.

The demo keeps its children alive: a worker, tools server or model server
that dies is started again (on the same port), after a pause that doubles
with each quick death (:data:`RESTART_BACKOFF`), while the web app and
Redis keep running; a turn the dead worker was running ends ``failed``
through the restarted worker's watchdog. If the web app dies the demo
stops. Ctrl-C stops every child.

The demo runs Codex with the ``app-server`` runner (unless
``CODEX_RELAY_RUNNER`` says otherwise) and the scripted model writes at a
reading pace (:data:`DEMO_PACE`), so answers appear as they are written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from blueprints.web_server import web_server_argv
from mcp_tools.http_server import MCP_PATH, http_server_command
from relay.errors import RelayError, RelayUnavailable
from relay.settings import load_settings, setting_name
from relay.tokens import generate_keypair

from .embedded_redis import EmbeddedRedis, free_port

__all__ = ["DEMO_PACE", "RESTART_BACKOFF", "Child", "DemoStack", "run_demo"]

#: Seconds between the scripted model's words in the demo: live text, quick to read.
DEMO_PACE = 0.03

#: Seconds before a dead child starts again: the first pause, and the longest.
RESTART_BACKOFF = (0.5, 30.0)
#: A child that ran this long before it died starts again after the first pause.
_STABLE_SECONDS = 60.0


def _say(message: str) -> None:
    print(f"codex-relay demo: {message}", file=sys.stderr, flush=True)


@dataclass
class Child:
    """One child process of the demo, and how it is kept alive."""

    name: str
    argv: list[str]
    env: dict[str, str]
    #: Start it again when it dies (otherwise the demo stops).
    restart: bool
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    pause: float = RESTART_BACKOFF[0]
    #: ``time.monotonic()`` at which a dead child is due to start again (0: not dead).
    due: float = 0.0
    #: How many times it was started again.
    restarts: int = 0

    def start(self) -> None:
        """Start (or start again) the process."""
        self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL)
        self.started = time.monotonic()
        self.due = 0.0

    def alive(self) -> bool:
        """Whether its process is running."""
        return self.proc is not None and self.proc.poll() is None

    def tend(self, now: float) -> None:
        """Schedule or perform the restart of a dead child (raise if it must not restart)."""
        if self.alive() or self.proc is None:
            return
        if not self.restart:
            code = self.proc.returncode
            raise RelayUnavailable(f"the demo's {self.name} process exited ({code})")
        if not self.due:
            if now - self.started > _STABLE_SECONDS:
                self.pause = RESTART_BACKOFF[0]
            self.due = now + self.pause
            _say(
                f"the {self.name} exited ({self.proc.returncode}); "
                f"starting it again in {self.pause:g} s"
            )
            self.pause = min(self.pause * 2, RESTART_BACKOFF[1])
        elif now >= self.due:
            self.restarts += 1
            self.start()


class DemoStack:
    """The demo's child processes and the environment they share."""

    def __init__(self, host: str, port: int, runs_root: str | None) -> None:
        self.host = host
        self.port = port
        self.state_dir = Path(tempfile.mkdtemp(prefix="codex-relay-demo-"))
        self.runs_root = Path(runs_root).resolve() if runs_root else self.state_dir / "runs"
        self.redis: EmbeddedRedis | None = None
        self.children: list[Child] = []
        # The demo makes its own key pair; the caller's keys must not leak in.
        keys = {setting_name(f) + end for f in ("jwt_private_key", "jwt_public_key")
                for end in ("", "_FILE")}  # fmt: skip
        self.env = {k: v for k, v in os.environ.items() if k not in keys}
        self.private_key = ""

    @property
    def url(self) -> str:
        """The sample run's page."""
        return f"http://{self.host}:{self.port}/runs/sample-run/default/"

    def child(self, name: str) -> Child:
        """The child called ``name`` (``web``, ``worker``, ``tools``, ``devmodel``)."""
        return next(c for c in self.children if c.name == name)

    def start(self) -> None:
        """Start every service and wait until the web app answers."""
        from .demo_app import ensure_sample_run

        self.runs_root.mkdir(parents=True, exist_ok=True)
        ensure_sample_run(self.runs_root)
        self.env["CODEX_RELAY_RUNS_ROOT"] = str(self.runs_root)
        self.env.setdefault("CODEX_RELAY_WORK_DIR", str(self.state_dir / "work"))
        # Keep the terminal for the URL and for problems (set these to see more).
        self.env.setdefault("CODEX_RELAY_LOG_LEVEL", "WARNING")
        self.env.setdefault("CODEX_RELAY_LOG_FORMAT", "text")
        # Live text, live command output, approvals and a clean Stop.
        self.env.setdefault(setting_name("runner"), "app-server")
        if not self.env.get("REDIS_URL"):
            self.redis = EmbeddedRedis(data_dir=str(self.state_dir / "redis")).start()
            self.env["REDIS_URL"] = self.redis.url
        self.private_key, public_key = generate_keypair()
        self.env["CODEX_RELAY_JWT_PUBLIC_KEY"] = public_key
        if not (self.env.get("CODEX_RELAY_MODEL_BASE_URL") or self.env.get("OPENAI_API_KEY")):
            self._start_devmodel()
        if self.env.get("CODEX_RELAY_MCP_TRANSPORT", "http") == "http" and not self.env.get(
            "CODEX_RELAY_MCP_URL"
        ):
            self._start_tools()
        self._spawn("worker", [sys.executable, "-m", "cli", "worker"], self.env)
        web_env = dict(self.env, CODEX_RELAY_JWT_PRIVATE_KEY=self.private_key)
        self._spawn(
            "web",
            web_server_argv(
                "cli.demo_app:create_app()", f"{self.host}:{self.port}", log_level="warning"
            ),
            web_env,
            restart=False,
        )
        self._wait_for_web()

    def _start_devmodel(self) -> None:
        from devmodel import codex_model_catalog

        port = free_port()
        catalog = self.state_dir / "devmodel-catalog.json"
        catalog.write_text(json.dumps(codex_model_catalog()))
        argv = [sys.executable, "-m", "devmodel", "--host", "127.0.0.1", "--port", str(port)]
        self._spawn("devmodel", argv + ["--pace", str(DEMO_PACE)], self.env)
        self.env.update(
            CODEX_RELAY_MODEL_BASE_URL=f"http://127.0.0.1:{port}/v1",
            CODEX_RELAY_MODEL="devmodel",
            CODEX_RELAY_MODEL_CATALOG=str(catalog),
            CODEX_RELAY_MODEL_MAX_RETRIES="0",
        )

    def _start_tools(self) -> None:
        """One MCP tools server for the demo's worker, on a fixed port so a restart keeps it."""
        port = free_port()
        self._spawn("tools", http_server_command("127.0.0.1", port), dict(self.env))
        self.env["CODEX_RELAY_MCP_URL"] = f"http://127.0.0.1:{port}{MCP_PATH}"

    def _spawn(self, name: str, argv: list[str], env: dict[str, str], restart: bool = True) -> None:
        child = Child(name, argv, env, restart)
        child.start()
        self.children.append(child)

    def _wait_for_web(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        health = f"http://{self.host}:{self.port}/agent/health"
        while time.monotonic() < deadline:
            self.supervise()
            try:
                with urllib.request.urlopen(health, timeout=1):
                    return
            except OSError as exc:
                if getattr(exc, "code", None) == 503:  # up, waiting for the worker
                    return
            time.sleep(0.1)
        raise RelayUnavailable("the demo web app did not start")

    def supervise(self) -> None:
        """Restart dead children when due; raise if one that must not die did."""
        now = time.monotonic()
        for child in self.children:
            child.tend(now)

    def stop(self) -> None:
        """Stop every child (web first, Redis last)."""
        running = [c.proc for c in reversed(self.children) if c.proc is not None]
        for proc in running:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in running:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.redis is not None:
            self.redis.stop()


def run_demo(host: str = "127.0.0.1", port: int = 5000, runs_root: str | None = None) -> int:
    """Run the demo until Ctrl-C or SIGTERM; return the exit code."""
    stack = DemoStack(host, port, runs_root)
    stopping = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        stack.start()
        print(f"codex-relay demo: open {stack.url}", flush=True)
        print(f"  runs: {stack.runs_root}   Redis: {stack.env['REDIS_URL']}", flush=True)
        print("  log in with any name on the page; Ctrl-C stops everything.", flush=True)
        print(
            f"  OpenAI-compatible API: http://{stack.host}:{stack.port}"
            f"{load_settings(stack.env).openai_prefix} "
            f"(a key: REDIS_URL={stack.env['REDIS_URL']} codex-relay api-keys create --user NAME)",
            flush=True,
        )
        while not stopping:
            stack.supervise()
            time.sleep(0.2)
        return 0
    except RelayError as exc:
        print(f"codex-relay demo: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
