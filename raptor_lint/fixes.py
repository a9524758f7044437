"""``--fix`` and ``--diff``: apply the ``Fix`` edits that findings carry.

A rule's fix is a set of text edits at exact positions (see ``findings.Edit``):
rules compute them from the syntax tree, so only the bytes of the nodes being
changed move — comments, quoting, indentation and line endings elsewhere are
untouched.  Here the edits are applied the way Ruff does it:

* per pass, fixes are taken in source order and a fix whose edits overlap an
  already accepted one waits for the next pass;
* the file is re-linted after each pass and the loop runs until no fix is
  left or nothing changes, at most ``MAX_PASSES`` times;
* a Python result must still compile (``ast`` gate); if a pass breaks the
  parse, only the fixes that parse on their own are kept, else the pass stops;
* files are written atomically (temporary file in the same directory,
  ``os.replace``), keeping the file mode, encoding, BOM and line endings.

``--diff`` runs the same loop and prints a unified diff instead of writing.
"""

from __future__ import annotations

import difflib
import io
import stat
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from raptor_lint.atomic import replace_file
from raptor_lint.discovery import PYTHON
from raptor_lint.findings import Edit, Finding, Fix
from raptor_lint.source import LINE_BREAK, SourceError, decode_python, decode_text, encode_text, parse_python

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.engine import Engine, FileResult

MAX_PASSES = 10
_BOM = b"\xef\xbb\xbf"


@dataclass
class FixOutcome:
    original: str
    fixed: str
    applied: int  # findings whose fix was applied
    result: "FileResult"  # findings of the fixed text

    @property
    def changed(self) -> bool:
        return self.fixed != self.original


# --------------------------------------------------------------------------- edits
def _line_spans(text: str) -> list[tuple[int, int]]:
    """(start, end of content) of every line; the line break is not part of the content."""
    spans = []
    start = 0
    for match in LINE_BREAK.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return spans


def _offset(spans: list[tuple[int, int]], text: str, line: int, column: int) -> int:
    if line < 1:
        return 0
    if line > len(spans):
        return len(text)
    start, end = spans[line - 1]
    return min(start + max(column - 1, 0), end)


def apply_fixes(text: str, fixes: Iterable[Fix]) -> tuple[str, list[Fix]]:
    """Apply every fix whose edits do not overlap an earlier accepted one."""
    starts = _line_spans(text)
    spans: list[tuple[int, int, str]] = []
    accepted: list[Fix] = []

    def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
        # Shared bytes, or the same start (two insertions at one point: order unknown).
        return (a[0] < b[1] and b[0] < a[1]) or a[0] == b[0]

    ordered = sorted(fixes, key=lambda fix: min(((e.line, e.column) for e in fix.edits), default=(0, 0)))
    for fix in ordered:
        mine = [(_offset(starts, text, e.line, e.column), _offset(starts, text, e.end_line, e.end_column),
                 e.content) for e in fix.edits]
        if not mine or any(start > end for start, end, _ in mine):
            continue
        taken = [(s, e) for s, e, _ in spans]
        if any(overlaps((s, e), other) for s, e, _ in mine for other in taken):
            continue
        if any(overlaps(mine[i][:2], mine[j][:2]) for i in range(len(mine)) for j in range(i)):
            continue
        spans.extend(mine)
        accepted.append(fix)
    for start, end, content in sorted(spans, key=lambda span: span[0], reverse=True):
        text = text[:start] + content + text[end:]
    return text, accepted


def _parses(text: str, kind: str, path: Path) -> bool:
    if kind != PYTHON:
        return True
    try:
        parse_python(text, str(path))
    except SourceError:
        return False
    return True


def fix_text(engine: "Engine", text: str, path: Path, kind: str, display: str,
             first: "FileResult | None" = None) -> FixOutcome:
    """Fix ``text`` until stable; returns the fixed text and its remaining findings."""
    original = text
    result = first if first is not None and first.text == text else engine.lint_text(text, path, kind, display)
    applied = 0
    for _ in range(MAX_PASSES):
        fixes = [finding.fix for finding in result.findings if finding.fix is not None]
        if not fixes:
            break
        candidate, accepted = apply_fixes(text, fixes)
        if not _parses(candidate, kind, path):
            safe = [fix for fix in fixes if _parses(apply_fixes(text, [fix])[0], kind, path)]
            candidate, accepted = apply_fixes(text, safe)
            if not _parses(candidate, kind, path):
                candidate, accepted = apply_fixes(text, safe[:1])
                if not _parses(candidate, kind, path):
                    break
        if candidate == text:
            break
        text = candidate
        applied += len(accepted)
        result = engine.lint_text(text, path, kind, display)
    return FixOutcome(original, text, applied, result)


# --------------------------------------------------------------------------- files
def _decode(data: bytes, kind: str) -> tuple[str, str]:
    """(text as the engine sees it, encoding to write it back with)."""
    if kind == PYTHON:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        text = decode_python(data)
        if data.startswith(_BOM):
            encoding = "utf-8-sig"
        return text, encoding
    return decode_text(data), "utf-8-sig" if data.startswith(_BOM) else "utf-8"


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path``'s content atomically, keeping its mode (``raptor_lint.atomic``)."""
    replace_file(path, data, keep_mode=True, durable=True)


def unified_diff(original: str, fixed: str, display: str) -> str:
    lines = difflib.unified_diff(
        original.splitlines(keepends=True), fixed.splitlines(keepends=True),
        fromfile=f"a/{display}", tofile=f"b/{display}",
    )
    out = []
    for line in lines:
        out.append(line)
        if not line.endswith(("\n", "\r")):
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)


@dataclass
class FixReport:
    diff: str = ""
    fixed_findings: int = 0
    fixed_files: int = 0
    # --fix on standard input: the fixed text, printed instead of written (as Ruff does).
    stdin_text: str | None = None


def fix_results(engine: "Engine", files: list["FileResult"], *, write: bool,
                notes: list[str], stdin: bool = False) -> FixReport:
    """Fix every file of a run that has a fixable finding.

    With ``write`` the files are rewritten and their ``FileResult`` replaced by
    the findings that remain; without it the fixes only go into the diff.
    """
    report = FixReport()
    for index, file_result in enumerate(files):
        if not any(finding.fix is not None for finding in file_result.findings):
            continue
        try:
            if stdin and file_result.text is not None:
                text, encoding, data = file_result.text, "utf-8", None
            else:
                data = file_result.path.read_bytes()
                text, encoding = _decode(data, file_result.kind)
        except (OSError, SourceError, SyntaxError) as exc:
            notes.append(f"raptor-lint: cannot fix {file_result.display_path}: {_reason(exc)}")
            continue
        outcome = fix_text(engine, text, file_result.path, file_result.kind,
                           file_result.display_path, first=file_result)
        if stdin:
            report.stdin_text = outcome.fixed if outcome.changed else text
        if not outcome.changed:
            continue
        if stdin and write:
            files[index] = outcome.result
            report.fixed_findings += outcome.applied
            report.fixed_files += 1
            continue
        if not write:
            report.diff += unified_diff(outcome.original, outcome.fixed, file_result.display_path)
            report.fixed_findings += outcome.applied
            report.fixed_files += 1
            continue
        if _read_only(file_result.path):
            notes.append(f"raptor-lint: not fixing {file_result.display_path}: the file is read-only")
            continue
        try:
            # Non-Python text: undecodable bytes and an appended binary payload written back as read.
            atomic_write(file_result.path, outcome.fixed.encode(encoding) if file_result.kind == PYTHON
                         else encode_text(outcome.fixed, encoding, data or b""))
        except (OSError, UnicodeEncodeError, LookupError) as exc:
            notes.append(f"raptor-lint: cannot write {file_result.display_path}: {_reason(exc)}")
            continue
        files[index] = outcome.result
        report.fixed_findings += outcome.applied
        report.fixed_files += 1
    return report


def summary(report: FixReport, *, write: bool) -> str:
    noun = "finding" if report.fixed_findings == 1 else "findings"
    files = "file" if report.fixed_files == 1 else "files"
    verb = "Fixed" if write else "Would fix"
    return f"{verb} {report.fixed_findings} {noun} in {report.fixed_files} {files}."


def _read_only(path: Path) -> bool:
    """No write permission bit: the user made it read-only, so a rename must not bypass that
    (root, or any owner of the directory, could otherwise replace it)."""
    try:
        return not (path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    except OSError:
        return False


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, SourceError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


__all__ = ["Edit", "Finding", "Fix", "FixOutcome", "apply_fixes", "fix_text", "fix_results",
           "atomic_write", "unified_diff", "summary", "MAX_PASSES"]
