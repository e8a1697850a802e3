"""``CodexRelay``: the Flask extension a host app uses to mount the agent.

::

    relay = CodexRelay()

    @relay.user_loader
    def current_user():
        return flask_login.current_user.get_id()

    @relay.run_authorizer
    def may_use(user, runid, config):
        return Run.query.get(runid).is_visible_to(user)

    @relay.run_dir_resolver
    def run_dir(runid):
        return RUNS / runid if (RUNS / runid).is_dir() else None

    relay.init_app(app)

Every policy callback has a safe default: no user, no access, no run
directory, tier ``read``. Configuration is ``CODEX_RELAY_*`` keys in
``app.config`` layered over the environment (see :mod:`relay.settings`).
"""

from __future__ import annotations

import os
from collections import ChainMap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, current_app
from flask_jwt_extended import JWTManager, create_access_token

from relay.errors import ConfigError
from relay.runtime import RelayRuntime
from relay.settings import Settings, load_settings
from relay.tokens import ALGORITHM, AUDIENCE, run_claims

__all__ = ["CodexRelay", "RelayState", "relay_state"]

F = TypeVar("F", bound=Callable[..., Any])

UserLoader = Callable[[], "str | None"]
RunAuthorizer = Callable[[str, str, str], bool]
RunDirResolver = Callable[[str], "str | Path | None"]
TierLoader = Callable[[str, str, str], str]
AdminAuthorizer = Callable[[str], "bool | str | None"]

#: Roles an admin authorizer may grant: ``admin`` may act, ``viewer`` may only look.
ADMIN_ROLES = ("admin", "viewer")

#: Seconds a run token outlives the turn timeout (queue wait, clock skew).
TOKEN_MARGIN = 300


@dataclass
class RelayState:
    """Per-app state kept in ``app.extensions["codex_relay"]``."""

    extension: CodexRelay
    settings: Settings
    runtime: RelayRuntime
    url_prefix: str

    def mint_token(
        self, user: str, runid: str, config: str, session: str, tier: str, run_dir: str
    ) -> str:
        """A run token for one turn (EdDSA, signed with the web process's private key)."""
        lifetime = timedelta(seconds=self.settings.turn_timeout + TOKEN_MARGIN)
        token: str = create_access_token(
            identity=user,
            expires_delta=lifetime,
            additional_claims=run_claims(user, runid, config, session, tier, run_dir),
        )
        return token


def _deny_user() -> str | None:
    return None


def _deny_run(user: str, runid: str, config: str) -> bool:
    return False


def _no_run_dir(runid: str) -> str | Path | None:
    return None


def _read_tier(user: str, runid: str, config: str) -> str:
    return "read"


def _deny_admin(user: str) -> bool | str | None:
    return None


class CodexRelay:
    """The codex-relay Flask extension (``init_app`` pattern; keeps no app)."""

    def __init__(self, app: Flask | None = None, url_prefix: str | None = None) -> None:
        self._user_loader: UserLoader = _deny_user
        self._run_authorizer: RunAuthorizer = _deny_run
        self._run_dir_resolver: RunDirResolver = _no_run_dir
        self._tier_loader: TierLoader = _read_tier
        self._admin_authorizer: AdminAuthorizer = _deny_admin
        self._url_prefix = url_prefix
        if app is not None:
            self.init_app(app)

    # -- host policy ------------------------------------------------------

    def user_loader(self, func: F) -> F:
        """Register ``func() -> user id | None``: who is making this request."""
        self._user_loader = func
        return func

    def run_authorizer(self, func: F) -> F:
        """Register ``func(user, runid, config) -> bool``: may the user use this run."""
        self._run_authorizer = func
        return func

    def run_dir_resolver(self, func: F) -> F:
        """Register ``func(runid) -> path | None``: the run's directory (None: unknown run)."""
        self._run_dir_resolver = func
        return func

    def tier_loader(self, func: F) -> F:
        """Register ``func(user, runid, config) -> "read" | "edit"``: what the agent may do."""
        self._tier_loader = func
        return func

    def admin_authorizer(self, func: F) -> F:
        """Register ``func(user) -> "admin" | "viewer" | falsy``: the user's admin role.

        ``"admin"`` (or ``True``) may see the admin views and act (stop, delete,
        requeue); ``"viewer"`` may only look; anything else is refused (403).
        """
        self._admin_authorizer = func
        return func

    # -- calling the policy -----------------------------------------------

    def current_user(self) -> str | None:
        """The current user's id per the host, or ``None``."""
        user = self._user_loader()
        return str(user) if user not in (None, "") else None

    def authorize(self, user: str, runid: str, config: str) -> bool:
        """Whether the host lets ``user`` use ``runid``/``config``."""
        return bool(self._run_authorizer(user, runid, config))

    def run_dir(self, runid: str) -> str | None:
        """The run's directory, or ``None`` for an unknown run."""
        found = self._run_dir_resolver(runid)
        if found is None:
            return None
        path = Path(found).resolve()
        return str(path) if path.is_dir() else None

    def tier(self, user: str, runid: str, config: str) -> str:
        """The tier the host grants (anything unknown counts as ``read``)."""
        tier = self._tier_loader(user, runid, config)
        return tier if tier in ("read", "edit") else "read"

    def admin_role(self, user: str) -> str | None:
        """The admin role the host grants ``user``: ``"admin"``, ``"viewer"`` or ``None``."""
        role = self._admin_authorizer(user)
        if role is True:
            return "admin"
        return role if isinstance(role, str) and role in ADMIN_ROLES else None

    def is_admin(self, user: str) -> bool:
        """Whether the host lets ``user`` act in the admin views (role ``admin``)."""
        return self.admin_role(user) == "admin"

    # -- wiring -----------------------------------------------------------

    def init_app(self, app: Flask) -> None:
        """Configure ``app``: settings, Redis, JWT minting, routes and static files."""
        settings = load_settings(ChainMap(app.config, os.environ))
        if not settings.jwt_private_key or not settings.jwt_public_key:
            raise ConfigError(
                "CODEX_RELAY_JWT_PRIVATE_KEY",
                "the web app needs the Ed25519 key pair that signs run tokens",
            )
        self._configure_jwt(app, settings)
        prefix = self._url_prefix
        if prefix is None:
            prefix = str(app.config.get("CODEX_RELAY_URL_PREFIX", ""))
        state = RelayState(self, settings, RelayRuntime.from_settings(settings), prefix.rstrip("/"))
        app.extensions["codex_relay"] = state

        from .routes import make_blueprint

        app.register_blueprint(make_blueprint(), url_prefix=state.url_prefix or None)
        if settings.admin_enabled:
            from .admin import register_admin

            register_admin(app, state)

    @staticmethod
    def _configure_jwt(app: Flask, settings: Settings) -> None:
        if app.config.setdefault("JWT_ALGORITHM", ALGORITHM) != ALGORITHM:
            raise ConfigError(
                "JWT_ALGORITHM",
                f"codex-relay mints {ALGORITHM} run tokens; the app's flask-jwt-extended "
                "is configured for another algorithm",
            )
        app.config.setdefault("JWT_PRIVATE_KEY", settings.jwt_private_key)
        app.config.setdefault("JWT_PUBLIC_KEY", settings.jwt_public_key)
        app.config.setdefault("JWT_DECODE_AUDIENCE", AUDIENCE)
        if "flask-jwt-extended" not in app.extensions:
            JWTManager(app)


def relay_state() -> RelayState:
    """The :class:`RelayState` of the current app."""
    state: RelayState = current_app.extensions["codex_relay"]
    return state
