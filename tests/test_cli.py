"""The operator CLI against a live stack: real Redis, real worker processes, real turns."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rq import Worker

from relay.tokens import generate_keypair

pytestmark = pytest.mark.codex

HELP = [
    [],
    ["demo"],
    ["worker"],
    ["install-codex"],
    ["devmodel"],
    ["status"],
    ["sessions"],
    ["sessions", "list"],
    ["sessions", "show"],
    ["sessions", "stop"],
    ["sessions", "delete"],
    ["usage"],
    ["cleanup"],
    ["check"],
]


def cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``codex-relay`` as a separate process with the test's environment."""
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "cli", *argv],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def worker(turns):
    """A long-running real worker, registered with RQ before the test goes on."""
    proc = turns.spawn_worker()
    deadline = time.monotonic() + 20
    while Worker.count(connection=turns.rt.redis) < 1:
        assert time.monotonic() < deadline and proc.poll() is None, "worker did not start"
        time.sleep(0.05)
    yield proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("argv", HELP, ids=lambda a: " ".join(a) or "top")
def test_help_is_available_for_every_subcommand(argv):
    result = cli(*argv, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: codex-relay" in result.stdout


def test_missing_or_unknown_subcommand_is_a_usage_error():
    assert cli().returncode == 2
    assert cli("frobnicate").returncode == 2
    assert cli("sessions").returncode == 2


def test_install_codex_puts_another_release_beside_the_pinned_one(codex_bin):
    from bootstrap.codex_binary import CODEX_VERSION, SUPPORTED_VERSIONS, default_install_dir

    newer = SUPPORTED_VERSIONS[-1]
    result = cli("install-codex", "--version", newer)
    assert result.returncode == 0, result.stderr
    printed = Path(result.stdout.split()[-1])
    assert f"Codex CLI {newer} at" in result.stdout
    assert printed.is_relative_to(default_install_dir(newer))
    assert default_install_dir(newer).name == f".codex-cli-{newer}"
    # The pinned CLI is untouched and still what the relay runs by default.
    pinned = subprocess.run([codex_bin, "--version"], capture_output=True, text=True, check=True)
    assert CODEX_VERSION in pinned.stdout
    assert not printed.is_relative_to(default_install_dir(CODEX_VERSION))


def test_install_codex_supported_takes_no_single_version():
    result = cli("install-codex", "--supported", "--version", "0.171.0")
    assert result.returncode == 2 and "--supported" in result.stdout


def test_a_worker_refuses_a_codex_release_the_relay_was_not_tested_with(tmp_path, relay_env):
    fake = tmp_path / "codex"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$1" in --version) echo "codex-cli 0.150.0";; *) echo "--json --skip-git-repo-check '
        '--sandbox --cd resume";; esac\n'
    )
    fake.chmod(0o755)
    result = cli("worker", "--burst", env={"CODEX_RELAY_CODEX_BIN": str(fake)})
    assert result.returncode == 1
    assert "0.150.0" in result.stderr and "0.169.0" in result.stderr


def test_status_json_shows_queues_workers_running_turns_and_failures(
    turns, devmodel, worker, relay_env
):
    devmodel.add_scenario("stall_cli", [{"stall": 60}])
    session = turns.new_session()
    turn = turns.start(session, "#scenario:stall_cli")
    turns.wait_for(session, "turn.started", turn=turn)
    result = cli("status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    queue = next(q for q in status["queues"] if q["name"] == "codex-relay")
    assert queue["started"] == 1
    assert len(status["workers"]) == 1
    assert status["workers"][0]["current_job"] == f"turn-{session.id}-{turn}"
    running = status["running_turns"]
    assert [r["session"] for r in running] == [session.id] and running[0]["user"] == "alice"
    assert status["recent_failures"] == []
    assert "#scenario" not in result.stdout  # no message bodies

    stop = cli("sessions", "stop", session.id)
    assert stop.returncode == 0 and f"turn {turn}" in stop.stdout
    assert turns.wait_for(session, "turn.completed", turn=turn)["status"] == "cancelled"


def test_status_table_has_no_colour_when_not_a_terminal(turns, worker):
    result = cli("status")
    assert result.returncode == 0, result.stderr
    for heading in ("Queues", "Workers", "Running turns", "Recent failures"):
        assert heading in result.stdout
    assert "\033[" not in result.stdout
    assert "codex-relay" in result.stdout


def test_sessions_list_and_show_after_a_real_turn(turns):
    mine = turns.new_session("alice")
    turns.new_session("bob")
    turns.start(mine, "#scenario:hello")
    assert turns.work().returncode == 0

    listed = json.loads(cli("sessions", "list", "--json").stdout)
    assert {row["user"] for row in listed} == {"alice", "bob"}
    only = json.loads(cli("sessions", "list", "--user", "alice", "--json").stdout)
    assert [row["session"] for row in only] == [mine.id]
    assert only[0]["status"] == "completed" and only[0]["tokens"] > 0
    table = cli("sessions", "list")
    assert table.returncode == 0 and mine.id in table.stdout

    shown = cli("sessions", "show", mine.id, "--events", "3")
    assert shown.returncode == 0, shown.stderr
    assert "status:" in shown.stdout and "completed" in shown.stdout
    lines = shown.stdout.split("Last 3 events", 1)[1]
    for kind in ("message", "usage", "turn.completed"):
        assert kind in lines
    assert "turn.queued" not in lines
    as_json = json.loads(cli("sessions", "show", mine.id, "--json").stdout)
    assert [e["type"] for e in as_json["events"]][-1] == "turn.completed"


def test_sessions_commands_on_an_unknown_session_exit_1(redis_client, relay_env):
    for action in ("show", "stop", "delete"):
        result = cli("sessions", action, "0" * 32)
        assert result.returncode == 1 and "no session" in result.stderr


def test_sessions_delete_drops_the_session(turns):
    session = turns.new_session()
    result = cli("sessions", "delete", session.id)
    assert result.returncode == 0, result.stderr
    assert turns.rt.sessions.get(session.id) is None


def test_cleanup_reaps_stale_turns_expired_sessions_old_backups_and_codex_homes(
    turns, relay_env, run_dir
):
    stale = turns.new_session()
    turns.rt.sessions.begin_turn(stale, 10)
    turns.rt.sessions.update(stale.id, status="running", heartbeat=time.time() - 3600)
    expired = turns.new_session("bob")
    turns.rt.redis.delete(turns.rt.keys.session(expired.id))
    backups = run_dir / "reports" / ".backups"
    backups.mkdir()
    old, fresh = backups / "summary.20200101T000000Z.md", backups / "summary.new.md"
    old.write_text("old")
    fresh.write_text("new")
    past = time.time() - 40 * 86_400
    os.utime(old, (past, past))
    work = Path(relay_env["CODEX_RELAY_WORK_DIR"])
    left = work / "codex-home-0123456789ab-xyz"
    left.mkdir(parents=True)
    os.utime(left, (past, past))
    recent = work / "codex-home-ba9876543210-abc"
    recent.mkdir()

    env = {"CODEX_RELAY_RUNS_ROOT": str(run_dir.parent)}
    dry = cli("cleanup", "--dry-run", env=env)
    assert dry.returncode == 0 and "would remove backup" in dry.stdout and old.exists()
    result = cli("cleanup", env=env)
    assert result.returncode == 0, result.stderr
    assert f"session {stale.id}: failed" in result.stdout
    assert "dropped 1 expired" in result.stdout
    assert not old.exists() and fresh.exists()
    assert not left.exists() and recent.exists()
    assert turns.events(stale)[-1]["status"] == "failed"
    index = turns.rt.redis.zrange(turns.rt.keys.sessions_index(), 0, -1)
    assert expired.id.encode() not in index


def test_check_passes_on_a_good_configuration(relay_env, keypair):
    result = cli(
        "check",
        env={"CODEX_RELAY_JWT_PRIVATE_KEY": keypair[0], "CODEX_RELAY_MCP_TRANSPORT": "stdio"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for item in ("configuration", "redis", "codex", "sandbox", "keys", "mcp"):
        assert any(line.startswith("ok") and f" {item} " in line for line in lines), item
    assert "initialize answered" in result.stdout
    assert "Codex's sandbox nested inside" in result.stdout
    assert "BEGIN" not in result.stdout


def test_check_fails_where_the_turn_sandbox_cannot_be_made(relay_env):
    # A real machine without user namespaces: `check` runs inside a bubblewrap
    # that forbids creating more (--disable-userns).
    no_userns = ["bwrap", "--unshare-user", "--disable-userns", "--dev-bind", "/", "/", "--"]
    result = subprocess.run(
        [*no_userns, sys.executable, "-m", "cli", "check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    (failed,) = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert " sandbox " in failed and "user namespaces" in failed
    assert any(line.startswith("ok") and " codex " in line for line in result.stdout.splitlines())


def test_usage_shows_each_users_use_against_the_limits(turns):
    session = turns.new_session(user="alice")
    turns.start(session, "#scenario:hello")
    turns.work()
    turns.new_session(user="bob")
    table = cli("usage", env={"CODEX_RELAY_MAX_SESSIONS_PER_USER": "1"})
    assert table.returncode == 0, table.stderr
    rows = {line.split()[0]: line for line in table.stdout.splitlines()[1:]}
    assert set(rows) == {"alice", "bob"}
    assert "1 / 1" in rows["alice"] and " KiB / 256.0 MiB" in rows["alice"]
    as_json = json.loads(cli("usage", "--json", "--user", "alice").stdout)
    (alice,) = as_json
    assert alice["sessions"] == 1 and alice["tokens_today"] > 0
    assert alice["daily_token_budget"] == 5_000_000 and alice["stored_bytes"] > 0


def test_check_fails_with_a_bad_codex_binary(relay_env, tmp_path):
    result = cli("check", env={"CODEX_RELAY_CODEX_BIN": str(tmp_path / "no-codex")})
    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1 and " codex " in failed[0] and "not found" in failed[0]


def test_check_fails_when_the_keys_do_not_match(relay_env):
    other_private, _ = generate_keypair()
    result = cli("check", env={"CODEX_RELAY_JWT_PRIVATE_KEY": other_private})
    assert result.returncode == 1
    assert any(
        line.startswith("FAIL") and "does not match" in line for line in result.stdout.splitlines()
    )


def test_check_fails_when_redis_is_unreachable_or_config_is_bad(relay_env):
    down = cli("check", env={"REDIS_URL": "redis://:hunter2@127.0.0.1:1/0"})
    assert down.returncode == 1
    assert any(line.startswith("FAIL") and " redis " in line for line in down.stdout.splitlines())
    assert "hunter2" not in down.stdout
    bad = cli("check", env={"CODEX_RELAY_TURN_TIMEOUT": "soon"})
    assert bad.returncode == 1 and "CODEX_RELAY_TURN_TIMEOUT" in bad.stdout
