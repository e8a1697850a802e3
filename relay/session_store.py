"""Session records and the one-running-turn-per-session lock, in Redis.

A session belongs to one user and one run. Its record is a Redis hash
(``relay:session:<id>``) with the fields of :class:`SessionRecord`. A turn
is *begun* atomically (a Lua script checks that no turn is running and that
the user is under the limit of running turns), and *ended* exactly once by
whoever writes its ``turn.completed`` (the job, the canceller, or the
watchdog). Every write refreshes the session's idle TTL.

Every write after :meth:`SessionStore.create` is conditional on the record
existing (each is one Lua script), so a deleted session stays deleted: an
update, cancel or heartbeat that races a delete writes nothing, instead of
recreating a partial record. A record missing its owner fields is treated
as absent.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
import redis

from .errors import NotFound, RateLimited, TurnInProgress
from .keys import RelayKeys

__all__ = ["SessionRecord", "SessionStore", "new_session_id"]

# KEYS: session hash, user-running set, running hash, user-sessions zset, sessions zset
# ARGV: session id, max running, now, ttl seconds
_BEGIN = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local running = tonumber(redis.call('HGET', KEYS[1], 'running_turn') or '0')
if running > 0 then return {-2, running} end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[2]) then return {-3} end
local turn = redis.call('HINCRBY', KEYS[1], 'turn', 1)
redis.call('HSET', KEYS[1], 'running_turn', turn, 'status', 'queued',
           'heartbeat', ARGV[3], 'updated', ARGV[3], 'cancel_requested', '0',
           'job_id', '', 'worker', '', 'codex_pgid', '0')
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[1], turn)
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[1])
return {turn}
"""

# KEYS: session hash. ARGV: ttl seconds, then field, value, field, value...
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""

#: Fields without which a stored hash is not a session (a write raced a delete).
_REQUIRED = (b"user", b"runid", b"config")

# KEYS: session hash, user-running set, running hash
# ARGV: session id, turn, status, now, ttl seconds
_END = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local running = tonumber(redis.call('HGET', KEYS[1], 'running_turn') or '0')
if running ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'running_turn', 0, 'status', ARGV[3], 'updated', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
"""


def new_session_id() -> str:
    """A new unguessable session id (URL- and Redis-key-safe)."""
    return secrets.token_hex(16)


@dataclass
class SessionRecord:
    """What the relay knows about one session."""

    id: str
    user: str
    runid: str
    config: str
    tier: str = "read"
    run_dir: str = ""
    created: float = 0.0
    updated: float = 0.0
    #: ``idle``, ``queued``, ``running``, or the last turn's final status.
    status: str = "idle"
    #: Number of the latest turn (0 before the first).
    turn: int = 0
    #: The turn now queued or running, 0 when none.
    running_turn: int = 0
    job_id: str = ""
    thread_id: str = ""
    heartbeat: float = 0.0
    worker: str = ""
    codex_pgid: int = 0
    cancel_requested: float = 0.0
    last_event: float = 0.0
    #: Cumulative token usage of the Codex thread.
    usage: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_hash(cls, session: str, raw: Mapping[bytes, bytes]) -> SessionRecord:
        """Decode a Redis hash into a record (unknown fields ignored)."""
        values: dict[str, Any] = {"id": session}
        types = {f: type(getattr(_DEFAULTS, f)) for f in _DEFAULTS.__dataclass_fields__}
        for key, value in raw.items():
            name = key.decode()
            if name not in types or name == "id":
                continue
            text = value.decode()
            kind = types[name]
            if kind is dict:
                values[name] = orjson.loads(text) if text else {}
            elif kind is int:
                values[name] = int(float(text or 0))
            elif kind is float:
                values[name] = float(text or 0)
            else:
                values[name] = text
        return cls(**values)

    def public(self) -> dict[str, Any]:
        """The record as the session-state route shows it."""
        return {
            "session_id": self.id,
            "runid": self.runid,
            "config": self.config,
            "status": self.status,
            "turns": self.turn,
            "running_turn": self.running_turn or None,
            "has_thread": bool(self.thread_id),
            "created": self.created,
            "updated": self.updated,
            "usage": self.usage,
        }


_DEFAULTS = SessionRecord(id="", user="", runid="", config="")


class SessionStore:
    """Create, read, lock and end sessions in Redis."""

    def __init__(self, client: redis.Redis, keys: RelayKeys | None = None, ttl: int = 86_400):
        self.redis = client
        self.keys = keys or RelayKeys()
        self.ttl = ttl
        self._begin = client.register_script(_BEGIN)
        self._end = client.register_script(_END)
        self._update = client.register_script(_UPDATE)

    def create(self, user: str, runid: str, config: str, tier: str, run_dir: str) -> SessionRecord:
        """Create a new idle session owned by ``user`` for ``runid``."""
        now = time.time()
        record = SessionRecord(
            id=new_session_id(),
            user=user,
            runid=runid,
            config=config,
            tier=tier,
            run_dir=run_dir,
            created=now,
            updated=now,
        )
        key = self.keys.session(record.id)
        fields = {k: _encode(v) for k, v in asdict(record).items() if k != "id"}
        with self.redis.pipeline() as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, self.ttl)
            pipe.zadd(self.keys.user_sessions(user), {record.id: now})
            pipe.expire(self.keys.user_sessions(user), self.ttl)
            pipe.zadd(self.keys.sessions_index(), {record.id: now})
            pipe.execute()
        return record

    def get(self, session: str) -> SessionRecord | None:
        """The session's record, or ``None`` if it does not exist."""
        raw = self.redis.hgetall(self.keys.session(session))
        if not raw or any(name not in raw for name in _REQUIRED):
            return None
        return SessionRecord.from_hash(session, raw)

    def get_owned(self, session: str, user: str, runid: str) -> SessionRecord:
        """The session if it belongs to ``user`` and ``runid``; else :class:`NotFound`."""
        record = self.get(session)
        if record is None or record.user != user or record.runid != runid:
            raise NotFound("No such session for this run.")
        return record

    def list_for(self, user: str, runid: str) -> list[SessionRecord]:
        """The user's live sessions of ``runid``, most recently active first."""
        ids = self.redis.zrevrange(self.keys.user_sessions(user), 0, 199)
        out = []
        for raw_id in ids:
            record = self.get(raw_id.decode())
            if record is None:
                self.redis.zrem(self.keys.user_sessions(user), raw_id)
            elif record.runid == runid:
                out.append(record)
        return out

    def begin_turn(self, record: SessionRecord, max_running: int) -> int:
        """Lock the session for a new turn and return its number."""
        now = time.time()
        keys = [
            self.keys.session(record.id),
            self.keys.user_running(record.user),
            self.keys.running(),
            self.keys.user_sessions(record.user),
            self.keys.sessions_index(),
        ]
        result = self._begin(keys=keys, args=[record.id, max_running, now, self.ttl])
        code = int(result[0])
        if code == -1:
            raise NotFound("No such session for this run.")
        if code == -2:
            raise TurnInProgress(f"Turn {int(result[1])} is still running in this session.")
        if code == -3:
            raise RateLimited(
                f"You already have {max_running} turns running; wait for one to finish.", 5
            )
        return code

    def update(
        self, session: str, pipe: redis.client.Pipeline | None = None, **fields: Any
    ) -> bool:
        """Set some fields of the record (and refresh its TTL) if the session still exists.

        Returns whether it did; with ``pipe`` the write is only queued (``False``).
        """
        args: list[Any] = [self.ttl]
        for name, value in fields.items():
            args += [name, _encode(value)]
        if pipe is not None:
            self._update(keys=[self.keys.session(session)], args=args, client=pipe)
            return False
        return bool(self._update(keys=[self.keys.session(session)], args=args))

    def end_turn(
        self,
        record: SessionRecord,
        turn: int,
        status: str,
        pipe: redis.client.Pipeline | None = None,
    ) -> bool:
        """Unlock the session if ``turn`` is its running turn; say whether it was.

        With ``pipe`` the call is only queued on that pipeline.
        """
        keys = [
            self.keys.session(record.id),
            self.keys.user_running(record.user),
            self.keys.running(),
        ]
        args = [record.id, turn, status, time.time(), self.ttl]
        if pipe is not None:
            self._end(keys=keys, args=args, client=pipe)
            return False
        return bool(self._end(keys=keys, args=args))

    def running_turns(self) -> dict[str, int]:
        """Every session with a queued or running turn: ``{session: turn}``."""
        raw = self.redis.hgetall(self.keys.running())
        return {k.decode(): int(v) for k, v in raw.items()}

    def delete(self, record: SessionRecord) -> None:
        """Drop the session record and its indexes (not its event log)."""
        with self.redis.pipeline() as pipe:
            pipe.delete(self.keys.session(record.id))
            pipe.zrem(self.keys.user_sessions(record.user), record.id)
            pipe.zrem(self.keys.sessions_index(), record.id)
            pipe.srem(self.keys.user_running(record.user), record.id)
            pipe.hdel(self.keys.running(), record.id)
            pipe.execute()


def _encode(value: Any) -> str | int | float:
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | str):
        return value
    return str(value)
