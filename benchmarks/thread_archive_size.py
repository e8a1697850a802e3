"""What a long Codex thread weighs in the archive: the figure behind the archive cap.

One session of :data:`TURNS` turns through a real ``codex-relay worker`` (the
real Codex CLI against the scripted model), each turn resuming the thread
from the Redis archive as in production. The turns alternate between a
shell command with about 2 KB of output followed by an answer, and a
markdown answer of about 1 KB, with a user message of about 200 characters:
a busy conversation, not a worst case. After every tenth turn it prints the
thread's rollout size (uncompressed, what ``CODEX_RELAY_MAX_THREAD_ARCHIVE_BYTES``
caps) and the gzip archive Redis keeps, beside the cap.

Run: ``python -m benchmarks.thread_archive_size``
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from contextlib import ExitStack
from pathlib import Path

from cli.embedded_redis import EmbeddedRedis
from devmodel import DevModelServer, codex_model_catalog
from relay.runtime import RelayRuntime
from relay.settings import load_settings
from relay.tokens import generate_keypair, sign_run_token
from relay.turns import start_turn

from ._common import machine_line, print_table
from ._stack import relay_environment
from .turn_overhead import running_worker, wait_until_idle

TURNS = 50
_ANSWER = "## Findings\n\n" + "\n".join(
    f"- item {n}: the loss fell from 0.{90 - n} to 0.{80 - n} after epoch {n}." for n in range(16)
)
_MESSAGE = (
    "Please look at the training log again and tell me whether the learning rate "
    "schedule still makes sense after the last change; compare it with the earlier "
    "runs and keep the answer short. "
)


def _archive_sizes(rt: RelayRuntime, session: str) -> tuple[int, int]:
    """``(uncompressed rollout bytes, archive bytes)`` of the session's thread."""
    data = rt.redis.get(rt.keys.codex_state(session)) or b""
    if not data:
        return 0, 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        raw = sum(member.size for member in tar.getmembers())
    return raw, len(data)


def main() -> None:
    """Run the session and print its size every ten turns."""
    print(f"== thread archive size: one session of {TURNS} turns ==")
    print(machine_line())
    rows: list[list[str]] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-archive-")))
        server = stack.enter_context(EmbeddedRedis())
        model = stack.enter_context(DevModelServer())
        model.add_scenario("busy_shell", [{"shell": "ls -la /usr/bin | head -40"}, {"say": "ok"}])
        model.add_scenario("busy_text", [{"say": _ANSWER}])
        catalog = tmp / "catalog.json"
        catalog.write_text(json.dumps(codex_model_catalog()))
        private_key, public_key = generate_keypair()
        env = relay_environment(
            server.url, model.base_url, str(catalog), public_key, str(tmp / "work")
        )
        settings = load_settings({**os.environ, **env})
        rt = RelayRuntime.from_settings(settings)
        run_dir = tmp / "runs" / "run-1"
        run_dir.mkdir(parents=True)
        worker = stack.enter_context(running_worker(env, tmp / "worker.log"))
        record = rt.sessions.create("bench", "run-1", "default", "edit", str(run_dir))

        def mint(turn: int) -> str:
            return sign_run_token(
                private_key, user="bench", runid="run-1", config="default",
                session=record.id, tier="edit", lifetime=120, run_dir=str(run_dir),
            )  # fmt: skip

        for turn in range(1, TURNS + 1):
            wait_until_idle(rt, worker)
            scenario = "busy_shell" if turn % 2 else "busy_text"
            start_turn(
                rt, rt.sessions.get(record.id) or record, f"#scenario:{scenario} {_MESSAGE}", mint
            )
            final = None
            last = "0-0"
            while final is None:
                for stored in rt.events.wait(record.id, last, block_ms=60_000):
                    last = stored.id
                    event = json.loads(stored.data)
                    if event["type"] == "turn.completed" and event["turn"] == turn:
                        final = event
            if final["status"] != "completed":
                raise RuntimeError(f"turn {turn} ended {final['status']}")
            if turn % 10 == 0:
                raw, packed = _archive_sizes(rt, record.id)
                rows.append([str(turn), f"{raw / 1024:,.0f}", f"{packed / 1024:,.0f}"])
        thread = (rt.sessions.get(record.id) or record).thread_id
        rt.redis.close()
    cap = settings.max_thread_archive_bytes
    print_table(
        f"rollout of thread {thread} (cap {cap / 1024:,.0f} KiB uncompressed)",
        ["turns", "rollout KiB", "gzip archive KiB"],
        rows,
    )
    print(
        f"\nthe cap is {cap / (int(rows[-1][1].replace(',', '')) * 1024):.1f}x the "
        f"{TURNS}-turn rollout"
    )


if __name__ == "__main__":
    main()
