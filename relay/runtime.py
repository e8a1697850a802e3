"""The relay's runtime handles: settings, Redis, event log, sessions, approvals, keys, queue."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from rq import Queue

from .api_keys import ApiKeyStore
from .approvals import ApprovalBook
from .chat_links import ChatLinks
from .errors import ConfigError
from .event_log import EventLog
from .keys import QUEUE_NAME, RelayKeys
from .session_store import SessionStore
from .settings import Settings

__all__ = ["RelayRuntime", "redis_client"]


def redis_client(url: str, max_connections: int = 10_000) -> redis.Redis:
    """A Redis client with timeouts suited to the relay (never hang forever).

    Every open SSE stream holds one connection in a blocking ``XREAD``, so
    the pool must be larger than redis-py 8's default of 100 connections.
    """
    return redis.Redis.from_url(
        url,
        max_connections=max_connections,
        socket_connect_timeout=2.0,
        socket_timeout=30.0,
        health_check_interval=15,
        retry_on_timeout=False,
    )


@dataclass
class RelayRuntime:
    """Everything a route, a job or a CLI command needs to talk to the relay."""

    settings: Settings
    redis: redis.Redis
    keys: RelayKeys
    events: EventLog
    sessions: SessionStore
    approvals: ApprovalBook
    api_keys: ApiKeyStore
    chat_links: ChatLinks

    @classmethod
    def from_settings(cls, settings: Settings, client: redis.Redis | None = None) -> RelayRuntime:
        """Build the runtime; ``client`` defaults to one made from ``settings.redis_url``."""
        if client is None:
            if not settings.redis_url:
                raise ConfigError("REDIS_URL", "is not set")
            client = redis_client(settings.redis_url)
        keys = RelayKeys(settings.key_prefix)
        events = EventLog(client, keys, settings.event_log_maxlen, settings.session_ttl)
        return cls(
            settings=settings,
            redis=client,
            keys=keys,
            events=events,
            sessions=SessionStore(client, keys, settings.session_ttl),
            approvals=ApprovalBook(client, keys, events, settings.session_ttl),
            api_keys=ApiKeyStore(client, keys),
            chat_links=ChatLinks(client, keys, settings.session_ttl),
        )

    def queue(self, name: str = QUEUE_NAME) -> Queue:
        """The RQ queue turns are enqueued on."""
        return Queue(name, connection=self.redis)
