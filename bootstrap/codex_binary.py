"""The pinned Codex CLI: install it, find it, and check it before use.

``codex-relay install-codex`` runs ``npm install @openai/codex@<CODEX_VERSION>``
into a project-local directory (``<repo>/.codex-cli`` by default; another
version goes beside it, into ``<repo>/.codex-cli-<version>``, so both can be
tested); the npm package ships the native binary, so nothing else is
downloaded. ``CODEX_RELAY_CODEX_BIN`` overrides the location.
:func:`probe_codex` runs ``--version`` and ``exec --help`` (and, for the
``app-server`` runner, ``app-server --help``) and refuses a binary that
lacks what the relay relies on, or whose version it was not tested with.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from relay.errors import CodexBinaryError

__all__ = [
    "CODEX_VERSION",
    "SUPPORTED_VERSIONS",
    "CodexInfo",
    "default_install_dir",
    "install_codex",
    "installed_binary",
    "locate_codex",
    "probe_codex",
]

#: The exact ``@openai/codex`` release the relay is built and tested against.
CODEX_VERSION = "0.169.0"
#: Every release the pipeline tests run against (both runners); the probe accepts these.
SUPPORTED_VERSIONS = (CODEX_VERSION, "0.171.0")

#: Flags of ``codex exec`` the relay uses; a binary missing one is refused.
REQUIRED_EXEC_FLAGS = ("--json", "--skip-git-repo-check", "--sandbox", "--cd", "resume")

_TARGETS = {
    ("Linux", "x86_64"): ("codex-linux-x64", "x86_64-unknown-linux-musl"),
    ("Linux", "aarch64"): ("codex-linux-arm64", "aarch64-unknown-linux-musl"),
    ("Darwin", "arm64"): ("codex-darwin-arm64", "aarch64-apple-darwin"),
    ("Darwin", "x86_64"): ("codex-darwin-x64", "x86_64-apple-darwin"),
}


@dataclass(frozen=True)
class CodexInfo:
    """A probed Codex binary."""

    path: str
    version: str


def default_install_dir(version: str = CODEX_VERSION) -> Path:
    """Where ``install-codex`` puts a CLI: ``.codex-cli`` (pinned) or ``.codex-cli-<version>``."""
    name = ".codex-cli" if version == CODEX_VERSION else f".codex-cli-{version}"
    return Path(__file__).resolve().parent.parent / name


def installed_binary(version: str = CODEX_VERSION) -> Path:
    """The binary ``install-codex`` puts in place for ``version`` (it may not be there)."""
    return _binary_in(default_install_dir(version))


def _binary_in(prefix: Path) -> Path:
    package, triple = _TARGETS.get(
        (platform.system(), platform.machine()), ("codex-linux-x64", "x86_64-unknown-linux-musl")
    )
    return prefix / "node_modules" / "@openai" / package / "vendor" / triple / "bin" / "codex"


def install_codex(prefix: Path | None = None, version: str = CODEX_VERSION) -> Path:
    """Install ``@openai/codex@version`` under ``prefix`` with npm; return the binary path.

    Without ``prefix``, another version than the pinned one goes beside it
    (``.codex-cli-<version>``) and never replaces it.
    """
    prefix = prefix or default_install_dir(version)
    binary = _binary_in(prefix)
    if binary.exists():
        try:
            if probe_codex(str(binary)).version == version:
                return binary
        except CodexBinaryError:
            pass
    npm = shutil.which("npm")
    if npm is None:
        raise CodexBinaryError("npm is not installed; it is needed to install @openai/codex.")
    prefix.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            npm,
            "install",
            "--prefix",
            str(prefix),
            "--no-audit",
            "--no-fund",
            "--save-exact",
            f"@openai/codex@{version}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not binary.exists():
        raise CodexBinaryError(
            f"npm could not install @openai/codex@{version}: {result.stderr.strip()[-500:]}"
        )
    probe_codex.cache_clear()
    return binary


def locate_codex(configured: str | None = None) -> str:
    """The binary to run: ``configured`` (``CODEX_RELAY_CODEX_BIN``) or the installed one."""
    if configured:
        return configured
    return str(_binary_in(default_install_dir()))


@lru_cache(maxsize=16)
def probe_codex(path: str, app_server: bool = False) -> CodexInfo:
    """Check that ``path`` is a usable Codex CLI; raise :class:`CodexBinaryError` if not.

    ``app_server``: also check ``codex app-server`` (the ``app-server`` runner).
    """
    binary = Path(path)
    if not binary.exists():
        raise CodexBinaryError(
            f"The Codex CLI was not found at {path}. Run 'codex-relay install-codex' "
            "or set CODEX_RELAY_CODEX_BIN."
        )
    try:
        version = _run([path, "--version"])
        help_text = _run([path, "exec", "--help"])
        server_help = _run([path, "app-server", "--help"]) if app_server else None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CodexBinaryError(f"The Codex CLI at {path} cannot be run: {exc}") from None
    match = re.search(r"(\d+\.\d+\.\d+\S*)", version.stdout)
    if version.returncode != 0 or match is None:
        raise CodexBinaryError(f"{path} --version did not print a Codex version.")
    found = match.group(1)
    missing = [flag for flag in REQUIRED_EXEC_FLAGS if flag not in help_text.stdout]
    if server_help is not None and server_help.returncode != 0:
        missing.append("the app-server command")
    if missing:
        raise CodexBinaryError(
            f"The Codex CLI at {path} (version {found}) lacks {', '.join(missing)}; "
            f"codex-relay needs @openai/codex {CODEX_VERSION}."
        )
    if found not in SUPPORTED_VERSIONS:
        raise CodexBinaryError(
            f"The Codex CLI at {path} is version {found}; codex-relay is tested with "
            f"{' and '.join(SUPPORTED_VERSIONS)}. Run 'codex-relay install-codex'."
        )
    return CodexInfo(path=path, version=found)


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
