"""The panel in the demo stack: a full turn, Stop, reloads, a stale session id."""

from __future__ import annotations

import time

import pytest
from browser_helpers import AGENT, PanelPage

pytestmark = [pytest.mark.browser, pytest.mark.codex]


def test_full_turn_renders_markdown_tool_cards_and_final_state(panel_page: PanelPage, devmodel):
    devmodel.add_scenario(
        "browser_full_turn",
        [
            {"say": "Let me look.", "shell": "echo tool-output-here", "timeout_ms": 60000},
            {
                "delay": 0.8,
                "say": "## Results\n\n- first item\n- second item\n\n"
                "```python\nprint('hi')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
            },
        ],
    )
    p = panel_page
    assert p.state() == {"agent": "idle", "connection": "idle", "session": None}
    p.send("#scenario:browser_full_turn please")
    # The working indicator shows while the turn runs.
    p.locator(".working").wait_for(state="visible")
    assert p.locator(".working").inner_text().strip() in {"Queued…", "Working…"}
    p.wait_turn_ends(1)
    assert p.locator(".working").is_hidden()

    log = p.locator("[role=log]")
    assert p.locator(".msg.user").inner_text() == "#scenario:browser_full_turn please"
    answer = p.locator(".msg.agent").last
    assert answer.locator("h2").inner_text() == "Results"
    assert answer.locator("li").all_inner_texts() == ["first item", "second item"]
    assert answer.locator("pre code").inner_text().strip() == "print('hi')"
    assert answer.locator("table td").all_inner_texts() == ["1", "2"]
    card = p.locator('.card[data-kind="command"]')
    assert card.count() == 1
    assert card.get_attribute("data-status") == "completed"
    assert "echo tool-output-here" in card.inner_text()
    assert "tool-output-here" in card.locator(".output").inner_text()
    assert p.locator(".turn-end").get_attribute("data-status") == "completed"
    assert "Done" in p.locator(".turn-end").inner_text()
    assert log.get_attribute("aria-live") is not None

    state = p.state()
    assert state["agent"] == "idle" and state["connection"] == "connected"
    stored = p.page.evaluate("Object.entries(localStorage)")
    assert [v for k, v in stored if k.startswith("codex-relay:session:")] == [state["session"]]
    types = [e["type"] for e in p.stack.events(state["session"])]
    assert types[0] == "turn.queued" and types[-1] == "turn.completed"
    assert not p.serious_console() and not p.page_errors


def test_stop_mid_command_shows_stopped_and_the_turn_ends_cancelled(
    panel_page: PanelPage, devmodel
):
    devmodel.add_scenario(
        "browser_sleep",
        [
            {"shell": "sleep 30", "timeout_ms": 60000},
            {"say": "this should never be said"},
        ],
    )
    p = panel_page
    p.send("#scenario:browser_sleep")
    p.locator('.card[data-kind="command"][data-status="in_progress"]').wait_for()
    assert p.prop("agentState") == "running"
    started = time.monotonic()
    p.page.get_by_role("button", name="Stop").click()
    p.locator('.turn-end[data-status="cancelled"]').wait_for(timeout=15_000)
    assert time.monotonic() - started < 10
    assert p.locator(".turn-end").inner_text().startswith("Stopped")
    p.wait_state(agent="idle", connection="connected")
    assert p.locator(".card").get_attribute("data-status") != "in_progress"
    assert "never be said" not in p.log_text()
    assert p.page.get_by_role("button", name="Stop").is_hidden()

    events = p.stack.events(p.prop("sessionId"))
    assert events[-1]["type"] == "turn.completed" and events[-1]["status"] == "cancelled"
    assert not p.serious_console() and not p.page_errors


def _assert_once(p: PanelPage, turns: int, cards: int) -> None:
    counts = p.counts()
    assert counts["user"] == turns, counts
    assert counts["ends"] == turns, counts
    assert counts["cards"] == cards, counts


def test_reload_mid_turn_and_after_a_turn_shows_the_same_history_once(
    panel_page: PanelPage, devmodel
):
    devmodel.add_scenario(
        "browser_reload",
        [
            {"say": "Working on it.", "shell": "sleep 2; echo slept", "timeout_ms": 60000},
            {"say": "All **done** after the nap."},
        ],
    )
    p = panel_page
    p.send("#scenario:hello first message")
    p.wait_turn_ends(1)
    p.send("#scenario:browser_reload second message")
    p.locator('.card[data-status="in_progress"]').wait_for()
    session = p.prop("sessionId")

    p.reload()  # mid-turn: the history replays and the live turn goes on
    p.page.wait_for_function(
        "document.querySelector('codex-relay-panel').shadowRoot"
        ".querySelectorAll('.msg.user').length >= 2"
    )
    assert p.prop("sessionId") == session
    assert p.prop("agentState") in {"running", "queued"}
    p.wait_turn_ends(2)
    _assert_once(p, turns=2, cards=1)
    before = p.log_text()
    assert before.count("second message") == 1 and before.count("after the nap") == 1

    p.reload()  # after the turn: exactly the same history
    p.wait_turn_ends(2)
    p.wait_state(connection="connected")
    _assert_once(p, turns=2, cards=1)
    assert p.log_text() == before
    assert (
        p.counts()["children"]
        == len(
            [
                e
                for e in p.stack.events(session)
                if e["type"] in {"turn.queued", "message", "usage", "turn.completed", "error"}
            ]
        )
        + 1
    )  # + the one tool card
    assert not p.serious_console() and not p.page_errors


def test_chat_404_for_a_deleted_session_starts_a_new_conversation(panel_page: PanelPage):
    p = panel_page
    p.send("#scenario:hello before the delete")
    p.wait_turn_ends(1)
    old = p.prop("sessionId")
    statuses: list[int] = []
    p.page.on(
        "response", lambda r: statuses.append(r.status) if r.url.endswith("/agent/chat") else None
    )

    # The session is deleted elsewhere while this page is open (another tab,
    # an admin, expiry); the user sends before the panel's stream notices.
    deleted = p.page.request.delete(f"{p.stack.base_url}{AGENT}/sessions/{old}")
    assert deleted.status == 204
    p.send("#scenario:hello after the delete")
    p.page.wait_for_function(
        "old => { const p = document.querySelector('codex-relay-panel');"
        " return p.sessionId && p.sessionId !== old; }",
        arg=old,
    )
    p.wait_turn_ends(1)
    assert statuses[:2] == [404, 202]
    new = p.prop("sessionId")
    assert p.locator(".msg.user").all_inner_texts() == ["#scenario:hello after the delete"]
    stored = dict(p.page.evaluate("Object.entries(localStorage)"))
    assert new in stored.values() and old not in stored.values()
    assert p.textarea.input_value() == ""
    assert "no longer available" in p.locator(".notice").inner_text()
    assert not p.page_errors


def test_a_report_edit_shows_its_diff_and_reasoning_stays_collapsed(
    panel_page: PanelPage, devmodel
):
    devmodel.add_scenario(
        "browser_edit",
        [
            {
                "reason": "**Plan**: rewrite the Introduction.",
                "mcp": {
                    "server": "codex_relay",
                    "tool": "replace_report_section",
                    "arguments": {
                        "report_id": "summary",
                        "pattern": "Introduction",
                        "content": "A clearer introduction.\n",
                    },
                },
            },
            {"say": "Rewritten."},
        ],
    )
    p = panel_page
    p.send("#scenario:browser_edit")
    p.wait_turn_ends(1)
    card = p.locator('.card[data-kind="mcp"]')
    assert card.get_attribute("data-status") == "completed"
    assert "replace_report_section" in card.inner_text()
    added = card.locator("pre.out.diff .line.add").all_inner_texts()
    removed = card.locator("pre.out.diff .line.del").all_inner_texts()
    assert any("A clearer introduction." in line for line in added)
    assert removed and all(line.startswith("-") for line in removed)
    reasoning = p.locator("details.reasoning")
    assert reasoning.count() == 1 and reasoning.get_attribute("open") is None
    assert not p.serious_console() and not p.page_errors
