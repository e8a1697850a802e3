"""The structure holds: one-way layers, one source for each fact.

The layers (README, "Code map") are ``relay`` <- ``mcp_tools`` <-
``bootstrap`` <- ``blueprints`` <- ``cli``; the import-linter contracts in
``pyproject.toml`` state them, and these tests run them as part of the suite.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cli.readme import readme_settings_table
from relay.settings import INTERNAL_VARIABLES, Settings, setting_name, settings_table

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("relay", "mcp_tools", "bootstrap", "blueprints", "cli", "devmodel")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(cwd: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(cwd)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _python_files(*dirs: str) -> list[Path]:
    return sorted(p for d in dirs for p in (ROOT / d).rglob("*.py"))


def test_the_import_contracts_of_pyproject_are_kept():
    result = _lint_imports(ROOT, ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _lint_layers_with(tmp_path: Path, modules: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The project's contracts, run on empty packages plus ``modules`` (path: source)."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    for path, source in modules.items():
        (tmp_path / path).write_text(source)
    config = tmp_path / "pyproject.toml"
    config.write_text((ROOT / "pyproject.toml").read_text())
    return _lint_imports(tmp_path, config)


def test_an_upward_import_even_inside_a_function_breaks_the_contract(tmp_path):
    result = _lint_layers_with(
        tmp_path,
        {
            "bootstrap/turn_job.py": "X = 1\n",
            "relay/turns.py": "def run():\n    from bootstrap.turn_job import X\n    return X\n",
        },
    )
    assert result.returncode != 0
    assert "relay.turns -> bootstrap.turn_job" in result.stdout


def test_a_cycle_between_sibling_modules_breaks_the_contract(tmp_path):
    result = _lint_layers_with(
        tmp_path,
        {
            "blueprints/routes.py": "from . import extension\n",
            "blueprints/extension.py": "from . import routes\n",
        },
    )
    assert result.returncode != 0
    assert "No import cycles" in result.stdout and "BROKEN" in result.stdout


def test_the_readme_configuration_table_is_generated_from_settings():
    assert readme_settings_table(ROOT / "README.md") == settings_table(), (
        "README.md is out of date: run `codex-relay settings --readme README.md`"
    )


def test_every_setting_has_a_meaning_and_appears_in_the_table():
    table = settings_table()
    for name, field in Settings.__dataclass_fields__.items():
        assert field.metadata["doc"].endswith("."), name
        assert f"`{setting_name(name)}`" in table


def _mentioned_variables() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    sources = [*_python_files(*PACKAGES, "benchmarks"), ROOT / "docker-compose.yml"]
    sources += [ROOT / "Dockerfile", ROOT / "README.md"]
    for path in sources:
        for name in re.findall(r"\bCODEX_RELAY_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()):
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_codex_relay_variable_named_anywhere_is_a_setting():
    known = {setting_name(name) for name in Settings.__dataclass_fields__}
    known |= {f"{setting_name(name)}_FILE" for name, f in Settings.__dataclass_fields__.items()
              if f.metadata["from_file"]}  # fmt: skip
    unknown = {
        name: sorted(where)
        for name, where in _mentioned_variables().items()
        if name not in known | INTERNAL_VARIABLES
    }
    assert unknown == {}


ENV_READ = re.compile(r"""(environ(\.get)?\s*[\[(]|getenv\()\s*["']CODEX_RELAY_""")


@pytest.mark.parametrize("path", _python_files(*PACKAGES), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_reads_a_setting_from_the_environment_itself(path):
    if path == ROOT / "relay" / "settings.py":
        return
    assert not ENV_READ.search(path.read_text()), "read settings through relay.settings"


def test_the_codex_command_line_is_built_in_one_place():
    builders = [
        str(p.relative_to(ROOT))
        for p in _python_files(*PACKAGES, "benchmarks")
        if re.search(r'"exec",\s*"--json"', p.read_text())
    ]
    assert builders == ["bootstrap/codex_command.py"]


def test_the_web_server_command_line_is_built_in_one_place():
    builders = [
        str(p.relative_to(ROOT))
        for p in _python_files(*PACKAGES, "benchmarks", "tests")
        if re.search(r'"-m",\s*"gunicorn"', p.read_text())
    ]
    assert builders == ["blueprints/web_server.py"]


def test_the_deployment_starts_the_web_server_through_the_cli():
    compose = (ROOT / "docker-compose.yml").read_text()
    assert '"codex-relay", "web"' in compose
    assert "gunicorn" not in compose


def test_every_package_in_the_wheel_is_type_checked_and_measured():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert sorted(wheel) == sorted(PACKAGES)
    assert sorted(project["tool"]["mypy"]["packages"]) == sorted(PACKAGES)
    assert sorted(project["tool"]["importlinter"]["root_packages"]) == sorted(PACKAGES)
