"""Keyboard: the open/close shortcut, Enter, Shift+Enter, Escape, ArrowUp, focus."""

from __future__ import annotations

import pytest
from browser_helpers import PanelPage

pytestmark = [pytest.mark.browser, pytest.mark.codex]

DEEP_ACTIVE = """() => {
  let a = document.activeElement;
  while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
  return a ? `${a.localName}#${a.id}` : null;
}"""


def _is_open(p: PanelPage) -> bool:
    return bool(p.page.evaluate("document.querySelector('codex-relay-panel').open"))


def test_shortcut_enter_shift_enter_escape_and_recall(panel_page: PanelPage):
    p = panel_page
    page = p.page
    page.evaluate("""() => {
        const input = Object.assign(document.createElement('input'), {id: 'host-input'});
        const area = Object.assign(document.createElement('textarea'), {id: 'host-area'});
        const button = Object.assign(document.createElement('button'),
                                     {id: 'host-button', textContent: 'Host button'});
        document.querySelector('h1').after(input, area, button);
        window.__hostKeys = [];
        document.addEventListener('keydown', (e) => window.__hostKeys.push(e.key));
    }""")
    assert _is_open(p)  # the demo page mounts it open

    # Escape inside the panel closes it; focus goes to the launcher.
    p.textarea.click()
    page.keyboard.press("Escape")
    assert not _is_open(p)
    assert p.textarea.is_hidden()

    # The shortcut does nothing while the host's text fields have focus...
    for field in ("#host-input", "#host-area"):
        page.locator(field).click()
        page.keyboard.press("Control+K")
        assert not _is_open(p), field
    page.locator("#host-input").press_sequentially("typed")
    assert page.locator("#host-input").input_value() == "typed"

    # ...but elsewhere it opens the panel with focus in the Message box.
    page.locator("#host-button").focus()
    page.keyboard.press("Control+K")
    assert _is_open(p)
    assert page.evaluate(DEEP_ACTIVE).startswith("textarea#")
    # Pressed again inside the panel, it closes it; focus returns to the host button.
    page.keyboard.press("Control+K")
    assert not _is_open(p)
    assert page.evaluate(DEEP_ACTIVE) == "button#host-button"
    page.keyboard.press("Control+K")
    assert _is_open(p)
    page.keyboard.press("Escape")
    assert not _is_open(p)
    assert page.evaluate(DEEP_ACTIVE) == "button#host-button"

    # Keys typed in the panel do not reach the host's own key handlers.
    page.keyboard.press("Control+K")
    page.evaluate("window.__hostKeys = []")
    page.keyboard.type("#scenario:hello line one")
    page.keyboard.press("Shift+Enter")  # a new line, not a send
    page.keyboard.type("line two")
    assert page.evaluate("window.__hostKeys") == []
    assert p.textarea.input_value() == "#scenario:hello line one\nline two"
    assert p.counts()["user"] == 0
    page.keyboard.press("Enter")  # sends
    p.wait_turn_ends(1)
    assert p.locator(".msg.user").inner_text() == "#scenario:hello line one\nline two"
    assert p.textarea.input_value() == ""

    # ArrowUp in the empty box recalls the last message; not when the box has text.
    p.textarea.focus()
    page.keyboard.press("ArrowUp")
    assert p.textarea.input_value() == "#scenario:hello line one\nline two"
    p.textarea.fill("draft")
    page.keyboard.press("ArrowUp")
    assert p.textarea.input_value() == "draft"
    assert not p.page_errors
