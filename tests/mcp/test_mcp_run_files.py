"""Reading text: encodings, binary detection, byte windows that never split a character."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from mcp_tools import run_files
from mcp_tools.errors import BinaryFile

MIXED = "plain ascii, é à ü, 日本語, emoji 🎉🚀, end\n" * 40


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """An empty run directory."""
    run = tmp_path / "run"
    run.mkdir()
    return run


@pytest.mark.parametrize(
    ("data", "encoding", "text"),
    [
        ("héllo\n".encode(), "utf-8", "héllo\n"),
        (codecs.BOM_UTF8 + "héllo\n".encode(), "utf-8-sig", "héllo\n"),
        ("héllo\n".encode("utf-16"), "utf-16", "héllo\n"),
        (codecs.BOM_UTF16_BE + "héllo\n".encode("utf-16-be"), "utf-16", "héllo\n"),
        ("héllo 🎉\n".encode("utf-32"), "utf-32", "héllo 🎉\n"),
        ("caf\xe9 cr\xe8me\n".encode("latin-1"), "latin-1", "café crème\n"),
        (b"", "utf-8", ""),
    ],
)
def test_text_encodings_are_recognised(files: Path, data: bytes, encoding: str, text: str) -> None:
    (files / "f.txt").write_bytes(data)
    result = run_files.read_run_file(files, "f.txt")
    assert (result["encoding"], result["text"], result["eof"]) == (encoding, text, True)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(50), "PNG image"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF document"),
        (b"PK\x03\x04" + bytes(20), "ZIP archive"),
        (b"\x7fELF\x02\x01\x01" + bytes(20), "ELF executable"),
        (b"\x1f\x8b\x08\x00" + bytes(20), "gzip data"),
        (b"text then a NUL \x00 byte", "contains NUL bytes"),
        (bytes(range(1, 32)) * 10, "control characters"),
    ],
)
def test_binary_files_are_refused_with_their_type_and_size(
    files: Path, data: bytes, kind: str
) -> None:
    (files / "blob.bin").write_bytes(data)
    with pytest.raises(BinaryFile) as caught:
        run_files.read_run_file(files, "blob.bin")
    assert kind in caught.value.message and f"{len(data)} bytes" in caught.value.message


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16-le", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("window", [1, 7, 8, 9, 13, 64, 1000])
def test_paging_through_a_file_by_windows_gives_back_the_whole_text(
    files: Path, encoding: str, window: int
) -> None:
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}.get(encoding, b"")
    (files / "t.txt").write_bytes(bom + MIXED.encode(encoding))
    pieces: list[str] = []
    offset: int | None = 0
    reads = 0
    while offset is not None:
        result = run_files.read_run_file(files, "t.txt", offset=offset, limit=window)
        assert "\ufffd" not in result["text"]
        pieces.append(result["text"])
        assert result["next_offset"] is None or result["next_offset"] > offset
        offset = result["next_offset"]
        reads += 1
        assert reads < 10_000
    assert "".join(pieces) == MIXED


def test_a_window_starting_inside_a_character_moves_to_the_next_one(files: Path) -> None:
    (files / "t.txt").write_bytes("aé🎉b".encode())  # a, é (2 bytes), 🎉 (4 bytes), b
    result = run_files.read_run_file(files, "t.txt", offset=4, limit=8)
    assert (result["offset"], result["text"]) == (7, "b")


def test_a_window_of_bad_utf8_in_a_utf8_file_is_read_as_latin1(files: Path) -> None:
    (files / "t.txt").write_bytes(b"a" * 9000 + b"\xe9t\xe9\n")
    head = run_files.read_run_file(files, "t.txt", limit=100)
    tail = run_files.read_run_file(files, "t.txt", offset=9000)
    assert head["encoding"] == "utf-8" and tail == {**tail, "encoding": "latin-1", "text": "été\n"}


def test_a_utf16_window_never_splits_a_surrogate_pair(files: Path) -> None:
    (files / "t.txt").write_bytes("🎉🎉🎉".encode("utf-16"))  # BOM + 3 x 4 bytes
    # From the BOM's end (2): 10 bytes are two pairs and the high half of the third.
    first = run_files.read_run_file(files, "t.txt", limit=10)
    assert first["text"] == "🎉🎉" and (first["offset"], first["next_offset"]) == (2, 10)


def test_categories_come_from_the_top_level_directory() -> None:
    assert [
        run_files.category_of(path)
        for path in (
            "reports/a.md",
            "Report/x.pdf",
            "data/x.csv",
            "config/a.yaml",
            "results/m.json",
            "logs/x.txt",
            "run.log",
            "deep/inside/train.log",
            "README.md",
            "reports",
        )
    ] == [
        "reports",
        "reports",
        "inputs",
        "inputs",
        "outputs",
        "logs",
        "logs",
        "logs",
        "other",
        "other",
    ]


def test_describe_run_contents_is_bounded_on_huge_trees(files: Path) -> None:
    big = files / "outputs"
    big.mkdir()
    for number in range(60):
        (big / f"{number}.txt").touch()
    assert run_files.describe_run_contents(files, "run", max_scan=50)["scan_truncated"] is True
    assert run_files.describe_run_contents(files, "run", max_scan=100)["scan_truncated"] is False
