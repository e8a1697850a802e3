"""API keys for the OpenAI-compatible facade, stored hashed in Redis.

A key is ``crk_`` followed by 43 URL-safe characters: 32 bytes (256 bits)
from the operating system's CSPRNG. Redis keeps only its SHA-256, under
``<prefix>api-key:<sha256>``, with the user it stands for, a label, when it
was made and when it was last used; ``<prefix>api-keys`` maps each key's
short public id (shown by ``codex-relay api-keys list``, used by
``revoke``) to that digest.

Why one SHA-256 and no slow key-derivation function (bcrypt, scrypt,
Argon2): a slow KDF makes guessing a *low-entropy secret* (a password) from
a stolen hash expensive. These keys are not chosen by people: finding one
from its digest means searching 2**256 candidates, which no amount of
hashing speed brings within reach, so a slow KDF would add nothing but
latency (and a way to burn the server's CPU) to every API request. For the
same reason the lookup needs no constant-time comparison: the request's key
is hashed first and Redis is asked for that digest, so how long a lookup
takes depends on the digest, which an attacker cannot steer toward a stored
one without already knowing a key.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

import redis

from .errors import BadRequest
from .keys import RelayKeys

__all__ = ["KEY_PREFIX", "ApiKeyInfo", "ApiKeyStore", "hash_key"]

#: Every key starts with this, so it is recognisable in a config file or a leak scan.
KEY_PREFIX = "crk_"
#: Bytes of randomness in a key.
_KEY_BYTES = 32
#: Longest string taken as a key candidate; anything longer is not one of ours.
_MAX_KEY_CHARS = 128
#: ``last_used`` is rewritten at most this often (seconds), so a busy key costs one read.
_TOUCH_EVERY = 60.0
# HSET alone would recreate a key revoked since the read: touch only a live one.
_TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'last_used', ARGV[1]) end
return 0
"""
_USER = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")
_LABEL = re.compile(r"^[^\x00-\x1f\x7f]{0,100}$")


def hash_key(key: str) -> str:
    """The SHA-256 (hex) a key is stored and looked up by."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKeyInfo:
    """What is known about a key (never the key itself)."""

    id: str
    user: str
    label: str
    created: float
    last_used: float


class ApiKeyStore:
    """Create, look up, list and revoke API keys."""

    def __init__(self, client: redis.Redis, keys: RelayKeys | None = None) -> None:
        self.redis = client
        self.keys = keys or RelayKeys()
        self._touch = client.register_script(_TOUCH)

    def create(self, user: str, label: str = "") -> tuple[str, ApiKeyInfo]:
        """A new key for ``user``: ``(the key, its info)``. The key is not stored; show it once."""
        if not _USER.match(user) or not user.strip():
            raise BadRequest("A user name is 1-128 printable characters.")
        if not _LABEL.match(label):
            raise BadRequest("A label is at most 100 printable characters.")
        key = KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)
        digest = hash_key(key)
        info = ApiKeyInfo(secrets.token_hex(6), user, label, time.time(), 0.0)
        record = {"id": info.id, "user": user, "label": label, "created": info.created}
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.api_key(digest), mapping={**record, "last_used": 0})
            pipe.hset(self.keys.api_key_ids(), info.id, digest)
            pipe.execute()
        return key, info

    def user_for(self, key: str) -> str | None:
        """The user of ``key``, or ``None`` for anything that is not a live key."""
        if not key.startswith(KEY_PREFIX) or len(key) > _MAX_KEY_CHARS:
            return None
        name = self.keys.api_key(hash_key(key))
        user, last_used = self.redis.hmget(name, ["user", "last_used"])
        if user is None:
            return None
        now = time.time()
        if now - float(last_used or 0) >= _TOUCH_EVERY:
            self._touch(keys=[name], args=[now])
        return str(user.decode())

    def list_keys(self, user: str | None = None) -> list[ApiKeyInfo]:
        """Every key (of ``user``, if given), oldest first."""
        digests = self.redis.hgetall(self.keys.api_key_ids())
        with self.redis.pipeline(transaction=False) as pipe:
            for digest in digests.values():
                pipe.hgetall(self.keys.api_key(digest.decode()))
            rows = pipe.execute()
        found = [_info(row) for row in rows if row]
        return sorted((i for i in found if user is None or i.user == user), key=_created)

    def revoke(self, key_id: str) -> bool:
        """Revoke the key with public id ``key_id``; ``False`` if there is none."""
        digest = self.redis.hget(self.keys.api_key_ids(), key_id)
        if digest is None:
            return False
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.api_key(digest.decode()))
            pipe.hdel(self.keys.api_key_ids(), key_id)
            pipe.execute()
        return True


def _info(row: dict[bytes, bytes]) -> ApiKeyInfo:
    def text(name: str) -> str:
        return row.get(name.encode(), b"").decode()

    return ApiKeyInfo(
        id=text("id"),
        user=text("user"),
        label=text("label"),
        created=float(text("created") or 0),
        last_used=float(text("last_used") or 0),
    )


def _created(info: ApiKeyInfo) -> float:
    return info.created
