"""Run every benchmark in turn: ``python -m benchmarks``."""

from __future__ import annotations

from . import (
    cancel_latency,
    chat_latency,
    event_latency,
    mcp_cost,
    publish_throughput,
    turn_overhead,
)


def main() -> None:
    """Run the benchmarks one after the other (never at once: they compete for CPU)."""
    for benchmark in (
        publish_throughput,
        turn_overhead,
        chat_latency,
        event_latency,
        mcp_cost,
        cancel_latency,
    ):
        benchmark.main()
        print()


if __name__ == "__main__":
    main()
