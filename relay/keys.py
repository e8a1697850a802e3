"""Redis key and channel names, in one place.

The two pub/sub channels are a public contract with host bridges and keep
their fixed names (``agent_response-<session>``, ``agent_chat-<session>``);
every other key carries the configurable prefix (default ``relay:``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["QUEUE_NAME", "RelayKeys", "chat_channel", "response_channel"]

#: The RQ queue every turn is enqueued on.
QUEUE_NAME = "codex-relay"


def response_channel(session: str) -> str:
    """Pub/sub channel on which every event of ``session`` is published."""
    return f"agent_response-{session}"


def chat_channel(session: str) -> str:
    """Pub/sub channel for user messages and control (cancel) of ``session``."""
    return f"agent_chat-{session}"


@dataclass(frozen=True)
class RelayKeys:
    """Names of the prefixed Redis keys codex-relay uses."""

    prefix: str = "relay:"

    def events(self, session: str) -> str:
        """The session's durable event log (a Redis Stream)."""
        return f"{self.prefix}events:{session}"

    def seq(self, session: str) -> str:
        """Counter behind the gap-free ``seq`` of the session's events."""
        return f"{self.prefix}seq:{session}"

    def session(self, session: str) -> str:
        """The session record (a hash)."""
        return f"{self.prefix}session:{session}"

    def final(self, session: str, turn: int) -> str:
        """Set once when a turn's ``turn.completed`` has been written."""
        return f"{self.prefix}final:{session}:{turn}"

    def cancel(self, session: str, turn: int) -> str:
        """Present while a cancel of this turn has been requested."""
        return f"{self.prefix}cancel:{session}:{turn}"

    def codex_state(self, session: str) -> str:
        """Archive of the Codex thread files a later turn needs to resume."""
        return f"{self.prefix}codex-state:{session}"

    def approval(self, session: str, approval_id: str) -> str:
        """One approval the agent asked for: its request, deadline and the decision that stood."""
        return f"{self.prefix}approval:{session}:{approval_id}"

    def approvals(self, session: str, turn: int) -> str:
        """Set of the approval ids a turn asked for."""
        return f"{self.prefix}approvals:{session}:{turn}"

    def revoked(self, session: str) -> str:
        """Present when the session's tokens are revoked (session deleted)."""
        return f"{self.prefix}revoked:{session}"

    def user_sessions(self, user: str) -> str:
        """Sorted set of a user's session ids, scored by last activity."""
        return f"{self.prefix}user-sessions:{user}"

    def running(self) -> str:
        """Hash of running turns: ``<session>`` -> ``<turn>``."""
        return f"{self.prefix}running"

    def user_running(self, user: str) -> str:
        """Set of a user's sessions with a running turn."""
        return f"{self.prefix}user-running:{user}"

    def user_streams(self, user: str) -> str:
        """Sorted set of a user's open event streams, scored by lease expiry (ms)."""
        return f"{self.prefix}streams:{user}"

    def rate(self, user: str, window: int) -> str:
        """Counter of a user's chat requests in one rate-limit window."""
        return f"{self.prefix}rate:{user}:{window}"

    def tokens(self, day: str) -> str:
        """Hash of the tokens each user spent on ``day`` (UTC ``YYYY-MM-DD``)."""
        return f"{self.prefix}tokens:{day}"

    def metrics(self) -> str:
        """Hash of the relay's counters and histogram buckets."""
        return f"{self.prefix}metrics"

    def api_key(self, digest: str) -> str:
        """An API key's record (a hash), named by the SHA-256 of the key."""
        return f"{self.prefix}api-key:{digest}"

    def api_key_ids(self) -> str:
        """Hash of every API key: ``<key id>`` -> the key's SHA-256 (for list and revoke)."""
        return f"{self.prefix}api-keys"

    def chat_link(self, digest: str) -> str:
        """The relay session a chat client's conversation continues (OpenAI facade)."""
        return f"{self.prefix}chat-link:{digest}"

    def sessions_index(self) -> str:
        """Sorted set of every session id, scored by last activity."""
        return f"{self.prefix}sessions"
