"""Shared fixtures: a real Redis server, the real Codex CLI, the scripted model.

Nothing here is a mock. ``redis_server`` is a Redis process for the whole
session (a fresh, flushed database per test); ``codex_bin`` is the pinned
Codex binary (installed by ``make setup``); ``devmodel`` is the project's
scripted Responses-API server (``devmodel``), the stand-in for a model
provider. ``relay_env`` points the relay's settings at all three through
environment variables, exactly as a deployed worker would see them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from bootstrap.codex_binary import SUPPORTED_VERSIONS, installed_binary, locate_codex, probe_codex
from cli.embedded_redis import EmbeddedRedis
from devmodel import DevModelServer, codex_model_catalog
from relay.runtime import RelayRuntime
from relay.session_store import SessionRecord
from relay.settings import Settings, load_settings
from relay.tokens import generate_keypair, sign_run_token
from relay.turns import start_turn

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def redis_server(request: pytest.FixtureRequest) -> Iterator[EmbeddedRedis]:
    """A real Redis server process for the test session (one per version asked for).

    Parametrised indirectly with a name from ``redis_versions.REDIS_SERVERS``
    (``EACH_REDIS``), it runs that server and checks its version; a missing
    one fails the test, never skips it.
    """
    which = getattr(request, "param", None)
    binary = None
    if which is not None:
        from redis_versions import REDIS_SERVERS

        binary = REDIS_SERVERS[which]()
        if not binary:
            pytest.fail(f"{which}: no such redis-server here (apt-get install redis-server)")
    with EmbeddedRedis(binary=binary) as server:
        if which is not None:
            version = redis.Redis.from_url(server.url).info("server")["redis_version"]
            assert version.startswith(which.removeprefix("redis-")), (which, version)
        yield server


@pytest.fixture
def redis_client(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    """A client on a flushed database."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def codex_bin() -> str:
    """The pinned Codex CLI; the suite fails (not skips) when it is missing."""
    return probe_codex(locate_codex(os.environ.get("CODEX_RELAY_CODEX_BIN"))).path


@pytest.fixture(scope="session")
def devmodel() -> Iterator[DevModelServer]:
    """The scripted model server (a stand-in for a model provider)."""
    with DevModelServer() as server:
        yield server


@pytest.fixture(scope="session")
def keypair() -> tuple[str, str]:
    """An Ed25519 key pair for run tokens: ``(private_pem, public_pem)``."""
    return generate_keypair()


@pytest.fixture(scope="session")
def model_catalog(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Codex model catalog describing the scripted model."""
    path = tmp_path_factory.mktemp("catalog") / "models.json"
    path.write_text(json.dumps(codex_model_catalog()))
    return str(path)


@pytest.fixture
def relay_env(
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
    redis_server: EmbeddedRedis,
    codex_bin: str,
    devmodel: DevModelServer,
    keypair: tuple[str, str],
    model_catalog: str,
    tmp_path: Path,
) -> dict[str, str]:
    """Environment variables that configure the relay for a test (also set in os.environ)."""
    env = {
        "REDIS_URL": redis_server.url,
        "CODEX_RELAY_CODEX_BIN": codex_bin,
        "CODEX_RELAY_MODEL_BASE_URL": devmodel.base_url,
        "CODEX_RELAY_MODEL": "devmodel",
        "CODEX_RELAY_MODEL_CATALOG": model_catalog,
        "CODEX_RELAY_MODEL_MAX_RETRIES": "0",
        "CODEX_RELAY_JWT_PUBLIC_KEY": keypair[1],
        "CODEX_RELAY_WORK_DIR": str(tmp_path / "work"),
        "CODEX_RELAY_MCP_TRANSPORT": "off",
        "CODEX_RELAY_TURN_TIMEOUT": "60",
        "CODEX_RELAY_IDLE_TIMEOUT": "30",
        "CODEX_RELAY_KILL_GRACE": "0.5",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture(scope="session")
def stack_base_env(
    redis_server: EmbeddedRedis,
    codex_bin: str,
    devmodel: DevModelServer,
    keypair: tuple[str, str],
    model_catalog: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    """The environment of a stack run as processes (what ``relay_env`` sets, session-wide)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEX_RELAY_", "REDIS_URL"))}
    env.update(
        {
            "CODEX_RELAY_CODEX_BIN": codex_bin,
            "CODEX_RELAY_MODEL_BASE_URL": devmodel.base_url,
            "CODEX_RELAY_MODEL": "devmodel",
            "CODEX_RELAY_MODEL_CATALOG": model_catalog,
            "CODEX_RELAY_MODEL_MAX_RETRIES": "0",
            "CODEX_RELAY_MCP_TRANSPORT": "http",
            "CODEX_RELAY_TURN_TIMEOUT": "60",
            "CODEX_RELAY_IDLE_TIMEOUT": "45",
            "CODEX_RELAY_KILL_GRACE": "0.5",
            "CODEX_RELAY_WORK_DIR": str(tmp_path_factory.mktemp("stack-work")),
        }
    )
    return env


@pytest.fixture(scope="session")
def stack_env(
    stack_base_env: dict[str, str], redis_server: EmbeddedRedis, keypair: tuple[str, str]
) -> Any:
    """``stack_env(db, runs)``: a stack's environment on Redis database ``db`` (flushed),
    with the sample run in ``runs``."""
    from cli.demo_app import ensure_sample_run

    def make(db: int, runs: Path) -> dict[str, str]:
        ensure_sample_run(runs)
        url = redis_server.url.rsplit("/", 1)[0] + f"/{db}"
        redis.Redis.from_url(url).flushdb()
        return stack_base_env | {
            "REDIS_URL": url,
            "CODEX_RELAY_RUNS_ROOT": str(runs),
            "CODEX_RELAY_JWT_PUBLIC_KEY": keypair[1],
        }

    return make


@pytest.fixture
def settings(relay_env: dict[str, str]) -> Settings:
    """Settings as a worker with ``relay_env`` would load them."""
    return load_settings()


@pytest.fixture
def runtime(settings: Settings, redis_client: redis.Redis) -> RelayRuntime:
    """A relay runtime on the test's Redis database."""
    return RelayRuntime.from_settings(settings)


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """Two runs side by side under a runs root, and a worker work directory, as on a host."""
    runs = tmp_path / "runs"
    for name, text in (("run-1", "mine"), ("run-2", "theirs: secret-of-run-2")):
        (runs / name / "reports").mkdir(parents=True)
        (runs / name / "reports" / "summary.md").write_text(f"# {name}\n\n{text}\n")
    return {"runs": runs, "run": runs / "run-1", "other": runs / "run-2", "work": tmp_path / "work"}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A small run directory: inputs, a log and a markdown report."""
    run = tmp_path / "runs" / "run-1"
    (run / "inputs").mkdir(parents=True)
    (run / "logs").mkdir()
    (run / "reports").mkdir()
    (run / "inputs" / "config.yaml").write_text("learning_rate: 0.01\nepochs: 3\n")
    (run / "logs" / "train.log").write_text("epoch 1 loss 0.9\nepoch 2 loss 0.5\n")
    (run / "reports" / "summary.md").write_text(
        "# Summary\n\n## Introduction\n\nOld intro.\n\n## Results\n\nLoss fell.\n"
    )
    return run


class TurnDriver:
    """Start turns and run them through a real RQ worker; read the events back."""

    def __init__(self, rt: RelayRuntime, run_dir: Path, private_key: str) -> None:
        self.rt = rt
        self.run_dir = run_dir
        self.private_key = private_key

    def new_session(self, user: str = "alice", tier: str = "edit") -> SessionRecord:
        """A fresh session of ``user`` on the test run."""
        return self.rt.sessions.create(user, self.run_dir.name, "default", tier, str(self.run_dir))

    def start(self, record: SessionRecord, message: str) -> int:
        """Queue a turn (as the web route does, with the configured approval policy)."""
        fresh = self.rt.sessions.get(record.id) or record

        def mint(turn: int) -> str:
            return sign_run_token(
                self.private_key,
                user=fresh.user,
                runid=fresh.runid,
                config=fresh.config,
                session=fresh.id,
                tier=fresh.tier,
                lifetime=120,
                run_dir=fresh.run_dir,
            )

        policy = load_settings().approval_policy
        turn, _ = start_turn(self.rt, fresh, message, mint, approval_policy=policy)
        return turn

    def work(
        self, *extra_env: dict[str, str], timeout: float = 90
    ) -> subprocess.CompletedProcess[str]:
        """Run a real worker process in burst mode until the queue is empty."""
        env = dict(os.environ)
        for more in extra_env:
            env.update(more)
        return subprocess.run(
            [sys.executable, "-m", "cli", "worker", "--burst"],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def spawn_worker(self, *extra_env: dict[str, str]) -> subprocess.Popen[str]:
        """A long-running worker process (the caller stops it)."""
        env = dict(os.environ)
        for more in extra_env:
            env.update(more)
        log = tempfile.NamedTemporaryFile(prefix="worker-", suffix=".log", delete=False)
        with log:
            return subprocess.Popen(
                [sys.executable, "-m", "cli", "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )

    def events(self, record: SessionRecord, turn: int | None = None) -> list[dict[str, Any]]:
        """The session's events (of one turn, if given), decoded."""
        out = [orjson.loads(e.data) for e in self.rt.events.read(record.id, count=100_000)]
        return [e for e in out if turn is None or e["turn"] == turn]

    def types(self, record: SessionRecord, turn: int | None = None) -> list[str]:
        """Just the event types, in order."""
        return [e["type"] for e in self.events(record, turn)]

    def wait_for(
        self, record: SessionRecord, type_: str, timeout: float = 30, turn: int | None = None
    ) -> dict[str, Any]:
        """Poll the log until an event of ``type_`` appears."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events(record, turn):
                if event["type"] == type_:
                    return event
            time.sleep(0.05)
        raise AssertionError(f"no {type_} event within {timeout} s: {self.types(record)}")


@pytest.fixture
def turns(runtime: RelayRuntime, run_dir: Path, keypair: tuple[str, str]) -> TurnDriver:
    """A :class:`TurnDriver` on the test's runtime and run directory."""
    return TurnDriver(runtime, run_dir, keypair[0])


def _proc_stat(pid: int) -> tuple[bytes, int] | None:
    """``(state, parent pid)`` of a process, or ``None`` when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def codex_processes(binaries: Iterable[str], under: Path | None = None) -> list[int]:
    """Pids of running ``codex exec`` / ``codex app-server`` processes of ``binaries``.

    Only those working in ``under`` (by their current directory), when given.
    A worker keeps one idle, warm app-server ready for its next turn: one such
    child of a live worker is not a leftover, and is left out.
    """
    wanted = {b.encode() for b in binaries}
    found, warm = [], {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            cwd = Path(os.readlink(f"/proc/{entry}/cwd"))
        except OSError:
            continue
        stat = _proc_stat(int(entry))
        if stat is None or stat[0] == b"Z" or argv[0] not in wanted:
            continue
        if len(argv) < 2 or argv[1] not in (b"exec", b"app-server"):
            continue
        if under is not None and not cwd.is_relative_to(under):
            continue
        if argv[1] == b"app-server" and cwd.name.startswith("codex-home-warm-"):
            warm.setdefault(stat[1], []).append(int(entry))
            continue
        found.append(int(entry))
    for parent, pids in warm.items():
        try:
            parent_argv = Path(f"/proc/{parent}/cmdline").read_bytes()
        except OSError:
            parent_argv = b""
        if b"worker" in parent_argv and len(pids) == 1:
            continue  # the worker's one warm app-server, waiting for its next turn
        found.extend(pids)
    return found


def codex_binaries(pinned: str) -> list[str]:
    """Every Codex binary the tests may run: the pinned one and the other supported versions."""
    return [pinned, *(str(installed_binary(v)) for v in SUPPORTED_VERSIONS[1:])]


@pytest.fixture(autouse=True)
def _no_leftover_codex(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Every test that runs Codex must leave no Codex process behind."""
    runs_codex = "codex_bin" in request.fixturenames
    binaries = codex_binaries(request.getfixturevalue("codex_bin")) if runs_codex else []
    yield
    if not runs_codex:
        return
    # Only this test session's Codex processes: they work in its temporary directories.
    ours = tmp_path_factory.getbasetemp()
    deadline = time.monotonic() + 3
    while codex_processes(binaries, ours):
        if time.monotonic() > deadline:
            raise AssertionError(f"Codex processes left running: {codex_processes(binaries, ours)}")
        time.sleep(0.1)


@pytest.fixture
def make_app(relay_env: dict[str, str], keypair: tuple[str, str], run_dir: Path) -> Any:
    """A factory of the demo host app (``cli.demo_app``) over the test run's root.

    It reads the environment when called (so a test may change settings
    first); ``config`` adds or overrides ``app.config`` keys. Only the web app
    gets the private key (through its config), as in production.
    """
    from cli.demo_app import create_app

    def factory(**config: Any) -> Any:
        return create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "test-secret",
                "CODEX_RELAY_JWT_PRIVATE_KEY": keypair[0],
                "CODEX_RELAY_RUNS_ROOT": str(run_dir.parent),
                **config,
            }
        )

    return factory


@pytest.fixture
def app(make_app: Any) -> Any:
    """The demo host app over the test run's root (see :func:`make_app`)."""
    return make_app()


@pytest.fixture
def client(app: Any) -> Any:
    """A Flask test client of :func:`app`."""
    return app.test_client()


class AuthActions:
    """Log test clients in and out of the demo app (flaskr's helper)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def login(self, user: str = "alice") -> Any:
        return self.client.post("/demo/login", json={"user": user})

    def logout(self) -> Any:
        return self.client.post("/demo/logout")


@pytest.fixture
def auth(client: Any) -> AuthActions:
    """Log the test client in as a demo user."""
    return AuthActions(client)
