"""Re-check only the functions an edit can change, in a large module.

A check is linear in the module's size (~0.4 ms a line: a 50,000-line module takes
~20 s), and a keystroke changes one function.  For a module of at least
``MIN_LINES`` lines, when the edit lies inside the body of top-level functions (no
line of the edit starts at column 0, so no definition, decorator or module-level
statement was touched), ``relint_changed`` lints a *slice* of the new text: every
module-level statement that is not a function (imports, assignments, classes), the
edited functions, the functions that name them (callers) and the functions those
name (callees), with every other function's lines blanked so line numbers stay put.
The findings of the edited functions and their callers come from that slice; every
other finding is the previous check's, moved by the number of lines the edit added.

It is not exact: a rule may connect functions further apart than one call (the app
factory's reach, a helper two calls away).  The server therefore marks the result
inexact, publishes it at once, and runs the full check behind it; the full check's
findings replace these as soon as it finishes (a newer edit cancels it and slices
again).  It answers None (check everything) when unsure: small module, carriage
returns, a syntax error now or before, an edit outside function bodies, a slice
that would not be much smaller than the module.
"""

from __future__ import annotations

import ast
import bisect
import dataclasses
import re
import textwrap
from pathlib import Path
from typing import Callable

from raptor_lint.discovery import PYTHON
from raptor_lint.engine import Engine
from raptor_lint.findings import ALWAYS_REPORTED, Finding

# Below this many lines a full check is fast enough (~1 s on this kind of machine).
MIN_LINES = 5_000
# A slice larger than this fraction of the module saves too little to be worth the risk.
MAX_SLICE_FRACTION = 0.25
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


Outline = tuple[tuple[str, int, int], ...]  # (name, first line, last line) of each top-level function


def outline_of(tree: ast.Module) -> Outline:
    """The top-level functions of a module, from its first decorator to its last line."""
    return tuple((node.name, _first_line(node), node.end_lineno or node.lineno)
                 for node in tree.body if isinstance(node, _FUNCTIONS))


def relint_changed(engine: Engine, path: Path, old_text: str, old_findings: list[Finding], old_outline: Outline,
                   new_text: str, cancelled: Callable[[], bool] | None = None
                   ) -> tuple[list[Finding], Outline] | None:
    """Findings (and outline) of ``new_text`` from a check of the changed functions and
    ``old_findings`` (those of ``old_text``, whose outline is ``old_outline``) for the rest;
    None when only a full check can answer.  Neither text is parsed in full: the outline
    carries the module's structure across the edit (which changes no line at column 0)."""
    if "\r" in old_text or "\r" in new_text or new_text.count("\n") < MIN_LINES or not old_outline:
        return None
    if any(f.code in ALWAYS_REPORTED for f in old_findings):
        return None  # a syntax error or an internal error: positions may mean nothing now
    old_lines, new_lines = old_text.split("\n"), new_text.split("\n")
    head = _common_head(old_lines, new_lines)
    if head == len(old_lines) == len(new_lines):
        return list(old_findings), old_outline
    tail = _common_tail(old_lines, new_lines, head)
    delta = len(new_lines) - len(old_lines)
    old_changed = old_lines[head:len(old_lines) - tail]
    new_changed = new_lines[head:len(new_lines) - tail]
    if any(_starts_at_column_0(line) for line in (*old_changed, *new_changed)):
        return None  # a definition, decorator or module-level statement may have changed
    # The function holding the edit (old line numbers; an insertion right after a
    # function's last line continues that function: it is indented).
    first_old, last_old = head + 1, len(old_lines) - tail
    holders = [(name, first, last) for name, first, last in old_outline
               if first < first_old and (last_old <= last or (not old_changed and head == last))]
    if len(holders) != 1 or len({name for name, _, _ in old_outline}) != len(old_outline):
        return None
    edited = holders[0][0]
    outline = tuple((name, _to_new(first, head, delta), last + delta if name == edited else _to_new(last, head, delta))
                    for name, first, last in old_outline)
    spans = {name: (first, last) for name, first, last in outline}
    # Callers: functions that name the edited one.  Callees: functions the re-checked ones name.
    starts = [first for _, first, _ in outline]
    callers = set()
    for line in _lines_naming(new_text, edited):
        index = bisect.bisect_right(starts, line) - 1
        if index >= 0 and outline[index][2] >= line:
            callers.add(outline[index][0])
    rechecked = {edited} | callers
    named: set[str] = set()
    for name in rechecked:
        first, last = spans[name]
        try:
            named |= _names(ast.parse(textwrap.dedent("\n".join(new_lines[first - 1:last]))))
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return None
    kept = rechecked | (named & set(spans))
    if sum(spans[name][1] - spans[name][0] + 1 for name in kept) > MAX_SLICE_FRACTION * len(new_lines):
        return None
    sliced = list(new_lines)
    for name, (first, last) in spans.items():
        if name not in kept:
            sliced[first - 1:last] = [""] * (last - first + 1)
    result = engine.lint_text("\n".join(sliced), path, PYTHON, display_path=path.name, cancelled=cancelled)
    if any(f.code in ALWAYS_REPORTED for f in result.findings):
        return None  # the slice did not parse as the module does: let a full check say
    new_spans = [spans[name] for name in rechecked]
    fresh = [f for f in result.findings if any(first <= f.line <= last for first, last in new_spans)]
    old_spans = [(first, last) for name, first, last in old_outline if name in rechecked]
    reused = [_moved(f, head, delta, path) for f in old_findings
              if not any(first <= f.line <= last for first, last in old_spans)]
    return sorted(fresh + reused, key=lambda f: f.sort_key), outline


def _lines_naming(text: str, name: str) -> list[int]:
    """1-based lines of ``text`` where ``name`` appears as a whole word."""
    lines, line, position = [], 1, 0
    for match in re.finditer(rf"(?<![\w.]){re.escape(name)}\b", text):
        line += text.count("\n", position, match.start())
        position = match.start()
        lines.append(line)
    return lines


def _to_new(line: int, head: int, delta: int) -> int:
    return line if line <= head else line + delta


def _starts_at_column_0(line: str) -> bool:
    stripped = line.lstrip()
    return bool(stripped) and not stripped.startswith("#") and line[:1] not in (" ", "\t")


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", None)
    return decorators[0].lineno if decorators else node.lineno


def _names(node: ast.AST) -> set[str]:
    return {child.id for child in ast.walk(node) if isinstance(child, ast.Name)}


def _moved(finding: Finding, head: int, delta: int, path: Path) -> Finding:
    """``finding`` (of the old text) with its lines moved past the edit."""
    if delta == 0 or finding.line <= head:
        return finding

    def move(line: int) -> int:
        return line + delta if line > head else line

    fix = finding.fix
    if fix is not None:
        fix = dataclasses.replace(fix, edits=tuple(
            dataclasses.replace(e, line=move(e.line), end_line=move(e.end_line)) if e.path is None else e
            for e in fix.edits))
    related = tuple(dataclasses.replace(r, line=move(r.line)) if Path(r.path) == path else r
                    for r in finding.related)
    return dataclasses.replace(
        finding, line=move(finding.line),
        end_line=move(finding.end_line) if finding.end_line is not None else None,
        fix=fix, related=related)


def _common_head(a: list[str], b: list[str]) -> int:
    count = 0
    for x, y in zip(a, b):
        if x != y:
            break
        count += 1
    return count


def _common_tail(a: list[str], b: list[str], head: int) -> int:
    count, limit = 0, min(len(a), len(b)) - head
    while count < limit and a[len(a) - 1 - count] == b[len(b) - 1 - count]:
        count += 1
    return count
