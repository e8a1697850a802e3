"""One facade turn's answer: its events followed to the end, streamed as chunks or collected.

:func:`follow_turn` is the only place the facade reads a session's events:
a subscription of the process's event fan-out (:mod:`relay.event_fanout`,
the same hub behind the panel's SSE stream), so an open facade stream costs
neither a thread nor a Redis connection of its own, and counts against the
user's stream slots like any other stream. It yields the events of one turn
after a given id, until its ``turn.completed``.

:func:`stream_chunks` turns them into ``chat.completion.chunk`` lines. The
subscription's probe notices a client that went away within about a second;
the stream then ends and cancels the turn, so no Codex process works for
nobody. A stream that ends before its turn does (the client went away, the
session was deleted, the server is stopping) always cancels the turn: the
client cannot see the rest, and its next request in the session must not
find a turn still running.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import orjson
import redis

from relay.answer_text import AnswerText
from relay.errors import RelayUnavailable, TurnFailed
from relay.event_fanout import Signal, Subscription
from relay.event_log import StoredEvent
from relay.events import TURN_COMPLETED
from relay.openai_shapes import DONE, Completion, sse_data
from relay.runtime import RelayRuntime
from relay.turns import cancel_turn

from .openai_errors import relay_error_body, unavailable_body

__all__ = [
    "KEEPALIVE",
    "collect_answer",
    "end_stream",
    "follow_turn",
    "stream_chunks",
    "turn_failure",
]

log = logging.getLogger("codex_relay.openai")

#: An SSE comment: clients ignore it; proxies see traffic during a long quiet spell.
KEEPALIVE = b": keep-alive\n\n"
_REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)


def follow_turn(subscription: Subscription, turn: int) -> Iterator[list[dict[str, Any]]]:
    """Batches of ``turn``'s events (decoded) from ``subscription``.

    A batch is empty after a quiet spell (the fan-out's heartbeat). Ends after
    the turn's ``turn.completed``, or when the subscription ends (the session
    was deleted, the client went away, the server is stopping). Raises
    :class:`~relay.errors.RelayUnavailable` when Redis failed.
    """
    for item in subscription:
        if item is Signal.UNAVAILABLE:
            raise RelayUnavailable("Redis became unreachable while following the turn.")
        if item is Signal.HEARTBEAT:
            yield []
            continue
        if not isinstance(item, StoredEvent):  # a reset: earlier events were trimmed
            continue
        decoded = orjson.loads(item.data)
        if decoded.get("turn") != turn:
            continue
        yield [decoded]
        if decoded.get("type") == TURN_COMPLETED:
            return


def turn_failure(rt: RelayRuntime, session: str, answer: AnswerText) -> TurnFailed | None:
    """The error to report for a turn that did not complete (``None`` when it did).

    Deleting a session ends its turn ``cancelled`` just before the log goes;
    whether the stream saw that event first or not, the client hears of the
    deletion, not of a cancel it never asked for.
    """
    deleted = not answer.finished or (
        answer.status == "cancelled" and rt.sessions.get(session) is None
    )
    if deleted:
        return TurnFailed("The session was deleted before the turn ended.", "failed")
    if answer.failed:
        return TurnFailed(answer.failure, answer.status or "failed")
    return None


def collect_answer(rt: RelayRuntime, subscription: Subscription, turn: int) -> AnswerText:
    """The whole answer of a turn, once it has ended (every event rendered)."""
    answer = AnswerText(rt.settings.openai_show_activity)
    try:
        for batch in follow_turn(subscription, turn):
            for event in batch:
                answer.feed(event)
    finally:
        end_stream(rt, subscription, turn)
    return answer


def stream_chunks(
    rt: RelayRuntime, subscription: Subscription, turn: int, shape: Completion
) -> Iterator[bytes]:
    """The SSE body of a streamed answer: role, content chunks, finish, usage, ``[DONE]``.

    A turn that fails ends the stream with one ``data: {"error": ...}`` line.
    """
    answer = AnswerText(rt.settings.openai_show_activity)
    try:
        yield sse_data(shape.role_chunk())
        for batch in follow_turn(subscription, turn):
            text = "".join(answer.feed(event) for event in batch)
            yield sse_data(shape.content_chunk(text)) if text else KEEPALIVE
        failure = turn_failure(rt, subscription.session, answer)
        if failure is not None:
            yield sse_data(relay_error_body(failure)[1])
            return
        yield sse_data(shape.finish_chunk())
        if shape.include_usage:
            yield sse_data(shape.usage_chunk(answer.usage))
        yield DONE
    except (RelayUnavailable, *_REDIS_ERRORS) as exc:
        log.warning("Redis unavailable during a facade stream: %s", exc)
        yield sse_data(unavailable_body()[1])
    finally:
        end_stream(rt, subscription, turn)


def end_stream(rt: RelayRuntime, subscription: Subscription, turn: int) -> None:
    """Stop following; cancel ``turn`` if it still runs, since nobody will see the rest of it.

    Idempotent: the body's own ``finally`` and the server's close callback both call it.
    """
    subscription.close()
    session = subscription.session
    try:
        record = rt.sessions.get(session)
        if record is not None and record.running_turn == turn:
            cancel_turn(rt, record)
            log.info("stream ended before its turn; turn cancelled",
                     extra={"session": session, "turn": turn})  # fmt: skip
    except _REDIS_ERRORS as exc:
        log.warning("could not cancel turn %s of %s: %s", turn, session, exc)
