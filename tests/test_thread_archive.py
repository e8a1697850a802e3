"""The thread archive keeps Codex's own rollout of the thread, and nothing else.

A real Redis; homes filled the way a hostile command (or a Codex bug) could
fill them. The end-to-end version, through the real Codex, is in
``tests/test_turn_isolation.py``.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from bootstrap.thread_archive import restore_thread, rollout_files, save_thread

THREAD = "01a22f2d-14fa-7301-a1fb-1628e792a774"
OTHER = "01a22f2d-0000-7301-a1fb-1628e792a774"
ROLLOUT = f"2026/12/01/rollout-2026-12-01T01-05-33-{THREAD}.jsonl"
KEY = "relay:codex-state:test"
MIB = 1024 * 1024


def _write(root: Path, rel: str, data: bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def sessions(tmp_path: Path) -> Path:
    """A home's ``sessions/`` with the thread's rollout and a lot of planted junk."""
    root = tmp_path / "home" / "sessions"
    _write(root, ROLLOUT, b'{"type":"session_meta"}\n' * 100)
    _write(root, f"2026/12/01/rollout-2026-12-01T01-06-00-{OTHER}.jsonl", b"other thread\n")
    _write(root, "2026/12/01/bloat.jsonl", os.urandom(3 * MIB))
    _write(root, ROLLOUT + ".bak", os.urandom(MIB))
    _write(root, f"rollout-2026-12-01T01-05-33-{THREAD}.jsonl", b"wrong depth\n")
    _write(root, f"2026/12/01/x/rollout-2026-12-01T01-05-33-{THREAD}.jsonl", b"too deep\n")
    link = root / f"2026/12/02/rollout-2026-12-02T00-00-00-{THREAD}.jsonl"
    link.parent.mkdir(parents=True)
    link.symlink_to("/etc/passwd")
    (root / f"2026/12/03/rollout-2026-12-03T00-00-00-{THREAD}.jsonl").mkdir(parents=True)
    return root


def _members(data: bytes) -> dict[str, int]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: m.size for m in tar.getmembers()}


def test_only_the_threads_own_rollout_is_archived(redis_client, sessions):
    assert rollout_files(sessions, THREAD) == [ROLLOUT]
    assert save_thread(redis_client, KEY, sessions, THREAD, 60, 8 * MIB) == "saved"
    stored = redis_client.get(KEY)
    assert _members(stored) == {ROLLOUT: 2400}
    assert len(stored) < 1024  # 4 MiB of random junk beside it, none of it stored


def test_a_thread_over_the_cap_is_not_kept_and_says_so(redis_client, sessions):
    redis_client.set(KEY, b"an earlier archive")
    _write(sessions, ROLLOUT, b"\0" * (2 * MIB))  # compresses to almost nothing
    assert save_thread(redis_client, KEY, sessions, THREAD, 60, MIB) == "too_large"
    assert redis_client.get(KEY) is None  # the cap is on the rollout, not its gzip
    assert save_thread(redis_client, KEY, sessions, THREAD, 60, 3 * MIB) == "saved"


def test_no_rollout_means_no_archive(redis_client, tmp_path):
    redis_client.set(KEY, b"an earlier archive")
    assert save_thread(redis_client, KEY, tmp_path / "empty", THREAD, 60, MIB) == "missing"
    assert redis_client.get(KEY) is None


@pytest.mark.parametrize("thread_id", ["", "../../etc", "x" * 36, f"{THREAD}.jsonl", "*"])
def test_a_malformed_thread_id_matches_nothing(sessions, thread_id):
    assert rollout_files(sessions, thread_id) == []


def test_restore_unpacks_the_rollout_and_nothing_else(redis_client, tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in ((ROLLOUT, b"rollout\n"), ("evil.sh", b"x"), ("../escape", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo(f"2026/12/02/rollout-2026-12-02T00-00-00-{THREAD}.jsonl")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    redis_client.set(KEY, buffer.getvalue())
    target = tmp_path / "home" / "sessions"
    assert restore_thread(redis_client, KEY, target, THREAD, MIB) is True
    found = sorted(str(p.relative_to(target)) for p in target.rglob("*") if not p.is_dir())
    assert found == [ROLLOUT]
    assert not (tmp_path / "home" / "escape").exists()


def test_restore_refuses_an_archive_over_the_cap(redis_client, sessions, tmp_path):
    assert save_thread(redis_client, KEY, sessions, THREAD, 60, MIB) == "saved"
    assert restore_thread(redis_client, KEY, tmp_path / "a", THREAD, 100) is False
    assert restore_thread(redis_client, KEY, tmp_path / "b", THREAD, MIB) is True
    assert restore_thread(redis_client, KEY, tmp_path / "c", OTHER, MIB) is False
