"""Who may start a turn on which run, and starting it: shared by every front door.

The panel's routes (:mod:`blueprints.routes`) and any other way in (an API
facade, a host bridge) authorise and start turns through these functions,
so the host's policy, the rate limits and the quotas hold the same way
whichever door a request came through.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from relay.errors import ConfigError, Forbidden, NotAuthenticated, NotFound, RateLimited
from relay.fair_use import FairUse
from relay.runtime import RelayRuntime
from relay.session_store import SessionRecord
from relay.settings import setting_name
from relay.turns import start_turn

from .state import RelayState

__all__ = [
    "RunContext",
    "StartedTurn",
    "check_rate",
    "is_plain_name",
    "owned_session",
    "run_context",
    "start_chat_turn",
]

log = logging.getLogger("codex_relay.http")

# "\Z", not "$": "$" also matches before a final newline ("run-1\n").
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
_SESSION_ID = re.compile(r"^[0-9a-f]{32}\Z")


@dataclass(frozen=True)
class RunContext:
    """Who is asking about which run, as the host decided."""

    user: str
    runid: str
    config: str
    run_dir: str
    tier: str


@dataclass(frozen=True)
class StartedTurn:
    """A turn that was queued: its session, number and RQ job."""

    session: SessionRecord
    turn: int
    job_id: str


def is_plain_name(value: str) -> bool:
    """Whether ``value`` can be a run or configuration name (letters, digits, ``._-``)."""
    return bool(_NAME.match(value))


def run_context(state: RelayState, user: str | None, runid: str, config: str) -> RunContext:
    """Check the host's policy for ``user`` on ``runid``/``config``.

    Raises :class:`NotAuthenticated` (no user), :class:`NotFound` (a bad name
    or unknown run) or :class:`Forbidden` (the host refuses).
    """
    if user is None:
        raise NotAuthenticated("Log in to use the agent.")
    if not is_plain_name(runid) or not is_plain_name(config):
        raise NotFound("No such run.")
    run_dir = state.policy.run_dir(runid)
    if run_dir is None:
        raise NotFound("No such run.")
    if not state.policy.authorize(user, runid, config):
        raise Forbidden("You may not use the agent on this run.")
    return RunContext(user, runid, config, run_dir, state.policy.tier(user, runid, config))


def owned_session(state: RelayState, ctx: RunContext, session_id: str) -> SessionRecord:
    """The session ``session_id`` of this user and run (anything else: :class:`NotFound`)."""
    if not _SESSION_ID.match(session_id):
        raise NotFound("No such session for this run.")
    return state.runtime.sessions.get_owned(session_id, ctx.user, ctx.runid)


def check_rate(rt: RelayRuntime, user: str) -> None:
    """Count one chat request of ``user``; :class:`RateLimited` over the per-minute limit."""
    now = time.time()
    window = int(now // 60)
    key = rt.keys.rate(user, window)
    with rt.redis.pipeline() as pipe:
        pipe.incr(key)
        pipe.expire(key, 120)
        count = int(pipe.execute()[0])
    if count > rt.settings.rate_limit_per_minute:
        raise RateLimited("Too many messages; wait a moment.", int(60 - now % 60) + 1)


def start_chat_turn(
    state: RelayState, ctx: RunContext, message: str, session_id: str | None
) -> StartedTurn:
    """Queue a turn with ``message`` in session ``session_id`` (a new session when ``None``)."""
    rt = state.runtime
    policy = state.policy.approval_policy(
        ctx.user, ctx.runid, ctx.tier, state.settings.approval_policy
    )
    if policy != "never" and state.settings.runner != "app-server":
        # Workers running `codex exec` would refuse it: do not queue what cannot run.
        raise ConfigError(
            setting_name("runner"),
            f"approval policy `{policy}` needs the app-server runner; this relay runs `codex exec`",
        )
    check_rate(rt, ctx.user)
    FairUse(rt).check(ctx.user, new_session=session_id is None)
    if session_id is None:
        record = rt.sessions.create(ctx.user, ctx.runid, ctx.config, ctx.tier, ctx.run_dir)
    else:
        record = owned_session(state, ctx, session_id)
        if record.tier != ctx.tier or record.run_dir != ctx.run_dir:
            rt.sessions.update(record.id, tier=ctx.tier, run_dir=ctx.run_dir)
            record = rt.sessions.get_owned(record.id, ctx.user, ctx.runid)

    def mint(turn: int) -> str:
        return state.mint_token(ctx.user, ctx.runid, ctx.config, record.id, ctx.tier, ctx.run_dir)

    turn, job_id = start_turn(
        rt, record, message, mint, state.settings.profile_text or "", approval_policy=policy
    )
    log.info(
        "turn queued",
        extra={
            "session": record.id,
            "turn": turn,
            "job_id": job_id,
            "user": ctx.user,
            "runid": ctx.runid,
        },
    )
    return StartedTurn(record, turn, job_id)
