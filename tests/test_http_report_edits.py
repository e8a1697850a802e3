"""Undoing a report edit, and a report's history, over HTTP (DESIGN's undo route).

The demo host app with the real relay extension and Redis; the edits are
made by the same function the agent's ``replace_report_section`` tool runs
(the path from Codex to that tool is covered in test_report_edits_e2e.py).
Every refusal is checked to leave the report and its journal untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mcp_tools import reports
from mcp_tools.report_edits import EditActor

RUN = "/runs/run-1/default/agent"
REPORT = f"{RUN}/reports/summary"


@pytest.fixture
def report(run_dir: Path) -> Path:
    return run_dir / "reports" / "summary.md"


def agent_edit(run_dir: Path, section: str = "Introduction", content: str = "New intro.") -> str:
    """An edit as the agent's tool makes it, in session ``s-1`` of alice."""
    result = reports.replace_report_section(
        run_dir, "summary", section, content, actor=EditActor("alice", "s-1")
    )
    assert result["edit_id"]
    return result["edit_id"]


def undo(client: Any, edit_id: object, report: str = REPORT) -> Any:
    return client.post(f"{report}/undo", json={"edit_id": edit_id})


def untouched(run_dir: Path, report: Path) -> tuple[bytes, bytes]:
    """The report's bytes and its journal's, to show a refusal wrote nothing."""
    return report.read_bytes(), (run_dir / "reports" / ".edits" / "summary.jsonl").read_bytes()


def test_undo_restores_the_exact_bytes_from_before_the_edit(
    client: Any, auth: Any, run_dir: Path, report: Path
) -> None:
    before = report.read_bytes()
    edit_id = agent_edit(run_dir)
    auth.login("alice")
    response = undo(client, edit_id)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["report_id"] == "summary" and body["edit_id"] == edit_id
    assert body["restored"] is True and body["undo_id"] != edit_id
    assert report.read_bytes() == before


def test_the_history_lists_edits_and_undos_newest_first_with_who_made_them(
    client: Any, auth: Any, run_dir: Path
) -> None:
    first = agent_edit(run_dir, "Introduction", "One.\nTwo.")
    second = agent_edit(run_dir, "Results", "Loss fell further.")
    auth.login("bob")
    undo_id = undo(client, second).get_json()["undo_id"]
    response = client.get(f"{REPORT}/history")
    assert response.status_code == 200
    body = response.get_json()
    assert body["report_id"] == "summary" and body["can_undo"] is True
    rows = [(e["id"], e["kind"], e["user"], e["undone"]) for e in body["edits"]]
    assert rows == [
        (undo_id, "undo", "bob", False),
        (second, "edit", "alice", True),
        (first, "edit", "alice", False),
    ]
    assert body["edits"][2]["section"] == "Summary/Introduction"
    assert (body["edits"][2]["added"], body["edits"][2]["removed"]) == (2, 1)
    assert body["edits"][1]["session"] == "s-1" and body["edits"][0]["session"] is None


def test_undoing_twice_answers_409_already_undone(
    client: Any, auth: Any, run_dir: Path, report: Path
) -> None:
    edit_id = agent_edit(run_dir)
    auth.login("alice")
    assert undo(client, edit_id).status_code == 200
    state = untouched(run_dir, report)
    response = undo(client, edit_id)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "already_undone"
    assert untouched(run_dir, report) == state


def test_an_undo_after_a_later_edit_answers_409_report_changed(
    client: Any, auth: Any, run_dir: Path, report: Path
) -> None:
    first = agent_edit(run_dir, "Introduction")
    agent_edit(run_dir, "Results", "Later.")
    state = untouched(run_dir, report)
    auth.login("alice")
    response = undo(client, first)
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "report_changed" and "changed after this edit" in error["message"]
    assert untouched(run_dir, report) == state


def test_a_read_tier_user_may_see_the_history_but_not_undo(
    client: Any, auth: Any, run_dir: Path, report: Path
) -> None:
    edit_id = agent_edit(run_dir)
    state = untouched(run_dir, report)
    auth.login("reader-ann")  # the demo host gives "reader*" users tier read
    response = undo(client, edit_id)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    assert untouched(run_dir, report) == state
    history = client.get(f"{REPORT}/history").get_json()
    assert history["can_undo"] is False and history["edits"][0]["id"] == edit_id
    auth.login("alice")  # the same request from an editor works
    assert undo(client, edit_id).status_code == 200


@pytest.mark.parametrize("edit_id", ["0" * 32, "nope", "../../etc/passwd", "A" * 32, ""])
def test_an_unknown_edit_answers_404(
    client: Any, auth: Any, run_dir: Path, report: Path, edit_id: str
) -> None:
    agent_edit(run_dir)
    state = untouched(run_dir, report)
    auth.login("alice")
    response = undo(client, edit_id)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "no_such_edit"
    assert untouched(run_dir, report) == state


def test_an_unknown_report_answers_404(client: Any, auth: Any, run_dir: Path) -> None:
    edit_id = agent_edit(run_dir)
    auth.login("alice")
    assert undo(client, edit_id, f"{RUN}/reports/other").status_code == 404
    assert client.get(f"{RUN}/reports/other/history").status_code == 404


@pytest.mark.parametrize(
    "report_id",
    [
        "..",
        ".backups",
        ".edits",
        "%2e%2e",
        "..%2F..%2Fetc%2Fpasswd",
        "summary%00",
        "summary%0A",
        "a" * 300,
        "-summary",
        "~root",
        "summary.md.md",
        "%E2%80%AEsummary",
    ],
)
def test_hostile_report_ids_answer_404_and_change_nothing(
    client: Any, auth: Any, run_dir: Path, report: Path, report_id: str
) -> None:
    edit_id = agent_edit(run_dir)
    state = untouched(run_dir, report)
    auth.login("alice")
    for response in (
        undo(client, edit_id, f"{RUN}/reports/{report_id}"),
        client.get(f"{RUN}/reports/{report_id}/history"),
    ):
        assert response.status_code == 404, (report_id, response.get_json())
        assert response.is_json and "Traceback" not in response.get_data(as_text=True)
    assert untouched(run_dir, report) == state


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ('{"edit_id": "%s"}', "text/plain"),
        ('{"edit_id": "%s"}', None),
        ("not json", "application/json"),
        ('["%s"]', "application/json"),
        ('"%s"', "application/json"),
        ("{}", "application/json"),
        ('{"edit_id": 5}', "application/json"),
        ('{"edit_id": null}', "application/json"),
        ('{"edit_id": ["%s"]}', "application/json"),
        ('{"edit_id": "%s", "also": 1}', "application/json"),
        ('{"edit_id": "%s"' + " " * 70_000 + "}", "application/json"),
        (b'{"edit_id": "\xff"}', "application/json"),
    ],
)
def test_a_malformed_body_answers_400_and_changes_nothing(
    client: Any, auth: Any, run_dir: Path, report: Path, data: Any, content_type: str | None
) -> None:
    edit_id = agent_edit(run_dir)
    state = untouched(run_dir, report)
    auth.login("alice")
    body = data.replace("%s", edit_id) if isinstance(data, str) else data
    response = client.post(f"{REPORT}/undo", data=body, content_type=content_type)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] in {"bad_request", "body_too_large"}
    assert untouched(run_dir, report) == state
    assert undo(client, edit_id).status_code == 200  # the well-formed request works


def test_a_stranger_or_an_unknown_run_gets_no_history(
    client: Any, auth: Any, run_dir: Path
) -> None:
    agent_edit(run_dir)
    assert client.get(f"{REPORT}/history").status_code == 401
    auth.login("alice")
    response = client.get("/runs/run-2/default/agent/reports/summary/history")
    assert response.status_code == 404
    assert client.get(f"{REPORT}/undo").status_code == 405
