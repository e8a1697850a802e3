"""Fair use: per-user limits on sessions, stored bytes and daily tokens.

No user may exhaust the service for the others. Three limits, each a setting:

- **sessions** (``CODEX_RELAY_MAX_SESSIONS_PER_USER``): live sessions across
  all runs; a new session beyond it is refused (``too_many_sessions``);
- **stored bytes** (``CODEX_RELAY_MAX_STORED_BYTES_PER_USER``): what the
  user's sessions hold in Redis, their event logs and Codex thread archives,
  as Redis itself measures them (``MEMORY USAGE``); over it, no new turn
  (``storage_exhausted``) until sessions are deleted or expire;
- **tokens** (``CODEX_RELAY_DAILY_TOKEN_BUDGET``): input plus output tokens of
  the user's turns this UTC day, summed from the ``usage`` events as the
  worker publishes them; over it, no new turn (``budget_exhausted``) until
  midnight UTC.

The limits are checked when a turn starts (:meth:`FairUse.check`, from
``blueprints.turn_access.start_chat_turn``, the one place every front door
starts a turn). A turn already running may finish past a limit: the checks
bound what one user can add per turn, not each byte.

Token counts live in one hash per UTC day, ``<prefix>tokens:<YYYY-MM-DD>``
(``user`` -> tokens), kept two days.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from .errors import BudgetExhausted, StorageExhausted, TooManySessions
from .runtime import RelayRuntime

__all__ = ["FairUse", "UserUsage", "human_bytes", "seconds_to_midnight", "utc_day"]

_DAY = 86_400
_MIB = 1024 * 1024


def utc_day(now: float) -> str:
    """The UTC date of ``now``, ``YYYY-MM-DD`` (the token budget's day)."""
    return time.strftime("%Y-%m-%d", time.gmtime(now))


def seconds_to_midnight(now: float) -> int:
    """Whole seconds from ``now`` to the next 00:00 UTC (at least 1)."""
    return max(1, int(_DAY - now % _DAY))


def human_bytes(count: int) -> str:
    """``count`` bytes for people: ``512 B``, ``31 KiB``, ``1.5 MiB``."""
    if count < 1024:
        return f"{count} B"
    if count < _MIB:
        return f"{count / 1024:.0f} KiB"
    return f"{count / _MIB:.1f} MiB"


def _duration(seconds: int) -> str:
    hours, minutes = divmod(max(seconds, 60) // 60, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


@dataclass(frozen=True)
class UserUsage:
    """One user's use of the service against the limits (``0`` limit: none)."""

    user: str
    sessions: int
    max_sessions: int
    stored_bytes: int
    max_stored_bytes: int
    tokens_today: int
    daily_token_budget: int
    #: The UTC day the tokens count for, and seconds until the next one.
    day: str
    resets_in: int
    #: Seconds until the user's least recently active session expires (None: no session).
    next_expiry: int | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (admin views, ``codex-relay usage --json``)."""
        return asdict(self)


class FairUse:
    """Measure, check and count one user's use (see the module docstring)."""

    def __init__(self, rt: RelayRuntime) -> None:
        self.rt = rt
        self.settings = rt.settings

    def _live_sessions(self, user: str) -> list[str]:
        """The user's sessions whose record still exists (dead index entries are dropped)."""
        index = self.rt.keys.user_sessions(user)
        ids = [raw.decode() for raw in self.rt.redis.zrange(index, 0, -1)]
        if not ids:
            return []
        with self.rt.redis.pipeline(transaction=False) as pipe:
            for session in ids:
                pipe.exists(self.rt.keys.session(session))
            alive = pipe.execute()
        dead = [s for s, present in zip(ids, alive, strict=True) if not present]
        if dead:
            self.rt.redis.zrem(index, *dead)
        return [s for s, present in zip(ids, alive, strict=True) if present]

    def _stored(self, sessions: list[str]) -> tuple[int, int | None]:
        """``(bytes, seconds until the first session expires)`` of ``sessions``."""
        if not sessions:
            return 0, None
        keys = self.rt.keys
        with self.rt.redis.pipeline(transaction=False) as pipe:
            for session in sessions:
                pipe.memory_usage(keys.events(session), samples=0)
                pipe.memory_usage(keys.codex_state(session), samples=0)
                pipe.ttl(keys.session(session))
            replies = pipe.execute()
        stored = sum(int(n or 0) for i, n in enumerate(replies) if i % 3 != 2)
        ttls = [int(t) for t in replies[2::3] if t is not None and int(t) > 0]
        return stored, min(ttls) if ttls else None

    def tokens_today(self, user: str, now: float | None = None) -> int:
        """Tokens ``user`` spent this UTC day."""
        now = time.time() if now is None else now
        raw = self.rt.redis.hget(self.rt.keys.tokens(utc_day(now)), user)
        return int(raw or 0)

    def usage(self, user: str, now: float | None = None) -> UserUsage:
        """``user``'s sessions, stored bytes and tokens today, beside the limits."""
        now = time.time() if now is None else now
        sessions = self._live_sessions(user)
        stored, next_expiry = self._stored(sessions)
        s = self.settings
        return UserUsage(
            user=user,
            sessions=len(sessions),
            max_sessions=s.max_sessions_per_user,
            stored_bytes=stored,
            max_stored_bytes=s.max_stored_bytes_per_user,
            tokens_today=self.tokens_today(user, now),
            daily_token_budget=s.daily_token_budget,
            day=utc_day(now),
            resets_in=seconds_to_midnight(now),
            next_expiry=next_expiry,
        )

    def check(self, user: str, *, new_session: bool, now: float | None = None) -> UserUsage:
        """Refuse a turn over a limit (:class:`~relay.errors.RateLimited` subclasses, 429)."""
        use = self.usage(user, now)
        wait = use.next_expiry or self.settings.session_ttl
        if use.daily_token_budget and use.tokens_today >= use.daily_token_budget:
            raise BudgetExhausted(
                f"You have used {use.tokens_today:,} of your {use.daily_token_budget:,} tokens "
                f"for today; the budget resets at 00:00 UTC (in {_duration(use.resets_in)}).",
                use.resets_in,
            )
        if use.stored_bytes >= use.max_stored_bytes:
            raise StorageExhausted(
                f"Your conversations hold {human_bytes(use.stored_bytes)}, over the "
                f"{human_bytes(use.max_stored_bytes)} one user may keep; delete some (or wait "
                "for them to expire) to continue.",
                wait,
            )
        if new_session and use.sessions >= use.max_sessions:
            raise TooManySessions(
                f"You already have {use.sessions} conversations, the most one user may keep; "
                "delete one (or wait for one to expire) to start another.",
                wait,
            )
        return use

    def add_tokens(self, user: str, tokens: int, now: float | None = None) -> int:
        """Count ``tokens`` spent by ``user`` today; return the day's total."""
        now = time.time() if now is None else now
        key = self.rt.keys.tokens(utc_day(now))
        with self.rt.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, user, max(0, int(tokens)))
            pipe.expire(key, 2 * _DAY)
            total, _ = pipe.execute()
        return int(total)

    def users(self, now: float | None = None) -> list[str]:
        """Every user with a live session or tokens spent today, sorted."""
        now = time.time() if now is None else now
        found = {raw.decode() for raw in self.rt.redis.hkeys(self.rt.keys.tokens(utc_day(now)))}
        prefix = self.rt.keys.user_sessions("")
        for key in self.rt.redis.scan_iter(match=prefix + "*", count=500):
            name = key.decode() if isinstance(key, bytes) else str(key)
            found.add(name[len(prefix) :])
        return sorted(found)

    def all_usage(self, now: float | None = None) -> list[UserUsage]:
        """:meth:`usage` of every user of :meth:`users` who holds or spent anything."""
        now = time.time() if now is None else now
        found = [self.usage(user, now) for user in self.users(now)]
        return [u for u in found if u.sessions or u.tokens_today or u.stored_bytes]
