"""A hostile agent, through the real Codex, in the default configuration.

The scripted model (``devmodel``) plays the attacker: it makes the real Codex
CLI run whatever shell command a test scripts, in a real RQ worker, with the
turn sandbox on and Codex's own sandbox in its default mode
(``workspace-write``; ``read-only`` for tier ``read``), and with Debian's
bubblewrap installed (``/usr/bin/bwrap``), as on a common server. Each
attack runs beside an ordinary command in the same turn, which must work: a
sandbox that broke every command could not pass.

Every test runs under both runners: ``exec`` (a Codex started in the sandbox
for the turn) and ``app-server`` with warm start, where the worker's warm
Codex waits in a sandbox showing an empty runs root until its keeper binds
the turn's run there (``bootstrap/sandbox_keeper.py``); each such turn is
checked to have run on the warm Codex.

Codex 0.169.0 drops the ``command_execution`` item of a command that fails
with what looks like a sandbox denial, so every scripted command here ends
with a command that succeeds, and prints what each step saw.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from bootstrap.prompt import DEFAULT_PROFILE
from relay.turns import cancel_turn

pytestmark = pytest.mark.codex


@pytest.fixture(autouse=True, params=["exec", "app-server"], ids=["exec", "app-server-warm"])
def runner(request, relay_env, run_dir, monkeypatch) -> str:
    """The runner of every worker in the test (warm, sandboxed app-servers need the runs root)."""
    monkeypatch.setenv("CODEX_RELAY_RUNNER", request.param)
    if request.param == "app-server":
        monkeypatch.setenv("CODEX_RELAY_RUNS_ROOT", str(run_dir.parent))
    return str(request.param)


def _check_warm(turns: Any, record: Any, logs: str) -> None:
    """Under ``app-server``: the turn ran on the worker's warm Codex, not a cold fallback."""
    if os.environ["CODEX_RELAY_RUNNER"] != "app-server":
        return
    pid = turns.rt.sessions.get(record.id).codex_pgid
    assert f"warm Codex ready (pid {pid})" in logs, logs[-2000:]
    assert "warm Codex given up" not in logs


def _tool_output(turns: Any, session: Any, turn: int | None = None) -> str:
    events = turns.events(session, turn)
    assert events[-1]["type"] == "turn.completed", [e["type"] for e in events]
    assert events[-1]["status"] == "completed", events[-2:]
    tools = [e["tool"] for e in events if e["type"] == "tool.completed"]
    assert len(tools) == 1, [e["type"] for e in events]
    assert tools[0]["exit_code"] == 0
    return str(tools[0]["output"])


def _in_order(script: str) -> str:
    """``script`` with its errors in its output, in the order they happened.

    Codex reads stdout and stderr through two pipes, so their lines can come
    out of order in the command's aggregated output.
    """
    return f"{{ {script}; }} 2>&1"


def _shell_turn(turns: Any, devmodel: Any, name: str, script: str, **session: Any) -> str:
    """Run one turn whose agent runs ``script``; return the command's output."""
    devmodel.add_scenario(name, [{"shell": _in_order(script)}, {"say": "done"}])
    record = turns.new_session(**session)
    turns.start(record, f"#scenario:{name}")
    result = turns.work()
    assert result.returncode == 0, result.stderr[-2000:]
    _check_warm(turns, record, result.stderr + result.stdout)
    return _tool_output(turns, record)


def _user_texts(request: dict[str, Any], role: str) -> list[str]:
    """The text of every ``role`` message in a recorded model request."""
    texts = []
    for item in request.get("input", []):
        if item.get("type") == "message" and item.get("role") == role:
            texts += [part.get("text", "") for part in item.get("content", [])]
    return texts


def _request_for(devmodel: Any, marker: str) -> dict[str, Any]:
    found = [r for r in devmodel.requests if marker in json.dumps(r.get("input", []))]
    assert found, f"no model request carried {marker!r}"
    return found[-1]


def test_commands_run_in_codexs_own_sandbox_with_debians_bwrap_installed(turns, devmodel):
    # With a system bwrap, Codex needs its codex-linux-sandbox helper, which it
    # refused to create when CODEX_HOME was under the temporary directory.
    assert shutil.which("bwrap") == "/usr/bin/bwrap", "install Debian's bubblewrap"
    output = _shell_turn(turns, devmodel, "iso_ordinary", "echo relay-$((6*7)); id -u")
    assert output.split()[0] == "relay-42"
    request = _request_for(devmodel, "iso_ordinary")
    assert "codex-linux-sandbox" not in json.dumps(request)


def test_the_shell_cannot_read_another_run(turns, devmodel, run_dir):
    other = run_dir.parent / "run-2" / "reports"
    other.mkdir(parents=True)
    (other / "secret.md").write_text("# Run 2\n\nsecret-of-another-run\n")
    script = (
        f"cat ../run-2/reports/secret.md {other}/secret.md 2>&1; ls ..; echo ---; "
        "cat reports/summary.md"
    )
    output = _shell_turn(turns, devmodel, "iso_other_run", script)
    seen, ordinary = output.split("---")
    assert "secret-of-another-run" not in output
    assert "No such file" in seen and seen.split()[-1] == "run-1"  # `ls ..`: only its run
    assert "Old intro." in ordinary


def test_the_shell_cannot_read_a_running_turns_home(turns, devmodel, relay_env):
    devmodel.add_scenario("iso_hold", [{"shell": "sleep 20.25", "timeout_ms": 60000}])
    workers = [turns.spawn_worker(), turns.spawn_worker()]
    victim = turns.new_session(user="bob")
    try:
        turns.start(victim, "#scenario:iso_hold")
        turns.wait_for(victim, "tool.started")
        work = Path(relay_env["CODEX_RELAY_WORK_DIR"])
        if os.environ["CODEX_RELAY_RUNNER"] == "app-server":  # a warm home: where its keeper is
            home = Path(os.readlink(f"/proc/{turns.rt.sessions.get(victim.id).codex_pgid}/cwd"))
        else:
            (home,) = work.glob(f"codex-home-{victim.id[:12]}-*/home")
        assert "approval_policy" in (home / "config.toml").read_text()  # it is there
        script = (
            f"cat {home}/config.toml 2>&1; ls {work} 2>&1; ls /codex; echo ---; "
            "grep -c approval_policy $HOME/config.toml"
        )
        devmodel.add_scenario("iso_peek", [{"shell": _in_order(script)}, {"say": "done"}])
        attacker = turns.new_session(user="mallory")
        turns.start(attacker, "#scenario:iso_peek")
        turns.wait_for(attacker, "turn.completed", timeout=60)
        seen, own = _tool_output(turns, attacker).split("---")
        assert "approval_policy" not in seen and "No such file" in seen
        assert own.strip() == "1"  # its own home is readable
    finally:
        record = turns.rt.sessions.get(victim.id)
        if record is not None and record.running_turn:
            cancel_turn(turns.rt, record)
            turns.wait_for(victim, "turn.completed", timeout=30)
        for worker in workers:
            worker.terminate()
            worker.wait(10)


def test_the_shell_sees_a_private_tmp_not_the_hosts(turns, devmodel):
    host_secret = Path("/tmp") / f"codex-relay-host-file-{os.getpid()}"
    planted = Path("/tmp") / f"codex-relay-agent-was-here-{os.getpid()}"
    host_secret.write_text("host-tmp-secret")
    try:
        script = (
            f"cat {host_secret} 2>&1; echo owned > {planted}; echo LISTING; ls /tmp; echo ---; "
            "echo scratch > /tmp/note && cat /tmp/note; echo TMPDIR=$TMPDIR"
        )
        output = _shell_turn(turns, devmodel, "iso_tmp", script)
        assert not planted.exists()  # its /tmp was its own, and is gone
    finally:
        host_secret.unlink()
    seen, ordinary = output.split("---")
    read, listing = seen.split("LISTING")
    assert "host-tmp-secret" not in seen and "No such file" in read
    assert host_secret.name not in listing and planted.name in listing
    assert ordinary.split() == ["scratch", "TMPDIR=/tmp"]


def test_the_shell_cannot_reach_the_relays_redis_or_the_model(turns, devmodel, relay_env):
    redis_port = int(relay_env["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
    model_port = int(devmodel.base_url.rsplit(":", 1)[1].split("/")[0])
    probe = (
        "import socket\n"
        f"for port in ({redis_port}, {model_port}):\n"
        "    try:\n"
        "        s = socket.create_connection(('127.0.0.1', port), 2)\n"
        "        s.sendall(b'PING\\r\\n'); print('CONNECTED', s.recv(16))\n"
        "    except OSError as exc:\n"
        "        print('BLOCKED', exc)\n"
    )
    script = (
        f'python3 -c "{probe}"; (exec 3<>/dev/tcp/127.0.0.1/{redis_port} && echo CONNECTED) '
        "2>&1; echo ---; echo ordinary-$((6*7))"
    )
    output = _shell_turn(turns, devmodel, "iso_redis", script)
    seen, ordinary = output.split("---")
    assert "CONNECTED" not in seen and "PONG" not in seen
    assert seen.count("BLOCKED") == 2
    assert ordinary.strip() == "ordinary-42"


def test_a_read_tier_shell_cannot_change_the_run(turns, devmodel, run_dir):
    summary = run_dir / "reports" / "summary.md"
    before = summary.read_text()
    script = (
        "echo new > reports/new.md; unlink reports/summary.md; echo more >> reports/summary.md; "
        "echo planted > AGENTS.md; echo ---; cat reports/summary.md"
    )
    output = _shell_turn(turns, devmodel, "iso_read_tier", script, user="reader", tier="read")
    attempts, ordinary = output.split("---")
    assert attempts.count("Read-only file system") == 4
    assert "Old intro." in ordinary
    assert summary.read_text() == before
    assert not (run_dir / "reports" / "new.md").exists()
    assert not (run_dir / "AGENTS.md").exists()


def test_planted_instructions_never_reach_the_model(turns, devmodel, run_dir):
    # An edit-tier agent may write its run, AGENTS.md included ...
    script = (
        "echo PLANTED-AGENTS-MD > AGENTS.md; echo PLANTED-OVERRIDE > AGENTS.override.md; "
        "echo planted"
    )
    assert _shell_turn(turns, devmodel, "iso_plant", script).strip() == "planted"
    assert (run_dir / "AGENTS.md").read_text() == "PLANTED-AGENTS-MD\n"
    # ... and anyone with the run could leave project config and skills there.
    (run_dir / ".codex").mkdir()
    (run_dir / ".codex" / "config.toml").write_text(
        'developer_instructions = "PLANTED-PROJECT-CONFIG"\n'
    )
    for root in (".codex/skills/evil", ".agents/skills/evil2"):
        (run_dir / root).mkdir(parents=True)
        (run_dir / root / "SKILL.md").write_text(
            f"---\nname: {root.split('/')[-1]}\ndescription: PLANTED-SKILL\n---\nPLANTED-BODY\n"
        )
    # A later session of another user: Codex loads none of it.
    later = turns.new_session(user="bob", tier="read")
    turns.start(later, "#scenario:hello iso-later-session")
    turns.work()
    assert turns.events(later)[-1]["status"] == "completed"
    request = _request_for(devmodel, "iso-later-session")
    assert "PLANTED-" not in json.dumps(request)
    assert any(DEFAULT_PROFILE in text for text in _user_texts(request, "developer"))


def test_the_profile_goes_as_developer_instructions_not_in_the_message(
    turns, devmodel, monkeypatch
):
    session = turns.new_session(user="carol")
    turns.start(session, "#scenario:hello iso-first-message")
    turns.work()
    turns.start(session, "#scenario:hello iso-second-message")
    turns.work()
    for marker in ("iso-first-message", "iso-second-message"):
        request = _request_for(devmodel, marker)
        users = _user_texts(request, "user")
        assert f"#scenario:hello {marker}" in users  # the message, exactly as sent
        assert not any(DEFAULT_PROFILE in text for text in users)
        assert any(DEFAULT_PROFILE in text for text in _user_texts(request, "developer"))
    assert turns.events(session, 2)[-1]["status"] == "completed"


WEAKEST = {"CODEX_RELAY_TURN_SANDBOX": "off", "CODEX_RELAY_SANDBOX": "danger-full-access"}


@pytest.mark.parametrize("config", [{}, WEAKEST], ids=["default", "no-sandbox-at-all"])
def test_bloating_the_home_leaves_the_archive_small(turns, devmodel, redis_client, config):
    bloat = "$HOME/sessions/2026/01/01/bloat.jsonl"
    script = (
        "mkdir -p $HOME/sessions/2026/01/01 2>&1; "
        f"head -c 4000000 /dev/urandom > {bloat} 2>&1; wc -c < {bloat} 2>&1; "
        "head -c 4000000 /dev/urandom > /tmp/bloat; echo ---; echo ordinary"
    )
    devmodel.add_scenario("iso_bloat", [{"shell": _in_order(script)}, {"say": "done"}])
    session = turns.new_session()
    turns.start(session, "#scenario:iso_bloat")
    turns.work(config)
    attempts, ordinary = _tool_output(turns, session).split("---")
    if config:  # nothing stops the command: 4 MB of random bytes sit in Codex's home
        assert attempts.split()[0] == "4000000"
    else:  # Codex's home is not the shell's to write
        assert "Read-only file system" in attempts
    assert ordinary.strip() == "ordinary"
    archive = redis_client.get(turns.rt.keys.codex_state(session.id))
    assert archive is not None and len(archive) < 64 * 1024
    # The thread still resumes from it.
    turns.start(session, "#scenario:hello after the bloat")
    turns.work(config)
    second = turns.events(session, 2)
    assert not [e for e in second if e["type"] == "error"]
    threads = [e["thread_id"] for e in turns.events(session) if e["type"] == "turn.started"]
    assert len(threads) == 2 and threads[0] == threads[1]


def test_the_vendored_bwrap_runs_turns_where_no_system_one_is_on_path(turns, devmodel, tmp_path):
    no_bwrap = tmp_path / "bin-without-bwrap"
    no_bwrap.mkdir()
    devmodel.add_scenario("iso_vendored", [{"shell": "echo vendored-$((6*7))"}, {"say": "ok"}])
    session = turns.new_session()
    turns.start(session, "#scenario:iso_vendored")
    result = turns.work({"PATH": str(no_bwrap)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "codex-resources/bwrap (vendored)" in result.stderr + result.stdout
    _check_warm(turns, session, result.stderr + result.stdout)
    assert _tool_output(turns, session).strip() == "vendored-42"


def test_the_opt_out_runs_turns_and_says_so_on_every_turn(turns, devmodel):
    devmodel.add_scenario("iso_off", [{"shell": "echo unsandboxed"}, {"say": "ok"}])
    session = turns.new_session()
    turns.start(session, "#scenario:iso_off")
    result = turns.work({"CODEX_RELAY_TURN_SANDBOX": "off"})
    logs = result.stderr + result.stdout
    assert logs.count("run WITHOUT the turn sandbox") == 2  # worker start, and the turn
    assert _tool_output(turns, session).strip() == "unsandboxed"
