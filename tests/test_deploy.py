"""``docker-compose.yml``: its structure, and every command in it run as a plain process.

No Docker engine runs here, so the compose file is checked in two ways: its
structure (Redis with persistence, the web app under gunicorn with a health
check on ``/agent/health``, ``codex-relay worker``, named volumes), and its
commands, each started as an ordinary process with the environment the file
gives it (``${VAR}`` references filled in as Compose would).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from cli.embedded_redis import find_redis_server, free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The parsed compose file."""
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` substitution."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        if env.get(name):
            return env[name]
        if op == ":?":
            raise AssertionError(f"compose needs {name}: {arg}")
        return arg if op == ":-" else ""

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:[-?])([^}]*))?\}", one, value)


def _service_env(
    service: dict[str, Any], dotenv: dict[str, str], overrides: dict[str, str]
) -> dict[str, str]:
    env = {k: _interpolate(str(v), dotenv) for k, v in service.get("environment", {}).items()}
    env.update(overrides)
    return env


def _argv(command: list[str]) -> list[str]:
    """The command with console scripts resolved to this virtualenv."""
    head = BIN / command[0]
    return [str(head) if head.exists() else command[0], *command[1:]]


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_compose_has_redis_web_and_worker_services(compose):
    assert set(compose["services"]) >= {"redis", "web", "worker"}
    assert set(compose["volumes"]) >= {"redis-data", "runs"}


def test_redis_persists_with_append_only_file(compose):
    redis_service = compose["services"]["redis"]
    command = redis_service["command"]
    assert command[0] == "redis-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert "redis-data:/data" in redis_service["volumes"]
    assert "ping" in " ".join(redis_service["healthcheck"]["test"])


def test_web_runs_the_relay_web_server_with_a_health_check(compose):
    web = compose["services"]["web"]
    assert web["command"] == ["codex-relay", "web", "--bind", "0.0.0.0:8000"]
    assert web["environment"]["CODEX_RELAY_WEB_WORKER_CLASS"] == "gevent"
    assert int(web["environment"]["CODEX_RELAY_WEB_CONNECTIONS"]) >= 10_000
    assert "/agent/health" in " ".join(web["healthcheck"]["test"])
    assert web["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "runs:/runs" in web["volumes"]


def test_the_web_service_serves_the_host_app_named_by_a_setting_with_no_default(compose):
    web = compose["services"]["web"]
    assert web["environment"]["CODEX_RELAY_WEB_APP"].startswith("${CODEX_RELAY_WEB_APP:?")
    with pytest.raises(AssertionError, match="compose needs CODEX_RELAY_WEB_APP"):
        _service_env(web, {}, {})
    assert not any("demo" in str(v).lower() for v in web["environment"].values())


def test_the_demo_app_runs_only_when_asked_for_and_only_on_localhost(compose):
    demo_services = {
        name: service
        for name, service in compose["services"].items()
        if "cli.demo_app" in " ".join(service.get("command", []))
    }
    assert set(demo_services) == {"demo"}
    demo = demo_services["demo"]
    assert demo["profiles"] == ["demo"]  # `docker compose up` alone does not start it
    assert demo["ports"] and all(str(port).startswith("127.0.0.1:") for port in demo["ports"])


def test_the_dockerfile_serves_no_default_app():
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD "))
    assert json.loads(cmd[4:]) == ["codex-relay", "web", "--bind", "0.0.0.0:8000"]
    assert "CODEX_RELAY_WEB_WORKER_CLASS=gevent" in dockerfile


def test_the_web_command_refuses_to_start_without_a_host_app():
    env = {k: v for k, v in os.environ.items() if k != "CODEX_RELAY_WEB_APP"}
    result = subprocess.run(
        [sys.executable, "-m", "cli", "web"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "CODEX_RELAY_WEB_APP" in result.stderr and "yourapp:create_app()" in result.stderr


def test_worker_runs_codex_relay_worker_and_scales(compose):
    worker = compose["services"]["worker"]
    assert worker["command"] == ["codex-relay", "worker"]
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert worker["deploy"]["replicas"] >= 1
    assert "CODEX_RELAY_JWT_PRIVATE_KEY" not in worker["environment"]  # workers never sign


def test_configuration_is_only_by_environment_with_no_literal_secrets(compose):
    for name in ("web", "worker"):
        for key, value in compose["services"][name]["environment"].items():
            if "KEY" in key or "SECRET" in key:
                assert str(value).startswith("${"), f"{name}.{key} must come from the environment"


def test_redis_command_runs_with_persistence(compose, tmp_path):
    command = list(compose["services"]["redis"]["command"])
    port = free_port()
    argv = [
        find_redis_server(),
        *command[1:],
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(tmp_path),
        "--save",
        "",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis did not start"
                time.sleep(0.05)
        assert client.config_get("appendonly")["appendonly"] == "yes"
        client.set("k", "v")
        healthcheck = compose["services"]["redis"]["healthcheck"]["test"][1:]
        if shutil.which(healthcheck[0]):
            assert (
                subprocess.run(
                    [healthcheck[0], "-p", str(port), *healthcheck[1:]],
                    capture_output=True,
                    check=False,
                ).returncode
                == 0
            )
    finally:
        _stop(proc)


def _health(port: int) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/agent/health")
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


@pytest.fixture
def stack(compose, relay_env, keypair, run_dir) -> Iterator[int]:
    """The compose file's web and worker commands as processes on the test Redis; the port."""
    dotenv = dict(
        relay_env,
        CODEX_RELAY_JWT_PRIVATE_KEY=keypair[0],
        CODEX_RELAY_JWT_PUBLIC_KEY=keypair[1],
        CODEX_RELAY_DEMO_SECRET_KEY="s" * 32,
        # The deployment names its host app; here the demo app stands in for it.
        CODEX_RELAY_WEB_APP="cli.demo_app:create_app()",
    )
    port = free_port()
    overrides = {"REDIS_URL": relay_env["REDIS_URL"], "CODEX_RELAY_RUNS_ROOT": str(run_dir.parent)}
    procs = []
    for name in ("worker", "web"):
        service = compose["services"][name]
        command = [
            str(part).replace("0.0.0.0:8000", f"127.0.0.1:{port}") for part in service["command"]
        ]
        env = dict(os.environ, **_service_env(service, dotenv, overrides))
        procs.append(
            subprocess.Popen(
                _argv(command),
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        yield port
    finally:
        for proc in reversed(procs):
            _stop(proc)


@pytest.mark.codex
def test_web_and_worker_commands_serve_a_healthy_stack(compose, stack):
    deadline = time.monotonic() + 60
    status, body = 0, {}
    while time.monotonic() < deadline:
        try:
            status, body = _health(stack)
            if status == 200 and body.get("workers") == 1:
                break
        except OSError:
            pass
        time.sleep(0.2)
    assert status == 200 and body["workers"] == 1 and body["redis"] is True, body
    check = [
        str(part).replace("127.0.0.1:8000", f"127.0.0.1:{stack}")
        for part in compose["services"]["web"]["healthcheck"]["test"][1:]
    ]
    check[0] = sys.executable if check[0] == "python" else check[0]
    assert subprocess.run(check, capture_output=True, check=False).returncode == 0


def test_the_dockerfiles_codex_install_step_works_as_a_plain_process(tmp_path):
    # The Dockerfile runs `codex-relay install-codex --prefix /opt/codex-cli` and
    # links the path it prints (its last word) as /usr/local/bin/codex.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "codex-relay install-codex --prefix /opt/codex-cli" in dockerfile
    assert "CODEX_RELAY_CODEX_BIN=/usr/local/bin/codex" in dockerfile
    result = subprocess.run(
        [sys.executable, "-m", "cli", "install-codex", "--prefix", str(tmp_path / "cli")],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    printed = result.stdout.split()[-1]
    link = tmp_path / "codex"
    link.symlink_to(printed)
    version = subprocess.run([str(link), "--version"], capture_output=True, text=True, check=True)
    assert "0.169.0" in version.stdout


# -- the turn sandbox in a container ----------------------------------------------

SECCOMP = ROOT / "deploy" / "worker-seccomp.json"
#: What bubblewrap needs, which Docker's default profile keeps for CAP_SYS_ADMIN.
SANDBOX_SYSCALLS = ("unshare", "clone", "clone3", "mount", "umount2", "pivot_root", "setns")
#: A sample of the global kernel state the profile keeps out of the worker's reach.
GLOBAL_STATE = ("kexec_load", "init_module", "bpf", "keyctl", "ptrace", "perf_event_open")


def test_the_worker_gets_the_least_that_runs_the_turn_sandbox(compose):
    worker = compose["services"]["worker"]
    assert worker["security_opt"] == [
        "seccomp=./deploy/worker-seccomp.json",
        "apparmor=unconfined",
        "systempaths=unconfined",
        "no-new-privileges:true",
    ]
    assert worker["cap_drop"] == ["ALL"]
    assert not {"privileged", "cap_add", "devices", "user"} & set(worker)
    web = compose["services"]["web"]
    assert not {"security_opt", "privileged", "cap_add"} & set(web)  # the web needs none


def test_the_workers_seccomp_profile_denies_global_kernel_state_only():
    profile = json.loads(SECCOMP.read_text())
    assert profile["defaultAction"] == "SCMP_ACT_ALLOW"
    (rule,) = profile["syscalls"]
    assert rule["action"] == "SCMP_ACT_ERRNO" and rule["errnoRet"] == 1
    assert set(GLOBAL_STATE) <= set(rule["names"])
    assert not set(SANDBOX_SYSCALLS) & set(rule["names"])


def test_the_image_and_ci_install_debians_bubblewrap():
    assert "bubblewrap" in (ROOT / "Dockerfile").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "command -v bwrap >/dev/null || need+=(bubblewrap)" in ci  # only when missing


#: Loads the profile's rules with libseccomp (as Docker would), shows a denied call
#: working before and refused after, drops to the image's unprivileged user, and
#: execs the worker's sandbox probe.
_UNDER_PROFILE = r"""
import ctypes, json, os, sys
lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
libc = ctypes.CDLL(None, use_errno=True)
lib.seccomp_init.restype = ctypes.c_void_p
lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
profile = json.load(open(sys.argv[1]))
keyctl = lib.seccomp_syscall_resolve_name(b"keyctl")
print("keyctl before:", libc.syscall(keyctl, 0, -4, 0) >= 0)
ctx = ctypes.c_void_p(lib.seccomp_init(ctypes.c_uint32(0x7FFF0000)))
for rule in profile["syscalls"]:
    action = 0x00050000 | rule["errnoRet"]
    for name in rule["names"]:
        number = lib.seccomp_syscall_resolve_name(name.encode())
        if number >= 0:
            assert lib.seccomp_rule_add(ctx, ctypes.c_uint32(action), number, 0) == 0, name
assert lib.seccomp_load(ctx) == 0
denied = libc.syscall(keyctl, 0, -4, 0) == -1 and ctypes.get_errno() == 1
print("keyctl after:", "EPERM" if denied else "allowed", flush=True)
os.setgroups([])
os.setgid(10001)
os.setuid(10001)
env = json.loads(sys.argv[2])
os.execve(sys.argv[3], sys.argv[3:], env)
"""


@pytest.mark.parametrize("which", ["system", "vendored"])
def test_the_sandbox_works_unprivileged_under_the_workers_seccomp_profile(codex_bin, which):
    from bootstrap.codex_home import CodexHome
    from bootstrap.sandbox import PROBE_OUTPUT, probe_launch, vendored_bwrap
    from relay.settings import load_settings

    bwrap = shutil.which("bwrap") if which == "system" else vendored_bwrap(codex_bin)
    assert bwrap, f"no {which} bwrap"
    work = Path(tempfile.mkdtemp(prefix="codex-relay-seccomp-"))
    try:
        work.chmod(0o755)  # the image's user (10001) must reach its turn directory
        settings = load_settings({"CODEX_RELAY_WORK_DIR": str(work)})
        home = CodexHome(settings, "seccomp-probe")
        launch = probe_launch(settings, codex_bin, home, bwrap)
        for path in [home.root, *home.root.rglob("*")]:
            os.chown(path, 10001, 10001)
        result = subprocess.run(
            [sys.executable, "-c", _UNDER_PROFILE, str(SECCOMP), json.dumps(launch.env)]
            + launch.argv,
            cwd=launch.cwd,
            capture_output=True,
            timeout=60,
            check=False,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = result.stdout.decode()
    assert "keyctl before: True" in out and "keyctl after: EPERM" in out
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert PROBE_OUTPUT.decode() in out
