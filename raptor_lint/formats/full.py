"""``--format full``: each finding with its source, its story and what fixes it.

Modelled on Ruff's full output: the ``path:line:col: CODE message`` header (``[*]`` when
``--fix`` fixes it), the offending line with two lines of context and line numbers, a caret
underline under the finding's columns, then ``= note:`` (this finding's story), ``=
related:`` (other places it points at), ``= why:`` (the first sentences of the rule's why),
``= fix:`` (its fix and tier) and ``= docs:`` (where the whole story is).  Ends with the
text format's summary line.

Source lines are escaped like file names (a control character in a string literal does not
reach the terminal) and tabs are expanded, with the caret placed by display width (a CJK
character is two cells).  A file that cannot be read again is shown without its source.
"""

from __future__ import annotations

import textwrap
import unicodedata
from pathlib import Path

from raptor_lint.findings import Finding
from raptor_lint.formats import RenderOptions
from raptor_lint.formats._terminal import Style, escape_controls
from raptor_lint.formats.text import fix_label, location, summary

CONTEXT_LINES = 2
# A generated file's line can be megabytes long: show its start (and the caret if it is there).
MAX_SHOWN_COLUMNS = 200
WHY_CHARACTERS = 320
WRAP = 100


def render(result, config, options: RenderOptions | None = None) -> str:
    options = options or RenderOptions()
    style = Style(options.colour)
    unsafe_fixes = getattr(result, "unsafe_fixes", False)
    sources = _Sources(result.files)
    blocks = [_block(finding, sources.lines(finding.path), unsafe_fixes, style, options)
              for finding in result.findings]
    out = "".join(blocks)
    if not options.quiet:
        out += summary(result, result.findings) + "\n"
    return out


class _Sources:
    """Each reported file's lines, read once: the text the run kept, else the file again."""

    def __init__(self, files) -> None:
        self._files = {file_result.display_path: file_result for file_result in files}
        self._lines: dict[str, list[str] | None] = {}

    def lines(self, display_path: str) -> list[str] | None:
        if display_path not in self._lines:
            self._lines[display_path] = self._read(display_path)
        return self._lines[display_path]

    def _read(self, display_path: str) -> list[str] | None:
        from raptor_lint.discovery import PYTHON
        from raptor_lint.source import SourceError, decode_python, decode_text, read_source, split_lines

        file_result = self._files.get(display_path)
        if file_result is None:
            return None
        text = file_result.text
        if text is None:
            try:
                data = read_source(file_result.path)
                text = decode_python(data) if file_result.kind == PYTHON else decode_text(data)
            except (SourceError, OSError, ValueError):
                return None
        return split_lines(text)


def _block(finding: Finding, lines: list[str] | None, unsafe_fixes: bool, style: Style,
           options: RenderOptions) -> str:
    """One finding; its fix is always named (``= fix:``); ``--show-fixes`` adds the change it
    makes to this file as a diff of the lines it touches, as Ruff's full output does."""
    fixable = finding.fix is not None and finding.fix.applies(unsafe_fixes)
    marker = f" {style.fixable('[*]')}" if fixable else ""
    out = [f"{location(finding, style)} {style.code(finding.code)}{marker} {escape_controls(finding.message)}"]
    snippet = _snippet(finding, lines, style)
    out += snippet
    gutter = " " * (len(str(_last_shown(finding, lines))) + 1) if snippet else " "
    for label, text in _annotations(finding, unsafe_fixes):
        out += _wrapped(f"{gutter}{style.punctuation('=')} {style.note(label + ':')} ", text, gutter)
        if label.startswith("fix") and options.show_fixes and finding.fix is not None and lines is not None:
            out += [f"{gutter}    {line}" for line in fix_diff(lines, finding.fix, style)]
    return "\n".join(out) + "\n\n"


def fix_diff(lines: list[str], fix, style: Style) -> list[str]:
    """The lines of this file the fix changes, as ``-``/``+`` lines (edits of other files are
    named by the fix's description); empty when an edit does not fit the text."""
    import difflib

    own = [edit for edit in fix.edits if edit.path is None]
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    text = "\n".join(lines)
    for edit in sorted(own, key=lambda e: (e.line, e.column), reverse=True):
        if not (1 <= edit.line <= edit.end_line <= len(lines)):
            return []
        start = starts[edit.line - 1] + edit.column - 1
        end = starts[edit.end_line - 1] + edit.end_column - 1
        if not 0 <= start <= end <= len(text):
            return []
        text = text[:start] + edit.content + text[end:]
    diff = difflib.unified_diff(lines, text.split("\n"), n=0, lineterm="")
    out = []
    for line in diff:
        if line.startswith(("---", "+++", "@@")):
            continue
        shown = escape_controls(line.expandtabs(4))
        out.append(style.code(shown) if line.startswith("-") else style.fixable(shown))
    return out


def _last_shown(finding: Finding, lines: list[str] | None) -> int:
    if not lines:
        return 0
    return min(len(lines), finding.line + CONTEXT_LINES)


def _snippet(finding: Finding, lines: list[str] | None, style: Style) -> list[str]:
    if not lines or not 1 <= finding.line <= len(lines):
        return []
    first = max(1, finding.line - CONTEXT_LINES)
    last = _last_shown(finding, lines)
    while first < finding.line and not lines[first - 1].strip():
        first += 1
    while last > finding.line and not lines[last - 1].strip():
        last -= 1
    width = len(str(last))
    bar = style.punctuation("|")
    out = [f"{' ' * width} {bar}"]
    for number in range(first, last + 1):
        shown, _ = _display(lines[number - 1], len(lines[number - 1]))
        out.append(f"{style.dim(str(number).rjust(width))} {bar} {shown}".rstrip())
        if number == finding.line:
            out.append(f"{' ' * width} {bar} {_underline(finding, lines[number - 1], style)}")
    out.append(f"{' ' * width} {bar}")
    return out


def _display(line: str, upto: int) -> tuple[str, int]:
    """(the line as shown: escaped, tabs expanded, cut at MAX_SHOWN_COLUMNS; the display
    width of its first ``upto`` characters)."""
    shown: list[str] = []
    width = 0
    width_upto = None
    for index, char in enumerate(line):
        if index == upto:
            width_upto = width
        piece = " " * (4 - width % 4) if char == "\t" else escape_controls(char)
        cells = sum(_cells(c) for c in piece)
        if width + cells > MAX_SHOWN_COLUMNS:
            shown.append("…")
            break
        shown.append(piece)
        width += cells
    if width_upto is None:
        width_upto = width
    return "".join(shown), width_upto


def _cells(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _underline(finding: Finding, line: str, style: Style) -> str:
    """Carets under the finding's columns on its first line (end exclusive); one caret for a
    finding without an end, and up to the end of the line for one that goes on below."""
    start = min(finding.column - 1, len(line))
    if finding.end_line is not None and finding.end_line > finding.line:
        end = len(line)
    elif finding.end_column is not None and finding.end_column > finding.column:
        end = min(finding.end_column - 1, len(line))
    else:
        end = start + 1
    _, start_cells = _display(line, start)
    _, end_cells = _display(line, end)
    carets = "^" * max(1, min(end_cells, MAX_SHOWN_COLUMNS) - start_cells)
    return f"{' ' * min(start_cells, MAX_SHOWN_COLUMNS)}{style.caret(carets)} {style.code(finding.code)}"


def _annotations(finding: Finding, unsafe_fixes: bool) -> list[tuple[str, str]]:
    from raptor_lint.config import relative_posix
    from raptor_lint.docs import RUN_CODES, where_documented
    from raptor_lint.registry import all_rules

    out: list[tuple[str, str]] = []
    if finding.note:
        out.append(("note", escape_controls(finding.note, keep="\n")))
    for related in finding.related:
        place = escape_controls(f"{relative_posix(Path(related.path))}:{related.line}:{related.column}")
        out.append(("related", f"{place}: {escape_controls(related.message)}"))
    rule = all_rules().get(finding.code)
    why = rule.why if rule is not None else RUN_CODES.get(finding.code)
    if why:
        out.append(("why", first_sentences(why, WHY_CHARACTERS)))
    if finding.fix is not None:
        out.append((fix_label(finding.fix, unsafe_fixes), escape_controls(finding.fix.description)))
    if rule is not None or finding.code in RUN_CODES:
        out.append(("docs", where_documented(finding.code)))
    return out


def first_sentences(text: str, limit: int) -> str:
    """The first paragraph's sentences that fit in ``limit`` characters (at least one)."""
    paragraph = " ".join(text.strip().split("\n\n", 1)[0].split())
    sentences: list[str] = []
    rest = paragraph
    while rest:
        cut = _sentence_end(rest)
        sentence, rest = rest[:cut].strip(), rest[cut:].strip()
        if sentences and len(" ".join(sentences)) + 1 + len(sentence) > limit:
            break
        sentences.append(sentence)
    return " ".join(sentences)


def _sentence_end(text: str) -> int:
    """Index after the first sentence: a '.', '!' or '?' followed by a space and a capital or
    a backquote (so ``e.g. x`` and ``0.5 s`` do not end one)."""
    for index, char in enumerate(text[:-2]):
        if char in ".!?" and text[index + 1] == " " and (text[index + 2].isupper() or text[index + 2] == "`"):
            return index + 1
    return len(text)


def _wrapped(prefix: str, text: str, gutter: str) -> list[str]:
    """``prefix`` + ``text`` wrapped at WRAP columns, continuation lines indented under it."""
    indent = gutter + "    "
    out: list[str] = []
    for number, paragraph in enumerate(text.split("\n")):
        lines = textwrap.wrap(paragraph, width=WRAP, break_long_words=False, break_on_hyphens=False) or [""]
        for index, line in enumerate(lines):
            out.append((prefix if number == 0 and index == 0 else indent) + line)
    return out
