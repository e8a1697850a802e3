"""The "Undo edit" button of a report edit's card, in Chromium against the demo stack."""

from __future__ import annotations

from typing import Any

import pytest
from browser_helpers import AGENT, SCREENSHOTS, PanelPage

pytestmark = [pytest.mark.browser, pytest.mark.codex]


def _edit(section: str, content: str) -> list[dict[str, object]]:
    return [
        {
            "mcp": {
                "server": "codex_relay",
                "tool": "replace_report_section",
                "arguments": {"report_id": "summary", "pattern": section, "content": content},
            }
        },
        {"say": f"I rewrote {section}."},
    ]


def _history(p: PanelPage) -> Any:
    """The report's history as the server has it (the page's own login)."""
    answer = p.page.request.get(f"{p.stack.base_url}{AGENT}/reports/summary/history")
    assert answer.status == 200, answer.text()
    return answer.json()


def test_undo_edit_restores_the_report_shows_conflicts_and_survives_a_reload(
    panel_page: PanelPage, devmodel
):
    p = panel_page
    devmodel.add_scenario("undo_a", _edit("Introduction", f"Intro by {p.user}."))
    devmodel.add_scenario("undo_b", _edit("Next steps", f"Steps by {p.user}."))
    p.send("#scenario:undo_a")
    p.wait_turn_ends(1)
    p.send("#scenario:undo_b")
    p.wait_turn_ends(2)

    cards = p.locator('.card[data-kind="mcp"]')
    first, second = cards.nth(0), cards.nth(1)
    undo_first = first.get_by_role("button", name="Undo edit")
    undo_second = second.get_by_role("button", name="Undo edit")
    undo_first.wait_for(state="visible")
    undo_second.wait_for(state="visible")
    edits = _history(p)["edits"]
    assert [e["kind"] for e in edits[:2]] == ["edit", "edit"]

    # The first edit is no longer the latest: undoing it would lose the second.
    undo_first.click()
    status = first.locator(".edit-state")
    p.page.wait_for_function(
        "el => el.textContent.includes('changed after this edit')", arg=status.element_handle()
    )
    assert first.locator(".edit-actions").get_attribute("data-state") == "refused"
    assert undo_first.is_visible() and undo_first.is_enabled()  # it can be tried again later
    assert _history(p)["edits"] == edits  # nothing was written
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    first.screenshot(path=str(SCREENSHOTS / "panel-undo-edit-refused.png"))

    # Undo the second, then the first works too: each card says so, without its button.
    undo_second.click()
    second.get_by_text("Edit undone.").wait_for()
    assert undo_second.is_hidden()
    undo_first.click()
    first.get_by_text("Edit undone.").wait_for()
    after = _history(p)["edits"]
    assert [(e["kind"], e["user"]) for e in after[:2]] == [("undo", p.user)] * 2
    assert [e["undone"] for e in after[2:4]] == [True, True]

    # After a reload the cards come back from the event log and ask the server again.
    p.reload()
    p.wait_turn_ends(2)
    for card in (first, second):
        card.get_by_text("Edit undone.").wait_for()
        assert card.get_by_role("button", name="Undo edit").is_hidden()
        assert card.get_attribute("data-edit-state") == "undone"
    p.page.screenshot(path=str(SCREENSHOTS / "panel-undo-edit-1280x800.png"))
    assert not p.serious_console() and not p.page_errors
