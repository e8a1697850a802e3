"""A wheel built from the project holds everything it needs at run time."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (path,) = out.glob("codex_relay-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_contains_every_package_and_the_panel(wheel):
    names = set(wheel.namelist())
    for module in (
        "relay/event_log.py",
        "devmodel/__init__.py",
        "bootstrap/turn_job.py",
        "blueprints/routes.py",
        "blueprints/gunicorn_conf.py",
        "mcp_tools/server.py",
        "mcp_tools/__main__.py",
    ):
        assert module in names
    assert "relay/_static/command-bar.js" in names
    assert "relay/_static/command-bar.css" in names
    assert "relay/_static/panel/element.js" in names
    vendor = json.loads((ROOT / "static" / "vendor" / "VENDOR.json").read_text())
    assert vendor  # the vendored libraries and their licences ship too
    for path in (ROOT / "static" / "vendor").rglob("*"):
        if path.is_file():
            assert "relay/_static/" + str(path.relative_to(ROOT / "static")) in names


def test_wheel_declares_the_console_script_and_pinned_majors(wheel):
    (entry_points,) = [n for n in wheel.namelist() if n.endswith("entry_points.txt")]
    assert "codex-relay = cli.main:main" in wheel.read(entry_points).decode()
    (metadata,) = [n for n in wheel.namelist() if n.endswith("/METADATA")]
    requires = wheel.read(metadata).decode()
    for pin in ("rq<4,>=3", "mcp<3,>=2", "pyjwt[crypto]<3,>=2.8"):
        assert f"Requires-Dist: {pin}" in requires
    # Run tokens are the relay's own (PyJWT); a host's flask-jwt-extended is its business.
    jwt_extended = [
        line for line in requires.splitlines() if line.startswith("Requires-Dist: flask-jwt")
    ]
    assert jwt_extended and all("extra == 'dev'" in line for line in jwt_extended)


def test_wheel_leaves_out_the_local_codex_install_and_tests(wheel):
    names = wheel.namelist()
    assert not [n for n in names if ".codex-cli" in n or n.startswith("tests/")]
