"""XSS: agent text and tool output from the (scripted) model never run as code."""

from __future__ import annotations

import pytest
from browser_helpers import PanelPage

pytestmark = [pytest.mark.browser, pytest.mark.codex]

HOSTILE_ANSWER = "\n\n".join(
    [
        "# Hostile answer",
        "<script>window.__pwned=1</script>",
        '<img src=x onerror="window.__pwned=1">',
        "[click me](javascript:window.__pwned=1)",
        "[a real link](https://example.com/page)",
        '<a href="javascript:window.__pwned=1" onclick="window.__pwned=1">raw link</a>',
        '<svg onload="window.__pwned=1"><circle r="5"/></svg>',
        '<iframe src="javascript:window.__pwned=1"></iframe>',
        '<div style="background:url(javascript:window.__pwned=1)" onmouseover="window.__pwned=1">'
        "hover</div>",
        "Inline code: `<img src=x onerror=window.__pwned=1>` and "
        "`<script>window.__pwned=1</script>`",
        "```html\n<script>window.__pwned=1</script>\n<img src=x onerror=window.__pwned=1>\n```",
        "![image](javascript:window.__pwned=1)",
        "Tool said: {{last_output}}",
    ]
)
HOSTILE_OUTPUT = "<img src=x onerror=window.__pwned=1><script>window.__pwned=1</script>"


def test_hostile_markdown_and_tool_output_do_not_run(panel_page: PanelPage, devmodel):
    devmodel.add_scenario(
        "browser_xss",
        [
            {
                "reason": '<img src=x onerror="window.__pwned=1"> thinking',
                "shell": ["printf", "%s\\n", HOSTILE_OUTPUT],
                "timeout_ms": 60000,
            },
            {"say": HOSTILE_ANSWER},
        ],
    )
    p = panel_page
    p.send("#scenario:browser_xss <img src=x onerror=window.__pwned=1>")
    p.wait_turn_ends(1)
    # Give any injected handler (image error, load) time to fire.
    p.page.wait_for_timeout(500)
    p.locator(".reasoning summary").click()
    p.locator(".card").hover()
    p.locator(".msg.agent").last.hover()

    assert p.page.evaluate("typeof window.__pwned") == "undefined"
    assert not p.page_errors
    assert p.serious_console() == []

    answer = p.locator(".msg.agent").last
    assert answer.locator("h1").inner_text() == "Hostile answer"
    # The markup in code spans and blocks is shown as text, not parsed.
    codes = answer.locator("code").all_inner_texts()
    assert "<img src=x onerror=window.__pwned=1>" in codes
    assert any("<script>window.__pwned=1</script>" in c for c in codes)
    # The tool card shows the output as text.
    assert HOSTILE_OUTPUT in p.locator(".card .output").inner_text()
    # The user's own message is text too.
    assert p.locator(".msg.user").inner_text().endswith("<img src=x onerror=window.__pwned=1>")

    audit = p.page.evaluate("""() => {
        const root = document.querySelector('codex-relay-panel').shadowRoot;
        const all = [...root.querySelectorAll('*')];
        return {
          handlers: all.flatMap((n) => [...n.attributes].filter((a) => /^on/i.test(a.name))
                                          .map((a) => `${n.localName}[${a.name}]`)),
          dangerous: all.filter((n) => ['script', 'img', 'iframe', 'svg', 'object', 'embed']
                                         .includes(n.localName)).map((n) => n.localName),
          styled: root.querySelectorAll('.md [style]').length,
          links: [...root.querySelectorAll('a')].map((a) => ({
            href: a.getAttribute('href'), rel: a.getAttribute('rel'),
            target: a.getAttribute('target'),
          })),
        };
    }""")
    assert audit["handlers"] == []
    assert audit["dangerous"] == []
    assert audit["styled"] == 0
    assert audit["links"], "the safe link should survive"
    for link in audit["links"]:
        if link["href"] is None:
            continue  # an <a> whose javascript: href was removed: not a link
        assert not (link["href"] or "").strip().lower().startswith("javascript:"), link
        assert set((link["rel"] or "").split()) >= {"noopener", "noreferrer"}, link
    assert {
        "href": "https://example.com/page",
        "rel": "noopener noreferrer",
        "target": "_blank",
    } in audit["links"]
