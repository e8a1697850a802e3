"""Report edits a user can undo: the journal, the history and the undo itself (no HTTP)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcp_tools import report_edits, report_history, reports
from mcp_tools.errors import (
    AlreadyUndone,
    BackupMissing,
    BadArgument,
    NoSuchEdit,
    NotFound,
    ReportChanged,
)
from mcp_tools.report_edits import EditActor

ADA = EditActor("ada", "session-1")
BOB = EditActor("bob")
# CRLF line endings, a byte-order mark and non-ASCII text: undo must give back these exact bytes.
ORIGINAL = "\ufeff# Report\r\n\r\n## Intro\r\n\r\nCafé crème.\r\n\r\n## End\r\n\r\nBye.\r\n".encode(
    "utf-8"
)


@pytest.fixture
def run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "reports").mkdir(parents=True)
    (run / "reports" / "r.md").write_bytes(ORIGINAL)
    return run


def report(run: Path) -> bytes:
    return (run / "reports" / "r.md").read_bytes()


def edit(run: Path, section: str, content: str, actor: EditActor = ADA) -> str:
    """Replace a section as the agent's tool does; the edit's id."""
    result = reports.replace_report_section(run, "r", section, content, actor=actor)
    assert result["edit_id"] is not None
    return result["edit_id"]


def undo(run: Path, edit_id: str, actor: EditActor = BOB) -> report_history.UndoResult:
    return report_history.undo_report_edit(run, "r", edit_id, actor)


def journal(run: Path) -> Path:
    return run / "reports" / ".edits" / "r.jsonl"


def test_an_edit_is_recorded_with_its_author_section_hashes_and_backup(run: Path) -> None:
    result = reports.replace_report_section(run, "r", "Intro", "New intro.\nSecond.", actor=ADA)
    (record,) = report_edits.read_edits(run, "r")
    assert result["edit_id"] == record.id and report_edits.is_edit_id(record.id)
    assert (record.kind, record.report, record.section) == ("edit", "r", "Report/Intro")
    assert (record.user, record.session) == ("ada", "session-1")
    assert record.backup == result["backup"]
    assert (run / record.backup).read_bytes() == ORIGINAL
    assert record.before == report_edits.digest(ORIGINAL)
    assert record.after == report_edits.digest(report(run))
    assert (record.added, record.removed) == (2, 1)  # the diff's "+" and "-" lines
    assert result["diff"].count("\n+") - result["diff"].count("\n+++") == record.added


def test_an_edit_that_changes_nothing_records_nothing(run: Path) -> None:
    edit(run, "Intro", "Same.")
    result = reports.replace_report_section(run, "r", "Intro", "Same.", actor=ADA)
    assert result["edit_id"] is None and not result["changed"]
    assert len(report_edits.read_edits(run, "r")) == 1


def test_undo_restores_the_exact_bytes_from_before_the_edit(run: Path) -> None:
    edit_id = edit(run, "Intro", "Rewritten.")
    assert report(run) != ORIGINAL
    result = undo(run, edit_id)
    assert report(run) == ORIGINAL  # BOM, CRLF and accents included
    assert result["restored"] and result["edit_id"] == edit_id
    assert result["undo_id"] != edit_id and report_edits.is_edit_id(result["undo_id"])


def test_the_undo_is_recorded_as_a_change_by_the_user_who_undid(run: Path) -> None:
    edit_id = edit(run, "Intro", "Rewritten.\nTwice.")
    edited = report(run)
    result = undo(run, edit_id)
    first, second = report_edits.read_edits(run, "r")
    assert second.id == result["undo_id"]
    assert (second.kind, second.undoes) == ("undo", edit_id)
    assert (second.user, second.session) == ("bob", None)
    assert (second.added, second.removed) == (first.removed, first.added)
    assert (second.before, second.after) == (first.after, first.before)
    assert (run / second.backup).read_bytes() == edited  # the undo backs up what it replaced


def test_an_undo_can_be_undone_which_brings_the_edit_back(run: Path) -> None:
    edit_id = edit(run, "Intro", "Rewritten.")
    edited = report(run)
    first_undo = undo(run, edit_id)["undo_id"]
    undo(run, first_undo)
    assert report(run) == edited
    states = {e["id"]: e["undone"] for e in report_history.report_history(run, "r")["edits"]}
    assert states == {edit_id: False, first_undo: True} | {
        e.id: False for e in report_edits.read_edits(run, "r")[2:]
    }
    undo(run, edit_id)  # the edit is in effect again, so it can be undone again
    assert report(run) == ORIGINAL


def test_undoing_twice_is_refused_and_writes_nothing(run: Path) -> None:
    edit_id = edit(run, "Intro", "Rewritten.")
    undo(run, edit_id)
    records, backups = journal(run).read_bytes(), sorted((run / "reports" / ".backups").iterdir())
    with pytest.raises(AlreadyUndone, match="undone already"):
        undo(run, edit_id)
    assert report(run) == ORIGINAL
    assert journal(run).read_bytes() == records
    assert sorted((run / "reports" / ".backups").iterdir()) == backups


def test_an_undo_after_a_later_edit_is_refused_and_writes_nothing(run: Path) -> None:
    first = edit(run, "Intro", "First rewrite.")
    edit(run, "End", "A later change.")
    later, records = report(run), journal(run).read_bytes()
    with pytest.raises(ReportChanged, match="changed after this edit"):
        undo(run, first)
    assert report(run) == later and journal(run).read_bytes() == records


def test_undoing_the_later_edit_first_makes_the_earlier_one_undoable(run: Path) -> None:
    first = edit(run, "Intro", "First rewrite.")
    second = edit(run, "End", "A later change.")
    undo(run, second)
    undo(run, first)
    assert report(run) == ORIGINAL


def test_a_change_made_outside_the_tools_blocks_the_undo(run: Path) -> None:
    edit_id = edit(run, "Intro", "Rewritten.")
    (run / "reports" / "r.md").write_bytes(report(run) + b"Typed in by hand.\r\n")
    with pytest.raises(ReportChanged):
        undo(run, edit_id)
    assert report(run).endswith(b"Typed in by hand.\r\n")


@pytest.mark.parametrize(
    "edit_id",
    ["0" * 32, "", "x", "../../etc/passwd", "A" * 32, "0" * 31, "0" * 33, "0" * 32 + "\n", None, 7],
)
def test_an_unknown_or_malformed_edit_id_is_no_such_edit(run: Path, edit_id: object) -> None:
    edit(run, "Intro", "Rewritten.")
    with pytest.raises(NoSuchEdit):
        undo(run, edit_id)  # type: ignore[arg-type]


def test_an_edit_of_another_report_is_not_found_in_this_one(run: Path) -> None:
    (run / "reports" / "other.md").write_text("# Other\n\ntext\n")
    other = reports.replace_report_section(run, "other", "Other", "changed", actor=ADA)["edit_id"]
    assert other is not None
    with pytest.raises(NoSuchEdit):
        undo(run, other)


@pytest.mark.parametrize(
    "report_id",
    [
        "../r",
        "..",
        ".backups",
        ".edits/r",
        "r/../r",
        "/etc/passwd",
        "r\x00",
        "r\n",
        "",
        "-r",
        "a" * 200,
    ],
)
def test_hostile_report_ids_are_refused_by_undo_and_history(run: Path, report_id: str) -> None:
    with pytest.raises(BadArgument):
        report_history.undo_report_edit(run, report_id, "0" * 32, BOB)
    with pytest.raises(BadArgument):
        report_history.report_history(run, report_id)


def test_an_unknown_report_is_not_found(run: Path) -> None:
    with pytest.raises(NotFound):
        report_history.undo_report_edit(run, "nope", "0" * 32, BOB)
    with pytest.raises(NotFound):
        report_history.report_history(run, "nope")


@pytest.mark.parametrize("damage", ["removed", "altered"])
def test_an_edit_whose_backup_is_gone_or_altered_cannot_be_undone(run: Path, damage: str) -> None:
    edit_id = edit(run, "Intro", "Rewritten.")
    (record,) = report_edits.read_edits(run, "r")
    if damage == "removed":
        (run / record.backup).unlink()
    else:
        (run / record.backup).write_bytes(b"# Forged\n")
    edited = report(run)
    (entry,) = report_history.report_history(run, "r")["edits"]
    assert entry["undoable"] is (damage == "altered")  # the history checks presence only
    with pytest.raises(BackupMissing):
        undo(run, edit_id)
    assert report(run) == edited


def test_an_edit_whose_backup_was_pruned_is_listed_but_not_undoable(run: Path) -> None:
    first = reports.replace_report_section(run, "r", "Intro", "one", max_backups=1, actor=ADA)
    reports.replace_report_section(run, "r", "End", "two", max_backups=1, actor=ADA)
    undone = undo(run, report_edits.read_edits(run, "r")[-1].id)
    assert undone["restored"]
    with pytest.raises(BackupMissing):  # the second edit's backup pushed the first one out
        undo(run, str(first["edit_id"]))


def test_the_history_lists_edits_and_undos_newest_first(run: Path) -> None:
    first = edit(run, "Intro", "One.\nTwo.\nThree.")
    second = edit(run, "End", "Later.", actor=EditActor("cy", "session-2"))
    undo_second = undo(run, second)["undo_id"]
    history = report_history.report_history(run, "r")
    assert (history["report_id"], history["path"]) == ("r", "reports/r.md")
    rows = [
        (e["id"], e["kind"], e["user"], e["section"], e["undone"], e["undoes"], e["undoable"])
        for e in history["edits"]
    ]
    assert rows == [
        (undo_second, "undo", "bob", "Report/End", False, second, True),
        (second, "edit", "cy", "Report/End", True, None, False),
        (first, "edit", "ada", "Report/Intro", False, None, True),
    ]
    assert [(e["added"], e["removed"]) for e in history["edits"]] == [(1, 1), (1, 1), (3, 1)]
    assert history["edits"][1]["undone_by"] == undo_second
    times = [e["at"] for e in history["edits"]]
    assert times == sorted(times, reverse=True)


def test_a_report_without_edits_has_an_empty_history(run: Path) -> None:
    assert report_history.report_history(run, "r")["edits"] == []


def test_a_torn_or_forged_journal_line_is_skipped(run: Path) -> None:
    edit_id = edit(run, "Intro", "Rewritten.")
    (good,) = report_edits.read_edits(run, "r")
    forged = json.loads(good.to_line())
    hostile = [
        b"not json at all",
        b"[1, 2, 3]",
        json.dumps({**forged, "id": "f" * 32, "backup": "reports/.backups/../../../etc/passwd"}),
        json.dumps({**forged, "id": "e" * 32, "report": "other"}),
        json.dumps({**forged, "id": "d" * 32, "added": -1}),
        json.dumps({**forged, "id": "c" * 32, "at": True}),
        json.dumps({**forged, "id": "b" * 32, "kind": "undo", "undoes": None}),
        json.dumps({**forged, "v": 2}),
        *(
            json.dumps({**forged, "id": f"{n:032x}", field: value})
            for n, (field, value) in enumerate(
                [
                    ("id", 7),
                    ("backup", 7),
                    ("backup", None),
                    ("before", 7),
                    ("section", ["x"]),
                    ("user", {"a": 1}),
                    ("kind", ["edit"]),
                    ("undoes", 5),
                    ("report", None),
                ],
                start=1,
            )
        ),
        json.dumps({key: value for key, value in forged.items() if key != "after"}),
        json.dumps(forged),  # a repeated id: the first record stands
        b'{"v": 1, "id": "torn',  # a line cut short by a crash
    ]
    with journal(run).open("ab") as handle:
        for line in hostile:
            handle.write((line.encode() if isinstance(line, str) else line) + b"\n")
    assert [e.id for e in report_edits.read_edits(run, "r")] == [edit_id]
    undo(run, edit_id)  # appending after the junk still works
    assert report(run) == ORIGINAL
    assert len(report_edits.read_edits(run, "r")) == 2


def test_forged_undos_that_undo_each_other_cannot_loop(run: Path) -> None:
    edit(run, "Intro", "Rewritten.")
    (good,) = report_edits.read_edits(run, "r")
    base = json.loads(good.to_line())
    loop = [
        {**base, "id": "a" * 32, "kind": "undo", "undoes": "b" * 32},
        {**base, "id": "b" * 32, "kind": "undo", "undoes": "a" * 32},
        {**base, "id": "c" * 32, "kind": "undo", "undoes": "c" * 32},
    ]
    with journal(run).open("a") as handle:
        handle.writelines(json.dumps(record) + "\n" for record in loop)
    states = report_edits.undone_by(report_edits.read_edits(run, "r"))
    assert states == {good.id: None, "a" * 32: "b" * 32, "b" * 32: None, "c" * 32: None}


def test_a_long_undo_chain_is_replayed_correctly(run: Path) -> None:
    edit_id = edit(run, "Intro", "Rewritten.")
    edited = report(run)
    latest = edit_id
    for n in range(7):
        latest = undo(run, latest)["undo_id"]
        assert report(run) == (ORIGINAL if n % 2 == 0 else edited)
    states = report_edits.undone_by(report_edits.read_edits(run, "r"))
    assert states[edit_id] is not None  # seven undos: the edit is undone
    assert sum(state is None for state in states.values()) == 4


def test_the_journal_stays_bounded(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_edits, "MAX_JOURNAL_BYTES", 4096)
    ids = [edit(run, "Intro", f"Version {n}.") for n in range(40)]
    size = journal(run).stat().st_size
    assert size <= 4096
    kept = [e.id for e in report_edits.read_edits(run, "r")]
    assert kept == ids[-len(kept) :] and 5 < len(kept) < 40
    undo(run, ids[-1])  # the newest edits stay undoable
