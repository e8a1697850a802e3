"""Live progress of a turn in its RQ ``job.meta``, for RQ tooling and the admin views.

``job.meta["progress"]`` holds the phase (``starting``, ``thinking``,
``tool``, ``waiting`` (for an approval), ``answering``, ``finished``), the current tool's title, the
turn's token usage and the time of the last event. Writes are throttled
(at most one per ``interval`` seconds), so a burst of events costs one
Redis write, not one per event.
"""

from __future__ import annotations

import time
from typing import Any

from relay import events as ev
from relay.normalise import Normalised

__all__ = ["JobProgress"]

_PHASES = {
    ev.TURN_STARTED: "thinking",
    ev.REASONING: "thinking",
    ev.REASONING_DELTA: "thinking",
    ev.TOOL_STARTED: "tool",
    ev.TOOL_UPDATED: "tool",
    ev.TOOL_OUTPUT: "tool",
    ev.TOOL_COMPLETED: "thinking",
    ev.MESSAGE: "answering",
    ev.MESSAGE_DELTA: "answering",
    ev.APPROVAL_REQUESTED: "waiting",
    ev.APPROVAL_RESOLVED: "tool",
}


class JobProgress:
    """Track a turn's progress and save it into ``job.meta`` now and then."""

    def __init__(self, job: Any, interval: float = 1.0) -> None:
        self.job = job
        self.interval = interval
        self.state: dict[str, Any] = {
            "phase": "starting",
            "item": None,
            "usage": {},
            "last_event": None,
            "events": 0,
        }
        self._dirty = True
        self._next_save = 0.0

    def observe(self, batch: list[Normalised]) -> None:
        """Fold a batch of normalised events into the progress."""
        if not batch:
            return
        for kind, payload in batch:
            phase = _PHASES.get(kind)
            if phase:
                self.state["phase"] = phase
            if kind in (ev.TOOL_STARTED, ev.TOOL_UPDATED):
                self.state["item"] = payload["tool"].get("title")
            elif kind == ev.TOOL_COMPLETED:
                self.state["item"] = None
            elif kind == ev.USAGE:
                self.state["usage"] = {k: v for k, v in payload.items() if k != "thread_total"}
        self.state["events"] += len(batch)
        self.state["last_event"] = time.time()
        self._dirty = True

    def save(self, force: bool = False, **changes: Any) -> None:
        """Write to ``job.meta`` if something changed and the throttle allows."""
        self.state.update(changes)
        self._dirty = self._dirty or bool(changes)
        now = time.monotonic()
        if self.job is None or not self._dirty or (not force and now < self._next_save):
            return
        self.job.meta["progress"] = dict(self.state)
        self.job.save_meta()
        self._dirty = False
        self._next_save = now + self.interval
