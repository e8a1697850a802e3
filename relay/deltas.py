"""Coalescing live deltas, so a fast stream costs a few events, not thousands.

A model streams text a few characters at a time and a command may print
thousands of lines a second; one event each would flood the session's
capped event log (and every client). :class:`DeltaCoalescer` joins the
deltas of one item (``message.delta`` and ``reasoning.delta`` by
``item_id``, ``tool.output`` by ``tool_id``): the first piece of an item
goes out at once, later ones at most once per ``interval`` (50 ms: 20
events a second per item), and everything pending is sent before any other
event, so the order a client sees is the order Codex said it in, and the
whole ``message`` always comes after its last delta. Pure: the caller
passes batches in and sends what comes out; time comes from ``clock``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

from . import events as ev
from .normalise import Normalised

__all__ = ["DELTA_INTERVAL", "DeltaCoalescer"]

#: Seconds between two events of one item's deltas (at most 20 a second).
DELTA_INTERVAL: Final = 0.05

_Key = tuple[str, str]


def _key(kind: str, payload: dict[str, Any]) -> _Key:
    return kind, str(payload.get("tool_id" if kind == ev.TOOL_OUTPUT else "item_id") or "")


class DeltaCoalescer:
    """Joins each item's deltas into at most one event per ``interval``."""

    def __init__(
        self, interval: float = DELTA_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self.clock = clock
        # Insertion order is the order the first held piece of each item arrived.
        self._held: dict[_Key, dict[str, Any]] = {}
        self._next: dict[_Key, float] = {}

    def push(self, batch: list[Normalised]) -> list[Normalised]:
        """Events to send now for ``batch``; deltas that came too soon are held."""
        out: list[Normalised] = []
        now = self.clock()
        for kind, payload in batch:
            if kind not in ev.DELTA_TYPES:
                out += self.flush()
                out.append((kind, payload))
                continue
            key = _key(kind, payload)
            held = self._held.get(key)
            if held is not None:
                held["delta"] += payload.get("delta", "")
                if payload.get("truncated"):
                    held["truncated"] = True
            elif now >= self._next.get(key, 0.0):
                self._next[key] = now + self.interval
                out.append((kind, payload))
            else:
                self._held[key] = dict(payload)
        return out

    def due(self) -> list[Normalised]:
        """Held deltas whose interval has passed (call it now and then)."""
        now = self.clock()
        ready = [key for key in self._held if now >= self._next.get(key, 0.0)]
        out: list[Normalised] = []
        for key in ready:
            out.append((key[0], self._held.pop(key)))
            self._next[key] = now + self.interval
        return out

    def flush(self) -> list[Normalised]:
        """Every held delta, now (before another event, and at the end of the turn)."""
        now = self.clock()
        out = [(key[0], payload) for key, payload in self._held.items()]
        for key in self._held:
            self._next[key] = now + self.interval
        self._held.clear()
        return out

    @property
    def holding(self) -> bool:
        """Whether some deltas are waiting for their interval."""
        return bool(self._held)
