"""Every tool, every tier, every refusal, in memory through the SDK client."""

from __future__ import annotations

import importlib
import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mcp.server.mcpserver.exceptions import ToolError as SdkToolError
from mcp_helpers import REPORT, RUNID, ToolClient

from mcp_tools import audit
from mcp_tools.auth import RunAuthoriser
from mcp_tools.server import TOOL_NAMES, ToolGate, static_token

READ_CALLS: list[tuple[str, dict[str, object]]] = [
    ("describe_run_contents", {}),
    ("list_run_files", {}),
    ("read_run_file", {"path": "inputs/config.yaml"}),
    ("list_report_sections", {"report_id": "summary"}),
    ("read_report_section", {"report_id": "summary", "pattern": "Introduction"}),
]
EDIT_CALL = (
    "replace_report_section",
    {"report_id": "summary", "pattern": "Introduction", "content": "New intro."},
)


@pytest.fixture
def audit_lines() -> Iterator[io.StringIO]:
    """The audit log of the test, one JSON object per line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger(audit.AUDIT_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)


def test_the_server_lists_exactly_the_six_tools(tools: ToolClient) -> None:
    assert sorted(tools.tool_names()) == sorted(TOOL_NAMES)


@pytest.mark.parametrize(("tool", "arguments"), READ_CALLS)
@pytest.mark.parametrize("tier", ["read", "edit"])
def test_read_tools_work_for_both_tiers(
    make_tools: Callable[..., ToolClient],
    mint: Callable[..., str],
    tier: str,
    tool: str,
    arguments: dict[str, object],
) -> None:
    make_tools(mint(tier=tier)).ok(tool, **arguments)


def test_replace_needs_the_edit_tier(read_tools: ToolClient, run: Path) -> None:
    error = read_tools.error(EDIT_CALL[0], **EDIT_CALL[1])
    assert error.endswith(
        "forbidden: This needs the 'edit' tier; this conversation has only 'read' access."
    )
    assert (run / "reports" / "summary.md").read_text() == REPORT
    assert not (run / "reports" / ".backups").exists()


def test_replace_works_with_the_edit_tier(tools: ToolClient, run: Path) -> None:
    result = tools.ok(EDIT_CALL[0], **EDIT_CALL[1])
    assert result["changed"] is True
    assert "New intro." in (run / "reports" / "summary.md").read_text()


@pytest.mark.parametrize(("tool", "arguments"), [*READ_CALLS, EDIT_CALL])
def test_every_tool_refuses_another_runid(
    tools: ToolClient, tool: str, arguments: dict[str, object]
) -> None:
    error = tools.error(tool, **arguments, runid="run-2")
    assert "forbidden" in error and "'run-1'" in error


@pytest.mark.parametrize(("tool", "arguments"), [*READ_CALLS, EDIT_CALL])
def test_every_tool_accepts_its_own_runid(
    tools: ToolClient, tool: str, arguments: dict[str, object]
) -> None:
    tools.ok(tool, **arguments, runid=RUNID)


@pytest.mark.parametrize(("tool", "arguments"), [*READ_CALLS, EDIT_CALL])
def test_every_tool_refuses_a_call_without_a_token(
    make_tools: Callable[..., ToolClient], tool: str, arguments: dict[str, object]
) -> None:
    error = make_tools(None).error(tool, **arguments)
    assert "unauthorised: No run token was given with this call." in error


def test_describe_run_contents_groups_files_by_category(tools: ToolClient) -> None:
    result = tools.ok("describe_run_contents")
    assert result["runid"] == RUNID
    by_name = {item["category"]: item for item in result["categories"]}
    assert [i["path"] for i in by_name["reports"]["items"]] == ["reports/summary.md"]
    assert [i["path"] for i in by_name["inputs"]["items"]] == ["inputs/config.yaml"]
    assert [i["path"] for i in by_name["outputs"]["items"]] == ["outputs/metrics.csv"]
    assert [i["path"] for i in by_name["logs"]["items"]] == ["logs/train.log"]
    assert [i["path"] for i in by_name["other"]["items"]] == ["notes.txt"]  # .hidden is left out
    assert by_name["inputs"]["bytes"] == len("learning_rate: 0.01\nepochs: 3\n")


def test_describe_run_contents_filters_one_category(tools: ToolClient) -> None:
    result = tools.ok("describe_run_contents", category="logs")
    assert [c["category"] for c in result["categories"]] == ["logs"]


def test_describe_run_contents_refuses_an_unknown_category(tools: ToolClient) -> None:
    assert "bad_argument: Unknown category 'secrets'" in tools.error(
        "describe_run_contents", category="secrets"
    )


def test_describe_run_contents_cuts_long_categories(tools: ToolClient, run: Path) -> None:
    for number in range(60):
        (run / "outputs" / f"f{number:02}.txt").write_text("x")
    outputs = tools.ok("describe_run_contents", category="outputs")["categories"][0]
    assert outputs["files"] == 61 and len(outputs["items"]) == 50 and outputs["truncated"]


def test_list_run_files_lists_directories_first_without_hidden_entries(tools: ToolClient) -> None:
    result = tools.ok("list_run_files")
    assert [(e["name"], e["type"]) for e in result["entries"]] == [
        ("inputs", "dir"),
        ("logs", "dir"),
        ("outputs", "dir"),
        ("reports", "dir"),
        ("notes.txt", "file"),
    ]
    assert result["omitted_hidden"] == 1 and result["truncated"] is False


def test_list_run_files_lists_a_subdirectory_with_sizes(tools: ToolClient) -> None:
    result = tools.ok("list_run_files", subdir="inputs")
    assert result["directory"] == "inputs"
    assert result["entries"] == [
        {"name": "config.yaml", "path": "inputs/config.yaml", "type": "file", "size": 30}
    ]


def test_list_run_files_is_bounded_and_says_when_cut(tools: ToolClient, run: Path) -> None:
    for number in range(250):
        (run / "outputs" / f"{number:03}.txt").write_text("")
    result = tools.ok("list_run_files", subdir="outputs")
    assert len(result["entries"]) == 200 and result["total"] == 251 and result["truncated"]


def test_list_run_files_refuses_a_file(tools: ToolClient) -> None:
    assert "wrong_kind: 'notes.txt' is a file" in tools.error("list_run_files", subdir="notes.txt")


def test_list_run_files_reports_a_missing_directory(tools: ToolClient) -> None:
    assert "not_found" in tools.error("list_run_files", subdir="nope")


def test_read_run_file_returns_text_with_its_encoding(tools: ToolClient) -> None:
    result = tools.ok("read_run_file", path="inputs/config.yaml")
    assert result == {
        "path": "inputs/config.yaml",
        "size": 30,
        "encoding": "utf-8",
        "offset": 0,
        "next_offset": None,
        "eof": True,
        "text": "learning_rate: 0.01\nepochs: 3\n",
    }


def test_read_run_file_refuses_a_directory(tools: ToolClient) -> None:
    assert "wrong_kind: 'inputs' is a directory" in tools.error("read_run_file", path="inputs")


def test_read_run_file_reports_a_missing_file(tools: ToolClient) -> None:
    error = tools.error("read_run_file", path="inputs/missing.yaml")
    assert "not_found: There is no file or directory 'inputs/missing.yaml' in this run." in error


def test_read_run_file_refuses_binary_with_size_and_type(tools: ToolClient, run: Path) -> None:
    (run / "outputs" / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    error = tools.error("read_run_file", path="outputs/plot.png")
    assert "binary_file: 'outputs/plot.png' is not text (PNG image, 108 bytes)" in error


def test_read_run_file_refuses_a_large_file_with_its_size(tools: ToolClient, run: Path) -> None:
    (run / "logs" / "big.log").write_bytes(b"x" * (1024 * 1024 + 1))
    error = tools.error("read_run_file", path="logs/big.log")
    assert "too_large: 'logs/big.log' is 1048577 bytes, over the 1048576-byte limit" in error


def test_read_run_file_reads_a_large_file_by_windows(tools: ToolClient, run: Path) -> None:
    (run / "logs" / "big.log").write_bytes(b"a" * (1024 * 1024) + b"tail")
    first = tools.ok("read_run_file", path="logs/big.log", limit=1024 * 1024)
    assert first["eof"] is False and first["next_offset"] == 1024 * 1024
    rest = tools.ok("read_run_file", path="logs/big.log", offset=first["next_offset"])
    assert rest["text"] == "tail" and rest["eof"] is True


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"offset": -1}, "offset must be 0 or more"),
        ({"limit": 0}, "limit must be between 1 and 1048576 bytes"),
        ({"limit": 1024 * 1024 + 1}, "limit must be between 1 and 1048576 bytes"),
        ({"offset": 10_000}, "offset 10000 is past the end of 'notes.txt' (15 bytes)"),
    ],
)
def test_read_run_file_refuses_bad_windows(
    tools: ToolClient, arguments: dict[str, int], message: str
) -> None:
    assert message in tools.error("read_run_file", path="notes.txt", **arguments)


def test_arguments_of_the_wrong_type_are_refused_by_the_schema(tools: ToolClient) -> None:
    assert tools.call("read_run_file", path="notes.txt", offset="ten").is_error
    assert tools.call("read_run_file").is_error


def test_list_report_sections_gives_levels_paths_and_spans(tools: ToolClient) -> None:
    result = tools.ok("list_report_sections", report_id="summary")
    assert result["path"] == "reports/summary.md"
    assert [
        (s["index"], s["level"], s["path"], s["start_line"], s["end_line"])
        for s in result["sections"]
    ] == [
        (1, 1, "Summary", 1, 21),
        (2, 2, "Summary/Introduction", 5, 8),
        (3, 2, "Summary/Results", 9, 16),
        (4, 3, "Summary/Results/Discussion", 13, 16),
        (5, 2, "Summary/Appendix", 17, 21),
        (6, 3, "Summary/Appendix/Discussion", 19, 21),
    ]


def test_read_report_section_by_title(tools: ToolClient) -> None:
    result = tools.ok("read_report_section", report_id="summary", pattern="introduction")
    assert result["markdown"] == "## Introduction\n\nOld intro.\n\n"
    assert result["section"]["index"] == 2


def test_read_report_section_by_path_and_by_index(tools: ToolClient) -> None:
    by_path = tools.ok("read_report_section", report_id="summary", pattern="Appendix/Discussion")
    by_index = tools.ok("read_report_section", report_id="summary", pattern="#6")
    assert by_path == by_index
    assert by_path["markdown"] == "### Discussion\n\nExtra notes.\n"


def test_an_ambiguous_pattern_is_refused_with_the_candidates(tools: ToolClient) -> None:
    error = tools.error("read_report_section", report_id="summary", pattern="Discussion")
    assert "ambiguous_section: 'Discussion' matches 2 sections" in error
    assert "#4 'Summary/Results/Discussion' (lines 13-16)" in error
    assert "#6 'Summary/Appendix/Discussion' (lines 19-21)" in error


def test_a_missing_section_is_refused_with_the_sections(tools: ToolClient) -> None:
    error = tools.error("read_report_section", report_id="summary", pattern="Methods")
    assert "no_such_section: No section matches 'Methods'. Sections: #1 'Summary'" in error


@pytest.mark.parametrize("report_id", ["../secret", "a/b", ".hidden", "", "x" * 200, "C:\\r"])
def test_a_report_id_must_be_a_bare_name(tools: ToolClient, report_id: str) -> None:
    assert "bad_argument" in tools.error("list_report_sections", report_id=report_id)


def test_a_missing_report_is_not_found(tools: ToolClient) -> None:
    assert "not_found" in tools.error("list_report_sections", report_id="nope")


def test_replace_returns_a_diff_and_keeps_a_backup(tools: ToolClient, run: Path) -> None:
    result = tools.ok(
        "replace_report_section",
        report_id="summary",
        pattern="Introduction",
        content="A better intro.\n\nTwo paragraphs.",
    )
    assert result["diff"] == (
        "--- a/reports/summary.md\n+++ b/reports/summary.md\n@@ -4,7 +4,9 @@\n \n"
        " ## Introduction\n \n-Old intro.\n+A better intro.\n+\n+Two paragraphs.\n \n"
        " ## Results\n \n"
    )
    assert result["backup"].startswith("reports/.backups/summary.")
    assert (run / result["backup"]).read_text() == REPORT
    assert tools.ok("read_run_file", path=result["backup"])["text"] == REPORT


def test_replace_refuses_content_over_the_limit(tools: ToolClient, run: Path) -> None:
    error = tools.error(
        "replace_report_section",
        report_id="summary",
        pattern="Introduction",
        content="x" * (256 * 1024 + 1),
    )
    assert "too_large: The content is 262145 bytes; at most 262144 are accepted." in error
    assert (run / "reports" / "summary.md").read_text() == REPORT


def test_replace_refuses_an_ambiguous_pattern_and_changes_nothing(
    tools: ToolClient, run: Path
) -> None:
    error = tools.error(
        "replace_report_section", report_id="summary", pattern="Discussion", content="x"
    )
    assert "ambiguous_section" in error
    assert (run / "reports" / "summary.md").read_text() == REPORT
    assert not (run / "reports" / ".backups").exists()


def test_every_call_is_audited_with_user_run_and_session(
    tools: ToolClient, read_tools: ToolClient, audit_lines: io.StringIO
) -> None:
    tools.ok("read_run_file", path="notes.txt")
    read_tools.error(
        "replace_report_section",
        report_id="summary",
        pattern="Introduction",
        content="y" * 5000,
    )
    first, second = (json.loads(line) for line in audit_lines.getvalue().splitlines())
    assert first["tool"] == "read_run_file" and first["ok"] is True
    assert (first["user"], first["run"], first["session"]) == ("ada", RUNID, "s-1")
    assert first["arguments"] == {"path": "notes.txt"} and first["result_bytes"] > 0
    assert second["ok"] is False and second["error"]["code"] == "forbidden"
    assert second["arguments"]["content"].endswith("… (5000 characters)")
    assert len(second["arguments"]["content"]) < 300
    assert second["duration_ms"] >= 0


def test_an_unexpected_failure_becomes_a_short_internal_error(
    authoriser: RunAuthoriser, run: Path, mint: Callable[..., str], audit_lines: io.StringIO
) -> None:
    gate = ToolGate(authoriser, static_token(mint()))

    def crash(_access: object) -> None:
        raise OSError(2, "No such file", "/etc/very/secret/path")

    with pytest.raises(SdkToolError) as caught:
        gate.call("read_run_file", "read", None, {"path": "x"}, crash)
    assert str(caught.value) == (
        "internal_error: The tool failed unexpectedly; the details are in the server log."
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert json.loads(audit_lines.getvalue())["error"]["code"] == "internal_error"


def test_read_tools_say_they_only_read_and_the_edit_tool_says_it_overwrites(
    tools: ToolClient,
) -> None:
    # Codex 0.169.0 decides on approval from these hints (see server._EDITS).
    hints = {tool.name: tool.annotations for tool in tools.list_tools()}
    for name in TOOL_NAMES[:-1]:
        assert hints[name] is not None and hints[name].read_only_hint is True
    edit = hints["replace_report_section"]
    assert edit is not None and edit.read_only_hint is False and edit.destructive_hint is True
    assert edit.open_world_hint is False


@pytest.mark.parametrize(
    "module",
    [
        "audit",
        "auth",
        "errors",
        "http_server",
        "path_guard",
        "report_sections",
        "reports",
        "run_files",
        "server",
    ],
)
def test_every_public_name_exists(module: str) -> None:
    imported = importlib.import_module(f"mcp_tools.{module}")
    for name in imported.__all__:
        assert hasattr(imported, name), f"mcp_tools.{module}.{name}"
