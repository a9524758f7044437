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
* files are written through ``raptor_lint.atomic`` (the one write path for user files):
  atomically, keeping mode, owner, encoding, BOM and line endings, and never over a file
  that changed since it was read, a symlink leaving the project, a hard-linked or a
  read-only file (each of those is a ``not fixing …`` note instead).

``--diff`` runs the same loop and prints a unified diff instead of writing.

Fix tiers, as in Ruff: ``--fix`` applies the *safe* fixes; the *unsafe* ones
(``Fix.applicability``) only with ``--unsafe-fixes`` (``unsafe_fixes=True`` here).

A fix may edit another file of the project (``Edit.path``: RPT502 adds a checklist line
to the runbook, RPT503 a ``- name:`` entry to the config manifest).  Those edits are
applied once the files of the run are fixed, per target file: identical edits from
several findings land once, insertions at the same point land one after the other in
finding order, an edit that overlaps another waits (it is still reported).  The target
must lie inside the project root (symlinks resolved), be writable, and still load (YAML)
or parse (Python) after the edits, else nothing is written to it.  The findings of the
files whose fixes were applied are then checked again with freshly read project facts.
Standard input never edits another file.
"""

from __future__ import annotations

import difflib
import io
import os
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from raptor_lint.atomic import WriteRefused, inside_directory, read_for_rewrite, rewrite_file
from raptor_lint.discovery import PYTHON
from raptor_lint.findings import Edit, Finding, Fix
from raptor_lint.safe_read import read_regular_file
from raptor_lint.source import LINE_BREAK, SourceError, decode_python, decode_text, encode_text, parse_python

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.engine import Engine, FileResult

MAX_PASSES = 10
_NEW_BLOCK = re.compile(r"(?:\r\n|\r|\n){2}")
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


def own_fixes(findings: Iterable[Finding], unsafe_fixes: bool) -> list[Fix]:
    """The fixes ``--fix`` applies to the findings' own file: safe ones, and unsafe ones
    with ``unsafe_fixes``; fixes that edit another file are applied by ``fix_results``."""
    return [finding.fix for finding in findings
            if finding.fix is not None and finding.fix.edits and finding.fix.applies(unsafe_fixes)
            and not finding.fix.edits_other_files]


def fix_text(engine: "Engine", text: str, path: Path, kind: str, display: str,
             first: "FileResult | None" = None, *, unsafe_fixes: bool = False) -> FixOutcome:
    """Fix ``text`` until stable; returns the fixed text and its remaining findings.
    Safe fixes only, unless ``unsafe_fixes``."""
    original = text
    result = first if first is not None and first.text == text else engine.lint_text(text, path, kind, display)
    applied = 0
    for _ in range(MAX_PASSES):
        fixes = own_fixes(result.findings, unsafe_fixes)
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


def _encode(text: str, kind: str, encoding: str, original: bytes) -> bytes:
    """The bytes to write for ``text`` (``_decode``'s, maybe fixed) read from ``original``:
    a non-Python file's undecodable bytes and appended binary payload written back as read."""
    return text.encode(encoding) if kind == PYTHON else encode_text(text, encoding, original)


def atomic_write(path: Path, data: bytes, root: Path | None = None) -> None:
    """Replace ``path``'s content atomically with every check of ``raptor_lint.atomic.rewrite_file``
    (the file as it is now is the expected one: callers that computed ``data`` from an earlier
    read use ``read_for_rewrite`` and ``rewrite_file`` themselves)."""
    rewrite_file(read_for_rewrite(path), data, root=root)


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
                notes: list[str], stdin: bool = False, unsafe_fixes: bool = False) -> FixReport:
    """Fix every file of a run that has a fixable finding (safe fixes; unsafe ones too
    with ``unsafe_fixes``), then the other files those fixes edit (not on standard input).

    With ``write`` the files are rewritten and their ``FileResult`` replaced by
    the findings that remain; without it the fixes only go into the diff.
    """
    report = FixReport()
    for index, file_result in enumerate(files):
        if not own_fixes(file_result.findings, unsafe_fixes):
            continue
        try:
            if stdin and file_result.text is not None:
                text, encoding, data = file_result.text, "utf-8", None
            else:
                snapshot = read_for_rewrite(file_result.path)  # what the final check compares
                data = snapshot.data
                text, encoding = _decode(data, file_result.kind)
        except (OSError, SourceError, SyntaxError) as exc:
            notes.append(f"raptor-lint: cannot fix {file_result.display_path}: {_reason(exc)}")
            continue
        outcome = fix_text(engine, text, file_result.path, file_result.kind,
                           file_result.display_path, first=file_result, unsafe_fixes=unsafe_fixes)
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
        try:
            rewrite_file(snapshot, _encode(outcome.fixed, file_result.kind, encoding, data or b""),
                         root=engine.config.root)
        except WriteRefused as refused:
            notes.append(f"raptor-lint: not fixing {file_result.display_path}: {refused}")
            continue
        except (OSError, UnicodeEncodeError, LookupError) as exc:
            notes.append(f"raptor-lint: cannot write {file_result.display_path}: {_reason(exc)}")
            continue
        files[index] = outcome.result
        report.fixed_findings += outcome.applied
        report.fixed_files += 1
    if not stdin:
        _fix_other_files(engine, files, write=write, notes=notes, report=report, unsafe_fixes=unsafe_fixes)
    return report


# --------------------------------------------------------------------------- other files
def merge_edits(fixes: Iterable[Fix]) -> tuple[list[Edit], list[Fix]]:
    """The edits of ``fixes`` (all in one file), combined: an edit identical to one already
    taken is taken once; insertions at the same point are joined in order; a fix with an
    edit overlapping a taken one is left out whole.  Returns (edits, accepted fixes)."""
    taken: list[Edit] = []
    accepted: list[Fix] = []
    for fix in fixes:
        mine: list[Edit] = []
        for edit in fix.edits:
            if edit in taken or edit in mine:
                continue
            start, end = (edit.line, edit.column), (edit.end_line, edit.end_column)
            if end < start:
                break
            clash = False
            for other in (*taken, *mine):
                o_start, o_end = (other.line, other.column), (other.end_line, other.end_column)
                both_insertions = start == end and o_start == o_end
                if both_insertions:
                    continue  # joined below (same point) or disjoint
                if start == o_start or (start < o_end and o_start < end):
                    clash = True
                    break
            if clash:
                break
            mine.append(edit)
        else:
            taken.extend(mine)
            accepted.append(fix)
    at: dict[tuple[int, int, int, int], list[Edit]] = {}
    for edit in taken:
        at.setdefault((edit.line, edit.column, edit.end_line, edit.end_column), []).append(edit)
    joined = []
    for key, group in at.items():
        # Lines before new blocks (content opening with an empty line: RPT502's new checklist
        # subsection), so a line meant for the section above does not land under a new heading.
        group.sort(key=lambda edit: _NEW_BLOCK.match(edit.content) is not None)
        joined.append(Edit(*key, "".join(edit.content for edit in group), group[0].path))
    return joined, accepted


def _inside_root(target: Path, root: Path) -> bool:
    return inside_directory(os.path.realpath(target), os.path.realpath(root))


def _loads(text: str, target: Path) -> bool:
    """Is the edited text still what its kind must be (YAML loads, Python parses)?"""
    if target.suffix in (".yaml", ".yml"):
        import yaml

        try:
            yaml.safe_load(text)
        except yaml.YAMLError:
            return False
        return True
    return _parses(text, PYTHON if target.suffix == ".py" else "", target)


def _fix_other_files(engine: "Engine", files: list["FileResult"], *, write: bool, notes: list[str],
                     report: FixReport, unsafe_fixes: bool) -> None:
    from raptor_lint.config import relative_posix

    # target path -> [(file index, finding's fix)], in the run's finding order
    by_target: dict[str, list[tuple[int, Fix]]] = {}
    for index, file_result in enumerate(files):
        for finding in file_result.findings:
            fix = finding.fix
            if fix is None or not fix.edits or not fix.edits_other_files or not fix.applies(unsafe_fixes):
                continue
            targets = {edit.path for edit in fix.edits}
            if len(targets) != 1 or None in targets:
                continue  # one other file per fix (what the rules produce)
            by_target.setdefault(str(fix.edits[0].path), []).append((index, fix))
    fixed_indexes: set[int] = set()
    for target_name, entries in by_target.items():
        target = Path(target_name)
        display = relative_posix(target)
        if not _inside_root(target, engine.config.root):
            notes.append(f"raptor-lint: not fixing {display}: it is outside the project root {engine.config.root}")
            continue
        kind = PYTHON if target.suffix == ".py" else "text"
        try:
            snapshot = read_for_rewrite(target)  # what the final check compares
            data = snapshot.data
            text, encoding = _decode(data, kind)
        except (OSError, SourceError, SyntaxError) as exc:
            notes.append(f"raptor-lint: cannot fix {display}: {_reason(exc)}")
            continue
        seen = _text_the_rules_read(engine, target)
        if seen is not None and seen != text:  # the edits' positions are the old text's
            notes.append(f"raptor-lint: not fixing {display}: it changed on disk while being fixed; run again")
            continue
        edits, accepted = merge_edits(fix for _, fix in entries)
        fixed, _ = apply_fixes(text, [Fix("", (edit,)) for edit in edits])
        if fixed == text:
            continue
        if not _loads(fixed, target):
            would = "load as YAML" if target.suffix in (".yaml", ".yml") else "parse"
            notes.append(f"raptor-lint: not fixing {display}: the edited file would not {would}")
            continue
        applied = [index for index, fix in entries if any(fix is other for other in accepted)]
        if write:
            try:
                rewrite_file(snapshot, _encode(fixed, kind, encoding, data), root=engine.config.root)
            except WriteRefused as refused:
                notes.append(f"raptor-lint: not fixing {display}: {refused}")
                continue
            except (OSError, UnicodeEncodeError, LookupError) as exc:
                notes.append(f"raptor-lint: cannot write {display}: {_reason(exc)}")
                continue
        else:
            report.diff += unified_diff(text, fixed, display)
        report.fixed_findings += len(applied)
        report.fixed_files += 1
        fixed_indexes.update(applied)
    if write and fixed_indexes:
        _recheck(engine, files, sorted(fixed_indexes), notes)


def _text_the_rules_read(engine: "Engine", target: Path) -> str | None:
    """The text of ``target`` as the project facts read it when the rules computed their edits
    (the runbook, the manifest), if this process holds it; None otherwise (facts built only
    in ``--jobs`` workers, or a fact without text)."""
    facts = getattr(engine.project, "_facts", None) or {}
    real = os.path.realpath(target)
    for fact in list(facts.values()):
        path, text = getattr(fact, "path", None), getattr(fact, "text", None)
        if isinstance(text, str) and isinstance(path, (str, Path)) and os.path.realpath(path) == real:
            return text
    return None


def _recheck(engine: "Engine", files: list["FileResult"], indexes: list[int], notes: list[str]) -> None:
    """Check again, with project facts read afresh, the files whose other-file fixes landed."""
    from raptor_lint.engine import Engine

    fresh = Engine(engine.config)
    for index in indexes:
        file_result = files[index]
        try:
            data = read_regular_file(file_result.path)  # bounded, as the first read was
        except OSError as exc:
            notes.append(f"raptor-lint: cannot check {file_result.display_path} again: {_reason(exc)}")
            continue
        files[index] = fresh.lint_bytes(data, file_result.path, file_result.kind, file_result.display_path)


def summary(report: FixReport, *, write: bool) -> str:
    noun = "finding" if report.fixed_findings == 1 else "findings"
    files = "file" if report.fixed_files == 1 else "files"
    verb = "Fixed" if write else "Would fix"
    return f"{verb} {report.fixed_findings} {noun} in {report.fixed_files} {files}."


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, SourceError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


__all__ = ["Edit", "Finding", "Fix", "FixOutcome", "apply_fixes", "fix_text", "fix_results", "merge_edits",
           "own_fixes", "atomic_write", "unified_diff", "summary", "MAX_PASSES"]
