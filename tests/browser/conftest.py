"""Browser fixtures: the real stack as processes, and headless Debian Chromium.

Two stacks, both real processes over the session's Redis server and scripted
model (the root conftest's ``redis_server``, ``devmodel`` and ``stack_base_env``):

- ``demo``: ``codex-relay demo`` itself (gunicorn web app + RQ worker), on
  Redis database 1, started once per test session;
- ``web_stack``: a gunicorn web process and an RQ worker started here, on
  Redis database 2, so a test can stop and restart the web server on the same
  port (a fixed cookie secret and key pair make the login survive a restart).

``browser`` is one Chromium for the session; ``panel_page`` is a fresh
context (cookies, localStorage) logged in as a user of its own, on the
sample run's page with the panel mounted and open.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    PanelPage,
    Stack,
    WebStack,
    make_panel_page,
    own_stack,
    stop_process,
)
from playwright.sync_api import Browser, Playwright, sync_playwright

from cli.embedded_redis import EmbeddedRedis, free_port


def redis_db_url(server: EmbeddedRedis, db: int) -> str:
    return server.url.rsplit("/", 1)[0] + f"/{db}"


@pytest.fixture(scope="session")
def demo(
    stack_base_env: dict[str, str],
    redis_server: EmbeddedRedis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """``codex-relay demo`` as a real process (web + worker), Redis database 1."""
    port = free_port()
    url = redis_db_url(redis_server, 1)
    redis.Redis.from_url(url).flushdb()
    log = tempfile.NamedTemporaryFile(prefix="browser-demo-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "demo",
            "--port",
            str(port),
            "--runs-root",
            str(tmp_path_factory.mktemp("demo-runs")),
        ],
        env=stack_base_env | {"REDIS_URL": url},
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )
    log.close()
    try:
        deadline = time.monotonic() + 60
        while "open http://" not in Path(log.name).read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the demo did not start:\n{Path(log.name).read_text()}")
            time.sleep(0.1)
        stack = Stack(port, url)
        yield stack
        stack.redis.close()
    finally:
        stop_process(proc, signal.SIGINT, 30)
        os.unlink(log.name)


@pytest.fixture(scope="module")
def web_stack(
    stack_env: Any,
    keypair: tuple[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WebStack]:
    """Our own web process (restartable on its port) and worker, Redis database 2."""
    runs = tmp_path_factory.mktemp("web-runs")
    env = stack_env(2, runs)
    env["CODEX_RELAY_DEMO_SECRET_KEY"] = "browser-tests-fixed-secret"
    with own_stack(env, keypair[0]) as stack:
        yield stack


# Module scope, not session: sync Playwright keeps an asyncio loop running in
# the main thread while it is open, which would break later asyncio tests.
@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    """One headless Debian Chromium per test module."""
    chromium = playwright_instance.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    yield chromium
    chromium.close()


_USERS = itertools.count(1)


def _user_for(request: pytest.FixtureRequest) -> str:
    """A short user name of this test's own (own sessions, own rate limit)."""
    return f"user{next(_USERS)}-{os.getpid()}"


@pytest.fixture
def panel_page(
    browser: Browser, demo: Stack, request: pytest.FixtureRequest
) -> Iterator[PanelPage]:
    """The demo's run page in a fresh context, logged in as this test's own user."""
    viewport = {"width": 1280, "height": 800}
    panel = make_panel_page(browser, demo, _user_for(request), viewport=viewport)
    yield panel
    panel.page.context.close()


@pytest.fixture
def make_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A factory for panel pages on any stack; contexts close after the test."""
    made: list[PanelPage] = []

    def factory(stack: Stack, **context: Any) -> PanelPage:
        context.setdefault("viewport", {"width": 1280, "height": 800})
        panel = make_panel_page(browser, stack, _user_for(request), **context)
        made.append(panel)
        return panel

    yield factory
    for panel in made:
        panel.page.context.close()
