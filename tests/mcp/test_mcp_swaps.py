"""Races and second names: what an agent with a shell in its run can try on the tools.

An edit-tier agent can rename, link and hard-link files in its run while the
tools read it. Each test plays one such attack for many rounds against the
real tools and asserts that nothing protected or outside the run ever comes
back, and that the ordinary reads in between do work.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mcp_tools.errors import NotFound, UnsafePath
from mcp_tools.run_files import describe_run_contents, list_run_files, read_run_file

ROUNDS = 1500


@contextmanager
def swapping(directory: Path, link_target: str) -> Iterator[None]:
    """Keep turning ``directory`` into a link to ``link_target`` and back, until the block ends."""
    saved = directory.with_name(directory.name + ".saved")
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            os.rename(directory, saved)
            os.symlink(link_target, directory)
            time.sleep(0.0001)
            os.unlink(directory)
            os.rename(saved, directory)
            time.sleep(0.0005)  # mostly the plain directory, so ordinary reads get through

    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def test_a_second_hard_link_to_git_config_is_refused(run: Path) -> None:
    (run / ".git").mkdir()
    (run / ".git" / "config").write_text("[remote]\n url = https://token@secret.example\n")
    os.link(run / ".git" / "config", run / "reports" / "innocent.md")
    with pytest.raises(UnsafePath, match="has 2 hard links"):
        read_run_file(run, "reports/innocent.md")
    assert "learning_rate" in read_run_file(run, "inputs/config.yaml")["text"]


def test_a_hard_link_is_refused_through_the_tools_too(tools, run: Path) -> None:
    os.link(run / "notes.txt", run / "reports" / "copy.md")
    assert "unsafe_path" in tools.error("read_run_file", path="reports/copy.md")
    assert "unsafe_path" in tools.error("read_run_file", path="notes.txt")  # both names
    assert tools.ok("read_run_file", path="inputs/config.yaml")["text"].startswith("learning")


def test_protected_names_are_checked_on_the_opened_file(run: Path) -> None:
    # `docs` is a plain directory, swapped again and again for a link to `.git`:
    # a path checked before the swap must not open `.git/config` after it.
    (run / ".git").mkdir()
    (run / ".git" / "config").write_text("git-secret\n")
    (run / "docs").mkdir()
    (run / "docs" / "config").write_text("public\n")
    read, refused = 0, 0
    with swapping(run / "docs", ".git"):
        for _ in range(ROUNDS):
            try:
                text = read_run_file(run, "docs/config")["text"]
            except (UnsafePath, NotFound):
                refused += 1
                continue
            assert text == "public\n"
            read += 1
    assert read > 0 and refused > 0  # both sides of the race were hit


def test_a_directory_swapped_for_a_link_never_lists_names_outside_the_run(
    run: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "name-from-outside-the-run.txt").write_text("x")
    (run / "data").mkdir()
    (run / "data" / "points.csv").write_text("1,2\n")
    seen_own = 0
    with swapping(run / "data", str(outside)):
        for _ in range(ROUNDS // 3):
            listed = describe_run_contents(run, "run-1")
            names = [i["path"] for c in listed["categories"] for i in c["items"]]
            assert not [n for n in names if "name-from-outside" in n], names
            seen_own += "data/points.csv" in names
            try:
                entries = list_run_files(run, "data")["entries"]
            except (UnsafePath, NotFound):
                continue
            assert [e["name"] for e in entries] in ([], ["points.csv"])
    assert seen_own > 0
