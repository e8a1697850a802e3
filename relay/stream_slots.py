"""The per-user cap on open event streams, shared by every web process.

A user holds one *slot* per open event stream. Slots live in Redis, one
sorted set per user (``relay:streams:<user>``): a member per stream, scored
by the time its *lease* runs out. Taking a slot drops the expired members
and refuses when the user already holds ``limit`` (one Lua script, so two
web processes cannot both take the last slot). The process holding a
stream renews its lease while the stream is open and removes the member as
soon as the stream closes; a web process that dies without closing its
streams frees their slots when their leases run out (:data:`LEASE_SECONDS`).

:func:`open_streams` and :func:`open_streams_by_user` count the live slots,
for the admin view and the CLI.
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import redis

from .errors import TooManyStreams
from .keys import RelayKeys

__all__ = [
    "LEASE_SECONDS",
    "StreamSlot",
    "StreamSlots",
    "open_streams",
    "open_streams_by_user",
]

#: Seconds a slot stays taken without being renewed (the holder renews it every third).
LEASE_SECONDS = 30.0

# KEYS: the user's slot set. ARGV: now (ms), lease (ms), limit, member.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


@dataclass(frozen=True)
class StreamSlot:
    """One taken slot: whose it is and its member in the user's set."""

    user: str
    member: str


def _now_ms() -> int:
    return int(time.time() * 1000)


class StreamSlots:
    """Take, renew and free users' stream slots (``limit`` per user)."""

    def __init__(
        self,
        client: redis.Redis,
        keys: RelayKeys,
        limit: int,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.redis = client
        self.keys = keys
        self.limit = limit
        self.lease_ms = int(lease_seconds * 1000)
        self._take = client.register_script(_TAKE)

    def take(self, user: str) -> StreamSlot:
        """A slot for one more stream of ``user``; :class:`TooManyStreams` at the limit."""
        slot = StreamSlot(user, secrets.token_hex(8))
        args = [_now_ms(), self.lease_ms, self.limit, slot.member]
        if not int(self._take(keys=[self.keys.user_streams(user)], args=args)):
            raise TooManyStreams(
                f"You already have {self.limit} event streams open; close a tab or window "
                "of this app and try again.",
                retry_after=2,
            )
        return slot

    def free(self, slot: StreamSlot) -> None:
        """Give the slot back (the stream closed)."""
        self.redis.zrem(self.keys.user_streams(slot.user), slot.member)

    def renew(self, slots: Iterable[StreamSlot]) -> None:
        """Extend the leases of ``slots`` (the streams this process still holds)."""
        by_user: dict[str, list[str]] = defaultdict(list)
        for slot in slots:
            by_user[slot.user].append(slot.member)
        if not by_user:
            return
        until = _now_ms() + self.lease_ms
        with self.redis.pipeline(transaction=False) as pipe:
            for user, members in by_user.items():
                key = self.keys.user_streams(user)
                # XX: renew only; a slot freed meanwhile must not come back.
                pipe.zadd(key, dict.fromkeys(members, until), xx=True)
                pipe.pexpire(key, self.lease_ms)
            pipe.execute()


def open_streams(client: redis.Redis, keys: RelayKeys, user: str) -> int:
    """How many event streams ``user`` holds open now, across web processes."""
    return int(client.zcount(keys.user_streams(user), f"({_now_ms()}", "+inf"))


def open_streams_by_user(client: redis.Redis, keys: RelayKeys) -> dict[str, int]:
    """Every user with an open event stream, and how many they hold."""
    prefix = keys.user_streams("")
    names = [name.decode() for name in client.scan_iter(match=prefix + "*", count=500)]
    if not names:
        return {}
    low = f"({_now_ms()}"
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.zcount(name, low, "+inf")
        counts = pipe.execute()
    return {
        name[len(prefix) :]: int(count)
        for name, count in zip(names, counts, strict=True)
        if int(count)
    }
