"""Looks: screenshots at phone and desktop sizes, light and dark; no overflow at 360 px."""

from __future__ import annotations

import pytest
from browser_helpers import SCREENSHOTS, PanelPage

pytestmark = [pytest.mark.browser, pytest.mark.codex]

SIZES = {"phone": (360, 740), "desktop": (1280, 800)}


@pytest.fixture(scope="module")
def scenario(devmodel) -> str:
    devmodel.add_scenario(
        "browser_looks",
        [
            {"say": "Checking the run files.", "shell": "ls -la; seq 1 30", "timeout_ms": 60000},
            {
                "say": "## Summary\n\nThe run has **inputs**, `outputs` and a report.\n\n"
                "| metric | value |\n|---|---|\n| accuracy | 0.91 |\n\n"
                "```python\nprint('a fairly long line of code that should scroll inside its block "
                "rather than widen the page')\n```\n"
            },
        ],
    )
    return "#scenario:browser_looks what is in this run? " + "a-long-unbroken-word-" * 6


def _overflow(p: PanelPage) -> dict[str, float]:
    return p.page.evaluate("""() => {
        const box = document.querySelector('codex-relay-panel').shadowRoot
            .querySelector('.panel').getBoundingClientRect();
        return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
                innerHeight: window.innerHeight, left: box.left, right: box.right,
                top: box.top, bottom: box.bottom, width: box.width,
                wide: [...document.querySelectorAll('body *')]
                  .filter((n) => n.getBoundingClientRect().right > window.innerWidth + 0.5)
                  .map((n) => `${n.localName}.${n.className}`)};
    }""")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_and_no_horizontal_overflow_at_360(make_page, demo, scenario, scheme):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    p: PanelPage = make_page(demo, viewport={"width": 360, "height": 740}, color_scheme=scheme)
    p.send(scenario)
    p.wait_turn_ends(1)
    p.page.get_by_role("button", name="Show all").first.click()  # expanded tool output
    themed = p.page.evaluate(
        "getComputedStyle(document.querySelector('codex-relay-panel').shadowRoot"
        ".querySelector('.panel')).backgroundColor"
    )
    for name, (width, height) in SIZES.items():
        p.page.set_viewport_size({"width": width, "height": height})
        p.page.wait_for_timeout(100)
        path = SCREENSHOTS / f"panel-{name}-{width}x{height}-{scheme}.png"
        p.page.screenshot(path=str(path), full_page=False)
        assert path.stat().st_size > 5_000
        if name == "phone":
            box = _overflow(p)
            assert box["scrollWidth"] <= box["innerWidth"], box
            assert box["left"] >= 0 and box["right"] <= box["innerWidth"] + 0.5, box
            assert box["top"] >= 0 and box["bottom"] <= box["innerHeight"] + 0.5, box
            assert box["width"] >= 300, box  # it uses the phone's width
            # Every control can still be reached: Message box and Send are on screen.
            send = p.page.get_by_role("button", name="Send").bounding_box()
            assert send and send["x"] + send["width"] <= width
    assert not p.serious_console() and not p.page_errors
    # Light and dark really differ (the emulated colour scheme reaches the panel).
    rgb = [int(x) for x in themed[themed.index("(") + 1 : themed.index(")")].split(",")[:3]]
    assert (sum(rgb) > 382) == (scheme == "light"), themed
