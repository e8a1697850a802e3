"""The pinned Codex CLI: install it, find it, and check it before use.

``codex-relay install-codex`` runs ``npm install @openai/codex@<CODEX_VERSION>``
into a project-local directory (``<repo>/.codex-cli`` by default); the npm
package ships the native binary, so nothing else is downloaded.
``CODEX_RELAY_CODEX_BIN`` overrides the location. :func:`probe_codex`
runs ``--version`` and ``exec --help`` and refuses a binary that lacks the
flags the relay relies on.
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
    "CodexInfo",
    "default_install_dir",
    "install_codex",
    "locate_codex",
    "probe_codex",
]

#: The exact ``@openai/codex`` release the relay is built and tested against.
CODEX_VERSION = "0.169.0"

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


def default_install_dir() -> Path:
    """Where ``install-codex`` puts the CLI: ``.codex-cli`` beside the packages."""
    return Path(__file__).resolve().parent.parent / ".codex-cli"


def _binary_in(prefix: Path) -> Path:
    package, triple = _TARGETS.get(
        (platform.system(), platform.machine()), ("codex-linux-x64", "x86_64-unknown-linux-musl")
    )
    return prefix / "node_modules" / "@openai" / package / "vendor" / triple / "bin" / "codex"


def install_codex(prefix: Path | None = None, version: str = CODEX_VERSION) -> Path:
    """Install ``@openai/codex@version`` under ``prefix`` with npm; return the binary path."""
    prefix = prefix or default_install_dir()
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


@lru_cache(maxsize=8)
def probe_codex(path: str) -> CodexInfo:
    """Check that ``path`` is a usable Codex CLI; raise :class:`CodexBinaryError` if not."""
    binary = Path(path)
    if not binary.exists():
        raise CodexBinaryError(
            f"The Codex CLI was not found at {path}. Run 'codex-relay install-codex' "
            "or set CODEX_RELAY_CODEX_BIN."
        )
    try:
        version = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=20, check=False
        )
        help_text = subprocess.run(
            [path, "exec", "--help"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CodexBinaryError(f"The Codex CLI at {path} cannot be run: {exc}") from None
    match = re.search(r"(\d+\.\d+\.\d+\S*)", version.stdout)
    if version.returncode != 0 or match is None:
        raise CodexBinaryError(f"{path} --version did not print a Codex version.")
    missing = [flag for flag in REQUIRED_EXEC_FLAGS if flag not in help_text.stdout]
    if missing:
        raise CodexBinaryError(
            f"The Codex CLI at {path} (version {match.group(1)}) lacks {', '.join(missing)}; "
            f"codex-relay needs @openai/codex {CODEX_VERSION}."
        )
    return CodexInfo(path=path, version=match.group(1))
