"""The real Codex CLI calls codex-relay's MCP tools through a real worker.

The scripted model asks for the tools; Codex calls the MCP server (the
worker's long-running HTTP server, or a stdio server per turn); the tools
act on the run directory; the events show each call as an ``mcp`` tool card.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.codex


def _mcp(tool: str, **arguments):
    return {"mcp": {"server": "codex_relay", "tool": tool, "arguments": arguments}}


def _mcp_cards(events):
    return [
        e["tool"] for e in events if e["type"] == "tool.completed" and e["tool"]["kind"] == "mcp"
    ]


EDIT_STEPS = [
    _mcp("list_run_files"),
    _mcp("read_run_file", path="inputs/config.yaml"),
    _mcp(
        "replace_report_section",
        report_id="summary",
        pattern="Introduction",
        content="A rewritten introduction.\n",
    ),
    {"say": "Done: {{last_output}}"},
]


@pytest.mark.parametrize("runner", ["exec", "app-server"], ids=["exec", "app-server-warm"])
@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_agent_lists_reads_and_edits_a_report_through_the_tools(
    turns, devmodel, run_dir, monkeypatch, transport, runner
):
    monkeypatch.setenv("CODEX_RELAY_MCP_TRANSPORT", transport)
    monkeypatch.setenv("CODEX_RELAY_RUNNER", runner)
    # A warm app-server in the turn sandbox shows the run below the runs root.
    monkeypatch.setenv("CODEX_RELAY_RUNS_ROOT", str(run_dir.parent))
    devmodel.add_scenario("edit_report", EDIT_STEPS)
    report = run_dir / "reports" / "summary.md"
    before = report.read_text()
    session = turns.new_session(tier="edit")
    turns.start(session, "#scenario:edit_report rewrite the Introduction")
    result = turns.work()
    events = turns.events(session)
    assert events[-1]["status"] == "completed", (result.stderr[-2000:], events)
    if runner == "app-server":  # on the warm Codex, not a cold fallback
        pid = turns.rt.sessions.get(session.id).codex_pgid
        assert f"warm Codex ready (pid {pid})" in result.stderr + result.stdout
    cards = _mcp_cards(events)
    assert [c["name"] for c in cards] == [
        "list_run_files",
        "read_run_file",
        "replace_report_section",
    ]
    assert all(c["status"] == "completed" and c["server"] == "codex_relay" for c in cards)
    assert "learning_rate: 0.01" in str(cards[1]["result"])
    assert "A rewritten introduction." in report.read_text()
    assert "Old intro." not in report.read_text()
    assert "## Results\n\nLoss fell." in report.read_text()  # the rest is untouched
    backups = list((run_dir / "reports" / ".backups").glob("summary*"))
    assert [b.read_text() for b in backups] == [before]
    assert "-Old intro." in str(cards[2]["result"])  # the diff the user sees


def test_a_hostile_path_comes_back_as_a_tool_error_and_the_turn_goes_on(
    turns, devmodel, monkeypatch
):
    monkeypatch.setenv("CODEX_RELAY_MCP_TRANSPORT", "http")
    devmodel.add_scenario(
        "escape",
        [_mcp("read_run_file", path="../../../etc/passwd"), {"say": "It said: {{last_output}}"}],
    )
    session = turns.new_session()
    turns.start(session, "#scenario:escape")
    turns.work()
    events = turns.events(session)
    (card,) = _mcp_cards(events)
    assert card["status"] == "failed"
    assert "root:" not in str(card)
    assert "paths cannot leave the run" in card["error"]
    assert events[-1]["status"] == "completed"


def test_a_read_tier_session_cannot_edit_reports(turns, devmodel, run_dir, monkeypatch):
    monkeypatch.setenv("CODEX_RELAY_MCP_TRANSPORT", "http")
    devmodel.add_scenario("edit_only", [EDIT_STEPS[2], {"say": "ok"}])
    before = (run_dir / "reports" / "summary.md").read_text()
    session = turns.new_session(tier="read")
    turns.start(session, "#scenario:edit_only")
    turns.work()
    (card,) = _mcp_cards(turns.events(session))
    assert card["status"] == "failed" and "edit" in str(card["result"])
    assert (run_dir / "reports" / "summary.md").read_text() == before


def test_tools_that_cannot_start_fail_the_turn_with_a_clear_error(turns, monkeypatch):
    from cli.embedded_redis import free_port

    monkeypatch.setenv("CODEX_RELAY_MCP_TRANSPORT", "http")
    monkeypatch.setenv("CODEX_RELAY_MCP_URL", f"http://127.0.0.1:{free_port()}/mcp")
    session = turns.new_session()
    turns.start(session, "#scenario:hello")
    turns.work()
    events = turns.events(session)
    assert events[-1]["status"] == "failed"
    error = [e for e in events if e["type"] == "error"][-1]
    assert error["code"] == "tools_unavailable", error["message"]


def test_the_offline_demo_fixes_the_introduction_when_asked_in_plain_words(
    turns, run_dir, monkeypatch
):
    monkeypatch.setenv("CODEX_RELAY_MCP_TRANSPORT", "http")
    session = turns.new_session(tier="edit")
    turns.start(session, "Summarise this run's report and fix the Introduction")
    turns.work()
    events = turns.events(session)
    assert events[-1]["status"] == "completed"
    assert [c["name"] for c in _mcp_cards(events)] == [
        "read_report_section",
        "replace_report_section",
    ]
    assert (
        "Rewritten by the scripted demo model" in (run_dir / "reports" / "summary.md").read_text()
    )
    answer = [e for e in events if e["type"] == "message"][-1]["text"]
    assert "-Old intro." in answer
