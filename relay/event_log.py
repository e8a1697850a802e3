"""The durable, replayable event log of a session, and its live channel.

Every event is appended to the session's Redis Stream and published on
``agent_response-<session>`` by one Lua script, so a batch of events costs
one round trip and the three writes (``seq``, stream, channel) are atomic:

- ``seq`` comes from a per-session counter (``INCR``), so it is gap-free
  across turns and worker processes;
- the stream entry id is ``<seq>-0``; it is the event ``id`` and the SSE id;
- a turn's ``turn.completed`` sets the turn's *final* key; once it is set,
  later events of that turn are dropped, so a turn ends exactly once even
  when the job and the watchdog race to end it;
- events of a deleted session (no session record) are dropped, so a job
  that outlives its session cannot recreate the log.

Readers get the stored JSON as bytes and send it on unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from . import events as ev
from .keys import RelayKeys, response_channel

__all__ = ["APPEND_FUNCTION", "EventLog", "StoredEvent", "decode_ids"]

#: The one Lua definition of appending events, shared by every script that
#: writes to an event log (this module's, and the approvals' resolve script,
#: which records a decision and its event atomically). It returns the new
#: ids, or an empty table when the turn has ended or the session is gone.
APPEND_FUNCTION = """
local function relay_append(k_events, k_seq, k_final, k_session, channel, maxlen, ttl_ms,
                            final, bodies)
  if redis.call('EXISTS', k_final) == 1 then return {} end
  if redis.call('EXISTS', k_session) == 0 then return {} end
  if final == '1' then redis.call('SET', k_final, '1', 'PX', ttl_ms) end
  local ids = {}
  for i = 1, #bodies do
    local seq = redis.call('INCR', k_seq)
    local id = seq .. '-0'
    local msg = '{"id":"' .. id .. '","seq":' .. seq .. ',' .. string.sub(bodies[i], 2)
    redis.call('XADD', k_events, 'MAXLEN', '~', maxlen, id, 'e', msg)
    redis.call('PUBLISH', channel, msg)
    ids[#ids + 1] = id
  end
  redis.call('PEXPIRE', k_events, ttl_ms)
  redis.call('PEXPIRE', k_seq, ttl_ms)
  return ids
end
"""

# KEYS: events stream, seq counter, final key of the turn, session record
# ARGV: channel, maxlen, ttl_ms, final (0/1), body...
_APPEND = (
    APPEND_FUNCTION
    + """
local bodies = {}
for i = 5, #ARGV do bodies[#bodies + 1] = ARGV[i] end
return relay_append(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4], bodies)
"""
)


@dataclass(frozen=True)
class StoredEvent:
    """One event as read back from the log: its id and its JSON bytes."""

    id: str
    data: bytes


class EventLog:
    """Append to and read from sessions' event logs."""

    def __init__(
        self,
        client: redis.Redis,
        keys: RelayKeys | None = None,
        maxlen: int = 10_000,
        ttl_seconds: int = 86_400,
    ) -> None:
        self.redis = client
        self.keys = keys or RelayKeys()
        self.maxlen = maxlen
        self.ttl_ms = ttl_seconds * 1000
        self._append = client.register_script(_APPEND)

    def append(
        self,
        session: str,
        turn: int,
        bodies: Sequence[dict[str, Any]],
        pipe: redis.client.Pipeline | None = None,
    ) -> list[str]:
        """Store and publish ``bodies`` (events of ``turn``) in order.

        Returns their ids; an empty list if the turn had already ended (the
        events are then dropped). A ``turn.completed`` among ``bodies``
        ends the turn: it must be the last body. With ``pipe`` the call is
        only queued on that pipeline (its result comes from ``execute()``).
        """
        if not bodies:
            return []
        final = bodies[-1]["type"] == ev.TURN_COMPLETED
        keys = self.script_keys(session, turn)
        args: list[Any] = [*self.script_args(session), int(final)]
        args.extend(ev.encode(body) for body in bodies)
        if pipe is not None:
            self._append(keys=keys, args=args, client=pipe)
            return []
        return decode_ids(self._append(keys=keys, args=args))

    def script_keys(self, session: str, turn: int) -> list[str]:
        """The keys :data:`APPEND_FUNCTION` takes, in its order, for ``turn`` of ``session``."""
        return [
            self.keys.events(session),
            self.keys.seq(session),
            self.keys.final(session, turn),
            self.keys.session(session),
        ]

    def script_args(self, session: str) -> list[Any]:
        """Its channel, cap and TTL arguments, in its order."""
        return [response_channel(session), self.maxlen, self.ttl_ms]

    def is_final(self, session: str, turn: int) -> bool:
        """Whether ``turn`` of ``session`` has ended (its final event is stored)."""
        return bool(self.redis.exists(self.keys.final(session, turn)))

    def read(self, session: str, after: str | None = None, count: int = 1000) -> list[StoredEvent]:
        """Events stored after id ``after`` (from the start when ``None``)."""
        low = "-" if after is None else "(" + after
        rows = self.redis.xrange(self.keys.events(session), min=low, count=count)
        return [_stored(entry_id, fields) for entry_id, fields in rows]

    def wait(self, session: str, after: str, block_ms: int, count: int = 1000) -> list[StoredEvent]:
        """Block up to ``block_ms`` for events after ``after`` (``"0-0"``: any)."""
        reply = self.redis.xread({self.keys.events(session): after}, count=count, block=block_ms)
        if not reply:
            return []
        _, rows = reply[0]
        return [_stored(entry_id, fields) for entry_id, fields in rows]

    def first_id(self, session: str) -> str | None:
        """Id of the oldest event still kept (older ones were trimmed)."""
        rows = self.redis.xrange(self.keys.events(session), count=1)
        return _decode(rows[0][0]) if rows else None

    def last_id(self, session: str) -> str | None:
        """Id of the newest event, or ``None`` for an empty log."""
        rows = self.redis.xrevrange(self.keys.events(session), count=1)
        return _decode(rows[0][0]) if rows else None

    def delete(self, session: str) -> None:
        """Drop the session's log and counter."""
        self.redis.delete(self.keys.events(session), self.keys.seq(session))


def decode_ids(ids: Sequence[bytes | str]) -> list[str]:
    """The append script's reply as ``str`` ids."""
    return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _stored(entry_id: bytes | str, fields: dict[Any, Any]) -> StoredEvent:
    data = fields.get(b"e", fields.get("e", b""))
    return StoredEvent(_decode(entry_id), data if isinstance(data, bytes) else data.encode())
