"""JsonLinesDecoder: Codex's stdout, however the pipe splits it and whatever it holds.

Tables of broken input first (one row per way a line can be broken), then
property tests: any JSON objects survive any chunking exactly, and no byte
string can make the decoder raise or depend on where the chunks were cut.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.jsonl import BadLine, JsonLinesDecoder

Decoded = list[dict[str, Any] | BadLine]


def decode(chunks: Iterable[bytes], max_line_bytes: int | None = None) -> Decoded:
    """Feed ``chunks`` in order, then close; everything the decoder produced."""
    decoder = JsonLinesDecoder() if max_line_bytes is None else JsonLinesDecoder(max_line_bytes)
    out: Decoded = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    out.extend(decoder.close())
    return out


def split_at(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``data`` cut at the (sorted) offsets ``cuts``."""
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def buffered_bytes(decoder: JsonLinesDecoder) -> int:
    """How many bytes of an unfinished line the decoder holds in memory."""
    return sum(len(part) for part in decoder._parts)


# --------------------------------------------------------------------------
# Lines split anywhere

SPLIT_SAMPLES = {
    "two plain lines": b'{"type":"turn.started"}\n{"a":[1,2,{"b":null}]}\n',
    "multibyte utf-8": '{"text":"h\u00e9llo \u2603 \U0001f600"}\n{"k":"\u00fc"}\n'.encode(),
    "crlf": b'{"a":1}\r\n{"b":2}\r\n',
    "blank lines between": b'\n{"a":1}\n\n  \n{"b":2}\n',
    "no final newline": b'{"a":1}\n{"b":2}',
    "escaped newline in a string": b'{"out":"line1\\nline2\\r\\n"}\n',
}


@pytest.mark.parametrize("data", SPLIT_SAMPLES.values(), ids=SPLIT_SAMPLES.keys())
def test_a_line_split_at_any_byte_offset_decodes_the_same(data):
    whole = decode([data])
    assert whole and all(isinstance(obj, dict) for obj in whole)
    for cut in range(len(data) + 1):
        assert decode(split_at(data, [cut])) == whole, cut


@pytest.mark.parametrize("data", SPLIT_SAMPLES.values(), ids=SPLIT_SAMPLES.keys())
def test_a_line_split_at_any_two_offsets_decodes_the_same(data):
    whole = decode([data])
    for first in range(len(data) + 1):
        for second in range(first, len(data) + 1):
            assert decode(split_at(data, [first, second])) == whole, (first, second)


def test_one_byte_at_a_time_decodes_the_same():
    data = b"".join(SPLIT_SAMPLES.values()) + b"\n"
    assert decode(data[i : i + 1] for i in range(len(data))) == decode([data])


# --------------------------------------------------------------------------
# Line endings and blank lines

LINE_ENDINGS = [
    pytest.param(b'{"a":1}\n', [{"a": 1}], id="lf"),
    pytest.param(b'{"a":1}\r\n', [{"a": 1}], id="crlf"),
    pytest.param(b'{"a":1}\r\r\n', [{"a": 1}], id="cr-cr-lf"),
    pytest.param(b'  {"a":1}  \t\n', [{"a": 1}], id="surrounding whitespace"),
    pytest.param(b'{"a":1}\n\r\n{"b":2}\r\n', [{"a": 1}, {"b": 2}], id="crlf blank line"),
    pytest.param(b'{"a":"x\\r\\n"}\r\n', [{"a": "x\r\n"}], id="escaped crlf kept"),
]


@pytest.mark.parametrize(("data", "expected"), LINE_ENDINGS)
def test_line_endings(data, expected):
    assert decode([data]) == expected


BLANK = [
    pytest.param(b"\n", id="empty line"),
    pytest.param(b"\r\n", id="bare crlf"),
    pytest.param(b"   \n", id="spaces"),
    pytest.param(b"\t \t\r\n", id="tabs"),
    pytest.param(b"\x0b\x0c\n", id="vertical tab and form feed"),
    pytest.param(b"\n" * 1000, id="a thousand empty lines"),
    pytest.param(b"   ", id="whitespace without newline, at close"),
]


@pytest.mark.parametrize("data", BLANK)
def test_blank_and_whitespace_lines_produce_nothing(data):
    assert decode([data]) == []


# --------------------------------------------------------------------------
# Lines that are not one JSON object

NOT_JSON = [
    pytest.param(b"hello from a stray print\n", id="plain text"),
    pytest.param(b'{"a":1\n', id="unterminated object"),
    pytest.param(b'{"a":1}{"b":2}\n', id="two objects on one line"),
    pytest.param(b'{"a":1},\n', id="trailing comma"),
    pytest.param(b"{'a': 1}\n", id="python repr"),
    pytest.param(b'{"a":NaN}\n', id="NaN"),
    pytest.param(b'\xef\xbb\xbf{"a":1}\n', id="byte order mark"),
    pytest.param(b"[" * 5000 + b"]" * 5000 + b"\n", id="nesting deeper than the limit"),
    pytest.param(b"\x1b[31mred\x1b[0m\n", id="terminal colour codes"),
]


@pytest.mark.parametrize("data", NOT_JSON)
def test_a_line_that_is_not_json_is_a_bad_line(data):
    [bad] = decode([data])
    assert isinstance(bad, BadLine)
    assert bad.reason == "not JSON"
    assert bad.size == len(data) - 1


NOT_AN_OBJECT = [
    pytest.param(b"[1, 2, 3]\n", id="array"),
    pytest.param(b"[]\n", id="empty array"),
    pytest.param(b'[{"type":"turn.started"}]\n', id="object inside an array"),
    pytest.param(b"42\n", id="integer"),
    pytest.param(b"-1.5e3\n", id="float"),
    pytest.param(b'"a string"\n', id="string"),
    pytest.param(b"null\n", id="null"),
    pytest.param(b"true\n", id="true"),
    pytest.param(b"false\n", id="false"),
]


@pytest.mark.parametrize("data", NOT_AN_OBJECT)
def test_json_that_is_not_an_object_is_a_bad_line(data):
    [bad] = decode([data])
    assert isinstance(bad, BadLine)
    assert bad.reason == "not a JSON object"
    assert bad.preview == data.strip().decode()


def test_a_bad_line_does_not_stop_the_lines_after_it():
    data = b'{"a":1}\nnot json\n[1]\n{"b":2}\n'
    out = decode([data])
    assert out[0] == {"a": 1} and out[3] == {"b": 2}
    assert [o.reason for o in out[1:3]] == ["not JSON", "not a JSON object"]


def test_the_preview_of_a_long_bad_line_is_short():
    data = b"x" * 100_000 + b"\n"
    [bad] = decode([data])
    assert bad.preview == "x" * 200
    assert bad.size == 100_000


# --------------------------------------------------------------------------
# Invalid UTF-8 and NUL bytes

INVALID_UTF8 = [
    pytest.param(b'{"a":"\xff"}\n', id="0xff byte"),
    pytest.param(b'{"a":"\x80"}\n', id="lone continuation byte"),
    pytest.param(b'{"a":"\xc3"}\n', id="truncated two-byte sequence"),
    pytest.param(b'{"a":"\xc0\xaf"}\n', id="overlong slash"),
    pytest.param(b'{"a":"\xed\xa0\x80"}\n', id="encoded surrogate"),
    pytest.param(b'{"a":"\xf4\x90\x80\x80"}\n', id="beyond U+10FFFF"),
    pytest.param(b'{"\xfe":1}\n', id="invalid byte in a key"),
    pytest.param(b'{"a":"\\ud800"}\n', id="escaped lone surrogate"),
]


@pytest.mark.parametrize("data", INVALID_UTF8)
def test_invalid_utf8_is_a_bad_line_with_a_printable_preview(data):
    [bad] = decode([data])
    assert isinstance(bad, BadLine)
    assert bad.reason == "not JSON"
    bad.preview.encode("utf-8")  # always valid text, whatever the input was


def test_a_multibyte_character_split_across_chunks_is_kept_whole():
    data = '{"a":"\u20ac"}\n'.encode()
    euro = data.index(b"\xe2")
    for cut in (euro + 1, euro + 2):
        assert decode([data[:cut], data[cut:]]) == [{"a": "\u20ac"}]


NUL_BYTES = [
    pytest.param(b"\x00\n", [BadLine], id="a lone NUL"),
    pytest.param(b'{"a":1}\x00\n', [BadLine], id="NUL after the object"),
    pytest.param(b'{"a":"x\x00y"}\n', [BadLine], id="raw NUL inside a string"),
    pytest.param(b'\x00{"a":1}\n', [BadLine], id="NUL before the object"),
    pytest.param(b'{"a":"x\\u0000y"}\n', [{"a": "x\x00y"}], id="escaped NUL is valid"),
    pytest.param(b'\x00\x00\x00\n{"a":1}\n', [BadLine, {"a": 1}], id="NULs then a good line"),
]


@pytest.mark.parametrize(("data", "expected"), NUL_BYTES)
def test_nul_bytes(data, expected):
    out = decode([data])
    assert len(out) == len(expected)
    for got, want in zip(out, expected, strict=True):
        if want is BadLine:
            assert isinstance(got, BadLine) and got.reason == "not JSON"
        else:
            assert got == want


# --------------------------------------------------------------------------
# Very long lines


def test_a_line_of_several_megabytes_fed_in_small_chunks_decodes():
    output = "".join(f"{i}\n" for i in range(700_000))  # about 4.6 MB
    data = json.dumps({"type": "item.completed", "output": output}).encode() + b"\n"
    assert len(data) > 4_000_000
    decoder = JsonLinesDecoder()
    out: Decoded = []
    for i in range(0, len(data), 4096):
        out.extend(decoder.feed(data[i : i + 4096]))
    assert out == [{"type": "item.completed", "output": output}]
    assert buffered_bytes(decoder) == 0


def test_a_line_over_the_limit_is_reported_once_and_not_kept_in_memory():
    limit = 64 * 1024
    decoder = JsonLinesDecoder(max_line_bytes=limit)
    huge = b'{"out":"' + b"y" * (20 * limit) + b'"}'
    out: Decoded = []
    for i in range(0, len(huge), 1000):
        out.extend(decoder.feed(huge[i : i + 1000]))
        assert buffered_bytes(decoder) <= limit
    assert out == []
    out.extend(decoder.feed(b'\n{"after":1}\n'))
    assert out == [
        BadLine(f"line of {len(huge)} bytes is over the limit", "", len(huge)),
        {"after": 1},
    ]
    assert buffered_bytes(decoder) == 0


def test_a_line_over_the_limit_in_a_single_chunk_is_also_refused():
    # The limit must not depend on how the pipe happened to split the line.
    line = b'{"a":"' + b"z" * 100 + b'"}'
    assert decode([line + b"\n"], max_line_bytes=50) == decode(
        [line[:10], line[10:] + b"\n"], max_line_bytes=50
    )
    [bad] = decode([line + b"\n"], max_line_bytes=50)
    assert isinstance(bad, BadLine) and bad.size == len(line)


@pytest.mark.parametrize(
    ("extra", "over"), [(0, False), (1, True)], ids=["exactly the limit", "one byte over"]
)
def test_the_limit_is_inclusive(extra, over):
    line = b'{"a":"' + b"q" * 20 + b'"}'
    out = decode([line + b"\n"], max_line_bytes=len(line) - extra)
    assert isinstance(out[0], BadLine) is over


def test_an_unfinished_line_over_the_limit_is_reported_at_close():
    decoder = JsonLinesDecoder(max_line_bytes=10)
    assert decoder.feed(b'{"a":"0123456789') == []
    assert buffered_bytes(decoder) == 0
    [bad] = decoder.close()
    assert isinstance(bad, BadLine) and "over the limit" in bad.reason


# --------------------------------------------------------------------------
# close()


CLOSE = [
    pytest.param(b'{"a":1}', [{"a": 1}], id="object without newline"),
    pytest.param(b'{"a":1}\r', [{"a": 1}], id="object and a lone CR"),
    pytest.param(b'{"a":1}\n{"b":2}', [{"a": 1}, {"b": 2}], id="last of several"),
    pytest.param(b'{"a":', [BadLine], id="cut mid-object"),
    pytest.param(b"", [], id="nothing at all"),
]


@pytest.mark.parametrize(("data", "expected"), CLOSE)
def test_close_decodes_a_trailing_line_without_newline(data, expected):
    decoder = JsonLinesDecoder()
    fed = decoder.feed(data)
    out = fed + decoder.close()
    assert len(out) == len(expected)
    for got, want in zip(out, expected, strict=True):
        assert isinstance(got, BadLine) if want is BadLine else got == want
    assert decoder.close() == []  # closing twice yields nothing more


def test_the_decoder_is_reusable_after_close():
    decoder = JsonLinesDecoder()
    decoder.feed(b'{"a":')
    decoder.close()
    assert decoder.feed(b'{"b":2}\n') == [{"b": 2}]


# --------------------------------------------------------------------------
# Properties

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=6)
separators = st.sampled_from([b"\n", b"\r\n", b"\n\n", b"\n \t\n", b"\r\n\r\n"])


@st.composite
def chunked_jsonl(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[bytes]]:
    """Objects, and their JSON Lines bytes cut into arbitrary chunks."""
    objects = draw(st.lists(json_objects, max_size=8))
    lines = [
        json.dumps(obj, ensure_ascii=draw(st.booleans())).encode() + draw(separators)
        for obj in objects
    ]
    if lines and draw(st.booleans()):
        lines[-1] = lines[-1].rstrip(b"\r\n")  # the last line may lack its newline
    data = b"".join(lines)
    cuts = draw(st.lists(st.integers(min_value=0, max_value=len(data)), max_size=12))
    return objects, split_at(data, cuts)


@settings(max_examples=300, deadline=None)
@given(chunked_jsonl())
def test_any_objects_under_any_chunking_come_out_exactly_in_order(case):
    objects, chunks = case
    assert decode(chunks) == objects


arbitrary_input = st.lists(
    st.binary(max_size=64)
    | st.sampled_from([b"\n", b"\r\n", b"{", b"}", b'"', b"\\", b"\x00", b"\xff", b'{"a":1}']),
    max_size=24,
)


@settings(max_examples=500, deadline=None)
@given(arbitrary_input, st.one_of(st.none(), st.integers(min_value=1, max_value=40)))
def test_arbitrary_bytes_never_raise_and_do_not_depend_on_chunking(chunks, limit):
    out = decode(chunks, limit)
    assert all(isinstance(obj, dict | BadLine) for obj in out)
    assert decode([b"".join(chunks)], limit) == out
