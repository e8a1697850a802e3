"""The relay's per-app state, read by every route from ``current_app.extensions``.

:class:`~blueprints.extension.CodexRelay` builds one :class:`RelayState` in
``init_app``; routes, the SSE stream and the admin views read it through
:func:`relay_state` (the way Flask extensions keep their state), so they
never import the extension and the extension alone imports them.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from relay.event_fanout import EventFanout
from relay.runtime import RelayRuntime
from relay.settings import Settings
from relay.tokens import sign_run_token, token_lifetime

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
        """A run token for one turn (EdDSA, signed with the relay's own private key).

        Minted with PyJWT, never with the host's flask-jwt-extended: see
        :mod:`relay.tokens` for why a host's ``@jwt_required`` refuses it.
        """
        return sign_run_token(
            self.settings.jwt_private_key or "",
            user=user,
            runid=runid,
            config=config,
            session=session,
            tier=tier,
            lifetime=token_lifetime(self.settings.turn_timeout),
            run_dir=run_dir,
        )


def relay_state() -> RelayState:
    """The :class:`RelayState` of the current app."""
    state: RelayState = current_app.extensions[EXTENSION_KEY]
    return state
