"""One facade turn's answer: its events followed to the end, streamed as chunks or collected.

:func:`follow_turn` is the only place the facade reads a session's event
log: the events of one turn after a given id, until its ``turn.completed``.
Today it is a loop of blocking ``XREAD`` calls, as the panel's SSE stream
does; pointing it at a shared per-process reader (one Redis connection for
every open stream) changes nothing else here.

:func:`stream_chunks` turns them into ``chat.completion.chunk`` lines. A
client that goes away (the server's next write fails and it closes the
generator) cancels the turn, so no Codex process works for nobody; a
keep-alive comment every second of quiet makes that write happen.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import orjson
import redis

from relay.answer_text import AnswerText
from relay.errors import TurnFailed
from relay.events import TURN_COMPLETED
from relay.openai_shapes import DONE, Completion, sse_data
from relay.reaper import reap_session
from relay.runtime import RelayRuntime
from relay.turns import cancel_turn

from .openai_errors import relay_error_body, unavailable_body

__all__ = ["KEEPALIVE", "collect_answer", "follow_turn", "stream_chunks", "turn_failure"]

log = logging.getLogger("codex_relay.openai")

#: An SSE comment: clients ignore it; writing it tells the server whether the client is there.
KEEPALIVE = b": keep-alive\n\n"
#: How long one blocking read waits before the stream writes a keep-alive.
_BLOCK_MS = 1000
_REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)


def follow_turn(
    rt: RelayRuntime, session: str, turn: int, after: str | None, block_ms: int = _BLOCK_MS
) -> Iterator[list[dict[str, Any]]]:
    """Batches of ``turn``'s events (decoded) stored after event id ``after``.

    A batch is empty when nothing came within ``block_ms``. Ends after the
    batch holding the turn's ``turn.completed``, or when the session is gone.
    While waiting it nudges the watchdog, so a turn whose worker died still ends.
    """
    cursor = after or "0-0"
    while True:
        stored = rt.events.wait(session, cursor, block_ms=block_ms)
        batch = []
        for event in stored:
            cursor = event.id
            decoded = orjson.loads(event.data)
            if decoded.get("turn") == turn:
                batch.append(decoded)
        yield batch
        if any(e.get("type") == TURN_COMPLETED for e in batch):
            return
        if not stored and not _turn_can_end(rt, session, turn):
            return


def _turn_can_end(rt: RelayRuntime, session: str, turn: int) -> bool:
    """Whether the session still exists (its turn's final event may still come)."""
    record = rt.sessions.get(session)
    if record is None:
        return False
    if record.running_turn == turn:
        reap_session(rt, session, turn)
    return True


def turn_failure(answer: AnswerText) -> TurnFailed | None:
    """The error to report for a turn that did not complete (``None`` when it did)."""
    if not answer.finished:
        return TurnFailed("The session was deleted before the turn ended.", "failed")
    if answer.failed:
        return TurnFailed(answer.failure, answer.status or "failed")
    return None


def collect_answer(rt: RelayRuntime, session: str, turn: int, after: str | None) -> AnswerText:
    """The whole answer of a turn, once it has ended (every event rendered)."""
    answer = AnswerText(rt.settings.openai_show_activity)
    for batch in follow_turn(rt, session, turn, after):
        for event in batch:
            answer.feed(event)
    return answer


def stream_chunks(
    rt: RelayRuntime, session: str, turn: int, after: str | None, shape: Completion
) -> Iterator[bytes]:
    """The SSE body of a streamed answer: role, content chunks, finish, usage, ``[DONE]``.

    A turn that fails ends the stream with one ``data: {"error": ...}`` line.
    """
    answer = AnswerText(rt.settings.openai_show_activity)
    ended = False
    try:
        yield sse_data(shape.role_chunk())
        for batch in follow_turn(rt, session, turn, after):
            text = "".join(answer.feed(event) for event in batch)
            yield sse_data(shape.content_chunk(text)) if text else KEEPALIVE
        ended = True
        failure = turn_failure(answer)
        if failure is not None:
            yield sse_data(relay_error_body(failure)[1])
            return
        yield sse_data(shape.finish_chunk())
        if shape.include_usage:
            yield sse_data(shape.usage_chunk(answer.usage))
        yield DONE
    except _REDIS_ERRORS as exc:
        log.warning("Redis unavailable during a facade stream: %s", exc)
        yield sse_data(unavailable_body()[1])
    finally:
        if not ended:
            _cancel_quietly(rt, session, turn)


def _cancel_quietly(rt: RelayRuntime, session: str, turn: int) -> None:
    """Cancel ``turn`` if it is still running: its client is gone."""
    try:
        record = rt.sessions.get(session)
        if record is not None and record.running_turn == turn:
            cancel_turn(rt, record)
            log.info("client went away; turn cancelled", extra={"session": session, "turn": turn})
    except _REDIS_ERRORS as exc:
        log.warning("could not cancel turn %s of %s: %s", turn, session, exc)
