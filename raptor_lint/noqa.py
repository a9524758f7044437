"""``# noqa`` with flake8's exact semantics, so every surface agrees with flake8.

flake8 searches the noqa comment in the *noqa line* of a finding: the physical
line, or, for tokens spanning several lines (triple-quoted strings), all those
lines joined.  A bare ``# noqa`` (or ``# noqa: RPT`` without digits, which the
regex cannot read as codes) silences everything; ``# noqa: RPT101,RPT3``
silences codes equal to or starting with a listed code.
"""

from __future__ import annotations

import io
import re
import tokenize
from typing import Callable, Iterable

from raptor_lint.source import LINE_BREAK

# Copied from flake8.defaults.NOQA_INLINE_REGEXP (flake8 7.x).
NOQA_INLINE = re.compile(
    r"# noqa(?::[\s]?(?P<codes>([A-Z]+[0-9]+(?:[,\s]+)?)+))?",
    re.IGNORECASE,
)
NOQA_FILE = re.compile(r"\s*# flake8[:=]\s*noqa", re.I)
_SEPARATOR = re.compile(r"[,\s]")


def line_is_suppressed(noqa_line: str | None, code: str) -> bool:
    if not noqa_line:
        return False
    match = NOQA_INLINE.search(noqa_line)
    if match is None:
        return False
    codes_text = match.group("codes")
    if codes_text is None:
        return True
    codes = [c for c in (part.strip() for part in _SEPARATOR.split(codes_text)) if c]
    return code in codes or code.startswith(tuple(codes))


def python_noqa_lines(text: str) -> Callable[[int], str | None]:
    """Map a 1-based line number to the text flake8 searches for ``# noqa``."""
    # Physical lines as the tokenizer counts them (str.splitlines also breaks at \f, \v,
    # \x1c-\x1e, \x85, \u2028 and \u2029, which would shift every later line).
    lines = _PHYSICAL_LINE.findall(text)
    if NOQA_INLINE.search(text) is None:
        # No noqa comment anywhere, so none in any joined range either: skip the
        # (pure-Python, ~50 µs a line) tokenization and answer with physical lines.
        return lambda line: lines[line - 1] if 0 < line <= len(lines) else None
    mapping: dict[int, str] = {}
    try:
        tokens = python_tokens(text)
    except Exception:  # noqa: BLE001 - TokenError, SyntaxError...: fall back to physical lines
        tokens = []
    min_line, max_line = len(lines) + 2, -1
    for tok in tokens:
        if tok.type in (tokenize.ENDMARKER, tokenize.DEDENT):
            continue
        min_line = min(min_line, tok.start[0])
        max_line = max(max_line, tok.end[0])
        if tok.type in (tokenize.NL, tokenize.NEWLINE):
            joined = "".join(lines[min_line - 1:max_line])
            for number in range(min_line, max_line + 1):
                mapping[number] = joined
            min_line, max_line = len(lines) + 2, -1

    def lookup(line: int) -> str | None:
        if line in mapping:
            return mapping[line]
        return lines[line - 1] if 0 < line <= len(lines) else None

    return lookup


def python_noqa_ranges(text: str) -> dict[int, tuple[int, int]]:
    """{line: (first, last)} for every line that is part of a multi-line noqa range (a
    triple-quoted string, a backslash continuation): flake8 reads a ``# noqa`` anywhere in
    the range, and ``--add-noqa`` writes it after the range's last line, where a comment
    cannot be inside the string.  Lines not listed are their own range.  Raises what
    ``tokenize`` raises."""
    ranges: dict[int, tuple[int, int]] = {}
    no_line = 1 << 62  # above any token's line: the next token starts the range
    min_line, max_line = no_line, -1
    for tok in python_tokens(text):
        if tok.type in (tokenize.ENDMARKER, tokenize.DEDENT):
            continue
        min_line = min(min_line, tok.start[0])
        max_line = max(max_line, tok.end[0])
        if tok.type in (tokenize.NL, tokenize.NEWLINE):
            if max_line > min_line:
                for number in range(min_line, max_line + 1):
                    ranges[number] = (min_line, max_line)
            min_line, max_line = no_line, -1
    return ranges


def plain_noqa_ranges(text: str) -> dict[int, tuple[int, int]]:
    """``python_noqa_ranges`` for shell-like files: lines joined by a trailing backslash."""
    lines = LINE_BREAK.split(text)
    ranges: dict[int, tuple[int, int]] = {}
    start = 0
    for index, line in enumerate(lines):
        if line.endswith("\\") and index + 1 < len(lines):
            continue
        if index > start:
            for number in range(start + 1, index + 2):
                ranges[number] = (start + 1, index + 1)
        start = index + 1
    return ranges


_PHYSICAL_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
# Markdown's comment syntax: ``<!-- noqa -->`` / ``<!-- noqa: RPT601 -->``.
_HTML_NOQA = re.compile(r"<!--\s*noqa(?P<codes>:[\sA-Z0-9,]*?)?\s*-->", re.IGNORECASE)


def python_tokens(text: str) -> list[tokenize.TokenInfo]:
    r"""``tokenize``'s tokens of ``text``, lines numbered as CPython numbers them.

    ``tokenize`` reads lines split at ``\n`` only: in a file with old-Mac line endings
    (a lone ``\r``) every line would be line 1.  A raw ``\r`` in Python source is
    always a line break (CPython's universal newlines; flake8 reads files that way
    too), so turning each line break into ``\n`` keeps every line and column.
    Raises what ``tokenize`` raises (TokenError, SyntaxError).
    """
    source = LINE_BREAK.sub("\n", text) if "\r" in text else text
    return list(tokenize.generate_tokens(io.StringIO(source).readline))


def plain_noqa_lines(text: str, kind: str | None = None) -> Callable[[int], str | None]:
    """Lookup for non-Python files (shell, Makefile, YAML, Procfile, Markdown).

    Lines joined by a trailing backslash are one noqa line (a shell comment can
    only sit on the last line of a continued command).  In Markdown,
    ``<!-- noqa[: codes] -->`` on a line, or on the line before a fenced code
    block (covering the whole block), counts as ``# noqa[: codes]``.
    """
    lines = LINE_BREAK.split(text)
    mapping: dict[int, str] = {}
    start = 0
    for index, line in enumerate(lines):
        if line.endswith("\\") and index + 1 < len(lines):
            continue
        if index > start:
            joined = "\n".join(lines[start:index + 1])
            for number in range(start + 1, index + 2):
                mapping[number] = joined
        start = index + 1
    if kind == "markdown":
        _add_markdown_noqa(lines, mapping)

    def lookup(line: int) -> str | None:
        if line in mapping:
            return mapping[line]
        return lines[line - 1] if 0 < line <= len(lines) else None

    return lookup


def _add_markdown_noqa(lines: list[str], mapping: dict[int, str]) -> None:
    from raptor_lint.shell import fenced_blocks

    def as_noqa(match: re.Match) -> str:
        codes = (match.group("codes") or "").strip(": \t")
        return f"# noqa: {codes}" if codes else "# noqa"

    for number, line in enumerate(lines, 1):
        match = _HTML_NOQA.search(line)
        if match:
            mapping[number] = f"{mapping.get(number, line)} {as_noqa(match)}"
    for block in fenced_blocks(lines):
        above = block.fence_line - 1
        while above >= 1 and not lines[above - 1].strip():
            above -= 1
        match = _HTML_NOQA.search(lines[above - 1]) if above >= 1 else None
        if match is None:
            continue
        for number in range(block.first, block.last + 1):
            mapping[number] = f"{mapping.get(number, lines[number - 1])} {as_noqa(match)}"


def file_is_disabled(lines: Iterable[str]) -> bool:
    """``# flake8: noqa`` on a line of its own disables the whole file (as in flake8)."""
    return any(NOQA_FILE.match(line) for line in lines)
