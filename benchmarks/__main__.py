"""Run every benchmark in turn: ``python -m benchmarks``.

``--load`` also runs the long load and soak benchmarks (several minutes):
``load_sse_streams``, ``load_turns`` and ``soak_turns`` (``--soak-turns N``
shortens the soak; default 1,000 turns, capped at 20 minutes).
"""

from __future__ import annotations

import argparse

from . import (
    cancel_latency,
    chat_latency,
    event_latency,
    live_latency,
    mcp_cost,
    openai_facade,
    publish_throughput,
    report_edits,
    sandbox_cost,
    thread_archive_size,
    turn_overhead,
)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmarks one after the other (never at once: they compete for CPU)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--load", action="store_true", help="also run the load and soak runs")
    parser.add_argument("--soak-turns", type=int, default=1000, help="turns of the soak")
    args = parser.parse_args(argv)
    for benchmark in (
        publish_throughput,
        turn_overhead,
        sandbox_cost,
        thread_archive_size,
        chat_latency,
        live_latency,
        event_latency,
        mcp_cost,
        cancel_latency,
        openai_facade,
        report_edits,
    ):
        benchmark.main()
        print()
    if args.load:
        from . import load_sse_streams, load_turns, soak_turns

        load_sse_streams.main([])
        print()
        load_turns.main([])
        print()
        soak_turns.main(["--turns", str(args.soak_turns)])


if __name__ == "__main__":
    main()
