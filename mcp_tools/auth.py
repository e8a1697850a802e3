"""Who may call a tool, on which run: the turn's JWT, checked on every call.

Every tool call goes through :meth:`RunAuthoriser.authorise` before it touches
a file:

1. the token is verified with the **public key only** (EdDSA; signature,
   ``exp``, ``aud`` and the required claims, by :func:`relay.tokens.verify_run_token`),
   then checked against a pluggable revocation check (:class:`RedisRevocation`
   looks for ``<prefix>revoked:<session>``, the key the relay sets when a
   session is deleted);
2. a ``runid`` argument that differs from the token's run is refused;
3. the tier: ``read`` tools for both tiers, ``edit`` tools for ``edit`` only.

The run directory is the token's signed ``run_dir`` claim when present, else
``$CODEX_RELAY_RUNS_ROOT/<runid>``. The agent cannot choose it: both come from
the signed token or from the server's own settings. When a runs root is
configured, the claim must lie under it (after resolving links): a token
signed for a directory elsewhere (a host resolver's mistake, or a key used
for something else) reaches nothing outside the runs.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relay.errors import ConfigError
from relay.settings import Settings, setting_name

from .errors import Forbidden, NotFound, Unauthorised
from .path_guard import is_inside

if TYPE_CHECKING:
    from relay.tokens import RunClaims

__all__ = [
    "EDIT",
    "READ",
    "RedisRevocation",
    "RevocationCheck",
    "RunAccess",
    "RunAuthoriser",
    "load_public_key",
]

#: Tier of the tools that only read.
READ = "read"
#: Tier of the tools that change a report.
EDIT = "edit"

#: A run id used as a directory name must be one plain path component.
_RUNID_AS_DIR = re.compile(r"^(?!\.{1,2}\Z)[A-Za-z0-9._-]{1,200}\Z")

#: ``is_revoked(claims)`` is true when the token's session was deleted.
RevocationCheck = Callable[["RunClaims"], bool]


def load_public_key(settings: Settings) -> str:
    """The verifying key's PEM text (``CODEX_RELAY_JWT_PUBLIC_KEY`` or ``..._FILE``).

    Raises :class:`~relay.errors.ConfigError` naming the setting when it gives
    no key; this is a start-up error, not a tool error.
    """
    pem = (settings.jwt_public_key or "").strip()
    if "BEGIN PUBLIC KEY" not in pem:
        name = setting_name("jwt_public_key")
        raise ConfigError(name, f"or {name}_FILE must give a PEM public key")
    return pem + "\n"


@dataclass(frozen=True)
class RunAccess:
    """What a verified call may touch: the token's claims and the run directory."""

    claims: RunClaims
    #: The run directory, fully resolved (``os.path.realpath``).
    run_dir: Path


class RedisRevocation:
    """Revocation check against Redis: the key ``RelayKeys(prefix).revoked(session)``.

    The client is made on first use (so start-up does not import ``redis``)
    and shared by all threads. When Redis cannot be reached the call is
    refused (fail closed): a deleted session must never keep working.
    """

    def __init__(self, url: str, prefix: str = "relay:", *, client: Any = None) -> None:
        self.url = url
        self.prefix = prefix
        self._client = client
        self._lock = threading.Lock()

    def _redis(self) -> Any:
        with self._lock:
            if self._client is None:
                import redis

                self._client = redis.Redis.from_url(
                    self.url, socket_connect_timeout=2.0, socket_timeout=2.0
                )
            return self._client

    def __call__(self, claims: RunClaims) -> bool:
        """Whether the session of ``claims`` has been revoked."""
        import redis

        from relay.keys import RelayKeys

        try:
            return bool(self._redis().exists(RelayKeys(self.prefix).revoked(claims.session)))
        except redis.RedisError:
            raise Unauthorised(
                "Cannot check whether the run token was revoked (Redis is unreachable); "
                "try again later."
            ) from None


@dataclass(frozen=True)
class RunAuthoriser:
    """Verifies a turn's token and finds its run directory.

    ``runs_root`` (the ``CODEX_RELAY_RUNS_ROOT`` setting) is where a token
    without a ``run_dir`` claim finds its run; ``leeway`` is the clock skew
    (seconds) allowed on ``exp``.
    """

    public_key_pem: str
    is_revoked: RevocationCheck | None = None
    runs_root: str | None = None
    leeway: float = 0.0

    def verify(self, token: str | None, *, check_revoked: bool = True) -> RunClaims:
        """The verified claims of ``token``, or :class:`Unauthorised`.

        ``check_revoked=False`` skips the revocation check (the HTTP gate uses
        it to turn strangers away without a Redis round trip; every tool call
        checks revocation).
        """
        from relay.errors import InvalidToken
        from relay.tokens import verify_run_token

        if not token:
            raise Unauthorised("No run token was given with this call.")
        try:
            return verify_run_token(
                token,
                self.public_key_pem,
                is_revoked=self.is_revoked if check_revoked else None,
                leeway=self.leeway,
            )
        except InvalidToken as exc:
            raise Unauthorised(exc.message) from None

    def authorise(self, token: str | None, *, tier: str, runid: str | None = None) -> RunAccess:
        """Check ``token`` for ``tier`` on ``runid`` (default: the token's run).

        Raises :class:`Unauthorised` (bad token), :class:`Forbidden` (another
        run, too low a tier) or :class:`NotFound` (the run directory is gone).
        """
        return self.scope(self.verify(token), tier=tier, runid=runid)

    def scope(self, claims: RunClaims, *, tier: str, runid: str | None = None) -> RunAccess:
        """Check verified ``claims`` for ``tier`` on ``runid``; find the run directory."""
        if runid and runid != claims.runid:
            raise Forbidden(
                f"This conversation is about run '{claims.runid}'; run '{runid}' is not allowed. "
                "Leave runid out to use the current run."
            )
        if not claims.allows(tier):
            raise Forbidden(
                f"This needs the '{tier}' tier; this conversation has only '{claims.tier}' access."
            )
        return RunAccess(claims=claims, run_dir=self.run_dir(claims))

    def run_dir(self, claims: RunClaims) -> Path:
        """The resolved run directory of ``claims`` (signed claim, else the runs root)."""
        if claims.run_dir:
            candidate = claims.run_dir
            if not os.path.isabs(candidate):
                raise NotFound("The run directory named by the token is not an absolute path.")
            root = os.path.realpath(self.runs_root) if self.runs_root else None
            real = os.path.realpath(candidate)
            if root is not None and (real == root or not is_inside(root, real)):
                raise Forbidden("The run directory named by the token is not under the runs root.")
        elif self.runs_root and _RUNID_AS_DIR.match(claims.runid):
            candidate = os.path.join(self.runs_root, claims.runid)
        else:
            raise NotFound(f"The directory of run '{claims.runid}' is not known to this server.")
        resolved = Path(os.path.realpath(candidate))
        if not resolved.is_dir():
            raise NotFound(f"The directory of run '{claims.runid}' does not exist.")
        return resolved
