"""DeltaCoalescer: live text in few events, in the order Codex said it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relay.deltas import DELTA_INTERVAL, DeltaCoalescer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def delta(item: str, text: str, kind: str = "message.delta"):
    key = "tool_id" if kind == "tool.output" else "item_id"
    return (kind, {key: item, "delta": text})


def test_the_first_piece_of_an_item_goes_out_at_once():
    coalescer = DeltaCoalescer(clock=Clock())
    assert coalescer.push([delta("m", "Hel")]) == [delta("m", "Hel")]


def test_pieces_within_the_interval_are_joined_into_one_event():
    clock = Clock()
    coalescer = DeltaCoalescer(clock=clock)
    coalescer.push([delta("m", "a")])
    assert coalescer.push([delta("m", "b"), delta("m", "c")]) == []
    clock.now += DELTA_INTERVAL / 2
    assert coalescer.due() == []
    clock.now += DELTA_INTERVAL / 2
    assert coalescer.due() == [delta("m", "bc")]
    assert not coalescer.holding


def test_at_most_twenty_events_a_second_per_item_however_fast_the_stream():
    clock = Clock()
    coalescer = DeltaCoalescer(clock=clock)
    sent = []
    for _ in range(1000):  # 1,000 deltas in one second
        sent += coalescer.push([delta("m", "x")])
        clock.now += 0.001
        sent += coalescer.due()
    sent += coalescer.flush()
    assert len(sent) <= 21
    assert "".join(p["delta"] for _, p in sent) == "x" * 1000


def test_items_are_paced_apart():
    coalescer = DeltaCoalescer(clock=Clock())
    out = coalescer.push(
        [delta("a", "1"), delta("b", "1"), delta("a", "2"), delta("c", "x", "tool.output")]
    )
    assert out == [delta("a", "1"), delta("b", "1"), delta("c", "x", "tool.output")]
    assert coalescer.flush() == [delta("a", "2")]


def test_any_other_event_first_sends_what_is_held_so_the_whole_message_follows_its_deltas():
    coalescer = DeltaCoalescer(clock=Clock())
    coalescer.push([delta("m", "Hel")])
    whole = ("message", {"item_id": "m", "text": "Hello"})
    assert coalescer.push([delta("m", "lo"), whole]) == [delta("m", "lo"), whole]


def test_a_truncated_piece_keeps_its_marker_when_joined():
    coalescer = DeltaCoalescer(clock=Clock())
    coalescer.push([delta("t", "a", "tool.output")])
    cut = ("tool.output", {"tool_id": "t", "delta": "b", "truncated": True})
    coalescer.push([delta("t", "x", "tool.output"), cut])
    assert coalescer.flush() == [
        ("tool.output", {"tool_id": "t", "delta": "xb", "truncated": True})
    ]


def test_held_pieces_are_not_changed_behind_the_callers_back():
    coalescer = DeltaCoalescer(clock=Clock())
    coalescer.push([delta("m", "a")])
    original = delta("m", "b")
    coalescer.push([original, delta("m", "c")])
    assert original == delta("m", "b")


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b"]), st.text(min_size=1, max_size=5), st.floats(0, 0.2)),
        max_size=60,
    )
)
def test_whatever_the_timing_every_items_text_arrives_whole_and_in_order(pieces):
    clock = Clock()
    coalescer = DeltaCoalescer(clock=clock)
    sent = []
    for item, text, pause in pieces:
        sent += coalescer.push([delta(item, text)])
        clock.now += pause
        sent += coalescer.due()
    sent += coalescer.flush()
    for item in ("a", "b"):
        expected = "".join(text for i, text, _ in pieces if i == item)
        assert "".join(p["delta"] for _, p in sent if p["item_id"] == item) == expected
