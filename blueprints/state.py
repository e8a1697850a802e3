"""The relay's per-app state, read by every route from ``current_app.extensions``.

:class:`~blueprints.extension.CodexRelay` builds one :class:`RelayState` in
``init_app``; routes, the SSE stream and the admin views read it through
:func:`relay_state` (the way flask-jwt-extended reads its manager), so they
never import the extension and the extension alone imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_jwt_extended import create_access_token

from relay.event_fanout import EventFanout
from relay.runtime import RelayRuntime
from relay.settings import Settings
from relay.tokens import run_claims, token_lifetime

from .host_policy import HostPolicy

__all__ = ["EXTENSION_KEY", "RelayState", "relay_state"]

#: Key of the state in ``app.extensions``.
EXTENSION_KEY = "codex_relay"


@dataclass
class RelayState:
    """Per-app state kept in ``app.extensions["codex_relay"]``."""

    policy: HostPolicy
    settings: Settings
    runtime: RelayRuntime
    url_prefix: str
    #: Live events for every stream of this app in this process.
    fanout: EventFanout

    def mint_token(
        self, user: str, runid: str, config: str, session: str, tier: str, run_dir: str
    ) -> str:
        """A run token for one turn (EdDSA, signed with the web process's private key)."""
        token: str = create_access_token(
            identity=user,
            expires_delta=timedelta(seconds=token_lifetime(self.settings.turn_timeout)),
            additional_claims=run_claims(user, runid, config, session, tier, run_dir),
        )
        return token


def relay_state() -> RelayState:
    """The :class:`RelayState` of the current app."""
    state: RelayState = current_app.extensions[EXTENSION_KEY]
    return state
