"""Helpers shared by the benchmarks: timing, CPU accounting, tables, transcripts.

Nothing here decides pass or fail: the benchmarks print figures, the ratio
to a baseline measured in the same run, and the issue's target beside them.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CpuSample",
    "Measured",
    "TRANSCRIPTS",
    "chunked",
    "machine_line",
    "measure",
    "percentile",
    "print_table",
    "process_cpu_seconds",
    "transcript",
]

#: The recorded Codex 0.169.0 transcripts the parser tests replay.
TRANSCRIPTS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "codex_transcripts"

#: Bytes a Linux pipe buffer holds: what one read of Codex's stdout returns at most.
PIPE_CHUNK = 64 * 1024

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def transcript(name: str) -> bytes:
    """The bytes of a recorded transcript, e.g. ``"shell_command.jsonl"``."""
    return (TRANSCRIPTS / name).read_bytes()


def chunked(data: bytes, size: int = PIPE_CHUNK) -> Iterator[bytes]:
    """``data`` in ``size``-byte pieces, as a pipe would deliver it under load."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid``, from ``/proc/<pid>/stat``."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name (which may hold spaces) start at field 3.
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _CLOCK_TICKS


@dataclass
class CpuSample:
    """Wall and CPU time of one measured block."""

    wall: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0

    @property
    def total_cpu(self) -> float:
        """CPU of this process plus the Redis server's, in seconds."""
        return self.client_cpu + self.server_cpu


@contextmanager
def measure(server_pid: int | None = None) -> Iterator[CpuSample]:
    """Time the ``with`` block: wall clock, this process's CPU and the server's CPU."""
    sample = CpuSample()
    server_before = process_cpu_seconds(server_pid) if server_pid else 0.0
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    yield sample
    sample.wall = time.perf_counter() - wall_before
    sample.client_cpu = time.process_time() - cpu_before
    if server_pid:
        sample.server_cpu = process_cpu_seconds(server_pid) - server_before


@dataclass
class Measured:
    """Repeated samples of one variant; figures are medians."""

    name: str
    samples: list[CpuSample]

    @property
    def wall(self) -> float:
        return statistics.median(s.wall for s in self.samples)

    @property
    def client_cpu(self) -> float:
        return statistics.median(s.client_cpu for s in self.samples)

    @property
    def server_cpu(self) -> float:
        return statistics.median(s.server_cpu for s in self.samples)

    @property
    def total_cpu(self) -> float:
        return statistics.median(s.total_cpu for s in self.samples)


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) of ``values``, nearest-rank method."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [str(row[0]).ljust(widths[0])]
        cells += [str(cell).rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return "  ".join(cells).rstrip()

    print(f"\n{title}")
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def machine_line() -> str:
    """One line describing where the figures were taken."""
    cpus = os.cpu_count() or 0
    return (
        f"{platform.python_implementation()} {platform.python_version()}, {cpus} CPUs, "
        f"{platform.machine()} {platform.system()} {platform.release()}"
    )
