"""How ``codex-relay demo`` keeps its children alive (real child processes, a given clock)."""

from __future__ import annotations

import os
import sys

import pytest

from cli.demo_stack import RESTART_BACKOFF, Child
from relay.errors import RelayUnavailable

EXITS_AT_ONCE = [sys.executable, "-c", "raise SystemExit(3)"]


def _dead(child: Child) -> Child:
    assert child.proc is not None
    child.proc.wait(30)
    return child


def test_a_dead_child_starts_again_after_a_pause_that_doubles_with_each_quick_death():
    child = Child("worker", EXITS_AT_ONCE, dict(os.environ), restart=True)
    child.start()
    first = _dead(child).proc
    now = child.started + 1
    child.tend(now)
    assert child.due == now + RESTART_BACKOFF[0] and child.proc is first  # waiting
    child.tend(child.due - 0.01)
    assert child.proc is first
    child.tend(child.due)
    assert child.restarts == 1 and child.proc is not first
    _dead(child)
    now = child.started + 1
    child.tend(now)
    assert child.due == now + 2 * RESTART_BACKOFF[0]


def test_the_pause_never_exceeds_the_longest_backoff_and_resets_after_a_long_run():
    child = Child("tools", EXITS_AT_ONCE, dict(os.environ), restart=True)
    child.pause = RESTART_BACKOFF[1]
    child.start()
    _dead(child)
    child.tend(child.started + 1)
    assert child.pause == RESTART_BACKOFF[1]
    child.due = 0.0
    child.tend(child.started + 3600)  # it had run for an hour before dying
    assert child.due == child.started + 3600 + RESTART_BACKOFF[0]


def test_a_child_that_must_not_die_stops_the_demo():
    child = Child("web", EXITS_AT_ONCE, dict(os.environ), restart=False)
    child.start()
    _dead(child)
    with pytest.raises(RelayUnavailable, match="web process exited \\(3\\)"):
        child.tend(child.started + 1)


def test_a_running_child_is_left_alone():
    child = Child("worker", [sys.executable, "-c", "import time; time.sleep(30)"], {}, True)
    child.start()
    try:
        child.tend(child.started + 100)
        assert child.due == 0.0 and child.restarts == 0 and child.alive()
    finally:
        assert child.proc is not None
        child.proc.kill()
        child.proc.wait()
