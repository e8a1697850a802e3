"""Markdown edge cases of the report tools: what a section is, how it is addressed and edited."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mcp_helpers import ToolClient

from mcp_tools import reports
from mcp_tools.errors import AmbiguousSection, BadArgument, BinaryFile, NoSuchSection, UnsafeEdit
from mcp_tools.report_sections import find_section, parse_document


def sections(text: str) -> list[tuple[int, str, int, int]]:
    """``(level, path, first line, last line)`` of each section (1-based, inclusive)."""
    return [(s.level, s.path, s.start + 1, s.end) for s in parse_document(text).sections]


@pytest.fixture
def report(tmp_path: Path) -> tuple[Path, Path]:
    """``(run_dir, reports/r.md)``; write the report's text in the test."""
    run = tmp_path / "run"
    (run / "reports").mkdir(parents=True)
    return run, run / "reports" / "r.md"


def replace(run: Path, pattern: str, content: str, keep_heading: bool = True) -> str:
    """Replace a section of ``reports/r.md``; the new file text (bytes decoded as-is)."""
    reports.replace_report_section(run, "r", pattern, content, keep_heading)
    return (run / "reports" / "r.md").read_bytes().decode("utf-8")


def test_headings_inside_fenced_and_indented_code_are_not_sections() -> None:
    text = (
        "# A\n\n```python\n# not a heading\n```\n\n~~~\n## nor this\n~~~\n\n"
        "    # indented code\n\n## B\n"
    )
    assert sections(text) == [(1, "A", 1, 13), (2, "A/B", 13, 13)]


def test_a_heading_in_an_unclosed_fence_is_not_a_section() -> None:
    assert sections("# A\n\n```\n# inside till the end\n") == [(1, "A", 1, 4)]


def test_setext_headings_are_sections_with_their_underline() -> None:
    text = "Title\n=====\n\nText.\n\nPart\n----\n\nBody.\n"
    doc = parse_document(text)
    assert sections(text) == [(1, "Title", 1, 9), (2, "Title/Part", 6, 9)]
    assert [(s.style, s.heading_end - s.start) for s in doc.sections] == [
        ("setext", 2),
        ("setext", 2),
    ]


def test_a_setext_heading_over_two_lines_has_one_title() -> None:
    assert sections("First line\nsecond line\n===\n") == [(1, "First line second line", 1, 3)]


def test_front_matter_and_thematic_breaks_are_not_headings() -> None:
    text = "---\ntitle: x\n---\n# Real\n\ntext\n\n---\n\nmore\n"
    assert sections(text) == [(1, "Real", 4, 10)]


def test_headings_inside_quotes_and_lists_belong_to_the_section_around_them() -> None:
    assert sections("# A\n\n> # quoted\n\n- # in a list\n") == [(1, "A", 1, 5)]


def test_titles_are_plain_text_of_the_heading() -> None:
    doc = parse_document("## The **bold** `code` ![alt](x.png) <b>tag</b> ##\n")
    assert doc.sections[0].title == "The bold code alt tag"


def test_nested_levels_make_heading_paths_and_spans() -> None:
    text = "# A\n## B\n### C\n#### D\n## E\n# F\n"
    assert sections(text) == [
        (1, "A", 1, 5),
        (2, "A/B", 2, 4),
        (3, "A/B/C", 3, 4),
        (4, "A/B/C/D", 4, 4),
        (2, "A/E", 5, 5),
        (1, "F", 6, 6),
    ]


def test_skipped_levels_still_nest_under_the_nearest_higher_heading() -> None:
    assert sections("# A\n### C\n## B\n") == [(1, "A", 1, 3), (3, "A/C", 2, 2), (2, "A/B", 3, 3)]


@pytest.mark.parametrize(
    ("pattern", "index"),
    [
        ("Results", 2),
        ("results", 2),
        ("  ## RESULTS ", 2),
        ("/Report/Results", 2),
        ("Report/Results/Notes", 3),
        ("Appendix/Notes", 5),
        ("#5", 5),
        ("Append", 4),
        ("Inputs/Outputs", 6),
    ],
)
def test_patterns_address_one_section(pattern: str, index: int) -> None:
    doc = parse_document(
        "# Report\n## Results\n### Notes\n## Appendix\n### Notes\n## Inputs/Outputs\n"
    )
    assert find_section(doc, pattern).index == index


def test_duplicate_titles_are_ambiguous_until_a_path_or_index_is_given() -> None:
    doc = parse_document("# Report\n## Results\n### Notes\n## Appendix\n### Notes\n")
    with pytest.raises(AmbiguousSection) as caught:
        find_section(doc, "Notes")
    assert "#3 'Report/Results/Notes' (lines 3-3)" in caught.value.message
    assert "#5 'Report/Appendix/Notes' (lines 5-5)" in caught.value.message
    assert find_section(doc, "Results/Notes").index == 3


def test_a_substring_matching_several_titles_is_ambiguous() -> None:
    with pytest.raises(AmbiguousSection):
        find_section(parse_document("# Intro one\n# Intro two\n"), "intro")


def test_a_top_level_section_is_chosen_with_a_leading_slash() -> None:
    doc = parse_document("# Results\n## Results\n")
    with pytest.raises(AmbiguousSection):
        find_section(doc, "Results")
    assert find_section(doc, "/Results").index == 1
    assert find_section(doc, "Results/Results").index == 2


@pytest.mark.parametrize("pattern", ["#0", "#7", "Methods", "Nope/Results"])
def test_patterns_that_match_nothing_are_refused(pattern: str) -> None:
    with pytest.raises(NoSuchSection):
        find_section(parse_document("# Report\n## Results\n"), pattern)


def test_an_empty_pattern_is_refused() -> None:
    with pytest.raises(BadArgument):
        find_section(parse_document("# A\n"), "  ")


def test_replacing_keeps_the_heading_and_normalises_blank_lines(report: tuple[Path, Path]) -> None:
    run, path = report
    path.write_text("# A\n\nold\n\n# B\n\nb\n")
    assert replace(run, "A", "\n\nnew\n\n\n") == "# A\n\nnew\n\n# B\n\nb\n"


def test_an_empty_section_gets_a_body(report: tuple[Path, Path]) -> None:
    run, path = report
    path.write_text("# A\n## B\n## C\n")
    assert replace(run, "B", "filled") == "# A\n## B\n\nfilled\n\n## C\n"


def test_a_body_can_be_emptied(report: tuple[Path, Path]) -> None:
    run, path = report
    path.write_text("# A\n\nold\n\n# B\n")
    assert replace(run, "A", "") == "# A\n\n# B\n"


def test_the_last_section_without_a_final_newline(report: tuple[Path, Path]) -> None:
    run, path = report
    path.write_text("# A\n\na\n\n# Last\n\nold text")
    assert replace(run, "Last", "new text") == "# A\n\na\n\n# Last\n\nnew text\n"


def test_a_heading_only_file(report: tuple[Path, Path]) -> None:
    run, path = report
    path.write_text("# Title")
    assert [s["title"] for s in reports.list_report_sections(run, "r")["sections"]] == ["Title"]
    assert replace(run, "Title", "Body.") == "# Title\n\nBody.\n"


def test_a_setext_section_keeps_its_underline(report: tuple[Path, Path]) -> None:
    run, path = report
    path.write_text("Title\n=====\n\nold\n\nNext\n----\n\nx\n")
    assert replace(run, "Title/Next", "y") == "Title\n=====\n\nold\n\nNext\n----\n\ny\n"
    assert replace(run, "/Title", "z") == "Title\n=====\n\nz\n"


def test_a_setext_heading_after_the_edit_stays_a_heading(report: tuple[Path, Path]) -> None:
    run, path = report
    path.write_text("## A\n\nold\n\nNext\n----\n\nx\n")
    text = replace(run, "A", "no blank line at the end")
    assert text == "## A\n\nno blank line at the end\n\nNext\n----\n\nx\n"
    assert sections(text)[1][1] == "Next"


def test_replacing_a_section_replaces_its_subsections(report: tuple[Path, Path]) -> None:
    run, path = report
    path.write_text("# A\n## B\nb\n### C\nc\n## D\nd\n")
    assert replace(run, "B", "only b\n\n### C2\n\nc2") == (
        "# A\n## B\n\nonly b\n\n### C2\n\nc2\n\n## D\nd\n"
    )


def test_content_starting_a_section_of_the_same_level_is_refused(report: tuple[Path, Path]) -> None:
    run, path = report
    path.write_text("# A\n## B\nb\n## D\nd\n")
    with pytest.raises(UnsafeEdit, match="use level 3 or deeper"):
        replace(run, "B", "text\n\n## Sneaky\n\nmore")
    assert path.read_text() == "# A\n## B\nb\n## D\nd\n"


def test_content_with_an_unclosed_fence_is_refused(report: tuple[Path, Path]) -> None:
    run, path = report
    path.write_text("# A\n\na\n\n# B\n\nb\n")
    with pytest.raises(UnsafeEdit, match="unclosed code fence"):
        replace(run, "A", "```python\nprint('never closed')")
    assert path.read_text() == "# A\n\na\n\n# B\n\nb\n"


def test_content_with_a_closed_fence_holding_headings_is_fine(report: tuple[Path, Path]) -> None:
    run, path = report
    path.write_text("# A\n\na\n\n# B\n\nb\n")
    text = replace(run, "A", "```\n# not a heading\n```")
    assert [s[1] for s in sections(text)] == ["A", "B"]


def test_content_turning_the_paragraph_above_into_a_heading_is_refused(
    report: tuple[Path, Path],
) -> None:
    run, path = report
    path.write_text("text\n# B\nb\n")
    with pytest.raises(UnsafeEdit):
        replace(run, "B", "===\nstuff", keep_heading=False)


def test_without_keep_heading_the_heading_is_replaced_too(report: tuple[Path, Path]) -> None:
    run, path = report
    path.write_text("# A\n\na\n\n## Old\n\nx\n\n## C\n")
    assert replace(run, "Old", "## New\n\ny", keep_heading=False) == (
        "# A\n\na\n\n## New\n\ny\n\n## C\n"
    )


def test_without_keep_heading_empty_content_deletes_the_section(report: tuple[Path, Path]) -> None:
    run, path = report
    path.write_text("# A\n\na\n\n## Gone\n\nx\n\n## C\n")
    assert replace(run, "Gone", "", keep_heading=False) == "# A\n\na\n\n## C\n"


def test_crlf_files_stay_crlf(report: tuple[Path, Path]) -> None:
    run, path = report
    path.write_bytes(b"# A\r\n\r\nold\r\n\r\n# B\r\n\r\nb\r\n")
    text = replace(run, "A", "new\nlines\r\nmixed\rin")
    assert text == "# A\r\n\r\nnew\r\nlines\r\nmixed\r\nin\r\n\r\n# B\r\n\r\nb\r\n"
    section = reports.read_report_section(run, "r", "A")
    assert section["markdown"] == "# A\n\nnew\nlines\nmixed\nin\n\n"


def test_a_byte_order_mark_is_kept(report: tuple[Path, Path]) -> None:
    run, path = report
    path.write_bytes(b"\xef\xbb\xbf# A\n\nold\n")
    replace(run, "A", "new")
    assert path.read_bytes() == b"\xef\xbb\xbf# A\n\nnew\n"


def test_a_report_that_is_not_utf8_is_refused(report: tuple[Path, Path]) -> None:
    run, path = report
    path.write_bytes(b"# Caf\xe9\n")
    with pytest.raises(BinaryFile):
        reports.list_report_sections(run, "r")


def test_an_unchanged_section_writes_nothing(report: tuple[Path, Path]) -> None:
    run, path = report
    path.write_text("# A\n\nsame\n")
    result = reports.replace_report_section(run, "r", "A", "same")
    assert result["changed"] is False and result["backup"] is None and result["diff"] == ""
    assert not (run / "reports" / ".backups").exists()


def test_backups_are_bounded_per_report(report: tuple[Path, Path]) -> None:
    run, path = report
    path.write_text("# A\n\nv0\n")
    (run / "reports" / "other.md").write_text("# O\n\no\n")
    reports.replace_report_section(run, "other", "O", "o1")
    for version in range(1, 8):
        reports.replace_report_section(run, "r", "A", f"v{version}", max_backups=3)
    names = sorted(os.listdir(run / "reports" / ".backups"))
    mine = [name for name in names if name.startswith("r.")]
    assert len(mine) == 3 and len(names) == 4  # the other report's backup is untouched
    kept = [(run / "reports" / ".backups" / name).read_text() for name in mine]
    assert kept == ["# A\n\nv4\n", "# A\n\nv5\n", "# A\n\nv6\n"]


def test_a_temporary_file_left_by_a_killed_edit_is_removed(report: tuple[Path, Path]) -> None:
    run, path = report
    path.write_text("# A\n\nold\n")
    stale = run / "reports" / ".r.md.abcd1234.tmp"
    stale.write_text("half a rep")
    replace(run, "A", "new")
    assert not stale.exists()


def test_the_diff_has_real_line_numbers_at_the_end_of_a_long_report(
    report: tuple[Path, Path],
) -> None:
    run, path = report
    path.write_text("# A\n\n" + "".join(f"line {n}\n" for n in range(100)) + "\n# Z\n\nold\n")
    result = reports.replace_report_section(run, "r", "Z", "new")
    assert result["diff"].endswith("@@ -103,4 +103,4 @@\n \n # Z\n \n-old\n+new\n")


def test_the_report_tools_through_the_client(tools: ToolClient, run: Path) -> None:
    (run / "reports" / "crlf.md").write_bytes(b"# T\r\n\r\n```\r\n# x\r\n```\r\n")
    listed = tools.ok("list_report_sections", report_id="crlf.md")
    assert [s["title"] for s in listed["sections"]] == ["T"]
    done = tools.ok("replace_report_section", report_id="crlf", pattern="#1", content="b")
    assert done["lines_after"] == 3
    assert (run / "reports" / "crlf.md").read_bytes() == b"# T\r\n\r\nb\r\n"
