"""The turn sandbox on its own: what a command in it can and cannot touch.

These run plain shell commands through :func:`bootstrap.sandbox.sandboxed`
with the real ``bwrap`` (Debian's ``/usr/bin/bwrap`` when installed, and the
one the Codex package ships), without Codex, so each test shows what the
outer sandbox alone guarantees; Codex's own sandbox nests inside it in a real
turn (``tests/test_turn_isolation.py``). Every test also runs an ordinary
command in the same sandbox, so a sandbox that broke everything would fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bootstrap.codex_command import CodexLaunch, codex_package_dir
from bootstrap.codex_home import CodexHome
from bootstrap.sandbox import (
    HOME_INSIDE,
    check_sandbox_settings,
    find_bwrap,
    probe_sandbox,
    sandboxed,
    vendored_bwrap,
)
from relay.errors import ConfigError, SandboxUnavailable
from relay.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_BWRAP = shutil.which("bwrap")


def _bwraps(codex_bin: str) -> list[str]:
    found = [b for b in (SYSTEM_BWRAP, vendored_bwrap(codex_bin)) if b]
    assert found, "no bwrap at all: install Debian's bubblewrap"
    return found


@pytest.fixture
def sandbox_settings(layout: dict[str, Path]) -> Settings:
    return load_settings({"CODEX_RELAY_WORK_DIR": str(layout["work"])})


def _run(
    settings: Settings,
    run_dir: Path,
    script: str,
    *,
    tier: str = "edit",
    bwrap: str | None = None,
    reads: tuple[str, ...] = (),
) -> tuple[subprocess.CompletedProcess[str], CodexHome]:
    """Run ``script`` with ``/bin/sh`` in a turn sandbox; the caller removes the home."""
    home = CodexHome(settings, "test-session")
    launch = CodexLaunch(
        argv=["/bin/sh", "-c", script],
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        cwd=str(run_dir),
        stdin=b"",
        reads=reads,
    )
    bwrap = bwrap or find_bwrap(settings, "/nonexistent/codex")[0]
    boxed = sandboxed(launch, settings, run_dir=str(run_dir), tier=tier, home=home, bwrap=bwrap)
    result = subprocess.run(
        boxed.argv, env=boxed.env, cwd=boxed.cwd, capture_output=True, text=True, timeout=30
    )
    return result, home


@pytest.mark.parametrize("which", ["system", "vendored"])
def test_a_turn_sees_its_own_run_and_no_other(sandbox_settings, layout, codex_bin, which):
    bwrap = {"system": SYSTEM_BWRAP, "vendored": vendored_bwrap(codex_bin)}[which]
    if bwrap is None:
        pytest.fail(f"no {which} bwrap on this machine")
    result, home = _run(
        sandbox_settings,
        layout["run"],
        f"cat reports/summary.md; ls {layout['runs']}; cat {layout['other']}/reports/summary.md",
        bwrap=bwrap,
    )
    home.remove()
    assert "# run-1" in result.stdout  # its own run, at its own path
    assert result.stdout.split("mine\n")[1].split() == ["run-1"]  # the runs root shows only it
    assert "secret-of-run-2" not in result.stdout
    assert "No such file" in result.stderr


def test_tier_read_mounts_the_run_read_only(sandbox_settings, layout):
    summary = layout["run"] / "reports" / "summary.md"
    before = summary.read_text()
    script = (
        "cat reports/summary.md; echo planted > AGENTS.md; rm reports/summary.md; "
        "echo more >> reports/summary.md; echo scratch > /tmp/note && cat /tmp/note"
    )
    result, home = _run(sandbox_settings, layout["run"], script, tier="read")
    home.remove()
    assert "# run-1" in result.stdout and "scratch" in result.stdout  # reading and /tmp work
    assert result.stderr.count("Read-only file system") == 3
    assert summary.read_text() == before
    assert not (layout["run"] / "AGENTS.md").exists()


def test_tier_edit_may_write_its_run(sandbox_settings, layout):
    result, home = _run(sandbox_settings, layout["run"], "echo new > reports/new.md && echo ok")
    home.remove()
    assert result.stdout.strip() == "ok", result.stderr
    assert (layout["run"] / "reports" / "new.md").read_text() == "new\n"


def test_tmp_is_private_to_the_turn(sandbox_settings, layout, tmp_path):
    host_file = Path("/tmp") / f"codex-relay-host-secret-{os.getpid()}"
    host_file.write_text("host-tmp-secret")
    try:
        script = (
            f"cat {host_file}; ls /tmp; echo mine > /tmp/turn-note; "
            "echo TMPDIR=$TMPDIR; cat /tmp/turn-note"
        )
        result, home = _run(sandbox_settings, layout["run"], script)
        kept = (home.tmp / "turn-note").read_text()
        home.remove()
    finally:
        host_file.unlink()
    assert "host-tmp-secret" not in result.stdout
    assert host_file.name not in result.stdout
    assert "TMPDIR=/tmp" in result.stdout and result.stdout.rstrip().endswith("mine")
    assert kept == "mine\n"  # the turn's /tmp is its own directory, removed with it


def test_other_turns_homes_and_the_relays_files_are_invisible(sandbox_settings, layout):
    other = CodexHome(sandbox_settings, "other-session")
    (other.path / "config.toml").write_text("token = 'eyJ-other-turns-token'\n")
    try:
        script = (
            f"cat {other.path}/config.toml; ls {layout['work']}; ls {ROOT}; "
            f"ls {sys.prefix}; cat /etc/shadow; echo HOME=$HOME; ls $CODEX_HOME; "
            "head -1 /etc/passwd"
        )
        result, home = _run(sandbox_settings, layout["run"], script)
        home.remove()
    finally:
        other.remove()
    assert "eyJ-other-turns-token" not in result.stdout
    assert str(ROOT / "relay") not in result.stdout and "pyproject.toml" not in result.stdout
    assert "bin" not in result.stdout.split("HOME=")[0]  # neither the venv nor /work listed
    assert f"HOME={HOME_INSIDE}" in result.stdout
    assert "root:" in result.stdout  # /etc/passwd is there; /etc/shadow is not
    assert "shadow" in result.stderr and "No such file" in result.stderr


def test_the_turn_sees_no_process_of_the_host(sandbox_settings, layout):
    host_processes = sum(name.isdigit() for name in os.listdir("/proc"))
    result, home = _run(sandbox_settings, layout["run"], "ls /proc | grep -c '^[0-9]'; echo ok")
    home.remove()
    seen, ok = result.stdout.split()
    assert ok == "ok"
    assert int(seen) <= 5 < host_processes  # bwrap's init, the shell, ls, grep


def test_only_the_paths_a_launch_reads_are_added(sandbox_settings, layout, codex_bin):
    package = codex_package_dir(codex_bin)
    script = f"test -x {codex_bin} && echo codex-visible; ls {ROOT} 2>&1 | head -3"
    result, home = _run(sandbox_settings, layout["run"], script, reads=(codex_bin, package))
    home.remove()
    assert "codex-visible" in result.stdout
    # The package is shown at its path; the rest of the repository is not.
    assert "pyproject.toml" not in result.stdout and "README.md" not in result.stdout


def test_the_run_directory_may_not_contain_the_work_directory(layout):
    settings = load_settings({"CODEX_RELAY_WORK_DIR": str(layout["run"] / ".work")})
    with pytest.raises(SandboxUnavailable, match="contains the relay's work directory"):
        _run(settings, layout["run"], "true")


@pytest.mark.parametrize("where", ["root", "outside"])
def test_with_a_runs_root_only_a_run_below_it_is_shown(layout, tmp_path, where):
    settings = load_settings(
        {"CODEX_RELAY_WORK_DIR": str(layout["work"]), "CODEX_RELAY_RUNS_ROOT": str(layout["runs"])}
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    with pytest.raises(SandboxUnavailable, match="is not below CODEX_RELAY_RUNS_ROOT"):
        _run(settings, {"root": layout["runs"], "outside": outside}[where], "true")
    result, home = _run(settings, layout["run"], "echo fine")
    home.remove()
    assert result.stdout == "fine\n"


def test_danger_full_access_is_refused_under_the_turn_sandbox():
    with pytest.raises(ConfigError, match="CODEX_RELAY_SANDBOX: danger-full-access would give"):
        check_sandbox_settings(load_settings({"CODEX_RELAY_SANDBOX": "danger-full-access"}))
    off = {"CODEX_RELAY_SANDBOX": "danger-full-access", "CODEX_RELAY_TURN_SANDBOX": "off"}
    check_sandbox_settings(load_settings(off))  # only for a trusted single-user setup


@pytest.mark.parametrize("shared", ["/", "relative/path", "{work}"])
def test_extra_read_only_paths_may_not_show_the_work_directory(layout, shared):
    settings = load_settings(
        {
            "CODEX_RELAY_WORK_DIR": str(layout["work"]),
            "CODEX_RELAY_SANDBOX_READ_ONLY_PATHS": shared.format(work=layout["work"].parent),
        }
    )
    with pytest.raises(ConfigError, match="CODEX_RELAY_SANDBOX_READ_ONLY_PATHS"):
        _run(settings, layout["run"], "true")


def test_a_typo_in_the_opt_out_is_an_error_not_off():
    with pytest.raises(ConfigError, match="CODEX_RELAY_TURN_SANDBOX: must be one of on, off"):
        load_settings({"CODEX_RELAY_TURN_SANDBOX": "of"})


def test_bwrap_is_the_systems_else_the_one_codex_ships(tmp_path, codex_bin):
    settings = load_settings({})
    if SYSTEM_BWRAP:
        assert find_bwrap(settings, codex_bin) == (SYSTEM_BWRAP, "system")
    empty = tmp_path / "no-bwrap-here"
    empty.mkdir()
    path, origin = find_bwrap(settings, codex_bin, search_path=str(empty))
    assert origin == "vendored" and path.endswith("codex-resources/bwrap")
    configured = load_settings({"CODEX_RELAY_BWRAP": path})
    assert find_bwrap(configured, codex_bin) == (path, "configured")
    with pytest.raises(SandboxUnavailable, match="apt install bubblewrap"):
        find_bwrap(settings, str(tmp_path / "codex"), search_path=str(empty))
    with pytest.raises(ConfigError, match="CODEX_RELAY_BWRAP: /nonexistent is not"):
        find_bwrap(load_settings({"CODEX_RELAY_BWRAP": "/nonexistent"}), codex_bin)


def test_the_probe_passes_here_with_codex_nested_inside(tmp_path, codex_bin):
    for bwrap in _bwraps(codex_bin):
        settings = load_settings(
            {"CODEX_RELAY_WORK_DIR": str(tmp_path / "work"), "CODEX_RELAY_BWRAP": bwrap}
        )
        assert probe_sandbox(settings, codex_bin).bwrap == bwrap
    assert os.listdir(tmp_path / "work") == []  # the probe cleans up after itself


def test_the_worker_refuses_to_start_without_user_namespaces(relay_env, tmp_path):
    # A real machine without user namespaces: the worker runs inside a bubblewrap
    # that forbids creating more (--disable-userns), so the sandbox cannot be made.
    assert SYSTEM_BWRAP, "needs Debian's bubblewrap"
    no_userns = [SYSTEM_BWRAP, "--unshare-user", "--disable-userns", "--dev-bind", "/", "/"]
    worker = [sys.executable, "-m", "cli", "worker", "--burst"]
    result = subprocess.run(
        [*no_userns, "--", *worker], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert "The turn sandbox does not work here" in result.stderr
    assert "user namespaces" in result.stderr and "CODEX_RELAY_TURN_SANDBOX=off" in result.stderr
    # The same worker with the sandbox explicitly off starts, and says so loudly.
    off = dict(os.environ, CODEX_RELAY_TURN_SANDBOX="off")
    started = subprocess.run(
        [*no_userns, "--", *worker], capture_output=True, text=True, timeout=60, env=off
    )
    assert started.returncode == 0, started.stderr
    assert "run WITHOUT the turn sandbox" in started.stderr + started.stdout


def test_the_redis_port_is_reachable_from_the_outer_sandbox_only_through_codex(
    sandbox_settings, layout, redis_server
):
    # The outer sandbox shares the network (Codex must reach the model and the
    # tools); the agent's commands lose it in Codex's own sandbox, nested inside
    # (see test_turn_isolation). This documents the split.
    port = int(redis_server.url.rsplit(":", 1)[1].split("/")[0])
    probe = (
        f"import socket; s = socket.create_connection(('127.0.0.1', {port}), 2); "
        "s.sendall(b'PING\\r\\n'); print(s.recv(10))"
    )
    result, home = _run(
        sandbox_settings,
        layout["run"],
        f'{sys.executable} -c "{probe}"',
        reads=(sys.prefix, sys.base_prefix),
    )
    home.remove()
    assert "PONG" in result.stdout, result.stderr
