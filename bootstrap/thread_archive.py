"""Keep a Codex thread resumable from any worker: archive its files in Redis.

``codex exec resume <thread>`` needs ``$CODEX_HOME/sessions/**/rollout-*-<thread>.jsonl``
from the earlier turns. Workers run each turn in a fresh home, possibly on
another machine, so after a turn the rollout files are packed (tar + gzip)
into ``relay:codex-state:<session>`` and unpacked into the next turn's home.
Extraction uses tarfile's ``data`` filter: no absolute paths, no ``..``, no
links out of the directory.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import redis

__all__ = ["restore_thread", "save_thread"]


def save_thread(
    client: redis.Redis, key: str, sessions_dir: Path, ttl: int, max_bytes: int
) -> bool:
    """Archive ``sessions_dir`` under ``key``; ``False`` if there was nothing or it was too big."""
    files = sorted(p for p in sessions_dir.rglob("*.jsonl") if p.is_file())
    if not files:
        return False
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=3) as tar:
        for path in files:
            tar.add(path, arcname=str(path.relative_to(sessions_dir)))
    data = buffer.getvalue()
    if len(data) > max_bytes:
        client.delete(key)
        return False
    client.set(key, data, ex=ttl)
    return True


def restore_thread(client: redis.Redis, key: str, sessions_dir: Path, thread_id: str) -> bool:
    """Unpack the archive into ``sessions_dir``; ``True`` if ``thread_id``'s rollout is there."""
    data = client.get(key)
    if not data:
        return False
    sessions_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(sessions_dir, filter="data")
    except (tarfile.TarError, OSError, EOFError):
        return False
    return any(sessions_dir.rglob(f"rollout-*{thread_id}*.jsonl"))
