"""The admin view of a run's reports: every edit and undo, who made it, and its state."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mcp_tools import report_history, reports
from mcp_tools.report_edits import EditActor

ROLES = {"root": "admin", "watcher": "viewer"}
PAGE = "/agent/admin/runs/run-1/reports/"
JSON = "/agent/admin/runs/run-1/reports.json"


@pytest.fixture
def app(app: Any) -> Any:
    """The demo app where ``root`` is an admin and ``watcher`` a viewer."""
    app.extensions["codex_relay"].policy.admin_authorizer = ROLES.get
    return app


@pytest.fixture
def edited(run_dir: Path) -> dict[str, str]:
    """Two edits by the agent (alice's session s-1) and an undo of the second by bob."""
    first = reports.replace_report_section(
        run_dir, "summary", "Introduction", "One.\nTwo.", actor=EditActor("alice", "s-1")
    )
    second = reports.replace_report_section(
        run_dir, "summary", "Results", "Better.", actor=EditActor("alice", "s-1")
    )
    undo = report_history.undo_report_edit(
        run_dir, "summary", str(second["edit_id"]), EditActor("bob")
    )
    ids = {"first": first["edit_id"], "second": second["edit_id"], "undo": undo["undo_id"]}
    return {name: str(value) for name, value in ids.items()}


@pytest.mark.parametrize("user", ["root", "watcher"])
def test_admins_and_viewers_see_each_reports_history_newest_first(
    client: Any, auth: Any, edited: dict[str, str], user: str
) -> None:
    auth.login(user)
    body = client.get(JSON).get_json()
    (summary,) = [r for r in body["reports"] if r["report_id"] == "summary"]
    assert [(e["id"], e["kind"], e["user"], e["undone"]) for e in summary["edits"]] == [
        (edited["undo"], "undo", "bob", False),
        (edited["second"], "edit", "alice", True),
        (edited["first"], "edit", "alice", False),
    ]
    page = client.get(PAGE)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    rows = re.findall(r"<tr[^>]*>.*?</tr>", text, re.S)[1:]  # after the header row
    assert edited["undo"] in rows[0] and edited["second"] in rows[1]
    assert edited["first"] in rows[2]
    assert 'class="undone"' in rows[1] and f"undone by <code>{edited['undo'][:8]}" in rows[1]
    assert "+2" in rows[2] and "−1" in rows[2] and "Summary/Introduction" in rows[2]


def test_a_report_without_edits_is_listed_as_such(client: Any, auth: Any, run_dir: Path) -> None:
    (run_dir / "reports" / "notes.md").write_text("# Notes\n")
    auth.login("root")
    body = client.get(JSON).get_json()
    assert [(r["report_id"], r["edits"]) for r in body["reports"]] == [
        ("notes", []),
        ("summary", []),
    ]
    assert "No recorded edits." in client.get(PAGE).get_data(as_text=True)


def test_what_users_control_is_escaped(client: Any, auth: Any, run_dir: Path) -> None:
    (run_dir / "reports" / "summary.md").write_text("# `<script>alert(1)</script>`\n\nx\n")
    reports.replace_report_section(
        run_dir, "summary", "#1", "y", actor=EditActor("<img src=x onerror=alert(1)>")
    )
    auth.login("root")
    text = client.get(PAGE).get_data(as_text=True)
    assert "<script>alert" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_the_sessions_page_links_each_run_to_its_reports(
    client: Any, auth: Any, turns: Any
) -> None:
    turns.new_session("alice")
    auth.login("watcher")
    assert f'href="{PAGE}"' in client.get("/agent/admin/").get_data(as_text=True)


@pytest.mark.parametrize(("user", "status"), [(None, 401), ("alice", 403)])
def test_strangers_and_users_without_a_role_are_refused(
    client: Any, auth: Any, edited: dict[str, str], user: str | None, status: int
) -> None:
    if user:
        auth.login(user)
    for path in (PAGE, JSON):
        response = client.get(path)
        assert response.status_code == status
        assert edited["first"] not in response.get_data(as_text=True)


@pytest.mark.parametrize("runid", ["run-2", "..", "run-1%0A", ".hidden", "a" * 200])
def test_an_unknown_or_hostile_run_is_404(client: Any, auth: Any, runid: str) -> None:
    auth.login("root")
    for path in (f"/agent/admin/runs/{runid}/reports/", f"/agent/admin/runs/{runid}/reports.json"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert json.loads(response.get_data(as_text=True))["error"]["code"] == "not_found"
