"""``check --add-noqa``: suppress every current finding where it is, to adopt raptor-lint on
existing code (Ruff's ``--add-noqa``), so that new findings fail the build from today on.

Each line with findings gets ``  # noqa: CODE[, CODE]`` at its end, or its codes merged into
the ``# noqa: X`` comment already there.  The comment goes where ``# noqa`` is read: after
the last line of a multi-line string or a backslash-continued statement (flake8 reads the
whole range), so it is never inside a string.  Only ASCII is inserted, into the file's own
bytes: encoding, BOM and line endings stay as they were.

Every edited file is checked before it is written: re-linted, it must report exactly the
findings it reported minus the ones suppressed (and a Python file must parse to the same
tree, which proves the comment is a comment).  A file that fails that is left alone and
named.  Running it again adds nothing: every finding it saw is suppressed.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from raptor_lint.discovery import PYTHON
from raptor_lint.findings import ALWAYS_REPORTED, INTERNAL_ERROR, IO_ERROR, SYNTAX_ERROR, Finding
from raptor_lint.noqa import NOQA_INLINE, plain_noqa_ranges, python_noqa_ranges, python_tokens

_BYTE_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_NOQA_BYTES = re.compile(NOQA_INLINE.pattern.encode("ascii"), re.IGNORECASE)


@dataclass
class NoqaReport:
    added: int = 0  # lines that got (or extended) a noqa comment
    files: int = 0
    failed: int = 0  # files left alone (read-only, unreadable, does not parse, re-check disagreed)
    notes: list[str] = field(default_factory=list)


# Why a file that was not linted (it does not parse, cannot be read, or the run failed on it)
# gets no noqa comment: the finding stays, so the run exits 1, as the next check would.
_UNLINTED = {
    SYNTAX_ERROR: f"it has a syntax error ({SYNTAX_ERROR}); fix it first",
    IO_ERROR: f"it cannot be read ({IO_ERROR}); fix that first",
    INTERNAL_ERROR: f"raptor-lint failed on it ({INTERNAL_ERROR}); see the report",
}

# (text, path, kind, display) -> the findings of that text, as the run reported them.
Relint = Callable[[str, Path, str, str], list[Finding]]


def add_noqa_comments(files, relint: Relint) -> NoqaReport:
    report = NoqaReport()
    for file_result in files:
        unlinted = next((f.code for f in file_result.findings if f.code in ALWAYS_REPORTED), None)
        if unlinted is not None:  # it still reports that (no noqa hides it): exit 1, and say why
            report.failed += 1
            report.notes.append(f"{file_result.display_path}: no noqa comment added: {_UNLINTED[unlinted]}")
            continue
        if not file_result.findings:
            continue
        problem, added = _add_to_file(file_result, relint)
        if problem:
            report.failed += 1
            report.notes.append(f"{file_result.display_path}: no noqa comment added: {problem}")
        elif added:
            report.added += added
            report.files += 1
    return report


def _add_to_file(file_result, relint: Relint) -> tuple[str | None, int]:
    """Suppress every finding of ``file_result`` (none of them ``ALWAYS_REPORTED``)."""
    from raptor_lint.atomic import WriteRefused, read_for_rewrite, rewrite_file
    from raptor_lint.source import SourceError, decode_python, decode_text

    try:
        snapshot = read_for_rewrite(file_result.path)  # the one write path for user files (raptor_lint.atomic)
        data = snapshot.data
        decode = decode_python if file_result.kind == PYTHON else decode_text
        text = decode(data)
    except (OSError, SourceError) as exc:
        return getattr(exc, "message", None) or str(exc), 0
    try:
        codes_by_line = _codes_by_target_line(text, file_result.kind, file_result.findings)
        new_data = _insert(data, codes_by_line, file_result.kind, text)
    except Exception as exc:  # noqa: BLE001 - tokenize.TokenError, SyntaxError: the file is left alone
        return f"cannot tokenize it: {exc}", 0
    if new_data == data:
        return None, 0
    try:
        new_text = decode(new_data)
    except SourceError as exc:
        return exc.message, 0
    problem = _verify(text, new_text, file_result, relint)
    if problem:
        return problem, 0
    try:
        rewrite_file(snapshot, new_data)  # re-checked before the rename; owner, links, symlinks kept
    except WriteRefused as refused:
        return str(refused), 0
    except OSError as exc:
        return f"cannot write it: {exc.strerror or exc}", 0
    return None, len(codes_by_line)


def _codes_by_target_line(text: str, kind: str, findings: list[Finding]) -> dict[int, list[str]]:
    ranges = python_noqa_ranges(text) if kind == PYTHON else plain_noqa_ranges(text)
    out: dict[int, list[str]] = {}
    for finding in findings:
        target = ranges.get(finding.line, (finding.line, finding.line))[1]
        codes = out.setdefault(target, [])
        if finding.code not in codes:
            codes.append(finding.code)
    return {line: sorted(codes) for line, codes in out.items()}


def _insert(data: bytes, codes_by_line: dict[int, list[str]], kind: str, text: str) -> bytes:
    comment_starts = _python_comment_lines(text) if kind == PYTHON else None
    lines = _BYTE_LINE.findall(data)
    for number, codes in codes_by_line.items():
        if not 1 <= number <= len(lines):
            continue
        line = lines[number - 1]
        body = line.rstrip(b"\r\n")
        ending = line[len(body):]
        lines[number - 1] = _with_noqa(body, codes, kind, comment_starts is None or number in comment_starts) + ending
    return b"".join(lines)


def _python_comment_lines(text: str) -> set[int]:
    """Lines of a Python file that end in a comment (a ``# noqa`` there may be merged into;
    one elsewhere on the line is inside a string)."""
    import tokenize

    return {tok.start[0] for tok in python_tokens(text) if tok.type == tokenize.COMMENT}


def _with_noqa(body: bytes, codes: list[str], kind: str, may_merge: bool) -> bytes:
    """``body`` (one line, no line break) with ``codes`` in a noqa comment at its end."""
    match = None
    if may_merge:
        for candidate in _NOQA_BYTES.finditer(body):
            match = candidate  # the last one: a comment is the end of the line
    if match is not None and match.group("codes"):
        listed = match.group("codes")
        existing = [c for c in re.split(rb"[,\s]+", listed.strip()) if c]
        merged = existing + [c.encode("ascii") for c in codes if c.encode("ascii") not in existing]
        trailing = listed[len(listed.rstrip(b", \t")):]
        start, end = match.span("codes")
        return body[:start] + b", ".join(merged) + trailing + body[end:]
    stripped = body.rstrip(b" \t")
    separator = b"  " if stripped else b""
    return stripped + separator + b"# noqa: " + ", ".join(codes).encode("ascii")


def _verify(old_text: str, new_text: str, file_result, relint: Relint) -> str | None:
    """Why the edited text may not be written: it must parse to the same tree (Python) and
    report nothing, every finding it had being suppressed now."""
    if file_result.kind == PYTHON:
        try:
            same = ast.dump(ast.parse(old_text)) == ast.dump(ast.parse(new_text))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            same = False
        if not same:
            return "a comment there would change the code (inside a string?)"
    if relint(new_text, file_result.path, file_result.kind, file_result.display_path):
        return "the file would not report what it should after the edit (a comment there is read otherwise)"
    return None
