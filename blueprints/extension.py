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
from typing import Any, TypeVar

from flask import Flask

from relay.errors import ConfigError
from relay.event_fanout import EventFanout
from relay.runtime import RelayRuntime
from relay.settings import load_settings
from relay.stream_slots import StreamSlots

from .admin import register_admin
from .host_policy import HostPolicy
from .openai_api import make_openai_blueprint
from .report_routes import add_report_routes
from .routes import make_blueprint
from .state import EXTENSION_KEY, RelayState

__all__ = ["CodexRelay"]

F = TypeVar("F", bound=Callable[..., Any])


class CodexRelay:
    """The codex-relay Flask extension (``init_app`` pattern; keeps no app)."""

    def __init__(self, app: Flask | None = None, url_prefix: str | None = None) -> None:
        #: The host's callbacks (registered with the decorators below).
        self.policy = HostPolicy()
        self._url_prefix = url_prefix
        if app is not None:
            self.init_app(app)

    # -- host policy ------------------------------------------------------

    def user_loader(self, func: F) -> F:
        """Register ``func() -> user id | None``: who is making this request."""
        self.policy.user_loader = func
        return func

    def run_authorizer(self, func: F) -> F:
        """Register ``func(user, runid, config) -> bool``: may the user use this run."""
        self.policy.run_authorizer = func
        return func

    def run_dir_resolver(self, func: F) -> F:
        """Register ``func(runid) -> path | None``: the run's directory (None: unknown run)."""
        self.policy.run_dir_resolver = func
        return func

    def tier_loader(self, func: F) -> F:
        """Register ``func(user, runid, config) -> "read" | "edit"``: what the agent may do."""
        self.policy.tier_loader = func
        return func

    def admin_authorizer(self, func: F) -> F:
        """Register ``func(user) -> "admin" | "viewer" | falsy``: the user's admin role.

        ``"admin"`` (or ``True``) may see the admin views and act (stop, delete,
        requeue); ``"viewer"`` may only look; anything else is refused (403).
        """
        self.policy.admin_authorizer = func
        return func

    def approval_policy_loader(self, func: F) -> F:
        """Register ``func(user, runid, tier) -> "never" | "untrusted" | "on-request" | None``.

        When the agent must ask the user before acting, decided as each turn
        starts (``None``: ``CODEX_RELAY_APPROVAL_POLICY``). A policy other than
        ``never`` needs the ``app-server`` runner.
        """
        self.policy.approval_policy_loader = func
        return func

    def api_key_loader(self, func: F) -> F:
        """Register ``func(key) -> user id | None``: who an OpenAI-facade API key stands for.

        ``blueprints.openai_api.redis_api_key_loader`` is a ready-made one: the keys
        made by ``codex-relay api-keys create``.
        """
        self.policy.api_key_loader = func
        return func

    def runs_lister(self, func: F) -> F:
        """Register ``func(user) -> iterable of (runid, config)``: the OpenAI facade's models.

        Each listed run is still checked with the run authorizer before it is shown.
        """
        self.policy.runs_lister = func
        return func

    # -- wiring -----------------------------------------------------------

    def init_app(self, app: Flask) -> None:
        """Configure ``app``: settings, Redis, routes (the panel's and the OpenAI-compatible
        API's), admin views and static files.

        Nothing app-wide is set for JWTs: run tokens are signed with the
        relay's own key (:meth:`RelayState.mint_token`), and a host's
        flask-jwt-extended keeps exactly the configuration the host gave it.
        """
        settings = load_settings(ChainMap(app.config, os.environ))
        if not settings.jwt_private_key or not settings.jwt_public_key:
            raise ConfigError(
                "CODEX_RELAY_JWT_PRIVATE_KEY",
                "the web app needs the Ed25519 key pair that signs run tokens",
            )
        prefix = self._url_prefix
        if prefix is None:
            prefix = settings.url_prefix
        runtime = RelayRuntime.from_settings(settings)
        slots = StreamSlots(runtime.redis, runtime.keys, settings.max_streams_per_user)
        state = RelayState(
            self.policy, settings, runtime, prefix.rstrip("/"), EventFanout(runtime, slots)
        )
        app.extensions[EXTENSION_KEY] = state
        blueprint = make_blueprint()
        add_report_routes(blueprint)
        app.register_blueprint(blueprint, url_prefix=state.url_prefix or None)
        app.register_blueprint(
            make_openai_blueprint(), url_prefix=state.url_prefix + settings.openai_prefix
        )
        if settings.admin_enabled:
            register_admin(app, state)
