"""The panel during a live turn (runner app-server) in Chromium: text as it is written,
command output as it runs, approval cards with Approve and Deny, also after a reload.

The demo stack runs the app-server runner; approvals need a policy that asks, so
those tests use a stack of their own (``asking_stack``: web + worker on Redis
database 3, policy ``untrusted``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser_helpers import PanelPage, WebStack, own_stack

pytestmark = [pytest.mark.browser, pytest.mark.codex]


@pytest.fixture(scope="module")
def asking_stack(stack_env, keypair, tmp_path_factory) -> Iterator[WebStack]:
    """A web process and an app-server worker whose turns ask before running commands."""
    runs = tmp_path_factory.mktemp("asking-runs")
    env = stack_env(3, runs) | {
        "CODEX_RELAY_RUNNER": "app-server",
        "CODEX_RELAY_APPROVAL_POLICY": "untrusted",
    }
    with own_stack(env, keypair[0]) as stack:
        stack.runs = runs  # type: ignore[attr-defined]
        yield stack


# -- text as it is written ----------------------------------------------------


WATCH_RENDERS = """() => {
    const root = document.querySelector('codex-relay-panel').shadowRoot;
    window.__renders = [];
    window.__unsafe = [];
    new MutationObserver((records) => {
      for (const r of records) {
        const host = r.target.closest && r.target.closest('.msg.agent');
        if (host && r.type === 'childList') window.__renders.push(performance.now());
        for (const node of r.addedNodes) {
          if (node.nodeType !== 1) continue;
          const all = [node, ...node.querySelectorAll('*')];
          const bad = all.some((n) => n.matches('img, script, iframe')
            || [...n.attributes].some((a) => a.name.startsWith('on')));
          if (bad) window.__unsafe.push(node.outerHTML);
        }
      }
    }).observe(root.querySelector('[role=log]'), {childList: true, subtree: true});
}"""


def test_text_streams_into_the_answer_and_the_whole_message_replaces_it(
    panel_page: PanelPage, devmodel
):
    words = ["**Streaming** ", "answer ", "with ", "`code` ", "and ", "more ", "words ", "here."]
    devmodel.add_scenario(
        "browser_stream", [{"pace": 0.25, "say": words + ["<img src=x onerror=alert(1)>"]}]
    )
    p = panel_page
    p.page.evaluate(WATCH_RENDERS)
    p.send("#scenario:browser_stream")
    # Part of the answer is on screen while the rest is still being written.
    streaming = p.locator(".msg.agent.streaming")
    streaming.wait_for()
    p.page.wait_for_function(
        "() => { const b = document.querySelector('codex-relay-panel').shadowRoot"
        ".querySelector('.msg.agent.streaming .bubble');"
        " return b && b.textContent.includes('answer') && !b.textContent.includes('here.'); }"
    )
    assert streaming.locator("strong").inner_text() == "Streaming"  # markdown, live
    p.wait_turn_ends(1)
    answer = p.locator(".msg.agent")
    assert answer.count() == 1 and p.locator(".streaming").count() == 0
    assert answer.inner_text().startswith("Streaming answer with code and more words here.")
    assert answer.locator("code").inner_text() == "code"
    assert answer.locator("img").count() == 0 and p.page.evaluate("window.__unsafe") == []
    # Markdown re-rendered at most every ~50 ms however the deltas came.
    renders = p.page.evaluate("window.__renders")
    assert len(renders) >= 3
    span = renders[-1] - renders[0]
    assert len(renders) <= span / 50 + 3, (len(renders), span)
    assert not p.serious_console() and not p.page_errors


def test_command_output_shows_in_its_card_while_it_runs(panel_page: PanelPage, devmodel):
    command = "for i in 1 2 3 4 5 6; do echo tick$i; sleep 0.5; done"
    devmodel.add_scenario("browser_ticks", [{"shell": command, "timeout_ms": 60000}, {"say": "ok"}])
    p = panel_page
    p.send("#scenario:browser_ticks")
    running = p.locator('.card[data-kind="command"][data-status="in_progress"] .output.live pre')
    running.wait_for()
    p.page.wait_for_function(
        "() => { const pre = document.querySelector('codex-relay-panel').shadowRoot"
        ".querySelector('.card[data-status=\"in_progress\"] .output.live pre');"
        " return pre && pre.textContent.includes('tick3'); }"
    )
    assert "tick6" not in running.inner_text()  # seen while the command still ran
    p.wait_turn_ends(1)
    card = p.locator('.card[data-kind="command"]')
    assert card.get_attribute("data-status") == "completed"
    assert card.locator(".output.live").count() == 0  # the whole output replaced it
    assert "tick1" in card.inner_text() and "tick6" in card.inner_text()


# -- approvals ------------------------------------------------------------------


def _asking_page(make_page, asking_stack, devmodel, name: str, marker: str) -> PanelPage:
    devmodel.add_scenario(
        name, [{"shell": f"touch {marker}", "timeout_ms": 60000}, {"say": "done"}]
    )
    p = make_page(asking_stack)
    p.send(f"#scenario:{name}")
    p.locator(".approval").wait_for()
    return p


def test_an_approval_card_says_what_where_and_why_and_approve_runs_it(
    make_page, asking_stack, devmodel
):
    p = _asking_page(make_page, asking_stack, devmodel, "browser_ask_yes", "approved-b.txt")
    card = p.locator(".approval")
    assert "Run this command?" in card.inner_text()
    assert "touch approved-b.txt" in card.locator("pre.command").inner_text()
    assert "sample-run" in card.locator(".approval-where").inner_text()
    p.wait_state(agent="waiting")
    assert p.locator(".working").inner_text().strip() == "Waiting for your answer…"
    assert not (asking_stack.runs / "sample-run" / "approved-b.txt").exists()
    p.page.get_by_role("button", name="Approve").click()
    p.locator('.approval[data-state="accepted"]').wait_for()
    assert card.locator(".approval-outcome").inner_text() == "Approved."
    assert p.page.get_by_role("button", name="Approve").count() == 0
    p.wait_turn_ends(1)
    assert p.locator('.card[data-kind="command"]').get_attribute("data-status") == "completed"
    assert (asking_stack.runs / "sample-run" / "approved-b.txt").exists()
    assert not p.serious_console() and not p.page_errors


def test_deny_declines_and_the_outcome_stays_after_a_reload(make_page, asking_stack, devmodel):
    p = _asking_page(make_page, asking_stack, devmodel, "browser_ask_no", "denied-b.txt")
    p.page.get_by_role("button", name="Deny").click()
    p.locator('.approval[data-state="declined"]').wait_for()
    p.wait_turn_ends(1)
    assert p.locator(".approval-outcome").inner_text() == "Denied."
    p.reload()
    p.wait_turn_ends(1)
    assert p.locator(".approval").count() == 1
    assert p.locator(".approval-outcome").inner_text() == "Denied."
    assert p.page.get_by_role("button", name="Deny").count() == 0
    assert not (asking_stack.runs / "sample-run" / "denied-b.txt").exists()


def test_a_pending_approval_can_still_be_answered_after_a_reload(make_page, asking_stack, devmodel):
    p = _asking_page(make_page, asking_stack, devmodel, "browser_ask_reload", "reloaded-b.txt")
    p.reload()
    p.page.get_by_role("button", name="Approve").click()
    p.locator('.approval[data-state="accepted"]').wait_for()
    p.wait_turn_ends(1)
    assert p.locator(".approval").count() == 1


def test_stop_while_an_approval_waits_declines_it(make_page, asking_stack, devmodel):
    p = _asking_page(make_page, asking_stack, devmodel, "browser_ask_stop", "stopped-b.txt")
    p.page.get_by_role("button", name="Stop").click()
    p.locator('.turn-end[data-status="cancelled"]').wait_for()
    assert p.locator(".approval-outcome").inner_text() == "Declined: the turn was stopped."
    assert p.page.get_by_role("button", name="Approve").count() == 0
