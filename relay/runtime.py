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

__all__ = ["POOL_SIZE", "POOL_WAIT", "RelayRuntime", "redis_client"]


#: Connections one process's client may open to Redis (threads or greenlets wait beyond it).
POOL_SIZE = 64
#: Seconds a caller waits for a free pooled connection before a ``ConnectionError``
#: (long enough that a burst of thousands of streams opening at once queues, not fails).
POOL_WAIT = 30.0


def redis_client(url: str, max_connections: int = POOL_SIZE) -> redis.Redis:
    """A Redis client with timeouts suited to the relay (never hang forever).

    Its pool is bounded and blocking: however many requests and event
    streams a web process serves, it opens at most ``max_connections``
    connections (plus the event fan-out's one pub/sub connection); a caller
    past the bound waits for a free one (up to :data:`POOL_WAIT` seconds).
    """
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=POOL_WAIT,
        socket_connect_timeout=2.0,
        socket_timeout=30.0,
        health_check_interval=15,
        retry_on_timeout=False,
    )
    return redis.Redis(connection_pool=pool)


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
