"""Hostile paths: every one is refused (or, when taken literally, simply not found).

Each path goes through the real tool over the SDK client, as a model would
send it. Nothing outside the run is ever read, and no error names a
directory outside the run.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mcp_helpers import RUNID, ToolClient

from mcp_tools import path_guard
from mcp_tools.errors import UnsafePath


@pytest.fixture
def hostile_run(run: Path, runs_root: Path) -> Iterator[Path]:
    """``run-1`` booby-trapped with links out, special files and a ``.git`` directory."""
    (run / "link_out").symlink_to(runs_root / "outside.txt")
    (run / "link_out_relative").symlink_to("../outside.txt")
    (run / "dir_out").symlink_to(runs_root / f"{RUNID}-evil")
    (run / "prefix_twin").symlink_to(f"../{RUNID}-evil")
    (run / "abs_etc").symlink_to("/etc")
    (run / "devnull").symlink_to("/dev/null")
    (run / "loop").symlink_to("loop")
    (run / "inside_link").symlink_to("notes.txt")
    (run / ".git").mkdir()
    (run / ".git" / "config").write_text("[remote]\n")
    (run / "git_link").symlink_to(".git/config")
    (run / "outputs" / "dir_link_out").symlink_to("../../outside.txt")
    os.mkfifo(run / "outputs" / "pipe")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(run / "outputs" / "sock"))
    try:
        os.mknod(run / "outputs" / "chardev", 0o600 | 0o020000, os.makedev(1, 3))
    except OSError:  # not root: the /dev/null link above covers device files
        pass
    yield run
    server.close()


SECRETS = ("outside every run", "the sibling run's secret", "root:", "[remote]")

HOSTILE_PATHS: list[tuple[str, str]] = [
    # (path, expected error code) — traversal
    ("../outside.txt", "unsafe_path"),
    ("inputs/../../outside.txt", "unsafe_path"),
    ("inputs/../notes.txt", "unsafe_path"),  # '..' is refused even when it stays inside
    ("reports/../../run-1-evil/secret.txt", "unsafe_path"),
    ("../run-1-evil/secret.txt", "unsafe_path"),  # prefix confusion: run-1 vs run-1-evil
    ("./../outside.txt", "unsafe_path"),
    # absolute paths and home directories
    ("/etc/passwd", "unsafe_path"),
    ("//etc/passwd", "unsafe_path"),
    ("~/.bashrc", "unsafe_path"),
    ("~root/.ssh/id_rsa", "unsafe_path"),
    # NUL and control characters
    ("notes.txt\x00.png", "unsafe_path"),
    ("\x00", "unsafe_path"),
    ("notes.txt\n", "unsafe_path"),
    # encodings: taken literally, so only ever a name that does not exist
    ("..%2f..%2foutside.txt", "not_found"),
    ("%2e%2e/outside.txt", "not_found"),
    ("%252e%252e%252foutside.txt", "not_found"),
    ("\u2025/outside.txt", "not_found"),  # two-dot leader
    ("\uff0e\uff0e/outside.txt", "not_found"),  # full-width dots
    ("&#46;&#46;/outside.txt", "not_found"),
    # Windows forms
    ("..\\outside.txt", "unsafe_path"),
    ("inputs\\..\\..\\outside.txt", "unsafe_path"),
    ("C:\\Windows\\win.ini", "unsafe_path"),
    ("C:/Windows/win.ini", "unsafe_path"),
    ("c:outside.txt", "unsafe_path"),
    ("\\\\server\\share\\secret.txt", "unsafe_path"),
    ("//server/share/secret.txt", "unsafe_path"),
    ("file:///etc/passwd", "unsafe_path"),
    # symbolic links leaving the run: the file, a parent, absolute and relative
    ("link_out", "unsafe_path"),
    ("link_out_relative", "unsafe_path"),
    ("dir_out/secret.txt", "unsafe_path"),
    ("prefix_twin/secret.txt", "unsafe_path"),
    ("abs_etc/passwd", "unsafe_path"),
    ("outputs/dir_link_out", "unsafe_path"),
    ("loop", "unsafe_path"),
    # special files
    ("devnull", "unsafe_path"),
    ("outputs/pipe", "unsafe_path"),
    ("outputs/sock", "unsafe_path"),
    # protected names, directly and through a link
    (".git/config", "unsafe_path"),
    ("git_link", "unsafe_path"),
    ("outputs/.ssh/id_rsa", "unsafe_path"),
    # too long
    ("a" * 256, "unsafe_path"),
    ("é" * 128, "unsafe_path"),  # 256 UTF-8 bytes in one component
    ("a/" * 600, "unsafe_path"),
    ("/".join(["d"] * 49), "unsafe_path"),
    # nothing at all
    ("", "unsafe_path"),
    (".", "unsafe_path"),
]


@pytest.mark.parametrize(
    ("path", "code"), HOSTILE_PATHS, ids=[repr(p)[:40] for p, _ in HOSTILE_PATHS]
)
def test_hostile_path_is_refused_by_read_run_file(
    tools: ToolClient, hostile_run: Path, runs_root: Path, path: str, code: str
) -> None:
    error = tools.error("read_run_file", path=path)
    assert f"{code}: " in error
    assert str(runs_root) not in error and "/etc" not in error.replace(repr(path)[1:-1], "")
    assert not any(secret in error for secret in SECRETS)


def test_the_table_has_at_least_thirty_hostile_paths() -> None:
    assert len(HOSTILE_PATHS) >= 30


def test_a_character_device_inside_the_run_is_refused(tools: ToolClient, hostile_run: Path) -> None:
    if not (hostile_run / "outputs" / "chardev").exists():
        pytest.skip("mknod needs root")
    assert "unsafe_path: The path 'outputs/chardev' is a special file" in tools.error(
        "read_run_file", path="outputs/chardev"
    )


@pytest.mark.parametrize(
    "subdir", ["..", "dir_out", "prefix_twin", "abs_etc", "/", "/tmp", ".git", "~", "C:\\"]
)
def test_hostile_directory_is_refused_by_list_run_files(
    tools: ToolClient, hostile_run: Path, subdir: str
) -> None:
    assert "unsafe_path: " in tools.error("list_run_files", subdir=subdir)


def test_a_symlink_that_stays_inside_the_run_is_followed(
    tools: ToolClient, hostile_run: Path
) -> None:
    result = tools.ok("read_run_file", path="inside_link")
    assert result["text"] == "top-level note\n" and result["path"] == "notes.txt"


def test_a_hidden_file_is_not_listed_but_can_be_read_by_name(
    tools: ToolClient, hostile_run: Path
) -> None:
    names = [entry["name"] for entry in tools.ok("list_run_files")["entries"]]
    assert ".hidden" not in names and ".git" not in names
    assert tools.ok("read_run_file", path=".hidden")["text"] == "hidden but readable\n"


def test_listing_leaves_out_special_files_and_links_leaving_the_run(
    tools: ToolClient, hostile_run: Path
) -> None:
    top = tools.ok("list_run_files")
    names = {entry["name"] for entry in top["entries"]}
    assert names == {"inputs", "logs", "outputs", "reports", "notes.txt", "inside_link"}
    # link_out, link_out_relative, dir_out, prefix_twin, abs_etc, devnull
    assert top["omitted_outside_run"] == 6
    assert top["omitted_special"] == 1  # loop
    outputs = tools.ok("list_run_files", subdir="outputs")
    assert [entry["name"] for entry in outputs["entries"]] == ["metrics.csv"]
    assert outputs["omitted_outside_run"] == 1
    assert outputs["omitted_special"] >= 2  # pipe, sock (and chardev as root)


def test_describe_run_contents_never_counts_files_outside_the_run(
    tools: ToolClient, hostile_run: Path
) -> None:
    result = tools.ok("describe_run_contents")
    paths = [item["path"] for c in result["categories"] for item in c["items"]]
    assert "dir_out/secret.txt" not in paths and "link_out" not in paths
    assert "outputs/pipe" not in paths and ".git/config" not in paths


def test_replacing_a_report_that_links_outside_the_run_is_refused(
    tools: ToolClient, run: Path, runs_root: Path
) -> None:
    outside = runs_root / "outside.md"
    outside.write_text("# Outside\n\nKeep me.\n")
    (run / "reports" / "escape.md").symlink_to(outside)
    error = tools.error(
        "replace_report_section", report_id="escape", pattern="Outside", content="pwned"
    )
    assert "unsafe_path" in error
    assert outside.read_text() == "# Outside\n\nKeep me.\n"


def test_a_reports_directory_that_links_outside_the_run_is_refused(
    make_tools: Callable[..., ToolClient], mint: Callable[..., str], runs_root: Path
) -> None:
    run2 = runs_root / "run-2"
    run2.mkdir()
    (runs_root / "elsewhere").mkdir()
    (runs_root / "elsewhere" / "r.md").write_text("# R\n\nbody\n")
    (run2 / "reports").symlink_to(runs_root / "elsewhere")
    tools = make_tools(mint(runid="run-2"))
    assert "unsafe_path" in tools.error("list_report_sections", report_id="r")
    assert "unsafe_path" in tools.error(
        "replace_report_section", report_id="r", pattern="R", content="x"
    )
    assert (runs_root / "elsewhere" / "r.md").read_text() == "# R\n\nbody\n"


def test_a_lock_file_planted_as_a_symlink_is_refused(
    tools: ToolClient, run: Path, runs_root: Path
) -> None:
    (run / "reports" / ".summary.md.lock").symlink_to(runs_root / "outside.txt")
    error = tools.error(
        "replace_report_section", report_id="summary", pattern="Introduction", content="x"
    )
    assert "unsafe_path: The lock file of 'reports/summary.md' cannot be opened safely." in error
    assert (runs_root / "outside.txt").read_text() == "outside every run\n"


@pytest.mark.parametrize(
    ("root", "candidate", "inside"),
    [
        ("/runs/run", "/runs/run", True),
        ("/runs/run", "/runs/run/a", True),
        ("/runs/run", "/runs/run-evil", False),
        ("/runs/run", "/runs/run-evil/a", False),
        ("/runs/run", "/runs/runner", False),
        ("/runs/run", "/runs", False),
        ("/", "/anything", True),
    ],
)
def test_containment_compares_whole_components(root: str, candidate: str, inside: bool) -> None:
    assert path_guard.is_inside(root, candidate) is inside


def test_a_link_swapped_in_after_the_check_is_caught_at_open(run: Path, runs_root: Path) -> None:
    guarded = path_guard.resolve(run, "notes.txt", want="file")
    (run / "notes.txt").unlink()
    (run / "notes.txt").symlink_to(runs_root / "outside.txt")
    with pytest.raises(UnsafePath):
        path_guard.open_regular_file(run, guarded)


def test_a_parent_swapped_for_a_link_after_the_check_is_caught_at_open(
    run: Path, runs_root: Path
) -> None:
    (runs_root / "decoy").mkdir()
    (runs_root / "decoy" / "config.yaml").write_text("stolen\n")
    guarded = path_guard.resolve(run, "inputs/config.yaml", want="file")
    (run / "inputs").rename(run / "inputs.old")
    (run / "inputs").symlink_to(runs_root / "decoy")
    with pytest.raises(UnsafePath, match="changed into a path outside the run"):
        path_guard.open_regular_file(run, guarded)


def test_an_edit_stays_in_the_directory_it_checked_even_if_the_path_is_swapped(
    run: Path, runs_root: Path
) -> None:
    from mcp_tools import report_store

    with report_store.directory(run, "reports") as directory:
        (run / "reports").rename(run / "reports.moved")
        (run / "reports").symlink_to(runs_root)  # the path now leads outside the run
        report_store.atomic_write(directory, "summary.md", b"# New\n", 0o644)
    assert (run / "reports.moved" / "summary.md").read_bytes() == b"# New\n"
    assert not (runs_root / "summary.md").exists()
