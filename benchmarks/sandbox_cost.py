"""What the turn sandbox costs: the same Codex turn with and without it, interleaved.

Each sample runs the real Codex CLI against the scripted model exactly as the
worker launches it (:func:`bootstrap.sandbox.turn_launch`: the same
``config.toml``, environment, argv and prompt) in a fresh turn home, once
with ``CODEX_RELAY_TURN_SANDBOX=on`` (``bwrap`` around Codex) and once with
``off``; Codex's own sandbox (``workspace-write``) is on in both. The clock
runs from spawn to exit, stdout read to the end. Runs alternate which
variant goes first. Two turns: a text-only answer (scenario ``hello``) and
one shell command (``echo``), which also starts Codex's own sandbox nested
inside the turn's. A third row times ``bwrap`` alone around ``/bin/true``
against ``/bin/true`` spawned directly.

Run: ``python -m benchmarks.sandbox_cost``
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from bootstrap.codex_binary import locate_codex, probe_codex
from bootstrap.codex_command import CodexLaunch
from bootstrap.codex_home import CodexHome
from bootstrap.sandbox import find_bwrap, sandboxed, turn_launch
from devmodel import DevModelServer, codex_model_catalog
from relay.settings import Settings, load_settings
from relay.turns import TurnRequest

from ._common import machine_line, percentile, print_table
from ._stack import load_line

RUNS = 30
WARMUP = 2
TARGET_MS = 30.0
TIMEOUT = 60.0


def _request(run_dir: Path, message: str) -> TurnRequest:
    return TurnRequest(
        session="bench-sandbox", turn=1, user="bench", runid=run_dir.name, config="default",
        tier="edit", run_dir=str(run_dir), message=message, token="",
    )  # fmt: skip


def codex_turn(settings: Settings, run_dir: Path, message: str, codex_path: str) -> float:
    """Seconds from spawning the turn's launch to its exit (stdout read to the end)."""
    home = CodexHome(settings, "bench-sandbox")
    try:
        launch = turn_launch(settings, home, _request(run_dir, message), codex_path, None)
        start = time.perf_counter()
        codex = subprocess.Popen(
            launch.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=launch.env, cwd=launch.cwd,
        )  # fmt: skip
        assert codex.stdin is not None and codex.stdout is not None
        codex.stdin.write(launch.stdin)
        codex.stdin.close()
        output = codex.stdout.read()
        returncode = codex.wait(TIMEOUT)
        elapsed = time.perf_counter() - start
        codex.stdout.close()
        if returncode != 0 or b'"turn.completed"' not in output:
            raise RuntimeError(f"the turn ended badly (status {returncode})")
        if b"command_execution" in output and b'"exit_code":0' not in output:
            raise RuntimeError("the shell command failed")
        return elapsed
    finally:
        home.remove()


def true_alone(settings: Settings, run_dir: Path, codex_path: str, boxed: bool) -> float:
    """Seconds to run ``/bin/true``, in a turn sandbox or not."""
    home = CodexHome(settings, "bench-sandbox")
    try:
        launch = CodexLaunch(["/bin/true"], {"PATH": "/usr/bin:/bin"}, str(run_dir), b"")
        if boxed:
            bwrap, _ = find_bwrap(settings, codex_path)
            launch = sandboxed(
                launch, settings, run_dir=str(run_dir), tier="edit", home=home, bwrap=bwrap
            )
        start = time.perf_counter()
        subprocess.run(launch.argv, env=launch.env, cwd=launch.cwd, check=True)
        return time.perf_counter() - start
    finally:
        home.remove()


def interleaved(
    on: Callable[[], float], off: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """``RUNS`` samples of each after ``WARMUP``, alternating which goes first."""
    with_box: list[float] = []
    without: list[float] = []
    for index in range(WARMUP + RUNS):
        if index % 2 == 0:
            a, b = on(), off()
        else:
            b, a = off(), on()
        if index >= WARMUP:
            with_box.append(a)
            without.append(b)
    return with_box, without


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _row(label: str, on: list[float], off: list[float]) -> list[str]:
    paired = statistics.median(a - b for a, b in zip(on, off, strict=True))
    return [
        label, _ms(percentile(on, 50)), _ms(percentile(on, 95)), _ms(percentile(off, 50)),
        _ms(percentile(off, 95)), _ms(percentile(on, 50) - percentile(off, 50)),
        _ms(percentile(on, 95) - percentile(off, 95)), _ms(paired), f"< {TARGET_MS:g}",
    ]  # fmt: skip


def main() -> None:
    """Time both variants of each turn; print p50/p95 and what the sandbox adds."""
    print("== turn sandbox cost: the same Codex turn with and without bwrap around it ==")
    logging.getLogger("codex_relay.sandbox").setLevel(logging.ERROR)  # the opt-out's warning
    print(machine_line())
    codex = probe_codex(locate_codex(None))
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-sandbox-")))
        model = stack.enter_context(DevModelServer())
        model.add_scenario("bench_echo", [{"shell": "echo sandboxed"}, {"say": "done"}])
        catalog = tmp / "catalog.json"
        catalog.write_text(json.dumps(codex_model_catalog()))
        env = {
            "CODEX_RELAY_MODEL_BASE_URL": model.base_url,
            "CODEX_RELAY_MODEL": "devmodel",
            "CODEX_RELAY_MODEL_CATALOG": str(catalog),
            "CODEX_RELAY_MODEL_MAX_RETRIES": "0",
            "CODEX_RELAY_WORK_DIR": str(tmp / "work"),
            "CODEX_RELAY_MCP_TRANSPORT": "off",
        }
        on = load_settings({**os.environ, **env, "CODEX_RELAY_TURN_SANDBOX": "on"})
        off = on.replace(turn_sandbox="off")
        bwrap, origin = find_bwrap(on, codex.path)
        print(f"Codex CLI {codex.version}; bwrap {bwrap} ({origin}); Codex sandbox workspace-write")
        run_dir = tmp / "runs" / "run-1"
        (run_dir / "reports").mkdir(parents=True)
        (run_dir / "reports" / "summary.md").write_text("# Summary\n\nLoss fell.\n")
        rows = []
        for label, message in (
            ("text-only turn (hello)", "#scenario:hello"),
            ("turn with one shell command", "#scenario:bench_echo"),
        ):
            with_box, without = interleaved(
                lambda m=message: codex_turn(on, run_dir, m, codex.path),
                lambda m=message: codex_turn(off, run_dir, m, codex.path),
            )
            rows.append(_row(label, with_box, without))
        with_box, without = interleaved(
            lambda: true_alone(on, run_dir, codex.path, True),
            lambda: true_alone(on, run_dir, codex.path, False),
        )
        rows.append(_row("/bin/true alone", with_box, without))
    header = [
        "ms", "on p50", "on p95", "off p50", "off p95", "added p50", "added p95",
        "paired median", "target",
    ]  # fmt: skip
    print_table(f"N={RUNS} each, interleaved, after {WARMUP} warm-up pairs", header, rows)
    print("\nadded = on - off (same percentile); paired median = median of per-pair differences.")
    print(load_line())


if __name__ == "__main__":
    main()
