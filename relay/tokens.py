"""Run-scoped tokens: claims, key pairs and verification (no Flask here).

A run token is an EdDSA (Ed25519) JWT minted by the web process for one
turn, with PyJWT and the relay's own key (``CODEX_RELAY_JWT_PRIVATE_KEY``);
nothing of the host's own JWT setup (flask-jwt-extended or other) is used or
changed. Only the web process holds the private key; workers and the MCP
tools verify with the public key, so nothing the agent can read lets it mint
a token.

A run token is not a login, and a login is not a run token: it carries the
user in a ``user`` claim and no ``sub``, so flask-jwt-extended (which needs
its identity claim, ``sub``) refuses it on every ``@jwt_required`` route even
if the host used the same key; and its ``type`` is :data:`TOKEN_TYPE`, which
verification requires, so a host's access token is never taken for one.
Verification requires ``exp``, ``iat``, ``jti``, ``user``, ``type``,
``runid``, ``config``, ``session`` and ``tier``, and the audience
``codex-relay-mcp``; any other algorithm (``none``, HS256 with the public key
as secret, RS256) is refused. ``leeway`` allows for clock skew between the
web process that signs and the workers that verify.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .errors import InvalidToken, TokenRevoked, TokenScopeError

__all__ = [
    "ALGORITHM",
    "AUDIENCE",
    "TIERS",
    "TOKEN_MARGIN",
    "TOKEN_TYPE",
    "RunClaims",
    "generate_keypair",
    "sign_run_token",
    "token_lifetime",
    "verify_run_token",
]

ALGORITHM = "EdDSA"
AUDIENCE = "codex-relay-mcp"
#: The ``type`` claim of every run token.
TOKEN_TYPE = "codex-relay-run"
#: Tiers in increasing order of power.
TIERS = ("read", "edit")
#: Seconds a run token outlives the turn timeout (queue wait, clock skew).
TOKEN_MARGIN = 300
_REQUIRED = ["exp", "iat", "jti", "user", "type", "aud", "runid", "config", "session", "tier"]


@dataclass(frozen=True)
class RunClaims:
    """The verified claims of a run token."""

    #: The user the token acts for (its ``user`` claim).
    sub: str
    runid: str
    config: str
    session: str
    tier: str
    jti: str
    iat: int
    exp: int
    run_dir: str = ""

    def allows(self, tier: str) -> bool:
        """Whether this token's tier grants ``tier``."""
        return TIERS.index(self.tier) >= TIERS.index(tier)

    def require(self, tier: str, runid: str | None = None) -> None:
        """Raise :class:`TokenScopeError` unless the token grants ``tier`` on ``runid``."""
        if runid is not None and runid != self.runid:
            raise TokenScopeError("This token is for another run.")
        if not self.allows(tier):
            raise TokenScopeError(f"This needs the '{tier}' tier; the token has '{self.tier}'.")


def generate_keypair() -> tuple[str, str]:
    """A new Ed25519 key pair as ``(private_pem, public_pem)``."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def run_claims(
    user: str, runid: str, config: str, session: str, tier: str, run_dir: str = ""
) -> dict[str, Any]:
    """The claims of a run token that say what it is for (``exp``/``iat``/``jti`` aside)."""
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}")
    claims: dict[str, Any] = {
        "type": TOKEN_TYPE,
        "user": user,
        "runid": runid,
        "config": config,
        "session": session,
        "tier": tier,
        "aud": AUDIENCE,
    }
    if run_dir:
        claims["run_dir"] = run_dir
    return claims


def sign_run_token(
    private_key_pem: str,
    *,
    user: str,
    runid: str,
    config: str,
    session: str,
    tier: str,
    lifetime: float,
    run_dir: str = "",
) -> str:
    """Mint a run token with PyJWT and the relay's private key (see the module docstring)."""
    now = int(time.time())
    payload = run_claims(user, runid, config, session, tier, run_dir)
    payload.update(iat=now, exp=now + int(lifetime), jti=secrets.token_hex(16))
    return jwt.encode(payload, private_key_pem, algorithm=ALGORITHM)


def verify_run_token(
    token: str,
    public_key_pem: str,
    *,
    is_revoked: Callable[[RunClaims], bool] | None = None,
    leeway: float = 0.0,
) -> RunClaims:
    """Verify ``token`` and return its claims, or raise :class:`InvalidToken`."""
    try:
        payload = jwt.decode(
            token,
            public_key_pem,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            leeway=leeway,
            options={"require": _REQUIRED, "verify_signature": True},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("The run token has expired.") from None
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"The run token is not valid ({type(exc).__name__}).") from None
    for name in ("user", "runid", "config", "session", "tier", "jti"):
        if not isinstance(payload.get(name), str) or not payload[name]:
            raise InvalidToken(f"The run token's '{name}' claim is missing or empty.")
    if payload["type"] != TOKEN_TYPE:
        raise InvalidToken("This is not a run token (wrong 'type').")
    if payload["tier"] not in TIERS:
        raise InvalidToken("The run token has an unknown tier.")
    run_dir = payload.get("run_dir", "")
    claims = RunClaims(
        sub=payload["user"],
        runid=payload["runid"],
        config=payload["config"],
        session=payload["session"],
        tier=payload["tier"],
        jti=payload["jti"],
        iat=int(payload["iat"]),
        exp=int(payload["exp"]),
        run_dir=run_dir if isinstance(run_dir, str) else "",
    )
    if is_revoked is not None and is_revoked(claims):
        raise TokenRevoked("The run token was revoked (its session was deleted).")
    return claims


def token_lifetime(turn_timeout: float) -> int:
    """Seconds a run token lives: one turn plus :data:`TOKEN_MARGIN`.

    A deleted session's tokens stay revoked this long, so the revocation
    outlives every token minted for it.
    """
    return int(turn_timeout) + TOKEN_MARGIN
