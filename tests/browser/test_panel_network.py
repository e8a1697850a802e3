"""Network drop: the web server stops mid-turn and comes back; the panel catches up once."""

from __future__ import annotations

import time

import pytest
from browser_helpers import PanelPage, WebStack

pytestmark = [pytest.mark.browser, pytest.mark.codex, pytest.mark.slow]


def test_web_server_restart_reconnects_and_catches_up_exactly_once(
    make_page, web_stack: WebStack, devmodel
):
    devmodel.add_scenario(
        "browser_drop",
        [
            {
                "say": "Starting a slow command.",
                "shell": "sleep 3; echo slow-done",
                "timeout_ms": 60000,
            },
            {"say": "Finished **while you were away**."},
        ],
    )
    p: PanelPage = make_page(web_stack)
    seen: list[str] = []
    p.page.expose_function("__recordState", lambda state: seen.append(state))
    p.page.evaluate("""() => document.querySelector('codex-relay-panel').addEventListener(
        'statechange', (e) => window.__recordState(e.detail.connectionState))""")
    p.send("#scenario:browser_drop go")
    p.locator('.card[data-status="in_progress"]').wait_for()
    p.wait_state(connection="connected")
    session = p.prop("sessionId")

    # The server goes away mid-turn, abruptly (every gunicorn process killed):
    # a graceful stop would first let the open stream deliver for a while.
    web_stack.stop_web(crash=True)
    p.page.wait_for_function(
        "['reconnecting', 'offline'].includes(document.querySelector('codex-relay-panel')"
        ".connectionState)",
        timeout=15_000,
    )
    # The turn completes on the worker while the web server is down.
    deadline = time.monotonic() + 30
    while not any(e["type"] == "turn.completed" for e in web_stack.events(session)):
        assert time.monotonic() < deadline, "the turn did not complete"
        time.sleep(0.1)
    assert "while you were away" not in p.log_text()
    assert p.prop("connectionState") in {"reconnecting", "offline"}

    web_stack.start_web()  # same port, same cookie secret: the login still holds
    p.wait_state(connection="connected", timeout=40_000)
    p.wait_turn_ends(1)
    assert {"reconnecting", "connected"} <= set(seen)
    assert seen.index("reconnecting") < len(seen) - 1 - seen[::-1].index("connected")

    counts = p.counts()
    assert counts["user"] == 1 and counts["cards"] == 1 and counts["ends"] == 1, counts
    text = p.log_text()
    assert text.count("while you were away") == 1
    assert text.count("Starting a slow command.") == 1
    assert p.locator(".card").get_attribute("data-status") == "completed"
    assert "slow-done" in p.locator(".card").inner_text()
    assert p.prop("sessionId") == session
    assert p.prop("agentState") == "idle"
    assert not p.page_errors

    # A second turn after the restart works on the same session.
    p.send("#scenario:hello again")
    p.wait_turn_ends(2)
    assert p.counts()["user"] == 2
