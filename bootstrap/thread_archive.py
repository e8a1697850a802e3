"""Keep a Codex thread resumable from any worker: archive its rollout in Redis.

``codex exec resume <thread>`` needs the thread's rollout,
``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread>.jsonl``, from the
earlier turns. Workers run each turn in a fresh home, possibly on another
machine, so after a turn the thread's rollout files are packed (tar + gzip)
into ``relay:codex-state:<session>`` and unpacked into the next turn's home.

Only Codex's own files of *this* thread are taken: regular files (never a
link) whose path has exactly the shape above with this thread's id
(:func:`rollout_files`). Anything else in the home, whoever wrote it, is
ignored, so nothing a command left there reaches Redis. Their total size is
capped (``CODEX_RELAY_MAX_THREAD_ARCHIVE_BYTES``, uncompressed, so the cap
bounds both what Redis keeps and what a restore writes to disk); a thread
over the cap is not archived and the next turn starts a new one, saying so.
Extraction takes the same files only, with tarfile's ``data`` filter (no
absolute paths, no ``..``, no links).
"""

from __future__ import annotations

import io
import logging
import os
import re
import stat
import tarfile
from pathlib import Path

import redis

__all__ = ["THREAD_ID", "restore_thread", "rollout_files", "save_thread"]

log = logging.getLogger("codex_relay.turn")

#: A Codex thread id (a UUID, as Codex 0.169.0 prints in ``thread.started``).
THREAD_ID = re.compile(r"^[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\Z")
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _rollout_name(thread_id: str) -> re.Pattern[str]:
    """``YYYY/MM/DD/rollout-YYYY-MM-DDThh-mm-ss-<thread>.jsonl``, this thread only."""
    return re.compile(
        r"^\d{4}/\d{2}/\d{2}/rollout-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-"
        + re.escape(thread_id)
        + r"\.jsonl$"
    )


def rollout_files(sessions_dir: Path, thread_id: str) -> list[str]:
    """The thread's rollout files under ``sessions_dir``, as relative paths, sorted.

    Walks at most the three date levels, never through a symbolic link, and
    keeps regular files of the rollout shape only.
    """
    if not THREAD_ID.match(thread_id):
        return []
    pattern = _rollout_name(thread_id)
    found: list[str] = []
    for top, dirs, files in os.walk(sessions_dir, followlinks=False):
        rel_top = os.path.relpath(top, sessions_dir)
        depth = 0 if rel_top == "." else rel_top.count(os.sep) + 1
        if depth >= 3:
            dirs[:] = []
        for name in files:
            rel = name if rel_top == "." else f"{rel_top}/{name}".replace(os.sep, "/")
            if pattern.match(rel) and stat.S_ISREG(os.lstat(os.path.join(top, name)).st_mode):
                found.append(rel)
    return sorted(found)


def _read_file(path: Path, limit: int) -> bytes | None:
    """The file's bytes (not through a link), or ``None`` when it is over ``limit``."""
    fd = os.open(path, _READ_FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
    finally:
        os.close(fd)
    return None if len(data) > limit else data


def save_thread(
    client: redis.Redis,
    key: str,
    sessions_dir: Path,
    thread_id: str,
    ttl: int,
    max_bytes: int,
) -> str:
    """Archive the thread's rollout under ``key``: ``"saved"``, ``"missing"`` or ``"too_large"``.

    Unless saved, the key is deleted: the next turn starts a new thread.
    """
    names = rollout_files(sessions_dir, thread_id)
    if not names:
        client.delete(key)
        return "missing"
    buffer = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=3) as tar:
        for name in names:
            data = _read_file(sessions_dir / name, max_bytes - total)
            if data is None:
                log.warning(
                    "thread %s is over %d bytes; not archived (the next turn starts a new one)",
                    thread_id,
                    max_bytes,
                )
                client.delete(key)
                return "too_large"
            total += len(data)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    client.set(key, buffer.getvalue(), ex=ttl)
    return "saved"


def restore_thread(
    client: redis.Redis, key: str, sessions_dir: Path, thread_id: str, max_bytes: int
) -> bool:
    """Unpack the archive into ``sessions_dir``; ``True`` if ``thread_id``'s rollout is there."""
    data = client.get(key)
    if not data or not THREAD_ID.match(thread_id):
        return False
    pattern = _rollout_name(thread_id)
    sessions_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and pattern.match(m.name)]
            if sum(m.size for m in members) > max_bytes:
                return False
            tar.extractall(sessions_dir, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError):
        return False
    return bool(rollout_files(sessions_dir, thread_id))
