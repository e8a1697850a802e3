"""Helpers for the browser tests: stacks, and a page with the panel."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import redis
from playwright.sync_api import Browser, Page

from blueprints.web_server import web_server_argv
from cli.embedded_redis import free_port

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RUN = "sample-run"
RUN_PATH = f"/runs/{RUN}/default/"
AGENT = f"/runs/{RUN}/default/agent"
# Console lines a page may show without a bug: a missing favicon and such.
HARMLESS_CONSOLE = re.compile(r"^Failed to load resource")


class Stack:
    """Where a stack serves and the Redis database it uses."""

    def __init__(self, port: int, redis_url: str) -> None:
        self.port = port
        self.redis_url = redis_url
        self.base_url = f"http://127.0.0.1:{port}"
        self.redis = redis.Redis.from_url(redis_url)

    def events(self, session: str) -> list[dict[str, Any]]:
        """The session's stored events (the durable log), decoded."""
        rows = self.redis.xrange(f"relay:events:{session}", count=100_000)
        return [orjson.loads(fields[b"e"]) for _, fields in rows]


def wait_for_web(port: int, timeout: float = 30, proc: subprocess.Popen[Any] | None = None) -> None:
    """Until the web app answers ``/agent/health`` (200, or 503 before a worker is seen)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the web process exited ({proc.returncode})")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/agent/health", timeout=2):
                return
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 503:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("the web app did not start")


def stop_process(
    proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 20
) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class WebStack(Stack):
    """A gunicorn web process and an RQ worker that a test may stop and restart."""

    def __init__(self, port: int, redis_url: str, env: dict[str, str], private_key: str) -> None:
        super().__init__(port, redis_url)
        self.env = env
        self.web_env = env | {"CODEX_RELAY_JWT_PRIVATE_KEY": private_key}
        self.web: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_log = tempfile.TemporaryFile(prefix="browser-worker-")

    def start_web(self) -> None:
        self.web = subprocess.Popen(
            web_server_argv(
                "cli.demo_app:create_app()", f"127.0.0.1:{self.port}", log_level="warning"
            ),
            env=self.web_env,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            start_new_session=True,
        )
        wait_for_web(self.port, proc=self.web)

    def stop_web(self, crash: bool = False) -> None:
        """Stop gunicorn: gracefully (SIGTERM), or ``crash``: SIGKILL its whole process group."""
        if self.web is None:
            return
        if crash:
            os.killpg(self.web.pid, signal.SIGKILL)
            self.web.wait()
        else:
            stop_process(self.web)
        self.web = None

    def start_worker(self) -> None:
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "cli", "worker"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self.worker_log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    def stop(self) -> None:
        self.stop_web()
        if self.worker is not None:
            stop_process(self.worker)
        self.worker_log.close()
        self.redis.close()


class PanelPage:
    """A page with the panel, logged in, plus what it logged to the console."""

    def __init__(self, page: Page, stack: Stack, user: str) -> None:
        self.page = page
        self.stack = stack
        self.user = user
        self.console: list[str] = []
        self.page_errors: list[str] = []
        page.on("console", lambda m: self.console.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))

    # -- navigation -------------------------------------------------------

    def login(self) -> None:
        answer = self.page.request.post(
            f"{self.stack.base_url}/demo/login", data={"user": self.user}
        )
        assert answer.status == 200, answer.text()

    def open(self) -> None:
        self.page.goto(f"{self.stack.base_url}{RUN_PATH}")
        self.textarea.wait_for(state="visible")
        self.page.wait_for_function("customElements.get('codex-relay-panel') !== undefined")

    def reload(self) -> None:
        self.page.reload()
        self.textarea.wait_for(state="visible")

    # -- the panel ----------------------------------------------------------

    @property
    def textarea(self) -> Any:
        return self.page.get_by_role("textbox", name="Message")

    def locator(self, selector: str) -> Any:
        """``selector`` inside the panel (Playwright's CSS pierces the open shadow root)."""
        return self.page.locator(f"codex-relay-panel {selector}")

    def prop(self, name: str) -> Any:
        return self.page.evaluate(f"document.querySelector('codex-relay-panel').{name}")

    def state(self) -> dict[str, Any]:
        return self.page.evaluate(
            "(() => { const p = document.querySelector('codex-relay-panel');"
            " return {agent: p.agentState, connection: p.connectionState,"
            " session: p.sessionId}; })()"
        )

    def wait_state(
        self, agent: str | None = None, connection: str | None = None, timeout: float = 30_000
    ) -> None:
        checks = ["true"]
        if agent:
            checks.append(f"p.agentState === {agent!r}")
        if connection:
            checks.append(f"p.connectionState === {connection!r}")
        self.page.wait_for_function(
            "() => { const p = document.querySelector('codex-relay-panel');"
            f" return {' && '.join(checks)}; }}",
            timeout=timeout,
        )

    def send(self, text: str) -> None:
        """Type ``text`` in the Message box and press Enter."""
        self.textarea.click()
        self.textarea.fill(text)
        self.textarea.press("Enter")

    def wait_turn_ends(self, count: int, timeout: float = 45_000) -> None:
        """Until ``count`` turn-end lines are shown and the agent is idle again."""
        self.page.wait_for_function(
            "n => document.querySelector('codex-relay-panel').shadowRoot"
            ".querySelectorAll('.turn-end').length >= n",
            arg=count,
            timeout=timeout,
        )
        self.wait_state(agent="idle", timeout=timeout)

    def counts(self) -> dict[str, int]:
        return self.page.evaluate(
            "(() => { const r = document.querySelector('codex-relay-panel').shadowRoot;"
            " const n = (s) => r.querySelectorAll(s).length;"
            " return {user: n('.msg.user'), agent: n('.msg.agent'), cards: n('.card'),"
            " ends: n('.turn-end'), children: r.querySelector('[role=log]').children.length}; })()"
        )

    def log_text(self) -> str:
        return self.locator("[role=log]").inner_text()

    def serious_console(self) -> list[str]:
        return [line for line in self.console if not HARMLESS_CONSOLE.match(line)]


def make_panel_page(browser: Browser, stack: Stack, user: str, **context: Any) -> PanelPage:
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    panel = PanelPage(page, stack, user)
    panel.login()
    panel.open()
    return panel


@contextmanager
def own_stack(env: dict[str, str], private_key: str) -> Iterator[WebStack]:
    """A web process and a worker of their own, with ``env`` (from ``stack_env``)."""
    stack = WebStack(free_port(), env["REDIS_URL"], env, private_key)
    try:
        stack.start_worker()
        stack.start_web()
        yield stack
    finally:
        stack.stop()
