"""Run every benchmark in turn: ``python -m benchmarks``."""

from __future__ import annotations

from . import publish_throughput, turn_overhead


def main() -> None:
    """Run the benchmarks one after the other (never at once: they compete for CPU)."""
    publish_throughput.main()
    print()
    turn_overhead.main()


if __name__ == "__main__":
    main()
