"""The runbook (its env-bootstrap checklist), built once per run.

RPT502 asks whether the runbook mentions a flag in its ``FLAG_X`` spelling, as
a whole token (``FLAG_BETA`` does not match ``FLAG_BETA_DIGEST``).  Markdown
comments (``<!-- … -->``) are not text a reader provisions from, so they do not
count.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from raptor_lint.config import ConfigError
from raptor_lint.project.migrations import project_relpath, tokens_of
from raptor_lint.safe_read import UnreadableFile, read_regular_file
from raptor_lint.source import decode_text

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.findings import Edit
    from raptor_lint.project import ProjectIndex


@dataclass(frozen=True)
class Runbook:
    path: Path
    relpath: str
    text: str
    tokens: frozenset[str]

    def mentions(self, token: str) -> bool:
        return token in self.tokens

    def addition(self, flag: str) -> "Edit":
        """RPT502's fix: the checklist line for ``flag`` (``checklist_addition``)."""
        return checklist_addition(self.text, flag, os.path.abspath(self.path))


def build(project: "ProjectIndex") -> Runbook | None:
    """ProjectIndex fact: None when the default runbook is absent; ConfigError when a
    configured one is missing or unreadable."""
    path = project.config.resolved_runbook()
    if path is None:
        return None
    try:
        # As --fix reads it (undecodable bytes kept as surrogates, a BOM dropped), so the
        # fix's positions are the ones fixes.py applies.
        text = decode_text(read_regular_file(path))
    except UnreadableFile as exc:
        raise ConfigError(f"{path}: cannot read the runbook: {exc}") from None
    visible = without_html_comments(text)
    return Runbook(path=path, relpath=project_relpath(path, project.config.root), text=text,
                   tokens=frozenset(tokens_of(visible)))


def without_html_comments(text: str) -> str:
    """``text`` with every ``<!-- … -->`` replaced by a space, as ``re.sub(r"<!--.*?-->", " ",
    text, flags=re.S)`` does: an unclosed ``<!--`` and what follows it stay text.

    Scanned with ``str.find``, in linear time: the regex ``<!--.*?-->`` (DOTALL) retries
    the rest of the file from every unclosed ``<!--``, and 200 KB of them took 29 s.
    """
    pieces: list[str] = []
    position = 0
    while True:
        opening = text.find("<!--", position)
        if opening < 0:
            pieces.append(text[position:])
            break
        pieces.append(text[position:opening])
        closing = text.find("-->", opening + 4)
        if closing < 0:  # no later ``<!--`` can be closed either
            pieces.append(text[opening:])
            break
        pieces.append(" ")
        position = closing + 3
    return "".join(pieces)


# ------------------------------------------------------------- RPT502's fix

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"( {0,3})([-*+])[ \t]+(?:\[[ xX]\][ \t]+)?")
_COMMENT_LINE = re.compile(r"[ \t]*<!--.*-->[ \t]*$")
_FLAG = re.compile(r"FLAG_[A-Za-z0-9_]+")
# Words of a heading that say nothing about which subsystem it is about.
_STOP_WORDS = frozenset({"flag", "flags", "and", "or", "the", "a", "an", "of", "for", "to", "with", "on"})


@dataclass(frozen=True)
class _Heading:
    index: int  # 0-based line
    level: int
    text: str


def _headings(lines: list[str]) -> list[_Heading]:
    """ATX headings outside fenced code blocks and HTML comments."""
    found: list[_Heading] = []
    fence: str | None = None
    in_comment = False
    for index, line in enumerate(lines):
        if fence is not None:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
            continue
        if in_comment:
            in_comment = "-->" not in line
            continue
        opening = _FENCE.match(line)
        if opening:
            fence = opening.group(1)
            continue
        if "<!--" in line and "-->" not in line[line.index("<!--"):]:
            in_comment = True
            continue
        heading = _atx_heading(line)
        if heading is not None:
            found.append(_Heading(index, *heading))
    return found


def _atx_heading(line: str) -> tuple[int, str] | None:
    """(level, text) of an ATX heading line (``## Sentry ##``), else None.

    What ``re.match(r" {0,3}(#{1,6})(?:[ \\t]+(.*?))?(?:[ \\t]+#+)?[ \\t]*$", line)`` gives
    (``tests/test_bounded_read.py`` holds them equal), in linear time: that regex tries
    every end of the lazy text against the trailing whitespace, and one 20 KB line of
    spaces took 6 s.
    """
    indent = len(line) - len(line.lstrip(" "))
    if indent > 3:
        return None
    hashes_end = indent
    while hashes_end < len(line) and line[hashes_end] == "#":
        hashes_end += 1
    level = hashes_end - indent
    if not 1 <= level <= 6:
        return None
    rest = line[hashes_end:]
    if not rest:
        return level, ""
    if rest[0] not in " \t":
        return None
    text = rest.strip(" \t")  # what the lazy group may hold: first to last non-blank character
    closing = text.rstrip("#")
    if closing != text and closing[-1:] in (" ", "\t"):  # a closing run of #'s after a blank
        text = closing.rstrip(" \t")
    return level, text


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _same_word(a: str, b: str) -> bool:
    """``alert`` names ``alerting``: equal, or one a prefix of the other (4+ letters)."""
    return a == b or (min(len(a), len(b)) >= 4 and (a.startswith(b) or b.startswith(a)))


def _names_subsystem(heading: str, flag: str) -> int:
    """How many words of ``heading`` name ``flag``'s subsystem: every word of the heading
    outside parentheses and FLAG_ names must be a word of the flag (``Sentry`` names
    FLAG_SENTRY_ALERTS; ``Beta walkthrough`` does not name FLAG_BETA_DIGEST).  0: no."""
    flag_words = [w for w in flag[len("FLAG_"):].lower().split("_") if w]
    name = _without_parentheses(_FLAG.sub(" ", heading))
    words = [w for w in _words(name) if w not in _STOP_WORDS]
    if not words or not all(any(_same_word(w, f) for f in flag_words) for w in words):
        return 0
    return len(words)


def _without_parentheses(text: str) -> str:
    """``re.sub(r"\\([^)]*\\)", " ", text)`` in linear time (that regex scans to the end of
    the text from every unclosed ``(``)."""
    pieces: list[str] = []
    position = 0
    while True:
        opening = text.find("(", position)
        closing = text.find(")", opening + 1) if opening >= 0 else -1
        if closing < 0:
            pieces.append(text[position:])
            return "".join(pieces)
        pieces.append(text[position:opening])
        pieces.append(" ")
        position = closing + 1


def _last_content(lines: list[str], start: int, end: int, *, skip_comments: bool) -> int | None:
    """Index of the last non-blank line in ``lines[start:end]`` (HTML comment lines skipped
    when ``skip_comments`` and there is other content)."""
    last = None
    for index in range(end - 1, start - 1, -1):
        line = lines[index]
        if not line.strip():
            continue
        if skip_comments and _COMMENT_LINE.match(line):
            if last is None:
                last = index  # a fallback when the body is only comments
            continue
        return index
    return last


def _in_list(lines: list[str], start: int, index: int) -> re.Match[str] | None:
    """The list item that line ``index`` belongs to (itself or the item its paragraph
    continues, within the run of non-blank lines), or None."""
    for probe in range(index, start - 1, -1):
        if not lines[probe].strip():
            return None
        match = _LIST_ITEM.match(lines[probe])
        if match:
            return match
    return None


def checklist_addition(text: str, flag: str, path: str) -> "Edit":
    """The edit that adds ``- [ ] FLAG_X=1 set`` to the runbook ``text``.

    Where: in the env-bootstrap checklist (the section whose heading says "checklist";
    else the whole file), under the subsection whose heading names the flag's subsystem
    (``_names_subsystem``; the best match), after its last list item.  Without such a
    subsection the line goes at the end of the checklist: after its last item when it
    has no subsections, else in a new subsection headed by the flag's name (appending it
    under the last subsection would file it under another subsystem).  The file's line
    break is used; nothing else moves."""
    from raptor_lint.findings import Edit
    from raptor_lint.source import LINE_BREAK, split_lines

    lines = split_lines(text)
    first_break = LINE_BREAK.search(text)
    eol = first_break.group(0) if first_break else "\n"
    item = f"{flag}=1 set"
    headings = _headings(lines)
    checklists = [h for h in headings if "checklist" in h.text.lower()]
    region = next((h for h in checklists if "bootstrap" in h.text.lower()), checklists[0] if checklists else None)
    if region is not None:
        start = region.index + 1
        end = next((h.index for h in headings if h.index > region.index and h.level <= region.level), len(lines))
        level = region.level
    else:
        start, end, level = 0, len(lines), 0
    subsections = [h for h in headings if start <= h.index < end and h.level > level]

    def after(index: int, content: str) -> Edit:
        return Edit(index + 1, len(lines[index]) + 1, index + 1, len(lines[index]) + 1, content, path)

    def add_to_body(body_start: int, body_end: int, fallback: int | None) -> Edit:
        last = _last_content(lines, body_start, body_end, skip_comments=True)
        if last is None:
            if fallback is None:  # an empty file
                return Edit(1, 1, 1, 1, f"- [ ] {item}{eol}", path)
            return after(fallback, f"{eol}{eol}- [ ] {item}")
        in_list = _in_list(lines, body_start, last)
        if in_list is not None:
            # The list's indentation and bullet; the box unchecked (nobody has set it yet).
            return after(last, f"{eol}{in_list.group(1)}{in_list.group(2)} [ ] {item}")
        return after(last, f"{eol}{eol}- [ ] {item}")

    scored = [(_names_subsystem(h.text, flag), h) for h in subsections]
    best = max((score for score, _ in scored), default=0)
    if best:
        heading = next(h for score, h in scored if score == best)
        body_end = next((h.index for h in headings if h.index > heading.index), len(lines))
        return add_to_body(heading.index + 1, body_end, heading.index)
    if not subsections:
        return add_to_body(start, end, region.index if region is not None else None)
    last = _last_content(lines, start, end, skip_comments=False)
    anchor = last if last is not None else subsections[-1].index
    hashes = "#" * subsections[0].level
    return after(anchor, f"{eol}{eol}{hashes} {flag}{eol}{eol}- [ ] {item}")
