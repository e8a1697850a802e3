"""Markdown sections of a report: parse, address, splice, check, diff (pure, no I/O).

Headings are found with a real CommonMark parser (markdown-it-py), using its
token line maps, so:

* ATX (``## Title``) and setext (``Title`` underlined with ``===``/``---``,
  possibly over several lines) headings both count;
* a ``#`` line inside a fenced or indented code block, an HTML block or YAML
  front matter (a first line ``---`` up to the next ``---``/``...``) is not a
  heading;
* only headings at the top level of the document make sections: a heading
  inside a blockquote or a list item belongs to the section around it.

A section runs from its heading to the next heading of the same or a higher
level (smaller number), so it includes its subsections. Its *body* is what
follows the heading lines.

Addressing (:func:`find_section`), in this order:

* ``#N``: the N-th heading of the document (1-based, as listed);
* a heading path ``Results/Discussion``: the section titled ``Discussion``
  whose parents are titled ``Results`` (a suffix of the full path, so
  ``Report/Results/Discussion`` matches too); a leading ``/`` anchors it at the
  top (``/Results`` is only a top-level ``Results``);
* a title ``Discussion`` (a title may itself contain ``/``);
* if none of these match exactly: the titles *containing* the pattern.

Matching ignores case, repeated spaces and leading ``#`` marks (``## Intro``
is ``intro``). More than one match is refused, listing the candidates with
their index and path, so the caller can say which.

Lines keep their own endings (``\\n``, ``\\r\\n`` or ``\\r``, split exactly as
the parser does); new content is written with the report's line ending.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .errors import AmbiguousSection, BadArgument, NoSuchSection, UnsafeEdit

__all__ = [
    "Document",
    "Section",
    "check_structure",
    "find_section",
    "parse_document",
    "section_diff",
    "splice_section",
    "split_lines",
]

_NEWLINE = re.compile(r"\r\n|\r|\n")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_INDEX = re.compile(r"^#(\d{1,6})\Z")
_LEADING_MARKS = re.compile(r"^#{1,6}\s+")
_SPACES = re.compile(r"\s+")
#: Longest unified diff returned, in characters.
MAX_DIFF_CHARS = 64 * 1024
_MAX_LISTED = 12


@dataclass(frozen=True)
class Section:
    """One heading and the lines it governs (0-based, end exclusive)."""

    index: int
    level: int
    title: str
    path: str
    style: Literal["atx", "setext"]
    start: int
    heading_end: int
    end: int

    def describe(self) -> str:
        """``#3 'Results/Discussion' (lines 10-20)`` for messages."""
        return f"#{self.index} '{self.path}' (lines {self.start + 1}-{self.end})"


@dataclass(frozen=True)
class Document:
    """A report's lines (each with its ending) and its top-level sections."""

    lines: tuple[str, ...]
    sections: tuple[Section, ...]
    newline: str
    #: Link reference definitions in document order, duplicates included:
    #: ``(normalised label, first line, href, title)``.
    definitions: tuple[tuple[str, int, str, str], ...] = ()


def split_lines(text: str) -> list[str]:
    """``text`` as lines that keep their endings, split on ``\\r\\n``, ``\\r`` or ``\\n``."""
    return _LINE.findall(text)


def _front_matter_end(lines: Sequence[str]) -> int:
    """Number of lines of YAML front matter at the start (0 when there is none)."""
    if not lines or lines[0].rstrip("\r\n") != "---":
        return 0
    for number, line in enumerate(lines[1:], start=1):
        if line.rstrip("\r\n") in ("---", "..."):
            return number + 1
    return 0


def _parsers() -> tuple[Any, Any]:
    """``(block parser, full parser)``: CommonMark with and without the inline pass.

    The inline pass is most of the time on a large report (about 20 times the
    block pass with markdown-it-py 4), and only headings need it, for their
    plain-text titles: :func:`_plain_title` runs the full parser on those alone.
    """
    from markdown_it import MarkdownIt

    block = MarkdownIt("commonmark")
    block.core.ruler.disable(["inline", "text_join"])
    return block, MarkdownIt("commonmark")


def _plain_title(full: Any, inline: Any) -> str:
    parts: list[str] = []
    children = full.parseInline(inline.content)[0].children if inline.content else []
    for child in children or []:
        if child.type in ("text", "code_inline", "image"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return _SPACES.sub(" ", "".join(parts)).strip()


def parse_document(text: str) -> Document:
    """Parse ``text`` into lines and top-level sections (see the module docstring)."""
    lines = split_lines(text)
    skip = _front_matter_end(lines)
    source = "\n" * skip + "".join(lines[skip:])
    block, full = _parsers()
    env: dict[str, Any] = {}
    tokens = block.parse(source, env)
    found: list[tuple[int, str, Literal["atx", "setext"], int, int]] = []
    for position, token in enumerate(tokens):
        if token.type != "heading_open" or token.level != 0 or token.map is None:
            continue
        style: Literal["atx", "setext"] = "setext" if token.markup in ("=", "-") else "atx"
        title = _plain_title(full, tokens[position + 1])
        found.append((int(token.tag[1:]), title, style, token.map[0], token.map[1]))
    sections: list[Section] = []
    parents: list[tuple[int, str]] = []
    for number, (level, title, style, start, heading_end) in enumerate(found):
        end = next((later[3] for later in found[number + 1 :] if later[0] <= level), len(lines))
        while parents and parents[-1][0] >= level:
            parents.pop()
        path = "/".join([title for _, title in parents] + [title])
        parents.append((level, title))
        sections.append(Section(number + 1, level, title, path, style, start, heading_end, end))
    match = _NEWLINE.search(text)
    return Document(
        tuple(lines), tuple(sections), match.group(0) if match else "\n", _definitions(env)
    )


def _definitions(env: dict[str, Any]) -> tuple[tuple[str, int, str, str], ...]:
    """The link reference definitions markdown-it found, first and duplicate ones alike."""
    found = [
        (label, ref["map"][0], ref["href"], ref.get("title", ""))
        for label, ref in env.get("references", {}).items()
    ]
    found += [
        (ref["label"], ref["map"][0], ref["href"], ref.get("title", ""))
        for ref in env.get("duplicate_refs", [])
    ]
    return tuple(sorted(found, key=lambda definition: definition[1]))


def _norm(text: str) -> str:
    return _SPACES.sub(" ", _LEADING_MARKS.sub("", text.strip())).strip().casefold()


def _path_matches(section: Section, wanted: list[str], anchored: bool) -> bool:
    have = [_norm(part) for part in section.path.split("/")]
    if anchored:
        return have == wanted
    return len(wanted) <= len(have) and have[len(have) - len(wanted) :] == wanted


def find_section(doc: Document, pattern: str) -> Section:
    """The one section ``pattern`` addresses (see the module docstring)."""
    pattern = pattern.strip()
    if not pattern:
        raise BadArgument("The section pattern is empty; give a heading title, a path or '#N'.")
    index = _INDEX.match(pattern)
    if index:
        number = int(index.group(1))
        if 1 <= number <= len(doc.sections):
            return doc.sections[number - 1]
        raise NoSuchSection(f"There is no section #{number}; the report has {len(doc.sections)}.")
    anchored = pattern.startswith("/")
    wanted = [_norm(part) for part in pattern.strip("/").split("/")]
    whole = _norm(pattern)
    exact = [
        section
        for section in doc.sections
        if (not anchored and _norm(section.title) == whole)
        or (len(wanted) > 1 or anchored)
        and _path_matches(section, wanted, anchored)
    ]
    candidates = exact or [s for s in doc.sections if whole and whole in _norm(s.title)]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        listed = "; ".join(section.describe() for section in candidates[:_MAX_LISTED])
        raise AmbiguousSection(
            f"'{pattern[:80]}' matches {len(candidates)} sections: {listed}. Use a heading "
            "path (e.g. 'Parent/Title') or the index ('#N') to choose one."
        )
    listed = "; ".join(section.describe() for section in doc.sections[:_MAX_LISTED])
    more = " …" if len(doc.sections) > _MAX_LISTED else ""
    raise NoSuchSection(
        f"No section matches '{pattern[:80]}'. Sections: {listed or '(none)'}{more}."
    )


def _content_lines(content: str, newline: str) -> list[str]:
    """``content`` as lines ending in ``newline``, without blank lines around it."""
    lines = _NEWLINE.split(content)
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return [line + newline for line in lines]


def splice_section(
    doc: Document, section: Section, content: str, keep_heading: bool = True
) -> tuple[list[str], int]:
    """The report's new lines with ``section`` replaced, and the end of the new part.

    With ``keep_heading`` the heading lines stay and ``content`` becomes the
    body; without, ``content`` replaces heading and body (empty content deletes
    the section). Blank lines around ``content`` are normalised: one blank line
    after a kept heading, one before the next heading.
    """
    newline = doc.newline
    new: list[str] = []
    if keep_heading:
        new = list(doc.lines[section.start : section.heading_end])
        if new and not new[-1].endswith(("\n", "\r")):
            new[-1] += newline
    body = _content_lines(content, newline)
    if keep_heading and body:
        new.append(newline)
    new.extend(body)
    if new and section.end < len(doc.lines):
        new.append(newline)
    lines = list(doc.lines[: section.start]) + new + list(doc.lines[section.end :])
    return lines, section.start + len(new)


def check_structure(
    before: Document, section: Section, after: Document, new_end: int, keep_heading: bool
) -> None:
    """Refuse an edit that changes any heading outside the edited section.

    Catches content that would swallow the following headings (an unclosed
    code fence), turn the paragraph above into a setext heading, or start a
    section of the same or a higher level than the one being edited.
    """

    def key(s: Section) -> tuple[int, str, str]:
        return s.level, s.title, s.style

    old_before = [key(s) for s in before.sections if s.start < section.start]
    old_after = [key(s) for s in before.sections if s.start >= section.end]
    new_before = [key(s) for s in after.sections if s.start < section.start]
    new_after = [key(s) for s in after.sections if s.start >= new_end]
    inside = [s for s in after.sections if section.start <= s.start < new_end]
    problem = ""
    if new_before != old_before or new_after != old_after:
        problem = "it would change the headings of other sections (an unclosed code fence?)"
    elif keep_heading and (not inside or key(inside[0]) != key(section)):
        problem = "it would change the section's own heading"
    elif keep_heading and any(s.level <= section.level for s in inside[1:]):
        problem = (
            f"it contains a heading of level {section.level} or higher, which would start a new "
            f"section; use level {section.level + 1} or deeper for subsections"
        )
    problem = problem or _link_problem(before, section, after, new_end)
    if problem:
        raise UnsafeEdit(f"The new content was refused: {problem}. Nothing was changed.")


def _effective(doc: Document) -> dict[str, dict[str, str]]:
    """Where each label of ``doc`` points: its first definition wins."""
    refs: dict[str, dict[str, str]] = {}
    for label, _, href, title in doc.definitions:
        refs.setdefault(label, {"href": href, "title": title})
    return refs


def _link_problem(before: Document, section: Section, after: Document, new_end: int) -> str:
    """Why the edit would change links outside the section (``""``: it would not).

    Link reference definitions (``[label]: https://...``) are global in
    markdown: one written into a section could take over the links of
    another (``[label]`` there, or ``[text][label]``), or replace one another
    section defines. An edit may use and define labels of its own, but not
    define a label another section defines, nor change how any text outside
    the section renders.
    """

    def edited(line: int) -> bool:
        return section.start <= line < new_end

    added = {label for label, line, _, _ in after.definitions if edited(line)}
    taken = sorted(added & {label for label, line, _, _ in after.definitions if not edited(line)})
    if taken:
        labels = ", ".join(f"[{label.lower()}]" for label in taken[:5])
        return f"it defines link reference {labels}, which another section defines"
    old_refs, new_refs = _effective(before), _effective(after)
    if old_refs == new_refs:  # the usual edit: nothing to render
        return ""
    _, full = _parsers()
    outside = "".join(before.lines[: section.start] + before.lines[section.end :])
    if full.render(outside, {"references": old_refs}) == full.render(
        outside, {"references": new_refs}
    ):
        return ""
    changed = sorted(
        label
        for label in set(old_refs) | set(new_refs)
        if old_refs.get(label) != new_refs.get(label)
    )
    labels = ", ".join(f"[{label.lower()}]" for label in changed[:5])
    return f"it would change where links in other sections point ({labels})"


def section_diff(
    old: Sequence[str], new: Sequence[str], start: int, old_end: int, new_end: int, name: str
) -> str:
    """A unified diff of one edited region, with correct line numbers, cut to a bound."""
    import difflib

    context = 3
    first = max(0, start - context)
    old_part = [line.rstrip("\r\n") for line in old[first : old_end + context]]
    new_part = [line.rstrip("\r\n") for line in new[first : new_end + context]]
    out: list[str] = []
    for line in difflib.unified_diff(
        old_part, new_part, f"a/{name}", f"b/{name}", n=context, lineterm=""
    ):
        out.append(_shift_hunk(line, first) if line.startswith("@@") else line)
    text = "\n".join(out) + ("\n" if out else "")
    if len(text) > MAX_DIFF_CHARS:
        text = (
            text[:MAX_DIFF_CHARS]
            + f"\n… (diff cut; {len(text) - MAX_DIFF_CHARS} more characters)\n"
        )
    return text


def _shift_hunk(header: str, offset: int) -> str:
    # Both forms shift alike: "-5,3" (lines 5-7) and an empty range "-5,0"
    # (after line 5) are positions counted from the start of the slice.
    def shift(match: re.Match[str]) -> str:
        return f"{match.group(1)}{int(match.group(2)) + offset}{match.group(3) or ''}"

    return re.sub(r"([-+])(\d+)(,\d+)?", shift, header, count=2)
