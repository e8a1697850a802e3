"""A newcomer's first screen: the demo page and its panel, clicked through as a person would.

No API shortcuts here: the test opens the run page logged out, reads what the
panel says, logs in with the page's own form, asks, watches the answer being
written, asks for a slow command and stops it.
"""

from __future__ import annotations

from typing import Any

import pytest
from browser_helpers import RUN_PATH, Stack

pytestmark = [pytest.mark.browser, pytest.mark.codex]

SIZES = [
    pytest.param({"width": 1280, "height": 800}, id="1280x800"),
    pytest.param({"width": 1920, "height": 1080}, id="1920x1080"),
    pytest.param({"width": 390, "height": 844}, id="phone-390x844"),
]


def _uncovered(page: Any, locator: Any) -> bool:
    """Whether the element a user means to click is what a click at its centre hits."""
    box = locator.bounding_box()
    assert box, "not on screen"
    return page.evaluate(
        """([x, y, el]) => { const root = el.getRootNode();  // the panel's shadow root, or the page
           const hit = root.elementFromPoint(x, y);
           return hit === el || el.contains(hit); }""",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, locator.element_handle()],
    )


def _fresh(browser: Any, demo: Stack, viewport: dict[str, int]) -> Any:
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{demo.base_url}{RUN_PATH}")
    page.wait_for_function("customElements.get('codex-relay-panel') !== undefined")
    return page


@pytest.mark.parametrize("viewport", SIZES)
def test_logged_out_the_log_in_form_is_not_covered_and_the_panel_says_what_to_do(
    browser, demo, viewport
):
    page = _fresh(browser, demo, viewport)
    try:
        login = page.get_by_role("button", name="Log in")
        name = page.get_by_label("Your name")
        assert _uncovered(page, login) and _uncovered(page, name)
        panel = page.locator("codex-relay-panel")
        if viewport["width"] >= 1100:
            # Wide screens: the panel is open beside the page, and says why it cannot help yet.
            page.wait_for_function(
                "document.querySelector('codex-relay-panel').connectionState === 'signed-out'"
            )
            assert "Not logged in" in panel.locator(".conn").inner_text()
            notice = panel.locator(".notice").inner_text()
            assert "not logged in" in notice.lower() and "log in on this page" in notice.lower()
        else:
            # Narrow screens: it starts closed, as a launcher that leaves the form free.
            assert panel.locator(".panel").is_hidden()
            assert page.get_by_role("button", name="Ask the agent").is_visible()
    finally:
        page.context.close()


def test_a_newcomer_logs_in_asks_watches_the_answer_and_stops_a_slow_command(
    browser, demo, devmodel
):
    devmodel.add_scenario(
        "first_screen_answer",
        [
            {
                "pace": 0.15,
                "say": ["Here ", "is ", "an ", "answer ", "written ", "as ", "you ", "watch."],
            }
        ],
    )
    devmodel.add_scenario(
        "first_screen_slow", [{"shell": "sleep 44.5", "timeout_ms": 60000}, {"say": "never"}]
    )
    page = _fresh(browser, demo, {"width": 1280, "height": 800})
    try:
        page.get_by_label("Your name").fill("newcomer")
        page.get_by_role("button", name="Log in").click()
        page.get_by_text("Logged in as").wait_for()
        assert "newcomer" in page.get_by_text("Logged in as").inner_text()
        message = page.get_by_role("textbox", name="Message")
        message.wait_for(state="visible")
        # Logged in, the panel is open beside the page: the page's own controls stay usable.
        assert _uncovered(page, page.get_by_role("button", name="Log out"))
        assert _uncovered(page, message)

        message.click()
        message.fill("#scenario:first_screen_answer hello")
        message.press("Enter")
        log = page.get_by_role("log", name="Conversation")
        page.locator("codex-relay-panel .msg.agent.streaming").wait_for()
        partial = page.locator("codex-relay-panel .msg.agent").inner_text()
        assert partial and "watch." not in partial  # seen while it was being written
        page.locator("codex-relay-panel .turn-end").wait_for()
        assert "Here is an answer written as you watch." in log.inner_text()

        message.fill("#scenario:first_screen_slow")
        page.get_by_role("button", name="Send").click()
        page.locator('codex-relay-panel .card[data-status="in_progress"]').wait_for()
        page.get_by_role("button", name="Stop").click()
        page.locator('codex-relay-panel .turn-end[data-status="cancelled"]').wait_for()
        assert "Stopped" in page.locator("codex-relay-panel .turn-end").last.inner_text()
    finally:
        page.context.close()
