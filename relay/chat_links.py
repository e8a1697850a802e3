"""Which relay session continues a chat client's conversation (OpenAI facade).

Chat front ends name their conversations themselves (Open WebUI sends
``X-OpenWebUI-Chat-Id``); the facade maps ``(user, run, chat id)`` to the
relay session it started for that conversation, so the next message goes
on in the same Codex thread. The link lives under
``<prefix>chat-link:<sha256>`` with the session's idle TTL; the digest
covers all three parts, so one user's chat id never reaches another
user's session, and the client's text never becomes part of a key name.
"""

from __future__ import annotations

import hashlib

import redis

from .keys import RelayKeys

__all__ = ["MAX_CHAT_ID_CHARS", "ChatLinks"]

#: Longest chat id accepted from a client.
MAX_CHAT_ID_CHARS = 256


def _digest(user: str, runid: str, chat_id: str) -> str:
    return hashlib.sha256("\0".join((user, runid, chat_id)).encode()).hexdigest()


class ChatLinks:
    """Links from a client's chat id to a relay session, per user and run."""

    def __init__(self, client: redis.Redis, keys: RelayKeys | None = None, ttl: int = 86_400):
        self.redis = client
        self.keys = keys or RelayKeys()
        self.ttl = ttl

    def session_for(self, user: str, runid: str, chat_id: str) -> str | None:
        """The session linked to ``chat_id`` of ``user`` on ``runid``, if any."""
        found = self.redis.get(self.keys.chat_link(_digest(user, runid, chat_id)))
        return found.decode() if found is not None else None

    def link(self, user: str, runid: str, chat_id: str, session: str) -> None:
        """Link ``chat_id`` of ``user`` on ``runid`` to ``session`` (for the session's TTL)."""
        self.redis.set(self.keys.chat_link(_digest(user, runid, chat_id)), session, ex=self.ttl)
