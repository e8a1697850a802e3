"""A section edit cannot take over the links of other sections.

Link reference definitions (``[label]: https://...``) are global in markdown:
written into one section, a definition could redirect ``[label]`` links
anywhere in the report. These edits are refused and leave the report as it
was; a section may still define and use labels of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_tools import reports
from mcp_tools.errors import UnsafeEdit

REPORT = (
    "# Method\n\nSee [the data][data] and [docs].\n\n[data]: https://data.example/set\n\n"
    "# Results\n\nLoss fell.\n\n# Notes\n\nA plain [bracket] and [docs].\n"
)


@pytest.fixture
def report(tmp_path: Path) -> tuple[Path, Path]:
    run = tmp_path / "run"
    (run / "reports").mkdir(parents=True)
    (run / "reports" / "r.md").write_text(REPORT)
    return run, run / "reports" / "r.md"


@pytest.mark.parametrize(
    "content, why",
    [
        # Redefining a label another section defines (even later in the file).
        ("Done.\n\n[data]: https://evil.example/", "which another section defines"),
        ("Done.\n\n[DATA]:   <https://evil.example/>", "which another section defines"),
        # Defining a label other sections use as plain text: it would become a link.
        (
            "Done.\n\n[docs]: https://evil.example/",
            r"change where links in other sections point \(\[docs\]\)",
        ),
        ("Done.\n\n[bracket]: https://evil.example/", r"\[bracket\]"),
        # The same, hidden in a definition that spans lines.
        ("Done.\n\n[docs]:\nhttps://evil.example/\n'a title'", r"\[docs\]"),
    ],
)
def test_a_definition_that_takes_over_other_sections_links_is_refused(
    report: tuple[Path, Path], content: str, why: str
) -> None:
    run, path = report
    with pytest.raises(UnsafeEdit, match=why):
        reports.replace_report_section(run, "r", "Results", content)
    assert path.read_text() == REPORT


def test_removing_a_definition_other_sections_use_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "reports").mkdir(parents=True)
    text = "# Links\n\n[data]: https://data.example/set\n\n# Body\n\nSee [data].\n"
    (run / "reports" / "r.md").write_text(text)
    with pytest.raises(
        UnsafeEdit, match=r"change where links in other sections point \(\[data\]\)"
    ):
        reports.replace_report_section(run, "r", "Links", "No more links.")
    assert (run / "reports" / "r.md").read_text() == text


def test_a_section_may_define_and_use_labels_of_its_own(report: tuple[Path, Path]) -> None:
    run, path = report
    own = "See [the run log][log].\n\n[log]: https://logs.example/run-1"
    reports.replace_report_section(run, "r", "Results", own)
    text = path.read_text()
    assert "[log]: https://logs.example/run-1" in text
    assert text.count("[data]: https://data.example/set") == 1
    # Editing the section that owns [data] without touching the definition is fine too.
    reports.replace_report_section(
        run, "r", "Method", "See [the data][data] again.\n\n[data]: https://data.example/set"
    )
    assert "See [the data][data] again." in path.read_text()
