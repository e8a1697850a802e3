"""Where an app-server turn's start goes: spawn + initialize, thread/start (with and
without the MCP tools), turn/start, and the model's first text.

Each round drives one ``codex app-server`` exactly as the worker does
(:func:`bootstrap.warm_app_server.start_slot` for spawn and handshake, then
:class:`relay.app_server_turn.AppServerTurn` over :class:`bootstrap.codex_process.CodexProcess`)
against the scripted model in this process, and stamps each step. Rounds
alternate between a thread without MCP tools and one with the project's
streamable-HTTP tools server (a bearer token in the thread's config, as the
runner sends it). The warm start hides the first row; the rest is what a turn
still waits for.

Baseline in the same run: ``codex --version`` (the cost of starting the binary
at all), interleaved.

Run: ``python -m benchmarks.app_server_startup``
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bootstrap.codex_binary import locate_codex, probe_codex
from bootstrap.codex_home import McpRegistration, mcp_server_table
from bootstrap.mcp_registration import MCP_TOOLS
from bootstrap.warm_app_server import start_slot
from cli.embedded_redis import EmbeddedRedis
from devmodel import DevModelServer, codex_model_catalog
from relay.app_server_normalise import AppServerNormaliser
from relay.app_server_turn import AppServerTurn, TurnPlan
from relay.jsonl import JsonLinesDecoder
from relay.settings import load_settings
from relay.tokens import generate_keypair, sign_run_token

from ._common import machine_line, percentile, print_table
from ._stack import load_line

ROUNDS = 16


def _version_spawn(codex: str) -> float:
    start = time.perf_counter()
    subprocess.run([codex, "--version"], capture_output=True, check=True)
    return time.perf_counter() - start


def one_round(settings: Any, run_dir: Path, config: dict[str, Any]) -> dict[str, float]:
    """Spawn and initialise (as the warm start does), then one turn; seconds per step."""
    start = time.perf_counter()
    slot = start_slot(settings)
    stamps = {"spawn + initialize": time.perf_counter() - start}
    proc = slot.process.proc
    assert proc is not None and proc.stdout is not None
    plan = TurnPlan(cwd=str(run_dir), prompt="#scenario:hello", sandbox=settings.sandbox,
                    model=settings.model, config=config, initialised=True)  # fmt: skip
    turn = AppServerTurn(plan, AppServerNormaliser())
    decoder = JsonLinesDecoder()
    t0 = time.perf_counter()
    slot.process.write(turn.start())
    data = slot.pending
    try:
        while "first text" not in stamps:
            if not data:
                data = os.read(proc.stdout.fileno(), 65536)
                if not data:
                    raise RuntimeError("Codex exited")
            lines, data = decoder.feed(data), b""
            for obj in lines:
                before = turn.state
                step = turn.receive(obj)
                slot.process.write(step.send)
                now = time.perf_counter() - t0
                if before == "starting_thread" and turn.state != before:
                    stamps["thread/start"] = now
                if before == "starting_turn" and turn.state == "running":
                    stamps["turn/start (answer)"] = now - stamps["thread/start"]
                if any(kind == "message.delta" for kind, _ in step.events):
                    stamps["first text"] = now - stamps["thread/start"]
                if step.ended and turn.failure:
                    raise RuntimeError(str(turn.failure))
    finally:
        slot.process.stop()
        proc.wait()
        slot.home.remove()
    return stamps


def main() -> None:
    """Alternate rounds with and without MCP tools; print p50/p95 per step."""
    print("== app-server: where a turn's start goes (issue 11) ==")
    print(machine_line())
    codex = probe_codex(locate_codex(None), app_server=True)
    print(f"Codex CLI {codex.version}; before: {load_line()}")
    with (
        tempfile.TemporaryDirectory(prefix="bench-start-") as tmp_name,
        EmbeddedRedis() as redis_server,
        DevModelServer() as model,
    ):
        tmp = Path(tmp_name)
        catalog = tmp / "catalog.json"
        catalog.write_text(json.dumps(codex_model_catalog()))
        run_dir = tmp / "run"
        run_dir.mkdir()
        private_key, public_key = generate_keypair()
        env = {"REDIS_URL": redis_server.url, "CODEX_RELAY_JWT_PUBLIC_KEY": public_key}
        os.environ.update(env)
        from mcp_tools.http_server import start_http_subprocess

        tools = start_http_subprocess("127.0.0.1", 0)
        settings = load_settings({
            "CODEX_RELAY_CODEX_BIN": codex.path, "CODEX_RELAY_MODEL_BASE_URL": model.base_url,
            "CODEX_RELAY_MODEL": "devmodel", "CODEX_RELAY_MODEL_CATALOG": str(catalog),
            "CODEX_RELAY_MODEL_MAX_RETRIES": "0", "CODEX_RELAY_WORK_DIR": str(tmp / "work"),
            "CODEX_RELAY_SANDBOX": "danger-full-access",
        })  # fmt: skip
        token = sign_run_token(private_key, user="bench", runid="run", config="default",
                               session="s" * 32, tier="read", lifetime=600,
                               run_dir=str(run_dir))  # fmt: skip
        registration = McpRegistration(transport={"url": tools.url}, tools=MCP_TOOLS)
        with_tools = {"mcp_servers": {"codex_relay": mcp_server_table(registration, token)}}
        rounds: dict[str, list[dict[str, float]]] = {"no tools": [], "MCP tools": []}
        baseline: list[float] = []
        try:
            for index in range(ROUNDS + 2):
                for name, config in (("no tools", {}), ("MCP tools", with_tools)):
                    stamps = one_round(settings, run_dir, config)
                    if index >= 2:
                        rounds[name].append(stamps)
                baseline.append(_version_spawn(codex.path))
        finally:
            tools.stop()
    base50 = percentile(baseline[2:], 50)
    rows = []
    for step in ("spawn + initialize", "thread/start", "turn/start (answer)", "first text"):
        for name, samples in rounds.items():
            values = [s[step] for s in samples]
            p50, p95 = percentile(values, 50), percentile(values, 95)
            rows.append(
                [
                    f"{step} ({name})",
                    f"{p50 * 1000:.0f}",
                    f"{p95 * 1000:.0f}",
                    f"{p50 / base50:.1f}x",
                ]
            )
    rows.append(["baseline: codex --version (spawn)", f"{base50 * 1000:.0f}",
                 f"{percentile(baseline[2:], 95) * 1000:.0f}", "1.0x"])  # fmt: skip
    print_table(f"app-server start, N={ROUNDS} rounds each", ["step (ms)", "p50", "p95",
                "vs spawn"], rows)  # fmt: skip
    print("turn/start and first text are counted from the thread/start answer; the warm start "
          "takes 'spawn + initialize' off a turn's path.")  # fmt: skip
    print(f"after: {load_line()}")


if __name__ == "__main__":
    main()
