"""A warm Codex's sandbox on its own: empty until its keeper shows it the turn's run.

A warm app-server starts in the turn sandbox before its run is known
(:func:`bootstrap.sandbox.warm_sandboxed`); when the turn arrives, its
keeper binds the run into the sandbox (:func:`bootstrap.sandbox.show_warm_run`).
These tests stand a plain shell in for Codex (it says it is up, as a warm
Codex answers ``initialize``, waits for a line on stdin as a warm Codex
waits for its turn, then runs a script), with the real
``bwrap`` and the real keeper, so each shows what the warm sandbox alone
guarantees; real warm turns through Codex are in ``tests/test_turn_isolation.py``.
Every test also runs an ordinary command in the same sandbox.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootstrap.codex_command import CodexLaunch
from bootstrap.codex_home import CodexHome
from bootstrap.codex_process import alive, descendants
from bootstrap.sandbox import WarmWorkspace, show_warm_run, warm_sandboxed
from bootstrap.sandbox_keeper import KeeperError, KeeperLink
from relay.errors import SandboxUnavailable
from relay.settings import Settings, load_settings
from relay.turns import TurnRequest


@dataclass
class WarmShell:
    """A shell waiting in a warm sandbox, its keeper's link, and where it will see runs."""

    proc: subprocess.Popen[str]
    keeper: KeeperLink
    workspace: WarmWorkspace
    home: CodexHome

    def show(self, run: Path, tier: str = "edit") -> str:
        request = TurnRequest(
            session="s", turn=1, user="u", runid=run.name, config="default", tier=tier,
            run_dir=str(run), message="", token="",
        )  # fmt: skip
        settings = load_settings({**_env(self.workspace.runs_root, str(self.home.root.parent))})
        return show_warm_run(settings, self.home, request, self.workspace, self.keeper)

    def go(self) -> tuple[str, str]:
        """Let the shell run its script; its stdout and stderr."""
        out, err = self.proc.communicate("go\n", timeout=30)
        return out, err


def _env(runs: str, work: str) -> dict[str, str]:
    return {"CODEX_RELAY_RUNS_ROOT": runs, "CODEX_RELAY_WORK_DIR": work}


@pytest.fixture
def settings(layout: dict[str, Path]) -> Settings:
    return load_settings(_env(str(layout["runs"]), str(layout["work"])))


@pytest.fixture
def warm(settings: Settings) -> Iterator[Callable[[str], WarmShell]]:
    started: list[WarmShell] = []

    def start(script: str) -> WarmShell:
        home = CodexHome(settings, "warm")
        keeper, keeper_end = KeeperLink.pair()
        launch = CodexLaunch(
            argv=["/bin/sh", "-c", f"echo up; read go; {script}"],
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            cwd=str(home.path),
            stdin=b"",
        )
        boxed, workspace = warm_sandboxed(
            launch, settings, home, "/nonexistent/codex", keeper_end.fileno()
        )
        proc = subprocess.Popen(
            boxed.argv, env=boxed.env, cwd=boxed.cwd, text=True, pass_fds=(keeper_end.fileno(),),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        keeper_end.close()
        # Up, as a warm Codex is once it answered `initialize`: bwrap's mounts are in place.
        assert proc.stdout is not None and proc.stdout.readline() == "up\n"
        shell = WarmShell(proc, keeper, workspace, home)
        started.append(shell)
        return shell

    yield start
    for shell in started:
        if shell.proc.poll() is None:
            shell.proc.kill()
        shell.proc.communicate()  # reaps it and closes its pipes
        shell.keeper.close()
        shell.home.remove()


def test_the_run_appears_at_its_own_path_once_the_keeper_shows_it(warm, layout):
    shell = warm(f"cat {layout['run']}/reports/summary.md; ls {layout['runs']}; pwd")
    assert shell.show(layout["run"]) == str(layout["run"])
    out, err = shell.go()
    assert out.split() == ["#", "run-1", "mine", "run-1", "/codex/home"], err


def test_before_the_turn_the_runs_root_is_empty(warm, layout):
    shell = warm(f"ls -A {layout['runs']} | wc -l; ls {layout['run']}; echo ok")
    out, err = shell.go()  # nothing asked of the keeper
    assert out.split() == ["0", "ok"] and "No such file" in err


def test_no_other_run_is_shown(warm, layout):
    shell = warm(
        f"cat {layout['other']}/reports/summary.md; ls {layout['runs']}; echo ---; "
        f"cat {layout['run']}/reports/summary.md"
    )
    shell.show(layout["run"])
    out, err = shell.go()
    seen, ordinary = out.split("---")
    assert "secret-of-run-2" not in out and "No such file" in err
    assert seen.split() == ["run-1"] and "mine" in ordinary


def test_tier_read_sees_the_run_read_only(warm, layout):
    summary = layout["run"] / "reports" / "summary.md"
    before = summary.read_text()
    run = layout["run"]
    shell = warm(
        f"cd {run}; cat reports/summary.md; echo planted > AGENTS.md; rm reports/summary.md; "
        "echo more >> reports/summary.md; mkdir ../run-3; echo scratch > /tmp/n && cat /tmp/n"
    )
    shell.show(run, tier="read")
    out, err = shell.go()
    assert "# run-1" in out and "scratch" in out  # reading and its /tmp work
    assert err.count("Read-only file system") == 4, err
    assert summary.read_text() == before and not (run / "AGENTS.md").exists()
    assert not (layout["runs"] / "run-3").exists()


def test_tier_edit_may_write_its_run(warm, layout):
    shell = warm(f"cd {layout['run']} && echo new > reports/new.md && echo ok")
    shell.show(layout["run"], tier="edit")
    out, err = shell.go()
    assert out.strip() == "ok", err
    assert (layout["run"] / "reports" / "new.md").read_text() == "new\n"


def test_nothing_is_mounted_outside_the_sandbox(warm, layout):
    shell = warm("true")
    shell.show(layout["run"])
    slot = Path(shell.workspace.slot)
    assert [p.name for p in slot.iterdir()] == ["run-1"]
    assert list((slot / "run-1").iterdir()) == []  # on the host, an empty mount point
    with open("/proc/self/mountinfo") as fh:
        assert shell.workspace.slot not in fh.read()
    shell.go()


def test_a_slot_serves_exactly_one_turn(warm, layout):
    shell = warm(f"ls {layout['runs']}")
    shell.show(layout["run"])
    with pytest.raises(KeeperError, match="served its turn"):
        shell.show(layout["other"])
    out, _ = shell.go()
    assert out.split() == ["run-1"]


@pytest.mark.parametrize(
    "request_line",
    [
        b"not json\n",
        b"[1, 2]\n",
        b'{"run": "/", "inside": "../../escape", "writable": true}\n',
        b'{"run": "/", "inside": "/abs", "writable": true}\n',
        b'{"run": "relative", "inside": "x", "writable": true}\n',
        b'{"run": "/etc", "inside": "x", "writable": "yes"}\n',
    ],
    ids=["not-json", "not-an-object", "dot-dot", "absolute", "relative-run", "bad-tier"],
)
def test_the_keeper_refuses_malformed_requests_and_mounts_nothing(warm, layout, request_line):
    shell = warm(f"ls -A {layout['runs']} | wc -l; ls /escape /abs 2>&1 | wc -l; echo ok")
    shell.keeper.sock.sendall(request_line)
    answer = shell.keeper.sock.recv(4096)
    assert answer.startswith(b"error "), answer
    out, err = shell.go()
    assert out.split()[0] == "0" and out.split()[-1] == "ok", err
    assert not (Path(shell.workspace.slot).parent / "escape").exists()


def test_a_run_outside_the_runs_root_is_refused(warm, layout, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shell = warm("echo fine")
    for run in (outside, layout["runs"]):
        with pytest.raises(SandboxUnavailable, match="is not below CODEX_RELAY_RUNS_ROOT"):
            shell.show(run)
    shell.show(layout["run"])  # the slot is still unused: a run below the root is shown
    assert shell.go()[0] == "fine\n"


def test_a_run_below_the_root_through_a_link_is_shown_at_its_real_place(warm, layout, tmp_path):
    link = tmp_path / "link-to-run"
    link.symlink_to(layout["run"])
    shell = warm(f"cat {layout['run']}/reports/summary.md")
    assert shell.show(link) == str(layout["run"])
    assert "mine" in shell.go()[0]


def test_a_warm_sandbox_needs_the_runs_root(layout):
    settings = load_settings({"CODEX_RELAY_WORK_DIR": str(layout["work"])})
    home = CodexHome(settings, "warm")
    try:
        launch = CodexLaunch(argv=["/bin/true"], env={}, cwd=str(home.path), stdin=b"")
        with pytest.raises(SandboxUnavailable, match="needs CODEX_RELAY_RUNS_ROOT"):
            warm_sandboxed(launch, settings, home, "/nonexistent/codex", 0)
    finally:
        home.remove()


def test_killing_the_keeper_takes_the_sandbox_with_it(warm, layout):
    shell = warm("true")
    deadline = time.monotonic() + 10
    while len(descendants(shell.proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    tree = descendants(shell.proc.pid)
    assert tree  # bwrap and the shell in it
    shell.proc.kill()
    shell.proc.wait()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in tree) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(alive(p) for p in tree)
    assert os.path.isdir(shell.workspace.slot)  # only the empty slot is left, removed with home
