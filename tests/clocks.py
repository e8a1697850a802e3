"""Clocks for tests of code that reads the time."""

from __future__ import annotations


class Tick:
    """A clock that advances one second each time it is read."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now
