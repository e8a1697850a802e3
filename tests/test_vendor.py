"""The panel's vendored JavaScript is pinned, licensed and unaltered.

``static/vendor/VENDOR.json`` (written by ``static/vendor/update.sh``) records
each library's exact version, the npm tarball's integrity string and a sha256
of every file copied out of it. These tests hold the files to that record and
make sure ``static/command-bar.js`` loads nothing but those files.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

STATIC = Path(__file__).resolve().parent.parent / "static"
VENDOR = STATIC / "vendor"
PANEL_SCRIPT = STATIC / "command-bar.js"

#: Files in static/vendor/ that are ours, not a library's.
OWN_FILES = {"VENDOR.json", "update.sh"}

#: Words each library's licence file must contain.
LICENCE_WORDS = {
    "marked": ["MIT", "Permission is hereby granted, free of charge"],
    "dompurify": ["Apache License", "Mozilla Public License"],
}

#: How each library's entry file announces its version in its banner.
VERSION_BANNERS = {
    "marked": "marked v{version}",
    "dompurify": "DOMPurify {version}",
}


def _record() -> dict[str, Any]:
    return json.loads((VENDOR / "VENDOR.json").read_text(encoding="utf-8"))


def _libraries() -> list[dict[str, Any]]:
    return list(_record()["libraries"])


def _all_files() -> list[tuple[str, str]]:
    return [(f["path"], f["sha256"]) for lib in _libraries() for f in lib["files"]]


def test_both_panel_libraries_are_recorded() -> None:
    assert sorted(lib["name"] for lib in _libraries()) == ["dompurify", "marked"]


@pytest.mark.parametrize("library", _libraries(), ids=lambda lib: lib["name"])
def test_library_is_pinned_to_an_exact_version_with_tarball_integrity(
    library: dict[str, Any],
) -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", library["version"]), library["version"]
    assert re.fullmatch(r"sha512-[A-Za-z0-9+/]+={0,2}", library["integrity"])
    assert library["npm_tarball"].endswith(f"/{library['name']}-{library['version']}.tgz")


@pytest.mark.parametrize(("path", "sha256"), _all_files(), ids=[p for p, _ in _all_files()])
def test_vendored_file_matches_its_recorded_sha256(path: str, sha256: str) -> None:
    file = VENDOR / path
    assert file.is_file(), f"{path} is listed in VENDOR.json but missing"
    assert hashlib.sha256(file.read_bytes()).hexdigest() == sha256, f"{path} was altered"


@pytest.mark.parametrize("library", _libraries(), ids=lambda lib: lib["name"])
def test_library_ships_its_licence_next_to_it(library: dict[str, Any]) -> None:
    listed = {f["path"] for f in library["files"]}
    licence_text = ""
    for path in library["license_files"]:
        assert path in listed, f"{path} has no recorded checksum"
        assert Path(path).parent == Path(library["entry"]).parent
        licence_text += (VENDOR / path).read_text(encoding="utf-8")
    for word in LICENCE_WORDS[library["name"]]:
        assert word in licence_text


@pytest.mark.parametrize("library", _libraries(), ids=lambda lib: lib["name"])
def test_entry_file_banner_names_the_recorded_version(library: dict[str, Any]) -> None:
    assert library["entry"] in {f["path"] for f in library["files"]}
    head = (VENDOR / library["entry"]).read_text(encoding="utf-8")[:600]
    assert VERSION_BANNERS[library["name"]].format(version=library["version"]) in head


def test_vendor_directory_holds_only_recorded_files() -> None:
    recorded = {path for path, _ in _all_files()} | OWN_FILES
    present = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file()}
    assert present == recorded


def test_panel_script_references_only_vendored_files() -> None:
    script = PANEL_SCRIPT.read_text(encoding="utf-8")
    # Every quoted string naming a vendor/ path (comments may mention others).
    referenced = set(re.findall(r"['\"`]vendor/([^'\"`]+)['\"`]", script))
    assert referenced, "command-bar.js should load marked and DOMPurify from vendor/"
    assert referenced <= {path for path, _ in _all_files()}
    assert {lib["entry"] for lib in _libraries()} <= referenced


def test_panel_script_loads_no_code_from_other_origins() -> None:
    script = PANEL_SCRIPT.read_text(encoding="utf-8")
    assert not re.search(r"import\(\s*['\"`]", script), "import() must use the vendored URLs"
    assert not re.search(r"https?://[^\s'\"`]*\.m?js\b", script)
