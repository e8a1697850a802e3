"""What the operator subcommands of ``codex-relay`` do: status, sessions, cleanup, check.

:mod:`cli` parses the command line and calls one function here per
subcommand; each returns the exit code (0 success, 1 failure). Output is a
plain table, or JSON with ``--json``; colour only when stdout is a terminal
and ``NO_COLOR`` is unset.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import redis

from relay.errors import RelayError
from relay.fair_use import FairUse, human_bytes
from relay.logs import redact
from relay.overview import drop_expired_index_entries, session_row, session_rows, status_snapshot
from relay.reaper import reap_stale_turns
from relay.runtime import RelayRuntime, redis_client
from relay.settings import Settings, load_settings
from relay.turns import cancel_turn, delete_session

from .terminal import ago, bold, green, print_json, red, table

__all__ = ["cmd_check", "cmd_cleanup", "cmd_sessions", "cmd_status", "cmd_usage"]

#: Age (seconds) after which a Codex home left in the work directory is removed.
CODEX_HOME_MAX_AGE = 86_400


def _runtime() -> RelayRuntime:
    return RelayRuntime.from_settings(load_settings())


# -- status ---------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    """``codex-relay status``: queues, workers, running turns and recent failures."""
    snapshot = status_snapshot(_runtime())
    if args.json:
        print_json(snapshot)
        return 0
    now = time.time()
    print(bold("Queues"))
    print(
        table(
            ["queue", "queued", "started", "failed", "finished"],
            [
                [q["name"], q["queued"], q["started"], q["failed"], q["finished"]]
                for q in snapshot["queues"]
            ],
        )
    )
    print("\n" + bold("Workers"))
    print(
        table(
            ["worker", "state", "queues", "current job", "heartbeat"],
            [
                [
                    w["name"],
                    w["state"],
                    ",".join(w["queues"]),
                    w["current_job"],
                    ago(w["last_heartbeat"], now),
                ]
                for w in snapshot["workers"]
            ],
        )
    )
    print("\n" + bold("Running turns"))
    print(
        table(
            ["session", "user", "run", "turn", "status", "age", "last event", "tokens"],
            [
                [
                    r["session"],
                    r["user"],
                    r["runid"],
                    r["running_turn"],
                    red("stalled") if r["stalled"] else r["status"],
                    ago(r["created"], now),
                    ago(r["last_event"], now),
                    r["tokens"],
                ]
                for r in snapshot["running_turns"]
            ],
        )
    )
    print("\n" + bold("Recent failures"))
    print(
        table(
            ["job", "user", "failed", "error"],
            [
                [f["job_id"], f["user"], ago(f["ended_at"], now), f["error"][:80]]
                for f in snapshot["recent_failures"]
            ],
        )
    )
    return 0


# -- sessions -------------------------------------------------------------


def _sessions_list(rt: RelayRuntime, args: argparse.Namespace) -> int:
    rows = session_rows(rt, user=args.user)
    if args.json:
        print_json(rows)
        return 0
    now = time.time()
    print(
        table(
            ["session", "user", "run", "status", "turn", "job", "age", "last event", "tokens"],
            [
                [
                    r["session"],
                    r["user"],
                    f"{r['runid']}/{r['config']}",
                    red("stalled") if r["stalled"] else r["status"],
                    r["running_turn"] or r["turn"],
                    r["job_id"],
                    ago(r["created"], now),
                    ago(r["last_event"], now),
                    r["tokens"],
                ]
                for r in rows
            ],
        )
    )
    return 0


def _summary(event: dict[str, Any]) -> str:
    kind = event.get("type", "")
    if kind == "turn.completed":
        return f"status={event.get('status')} duration_ms={event.get('duration_ms')}"
    if kind == "error":
        return f"{event.get('code')}: {event.get('message')}"
    if kind == "usage":
        return f"in={event.get('input_tokens')} out={event.get('output_tokens')}"
    if kind.startswith("tool."):
        tool = event.get("tool") or {}
        return f"{tool.get('kind')} {tool.get('title') or ''} [{tool.get('status')}]"
    text = event.get("text") or event.get("message") or event.get("thread_id") or ""
    return str(text).replace("\n", " ")[:100]


def _sessions_show(rt: RelayRuntime, args: argparse.Namespace) -> int:
    record = rt.sessions.get(args.session_id)
    if record is None:
        print(f"codex-relay: no session {args.session_id}", file=sys.stderr)
        return 1
    rows = rt.redis.xrevrange(rt.keys.events(record.id), count=max(0, args.events))
    events = [orjson.loads(fields[b"e"]) for _, fields in reversed(rows)] if args.events else []
    row = session_row(rt, record)
    if args.json:
        print_json({"session": row, "events": events})
        return 0
    for key in (
        "session",
        "user",
        "runid",
        "config",
        "status",
        "turn",
        "running_turn",
        "job_id",
        "worker",
        "stalled",
        "tokens",
    ):
        print(f"{key + ':':<14}{'-' if row[key] is None else row[key]}")
    now = time.time()
    print(f"{'age:':<14}{ago(row['created'], now)}")
    print(f"{'last event:':<14}{ago(row['last_event'], now)} ago")
    print("\n" + bold(f"Last {len(events)} events"))
    print(
        table(
            ["id", "turn", "type", "detail"],
            [[e.get("id"), e.get("turn"), e.get("type"), _summary(e)] for e in events],
        )
    )
    return 0


def _sessions_stop(rt: RelayRuntime, args: argparse.Namespace) -> int:
    record = rt.sessions.get(args.session_id)
    if record is None:
        print(f"codex-relay: no session {args.session_id}", file=sys.stderr)
        return 1
    if not cancel_turn(rt, record):
        print(f"Session {record.id} has no running turn.")
        return 0
    print(f"Stopping turn {record.running_turn} of session {record.id}.")
    return 0


def _sessions_delete(rt: RelayRuntime, args: argparse.Namespace) -> int:
    record = rt.sessions.get(args.session_id)
    if record is None:
        print(f"codex-relay: no session {args.session_id}", file=sys.stderr)
        return 1
    delete_session(rt, record)
    print(f"Deleted session {record.id}.")
    return 0


_SESSION_ACTIONS: dict[str, Callable[[RelayRuntime, argparse.Namespace], int]] = {
    "list": _sessions_list,
    "show": _sessions_show,
    "stop": _sessions_stop,
    "delete": _sessions_delete,
}


def cmd_sessions(args: argparse.Namespace) -> int:
    """``codex-relay sessions list|show|stop|delete``."""
    return _SESSION_ACTIONS[args.action](_runtime(), args)


# -- cleanup --------------------------------------------------------------


def _old_backups(runs_root: str | None, max_age: float, now: float) -> list[Path]:
    if not runs_root or not Path(runs_root).is_dir():
        return []
    found = []
    for backups in Path(runs_root).glob("*/reports/.backups"):
        if backups.is_symlink() or not backups.is_dir():
            continue
        for path in backups.iterdir():
            if path.is_file() and not path.is_symlink() and now - path.stat().st_mtime > max_age:
                found.append(path)
    return sorted(found)


def _old_codex_homes(rt: RelayRuntime, now: float) -> list[Path]:
    base = Path(rt.settings.work_dir or tempfile.gettempdir())
    if not base.is_dir():
        return []
    busy = {session[:12] for session in rt.sessions.running_turns()}
    found = []
    for path in base.glob("codex-home-*"):
        if not path.is_dir() or path.is_symlink() or path.name[11:23] in busy:
            continue
        if now - path.stat().st_mtime > CODEX_HOME_MAX_AGE:
            found.append(path)
    return sorted(found)


def cmd_cleanup(args: argparse.Namespace) -> int:
    """``codex-relay cleanup``: stale turns, expired index entries, old backups and homes."""
    rt = _runtime()
    now = time.time()
    if args.dry_run:
        print("dry run: stale turns and expired index entries are left alone")
    else:
        reaped = reap_stale_turns(rt)
        for session, turn, outcome in reaped:
            print(f"turn {turn} of session {session}: {outcome}")
        dropped = drop_expired_index_entries(rt)
        print(
            f"reaped {len(reaped)} stale turn(s); dropped {len(dropped)} expired session(s) "
            "from the index"
        )
    backups = _old_backups(rt.settings.runs_root, args.backup_days * 86_400, now)
    for path in backups:
        if not args.dry_run:
            path.unlink(missing_ok=True)
        print(f"{'would remove' if args.dry_run else 'removed'} backup {path}")
    homes = _old_codex_homes(rt, now)
    for path in homes:
        if not args.dry_run:
            shutil.rmtree(path, ignore_errors=True)
        print(f"{'would remove' if args.dry_run else 'removed'} Codex home {path}")
    print(f"{len(backups)} old backup(s), {len(homes)} leftover Codex home(s)")
    return 0


# -- check ----------------------------------------------------------------


class _Verdicts:
    def __init__(self) -> None:
        self.failed = 0

    def item(self, name: str, ok: bool, detail: str) -> bool:
        mark = green("ok  ") if ok else red("FAIL")
        print(f"{mark}  {name:<14} {redact(detail)}")
        self.failed += 0 if ok else 1
        return ok


def _check_keys(settings: Settings) -> tuple[bool, str]:
    from cryptography.hazmat.primitives import serialization

    private, public = settings.jwt_private_key, settings.jwt_public_key
    if not private and not public:
        return False, (
            "no CODEX_RELAY_JWT_PUBLIC_KEY (workers, MCP tools) or "
            "CODEX_RELAY_JWT_PRIVATE_KEY (web) is set"
        )
    raw = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        public_pem = (
            serialization.load_pem_public_key(public.encode()).public_bytes(*raw)
            if public
            else None
        )
    except ValueError as exc:
        return False, f"CODEX_RELAY_JWT_PUBLIC_KEY is not a PEM public key ({exc})"
    if not private:
        return True, "public key only (enough for workers and MCP tools; the web app signs)"
    try:
        derived = serialization.load_pem_private_key(private.encode(), None).public_key()
    except (ValueError, TypeError) as exc:
        return False, f"CODEX_RELAY_JWT_PRIVATE_KEY is not an unencrypted PEM key ({exc})"
    if public_pem is None:
        return False, "private key set but CODEX_RELAY_JWT_PUBLIC_KEY is missing"
    if derived.public_bytes(*raw) != public_pem:
        return False, "the public key does not match the private key"
    return True, "private and public keys present and matching"


def _mcp_initialize(settings: Settings) -> tuple[bool, str]:
    """Start ``python -m mcp_tools`` over stdio with a minted token and complete ``initialize``."""
    from relay.tokens import sign_run_token

    assert settings.jwt_private_key
    with tempfile.TemporaryDirectory(prefix="codex-relay-check-") as run_dir:
        token = sign_run_token(
            settings.jwt_private_key,
            user="codex-relay-check",
            runid="check",
            config="check",
            session="0" * 32,
            tier="read",
            lifetime=60,
            run_dir=run_dir,
        )
        env = dict(
            os.environ,
            CODEX_RELAY_RUN_TOKEN=token,
            CODEX_RELAY_JWT_PUBLIC_KEY=settings.jwt_public_key or "",
        )
        env.pop("CODEX_RELAY_JWT_PRIVATE_KEY", None)
        env.pop("CODEX_RELAY_JWT_PRIVATE_KEY_FILE", None)
        request = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "codex-relay-check", "version": "1"},
            },
        }
        try:
            done = subprocess.run(
                [sys.executable, "-m", "mcp_tools"],
                input=orjson.dumps(request) + b"\n",
                capture_output=True,
                env=env,
                timeout=30,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False, "the MCP server did not answer initialize within 30 s"
    for line in done.stdout.splitlines():
        try:
            reply = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if reply.get("id") == 1 and "result" in reply:
            info = reply["result"].get("serverInfo", {})
            return True, f"stdio initialize answered by {info.get('name')} {info.get('version')}"
    tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
    return False, f"the MCP server did not complete initialize: {tail[0][:200]}"


def _check_mcp(settings: Settings) -> tuple[bool, str]:
    if importlib.util.find_spec("mcp_tools") is None:
        return False, "the mcp_tools package is not importable"
    if settings.jwt_private_key and settings.jwt_public_key:
        return _mcp_initialize(settings)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mcp_tools", "--help"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, "python -m mcp_tools --help hung"
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        return False, f"python -m mcp_tools --help exited {done.returncode}: {tail[0][:200]}"
    return True, (
        "python -m mcp_tools starts (no private key here, so no stdio initialize; "
        f"transport {settings.mcp_transport})"
    )


def _of(used: str, limit: str, over: bool) -> str:
    text = f"{used} / {limit}"
    return red(text) if over else text


def cmd_usage(args: argparse.Namespace) -> int:
    """``codex-relay usage``: each user's sessions, stored bytes and tokens against the limits."""
    fair = FairUse(_runtime())
    rows = [fair.usage(args.user)] if args.user else fair.all_usage()
    if args.json:
        print_json([row.as_dict() for row in rows])
        return 0
    budget = fair.settings.daily_token_budget
    print(
        table(
            ["user", "sessions", "stored", f"tokens today ({rows[0].day if rows else 'UTC'})"],
            [
                [
                    u.user,
                    _of(str(u.sessions), str(u.max_sessions), u.sessions >= u.max_sessions),
                    _of(
                        human_bytes(u.stored_bytes),
                        human_bytes(u.max_stored_bytes),
                        u.stored_bytes >= u.max_stored_bytes,
                    ),
                    _of(
                        f"{u.tokens_today:,}",
                        f"{budget:,}" if budget else "no budget",
                        bool(budget) and u.tokens_today >= budget,
                    ),
                ]
                for u in rows
            ],
        )
    )
    return 0


def _check_sandbox(settings: Settings, codex_path: str) -> tuple[bool, str]:
    from bootstrap.sandbox import OFF_WARNING, probe_sandbox

    if settings.turn_sandbox == "off":
        return True, OFF_WARNING
    try:
        info = probe_sandbox(settings, codex_path)
    except RelayError as exc:
        return False, exc.message
    return True, f"bubblewrap at {info.bwrap} ({info.origin}), Codex's sandbox nested inside"


def cmd_check(args: argparse.Namespace) -> int:
    """``codex-relay check``: one verdict per item; exit 1 if any failed."""
    from bootstrap.codex_binary import locate_codex, probe_codex
    from bootstrap.worker import check_runner_policy

    verdicts = _Verdicts()
    try:
        settings = load_settings()
    except RelayError as exc:
        verdicts.item("configuration", False, exc.message)
        return 1
    verdicts.item(
        "configuration",
        True,
        f"loaded (key prefix {settings.key_prefix!r}, MCP transport {settings.mcp_transport})",
    )
    if not settings.redis_url:
        verdicts.item("redis", False, "REDIS_URL is not set")
    else:
        try:
            client = redis_client(settings.redis_url)
            version = client.info("server").get("redis_version")
            verdicts.item("redis", True, f"{settings.redis_url} (Redis {version})")
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as exc:
            verdicts.item("redis", False, f"{settings.redis_url} unreachable: {exc}")
    codex_path = None
    try:
        check_runner_policy(settings)  # what a worker checks first
        app_server = settings.runner == "app-server"
        codex = probe_codex(locate_codex(settings.codex_bin), app_server=app_server)
        codex_path = codex.path
        detail = f"Codex CLI {codex.version} at {codex.path} (runner {settings.runner})"
        verdicts.item("codex", True, detail)
    except RelayError as exc:
        verdicts.item("codex", False, exc.message)
    if codex_path is not None:  # the sandbox's probe runs Codex in it
        verdicts.item("sandbox", *_check_sandbox(settings, codex_path))
    verdicts.item("keys", *_check_keys(settings))
    ok, detail = _check_mcp(settings)
    if settings.mcp_transport == "off":
        detail += " (CODEX_RELAY_MCP_TRANSPORT=off: Codex gets no MCP tools)"
    verdicts.item("mcp", ok, detail)
    if verdicts.failed:
        print(red(f"{verdicts.failed} check(s) failed"))
        return 1
    print(green("all checks passed"))
    return 0
