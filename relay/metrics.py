"""Counters and timings shared by every relay process, kept in Redis.

Workers record each finished turn (final status, duration, time to first
event, queue wait) and each tool call (tool, outcome); any web process can
render them in the Prometheus text format. Timings are histograms with
fixed buckets, so recording is a handful of ``HINCRBY``/``HINCRBYFLOAT`` in
one pipelined round trip and rendering is one ``HGETALL``.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

__all__ = ["BUCKETS", "Metrics"]

#: Upper bounds (seconds) of the histogram buckets.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)

_HELP = {
    "codex_relay_turns_total": ("counter", "Turns ended, by final status."),
    "codex_relay_tool_calls_total": ("counter", "Tool calls completed, by kind, tool and outcome."),
    "codex_relay_turn_duration_seconds": ("histogram", "Wall time of a turn in the worker."),
    "codex_relay_first_event_seconds": ("histogram", "Time from Codex spawn to its first output."),
    "codex_relay_queue_wait_seconds": ("histogram", "Time a turn waited in the queue."),
}


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in sorted(labels.items())
    )
    return "{" + inner + "}"


def _order(name: str) -> tuple[str, float, str]:
    base, _, labels = name.partition("{")
    if 'le="' in labels:
        bound = labels.split('le="', 1)[1].split('"', 1)[0]
        return base, float("inf") if bound == "+Inf" else float(bound), labels
    return base, 0.0, labels


class Metrics:
    """Record and render the relay's metrics (one Redis hash)."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        self.redis = client
        self.key = key

    def record_turn(
        self,
        status: str,
        duration: float,
        first_event: float | None = None,
        queue_wait: float | None = None,
    ) -> None:
        """Count a finished turn and its timings."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(self.key, "codex_relay_turns_total" + _labels(status=status), 1)
            self._observe(pipe, "codex_relay_turn_duration_seconds", duration)
            if first_event is not None:
                self._observe(pipe, "codex_relay_first_event_seconds", first_event)
            if queue_wait is not None:
                self._observe(pipe, "codex_relay_queue_wait_seconds", max(0.0, queue_wait))
            pipe.execute()

    def record_tool_calls(self, calls: Iterable[tuple[str, str, str]]) -> None:
        """Count completed tool calls, each ``(kind, tool, outcome)``."""
        fields: dict[str, int] = {}
        for kind, tool, outcome in calls:
            name = "codex_relay_tool_calls_total" + _labels(kind=kind, tool=tool, outcome=outcome)
            fields[name] = fields.get(name, 0) + 1
        if not fields:
            return
        with self.redis.pipeline(transaction=False) as pipe:
            for name, count in fields.items():
                pipe.hincrby(self.key, name, count)
            pipe.execute()

    def _observe(self, pipe: redis.client.Pipeline, name: str, value: float) -> None:
        for bound in BUCKETS:
            if value <= bound:
                pipe.hincrby(self.key, f'{name}_bucket{{le="{bound}"}}', 1)
        pipe.hincrby(self.key, f'{name}_bucket{{le="+Inf"}}', 1)
        pipe.hincrbyfloat(self.key, f"{name}_sum", value)
        pipe.hincrby(self.key, f"{name}_count", 1)

    def snapshot(self) -> dict[str, float]:
        """Every stored series and its value."""
        raw = self.redis.hgetall(self.key)
        return {k.decode(): float(v) for k, v in raw.items()}

    def render(self, extra: dict[str, float] | None = None) -> str:
        """The metrics in the Prometheus text exposition format."""
        series = self.snapshot()
        series.update(extra or {})
        lines: list[str] = []
        for family, (kind, help_text) in _HELP.items():
            if kind == "histogram" and f"{family}_count" in series:
                for bound in (*BUCKETS, "+Inf"):
                    series.setdefault(f'{family}_bucket{{le="{bound}"}}', 0.0)
            lines.append(f"# HELP {family} {help_text}")
            lines.append(f"# TYPE {family} {kind}")
            for name in sorted((n for n in series if n.startswith(family)), key=_order):
                value = series[name]
                text = str(int(value)) if value == int(value) else repr(value)
                lines.append(f"{name} {text}")
        for name in sorted(extra or {}):
            if not any(name.startswith(f) for f in _HELP):
                lines.append(f"{name} {series[name]:g}")
        return "\n".join(lines) + "\n"
