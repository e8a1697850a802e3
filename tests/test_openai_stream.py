"""A facade turn's stream, fed from a session's event log (a real Redis, no worker).

The events are appended with the relay's own :class:`~relay.event_log.EventLog`,
in the shapes both runners write: whole messages (``exec``) and the live
``message.delta`` / ``reasoning.delta`` / ``tool.output`` events of the
``app-server`` runner. What comes out is parsed by the ``openai`` SDK's own
chunk model, as a client would.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletionChunk
from redis_versions import EACH_REDIS

from blueprints.openai_stream import KEEPALIVE, collect_answer, stream_chunks, turn_failure
from relay import events as ev
from relay.event_fanout import EventFanout
from relay.openai_shapes import Completion
from relay.runtime import RelayRuntime
from relay.session_store import SessionRecord

pytestmark = EACH_REDIS


@pytest.fixture
def turn(runtime: RelayRuntime, run_dir) -> tuple[SessionRecord, int]:
    """A session with turn 1 begun (locked, as start_turn leaves it), and no worker."""
    record = runtime.sessions.create("alice", run_dir.name, "default", "edit", str(run_dir))
    number = runtime.sessions.begin_turn(record, 3)
    runtime.events.append(record.id, number, [_body(record, number, ev.TURN_QUEUED, message="hi")])
    return record, number


@pytest.fixture
def fanout(runtime: RelayRuntime) -> EventFanout:
    """The process's event hub, as the web app has it (a quiet spell of 1 s, not 15)."""
    return EventFanout(runtime, heartbeat=1.0)


def _stream(rt: RelayRuntime, fanout: EventFanout, session: str, turn: int, after, shape):
    return stream_chunks(rt, fanout.follow(session, after), turn, shape)


def _collect(rt: RelayRuntime, fanout: EventFanout, session: str, turn: int, after):
    return collect_answer(rt, fanout.follow(session, after), turn)


def _body(record: SessionRecord, turn: int, kind: str, **payload: Any) -> dict[str, Any]:
    return ev.event_body(record.id, turn, kind, payload)


def _append(rt: RelayRuntime, record: SessionRecord, turn: int, *events: tuple[str, dict]) -> None:
    rt.events.append(record.id, turn, [_body(record, turn, k, **p) for k, p in events])


def _end(rt: RelayRuntime, record: SessionRecord, turn: int, status: str = "completed") -> None:
    from relay.turns import finish_turn

    finish_turn(rt, record, turn, status, duration_ms=1)


def _shape(include_usage: bool = False) -> Completion:
    return Completion("chatcmpl-test", "run-1/default", 1700000000, include_usage)


def _lines(data: list[bytes]) -> list[Any]:
    """The stream's ``data:`` payloads: decoded JSON, or the literal ``[DONE]``."""
    out: list[Any] = []
    for frame in b"".join(data).split(b"\n\n"):
        if frame.startswith(b"data: "):
            payload = frame[6:]
            out.append("[DONE]" if payload == b"[DONE]" else orjson.loads(payload))
    return out


DELTA_TURN = [
    (ev.TURN_STARTED, {"thread_id": "th"}),
    ("reasoning.delta", {"item_id": "r1", "delta": "Let me "}),
    ("reasoning.delta", {"item_id": "r1", "delta": "look."}),
    (ev.REASONING, {"item_id": "r1", "text": "Let me look."}),
    (ev.TOOL_STARTED, {"tool": {"id": "c1", "kind": "command", "command": "ls", "title": "ls",
                                "status": "in_progress"}}),
    ("tool.output", {"tool_id": "c1", "delta": "a.txt\n"}),
    (ev.TOOL_COMPLETED, {"tool": {"id": "c1", "kind": "command", "command": "ls", "title": "ls",
                                  "status": "completed", "exit_code": 0, "output": "a.txt\n"}}),
    ("message.delta", {"item_id": "m1", "delta": "There is "}),
    ("message.delta", {"item_id": "m1", "delta": "one file."}),
    (ev.MESSAGE, {"item_id": "m1", "text": "There is one file."}),
    (ev.USAGE, {"input_tokens": 20, "cached_input_tokens": 5, "output_tokens": 7,
                "reasoning_output_tokens": 2, "thread_total": {}}),
]  # fmt: skip
DELTA_ANSWER = "<think>\nLet me look.\n</think>\n\n> `$ ls` — exit 0\n\nThere is one file."


def test_app_server_deltas_stream_as_chunks_in_the_sdks_own_shape(runtime, fanout, turn):
    record, number = turn
    _append(runtime, record, number, *DELTA_TURN)
    _end(runtime, record, number)
    lines = _lines(list(_stream(runtime, fanout, record.id, number, None, _shape(True))))
    assert lines[-1] == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate(line) for line in lines[:-1]]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == DELTA_ANSWER
    usage = chunks[-1]
    assert usage.choices == [] and usage.usage is not None
    assert (usage.usage.prompt_tokens, usage.usage.completion_tokens) == (20, 7)
    assert usage.usage.prompt_tokens_details.cached_tokens == 5
    assert all(c.usage is None for c in chunks[:-1])
    assert {c.id for c in chunks} == {"chatcmpl-test"}


def test_the_whole_answer_is_the_same_text_as_the_stream(runtime, fanout, turn):
    record, number = turn
    _append(runtime, record, number, *DELTA_TURN)
    _end(runtime, record, number)
    answer = _collect(runtime, fanout, record.id, number, None)
    assert answer.text == DELTA_ANSWER and turn_failure(runtime, record.id, answer) is None
    assert answer.usage["output_tokens"] == 7


def test_without_include_usage_there_is_no_usage_chunk(runtime, fanout, turn):
    record, number = turn
    _append(runtime, record, number, (ev.MESSAGE, {"text": "Hi."}), (ev.USAGE, {"input_tokens": 1}))
    _end(runtime, record, number)
    lines = _lines(list(_stream(runtime, fanout, record.id, number, None, _shape(False))))
    assert lines[-1] == "[DONE]"
    assert all(line["choices"] and "usage" not in line for line in lines[:-1])


def test_only_this_turns_events_after_the_given_id_are_followed(runtime, fanout, turn):
    record, number = turn
    _append(runtime, record, number, (ev.MESSAGE, {"text": "Old answer."}))
    _end(runtime, record, number)
    after = runtime.events.last_id(record.id)
    fresh = runtime.sessions.get(record.id)
    second = runtime.sessions.begin_turn(fresh, 3)
    _append(runtime, fresh, second, (ev.MESSAGE, {"text": "New answer."}))
    _end(runtime, fresh, second)
    assert _collect(runtime, fanout, record.id, second, after).text == "New answer."
    assert _collect(runtime, fanout, record.id, second, None).text == "New answer."


def test_a_failed_turn_ends_the_stream_with_one_error_line(runtime, fanout, turn):
    record, number = turn
    _append(runtime, record, number, (ev.MESSAGE, {"text": "Partial."}))
    from relay.turns import finish_turn

    finish_turn(runtime, record, number, "failed", error=("unexpected status 500", "model_error"))
    lines = _lines(list(_stream(runtime, fanout, record.id, number, None, _shape())))
    assert "[DONE]" not in lines
    assert lines[-1] == {
        "error": {
            "message": "unexpected status 500",
            "type": "server_error",
            "param": None,
            "code": "turn_failed",
        }
    }
    assert lines[-2]["choices"][0]["delta"]["content"] == "Partial."


def test_events_arriving_later_are_streamed_live_with_keep_alives_between(runtime, fanout, turn):
    record, number = turn
    out: list[bytes] = []

    def follow() -> None:
        out.extend(_stream(runtime, fanout, record.id, number, None, _shape()))

    reader = threading.Thread(target=follow)
    reader.start()
    time.sleep(1.5)  # quiet: the stream writes a keep-alive while it waits
    _append(runtime, record, number, (ev.MESSAGE, {"text": "Late."}))
    _end(runtime, record, number)
    reader.join(10)
    assert not reader.is_alive()
    assert KEEPALIVE in out
    assert _lines(out)[-1] == "[DONE]"
    assert _lines(out)[1]["choices"][0]["delta"]["content"] == "Late."


def test_a_client_that_goes_away_cancels_the_running_turn(runtime, fanout, turn):
    record, number = turn
    runtime.sessions.update(record.id, status="running")  # picked up by a worker
    stream = _stream(runtime, fanout, record.id, number, None, _shape())
    assert b"assistant" in next(stream)
    next(stream)  # a keep-alive: the turn is still running
    stream.close()  # what the server does when its write to the client fails
    assert runtime.redis.exists(runtime.keys.cancel(record.id, number))
    assert runtime.sessions.get(record.id).cancel_requested > 0


def test_a_stream_that_ends_normally_cancels_nothing(runtime, fanout, turn):
    record, number = turn
    _append(runtime, record, number, (ev.MESSAGE, {"text": "Hi."}))
    _end(runtime, record, number)
    assert _lines(list(_stream(runtime, fanout, record.id, number, None, _shape())))[-1] == "[DONE]"
    assert not runtime.redis.exists(runtime.keys.cancel(record.id, number))


def test_a_session_deleted_mid_turn_ends_the_stream_with_an_error(runtime, fanout, turn):
    from relay.turns import delete_session

    record, number = turn
    stream = _stream(runtime, fanout, record.id, number, None, _shape())
    next(stream)
    delete_session(runtime, runtime.sessions.get(record.id))
    lines = _lines(list(stream))
    assert lines[-1]["error"]["code"] == "turn_failed"
    assert "deleted" in lines[-1]["error"]["message"]


def test_a_deleted_session_is_reported_even_when_its_cancel_was_seen_first(runtime, fanout, turn):
    # delete_session ends the turn `cancelled`, then drops the session and its log;
    # a stream may have read that cancel before the session was gone.
    record, number = turn
    _end(runtime, record, number, "cancelled")
    answer = _collect(runtime, fanout, record.id, number, None)
    assert answer.finished and answer.status == "cancelled"
    assert turn_failure(runtime, record.id, answer) is None  # a cancel, as long as it lives
    runtime.sessions.delete(runtime.sessions.get(record.id))
    failure = turn_failure(runtime, record.id, answer)
    assert failure is not None and "deleted" in str(failure)


def test_a_cancelled_turn_ends_with_a_note_then_the_finish_chunk(runtime, fanout, turn):
    record, number = turn
    _append(runtime, record, number, (ev.MESSAGE, {"text": "Hi."}))
    _end(runtime, record, number, "cancelled")
    lines = _lines(list(_stream(runtime, fanout, record.id, number, None, _shape())))
    finish = lines[-2]["choices"][0]
    assert finish == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert "stopped" in lines[-3]["choices"][0]["delta"]["content"]
    assert lines[-1] == "[DONE]"
